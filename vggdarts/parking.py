"""Parking a run directory in the repository's history, for a long run that outlives the machine running it.

A run directory lives outside version control (``runs/`` is ignored). Where the machine that resumes a long
search shares nothing with the one that started it but the repository, the run would start again from epoch 1
each time. :func:`park` carries it over in two commits on the current branch:

1. ``parked/NAME/`` with the run's files (``rundir.FILES``: the checkpoint, config, metrics, alpha) and
   ``PARKED.json`` (epochs done, a SHA-256 per file; a file over 32 MiB goes in numbered parts);
2. the removal of ``parked/NAME/`` from the tree, so the tree is as small as before (the device carry and the
   tracked-tree budget see no change).

:func:`unpark` restores the files of the last commit that added ``parked/NAME/`` into a run directory, checked
against their SHA-256, and the job's usual command resumes from there (``rundir.RunDir`` checks the config as for
any resume). The kept checkpoint copies (``checkpoint-epochNNN.pt``) are not parked.

Each park stays in the history for good: the ``paper`` search's checkpoint (weights and SGD momentum, fp32) is
about 86 MB. So a run is parked once, when the machine running it goes, not every epoch.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import torch

from .files import Busy, atomic_write_bytes, atomic_write_text, file_lock
from .rundir import FILES, RunDirError

PARKED = "parked"
MANIFEST = "PARKED.json"
PART_BYTES = 32 * 2**20  # a file larger than this is committed in parts (hosts warn at 50 MB, refuse at 100 MB)


def _git(repo: Path, *args: str, binary: bool = False):
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, timeout=600, text=not binary)
    if result.returncode != 0:
        err = result.stderr if not binary else result.stderr.decode(errors="replace")
        raise RunDirError(f"git {args[0]} failed in {repo}: {err.strip()[:300]}")
    return result.stdout


def repo_root(start: str | Path = ".") -> Path:
    """The top of the git work tree holding ``start``."""
    try:
        return Path(_git(Path(start), "rev-parse", "--show-toplevel").strip())
    except RunDirError:
        raise RunDirError(f"{Path(start).resolve()} is not inside a git repository; parking needs one") from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def park(run_dir: str | Path, name: str | None = None, repo: str | Path = ".") -> dict:
    """Commit ``run_dir``'s state as ``parked/NAME/``, then commit its removal from the tree. The job must have
    stopped (its lock is taken, not waited for). Returns the manifest, with the commit that holds the files."""
    run_dir, repo = Path(run_dir), repo_root(repo)
    name = name or run_dir.name
    rel = f"{PARKED}/{name}"
    if not (run_dir / "checkpoint.pt").exists():
        raise RunDirError(f"{run_dir} has no checkpoint.pt: there is nothing to park")
    if (repo / rel).exists() or _git(repo, "ls-files", "--", rel).strip():
        raise RunDirError(f"{repo / rel} is already there; commit its removal (git rm -r {rel}) or choose --name")
    try:
        with file_lock(run_dir / ".lock", wait=False, what=f"run directory {run_dir}"):
            files = {f: (run_dir / f).read_bytes() for f in FILES if (run_dir / f).exists()}
    except Busy:
        raise RunDirError(f"{run_dir} is in use by a running job; stop it first (it resumes from its last "
                          "finished epoch), then park") from None
    checkpoint = torch.load(io.BytesIO(files["checkpoint.pt"]), map_location="cpu", weights_only=True)
    config = json.loads(files["config.json"]) if "config.json" in files else {}
    manifest = {"name": name, "job": config.get("job"), "epochs_done": len(checkpoint["history"]),
                "epochs": config.get("epochs"), "parked_from": str(run_dir.resolve()),
                "parked_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "files": {f: _sha256(data) for f, data in files.items()},
                "parts": {f: _parts(len(data)) for f, data in files.items() if len(data) > PART_BYTES}}
    dest = repo / rel
    dest.mkdir(parents=True)
    for f, data in files.items():
        size = PART_BYTES if f in manifest["parts"] else len(data)
        for k, part in enumerate(_part_names(f, manifest["parts"].get(f, 0))):
            atomic_write_bytes(dest / part, data[k * size:(k + 1) * size])
    atomic_write_text(dest / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    what = f"{name} ({manifest['job']}, epoch {manifest['epochs_done']} of {manifest['epochs']})"
    try:
        _git(repo, "add", "-f", "--", rel)
        _git(repo, "commit", "-q", "-m", f"Park {what}: its run directory, for the next machine to resume", "--", rel)
    except RunDirError:  # e.g. git has no identity: leave the tree and the index as they were
        subprocess.run(["git", "-C", str(repo), "reset", "-q", "--", rel], capture_output=True)
        shutil.rmtree(dest)
        if not any(dest.parent.iterdir()):
            dest.parent.rmdir()
        raise
    manifest["commit"] = _git(repo, "rev-parse", "HEAD").strip()
    _git(repo, "rm", "-r", "-q", "--", rel)
    _git(repo, "commit", "-q", "-m", f"Unpark {what} from the tree; restore it from {manifest['commit'][:12]} "
                                     f"with: python -m vggdarts unpark {name} --run-dir DIR", "--", rel)
    return manifest


def _parts(size: int) -> int:
    return -(-size // PART_BYTES)


def _part_names(f: str, parts: int) -> list[str]:
    """The names a parked file is committed under: itself, or ``f.00``, ``f.01``, ... when in parts."""
    return [f"{f}.{k:02d}" for k in range(parts)] if parts else [f]


def parked_commit(name: str, repo: str | Path = ".") -> str | None:
    """The last commit that added ``parked/NAME/``, or None."""
    out = _git(repo_root(repo), "log", "-1", "--format=%H", "--diff-filter=A", "--", f"{PARKED}/{name}/{MANIFEST}")
    return out.strip() or None


def unpark(name: str, run_dir: str | Path, repo: str | Path = ".") -> dict:
    """Restore the last parked state of ``name`` into ``run_dir`` (which must hold no checkpoint); returns its
    manifest. Every file is checked against the SHA-256 recorded when it was parked."""
    repo, run_dir = repo_root(repo), Path(run_dir)
    commit = parked_commit(name, repo)
    if commit is None:
        raise RunDirError(f"nothing named {name!r} was ever parked in {repo}; start the run with its usual command")
    if (run_dir / "checkpoint.pt").exists():
        raise RunDirError(f"{run_dir} already holds a checkpoint; nothing was changed. Resume it as it is, or move "
                          "it away to restore the parked one")
    manifest = json.loads(_git(repo, "show", f"{commit}:{PARKED}/{name}/{MANIFEST}"))

    def stored(f: str) -> bytes:
        return b"".join(_git(repo, "show", f"{commit}:{PARKED}/{name}/{p}", binary=True)
                        for p in _part_names(f, manifest.get("parts", {}).get(f, 0)))

    files = {f: stored(f) for f in manifest["files"]}
    bad = [f for f, data in files.items() if _sha256(data) != manifest["files"][f]]
    if bad:
        raise RunDirError(f"the parked {', '.join(bad)} in {commit[:12]} do not match their recorded SHA-256; "
                          "nothing was written")
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with file_lock(run_dir / ".lock", wait=False, what=f"run directory {run_dir}"):
            for f in sorted(files, key=lambda f: f == "checkpoint.pt"):  # the checkpoint last: it makes it resumable
                atomic_write_bytes(run_dir / f, files[f])
    except Busy:
        raise RunDirError(f"{run_dir} is in use by a running job; nothing was changed. Stop it, or unpark into "
                          "another --run-dir") from None
    return {**manifest, "commit": commit}
