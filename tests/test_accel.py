"""The GPU path's pieces that the CPU can check: no host read per step, bf16 autocast, torch.compile,
deterministic algorithms, the options' validation, and the up-front draws of augmentation and Gumbel noise.
The CUDA-only checks (CPU vs CUDA gradients, CUDA graphs, resume on CUDA) are in test_cuda.py."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import run_cli, smoke_search_args
from hostreads import HostReads
from vggdarts import accel
from vggdarts.config import ConfigError, make_config
from vggdarts.data import synthetic_dataset
from vggdarts.relaxations import Relaxation, Sampler
from vggdarts.retrain import retrain
from vggdarts.search import search, search_iteration
from vggdarts.supernet import SuperNet
from vggdarts.training import Meter


def _search_config(**over):
    return make_config("search", "smoke", {"dataset": "synthetic", "progress": False, "test_subset": 64,
                                           "threads": 1, **over})


@pytest.mark.parametrize("job", ["search", "retrain"])
def test_the_training_loop_reads_the_device_a_fixed_number_of_times_per_epoch_whatever_its_steps(tmp_path, job):
    """Doubling the steps per epoch adds no read of a tensor's value to the host (a GPU sync) and no transfer
    between devices: the loss and accuracy are summed on the device and read once per epoch, the shuffling
    and augmentation are drawn up front and moved in one copy per epoch."""
    counts = {}
    for n in (256, 512):  # 2 and 4 weight steps per epoch (search), 8 and 16 (retrain)
        if job == "search":
            config = _search_config(train_subset=n, epochs=2, relaxation="gumbel")  # noise: one copy per epoch too
            run = lambda: search(config, tmp_path / f"s{n}")  # noqa: E731
        else:
            from vggdarts.derive import resnet, save_mask

            save_mask(tmp_path / "resnet.json", resnet(), "resnet")
            config = make_config("retrain", "smoke", {"dataset": "synthetic", "progress": False, "threads": 1,
                                                      "train_subset": n + 64, "val_size": 64, "test_subset": 64,
                                                      "batch_size": 32, "arch": str(tmp_path / "resnet.json")})
            run = lambda: retrain(config, tmp_path / f"r{n}")  # noqa: E731
        with HostReads() as reads:
            run()
        counts[n] = reads
    a, b = counts[256].where, counts[512].where
    assert a == b, {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
    per_epoch = counts[256].total / 2
    assert per_epoch < 40, counts[256].where  # a handful per epoch: metrics, alpha snapshot, checkpoint


def _search_step_setup(precision: str, seed: int = 0):
    torch.manual_seed(seed)
    data = synthetic_dataset(n_train=512, n_test=8)
    model = SuperNet(0.25)
    config = _search_config(precision=precision)
    accel.prepare(model, config, torch.device("cpu"))
    w_opt = torch.optim.SGD(model.weight_parameters(), lr=0.05, momentum=0.9)
    a_opt = torch.optim.Adam(model.arch_parameters(), lr=0.005, betas=(0.5, 0.999))
    x = (data.train_x.float() - 128) / 64
    return model, config, w_opt, a_opt, x, data.train_y


BF16_UNIT_ROUNDOFF = 2.0 ** -8  # bf16 keeps 8 significant bits: each rounding is off by at most 2^-8, relatively


def test_bf16_runs_the_layers_in_bf16_tracks_fp32_and_keeps_alpha_loss_and_optimiser_state_fp32():
    """At the same weights, bf16's logits differ from fp32's by no more than first-order rounding allows; then
    both precisions learn.  Per-step losses are not compared after training starts: two runs that differ by one
    rounding drift apart step by step (how far depends on the CPU's kernels, not on the precision's claim)."""
    nets = {p: _search_step_setup(p) for p in ("fp32", "bf16")}  # the same seed: the same initial weights
    x, y = nets["fp32"][4], nets["fp32"][5]
    logits = {p: net[0](x[:64]).detach().double() for p, net in nets.items()}
    # Rounding stages: each of the 9 layers (8 conv, 1 linear) rounds its input and its weight, and each of the
    # 6 shortcut sums (blocks 3..8) rounds its output.  To first order the relative errors add up.
    stages = 2 * 9 + 6
    rel = ((logits["bf16"] - logits["fp32"]).norm() / logits["fp32"].norm()).item()
    assert 0 < rel < stages * BF16_UNIT_ROUNDOFF, rel  # > 0: bf16 really ran
    for precision, (model, config, w_opt, a_opt, x, y) in nets.items():
        seen = []
        model.blocks[4][0].register_forward_hook(lambda m, i, out: seen.append(out.dtype))
        meter, sampler = Meter(), Sampler(model.relaxation, 0, 0, 1)
        curve = []
        for step in range(24):
            k = (step * 64) % 448
            search_iteration(model, w_opt, a_opt, config, sampler, x[k:k + 64], y[k:k + 64],
                             x[k + 64:k + 128], y[k + 64:k + 128], meter.reset())
            curve.append(meter.read()[0])
        assert set(seen) == {torch.bfloat16 if precision == "bf16" else torch.float32}
        assert model(x[:8]).dtype == torch.float32  # logits, hence the loss, in fp32
        assert model.alpha.dtype == model.alpha.grad.dtype == torch.float32
        assert model.edge_weights().dtype == torch.float32
        states = [s for opt in (w_opt, a_opt) for st in opt.state.values() for s in st.values() if s.dim() > 0]
        assert states and all(s.dtype == torch.float32 for s in states)
        assert np.mean(curve[-8:]) < 0.8 * np.mean(curve[:4]), (precision, curve)  # it learns


def test_compile_traces_the_network_and_matches_eager(tmp_path, monkeypatch):
    """torch.compile with AOTAutograd's eager backend (same tracing as inductor, no C++ build: seconds, not
    minutes on this CPU; the CUDA tests and the benchmark use inductor)."""
    monkeypatch.setattr(accel, "COMPILE_BACKEND", "aot_eager")
    torch._dynamo.reset()
    eager = search(_search_config(epochs=1), tmp_path / "eager")
    compiled = search(_search_config(epochs=1, compile=True), tmp_path / "compiled")
    za, zb = np.load(tmp_path / "eager" / "alpha.npz"), np.load(tmp_path / "compiled" / "alpha.npz")
    assert np.allclose(za["raw"], zb["raw"], atol=1e-5) and za["raw"][-1].any()
    assert compiled["final_test_acc"] == pytest.approx(eager["final_test_acc"], abs=1.0)
    counters = torch._dynamo.utils.counters["stats"]
    assert counters["unique_graphs"] >= 1  # dynamo traced it
    torch._dynamo.reset()


def test_deterministic_switches_torch_into_deterministic_algorithms_and_back(tmp_path):
    a = search(_search_config(epochs=1, deterministic=True), tmp_path / "det")
    assert torch.are_deterministic_algorithms_enabled()
    b = search(_search_config(epochs=1), tmp_path / "default")
    assert not torch.are_deterministic_algorithms_enabled()
    assert a["final_test_acc"] == b["final_test_acc"]  # the CPU's algorithms were deterministic already
    assert np.array_equal(np.load(tmp_path / "det" / "alpha.npz")["raw"], np.load(tmp_path / "default" / "alpha.npz")["raw"])


@pytest.mark.parametrize("over, message", [
    (dict(precision="fp16"), "precision must be 'fp32' or 'bf16'"),
    (dict(compile=True, order="second"), "compile=true needs order=first"),
    (dict(cuda_graphs=True, order="second"), "cuda_graphs=true needs order=first"),
    (dict(cuda_graphs=True, relaxation="gumbel"), "does not support relaxation=gumbel"),
    (dict(cuda_graphs=True, compile=True), "choose one of compile=true and cuda_graphs=true"),
    (dict(precision="bf16", order="second", hvp="fd"), "precision=bf16 with hvp=fd gives noise"),
])
def test_option_combinations_that_cannot_work_are_refused(over, message):
    with pytest.raises(ConfigError, match=message):
        _search_config(**over)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given where there is no GPU")
def test_cuda_graphs_without_a_gpu_is_one_clear_error(tmp_path):
    result = run_cli(*smoke_search_args(tmp_path / "r", "--set", "cuda_graphs=true", "--set", "device=cpu"))
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "cuda_graphs=true needs a CUDA device" in result.stderr
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_speed_options_are_recorded_and_do_not_block_a_resume(tmp_path):
    """compile/deterministic/cuda_graphs change speed, not maths: a run may resume under other values;
    precision changes the maths, so it must match."""
    import json

    search(_search_config(epochs=1), tmp_path / "r")
    recorded = json.loads((tmp_path / "r" / "config.json").read_text())
    assert {k: recorded[k] for k in ("precision", "compile", "deterministic", "cuda_graphs")} == \
        {"precision": "fp32", "compile": False, "deterministic": False, "cuda_graphs": False}
    same = ["--set", "test_subset=64", "--set", "threads=1", "--set", "epochs=1"]
    result = run_cli(*smoke_search_args(tmp_path / "r", *same, "--set", "deterministic=true"))
    assert result.returncode == 0, result.stderr
    result = run_cli(*smoke_search_args(tmp_path / "r", *same, "--set", "precision=bf16"))
    assert result.returncode == 2 and "precision" in result.stderr


def test_up_front_draws_equal_the_per_step_stream():
    relaxation = Relaxation("gumbel")
    ahead = Sampler(relaxation, seed=5, epoch=3, epochs=10, draws=4)
    stream = relaxation.noise_stream(5, 3)

    class Model:
        def sampled(self, noise, tau):
            return noise

    for _ in range(6):  # 4 drawn ahead, then 2 more from the same stream
        assert torch.equal(ahead.step(Model()), next(stream))


def test_meter_sums_on_the_device_and_stops_a_nan_epoch_when_read():
    meter = Meter()
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    y = torch.tensor([0, 0, 0])
    meter.add(F.cross_entropy(logits, y), logits, y)
    loss, acc = meter.read()
    assert loss == pytest.approx(F.cross_entropy(logits, y).item()) and acc == pytest.approx(200 / 3)
    meter.add(torch.tensor(float("nan")), logits, y)
    from vggdarts.training import NonFiniteLossError

    with pytest.raises(NonFiniteLossError, match="last good checkpoint was kept"):
        meter.read()
    assert meter.reset().read() == (0.0, 0.0)


def test_a_checkpoint_of_a_graphed_run_resumes_eagerly_on_the_cpu(tmp_path):
    """cuda_graphs is a runtime field: Adam's capturable flag and its step counts' device follow the session,
    not the checkpoint (which brings back capturable=True from a graphed run)."""
    from vggdarts.cudagraphs import match_capturable

    run_dir = tmp_path / "run"
    first = search(_search_config(epochs=2, keep_checkpoints="1"), run_dir)
    (run_dir / "summary.json").unlink()  # back to the state after epoch 1, as a graphed run would leave it
    ckpt = torch.load(run_dir / "checkpoint-epoch001.pt", weights_only=True)
    for group in ckpt["a_opt"]["param_groups"]:
        group["capturable"] = True  # what a graphed run writes
    torch.save(ckpt, run_dir / "checkpoint.pt")
    resumed = search(_search_config(epochs=2, keep_checkpoints="1"), run_dir)
    assert resumed["epochs_done"] == 2 and resumed["final_test_acc"] == first["final_test_acc"]
    model = SuperNet(0.125)
    opt = torch.optim.Adam(model.arch_parameters(), capturable=False)
    model.alpha.grad = torch.ones_like(model.alpha)
    opt.step()
    match_capturable(opt, True, torch.device("cpu"))  # the other direction, as far as the CPU can check it
    assert opt.param_groups[0]["capturable"] and opt.state[model.alpha]["step"].dtype == torch.float32
    match_capturable(opt, False, torch.device("cpu"))
    assert not opt.param_groups[0]["capturable"] and opt.state[model.alpha]["step"].device.type == "cpu"


def test_a_benchmark_timing_two_compiled_networks_in_turn_compiles_each_once(monkeypatch):
    """fresh_compile_cache=False (the step benchmark): building the bf16 network after the fp32 one keeps the
    fp32 one's compiled graph, so timing them in turn compiles each once; the default reset (a job's fresh
    start) would make the first compile again.  Counted with dynamo's cheap "eager" backend."""
    from torch._dynamo.utils import counters

    monkeypatch.setattr(accel, "COMPILE_BACKEND", "eager")
    x = torch.randn(4, 3, 32, 32)
    graphs = {}
    for fresh in (True, False):
        torch._dynamo.reset()
        counters.clear()
        fp32 = accel.prepare(SuperNet(0.125), _search_config(compile=True), torch.device("cpu"), fresh)
        fp32(x)
        bf16 = accel.prepare(SuperNet(0.125), _search_config(compile=True, precision="bf16"), torch.device("cpu"), fresh)
        for model in (bf16, fp32, bf16):
            model(x)
        graphs[fresh] = counters["stats"]["unique_graphs"]
    torch._dynamo.reset()
    assert 2 * graphs[True] == 3 * graphs[False] > 0  # fp32, bf16, fp32 again against fp32, bf16 (x its graphs)
