"""Seed agreement of search runs, on hand-made alpha records with a known answer."""
import json

import numpy as np
import pytest

from vggdarts import agreement, plots
from vggdarts.config import make_config
from vggdarts.supernet import candidate_mask

CAND = candidate_mask().numpy()


def _table(winner_offset):
    """A table that puts 0.7 on source (i - 1 - winner_offset) of each block i (clipped to >= 1)."""
    table = np.zeros((8, 6))
    for i in range(2, 8):
        cands = np.flatnonzero(CAND[i])
        win = cands[max(0, len(cands) - 1 - winner_offset)]
        table[i, cands] = 0.3 / max(len(cands) - 1, 1)
        table[i, win] = 0.7 if len(cands) > 1 else 1.0
    return table


def _record(path, *winner_offsets):
    """A search record with one epoch per offset (the last one is the final table)."""
    path.mkdir()
    weights = np.stack([_table(k) for k in winner_offsets])
    np.savez(path / "alpha.npz", raw=np.zeros_like(weights), weights=weights)
    config = make_config("search", "smoke", {"order": "second", "hvp": "exact"}).to_dict()
    (path / "config.json").write_text(json.dumps({**config, "job": "search", "dataset_used": "synthetic"}))
    return path


def test_agreement_counts_blocks_spreads_and_pairwise_tau(tmp_path):
    a, b, c = (_record(tmp_path / n, k) for n, k in (("s0", 0), ("s1", 0), ("s2", 1)))
    rep = agreement.seed_agreement([a, b, c])
    rows = {r["block"]: r for r in rep["rows"]}
    assert rows[3]["argmax"] == [1, 1, 1] and rows[3]["agree"]  # one candidate: always agrees
    assert rows[4]["argmax"] == [2, 2, 1] and not rows[4]["agree"]
    assert rows[8]["argmax"] == [6, 6, 5]
    assert rep["agreeing_blocks"] == 1
    assert rep["pairwise_tau"]["s0 vs s1"] == pytest.approx(1.0)
    assert rep["pairwise_tau"]["s0 vs s2"] < 1.0
    assert rows[4]["mean"] == pytest.approx([(0.3 + 0.3 + 0.7) / 3, (0.7 + 0.7 + 0.3) / 3])
    assert rows[4]["std"][0] == pytest.approx(np.std([0.3, 0.3, 0.7], ddof=1))
    text = agreement.markdown(rep)
    assert "1 of 6" in text and "**1**" in text
    fig = plots.mean_std_heatmap(rep["mean"], rep["std"], rep["picks"],
                                 rep["runs"])
    assert len(fig.axes[0].collections) >= 4  # heatmap + one marker set per run


def test_agree_compares_the_tables_after_a_given_epoch(tmp_path, capsys):
    from vggdarts.cli import main

    a = _record(tmp_path / "first", 0, 0, 0)
    b = _record(tmp_path / "second", 0, 1)  # agrees with `first` after epoch 1, not after epoch 2
    assert agreement.seed_agreement([a, b], epoch=1)["agreeing_blocks"] == 6
    assert agreement.seed_agreement([a, b], epoch=2)["agreeing_blocks"] == 1
    assert main(["agree", str(a), str(b), "--epoch", "1", "--out", str(tmp_path / "fig"), "--name", "orders"]) == 0
    out = capsys.readouterr().out
    assert "6 of 6" in out and "Kendall tau with first after epoch 1: second +1.00" in out
    assert all((tmp_path / "fig" / f"orders{s}.png").exists() for s in ("", "_tables", "_tau"))
    assert main(["agree", str(a), str(b), "--epoch", "3"]) == 2  # `second` has 2 epochs: one line, no figure
    assert "epochs 1..2" in capsys.readouterr().err
    tau = agreement.tau_to_first([a, b])  # up to the shorter record: identical after epoch 1, apart after 2
    assert tau["second"][0] == pytest.approx(1.0) and tau["second"][1] < 1.0 and len(tau["second"]) == 2


def test_table_tau_ignores_the_row_sizes():
    """Opposite preferences inside every row: the raw weights still correlate (big rows have small weights),
    the deviations from the even share anti-correlate."""
    from vggdarts.relaxations import Relaxation
    from vggdarts.stats import kendall_tau

    even = agreement.even_share(Relaxation("softmax"))
    assert even[7, :6] == pytest.approx(np.full(6, 1 / 6)) and even[2, 0] == 1.0
    first, last = _table(0), _table(99)  # winner: the nearest source vs the farthest (source 1)
    assert kendall_tau(first[CAND], last[CAND]) > 0
    assert agreement.table_tau(first, last, even, even) < 0
    assert agreement.table_tau(first, first, even, even) == pytest.approx(1.0)
