"""Results that must not silently change: full-precision derivation, files after a last-epoch kill,
a content-keyed data cache, concurrent writers, and old results reused only when they match."""
import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT
from vggdarts import compare, derive
from vggdarts.config import make_config
from vggdarts.data import load_dataset
from vggdarts.jobs import Job, run_job
from vggdarts.retrain import retrain
from vggdarts.rundir import RunDir, RunDirError, read_metrics, read_table_csv
from vggdarts.search import search
from vggdarts.supernet import candidate_mask, softmax_relaxation


def test_threshold_at_uniform_alpha_reads_full_precision_not_the_rounded_csv(tmp_path):
    uniform = softmax_relaxation(torch.zeros(8, 6), candidate_mask()).double().numpy()
    run = RunDir(tmp_path / "run", "search", make_config("search", "smoke"))
    run.write_config("synthetic")
    run.write_alpha([np.zeros((8, 6))], [uniform])
    assert derive.threshold(read_table_csv(run.file("alpha_weights.csv"))).sum() == 6  # 0.1667 > 1/6: the bug
    mask = compare.derive_to_file(tmp_path / "t.json", "threshold", run.path)
    assert mask.sum() == 0  # nothing is above uniform


def test_a_kill_between_checkpoint_and_metrics_in_the_last_epoch_leaves_no_stale_files(tmp_path, monkeypatch):
    config = make_config("search", "smoke", {"dataset": "synthetic", "progress": False, "epochs": 2})
    original = RunDir.write_metrics

    def killed_in_last_epoch(self, rows):
        if len(rows) == 2:
            raise KeyboardInterrupt("simulated kill after the last checkpoint")
        original(self, rows)

    monkeypatch.setattr(RunDir, "write_metrics", killed_in_last_epoch)
    with pytest.raises(KeyboardInterrupt):
        search(config, tmp_path / "r")
    assert len(read_metrics(tmp_path / "r")) == 1 and not (tmp_path / "r" / "summary.json").exists()
    monkeypatch.setattr(RunDir, "write_metrics", original)
    search(config, tmp_path / "r")  # the resume finds no epoch left to train
    ckpt = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    assert [r["epoch"] for r in read_metrics(tmp_path / "r")] == [1, 2]
    z = np.load(tmp_path / "r" / "alpha.npz")
    assert z["raw"].shape[0] == 2 and np.array_equal(z["raw"], ckpt["alpha_raw"].numpy())
    assert np.allclose(read_table_csv(tmp_path / "r" / "alpha_raw.csv"), ckpt["alpha_raw"][-1].numpy(), atol=5e-5)


def _image_folder(root, n_per_class=2):
    for split in ("train", "test"):
        for k, c in enumerate(("cat", "dog")):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for n in range(n_per_class):
                Image.fromarray(np.full((32, 32, 3), (20 * k + n) % 256, dtype=np.uint8)).save(root / split / c / f"{n}.png")


def test_an_edited_or_added_image_is_not_served_from_a_stale_cache(tmp_path):
    folder, root = tmp_path / "imgs", tmp_path / "root"
    _image_folder(folder)
    before = load_dataset(str(folder), root).train_x.clone()
    edited = folder / "train" / "cat" / "0.png"
    Image.fromarray(np.full((32, 32, 3), 200, dtype=np.uint8)).save(edited)
    after = load_dataset(str(folder), root)
    assert after.train_x[0].float().mean() == 200 and not torch.equal(before, after.train_x)
    Image.fromarray(np.full((32, 32, 3), 99, dtype=np.uint8)).save(folder / "train" / "dog" / "9.png")
    assert len(load_dataset(str(folder), root).train_y) == len(before) + 1


DECODE = """
import sys
from vggdarts.data import load_dataset
d = load_dataset(sys.argv[1], sys.argv[2])
print(int(d.train_x.double().sum()), len(d.train_y))
"""


def test_two_processes_decoding_one_archive_into_one_cache(tmp_path):
    folder = tmp_path / "imgs"
    _image_folder(folder, n_per_class=300)
    archive = tmp_path / "imgs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(folder, arcname="imgs")
    cmd = [sys.executable, "-c", DECODE, str(archive), str(tmp_path / "root")]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-500:] for o in outs]
    assert outs[0][0] == outs[1][0] and outs[0][0].split()[1] == "600"
    cache = tmp_path / "root" / "cache"
    assert len(list(cache.glob("*.npz"))) == 1 and not list(cache.glob(".*tmp*"))


def test_two_processes_sweeping_into_one_folder_train_each_run_once(smoke_run, tmp_path):
    out = tmp_path / "cmp"
    cmd = [sys.executable, "-m", "vggdarts", "compare", "--search-run", str(smoke_run), "--out", str(out),
           "--preset", "smoke", "--seeds", "0", "1", "--methods", "none", "resnet", "--set", "epochs=1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [log[-800:] for log in logs]
    trained = sum(log.count("retrain done:") for log in logs)
    assert trained == 4, logs  # 2 methods x 2 seeds, each trained by exactly one of the processes
    for method in ("none", "resnet"):
        for seed in (0, 1):
            run = out / method / f"seed{seed}"
            assert json.loads((run / "summary.json").read_text())["seed"] == seed
            assert len(read_metrics(run)) == 1
            torch.load(run / "checkpoint.pt", weights_only=True)
    assert len(compare.collect(out)) == 4 and not list(out.rglob(".*.tmp"))


def test_changed_derive_parameters_are_refused_not_silently_reused(smoke_run, tmp_path):
    compare.derive_all(smoke_run, tmp_path, methods=("topk", "argmax"), topk_k=6)
    before = (tmp_path / "archs" / "topk.json").read_bytes()
    compare.derive_all(smoke_run, tmp_path, methods=("topk", "argmax"), topk_k=6)  # same: reused
    with pytest.raises(ValueError, match="k"):
        compare.derive_all(smoke_run, tmp_path, methods=("topk",), topk_k=4)
    assert (tmp_path / "archs" / "topk.json").read_bytes() == before


def test_a_retrain_run_is_matched_by_the_architecture_not_the_file_path(tmp_path):
    arch = derive.save_mask(tmp_path / "arch.json", derive.resnet(), "resnet")
    config = make_config("retrain", "smoke", {"dataset": "synthetic", "progress": False, "arch": str(arch),
                                              "epochs": 1})
    retrain(config, tmp_path / "r")
    before = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir()}
    derive.save_mask(arch, derive.none(), "none")  # the same path now holds another architecture
    with pytest.raises(RunDirError, match="different architecture"):
        retrain(config, tmp_path / "r")
    assert {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir()} == before
    moved = derive.save_mask(tmp_path / "moved" / "arch.json", derive.resnet(), "resnet")
    moved_config = make_config("retrain", "smoke", {**{k: getattr(config, k) for k in ("dataset", "progress",
                                                                                        "epochs")}, "arch": str(moved)})
    assert retrain(moved_config, tmp_path / "r")["n_shortcuts"] == 6  # same contents elsewhere: finished run


def test_a_record_exported_without_its_checkpoint_is_finished_not_retrained(smoke_run, tmp_path):
    """Committed records (export_record, compare.export_sweep) hold no checkpoint.  Copied back into a run folder,
    a retrain and a search are finished by their summaries: no training, every file as it was.  Was: retrained
    from scratch, the record overwritten (with other numbers on another CPU)."""
    from vggdarts.rundir import export_record
    from vggdarts.search import load_search_run

    arch = derive.save_mask(tmp_path / "arch.json", derive.resnet(), "resnet")
    config = make_config("retrain", "smoke", {"dataset": "synthetic", "progress": False, "arch": str(arch), "epochs": 1})
    retrain(config, tmp_path / "r")
    copied = export_record(tmp_path / "r", tmp_path / "copied", supernet=False)
    assert not (copied / "checkpoint.pt").exists()
    before = {p.name: p.read_bytes() for p in copied.iterdir()}
    assert retrain(config, copied) == json.loads(before["summary.json"])
    assert {p.name: p.read_bytes() for p in copied.iterdir()} == before

    record = export_record(smoke_run, tmp_path / "search-record")
    assert not (record / "checkpoint.pt").exists()
    before = {p.name: p.read_bytes() for p in record.iterdir()}
    search_config, *_ = load_search_run(record, "cpu")
    assert search(search_config, record)["epochs_done"] == 3
    assert {p.name: p.read_bytes() for p in record.iterdir()} == before

    short = json.loads(before["summary.json"])  # a record of fewer epochs than asked cannot be extended
    (record / "summary.json").write_text(json.dumps({**short, "epochs_done": 2}))
    with pytest.raises(RunDirError, match="without its checkpoint"):
        search(search_config, record)


def test_an_old_failure_does_not_skip_a_run_whose_config_changed(tmp_path):
    arch = derive.save_mask(tmp_path / "all.json", derive.all_edges(), "all")
    over = {"dataset": "synthetic", "progress": False, "arch": str(arch), "epochs": 1, "lr": 1e12}
    job = Job("retrain", "smoke", over, str(tmp_path / "r"))
    assert run_job(job)["status"] == "diverged"
    assert run_job(job)["status"] == "diverged"  # same config: skipped, not retried
    changed = Job("retrain", "smoke", {**over, "lr": 0.05}, str(tmp_path / "r"))
    with pytest.raises(RunDirError, match="different config"):
        run_job(changed)  # was: silently skipped because failed.json existed


def test_a_run_recorded_before_a_field_existed_reopens_with_that_fields_old_value(smoke_run, tmp_path):
    import shutil

    from vggdarts.search import load_search_run

    old = tmp_path / "old"
    shutil.copytree(smoke_run, old)
    record = json.loads((old / "config.json").read_text())
    del record["hvp"]  # written before hvp existed: its runs used DARTS's finite difference
    (old / "config.json").write_text(json.dumps(record))
    config, *_ = load_search_run(old, "cpu")
    assert config.hvp == "fd"
    assert search(config, old)["epochs_done"] == 3  # accepted as the same run: finished, not retrained


def test_checkpoint_every_n_epochs_saves_those_and_the_last_and_a_kill_resumes_as_if_uninterrupted(tmp_path, monkeypatch):
    """checkpoint_every=2 over 3 epochs checkpoints after epochs 2 and 3 only; a kill before the last
    checkpoint leaves the files of epoch 2 (nothing newer than its checkpoint), and the resume redoes epoch 3
    to the uninterrupted run's alpha, bit for bit."""
    config = make_config("search", "smoke", {"dataset": "synthetic", "progress": False, "epochs": 3,
                                             "checkpoint_every": 2})
    assert [e for e in (1, 2, 3) if config.checkpoints_after(e)] == [2, 3]
    search(config, tmp_path / "whole")
    original, saved = RunDir.save_checkpoint, []

    def killed_at_the_last_checkpoint(self, state):
        if len(state["history"]) == 3:
            raise KeyboardInterrupt("simulated kill during epoch 3's checkpoint")
        saved.append(len(state["history"]))
        original(self, state)

    monkeypatch.setattr(RunDir, "save_checkpoint", killed_at_the_last_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        search(config, tmp_path / "cut")
    assert saved == [2] and [r["epoch"] for r in read_metrics(tmp_path / "cut")] == [1, 2]
    assert np.load(tmp_path / "cut" / "alpha.npz")["raw"].shape[0] == 2
    monkeypatch.setattr(RunDir, "save_checkpoint", original)
    search(config, tmp_path / "cut")
    whole, cut = np.load(tmp_path / "whole" / "alpha.npz"), np.load(tmp_path / "cut" / "alpha.npz")
    assert np.array_equal(whole["raw"], cut["raw"]) and cut["raw"].shape[0] == 3
    assert [r["val_acc"] for r in read_metrics(tmp_path / "whole")] == [r["val_acc"] for r in read_metrics(tmp_path / "cut")]


def test_checkpoint_every_must_be_a_positive_number_of_epochs():
    from vggdarts.config import ConfigError

    with pytest.raises(ConfigError, match="checkpoint_every must be >= 1"):
        make_config("search", "smoke", {"checkpoint_every": 0})
