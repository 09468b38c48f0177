"""The mutation check: small, plausible wrong versions of the code, each of which some test must fail on.

    python tests/mutations.py            # every mutation (make mutate); exit 1 if any survives
    python tests/mutations.py gumbel     # those whose name contains "gumbel"

Each mutation edits one exact passage of one file in a copy of ``vggdarts/`` and ``tests/`` (the records,
notebooks and docs are linked, read-only), then runs the tests meant to catch it there.  The working tree is
never touched.  A mutation *survives* when those tests pass on it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # relative to the repository root
    old: str  # must occur exactly once
    new: str
    tests: tuple[str, ...]  # pytest node ids or files


WIRING = "tests/test_wiring.py"
MUTATIONS = (
    Mutation("retrain builds the model without its mask", "vggdarts/retrain.py",
             "model = SuperNet(config.width, len(data.classes), mask=torch.from_numpy(mask), net=config.net)",
             "model = SuperNet(config.width, len(data.classes), mask=torch.zeros(8, 6, dtype=torch.bool), net=config.net)",
             (WIRING,)),
    Mutation("retrain reports every other evaluation 7 points low", "vggdarts/retrain.py",
             "        val_loss, val_acc = evaluate(model, val) if len(val_idx) else (NAN, NAN)\n",
             "        val_loss, val_acc = evaluate(model, val) if len(val_idx) else (NAN, NAN)\n"
             "        val_acc -= 7.0 * (epoch % 2)\n", (WIRING,)),
    Mutation("retrain's summary swaps val and test", "vggdarts/retrain.py",
             '"test_acc": final["test_acc"], "test_loss": final["test_loss"], "final_val_acc": final["val_acc"],',
             '"test_acc": final["val_acc"], "test_loss": final["test_loss"], "final_val_acc": final["test_acc"],',
             (WIRING,)),
    Mutation("a ground-truth row swaps val and test", "vggdarts/groundtruth.py",
             '"val_acc": s["final_val_acc"], "test_acc": s["test_acc"]',
             '"val_acc": s["test_acc"], "test_acc": s["final_val_acc"]', (WIRING,)),
    Mutation("retrain resumes without the scheduler's state", "vggdarts/retrain.py",
             "loop.restore(ckpt, model=model, opt=opt, sched=sched)", "loop.restore(ckpt, model=model, opt=opt)",
             (WIRING,)),
    Mutation("the one-shot score reads the weights half", "vggdarts/scores.py",
             "config, data, model, _, a_idx = load_search_run(search_run, device)",
             "config, data, model, a_idx, _ = load_search_run(search_run, device)", (WIRING,)),
    Mutation("the Gumbel sample divides only the noise by tau", "vggdarts/relaxations.py",
             "soft = masked_softmax((alpha + noise) / tau, allowed)",
             "soft = masked_softmax(alpha + noise / tau, allowed)", (WIRING,)),
    Mutation("derivation ignores the none column", "vggdarts/derive.py",
             "extra = 1 if np.shape(table)[1] > cand.shape[1] else 0", "extra = 0", (WIRING,)),
    Mutation("the paired bootstrap's confidence is fixed at 0.5", "vggdarts/stats.py",
             "ci = _bootstrap_indices(diff, len(a), confidence, n_resamples, seed)",
             "ci = _bootstrap_indices(diff, len(a), 0.5, n_resamples, seed)", ("tests/test_stats.py",)),
    Mutation("the paired bootstrap swaps its two scores", "vggdarts/stats.py",
             "a, b, truth = (np.asarray(v, dtype=float) for v in (a, b, truth))\n    pairs = _PairSigns(a, b, truth)",
             "b, a, truth = (np.asarray(v, dtype=float) for v in (a, b, truth))\n    pairs = _PairSigns(a, b, truth)",
             ("tests/test_stats.py",)),
    Mutation("alpha is scored on raw alpha, not the relaxation's weights", "vggdarts/scores.py",
             "logw[rows] = log_softmax(logits[rows], axis=1)", "logw[rows] = logits[rows]", ("tests/test_scores.py",)),
    Mutation("alpha scores a multi-edge block by its edges' log sum (the old rule)", "vggdarts/scores.py",
             "score += float(logsumexp(lw[\"keep\"][i][mask[i]]))", "score += float(lw[\"keep\"][i][mask[i]].sum())",
             ("tests/test_scores.py",)),
    Mutation("NN-Mass weights the stages by their blocks, not their channels", "vggdarts/scores.py",
             "return float(sum(c * d for c, d in stage_densities(mask, width)))",
             "return float(sum(d for c, d in stage_densities(mask, width)))", ("tests/test_scores.py",)),
    Mutation("compile keeps the cache of the process's earlier networks", "vggdarts/accel.py",
             "        torch._dynamo.reset()\n        model.compile(", "        model.compile(",
             ("tests/test_gpu_path.py::test_every_network_a_process_builds_is_compiled",)),
    Mutation("an epoch's seconds leave out its checkpoint", "vggdarts/training.py",
             'self.history[-1]["seconds"] += checkpoint_seconds', "pass",
             ("tests/test_gpu_path.py::test_an_epochs_seconds_include_its_checkpoint",)),
    Mutation("TF32 stays whatever it was", "vggdarts/accel.py",
             "    torch.backends.cuda.matmul.allow_tf32 = tf32\n    torch.backends.cudnn.allow_tf32 = tf32\n", "",
             ("tests/test_gpu_path.py::test_tf32_is_a_recorded_choice_applied_both_ways",)),
    Mutation("the partial tau forgets the control's correlation with the truth", "vggdarts/stats.py",
             "return float((txy - txz * tyz) / np.sqrt((1 - txz ** 2) * (1 - tyz ** 2)))",
             "return float((txy - txz) / np.sqrt((1 - txz ** 2) * (1 - tyz ** 2)))", ("tests/test_stats.py",)),
    Mutation("the search runs first order whatever config.order says", "vggdarts/search.py",
             'if config.order == "first":', "if True:",
             ("tests/test_search_run.py::test_second_order_search_takes_a_different_alpha_path_than_first_order",)),
    Mutation("the supernet builds VGG11 whatever net says", "vggdarts/supernet.py",
             "self.layout = layout.of(mask) if mask is not None and net is None else layout.get(net)",
             "self.layout = layout.get(None)", ("tests/test_networks.py",)),
    Mutation("notebook 02's table cell prints the weights where it says raw alpha", "vggdarts/figures.py",
             "{columns})\\n{np.array2string(raw, **fixed)}", "{columns})\\n{np.array2string(table, **fixed)}",
             ("tests/test_lab.py",)),
    Mutation("checkpoint_every is ignored: a checkpoint after every epoch", "vggdarts/config.py",
             "return epoch % self.checkpoint_every == 0 or", "return True or",
             ("tests/test_run_integrity.py::test_checkpoint_every_n_epochs_saves_those_and_the_last_and_a_kill_resumes_as_if_uninterrupted",)),
    Mutation("checkpoint_every skips the last epoch's checkpoint", "vggdarts/config.py",
             "or epoch == self.epochs or", "or",
             ("tests/test_run_integrity.py::test_checkpoint_every_n_epochs_saves_those_and_the_last_and_a_kill_resumes_as_if_uninterrupted",)),
    Mutation("a sweep's plan writes the mask files", "vggdarts/groundtruth.py",
             "overrides, only, save_masks=False)", "overrides, only, save_masks=True)",
             ("tests/test_groundtruth.py::test_a_plan_lists_what_the_record_lacks_and_where_a_stopped_run_resumes_and_writes_nothing",)),
    Mutation("the spread without noise counts every mean as two seeds", "vggdarts/ladder.py",
             "seed_noise(truth[\"seeds\"])[0], seed_counts(truth))", "seed_noise(truth[\"seeds\"])[0], len(truth[\"seeds\"]))",
             ("tests/test_ladder.py",)),
    Mutation("--only is dropped beside --ladder", "vggdarts/cli.py",
             "if asked is None or chosen is None:", "if True:",
             ("tests/test_groundtruth.py::test_a_ladder_plan_on_a_record_without_its_subset_chooses_it_in_memory_only",)),
    Mutation("a ladder plan writes the subset it chose", "vggdarts/cli.py",
             "create=True, write=not args.plan)", "create=True, write=True)",
             ("tests/test_groundtruth.py::test_a_ladder_plan_on_a_record_without_its_subset_chooses_it_in_memory_only",)),
    Mutation("the VGG11 ground truth admits a deeper network's picks", "vggdarts/groundtruth.py",
             "if layout.of(mask).name != layout.DEFAULT:", "if False:",
             ("tests/test_groundtruth.py::test_the_vgg11_set_leaves_out_a_deeper_networks_picks_and_argmax",)),
    Mutation("a one-seed rung's verdicts rest on the narrowest borrowed noise", "vggdarts/ladder_verdicts.py",
             'NOISE_FROM = {"R2": ("R0", "R1")}', 'NOISE_FROM = {"R2": ("R1", "R0")}',
             ("tests/test_ladder.py::test_each_finding_is_read_yes_no_or_open_by_the_seed_noise_and_the_tests",)),
    Mutation("another beating `all` is not corrected for picking the best of m", "vggdarts/ladder_verdicts.py",
             "noise.bar(spread[b], len(others)) for b in others)", "noise.bar(spread[b]) for b in others)",
             ("tests/test_ladder.py::test_each_finding_is_read_yes_no_or_open_by_the_seed_noise_and_the_tests",)),
    Mutation("a single architecture against the median is read as against one other mean", "vggdarts/ladder_verdicts.py",
             "math.pi / (2 * len(others))", "1.0",
             ("tests/test_ladder.py::test_each_finding_is_read_yes_no_or_open_by_the_seed_noise_and_the_tests",)),
    Mutation("the reading groups the findings by what the borrowed aside says at the top rung", "vggdarts/ladder_verdicts.py",
             "groups[c[top].verdict].append(", "groups[(c[top].asides or [(0, c[top].verdict)])[-1][1]].append(",
             ("tests/test_ladder.py::test_the_reading_groups_each_finding_by_its_verdict_at_the_highest_rung_and_says_when_it_is_interim",)),
    Mutation("the reading calls a partly trained top rung complete", "vggdarts/ladder_verdicts.py",
             'if len(rep["truths"][k]["mean"]) < n]\n    groups', 'if False]\n    groups',
             ("tests/test_ladder.py::test_the_reading_groups_each_finding_by_its_verdict_at_the_highest_rung_and_says_when_it_is_interim",)),
    Mutation("the spread answer says yes when one rung says it", "vggdarts/ladder_verdicts.py",
             'if got[YES] and not got[NO] and not got[OPEN]:\n        verdict = (f"Yes', 'if got[YES]:\n        verdict = (f"Yes',
             ("tests/test_ladder.py::test_the_two_questions_are_answered_from_the_verdicts_with_the_numbers_worked_out_by_hand",)),
    Mutation("the spread answer keeps the seed noise's share", "vggdarts/ladder.py",
             "between_sd(truth[\"mean\"], seed_noise(truth[\"seeds\"])[0], seed_counts(truth))", "between_sd(truth[\"mean\"], 0.0, seed_counts(truth))",
             ("tests/test_ladder.py::test_the_two_questions_are_answered_from_the_verdicts_with_the_numbers_worked_out_by_hand",)),
    Mutation("a record exported without its checkpoint is retrained over", "vggdarts/rundir.py",
             'done = summary.get("epochs_done", 0)', 'return None',
             ("tests/test_run_integrity.py::test_a_record_exported_without_its_checkpoint_is_finished_not_retrained",)),
    Mutation("an architecture diagram ignores the search it was derived from", "vggdarts/figures.py",
             "for p in [*places, search_run] if", "for p in places if",
             ("tests/test_plots.py::test_an_architecture_figure_names_its_search_when_the_search_was_exported_under_another_name",)),
    Mutation("a pick against a baseline pairs diverged runs too", "vggdarts/compare.py",
             'return {r["seed"]: r for r in rows if r["method"] == method and r["status"] == "ok"}',
             'return {r["seed"]: r for r in rows if r["method"] == method}',
             ("tests/test_retrain.py::test_every_pick_against_every_baseline_by_hand",)),
    Mutation("a pick is told from a baseline by its estimate alone", "vggdarts/compare.py",
             'told = len(seeds) > 1 and d.excludes_zero', 'told = len(seeds) > 1 and abs(d.estimate) > 0',
             ("tests/test_retrain.py::test_every_pick_against_every_baseline_by_hand",)),
    Mutation("the deeper reading counts block 3's forced x_1 as a nearest pick", "vggdarts/depth.py",
             '"shortest": sum(kept.get(i + 1) == i - 1 for i in choice)', '"shortest": sum(i - j == 2 for i, j in kept.items())',
             ("tests/test_depth.py::test_pick_summary_by_hand",)),
    Mutation("the deeper reading's decidedness counts block 3's forced pick", "vggdarts/depth.py",
             "choice = [i for i in lay.searched_blocks if counts[i] > 1]", "choice = list(lay.searched_blocks)",
             ("tests/test_depth.py::test_pick_summary_by_hand",)),
)


def workspace() -> Path:
    """A copy of the package and the tests; the rest of the repository linked."""
    tmp = Path(tempfile.mkdtemp(prefix="vggdarts-mutate-"))
    for name in ("vggdarts", "tests"):
        shutil.copytree(ROOT / name, tmp / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("results", "notebooks", "docs", "figures", "data", "benchmarks", "pyproject.toml"):
        if (ROOT / name).exists():
            os.symlink(ROOT / name, tmp / name)
    return tmp


def run(mutation: Mutation) -> tuple[bool, float, str]:
    """(caught, seconds, the last lines of pytest's output)."""
    tmp = workspace()
    try:
        target = tmp / mutation.path
        text = target.read_text()
        if text.count(mutation.old) != 1:
            raise SystemExit(f"{mutation.name}: the passage to mutate occurs {text.count(mutation.old)} times in "
                             f"{mutation.path} (the code moved: update tests/mutations.py)")
        target.write_text(text.replace(mutation.old, mutation.new))
        env = {**os.environ, "PYTHONPATH": str(tmp), "PYTHONDONTWRITEBYTECODE": "1"}
        started = time.time()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutation.tests],
                              cwd=tmp, env=env, capture_output=True, text=True)
        out = (proc.stdout + proc.stderr).strip().splitlines()
        failed = [line.split(" - ")[0][len("FAILED "):] for line in out if line.startswith(("FAILED ", "ERROR "))]
        tail = ("by " + failed[0]) if failed else "\n".join(out[-3:])
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{mutation.name}: pytest could not run (exit {proc.returncode}):\n{tail}")
        return proc.returncode == 1, time.time() - started, tail
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not argv or any(a in m.name for a in argv)]
    survived = []
    for m in chosen:
        caught, seconds, tail = run(m)
        print(f"{'caught  ' if caught else 'SURVIVED'} {seconds:5.0f} s  {m.name} ({m.path})\n    {tail}", flush=True)
        if not caught:
            survived.append(m.name)
    print(f"{len(chosen) - len(survived)} of {len(chosen)} mutations caught")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
