"""The one-shot GPU check (run through benchmarks/device_check.sh; see docs/gpu.md, "The device check").

Five steps, each with its own time limit and all under one overall ``--deadline`` (default 540 s, inside the
device tool's 600 s per command): a step gets the smaller of its limit and the time left, runs in its own
process group (a timeout kills its children too), and the report is rewritten after every step, so a cut
leaves a valid one.  What comes back is at most 8 files, none deeper than ``$OUT/a/b``: ``device_check.json``,
``device_check.md`` and ``records.tar.gz`` (logs, junit XML, benchmark JSON, the search's small record files).
Run directories live outside ``$OUT`` (``runs/device-check-work``):

1. the GPU: name, driver, torch, CUDA and cuDNN versions;
2. the CUDA tests (``pytest -m cuda tests/test_cuda.py``), per test;
3. the step benchmark in every speed mode (benchmarks/bench_search.py --modes all);
4. two epochs of the ``paper`` search (CIFAR-10 JPEG copy under data/) in the fastest mode whose tests
   passed, with the projected time of the full 100 epochs;
5. ``device_check.json`` and ``device_check.md`` under the output folder.

``--cpu-dry-run`` walks the same steps on the CPU at smoke size (synthetic data, width 0.125, no compile
and no CUDA graphs; the CUDA tests report "skipped"), in 1-3 minutes: it proves the script, not the GPU.
It also hides the packages the GPU machine lacks (papermill, submitit, ipywidgets, nbformat), so a step
that needed one would fail here first.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import signal
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ARCHIVE = ROOT / "data" / "cifar10-jpeg.tar.gz"
# which CUDA tests a speed mode's correctness rests on (eager and deterministic need none beyond the basics)
MODE_TESTS = {"bf16": "bf16", "compile": "compile", "cuda_graphs": "cuda_graphs"}
MODE_SETTINGS = {"eager": [], "deterministic": ["deterministic=true"], "bf16": ["precision=bf16"],
                 "compile": ["compile=true"], "compile+bf16": ["compile=true", "precision=bf16"],
                 "cuda_graphs": ["cuda_graphs=true"], "cuda_graphs+bf16": ["cuda_graphs=true", "precision=bf16"]}


ABSENT_ON_GPU_MACHINE = ("papermill", "submitit", "ipywidgets", "nbformat")
ENV = dict(os.environ)


def hide_packages(folder: Path) -> None:
    """Make ``import NAME`` fail in the steps' processes, as on the GPU machine (dry run)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ABSENT_ON_GPU_MACHINE:
        (folder / f"{name}.py").write_text(f"raise ImportError('{name} is not installed on the GPU machine')\n")
    ENV["PYTHONPATH"] = os.pathsep.join([str(folder), str(ROOT), ENV.get("PYTHONPATH", "")]).rstrip(os.pathsep)


class Clock:
    """One deadline for the whole check: each step gets min(its own limit, the seconds left)."""

    def __init__(self, seconds: float):
        self.end = time.time() + seconds

    def budget(self, limit: float) -> int:
        return int(max(0.0, min(limit, self.end - time.time())))


def run(cmd: list[str], log: Path, timeout: int, **env: str) -> tuple[int, float]:
    """Run ``cmd`` from the repository root in its own process group, output to ``log``; (exit code,
    seconds).  124 when it ran out of time (the whole group is killed: no grandchild keeps the GPU busy)."""
    started = time.time()
    with open(log, "w") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        if timeout <= 0:
            f.write("[device_check] no time left before the deadline; not started\n")
            return 124, 0.0
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**ENV, "PYTHONUNBUFFERED": "1", **env})
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            f.write(f"\n[device_check] timed out after {timeout} s; its process group was killed\n")
            code = 124
    print(f"  {' '.join(cmd[1:4])} ... exit {code} in {time.time() - started:.0f} s (log: {log.name})", flush=True)
    return code, time.time() - started


RECORD_FILES = ("config.json", "metrics.csv", "summary.json", "alpha.npz")


def write_report(out: Path, work: Path, report: dict, started: float) -> None:
    """device_check.json, device_check.md and records.tar.gz under ``out``: all that comes back."""
    report["seconds"] = time.time() - started
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    (out / "device_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "device_check.md").write_text(markdown(report))
    with tarfile.open(out / "records.tar.gz", "w:gz") as tar:
        for path in sorted(work.rglob("*")):
            if path.is_file() and (path.suffix in (".log", ".xml", ".json") and path.parent == work
                                   or path.name in RECORD_FILES):
                tar.add(path, arcname=str(path.relative_to(work)))


def device_info(dry: bool) -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "cuda_available": torch.cuda.is_available(), "dry_run": dry, "host": platform.node()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        try:
            info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                            capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            info["driver"] = None
    else:
        info["gpu"] = None
    return info


def test_outcomes(junit: Path) -> dict[str, str]:
    if not junit.exists():
        return {}
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        status = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                status = "failed"
            elif child.tag == "skipped":
                status = "skipped"
        out[case.get("name")] = status
    return out


def mode_is_correct(mode: str, tests: dict[str, str], dry: bool) -> bool:
    """A mode counts as correct when every CUDA test of its parts passed (on the dry run: nothing to check)."""
    if dry:
        return True
    basics = [name for name in tests if "equal_the_cpu" in name or "no_host_sync" in name]
    if not basics or any(tests[name] != "passed" for name in basics):
        return False
    for part, key in MODE_TESTS.items():
        if part in mode.split("+"):
            related = [name for name in tests if key in name]
            if not related or any(tests[name] != "passed" for name in related):
                return False
    return True


def projected(metrics_csv: Path, epochs: int = 100) -> dict:
    with open(metrics_csv) as f:
        seconds = [float(r["seconds"]) for r in csv.DictReader(f)]
    steady = seconds[-1]  # the first epoch also pays for compilation / capture / cuDNN's search
    return {"epoch_seconds": seconds, "projected_seconds": seconds[0] + steady * (epochs - 1),
            "projected_minutes": (seconds[0] + steady * (epochs - 1)) / 60}


def markdown(report: dict) -> str:
    info = report["device"]
    lines = [f"# Device check, {report['finished']}", "",
             f"GPU: {info.get('gpu') or 'none (CPU dry run)'}; driver {info.get('driver')}; torch {info['torch']}, "
             f"CUDA {info['cuda']}, cuDNN {info['cudnn']}; total {report['seconds']:.0f} s of a "
             f"{report.get('deadline_seconds', 0):.0f} s deadline.", "",
             "Steps: " + (", ".join(f"{n} exit {s['exit_code']} in {s['seconds']:.0f} s" for n, s in
                                    report.get("steps", {}).items()) or "none finished yet")
             + (f"; cut by the deadline: {', '.join(report['cut_by_deadline'])}" if report.get("cut_by_deadline") else ""),
             "", "## CUDA tests", ""]
    lines += [f"- {name}: {status}" for name, status in report.get("tests", {}).items()] or ["- (no results)"]
    modes = (report.get("bench") or {}).get("modes", {})
    if modes:
        lines += ["", "## Step benchmark (width %s, batch %s)" % (report["bench"]["width"], report["bench"]["batch_size"]),
                  "", "| mode | plain img/s | first-order img/s | first/plain | first-order ms | correct |",
                  "|---|---|---|---|---|---|"]
        for m, r in modes.items():
            lines.append(f"| {m} | {r['plain_img_s']:.0f} | {r['first_order_img_s']:.0f} | {r['first_over_plain']:.2f} "
                         f"| {r['first_order_ms']:.2f} | {'yes' if report.get('correct_modes', {}).get(m) else 'no'} |")
    paper = report.get("paper")
    if paper:
        lines += ["", f"## `{paper['preset']}` search, 2 epochs, mode {paper['mode']}", "",
                  f"Epoch seconds {', '.join(f'{s:.1f}' for s in paper['epoch_seconds'])}; projected "
                  f"{paper['epochs_projected']} epochs: {paper['projected_minutes']:.1f} min "
                  f"(target <= 2 min, stretch 1 min)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpu-dry-run", action="store_true")
    p.add_argument("--out", default=os.environ.get("OUT") or "")
    p.add_argument("--deadline", type=float, default=540.0, help="seconds for the whole check (default 540)")
    args = p.parse_args()
    dry = args.cpu_dry_run
    out = Path(args.out or ROOT / "runs" / f"device-check-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = (ROOT / "runs" / "device-check-work" / time.strftime("%Y%m%d-%H%M%S")).resolve()  # not under $OUT
    work.mkdir(parents=True, exist_ok=True)
    started, clock = time.time(), Clock(args.deadline)
    py = sys.executable
    print(f"device check{' (CPU dry run)' if dry else ''} -> {out} (work: {work}, deadline {args.deadline:.0f} s)",
          flush=True)

    import torch

    if not dry and not torch.cuda.is_available():
        print("error: no CUDA device here; use --cpu-dry-run to walk the script on the CPU", file=sys.stderr)
        return 2
    if not dry and not ARCHIVE.exists():
        print(f"error: {ARCHIVE.relative_to(ROOT)} is missing; carry the CIFAR-10 JPEG copy there "
              "(the ../shared folder does not travel)", file=sys.stderr)
        return 2
    if dry:
        hide_packages(work / "_absent_on_gpu_machine")
    report: dict = {"device": device_info(dry), "deadline_seconds": args.deadline, "steps": {}}
    write_report(out, work, report, started)
    print(f"1. {report['device'].get('gpu') or 'CPU'}, torch {report['device']['torch']}", flush=True)

    print("2. CUDA tests", flush=True)
    junit = work / "cuda-tests.xml"
    code, secs = run([py, "-m", "pytest", "-q", "-m", "cuda", "tests/test_cuda.py", "-p", "no:cacheprovider",
                      f"--junitxml={junit}"], work / "cuda-tests.log", timeout=clock.budget(60 if dry else 300),
                     PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")  # only pytest itself, as on the GPU machine
    report["tests"] = test_outcomes(junit)
    report["steps"]["tests"] = {"exit_code": code, "seconds": secs}
    write_report(out, work, report, started)

    print("3. step benchmark, every mode", flush=True)
    bench_json = work / "bench.json"
    bench = ["--device", "cpu", "--width", "0.125", "--steps", "2", "--warmup", "1", "--skip-second-order",
             "--modes", "eager,deterministic,bf16"] if dry else ["--device", "cuda", "--width", "1", "--steps", "30",
                                                                 "--warmup", "5", "--modes", "all"]
    code, secs = run([py, "benchmarks/bench_search.py", *bench, "--out", str(bench_json)], work / "bench.log",
                     timeout=clock.budget(120 if dry else 240))
    report["bench"] = json.loads(bench_json.read_text()) if bench_json.exists() else None
    modes = (report["bench"] or {}).get("modes", {})
    report["correct_modes"] = {m: r["loss_finite"] and mode_is_correct(m, report["tests"], dry) for m, r in modes.items()}
    report["steps"]["bench"] = {"exit_code": code, "seconds": secs}
    write_report(out, work, report, started)

    print("4. two epochs of the paper search in the fastest correct mode", flush=True)
    fastest = max((m for m, ok in report["correct_modes"].items() if ok),
                  key=lambda m: modes[m]["first_order_img_s"], default="eager")
    preset, data = ("smoke", "dataset=synthetic") if dry else ("paper", f"dataset={ARCHIVE.relative_to(ROOT)}")
    run_dir = work / f"search-{preset}-2ep"
    sets = [data, "epochs=2", "progress=false", *MODE_SETTINGS[fastest]]
    code, secs = run([py, "-m", "vggdarts", "search", "--preset", preset, "--run-dir", str(run_dir),
                      *[a for s in sets for a in ("--set", s)]], work / "search.log",
                     timeout=clock.budget(120 if dry else 300))
    report["steps"]["search"] = {"exit_code": code, "seconds": secs}
    if (run_dir / "metrics.csv").exists():
        report["paper"] = {"preset": preset, "mode": fastest, "settings": sets, "exit_code": code,
                           "epochs_projected": 100, **projected(run_dir / "metrics.csv")}
    report["cut_by_deadline"] = [name for name, step in report["steps"].items() if step["exit_code"] == 124]
    write_report(out, work, report, started)
    print(f"5. wrote {out / 'device_check.json'}, device_check.md and records.tar.gz ({report['seconds']:.0f} s)",
          flush=True)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
