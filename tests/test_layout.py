"""The package's imports go one way: no module imports another that (directly or through others) imports it,
counting the imports inside functions too (a deferred import is still a dependency)."""
import ast
import subprocess
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vggdarts"


def sibling_imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules that ``path`` imports, at any depth of its syntax tree."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.level == 1 or (node.module or "").startswith("vggdarts")):
            base = (node.module or "").removeprefix("vggdarts").lstrip(".")
            if base:
                found.add(base.split(".")[0])
            else:  # from . import a, b
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("vggdarts."))
    return (found & modules) - {path.stem}


def import_graph() -> dict[str, set[str]]:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    return {m: sibling_imports(PACKAGE / f"{m}.py", modules) for m in modules}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle, each as the path that closes it (depth-first search, one report per back edge: an
    edge to a module still on the search's path)."""
    found, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        for dep in sorted(graph[node]):
            if dep in path:
                found.append(path[path.index(dep):] + [dep])
            elif dep not in done:
                visit(dep, path + [dep])
        done.add(node)

    for node in sorted(graph):
        if node not in done:
            visit(node, [node])
    return found


def test_cycle_finder_sees_direct_and_indirect_cycles():
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_sibling_imports_counts_deferred_and_absolute_forms(tmp_path):
    src = tmp_path / "mod.py"
    src.write_text("from . import a, b\nimport vggdarts.c\ndef f():\n    from .d import x\n    from vggdarts.e import y\n")
    assert sibling_imports(src, {"a", "b", "c", "d", "e", "z"}) == {"a", "b", "c", "d", "e"}


def test_package_imports_go_one_way():
    graph = import_graph()
    assert len(graph) > 20 and graph["scale"]  # the real package was read
    assert cycles(graph) == []


def test_the_tracked_tree_leaves_room_for_the_device_carry():
    """A GPU device command carries the working tree and the 19.4 MB CIFAR-10 archive within 64 MiB; with 5 MB
    left for what a check writes beside them, the tracked tree stays under 64 MiB - 19.5 MB - 5 MB = 42.6 MB
    (the paper search's 42 MB of weights, for one, are never committed)."""
    root = PACKAGE.parent
    listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    files = [root / f for f in listed.stdout.decode().split("\0") if f]
    size = sum(f.stat().st_size for f in files if f.is_file())
    limit = 64 * 2**20 - 19.5e6 - 5e6
    assert len(files) > 100 and size < limit, f"the tracked tree is {size / 1e6:.1f} MB, over {limit / 1e6:.1f} MB"
