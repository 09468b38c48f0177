import tarfile
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from vggdarts.data import (CIFAR10_CLASSES, Batches, DataError, load_dataset, random_crop_flip, split_in_two,
                           stratified_subset, synthetic_dataset)


def test_crop_flip_matches_per_image_reference():
    torch.manual_seed(0)
    x = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    dy, dx = torch.tensor([0, 8, 4, 1, 7]), torch.tensor([3, 0, 4, 8, 2])
    flip = torch.tensor([True, False, True, False, True])
    out = random_crop_flip(x, dy, dx, flip)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for b in range(5):
        ref = padded[b, :, dy[b]:dy[b] + 32, dx[b]:dx[b] + 32]
        if flip[b]:
            ref = ref.flip(-1)
        assert torch.equal(out[b], ref)


def test_stratified_subset_is_balanced_deterministic_and_seeded():
    labels = torch.arange(1000) % 10
    a = stratified_subset(labels, 200, seed=3)
    assert torch.equal(a, stratified_subset(labels, 200, seed=3))
    assert not torch.equal(a, stratified_subset(labels, 200, seed=4))
    assert len(set(a.tolist())) == 200
    assert torch.bincount(labels[a]).tolist() == [20] * 10


def test_split_in_two_is_disjoint_and_complete():
    labels = torch.arange(500) % 10
    w, a = split_in_two(labels, seed=0)
    assert len(w) == len(a) == 250
    assert set(w.tolist()).isdisjoint(a.tolist())
    assert sorted(w.tolist() + a.tolist()) == list(range(500))
    assert torch.bincount(labels[w]).tolist() == [25] * 10


def test_batches_are_reproducible_per_epoch_and_normalised():
    data = synthetic_dataset(n_train=200, n_test=10)
    mean, std = data.mean_std
    make = lambda: Batches(data.train_x, data.train_y, 32, mean=mean, std=std, augment=True, shuffle=True, seed=5)
    e1 = [x for x, _ in make().epoch(1)]
    assert all(torch.equal(a, b) for a, b in zip(e1, [x for x, _ in make().epoch(1)]))
    assert not torch.equal(e1[0], next(make().epoch(2))[0])
    assert len(e1) == 7 and e1[0].is_contiguous(memory_format=torch.channels_last)
    # cycling beyond one pass (the alpha half when it is smaller than the weights half)
    assert len(list(make().epoch(0, batches=15))) == 15
    everything = torch.cat([x for x, _ in Batches(data.train_x, data.train_y, 200, mean=mean, std=std).epoch(0)])
    assert abs(everything.mean().item()) < 0.05 and abs(everything.std().item() - 1) < 0.05


def _write_image_folder(root, n_per_class=3, classes=("cat", "dog")):
    for split in ("train", "test"):
        for k, c in enumerate(classes):
            (root / split / c).mkdir(parents=True)
            for n in range(n_per_class):
                Image.fromarray(np.full((32, 32, 3), 25 * k + n, dtype=np.uint8)).save(root / split / c / f"{n}.png")


def test_image_folder_directory_and_archive_load_and_cache(tmp_path):
    folder = tmp_path / "tiny"
    _write_image_folder(folder)
    d = load_dataset(str(folder), tmp_path / "root")
    assert d.train_x.shape == (6, 3, 32, 32) and d.classes == ("cat", "dog")
    assert d.train_y.tolist() == [0, 0, 0, 1, 1, 1] and int(d.train_x[4, 0, 0, 0]) == 26
    assert list((tmp_path / "root" / "cache").glob("*.npz"))
    archive = tmp_path / "tiny.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder / "train", arcname="train")
        tar.add(folder / "test", arcname="test")
    d2 = load_dataset(str(archive), tmp_path / "root")
    assert torch.equal(d2.train_x, d.train_x) and torch.equal(d2.test_y, d.test_y)


def test_corrupt_image_folder_gives_one_clear_error(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not an archive")
    with pytest.raises(DataError, match="could not read images"):
        load_dataset(str(bad), tmp_path / "root")
    with pytest.raises(DataError, match="neither a known name nor an existing path"):
        load_dataset("no/such/place", tmp_path / "root")


def test_auto_finds_cifar_under_data_root(tmp_path):
    root = tmp_path / "root"
    folder = root / "cifar10-small"
    _write_image_folder(folder, classes=CIFAR10_CLASSES, n_per_class=1)
    d = load_dataset("auto", root)
    assert d.name == "CIFAR-10 (JPEG copy)" and len(d.train_y) == 10 and not d.is_stand_in


def test_auto_looks_under_data_root_before_it_downloads(tmp_path, monkeypatch):
    import vggdarts.data as data

    calls = []
    monkeypatch.setattr(data, "_torchvision_cifar10", lambda root, download: calls.append(download) or "downloaded")
    root = tmp_path / "root"
    _write_image_folder(root / "cifar10-small", classes=CIFAR10_CLASSES, n_per_class=1)
    assert load_dataset("auto", root).name == "CIFAR-10 (JPEG copy)" and calls == []  # the local copy first
    (root / "cifar-10-batches-py").mkdir()
    assert load_dataset("auto", root) == "downloaded" and calls == [False]  # torchvision's files: no download
    assert load_dataset("auto", tmp_path / "empty") == "downloaded" and calls == [False, True]  # then download


def test_auto_offline_fails_in_seconds_with_every_way_to_provide_the_data(tmp_path, monkeypatch):
    """No network: every connection is refused at once (as on a machine without internet), so torchvision's
    download fails; auto must say what to do, not fall back to a stand-in or hang."""
    import socket
    import time

    def refused(*args, **kwargs):
        raise OSError("network unreachable (simulated)")

    monkeypatch.setattr(socket, "create_connection", refused)
    monkeypatch.setattr(socket.socket, "connect", refused)
    started = time.time()
    with pytest.raises(DataError) as err:
        load_dataset("auto", tmp_path / "empty")
    assert time.time() - started < 30
    text = str(err.value)
    assert "download failed" in text and "network unreachable" in text
    assert "internet" in text and "cifar-10-batches-py" in text and "dataset=PATH" in text and "dataset=digits" in text
    assert not (tmp_path / "empty" / "cifar-10-batches-py").exists()


def test_digits_run_only_when_asked_for_by_name(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = load_dataset("digits", tmp_path)
    assert d.is_stand_in and "digits" in d.name and "NOT CIFAR-10" in d.name
    assert d.train_x.shape[1:] == (3, 32, 32) and len(d.train_y) + len(d.test_y) == 1797
    assert any("stand-in" in str(w.message) for w in caught)


def test_cifar10_never_falls_back(tmp_path, monkeypatch):
    import vggdarts.data as data

    monkeypatch.setattr(data, "_torchvision_cifar10",
                        lambda root, download: (_ for _ in ()).throw(DataError("missing")))
    with pytest.raises(DataError):
        load_dataset("cifar10", tmp_path)


def test_real_cifar10_jpeg_copy(cifar_archive, data_cache):
    d = load_dataset(str(cifar_archive), data_cache)
    assert d.name == "CIFAR-10 (JPEG copy)" and d.classes == CIFAR10_CLASSES
    assert d.train_x.shape == (50000, 3, 32, 32) and d.test_x.shape == (10000, 3, 32, 32)
    assert d.train_x.dtype == torch.uint8
    assert torch.bincount(d.train_y).tolist() == [5000] * 10 and torch.bincount(d.test_y).tolist() == [1000] * 10
    mean, std = d.mean_std  # the data README's measured statistics
    assert np.allclose(mean, (0.4917, 0.4826, 0.4472), atol=0.002)
    assert np.allclose(std, (0.2452, 0.2427, 0.2606), atol=0.002)
