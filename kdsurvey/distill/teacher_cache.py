"""Teacher outputs computed once per epoch and reused by every student, method and seed that shares them.

Methods whose forward needs the teachers only through `Method.teacher_logits` (Hinton KD, multi-teacher,
TAKD's last step) can take the teachers' logits from a table indexed by dataset index instead of running
the teachers. The table of an epoch is built by running the frozen teachers over exactly the batches the
training loop sees (same order, same augmentation, same batch shapes, same autocast), so a student trained
from it gets bit for bit the logits it would have computed itself: floating-point kernels may pick their
blocking by batch shape, which is why the batch layout is part of the key rather than assumed irrelevant.

The key hashes everything the logits depend on: the data set's name, its content (SHA-256 of the training
images and labels), its normalisation and augmentation, the (seed, batch size, rank, world size) stream,
the teachers' weights and structure, and the numerics (bf16, channels_last, device type and kernel
family, torch version). So a stale table is never used: anything that would change it changes its key.
Tables live in memory on the device within a budget (a quarter of the free memory by default) and, when
the cache has a folder, in one file per epoch, `folder/KEY/epoch-NNNN.pt`, written atomically and read
with weights_only=True; a file that cannot be read or belongs to another key is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from kdsurvey.atomic import write_atomic
from kdsurvey.errors import KdSurveyError

CACHE_FORMAT = 1
_CONTENT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # ImageSet -> content hash, computed once


class CacheError(KdSurveyError):
    """A teacher-cache file that cannot be read or does not belong to the run asking for it."""


def content_hash(image_set) -> str:
    """SHA-256 of a set's images and labels (as stored: uint8 and int64)."""
    if image_set not in _CONTENT:
        h = hashlib.sha256()
        for t in (image_set.images, image_set.labels):
            h.update(str((t.dtype, tuple(t.shape))).encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        _CONTENT[image_set] = h.hexdigest()
    return _CONTENT[image_set]


def weights_hash(model: nn.Module) -> str:
    """SHA-256 of a model's structure (its repr) and of every parameter and buffer."""
    h = hashlib.sha256(repr(model).encode())
    for name, t in model.state_dict().items():
        h.update(f"{name}{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def cache_key(teachers: Sequence[nn.Module], splits, *, seed: int, batch_size: int, rank: int, world_size: int,
              speed, device: torch.device) -> str:  # fmt: skip
    """The key of one stream of teacher outputs; `speed` is a resolved `Speed`."""
    info = splits.info
    device = torch.device(device)
    kernels = torch.cuda.get_device_name(device) if device.type == "cuda" else torch.backends.cpu.get_cpu_capability()
    described = {
        "format": CACHE_FORMAT,
        "data": {
            "name": info.name, "content": content_hash(splits.train), "mean": list(info.mean), "std": list(info.std),
            "augmentation": info.augmentation, "padding": info.padding,
        },
        "stream": {"seed": seed, "batch_size": batch_size, "rank": rank, "world_size": world_size},
        "teachers": [weights_hash(t) for t in teachers],
        "numerics": {
            "bf16": bool(speed.bf16), "channels_last": bool(speed.channels_last), "device": device.type,
            "kernels": kernels, "torch": torch.__version__,
        },
    }  # fmt: skip
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:24]


@torch.no_grad()
def compute(teachers: Sequence[nn.Module], batches, size: int, autocast: Callable) -> Tensor:
    """(teachers, size, classes) logits of one epoch, each row from the batch the training loop puts it in."""
    table = None
    for x, _, index in batches:
        with autocast():
            logits = [teacher(x) for teacher in teachers]
        if table is None:
            shape = (len(teachers), size, logits[0].shape[1])
            table = torch.zeros(shape, dtype=logits[0].dtype, device=logits[0].device)
        for row, value in zip(table, logits):
            row[index.to(row.device)] = value
    return table


class TeacherCache:
    """Teacher-output tables by (key, epoch): held on the device within `memory_bytes`, and written under
    `folder` (when given) so that other processes and later runs reuse them.

    `built`, `loaded` and `reused` count tables computed, read from disk and found in memory.
    """

    def __init__(self, folder: str | Path | None = None, memory_bytes: int | None = None):
        self.folder = Path(folder) if folder is not None else None
        self.memory_bytes = memory_bytes  # None: a quarter of the free memory when the first table arrives
        self._memory: dict[tuple[str, int], Tensor] = {}
        self._held = 0
        self.built = self.loaded = self.reused = 0

    def path(self, key: str, epoch: int) -> Path:
        if self.folder is None:
            raise CacheError("this teacher cache has no folder")
        return self.folder / key / f"epoch-{epoch:04d}.pt"

    def outputs(self, key: str, epoch: int, shape: tuple[int, int], build: Callable[[], Tensor],
                device: torch.device, *, disk: bool = True) -> Tensor:  # fmt: skip
        """The table of (key, epoch): from memory, else from its file, else built (and stored).

        `shape` is (teachers, samples): a file whose table has another shape is refused.
        """
        table = self._memory.get((key, epoch))
        if table is not None:
            self.reused += 1
            return table
        path = self.path(key, epoch) if disk and self.folder is not None else None
        if path is not None and path.exists():
            table = read(path, key, epoch, shape).to(device)
            self.loaded += 1
        else:
            table = build()
            self.built += 1
            if path is not None:
                state = {"format": CACHE_FORMAT, "key": key, "epoch": epoch, "outputs": table.cpu()}
                write_atomic(path, lambda tmp: torch.save(state, tmp))
        self._keep(key, epoch, table)
        return table

    def _keep(self, key: str, epoch: int, table: Tensor) -> None:
        if self.memory_bytes is None:
            self.memory_bytes = _free_bytes(table.device) // 4
        if self._held + table.nbytes <= self.memory_bytes:
            self._memory[(key, epoch)] = table
            self._held += table.nbytes

    def clear(self) -> None:
        """Forget the tables held in memory (files stay)."""
        self._memory.clear()
        self._held = 0


def read(path: Path, key: str, epoch: int, shape: tuple[int, int]) -> Tensor:
    """The table stored at `path`, checked against the key, epoch and (teachers, samples) it must have."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        reason = f"torch.load raised {type(exc).__name__}"  # its message runs to many lines
        raise CacheError(f"teacher cache file {path} cannot be read ({reason}); delete it to rebuild it") from exc
    table = state.get("outputs") if isinstance(state, dict) else None
    if (
        not isinstance(state, dict)
        or (state.get("format"), state.get("key"), state.get("epoch")) != (CACHE_FORMAT, key, epoch)
        or not isinstance(table, Tensor)
        or not table.is_floating_point()
        or table.dim() != 3
        or tuple(table.shape[:2]) != tuple(shape)
    ):
        raise CacheError(f"teacher cache file {path} does not belong to this run (key {key}, epoch {epoch}); "
                         "delete it to rebuild it")  # fmt: skip
    return table


def _free_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not Linux: assume 4 GiB free
        return 4 << 30
