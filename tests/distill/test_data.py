"""Data sets and batches: the embedded Fashion-MNIST subset, the idx reader, torchvision layouts, the iterator.

Files in the real on-disk formats are written by hand here (struct, pickle), so the readers are checked
against the formats and not against our own writer. Nothing here downloads.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from kdsurvey.distill import data as D
from kdsurvey.errors import DataNotFoundError, KdSurveyError, UnknownNameError, UsageError

DEBIAN_SOURCE = Path("/usr/share/datasets/fashion-mnist")
SCRIPT = Path(__file__).resolve().parents[2] / "reproductions" / "make_embedded_subset.py"
IDX_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def write_idx(path: Path, array: np.ndarray, code: int = 0x08) -> Path:
    """The idx format: two zero bytes, a type code, the number of dimensions, big-endian sizes, the data."""
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def write_mnist_folder(folder: Path, n_train: int = 6, n_test: int = 4, suffix: str = "") -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        arrays[f"{split}-images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}-labels"] = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", arrays[f"{split}-images"])
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", arrays[f"{split}-labels"])
    return arrays


@pytest.fixture(scope="module")
def subset() -> D.Splits:
    return D.load("fashion-mnist-subset")


@pytest.fixture
def subset_dir(packaged_data) -> Path:
    return packaged_data / "datasets" / "fashion-mnist-subset"


@pytest.fixture
def no_cache(tmp_path, monkeypatch) -> Path:
    """Point the default dataset root at an empty folder, so no real cache is ever read."""
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    monkeypatch.setenv(D.DATASETS_ENV, str(empty))
    return empty


# ---------------------------------------------------------------- the embedded subset


def test_subset_sizes_classes_and_types(subset):
    for split, n, per_class in ((subset.train, 10_000, 1000), (subset.test, 2000, 200)):
        assert split.images.shape == (n, 1, 28, 28) and split.images.dtype == torch.uint8
        assert split.labels.dtype == torch.int64 and 0 <= split.labels.min() and split.labels.max() <= 9
        assert split.labels.bincount(minlength=10).tolist() == [per_class] * 10
    info = subset.info
    assert (info.num_classes, info.in_channels, info.image_size, len(info.classes)) == (10, 1, (28, 28), 10)
    assert "1708.07747" in info.citation


def test_subset_checksums_match(subset_dir):
    listed = dict(reversed(line.split("  ")) for line in (subset_dir / "SHA256SUMS").read_text().splitlines())
    assert set(listed) == {p.name for p in subset_dir.glob("*.gz")}
    for name, digest in listed.items():
        assert hashlib.sha256((subset_dir / name).read_bytes()).hexdigest() == digest, name
    assert "MIT" in (subset_dir / "LICENSE").read_text() and "Zalando" in (subset_dir / "LICENSE").read_text()


@pytest.mark.skipif(not DEBIAN_SOURCE.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_subset_rederives_from_the_debian_source(subset_dir):
    spec = importlib.util.spec_from_file_location("make_embedded_subset", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    args = script.parse_args([])
    labels = {split: D.read_idx(DEBIAN_SOURCE / f"{split}-labels-idx1-ubyte.gz") for split in script.SPLITS}
    chosen = script.draw(labels, {"train": args.train_per_class, "t10k": args.test_per_class}, args.seed)
    recorded = gzip.decompress((subset_dir / "indices.txt.gz").read_bytes())
    assert script.indices_text(chosen) == recorded
    for name, payload in script.cut(DEBIAN_SOURCE, chosen).items():
        # Uncompressed: the gzip bytes may differ under another zlib, the content may not.
        assert gzip.decompress((subset_dir / name).read_bytes()) == payload, name


# ---------------------------------------------------------------- the idx reader


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_round_trip(tmp_path, suffix):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(D.read_idx(write_idx(tmp_path / f"images{suffix}", images)), images)
    ints = np.array([-1, 0, 70_000], dtype=np.int32)  # big-endian on disk
    assert np.array_equal(D.read_idx(write_idx(tmp_path / f"ints{suffix}", ints, code=0x0C)), ints)


@pytest.mark.parametrize(
    "name, raw",
    [
        ("bad-magic", b"\x08\x03\x00\x00" + bytes(16)),
        ("unknown-type", b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00"),
        ("truncated", b"\x00\x00\x08\x03" + struct.pack(">III", 10, 28, 28) + bytes(100)),
        ("short-header", b"\x00\x00\x08\x03\x00\x00"),
        ("trailing", b"\x00\x00\x08\x01" + struct.pack(">I", 2) + bytes(3)),
        ("empty", b""),
    ],
)
def test_read_idx_rejects_malformed_files(tmp_path, name, raw):
    path = tmp_path / f"{name}-idx3-ubyte"
    path.write_bytes(raw)
    with pytest.raises(D.MalformedDataError, match=name) as caught:
        D.read_idx(path)
    assert isinstance(caught.value, KdSurveyError) and str(path) in str(caught.value)


def test_read_idx_rejects_broken_gzip(tmp_path):
    good = gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 1000) + bytes(1000))
    for name, raw in (("not-gzip.gz", b"\x00\x00\x08\x01plain"), ("cut-off.gz", good[: len(good) // 2])):
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(D.MalformedDataError, match=name):
            D.read_idx(tmp_path / name)
    with pytest.raises(DataNotFoundError, match="absent"):
        D.read_idx(tmp_path / "absent.gz")


# ---------------------------------------------------------------- torchvision layouts


@pytest.mark.parametrize("name, folder", [("fashion-mnist", "FashionMNIST"), ("mnist", "MNIST")])
def test_mnist_family_from_torchvision_raw_layout(tmp_path, name, folder):
    arrays = write_mnist_folder(tmp_path / folder / "raw")  # uncompressed, as torchvision keeps them
    splits = D.load(name, data_dir=tmp_path)
    assert splits.info.name == name and splits.train.images.shape == (6, 1, 28, 28)
    assert np.array_equal(splits.train.images[:, 0].numpy(), arrays["train-images"])
    assert splits.test.labels.tolist() == arrays["t10k-labels"].tolist() and splits.test.labels.dtype == torch.int64


def test_fashion_mnist_from_a_flat_idx_folder(tmp_path):
    """A folder of the four .gz files, as Debian installs them, is read directly."""
    arrays = write_mnist_folder(tmp_path, suffix=".gz")
    splits = D.load("fashion-mnist", data_dir=tmp_path)
    assert np.array_equal(splits.test.images[:, 0].numpy(), arrays["t10k-images"])


def write_cifar(root: Path, folder: str, train_files: list[str], test_file: str, meta: tuple[str, str], label_key: str):
    rng = np.random.default_rng(2)
    rows = {}
    for file in [*train_files, test_file]:
        data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)  # rows of R, G, B planes, as in the real batches
        rows[file] = data
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / file).write_bytes(pickle.dumps({"data": data, label_key: [0, 1, 2]}))
    (root / folder / meta[0]).write_bytes(pickle.dumps({meta[1]: ["cat", "dog", "eel"]}))
    return rows


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_from_torchvision_pickle_layout(tmp_path, monkeypatch, name):
    # torchvision checks the md5 sums of the real files (in _check_integrity and _load_meta, both through
    # cifar.check_integrity); these stand-ins cannot match, so existence is all that is checked here.
    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar, "check_integrity", lambda path, md5=None: Path(path).is_file())
    if name == "cifar10":
        batches = [f"data_batch_{i}" for i in range(1, 6)]
        rows = write_cifar(
            tmp_path, "cifar-10-batches-py", batches, "test_batch", ("batches.meta", "label_names"), "labels"
        )
    else:
        batches = ["train"]
        rows = write_cifar(tmp_path, "cifar-100-python", batches, "test", ("meta", "fine_label_names"), "fine_labels")
    splits = D.load(name, data_dir=tmp_path)
    assert splits.train.images.shape == (3 * len(batches), 3, 32, 32) and splits.train.images.dtype == torch.uint8
    assert torch.equal(splits.train.images[:3], torch.from_numpy(rows[batches[0]]).view(3, 3, 32, 32))
    assert splits.test.labels.tolist() == [0, 1, 2] and splits.info.classes == ("cat", "dog", "eel")


@pytest.mark.parametrize("name", ["fashion-mnist", "mnist", "cifar10", "cifar100"])
def test_missing_data_set_names_both_ways_to_get_it(tmp_path, no_cache, name):
    for data_dir in (tmp_path, None):  # an empty folder; the default root (empty here)
        with pytest.raises(DataNotFoundError) as caught:
            D.load(name, data_dir=data_dir)
        message = str(caught.value)
        assert name in message and "--data-dir" in message and "--download" in message


def test_failed_download_goes_to_the_default_root_and_says_so(no_cache, monkeypatch):
    import torchvision.datasets

    def offline(self):  # stands in for the network: nothing here downloads
        raise RuntimeError(f"offline, asked for {self.root}")

    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "download", offline)
    with pytest.raises(DataNotFoundError, match="could not be downloaded") as caught:
        D.load("fashion-mnist", download=True)
    assert f"offline, asked for {no_cache}" in str(caught.value)


def test_unknown_name_and_options():
    with pytest.raises(UnknownNameError, match="fashion-mnist"):
        D.load("fashion-mnst")
    with pytest.raises(UsageError, match="no options"):
        D.load("cifar10", classes=3)
    for spec in ("fake:classes", "fake:classes=many", "fake:colour=3"):
        with pytest.raises(UsageError):
            D.load(spec)
    assert set(D.names()) == {"fashion-mnist-subset", "fashion-mnist", "mnist", "cifar10", "cifar100", "fake"}


def test_image_set_checks_its_tensors():
    with pytest.raises(UsageError, match="uint8"):
        D.ImageSet(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(UsageError, match="int64"):
        D.ImageSet(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64))


# ---------------------------------------------------------------- fake data


def test_fake_is_deterministic_and_configurable():
    a, b = D.load("fake"), D.load("fake")
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.test.labels, b.test.labels)
    assert a.train.images.shape == (512, 3, 32, 32) and len(a.test) == 128 and a.info.padding == 4
    small = D.load("fake:classes=5,channels=1,size=8,train=20,test=10,seed=3")
    assert torch.equal(
        small.train.images, D.load("fake", classes=5, channels=1, size=8, train=20, test=10, seed=3).train.images
    )
    assert small.train.images.shape == (20, 1, 8, 8) and small.info.num_classes == 5
    assert small.train.labels.bincount().tolist() == [4] * 5
    assert not torch.equal(small.train.images, D.load("fake:classes=5,channels=1,size=8,train=20,test=10").train.images)


# ---------------------------------------------------------------- batches


@pytest.fixture(scope="module")
def fake() -> D.Splits:
    return D.load("fake:train=101,test=37")


def collect(b: D.Batches) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    xs, ys, idx = zip(*b)
    return torch.cat(xs), torch.cat(ys), torch.cat(idx)


def test_train_batches_repeat_for_the_same_seed_and_epoch(fake):
    first = collect(D.batches(fake.train, fake.info, 16, train=True, seed=7, epoch=3))
    again = collect(D.batches(fake.train, fake.info, 16, train=True, seed=7, epoch=3))
    other = collect(D.batches(fake.train, fake.info, 16, train=True, seed=7, epoch=4))
    assert all(torch.equal(u, v) for u, v in zip(first, again))
    assert not torch.equal(first[2], other[2])
    assert sorted(first[2].tolist()) == list(range(101)) and torch.equal(first[1], fake.train.labels[first[2]])


def test_eval_batches_are_fixed_and_unaugmented(fake):
    x, y, idx = collect(D.batches(fake.test, fake.info, 10, train=False, seed=5, epoch=9))
    assert idx.tolist() == list(range(37)) and torch.equal(y, fake.test.labels)
    mean, std = torch.tensor(fake.info.mean).view(1, -1, 1, 1), torch.tensor(fake.info.std).view(1, -1, 1, 1)
    torch.testing.assert_close(x, (fake.test.images.float() / 255 - mean) / std)


def test_shards_cover_the_epoch_and_augment_as_one_rank_would(fake):
    kw = dict(train=True, seed=1, epoch=2)
    whole = collect(D.batches(fake.train, fake.info, 8, **kw))
    shards = [collect(D.batches(fake.train, fake.info, 8, rank=r, world_size=2, **kw)) for r in (0, 1)]
    assert len(shards[0][2]) == len(shards[1][2]) == 51  # 101 padded to 102 by wrapping
    assert set(torch.cat([s[2] for s in shards]).tolist()) == set(range(101))
    position = {int(i): n for n, i in enumerate(whole[2])}
    for x, _, idx in shards:
        torch.testing.assert_close(x, whole[0][[position[int(i)] for i in idx]], rtol=0, atol=0)
    evals = [collect(D.batches(fake.test, fake.info, 8, train=False, rank=r, world_size=2))[2] for r in (0, 1)]
    assert sorted(torch.cat(evals).tolist()) == list(range(37))  # eval shards: no padding, no repeats


def test_augmentation_is_zero_pad_crop_then_flip(fake):
    b = D.batches(fake.train, fake.info, 101, train=True, seed=3)
    x, _, idx = next(iter(b))
    assert x.shape == (101, 3, 32, 32) and x.dtype == torch.float32
    p, mean, std = fake.info.padding, torch.tensor(fake.info.mean), torch.tensor(fake.info.std)
    padded = torch.nn.functional.pad(fake.train.images[idx], (p, p, p, p))
    for k in range(len(idx)):
        (dy, dx), flip = b._offsets[idx[k]].tolist(), bool(b._flip[idx[k]])
        want = padded[k, :, dy : dy + 32, dx : dx + 32]
        want = (want.flip(-1) if flip else want).float() / 255
        torch.testing.assert_close(x[k], (want - mean.view(-1, 1, 1)) / std.view(-1, 1, 1))
    assert 0 < b._flip.sum() < 101 and len(set(map(tuple, b._offsets.tolist()))) > 10


def test_digits_are_cropped_but_never_flipped():
    info = D.DatasetInfo("digits", 2, 1, (4, 4), (0.0,), (1.0,), "crop", 1, ("a", "b"), "")
    images = torch.arange(64, dtype=torch.uint8).view(4, 1, 4, 4)
    b = D.batches(D.ImageSet(images, torch.tensor([0, 1, 0, 1])), info, 4, train=True, seed=2)
    x, _, idx = next(iter(b))
    padded = torch.nn.functional.pad(images[idx], (1, 1, 1, 1))
    assert b._flip is None
    for k, (dy, dx) in enumerate(b._offsets[idx].tolist()):
        torch.testing.assert_close(x[k], padded[k, :, dy : dy + 4, dx : dx + 4].float() / 255)
    with pytest.raises(UsageError, match="augmentation"):
        D.DatasetInfo("digits", 2, 1, (4, 4), (0.0,), (1.0,), "crop-flip", 1, ("a", "b"), "")


def test_len_drop_last_and_channels_last(fake):
    assert (
        len(D.batches(fake.train, fake.info, 16, train=True))
        == 7
        == len(list(D.batches(fake.train, fake.info, 16, train=True)))
    )
    dropped = D.batches(fake.train, fake.info, 16, train=True, drop_last=True)
    assert len(dropped) == 6 and all(len(y) == 16 for _, y, _ in dropped)
    x, _, _ = next(iter(D.batches(fake.train, fake.info, 4, train=False, channels_last=True)))
    assert x.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(UsageError):
        D.batches(fake.train, fake.info, 4, train=True, rank=2, world_size=2)


def test_normalisation_centres_the_embedded_set(subset):
    x, _, _ = collect(D.batches(subset.train, subset.info, 2500, train=False))
    assert abs(x.mean().item()) < 0.02 and abs(x.std().item() - 1) < 0.02
    assert subset.train.to("cpu") is subset.train
