"""CIFAR-10 (or a stand-in) as in-memory uint8 tensors, and fast batched augmentation.

``load_dataset`` returns every image decoded once into a uint8 tensor
[N, 3, 32, 32]; ``Batches`` cuts minibatches from such a tensor with
random crop (pad 4) and horizontal flip done on the whole batch at once, then
normalises.  No PIL work and no worker processes in the training loop.

Sources (``dataset``):

* ``cifar10``   torchvision's CIFAR-10 files under ``data_root`` (downloaded when
  missing and possible); never falls back to anything else.
* a path       an ImageFolder directory or a ``.tar``/``.tar.gz`` archive of one,
  with ``train/<class>/*`` and ``test/<class>/*`` (e.g. the offline CIFAR-10
  JPEG copy); decoded once and cached under ``data_root/cache``.
* ``synthetic`` tiny random images with a class-dependent colour, for unit tests.
* ``digits``    scikit-learn's 1,797 handwritten digits (a stand-in that says nothing
  about CIFAR-10; only when asked for by name, with a loud warning).
* ``auto``      CIFAR-10 under ``data_root`` (torchvision files, an ImageFolder copy,
  or an archive of one), else the original CIFAR-10 downloaded there by torchvision
  (with its progress bar).  Offline, it fails within seconds with one message that
  lists the ways to provide the data; it never falls back to a stand-in.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import socket
import tarfile
import tempfile
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .files import file_lock

log = logging.getLogger(__name__)

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


class DataError(RuntimeError):
    """The requested data set is missing, unreadable or not in the expected layout."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


DOWNLOAD_TIMEOUT_S = 10  # per socket operation: offline, a download fails in seconds instead of hanging

@dataclass
class Dataset:
    """A whole image-classification data set held in memory."""

    name: str  # what was actually used, recorded in every artifact
    train_x: torch.Tensor  # uint8 [N, 3, 32, 32]
    train_y: torch.Tensor  # int64 [N]
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]
    is_stand_in: bool = False  # True for the digits fallback and synthetic data

    @cached_property
    def mean_std(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of the training images (for normalisation)."""
        x = self.train_x.float().div_(255)
        return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).tolist()


# ----------------------------------------------------------------------------- sources

def load_dataset(dataset: str = "auto", data_root: str | os.PathLike = "data") -> Dataset:
    """Load ``dataset`` (see the module docstring for the choices)."""
    root = Path(data_root)
    if dataset == "synthetic":
        return synthetic_dataset()
    if dataset == "digits":
        message = "dataset=digits: scikit-learn's handwritten digits, a stand-in; numbers from it say nothing about CIFAR-10"
        log.warning(message)
        warnings.warn(message, stacklevel=2)
        return digits_dataset()
    if dataset == "cifar10":
        return _torchvision_cifar10(root, download=True)
    if dataset == "auto":
        return _auto(root)
    path = Path(dataset).expanduser()
    if path.exists():
        return load_image_folder(path, cache_dir=root / "cache")
    raise DataError(
        f"dataset {dataset!r} is neither a known name nor an existing path. Choose one of: "
        "'auto' (CIFAR-10 under data_root, else downloaded there), 'cifar10' (torchvision files, "
        "downloaded if possible), 'digits' (a stand-in), 'synthetic' (tests), or the path of an ImageFolder directory or "
        ".tar/.tar.gz archive with train/ and test/ class folders, e.g. ../shared/data/cifar10-jpeg.tar.gz"
    )


def find_local_cifar10(root: Path) -> Path | None:
    """An ImageFolder copy or archive of CIFAR-10 under ``root`` (None if there is none)."""
    if not root.is_dir():
        return None
    for entry in sorted(root.iterdir()):
        if entry.name == "cache":
            continue
        looks_like_archive = entry.is_file() and entry.name.endswith(ARCHIVE_SUFFIXES)
        looks_like_folder = entry.is_dir() and (entry / "train").is_dir() and (entry / "test").is_dir()
        if (looks_like_archive or looks_like_folder) and "cifar" in entry.name.lower():
            return entry
    return None


def _auto(root: Path) -> Dataset:
    """CIFAR-10 under ``root`` (torchvision's files, then an ImageFolder copy or archive), else downloaded."""
    if (root / "cifar-10-batches-py").is_dir():
        return _torchvision_cifar10(root, download=False)
    local = find_local_cifar10(root)
    if local is not None:
        return load_image_folder(local, cache_dir=root / "cache")
    try:
        return _torchvision_cifar10(root, download=True)
    except DataError as err:
        raise DataError(
            f"no CIFAR-10 under {root}/ and the download failed ({err.reason}). Provide it one of these ways: "
            f"(1) run again with internet access: torchvision downloads CIFAR-10 (170 MB) into {root}/; "
            f"(2) put torchvision's files (cifar-10-batches-py/) under {root}/; "
            f"(3) put an ImageFolder copy or a .tar.gz of one (train/ and test/ class folders, 'cifar' in its name) "
            f"under {root}/, or pass its path as dataset=PATH (make links ../shared/data/cifar10-jpeg.tar.gz when "
            "it is beside the checkout). dataset=digits runs a stand-in that says nothing about CIFAR-10."
        ) from None


def _torchvision_cifar10(root: Path, download: bool) -> Dataset:
    from torchvision.datasets import CIFAR10

    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # a machine without internet should fail fast, not hang
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train = CIFAR10(str(root), train=True, download=download)
            test = CIFAR10(str(root), train=False, download=download)
    except Exception as err:  # noqa: BLE001 - torchvision raises many kinds
        reason = f"{type(err).__name__}: {str(err)[:200]}"
        raise DataError(
            f"CIFAR-10 is not under {root}/cifar-10-batches-py and could not be downloaded ({reason}). Use "
            "dataset=PATH for an ImageFolder copy or archive (e.g. ../shared/data/cifar10-jpeg.tar.gz), or "
            "dataset=auto, which also looks for one under data_root.", reason=reason
        ) from None
    finally:
        socket.setdefaulttimeout(previous_timeout)

    def tensors(split):
        return torch.from_numpy(split.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(split.targets)

    (trx, try_), (tex, tey) = tensors(train), tensors(test)
    return Dataset("CIFAR-10", trx, try_, tex, tey, CIFAR10_CLASSES)


def load_image_folder(path: Path, cache_dir: Path | None = None) -> Dataset:
    """Decode an ImageFolder directory or archive (train/ and test/ class folders) once, then cache it.

    The cache is keyed by content (:func:`_cache_file`) and locked while it is built, so parallel jobs
    decode once and never read a half-written cache."""
    path = Path(path)
    if cache_dir is None:
        return _decode_to_dataset(path)
    cache = _cache_file(path, cache_dir)
    with file_lock(cache.with_suffix(".lock"), what=f"data cache {cache.name}"):
        if cache.exists():
            try:
                with np.load(cache) as z:
                    arrays = {k: z[k] for k in z.files}
                classes = tuple(str(c) for c in arrays.pop("classes"))
                return _folder_dataset(path, arrays, classes)
            except Exception as err:  # noqa: BLE001 - a broken cache is rebuilt, not fatal
                log.warning("cache %s unreadable (%s); decoding again", cache, err)
        dataset, arrays, classes = _decode_to_dataset(path, keep_arrays=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=f".{cache.stem}.", suffix=".tmp.npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, classes=np.array(classes), **arrays)
            os.replace(tmp, cache)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return dataset


def _decode_to_dataset(path: Path, keep_arrays: bool = False):
    log.info("decoding %s (once; cached afterwards)", path)
    try:
        arrays, classes = _decode_folder(path)
    except (OSError, tarfile.TarError, ValueError) as err:
        raise DataError(
            f"could not read images from {path}: {err}. Expected an ImageFolder directory or .tar/.tar.gz "
            "archive with train/<class>/*.jpg|png and test/<class>/*.jpg|png (e.g. ../shared/data/cifar10-jpeg.tar.gz)."
        ) from None
    dataset = _folder_dataset(path, arrays, classes)
    return (dataset, arrays, classes) if keep_arrays else dataset


def _folder_dataset(path: Path, arrays: dict, classes: tuple[str, ...]) -> Dataset:
    name = "CIFAR-10 (JPEG copy)" if classes == CIFAR10_CLASSES else f"ImageFolder {path.name}"
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items() if k != "classes"}
    return Dataset(name, t["train_x"], t["train_y"].long(), t["test_x"], t["test_y"].long(), classes)


DECODER_VERSION = 2  # bump when decoding changes (resize, colour conversion): old caches are then ignored


def _cache_file(path: Path, cache_dir: Path) -> Path:
    """The cache file for ``path``, keyed by its content: an archive's SHA-256, or for a directory the
    SHA-256 of its file list with each file's size and mtime; plus :data:`DECODER_VERSION`."""
    digest = hashlib.sha256(f"decoder {DECODER_VERSION}\n".encode())
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            stat = f.stat()
            digest.update(f"{f.relative_to(path).as_posix()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    else:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return Path(cache_dir) / f"{path.name.split('.')[0]}-{digest.hexdigest()[:16]}.npz"


def _decode_folder(path: Path) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """Read (split, class, bytes) for every image, then decode all with Pillow."""
    from PIL import Image

    files: list[tuple[str, str, str, bytes]] = []  # split, class, name, bytes
    if path.is_dir():
        for split in ("train", "test"):
            for f in sorted((path / split).glob("*/*")):
                if f.is_file():
                    files.append((split, f.parent.name, f.name, f.read_bytes()))
    else:
        with tarfile.open(path) as tar:
            for member in tar:
                parts = Path(member.name).parts
                if member.isfile() and len(parts) >= 3 and parts[-3] in ("train", "test"):
                    files.append((parts[-3], parts[-2], parts[-1], tar.extractfile(member).read()))
    splits = {s: [f for f in files if f[0] == s] for s in ("train", "test")}
    if not splits["train"] or not splits["test"]:
        raise ValueError("no train/<class>/ or test/<class>/ images found")
    classes = tuple(sorted({f[1] for f in files}))
    index = {c: k for k, c in enumerate(classes)}
    arrays = {}
    for split, items in splits.items():
        items.sort(key=lambda f: (index[f[1]], f[2]))
        images = np.empty((len(items), 3, 32, 32), dtype=np.uint8)
        for n, (_, _, _, blob) in enumerate(items):
            img = Image.open(io.BytesIO(blob)).convert("RGB")
            if img.size != (32, 32):
                img = img.resize((32, 32), Image.BILINEAR)
            images[n] = np.asarray(img).transpose(2, 0, 1)
        arrays[f"{split}_x"] = images
        arrays[f"{split}_y"] = np.array([index[f[1]] for f in items], dtype=np.int64)
    return arrays, classes


def digits_dataset() -> Dataset:
    """scikit-learn's bundled 1,797 handwritten digits, 32x32x3, fixed stratified 80/20 split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8).repeat(1, 3, 1, 1)
    y = torch.tensor(digits.target, dtype=torch.long)
    test_idx = stratified_subset(y, len(y) // 5, seed=0)
    train_mask = torch.ones(len(y), dtype=torch.bool)
    train_mask[test_idx] = False
    return Dataset("sklearn digits (stand-in, NOT CIFAR-10)", x[train_mask], y[train_mask], x[test_idx],
                   y[test_idx], tuple(str(d) for d in range(10)), is_stand_in=True)


def synthetic_dataset(n_train: int = 1024, n_test: int = 256, seed: int = 0) -> Dataset:
    """Random images whose mean colour depends on the class: learnable, tiny, for tests only."""
    g = torch.Generator().manual_seed(seed)
    colours = torch.randint(40, 216, (10, 3, 1, 1), generator=g).float()

    def make(n):
        y = torch.arange(n) % 10
        x = colours[y] + 40 * torch.randn(n, 3, 32, 32, generator=g)
        return x.clamp(0, 255).to(torch.uint8), y

    (trx, try_), (tex, tey) = make(n_train), make(n_test)
    return Dataset("synthetic (tests only)", trx, try_, tex, tey, tuple(f"class{k}" for k in range(10)),
                   is_stand_in=True)


# ----------------------------------------------------------------------------- splits

def stratified_subset(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Indices of ``n`` examples (sorted), each class in proportion, chosen by ``seed``."""
    if n <= 0 or n >= len(labels):
        return torch.arange(len(labels))
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=g)
    # a stable sort by label of a random order = a random order within each class
    by_class = order[torch.sort(labels[order], stable=True).indices]
    rank = torch.empty(len(labels), dtype=torch.float64)
    counts = torch.bincount(labels)
    start = 0
    for count in counts.tolist():  # rank within class, scaled to [0, 1)
        rank[by_class[start:start + count]] = torch.arange(count, dtype=torch.float64) / max(count, 1)
        start += count
    # interleave classes: take the n smallest (rank, random tie-break)
    tie = torch.rand(len(labels), generator=g, dtype=torch.float64) * 1e-9
    chosen = torch.argsort(rank + tie)[:n]
    return torch.sort(chosen).values


def split_in_two(labels: torch.Tensor, seed: int, first: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified split of ``range(len(labels))`` into two disjoint index sets.

    ``first`` is the size of the first part (default: half)."""
    n = len(labels)
    first = n // 2 if first is None else first
    a = stratified_subset(labels, first, seed) if first > 0 else torch.empty(0, dtype=torch.long)
    mask = torch.ones(n, dtype=torch.bool)
    mask[a] = False
    return a, torch.nonzero(mask).flatten()


# ----------------------------------------------------------------------------- batches

class Batches:
    """Minibatches of an in-memory uint8 image tensor, augmented and normalised on the fly.

    The order and the augmentation of epoch ``e`` depend only on (seed, e), so a
    resumed run sees exactly the batches an uninterrupted run would.
    ``batches_per_epoch`` longer than one pass cycles through fresh permutations.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, mean, std,
                 augment: bool = False, shuffle: bool = False, drop_last: bool = False, seed: int = 0,
                 device: torch.device | str = "cpu", channels_last: bool = True):
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size, self.augment, self.shuffle, self.drop_last = batch_size, augment, shuffle, drop_last
        self.seed = seed
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1) * 255
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def epoch(self, epoch: int, batches: int | None = None):
        """Yield ``(x, y)`` for one epoch: ``batches`` batches (default: one pass).

        The epoch's order and augmentation are drawn on the host up front and moved to the device in one
        copy, so a training step never waits on a small host-to-device transfer."""
        sizes, plan = self._plan(epoch, len(self) if batches is None else batches)
        plan = plan.to(self.device, non_blocking=True)  # rows: index, dy, dx, flip
        start = 0
        for b in sizes:
            idx, dy, dx, flip = plan[:, start:start + b]
            start += b
            x = self.images[idx]
            if self.augment:
                x = random_crop_flip(x, dy, dx, flip.bool())
            x = (x.float() - self.mean) / self.std
            yield x.contiguous(memory_format=self.memory_format), self.labels[idx]

    def _plan(self, epoch: int, total: int) -> tuple[list[int], torch.Tensor]:
        """Batch sizes and a [4, images] int64 table (index, dy, dx, flip) for ``total`` batches; depends only
        on (seed, epoch).  The generator is consumed as one permutation per pass, then per batch the crop
        offsets and the flips, so the stream is the same however the batches are consumed."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        sizes: list[int] = []
        columns: list[torch.Tensor] = []
        n = len(self.labels)
        while len(sizes) < total:
            order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
            for start in range(0, n, self.batch_size):
                idx = order[start:start + self.batch_size]
                if len(sizes) == total or (self.drop_last and len(idx) < self.batch_size):
                    break
                b = len(idx)
                if self.augment:
                    shifts = torch.randint(0, 9, (2, b), generator=g)
                    flips = (torch.rand(b, generator=g) < 0.5).long()
                else:
                    shifts, flips = torch.zeros(2, b, dtype=torch.long), torch.zeros(b, dtype=torch.long)
                columns.append(torch.cat([idx.view(1, b), shifts, flips.view(1, b)]))
                sizes.append(b)
        return sizes, torch.cat(columns, dim=1) if columns else torch.zeros(4, 0, dtype=torch.long)


def random_crop_flip(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor, pad: int = 4):
    """Crop each image of a batch at offset (dy, dx) of its zero-padded copy, then flip where ``flip``.

    One gather for the whole batch; equivalent to torchvision's
    ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip`` per image."""
    b, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = (dy.view(b, 1) + torch.arange(h, device=x.device)).view(b, 1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, w)
    cols = torch.where(flip.view(b, 1), w - 1 - cols, cols) + dx.view(b, 1)
    batch = torch.arange(b, device=x.device).view(b, 1, 1, 1)
    chan = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[batch, chan, rows, cols.view(b, 1, 1, w)]
