"""The presets mean what their records were made with, and `paper` carries DARTS's defaults for what the
report leaves unstated."""
import json
from pathlib import Path

import pytest

from vggdarts.config import DARTS_UNSTATED, config_from_dict, make_config

RESULTS = Path(__file__).resolve().parents[1] / "results"


@pytest.mark.parametrize("record", ["search-cpu-seed0", "search-cpu-seed1", "search-cpu-sigmoid"])
def test_the_cpu_preset_still_reproduces_the_decision_fields_of_its_records(record):
    saved = json.loads((RESULTS / record / "config.json").read_text())
    over = {k: saved[k] for k in ("seed", "dataset", "relaxation", "zero_one_weight") if k in saved}  # what --set gave
    now = make_config("search", "cpu", over).decision_fields()
    recorded = {k: v for k, v in config_from_dict("search", saved).decision_fields().items() if k in saved}
    assert len(recorded) > 20 and {k: now[k] for k in recorded} == recorded  # fields newer than the record: defaults


def test_the_paper_preset_is_the_report_plus_darts_defaults_for_the_unstated():
    paper = make_config("search", "paper")
    assert (paper.width, paper.epochs, paper.batch_size, paper.lr, paper.momentum) == (1.0, 100, 64, 0.01, 0.9)
    assert (paper.alpha_lr, paper.alpha_beta1, paper.alpha_beta2) == (0.005, 0.5, 0.999)
    assert {k: getattr(paper, k) for k in DARTS_UNSTATED} == DARTS_UNSTATED
    assert DARTS_UNSTATED == {"alpha_weight_decay": 1e-3, "weight_decay": 3e-4, "grad_clip": 5.0,
                              "lr_schedule": "cosine", "lr_min": 0.001}
