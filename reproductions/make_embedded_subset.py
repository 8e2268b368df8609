"""Cut the Fashion-MNIST subset that ships with kdsurvey (data/datasets/fashion-mnist-subset).

Why a subset: the package must run a real distillation out of the box, offline, and the full set (30 MB)
is too big for a wheel. The cut is stratified (equal counts per class) and sorted by original index, and the
files are written in the original gzipped idx format with fixed gzip headers, so a rerun gives the same bytes.

    python reproductions/make_embedded_subset.py   # reads /usr/share/datasets/fashion-mnist (Debian)
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import struct
from pathlib import Path

import numpy as np

from kdsurvey.distill.data import read_idx

SOURCE = Path("/usr/share/datasets/fashion-mnist")
OUT = Path("data/datasets/fashion-mnist-subset")
SPLITS = ("train", "t10k")
FILES = [f"{split}-{kind}-ubyte.gz" for split in SPLITS for kind in ("images-idx3", "labels-idx1")]
DEBIAN_VERSION = "0.0~git20200523.55506a9-1"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def draw(labels: dict[str, np.ndarray], per_class: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    """Sorted original indices: per split (train first), per class (0..9), `rng.choice` without replacement."""
    rng = np.random.default_rng(seed)
    chosen = {}
    for split in SPLITS:
        picks = [rng.choice(np.flatnonzero(labels[split] == c), per_class[split], replace=False) for c in range(10)]
        chosen[split] = np.sort(np.concatenate(picks))
    return chosen


def idx_bytes(array: np.ndarray) -> bytes:
    """uint8 array -> idx file bytes (magic 0x0000_08_ndim, big-endian dimensions, then the data)."""
    assert array.dtype == np.uint8
    return struct.pack(f">BBBB{array.ndim}I", 0, 0, 0x08, array.ndim, *array.shape) + array.tobytes()


def gzip_bytes(payload: bytes) -> bytes:
    """Deterministic gzip: mtime 0, no file name in the header, level 9."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as f:
        f.write(payload)
    return buffer.getvalue()


def cut(source: Path, chosen: dict[str, np.ndarray]) -> dict[str, bytes]:
    """File name -> uncompressed idx bytes of the subset."""
    out = {}
    for split in SPLITS:
        for kind in ("images-idx3", "labels-idx1"):
            out[f"{split}-{kind}-ubyte.gz"] = idx_bytes(read_idx(source / f"{split}-{kind}-ubyte.gz")[chosen[split]])
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def readme(source: Path, args: argparse.Namespace, payloads: dict[str, bytes], gz: dict[str, bytes]) -> str:
    source_rows = "\n".join(
        f"| `{name}` | `{sha256((source / name).read_bytes())}` | `{sha256(gzip.decompress((source / name).read_bytes()))}` |"
        for name in FILES
    )
    rows = "\n".join(f"| `{name}` | `{sha256(gz[name])}` | `{sha256(payloads[name])}` |" for name in FILES)
    classes = "\n".join(f"| {i} | {name} |" for i, name in enumerate(CLASSES))
    n_train, n_test = 10 * args.train_per_class, 10 * args.test_per_class
    return f"""# Fashion-MNIST subset

A stratified random subset of the real Fashion-MNIST (Zalando Research): {n_train:,} training images
({args.train_per_class:,} per class) and {n_test:,} test images ({args.test_per_class:,} per class), 28x28 grayscale,
in the original on-disk format (gzipped idx files, readable by any MNIST loader). kdsurvey loads it as the
data set `fashion-mnist-subset`, so distillation runs work offline out of the box.

Licence: MIT, Copyright (c) 2017 Zalando SE; see `LICENSE` in this folder. Please cite
Han Xiao, Kashif Rasul, Roland Vollgraf. *Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine
Learning Algorithms.* arXiv:1708.07747, 2017.

## Source

Debian package `dataset-fashion-mnist` version {DEBIAN_VERSION} (upstream
https://github.com/zalandoresearch/fashion-mnist), installed at `{source}`.
Debian's `.gz` files are not byte-identical to the upstream downloads (their md5 sums differ from the upstream README's), so compare the uncompressed sums:

| source file | sha256 (as installed) | sha256 (uncompressed) |
|---|---|---|
{source_rows}

## The cut

- Stratified: for each split (train first, then t10k) and each class 0..9 in order,
  `numpy.random.default_rng({args.seed}).choice(indices_of_class, {args.train_per_class} (train) or {args.test_per_class} (t10k), replace=False)`,
  one generator for the whole draw.
- The chosen indices of a split are sorted, so items keep their original relative order.
- `indices.txt.gz` lists the original (0-based) index of every item, `split,index` per line, in file order,
  in case a future NumPy draws differently.
- gzip headers carry mtime 0 and no file name, so rerunning gives the same bytes (with the same zlib; the
  uncompressed sha256 below does not depend on it).

Regenerate (from the repository root):

    .venv/bin/python reproductions/make_embedded_subset.py --source {source} \\
        --out {OUT} --train-per-class {args.train_per_class} --test-per-class {args.test_per_class} --seed {args.seed}

| file | sha256 (as stored) | sha256 (uncompressed) |
|---|---|---|
{rows}

`SHA256SUMS` holds the stored sha256 of every `.gz` file here (`indices.txt.gz` too), in `sha256sum -c` format.

## Classes

| label | class |
|---|---|
{classes}
"""


LICENSE = """\
The Fashion-MNIST images and labels in this folder are a subset of Fashion-MNIST
(https://github.com/zalandoresearch/fashion-mnist), used under the MIT licence below.

Citation: Han Xiao, Kashif Rasul, Roland Vollgraf. Fashion-MNIST: a Novel Image Dataset for
Benchmarking Machine Learning Algorithms. arXiv:1708.07747, 2017.

The MIT License (MIT)

Copyright (c) 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction, including
without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the
following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial
portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT
LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO
EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE
USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def indices_text(chosen: dict[str, np.ndarray]) -> bytes:
    lines = ["split,index"] + [f"{split},{i}" for split in SPLITS for i in chosen[split]]
    return ("\n".join(lines) + "\n").encode()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help="folder with the four Fashion-MNIST .gz files")
    parser.add_argument("--out", type=Path, default=OUT, help="folder to write the subset into")
    parser.add_argument("--train-per-class", type=int, default=1000)
    parser.add_argument("--test-per-class", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    labels = {split: read_idx(args.source / f"{split}-labels-idx1-ubyte.gz") for split in SPLITS}
    chosen = draw(labels, {"train": args.train_per_class, "t10k": args.test_per_class}, args.seed)
    payloads = cut(args.source, chosen)
    gz = {name: gzip_bytes(payload) for name, payload in payloads.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    gz["indices.txt.gz"] = gzip_bytes(indices_text(chosen))
    for name, data in gz.items():
        (args.out / name).write_bytes(data)
    (args.out / "SHA256SUMS").write_text("".join(f"{sha256(gz[name])}  {name}\n" for name in sorted(gz)))
    (args.out / "README.md").write_text(readme(args.source, args, payloads, gz))
    (args.out / "LICENSE").write_text(LICENSE)
    print(f"wrote {', '.join(sorted(p.name for p in args.out.iterdir()))} to {args.out}")


if __name__ == "__main__":
    main()
