"""Where the components meet, checked against references written here: the network a retrain builds is its
mask's, the numbers it reports are its own model's on the right split, a resumed retrain is the uninterrupted
one, a record keeps val and test apart, the one-shot score reads the alpha half, the Gumbel sample is
softmax((alpha + g) / tau), and derivation counts the none column."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from vggdarts import derive, groundtruth as gt, oneshot, scores
from vggdarts.config import make_config
from vggdarts.data import load_dataset, stratified_subset
from vggdarts.jobs import Job
from vggdarts.relaxations import Relaxation
from vggdarts.retrain import retrain, train_val_split
from vggdarts.rundir import read_metrics
from vggdarts.supernet import SuperNet, candidate_mask
from vggdarts.training import make_batches

CAND = candidate_mask()
VGG11 = (64, 128, 256, 256, 512, 512, 512, 512)  # written out here, not read from the package


def _mask(*edges):
    m = np.zeros((8, 6), dtype=bool)
    for j, i in edges:  # source j -> block i, 1-based
        m[i - 1, j - 1] = True
    return m


# 1>3: 64->256 channels, 32/2 -> 8 px (pool + 1x1); 3>5: 256->512 (1x1); 5>7: 512->512, 4 -> 2 px (pool only);
# 2>4 and 4>8: more of each kind.  Every shape adapter the shortcuts have.
MASK = _mask((1, 3), (2, 4), (3, 5), (5, 7), (4, 8))


def _expected_params(mask, width: float, classes: int = 10) -> int:
    """Conv3x3 (no bias) + BN (2 per channel) per block, a 1x1 conv + BN per shortcut whose channels differ,
    the classifier."""
    c = [max(1, round(k * width)) for k in VGG11]
    total, c_in = 0, 3
    for out in c:
        total += 9 * c_in * out + 2 * out
        c_in = out
    for i, j in zip(*np.nonzero(mask)):
        if c[j] != c[i]:
            total += c[j] * c[i] + 2 * c[i]
    return total + c[-1] * classes + classes


def _config(arch, **over):
    return make_config("retrain", "smoke", {"dataset": "synthetic", "progress": False, "arch": str(arch), **over})


@pytest.fixture(scope="module")
def retrained(tmp_path_factory):
    root = tmp_path_factory.mktemp("wiring")
    arch = derive.save_mask(root / "arch.json", MASK, "hand")
    config = _config(arch, epochs=3, keep_checkpoints="1,2,3", test_subset=200)  # 200 vs 256 val images
    summary = retrain(config, root / "r")
    return config, summary, root


def test_a_retrain_builds_exactly_the_masks_network(retrained):
    config, summary, root = retrained
    state = torch.load(root / "r" / "checkpoint.pt", map_location="cpu", weights_only=False)["model"]
    edges = {k.split(".")[1] for k in state if k.startswith("shortcuts.")}
    adapted = {f"{j + 1}_{i + 1}" for i, j in zip(*np.nonzero(MASK)) if VGG11[j] != VGG11[i]}
    assert edges == adapted  # the shortcuts with weights: exactly the mask's that change channels
    assert summary["params"] == _expected_params(MASK, config.width)
    assert summary["params"] != _expected_params(derive.none(), config.width)
    assert summary["n_shortcuts"] == 5
    assert not (root / "r" / ".lock").exists()  # a finished run directory keeps no lock file


def _accuracy(model, batches) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in batches.epoch(0):
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    return 100.0 * correct / total


def test_every_reported_accuracy_is_the_models_own_on_its_split(retrained):
    """Each epoch's val accuracy, recomputed from that epoch's weights on the held-out training images, and the
    test accuracy on the test images: val and test differ here, so a swap or an offset cannot pass."""
    config, summary, root = retrained
    data = load_dataset(config.dataset, config.data_root)
    train_idx, val_idx = train_val_split(data, config)
    assert not set(train_idx.tolist()) & set(val_idx.tolist())
    test_idx = stratified_subset(data.test_y, config.test_subset, seed=0)
    val = make_batches(data, data.train_x[val_idx], data.train_y[val_idx], config, "cpu", train=False)
    test = make_batches(data, data.test_x[test_idx], data.test_y[test_idx], config, "cpu", train=False)
    rows = read_metrics(root / "r")
    assert len(rows) == 3
    for epoch, row in enumerate(rows, start=1):
        model = SuperNet(config.width, len(data.classes), mask=torch.from_numpy(MASK))
        model.load_state_dict(torch.load(root / "r" / f"checkpoint-epoch{epoch:03d}.pt", map_location="cpu",
                                         weights_only=False)["model"])
        own_val = _accuracy(model, val)
        assert row["val_acc"] == pytest.approx(own_val, abs=1e-9), f"epoch {epoch}"
    own_test = _accuracy(model, test)
    assert own_test != pytest.approx(own_val)  # otherwise a swap could not be seen
    assert summary["test_acc"] == pytest.approx(own_test, abs=1e-9) and summary["final_val_acc"] == rows[-1]["val_acc"]


def test_a_retrain_resumed_after_an_epoch_is_the_uninterrupted_one(retrained, tmp_path):
    """The run directory as a kill after epoch 1 leaves it (epoch 1's checkpoint, its metrics), resumed."""
    config, summary, root = retrained
    killed = tmp_path / "killed"
    shutil.copytree(root / "r", killed)
    for extra in ("summary.json", "checkpoint-epoch002.pt", "checkpoint-epoch003.pt"):
        (killed / extra).unlink()
    shutil.copy(killed / "checkpoint-epoch001.pt", killed / "checkpoint.pt")
    lines = (killed / "metrics.csv").read_text().splitlines()
    (killed / "metrics.csv").write_text("\n".join(lines[:2]) + "\n")
    resumed = retrain(config, killed)
    for key in ("final_val_acc", "test_acc"):
        assert resumed[key] == summary[key]
    a = torch.load(root / "r" / "checkpoint.pt", map_location="cpu", weights_only=False)
    b = torch.load(killed / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["sched"] == b["sched"] and [r["val_acc"] for r in a["history"]] == [r["val_acc"] for r in b["history"]]


def test_a_ground_truth_row_keeps_val_and_test_apart(tmp_path):
    archs = gt.architecture_set(1, 0, tmp_path / "nothing")
    aid = gt.arch_id(derive.none())
    summary = {"n_shortcuts": 0, "seed": 3, "width": 0.125, "epochs_done": 2, "final_val_acc": 61.25,
               "test_acc": 52.5, "params": 7, "macs": 11, "dataset_used": "synthetic", "threads": 1,
               "cpu_capability": "AVX2", "cpu_model": "Vendor X 9000"}
    job = Job("retrain", "smoke", {"arch": f"masks/{aid}.json", "seed": 3}, "unused", "x")
    assert gt.record_finished([job], [{"status": "ok", "summary": summary}], archs, tmp_path) == 1
    (row,) = gt.read_records(tmp_path / "groundtruth.csv")
    assert (row["val_acc"], row["test_acc"], row["seed"], row["width"], row["epochs"]) == (61.25, 52.5, 3, 0.125, 2)
    assert (row["params"], row["macs"]) == (7, 11)
    assert (row["threads"], row["cpu_capability"], row["cpu_model"]) == (1, "AVX2", "Vendor X 9000")


def test_the_one_shot_score_reads_the_alpha_half(smoke_run, monkeypatch):
    seen = []
    real = oneshot.scoring_batches

    def spy(data, indices, *args, **kwargs):
        seen.append(torch.as_tensor(indices).clone())
        return real(data, indices, *args, **kwargs)

    monkeypatch.setattr(oneshot, "scoring_batches", spy)
    scores.oneshot_scores(smoke_run, {"none": derive.none()}, 64, "cpu")
    ckpt = torch.load(smoke_run / "checkpoint.pt", map_location="cpu", weights_only=False)
    (used,) = seen
    assert set(used.tolist()) == set(ckpt["split_alpha"].tolist())
    assert not set(used.tolist()) & set(ckpt["split_weights"].tolist())


def test_the_gumbel_sample_is_the_softmax_of_alpha_plus_noise_over_tau():
    torch.manual_seed(0)
    alpha, noise, tau = torch.randn(8, 7), torch.randn(8, 7), 0.37
    got = Relaxation("gumbel").edge_weights(alpha, CAND, noise, tau).numpy()
    a, g = alpha.numpy().astype(float), noise.numpy().astype(float)
    for i in range(2, 8):  # blocks 3..8: their candidates and the none column
        allowed = np.append(CAND[i].numpy(), True)
        z = np.exp((a[i] + g[i]) / tau) * allowed
        assert got[i] == pytest.approx((z / z.sum())[:6], abs=1e-6)
    assert not got[:2].any()


def test_derivation_counts_the_none_column():
    """Block 8 has 6 sources and, with a none column, 7 choices: 0.15 beats the uniform 1/7 but not 1/6, so the
    threshold keeps it only when none counts.  Top-k ranks weights against uniform (w * n): block 4's 0.4 and
    block 8's 0.16 give 1.2 > 1.12 with none counted (n = 3 and 7), 0.8 < 0.96 without (n = 2 and 6)."""
    table = np.zeros((8, 7))
    table[2:, 6] = 1.0  # every block all none ...
    table[7] = [0.15, 0.0, 0.0, 0.0, 0.0, 0.0, 0.85]  # ... but block 8's source 1
    kept = derive.threshold(table)
    assert kept[7, 0] and kept.sum() == 1
    top = np.zeros((8, 7))
    top[3, :2], top[3, 6] = 0.4, 0.2
    top[7, :6], top[7, 6] = 0.16, 0.04
    picks = derive.topk(top, 1)
    assert picks[3].sum() == 1 and not picks[7].any()


def test_every_mutation_of_the_mutation_check_still_applies():
    """`make mutate` edits exact passages: one that no longer occurs exactly once would test nothing."""
    import mutations

    root = Path(__file__).resolve().parents[1]
    missing = [m.name for m in mutations.MUTATIONS if (root / m.path).read_text().count(m.old) != 1]
    assert not missing, f"mutations whose passage is not in the code exactly once: {missing}"
    assert all(Path(root / t.split("::")[0]).exists() for m in mutations.MUTATIONS for t in m.tests)
