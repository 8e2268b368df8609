"""Image-classification data sets held in memory as uint8 tensors, and a batch iterator over them.

Why no DataLoader: every set here (MNIST-likes, CIFAR) fits in memory, on the GPU even, so a batch is one
index plus a few tensor ops; no worker processes, no PIL. Augmentation is drawn per dataset index from
(seed, epoch), so a sample is augmented the same way whatever the batch size or number of ranks.

`load("fashion-mnist-subset")`, the default, reads the real Fashion-MNIST subset shipped with the package;
the full sets come through torchvision from a folder the user names (or downloads into).
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from kdsurvey.distill.registry import Registry
from kdsurvey.errors import DataNotFoundError, KdSurveyError, UsageError
from kdsurvey.paths import data_dir as packaged_data_dir

DATASETS_ENV = "KDSURVEY_DATASETS"
DEFAULT_ROOT = Path("~/.cache/kdsurvey/datasets")


class MalformedDataError(KdSurveyError, ValueError):
    """A data file on disk is not what its name says (bad magic number, truncated, wrong shape)."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a model and the batch iterator need to know about a data set.

    mean/std are per-channel statistics of the full training set (pixels scaled to [0, 1]); the subset uses
    the full set's, so a model trained on one is normalised like the other. `augmentation` is "crop_flip"
    (random crop after zero padding by `padding`, then a horizontal flip with p=0.5), "crop" (no flip: a
    flipped digit can be another digit or none) or "none".
    """

    name: str
    num_classes: int
    in_channels: int
    image_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augmentation: str
    padding: int
    classes: tuple[str, ...]
    citation: str

    def __post_init__(self) -> None:
        if self.augmentation not in ("crop_flip", "crop", "none"):
            raise UsageError(f"augmentation must be crop_flip, crop or none, not {self.augmentation!r}")


@dataclass(frozen=True, eq=False)
class ImageSet:
    """images: uint8 (N, C, H, W); labels: int64 (N,). `to` keeps the moved copy, so it moves once."""

    images: Tensor
    labels: Tensor
    _moved: dict[str, ImageSet] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise UsageError(f"images must be uint8 (N, C, H, W), not {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise UsageError(
                f"labels must be int64 ({len(self.images)},), not {self.labels.dtype} {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: str | torch.device) -> ImageSet:
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        if self.images.device == device:
            return self
        if str(device) not in self._moved:
            self._moved[str(device)] = ImageSet(self.images.to(device), self.labels.to(device))
        return self._moved[str(device)]


@dataclass(frozen=True)
class Splits:
    train: ImageSet
    test: ImageSet
    info: DatasetInfo


# ---------------------------------------------------------------- idx files (the MNIST on-disk format)

_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """An idx file (gzipped if its name ends in .gz) as a native-endian array; checks magic and length."""
    path = Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataNotFoundError(f"{path}: no such file") from None
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError; a cut-off gzip stream an EOFError
        raise MalformedDataError(f"{path}: not a readable gzip file ({exc})") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_TYPES:
        raise MalformedDataError(f"{path}: not an idx file (magic number {raw[:4].hex() or 'missing'})")
    ndim, start = raw[3], 4 + 4 * raw[3]
    if len(raw) < start:
        raise MalformedDataError(f"{path}: truncated idx header")
    shape = struct.unpack(f">{ndim}I", raw[4:start])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = start + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise MalformedDataError(f"{path}: {what} ({len(raw)} bytes, header {shape} needs {expected})")
    return np.frombuffer(raw, dtype, offset=start).reshape(shape).astype(dtype.newbyteorder("="))


def _idx_file(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise DataNotFoundError(f"{folder}: neither {stem}.gz nor {stem} is there")


def _read_idx_split(folder: Path, split: str) -> ImageSet:
    images = read_idx(image_path := _idx_file(folder, f"{split}-images-idx3-ubyte"))
    labels = read_idx(_idx_file(folder, f"{split}-labels-idx1-ubyte"))
    if images.ndim != 3 or images.dtype != np.uint8 or labels.shape != images.shape[:1]:
        raise MalformedDataError(f"{image_path}: {images.shape} images do not match {labels.shape} labels")
    return ImageSet(torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)))


# ---------------------------------------------------------------- the data sets

Loader = Callable[[Path | None, bool, dict[str, Any]], Splits]
DATASETS: Registry[Loader] = Registry("data set")

_FASHION = DatasetInfo(
    "fashion-mnist", 10, 1, (28, 28), (0.2860,), (0.3530,), "crop_flip", 2,
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "Xiao, Rasul & Vollgraf (2017), arXiv:1708.07747; MIT licence, (c) 2017 Zalando SE",
)  # fmt: skip
_INFOS = {
    "fashion-mnist": _FASHION,
    "fashion-mnist-subset": dataclasses.replace(_FASHION, name="fashion-mnist-subset"),
    "mnist": DatasetInfo(
        "mnist", 10, 1, (28, 28), (0.1307,), (0.3081,), "crop", 2, tuple("0123456789"),
        "LeCun, Bottou, Bengio & Haffner (1998), Proc. IEEE 86(11)",
    ),
    "cifar10": DatasetInfo(
        "cifar10", 10, 3, (32, 32), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "crop_flip", 4, (),
        "Krizhevsky (2009), Learning Multiple Layers of Features from Tiny Images",
    ),
    "cifar100": DatasetInfo(
        "cifar100", 100, 3, (32, 32), (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), "crop_flip", 4, (),
        "Krizhevsky (2009), Learning Multiple Layers of Features from Tiny Images",
    ),
}  # fmt: skip


def names() -> list[str]:
    return DATASETS.names()


VALIDATION = "validation"  # an option of every data set: images held out of the training split
_HOLDOUT_SEED = 20260  # fixed: the same images are held out in every run


def parse(name: str) -> tuple[str, dict[str, str]]:
    """("fake", {"classes": "100"}) from "fake:classes=100"; the name must be registered.

    Every data set takes `validation=N`: N training images, drawn once with a fixed seed, become the
    evaluation split and the rest the training split, so settings can be chosen without the test set.
    Only `fake` takes other options.
    """
    if not isinstance(name, str):
        raise UsageError(f"a data set is named by text, got {name!r}")
    base, _, spec = name.partition(":")
    DATASETS.get(base)  # unknown -> UnknownNameError with did-you-mean
    options: dict[str, str] = {}
    for item in spec.split(",") if spec else []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"data set option {item!r} is not KEY=VALUE (in {name})")
        if key.strip() in options:
            raise UsageError(f"data set option {key.strip()} is given twice (in {name})")
        options[key.strip()] = value.strip()
    others = sorted(set(options) - {VALIDATION})
    if others and base != "fake":
        raise UsageError(f"data set {base!r} takes only the option {VALIDATION}=N (got {', '.join(others)})")
    return base, options


def check(name: str) -> None:
    """Validate a data set name and its options without loading anything (for experiments)."""
    base, options = parse(name)
    _validation(options)
    if base == "fake":
        _fake_options({k: v for k, v in options.items() if k != VALIDATION})


def _validation(options: dict[str, Any]) -> int:
    value = options.get(VALIDATION, 0)
    try:
        count = int(value) if not isinstance(value, bool) else -1
    except (TypeError, ValueError):
        count = -1
    if count < 0 or (VALIDATION in options and count == 0):
        raise UsageError(f"data set option {VALIDATION} must be a positive number of images, got {value!r}")
    return count


def load(name: str, *, data_dir: str | Path | None = None, download: bool = False, **options: Any) -> Splits:
    """Both splits of a data set, in memory. Only `fake` takes options (also as "fake:classes=100,size=28");
    every set takes `validation=N` (see `parse`).

    data_dir is the torchvision root of a downloadable set; it defaults to $KDSURVEY_DATASETS, else
    ~/.cache/kdsurvey/datasets (where download=True puts it). The embedded subset ignores both.
    """
    name, parsed = parse(name)
    options = {**parsed, **options}
    held_out = _validation(options)
    options.pop(VALIDATION, None)
    if options and name != "fake":
        raise UsageError(f"data set {name!r} takes no options (got {', '.join(options)})")
    splits = DATASETS.get(name)(Path(data_dir).expanduser() if data_dir is not None else None, download, options)
    return hold_out(splits, held_out) if held_out else splits


def hold_out(splits: Splits, count: int) -> Splits:
    """`count` training images (a fixed random draw) as the evaluation split, the others for training."""
    n = len(splits.train)
    if count >= n:
        raise UsageError(f"{VALIDATION}={count} leaves no training image ({n} in the training split)")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(_HOLDOUT_SEED))
    keep, held = order[: n - count].sort().values, order[n - count :].sort().values
    pick = lambda idx: ImageSet(splits.train.images[idx], splits.train.labels[idx])  # noqa: E731
    return Splits(pick(keep), pick(held), splits.info)


@DATASETS.register("fashion-mnist-subset")
def _subset(data_dir: Path | None, download: bool, options: dict[str, Any]) -> Splits:
    folder = packaged_data_dir() / "datasets" / "fashion-mnist-subset"
    return Splits(_read_idx_split(folder, "train"), _read_idx_split(folder, "t10k"), _INFOS["fashion-mnist-subset"])


def _torchvision(name: str, cls_name: str, layout: str) -> Loader:
    def loader(data_dir: Path | None, download: bool, options: dict[str, Any]) -> Splits:
        info = _INFOS[name]
        root = data_dir or Path(os.environ.get(DATASETS_ENV) or DEFAULT_ROOT).expanduser()
        if cls_name.endswith("MNIST") and any(root.glob("train-images-idx3-ubyte*")):  # a flat idx folder
            return Splits(_read_idx_split(root, "train"), _read_idx_split(root, "t10k"), info)
        try:
            import torchvision.datasets
        except ImportError:
            hint = " or a folder of MNIST's idx files (--data-dir)" if cls_name.endswith("MNIST") else ""
            raise DataNotFoundError(f"data set {name!r} needs torchvision (pip install torchvision){hint}") from None
        cls = getattr(torchvision.datasets, cls_name)
        try:
            train, test = (cls(str(root), train=flag, download=download) for flag in (True, False))
        except (RuntimeError, OSError) as exc:  # torchvision's "Dataset not found or corrupted", failed downloads
            problem = (
                f"could not be downloaded into {root} ({exc})" if download else f"is not in {root} (or is corrupted)"
            )
            raise DataNotFoundError(
                f"data set {name!r} {problem}. Pass --data-dir DIR, a folder with torchvision's layout "
                f"(DIR/{layout}), or --download to fetch it into {root}"
            ) from None
        if cls_name.startswith("CIFAR"):
            info = dataclasses.replace(info, classes=tuple(train.classes))
            return Splits(*(_from_hwc(ds.data, ds.targets) for ds in (train, test)), info)
        return Splits(*(ImageSet(ds.data.unsqueeze(1).contiguous(), ds.targets.long()) for ds in (train, test)), info)

    return loader


def _from_hwc(data: np.ndarray, targets: list[int]) -> ImageSet:
    return ImageSet(torch.from_numpy(data).permute(0, 3, 1, 2).contiguous(), torch.tensor(targets, dtype=torch.int64))


DATASETS.register("fashion-mnist")(_torchvision("fashion-mnist", "FashionMNIST", "FashionMNIST/raw/*-ubyte"))
DATASETS.register("mnist")(_torchvision("mnist", "MNIST", "MNIST/raw/*-ubyte"))
DATASETS.register("cifar10")(_torchvision("cifar10", "CIFAR10", "cifar-10-batches-py/"))
DATASETS.register("cifar100")(_torchvision("cifar100", "CIFAR100", "cifar-100-python/"))

FAKE_DEFAULTS = {"classes": 10, "channels": 3, "size": 32, "train": 512, "test": 128, "seed": 0}


_FAKE_MINIMUM = {"classes": 2, "channels": 1, "size": 8, "train": 1, "test": 1, "seed": 0}


def _fake_options(options: dict[str, Any]) -> dict[str, int]:
    """The fake set's options as integers within range: a split with no images is an error, not an empty run."""
    unknown = set(options) - set(FAKE_DEFAULTS)
    if unknown:
        raise UsageError(
            f"unknown fake data option(s) {', '.join(sorted(unknown))} (known: {', '.join(FAKE_DEFAULTS)})"
        )
    out = {}
    for key, value in {**FAKE_DEFAULTS, **options}.items():
        try:
            number = int(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or number < _FAKE_MINIMUM[key] or number > 10**7:
            raise UsageError(f"fake data option {key} must be an integer in [{_FAKE_MINIMUM[key]}, 10000000], "
                             f"got {value!r}")  # fmt: skip
        out[key] = number
    return out


@DATASETS.register("fake")
def _fake(data_dir: Path | None, download: bool, options: dict[str, Any]) -> Splits:
    """Synthetic, learnable data for tests and benchmarks: per-class random templates averaged with noise.

    Options (ints): classes, channels, size (square images), train, test (set sizes), seed. Labels are
    balanced; mean/std are measured on the generated training set, as for the real sets.
    """
    o = _fake_options(options)
    k, c, s = o["classes"], o["channels"], o["size"]
    g = torch.Generator().manual_seed(o["seed"])
    templates = torch.randint(0, 256, (k, c, s, s), generator=g, dtype=torch.int16)

    def make(n: int) -> ImageSet:
        labels = (torch.arange(n) % k)[torch.randperm(n, generator=g)]
        noise = torch.randint(0, 256, (n, c, s, s), generator=g, dtype=torch.int16)
        return ImageSet(((templates[labels] + noise) // 2).to(torch.uint8), labels)

    train, test = make(o["train"]), make(o["test"])
    pixels = train.images.transpose(0, 1).reshape(c, -1).double() / 255
    mean, std = tuple(pixels.mean(1).tolist()), tuple(pixels.std(1).tolist())
    info = DatasetInfo("fake", k, c, (s, s), mean, std, "crop_flip", s // 8, tuple(map(str, range(k))), "synthetic")
    return Splits(train, test, info)


# ---------------------------------------------------------------- batches


class Batches:
    """One epoch of (x, y, index) batches, sliced from a set moved to `device` once (GPU-resident on cuda).

    Train: a permutation seeded by (seed, epoch), padded by wrapping to a multiple of world_size and dealt
    out rank::world_size like DistributedSampler, so every rank takes the same number of steps and the
    ranks together cover the epoch. Eval: fixed order, ranks share it without padding (no sample counted
    twice). x is float, normalised, optionally channels_last; index holds the dataset indices of the batch.

    host=True keeps the images where they are (on the CPU) for a set too large for the GPU: each batch is
    gathered and augmented there as uint8, pinned, sent with non_blocking and normalised on the device.
    Integer gathers and the same normalisation ops give the same batches as the device-resident path.
    """

    def __init__(
        self,
        data: ImageSet,
        info: DatasetInfo,
        batch_size: int,
        *,
        train: bool,
        seed: int = 0,
        epoch: int = 0,
        device: str | torch.device = "cpu",
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
        channels_last: bool = False,
        host: bool = False,
    ) -> None:
        if batch_size < 1 or not 0 <= rank < world_size:
            raise UsageError(
                f"need batch_size >= 1 and 0 <= rank < world_size (got {batch_size}, {rank}, {world_size})"
            )
        self.data, self.info, self.batch_size, self.train = data if host else data.to(device), info, batch_size, train
        self.drop_last, self.channels_last = drop_last, channels_last
        target = torch.device(device)
        device = self.data.images.device
        self._send = target if host and target.type != device.type else None  # where batches go, if elsewhere
        n = len(data)
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        self._offsets = self._flip = None
        if train:
            order = torch.randperm(n, generator=g)
            total = -(-n // world_size) * world_size
            order = torch.cat([order, order[torch.arange(total - n) % max(n, 1)]])
            # Per dataset index, so augmentation does not depend on batch size or world size.
            self._offsets = torch.randint(0, 2 * info.padding + 1, (n, 2), generator=g).to(device)
            self._flip = (torch.rand(n, generator=g) < 0.5).to(device) if info.augmentation == "crop_flip" else None
        else:
            order = torch.arange(n)
        self.order = order[rank::world_size].to(device)
        norm_on = self._send or device
        std = torch.tensor(info.std, device=norm_on).view(1, -1, 1, 1)
        self._scale, self._shift_mean = 1 / (255 * std), torch.tensor(info.mean, device=norm_on).view(1, -1, 1, 1) / std

    def __len__(self) -> int:
        n = len(self.order)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        for i in range(len(self)):
            index = self.order[i * self.batch_size : (i + 1) * self.batch_size]
            yield self.prepare(index), self._moved(self.data.labels[index]), self._moved(index)

    def prepare(self, index: Tensor) -> Tensor:
        """Dataset indices -> the batch as the model sees it (augmented when training)."""
        index = index.to(self.data.images.device)
        x = self.data.images[index]
        if self.train and self.info.augmentation != "none":
            x = self._augment(x, index)
        x = self._moved(x)
        x = x.float().mul_(self._scale).sub_(self._shift_mean)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _moved(self, t: Tensor) -> Tensor:
        """t itself, or (host=True) t pinned and on its way to the device without blocking."""
        if self._send is None:
            return t
        return (t.pin_memory() if self._send.type == "cuda" else t).to(self._send, non_blocking=True)

    def _augment(self, x: Tensor, index: Tensor) -> Tensor:
        """Zero-pad, crop and flip as one gather on the device (zero padding, as torchvision's RandomCrop)."""
        p, (b, c, h, w) = self.info.padding, x.shape
        if p == 0 and self._flip is None:
            return x
        x = F.pad(x, (p, p, p, p))
        dy, dx = self._offsets[index].unbind(1)
        rows = dy[:, None] + torch.arange(h, device=x.device)
        cols = torch.arange(w, device=x.device).expand(b, w)
        if self._flip is not None:
            cols = torch.where(self._flip[index][:, None], w - 1 - cols, cols)
        cols = cols + dx[:, None]
        batch, chan = torch.arange(b, device=x.device), torch.arange(c, device=x.device)
        return x[batch[:, None, None, None], chan[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]


def fits_on(device: str | torch.device, *sets: ImageSet, share: float = 0.5) -> bool:
    """Whether the sets fit in `share` of the device's free memory (always on the CPU): the automatic
    choice between device-resident data and host=True batches."""
    device = torch.device(device)
    if device.type != "cuda":
        return True
    size = sum(s.images.nbytes + s.labels.nbytes for s in sets if s.images.device.type != device.type)
    return size <= share * torch.cuda.mem_get_info(device)[0]


batches = Batches  # the iterator is the function's result; one name for both keeps one signature
