"""Seed agreement of search runs, on hand-made alpha records with a known answer."""
import numpy as np
import pytest

from vggdarts import agreement, plots
from vggdarts.supernet import candidate_mask

CAND = candidate_mask().numpy()


def _record(path, winner_offset):
    """A record whose table puts 0.7 on source (i - 1 - winner_offset) of each block i (clipped to >= 1)."""
    table = np.zeros((8, 6))
    for i in range(2, 8):
        cands = np.flatnonzero(CAND[i])
        win = cands[max(0, len(cands) - 1 - winner_offset)]
        table[i, cands] = 0.3 / max(len(cands) - 1, 1)
        table[i, win] = 0.7 if len(cands) > 1 else 1.0
    path.mkdir()
    np.savez(path / "alpha.npz", raw=np.zeros((1, 8, 6)), weights=table[None])
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
