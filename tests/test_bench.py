"""benchmarks/bench_search.py: each speed mode is timed under its own flags, and one failing mode loses nothing."""
import sys

import pytest
import torch

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_search  # noqa: E402

from vggdarts.data import Batches, synthetic_dataset  # noqa: E402


@pytest.fixture
def batches():
    data = synthetic_dataset(n_train=256, n_test=10)
    return Batches(data.train_x, data.train_y, 8, mean=data.mean_std[0], std=data.mean_std[1], augment=True,
                   shuffle=True, device=torch.device("cpu"))


def test_each_mode_is_timed_under_its_own_flags(batches, monkeypatch):
    seen = []
    timed = bench_search.time_steps

    def recording(fn, *args):
        seen.append(torch.are_deterministic_algorithms_enabled())
        return timed(fn, *args)

    monkeypatch.setattr(bench_search, "time_steps", recording)
    try:  # built in this order, the old code timed "deterministic" under eager's flags (the last one built)
        out = bench_search.time_modes(["deterministic", "eager"], 0.125, batches, torch.device("cpu"), steps=1, rounds=2)
    finally:
        torch.use_deterministic_algorithms(False)
    assert seen == [True, True, False, False] * 2  # plain and first-order of each mode, in turn, each round
    assert set(out) == {"deterministic", "eager"} and all(r["loss_finite"] for r in out.values())


def test_each_mode_is_reported_as_soon_as_it_is_timed_so_a_cut_keeps_it(batches):
    """The device check kills the benchmark at its time limit: what on_update wrote last must hold every mode
    timed before the cut (a compile mode's minutes-long build must not cost the modes timed before it)."""
    snapshots = []
    out = bench_search.time_modes(["eager", "deterministic"], 0.125, batches, torch.device("cpu"), steps=1, rounds=2,
                                  on_update=lambda r: snapshots.append({m: v["rounds"] for m, v in r.items()}))
    torch.use_deterministic_algorithms(False)
    assert snapshots == [{"eager": 1}, {"eager": 1, "deterministic": 1}, {"eager": 2, "deterministic": 2}]
    assert {m: v["rounds"] for m, v in out.items()} == snapshots[-1]


def test_the_modes_start_with_eager_and_the_graphs_and_end_with_compilation():
    names = list(bench_search.MODES)
    assert names[:2] == ["eager", "cuda_graphs"] and all(m.startswith("compile") for m in names[-2:])


def test_a_failing_mode_is_recorded_and_the_others_are_still_timed(batches, monkeypatch):
    monkeypatch.setitem(bench_search.MODES, "broken", {"precision": "fp8"})  # refused by the config
    out = bench_search.time_modes(["eager", "broken"], 0.125, batches, torch.device("cpu"), steps=1, rounds=1)
    assert list(out) == ["eager", "broken"]
    assert "precision" in out["broken"]["error"] and out["eager"]["first_order_img_s"] > 0


def test_the_depth_benchmark_times_every_network_against_vgg11_and_projects_from_the_record(tmp_path, monkeypatch):
    """benchmarks/bench_depth.py at toy size: VGG11 is the reference (its ratios are 1), the deeper networks cost
    more MACs in block order, and the projection is the measured ratio times the record's median epoch."""
    import json

    import bench_depth

    out = tmp_path / "depth.json"
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", ["bench_depth.py", "--nets", "vgg11,vgg13", "--width", "0.125", "--batch-size",
                                      "8", "--steps", "1", "--rounds", "1", "--epochs", "10", "--out", str(out)])
    threads = torch.get_num_threads()
    try:
        bench_depth.main()
    finally:
        torch.set_num_threads(threads)  # main sets --threads (default 1) for the process
    b = json.loads(out.read_text())
    v11, v13 = b["nets"]["vgg11"], b["nets"]["vgg13"]
    assert (v11["blocks"], v13["blocks"]) == (8, 10)
    assert v11["first_over_vgg11"] == v11["retrain_all_over_vgg11"] == v11["macs_over_vgg11"] == 1.0
    assert v13["macs_over_vgg11"] > 1.3  # two more 3x3 convolutions at full resolution and at 1/2
    base = bench_depth.median_epoch_seconds(ROOT / b["vgg11_record"])
    assert b["vgg11_median_epoch_s"] == base
    assert v13["projected_search_h"] == pytest.approx(v13["first_over_vgg11"] * base * 10 / 3600)
