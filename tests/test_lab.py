"""JupyterLab serves the project: a real `jupyter lab` in a subprocess, its REST API and a kernel over websocket."""
import json
import time
import uuid

import pytest
import requests

from conftest import ROOT
from lab_server import jupyter_lab

websocket = pytest.importorskip("websocket")

NOTEBOOKS = ["01_search.ipynb", "02_alpha.ipynb", "03_curves.ipynb", "04_derive_retrain.ipynb"]


def _execute(ws, session, code, timeout=90):
    """Send one execute_request on the kernel's channels; return its execute_reply content, with the text the
    cell printed (its stdout stream messages) under "stdout"."""
    msg_id, printed = uuid.uuid4().hex, []
    ws.send(json.dumps({"header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session,
                                   "username": "test", "version": "5.3"},
                        "parent_header": {}, "metadata": {}, "channel": "shell",
                        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                                    "allow_stdin": False, "stop_on_error": True}}))
    deadline = time.time() + timeout
    while time.time() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["header"]["msg_type"] == "stream" and msg["content"].get("name") == "stdout":
            printed.append(msg["content"]["text"])
        if msg["header"]["msg_type"] == "execute_reply":
            return {**msg["content"], "stdout": "".join(printed)}
    raise TimeoutError(code)


def test_jupyter_lab_serves_the_project_and_runs_notebook_02_through_a_kernel():
    with jupyter_lab() as (base, token):
        auth = {"token": token}
        lab = requests.get(f"{base}/lab", params=auth, timeout=30)
        assert lab.status_code == 200 and "JupyterLab" in lab.text
        listing = requests.get(f"{base}/api/contents/notebooks", params=auth, timeout=30).json()
        names = {item["name"] for item in listing["content"]}
        assert set(NOTEBOOKS) <= names
        notebook = requests.get(f"{base}/api/contents/notebooks/02_alpha.ipynb", params=auth, timeout=30).json()
        cells = [c["source"] for c in notebook["content"]["cells"] if c["cell_type"] == "code"]
        created = requests.post(f"{base}/api/sessions", params=auth, timeout=60, json={
            "path": "notebooks/02_alpha.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}})
        assert created.status_code == 201, created.text
        kernel = created.json()["kernel"]["id"]
        ws = websocket.create_connection(f"{base.replace('http', 'ws')}/api/kernels/{kernel}/channels?token={token}",
                                         timeout=90)
        try:
            session = uuid.uuid4().hex
            parameters = cells[0].replace('run_dir = "runs/default"', 'run_dir = "results/search-cpu"')
            for code in (parameters, cells[1], cells[2]):  # parameters, setup, the tables of a committed record
                reply = _execute(ws, session, code)
                assert reply["status"] == "ok", (code, reply)
            # the kernel read the committed record: what it printed is that record's table, not any table
            from vggdarts.figures import provenance
            from vggdarts.rundir import alpha_tables

            raw, _ = alpha_tables(ROOT / "results" / "search-cpu")
            assert provenance(ROOT / "results" / "search-cpu") in reply["stdout"]
            assert f"{raw[7, 5]:.4f}" in reply["stdout"] and f"{raw[3, 1]:.4f}" in reply["stdout"]
        finally:
            ws.close()
