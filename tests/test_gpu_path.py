"""The CUDA path's defects that show on a CPU: compile across the networks of one process, TF32 as a recorded
choice, and epoch seconds that include the checkpoint (the device check's failing mode: test_device_check)."""
import json
import time

import numpy as np
import torch

from vggdarts import accel, groundtruth as gt
from vggdarts.config import make_config
from vggdarts.retrain import retrain
from vggdarts.rundir import RunDir, read_metrics
from vggdarts.supernet import SuperNet


def test_every_network_a_process_builds_is_compiled(monkeypatch):
    """An inline sweep builds one network per job in one process: each must be compiled, not only the first
    few (nn.Module.compile's cache sits on the forward's code object, shared by every instance)."""
    compiled = []
    job = [0]

    def counting_backend(gm, example_inputs):
        compiled.append(job[0])
        return gm.forward

    monkeypatch.setattr(accel, "COMPILE_BACKEND", counting_backend)
    config = make_config("retrain", "smoke", {"arch": "x", "compile": True})
    torch._dynamo.reset()
    try:
        for k in range(5):
            job[0] = k
            model = SuperNet(0.0625, mask=torch.from_numpy(gt.figure3_mask(150 * k)))
            accel.prepare(model, config, torch.device("cpu"))
            for n, training in ((8, True), (5, True), (8, False)):  # a batch, an epoch's last one, evaluation
                model.train(training)
                with torch.set_grad_enabled(training):
                    model(torch.randn(n, 3, 32, 32))
    finally:
        torch._dynamo.reset()
    assert sorted(set(compiled)) == [0, 1, 2, 3, 4]


def test_tf32_is_a_recorded_choice_applied_both_ways(tmp_path):
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        accel.configure(make_config("search", "smoke", {"tf32": True}), torch.device("cpu"))
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        accel.configure(make_config("search", "smoke"), torch.device("cpu"))  # the default: off, whatever was before
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    from vggdarts import derive

    arch = derive.save_mask(tmp_path / "a.json", derive.resnet(), "resnet")
    retrain(make_config("retrain", "smoke", {"dataset": "synthetic", "progress": False, "arch": str(arch),
                                             "epochs": 1, "tf32": True}), tmp_path / "r")
    assert json.loads((tmp_path / "r" / "config.json").read_text())["tf32"] is True


def test_an_epochs_seconds_include_its_checkpoint(tmp_path, monkeypatch):
    from vggdarts import derive

    save = RunDir.save_checkpoint

    def slow_save(self, state):
        time.sleep(0.6)  # a width-1 checkpoint copied off a GPU and synced to disk
        return save(self, state)

    monkeypatch.setattr(RunDir, "save_checkpoint", slow_save)
    arch = derive.save_mask(tmp_path / "a.json", derive.none(), "none")
    summary = retrain(make_config("retrain", "smoke", {"dataset": "synthetic", "progress": False, "arch": str(arch),
                                                       "epochs": 2}), tmp_path / "r")
    seconds = [r["seconds"] for r in read_metrics(tmp_path / "r")]
    assert all(s >= 0.6 for s in seconds) and summary["mean_epoch_seconds"] >= 0.6
    assert summary["wall_seconds"] >= 1.2 and np.isclose(summary["wall_seconds"], sum(seconds))
