"""A real JupyterLab server on a free port, for the server test and the browser check (not a test module)."""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyter_lab(root: Path = ROOT, timeout: float = 60.0):
    """Start ``jupyter lab`` (no browser, a token, --allow-root when root) rooted at ``root``; yields
    (base_url, token); shuts it down afterwards."""
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(root / "runs" / f"jupyter-{port}.log", "w") if (root / "runs").is_dir() else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                if requests.get(f"{base}/api/status", params={"token": token}, timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"jupyter lab did not start (exit code {proc.poll()})")
            time.sleep(0.3)
        yield base, token
    finally:
        try:
            requests.post(f"{base}/api/shutdown", params={"token": token}, timeout=5)
            proc.wait(timeout=20)
        except Exception:  # noqa: BLE001 - make sure it is gone
            proc.kill()
            proc.wait()
