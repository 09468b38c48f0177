"""The original report's result, to set this implementation's search beside it.

The report (VGG11-BN with DARTS-searched shortcuts, width 1, 100 epochs, the original CIFAR-10 files) gives a
best test accuracy of 85.54 % and its final alpha: Table 2 (softmax weights) and Table 3 (raw alpha).  Rows are
destination blocks i = 1..8, columns source blocks j = 1..6; cells that are not candidates are 0 here.

* :func:`signature` — what Table 3's shape says about the optimiser: per row the argmax source, the spread of
  the rejected sources' raw alpha (max - min) and their mean, and the largest |alpha|.  A restoring force on
  alpha (coupled L2 decay) pins each rejected edge near where its small gradient balances the decay, so the
  rejected sources of a row sit together and |alpha| stays small; without one they drift apart.
* :func:`against_report` — per row 4..8: the argmax against the report's, Spearman rho between the two rows'
  weights, and over all movable cells the project's even-share-centred Kendall tau (``agreement.table_tau``).

The report's tables are VGG11's: both functions refuse another network's table with a clear message.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from . import layout
from .agreement import even_share, table_tau
from .relaxations import Relaxation

CANDIDATES = layout.get("vgg11").candidates  # the report searched VGG11

REPORT_BEST_TEST_ACC = 85.54  # per cent, on the original CIFAR-10 files (ours: the JPEG copy)
BEST_TEST_LINE = (REPORT_BEST_TEST_ACC, f"original report: best test {REPORT_BEST_TEST_ACC:.2f}% (original CIFAR-10)")  # for plots.curves


def _rows(rows: dict[int, list[float]]) -> np.ndarray:
    table = np.zeros(CANDIDATES.shape)
    for i, values in rows.items():
        table[i - 1, :len(values)] = values
    return table


def _vgg11(table) -> np.ndarray:
    table = np.asarray(table, dtype=float)
    if layout.of(table).name != "vgg11":
        raise ValueError(f"the original report's Tables 2 and 3 are VGG11's (8 x 6); this table is "
                         f"{layout.of(table).name}'s ({table.shape[0]} x {table.shape[1]}): there is nothing to "
                         "compare it with")
    return table[:, :CANDIDATES.shape[1]]


REPORT_TABLE2 = _rows({  # softmax weights
    3: [1.0000],
    4: [0.2019, 0.7981],
    5: [0.2144, 0.1256, 0.6600],
    6: [0.0588, 0.8246, 0.0570, 0.0596],
    7: [0.0368, 0.8497, 0.0374, 0.0386, 0.0375],
    8: [0.1238, 0.1484, 0.2058, 0.2357, 0.2417, 0.0446],
})
REPORT_TABLE3 = _rows({  # raw alpha
    3: [0.0000],
    4: [-0.6871, 0.6871],
    5: [-0.1982, -0.7329, 0.9261],
    6: [-0.6557, 1.9855, -0.6870, -0.6411],
    7: [-0.6814, 2.4581, -0.6656, -0.6325, -0.6629],
    8: [-0.1647, 0.0171, 0.3440, 0.4793, 0.5046, -1.1853],
})


def signature(raw: np.ndarray) -> dict:
    """Per block 4..8 (rows with a choice): argmax source (1-based), the rejected sources' spread and mean; and
    the largest |alpha| over the candidate cells.  ``raw``: [8, 6] (a none column beyond 6 is ignored)."""
    raw = _vgg11(raw)
    rows = []
    for i in range(3, 8):
        values = raw[i][CANDIDATES[i]]
        best = int(values.argmax())
        rejected = np.delete(values, best)
        rows.append({"block": i + 1, "argmax": best + 1, "rejected_spread": float(rejected.max() - rejected.min()),
                     "rejected_mean": float(rejected.mean())})
    return {"rows": rows, "max_abs_alpha": float(np.abs(raw[CANDIDATES]).max())}


def against_report(table: np.ndarray, relaxation: str = "softmax") -> dict:
    """How a relaxed table [8, 6] (or [8, 7]) agrees with the report's Table 2, block by block and overall."""
    table = _vgg11(table)
    rows = []
    for i in range(3, 8):
        ours, theirs = table[i][CANDIDATES[i]], REPORT_TABLE2[i][CANDIDATES[i]]
        rho = stats.spearmanr(ours, theirs).statistic if len(ours) > 2 else float(np.sign(
            (ours[1] - ours[0]) * (theirs[1] - theirs[0])))  # two cells: the order agrees (+1) or not (-1)
        rows.append({"block": i + 1, "argmax": int(ours.argmax()) + 1, "report_argmax": int(theirs.argmax()) + 1,
                     "spearman_rho": float(rho)})
    tau = table_tau(table, REPORT_TABLE2, even_share(Relaxation(relaxation)), even_share(Relaxation("softmax")))
    return {"rows": rows, "argmax_agree": sum(r["argmax"] == r["report_argmax"] for r in rows), "tau": float(tau)}
