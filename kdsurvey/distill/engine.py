"""The training loop shared by every method: offline, online and self-distillation alike.

One loop fits all because a method's forward returns (logits, named losses) and owns whatever it
trains. The loop adds what every run needs: a per-epoch seed (so a resumed run replays the same
batches and augmentations), an atomic checkpoint after every epoch that a restarted run resumes
from, bf16 autocast and channels_last on CUDA (the CPU path stays fp32 and deterministic; `speed.Speed`
switches these and the other speed-ups, such as the cache of `teacher_cache`), DistributedDataParallel
when launched by torchrun, and a progress bar only on a terminal.

Under DDP each rank trains on its share of every global batch (batch_size // world size) and gradients
are averaged, so parameters stay identical across ranks. BatchNorm stays per rank: its batch statistics
come from the rank's share, and DDP copies rank 0's running statistics to the others before each forward.
Losses over pairs within a batch (RKD, PKT, similarity-preserving) likewise see only the rank's share.
That is why 2 processes match 1 only approximately (tests/distill/test_distributed.py measures it).
SyncBatchNorm would normalise over the global batch and match 1 process up to summation order, but torch
(2.14) has it on GPUs only (on the CPU it raises, and aten::batch_norm_stats has no CPU kernel), and one
behaviour on both device types is worth more here than a closer match on one; torchvision's reference
scripts also leave it off by default. At the end of every epoch rank 0's buffers are copied to all
ranks, so every rank holds, evaluates and hands on exactly the model rank 0 checkpoints and stores.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

from kdsurvey.atomic import write_atomic
from kdsurvey.distill import data as datamod
from kdsurvey.distill.methods import Method
from kdsurvey.distill.recipe import Recipe
from kdsurvey.distill.speed import Speed
from kdsurvey.distill.teacher_cache import TeacherCache, cache_key, compute
from kdsurvey.errors import KdSurveyError, UsageError

CHECKPOINT_FORMAT = 1
T = TypeVar("T")


@dataclass
class Fit:
    """What a finished fit reports: test accuracy (%) of each evaluated model, history and time."""

    accuracy: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    wall_time_s: float = 0.0
    resumed_from_epoch: int = 0


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA without one is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise UsageError(f"unknown device {name!r}; use auto, cpu or cuda[:N]") from None
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"device {name!r} is not supported; use auto, cpu or cuda[:N]")
    if device.type == "cpu" and device.index not in (None, 0):
        raise UsageError(f"device {name!r}: the CPU has no index; use --device cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {name!r} asked for, but torch sees no CUDA device; use --device cpu or auto")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UsageError(f"device {name!r}: torch sees {torch.cuda.device_count()} CUDA device(s), numbered from 0")
    return device


def epoch_seed(seed: int, epoch: int) -> int:
    """The global RNG seed at the start of an epoch: a pure function of (seed, epoch)."""
    return (int(seed) * 1_000_003 + int(epoch) * 7919 + 17) % (2**63 - 1)


def world() -> tuple[int, int]:
    """(rank, world size): (0, 1) unless a process group is running."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def from_rank0(read: Callable[[], T]) -> T:
    """`read()` on rank 0 only, its result (or the exception it raised) handed to every rank.

    Every file the run reads back (checkpoints, stored stages) goes through here, so all ranks take the
    same branch (resume or start, load or train) even while another job writes the same folder, and
    ranks on other nodes need not see rank 0's disk.
    """
    rank, size = world()
    if size == 1:
        return read()
    box: list = [None]
    if rank == 0:
        try:
            box[0] = (True, read())
        except Exception as exc:  # re-raised on every rank instead of leaving the others waiting
            box[0] = (False, exc)
    dist.broadcast_object_list(box, src=0)
    ok, value = box[0]
    if not ok:
        raise value
    return value


def fit(
    method: Method,
    splits,
    recipe: Recipe,
    *,
    seed: int,
    device: torch.device,
    checkpoint: Path | None = None,
    fingerprint: str = "",
    progress: bool = False,
    on_epoch_end: Callable[[int], None] | None = None,
    speed: Speed | None = None,
    teacher_cache: TeacherCache | None = None,
    data_seed: int | None = None,
) -> Fit:
    """Train `method` for `recipe.epochs` and evaluate its models on the test split.

    With `checkpoint`, the state after each epoch is written there atomically and a later call with
    the same `fingerprint` resumes after the last finished epoch; a checkpoint with another
    fingerprint is refused rather than silently mixed into a different run. `speed` holds the speed
    switches (default: automatic); with `teacher_cache` a method that needs only its teachers' outputs
    takes them from the cache. `data_seed` seeds the batch order and augmentation instead of `seed`, so
    students of several seeds can see one data stream (and share one cache) while `seed` varies the rest.
    """
    rank, size = world()
    if recipe.batch_size % size:
        raise UsageError(f"batch size {recipe.batch_size} does not split evenly over {size} processes")
    cuda = device.type == "cuda"
    speed = (speed or Speed()).resolve(device)
    stream = seed if data_seed is None else data_seed
    method.to(device)
    if speed.channels_last:
        method.to(memory_format=torch.channels_last)
    if speed.compile:
        method.student.compile(backend=speed.compile)  # in place: state_dict keys stay the same
    on_device = speed.data_on_device
    if on_device is None:
        on_device = datamod.fits_on(device, splits.train, splits.test)
    speed = replace(speed, data_on_device=on_device)
    if not recipe.augment:  # train on the images as they are (e.g. Hinton 2015's transfer set: no translations)
        splits = replace(splits, info=replace(splits.info, augmentation="none"))
    train_set, info = splits.train.to(device) if on_device else splits.train, splits.info
    method.context.labels = train_set.labels.to(device)
    method.context.teacher_outputs = None
    key = None
    if teacher_cache is not None:
        if not method.teacher_outputs_only:
            raise UsageError(f"method {method.name!r} needs more of its teachers than their outputs; it cannot use "
                             "a teacher cache")  # fmt: skip
        key = cache_key(method.teachers, splits, seed=stream, batch_size=recipe.batch_size // size, rank=rank,
                        world_size=size, speed=speed, device=device)  # fmt: skip
    params = [p for p in method.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay, nesterov=recipe.nesterov,
        fused=True if speed.fused_optimizer else None,
    )  # fmt: skip
    start, history = 0, []
    state = from_rank0(lambda: read_checkpoint(checkpoint, fingerprint)) if checkpoint is not None else None
    if state is not None:
        method.load_state_dict(state["method"])
        optimizer.load_state_dict(state["optimizer"])
        start, history = int(state["epochs_done"]), list(state["history"])
    model = method
    if size > 1:
        model = nn.parallel.DistributedDataParallel(method, device_ids=[device.index] if cuda else None)
    began = time.perf_counter()
    for epoch in range(start, recipe.epochs):
        torch.manual_seed(epoch_seed(seed, epoch))
        for group in optimizer.param_groups:
            group["lr"] = recipe.lr_at(epoch)
        method.train()
        totals, seen = {}, 0
        loader = datamod.batches(
            train_set, info, recipe.batch_size // size, train=True, seed=stream, epoch=epoch,
            device=device, rank=rank, world_size=size, channels_last=speed.channels_last, host=not on_device,
        )  # fmt: skip
        method.context.prepare = loader.prepare  # the same augmentation for extra samples (CS-KD partners)
        if key is not None:  # the teachers over exactly these batches, or that table stored earlier
            method.context.teacher_outputs = teacher_cache.outputs(
                key, epoch, (len(method.teachers), len(train_set)),
                lambda loader=loader: compute(method.teachers, loader, len(train_set), lambda: speed.autocast(device)),
                device, disk=size == 1,  # under torchrun OUT is on rank 0 only: each rank keeps its own
            )  # fmt: skip
        for x, y, index in _bar(loader, progress and rank == 0, f"epoch {epoch + 1}/{recipe.epochs}"):
            with speed.autocast(device):
                _, losses = model(x, y, index)
            loss = sum(losses.values())
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"loss became {loss.item()} in epoch {epoch + 1}; lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for name, value in losses.items():
                totals[name] = totals.get(name, 0.0) + float(value.detach()) * len(y)
            seen += len(y)
        if size > 1:
            seen, totals = _sum_over_ranks(seen, totals, device)
            for buffer in method.buffers():  # rank 0's BatchNorm statistics: what it checkpoints and stores
                dist.broadcast(buffer, src=0)
        history.append({"epoch": epoch + 1, "lr": recipe.lr_at(epoch)} | {k: v / seen for k, v in totals.items()})
        if checkpoint is not None and rank == 0:
            save_checkpoint(checkpoint, method, optimizer, epoch + 1, history, fingerprint)
        if progress and rank == 0 and not _interactive():  # logs and pipes get one line an epoch instead of a bar
            losses = ", ".join(f"{k} {v:.4g}" for k, v in history[-1].items() if k not in ("epoch", "lr"))
            print(f"epoch {epoch + 1}/{recipe.epochs}: {losses} ({time.perf_counter() - began:.1f} s)",
                  file=sys.stderr, flush=True)  # fmt: skip
        if size > 1:
            dist.barrier()
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)
    wall = time.perf_counter() - began
    method.context.teacher_outputs = None
    accuracy = {
        name: evaluate(m, splits.test, info, device, recipe.eval_batch_size, speed)
        for name, m in method.evaluated().items()
    }
    return Fit(accuracy, history, wall, start)


def _sum_over_ranks(seen: int, totals: dict[str, float], device: torch.device) -> tuple[float, dict[str, float]]:
    """Loss sums of the whole epoch, not of rank 0's share, for the history."""
    names = sorted(totals)
    packed = torch.tensor([seen] + [totals[n] for n in names], dtype=torch.float64, device=device)
    dist.all_reduce(packed)
    values = packed.tolist()
    return values[0], dict(zip(names, values[1:]))


class TrainingDiverged(KdSurveyError, FloatingPointError):
    """The loss became NaN or infinite."""


@torch.no_grad()
def evaluate(
    model: nn.Module, test_set, info, device: torch.device, batch_size: int = 1000, speed: Speed | None = None
) -> float:
    """Top-1 accuracy in percent on the whole test split, in eval mode (by default fp32 on CPU, bf16 on CUDA)."""
    was_training = model.training
    model.eval()
    speed = (speed or Speed()).resolve(device)
    correct = total = 0
    for x, y, _ in datamod.batches(
        test_set, info, batch_size, train=False, device=device, channels_last=speed.channels_last,
        host=speed.data_on_device is False,
    ):  # fmt: skip
        with speed.autocast(device):
            logits = model(x)
        correct += int((logits.argmax(dim=1) == y).sum())
        total += len(y)
    model.train(was_training)
    return 100.0 * correct / total


def _interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


def _bar(iterable, show: bool, description: str):
    """tqdm on an interactive terminal only (elsewhere `fit` logs a line an epoch); off with TQDM_DISABLE."""
    if not show or not _interactive():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=description, leave=False, dynamic_ncols=True)


# -- checkpoints ------------------------------------------------------------------------------


def save_checkpoint(path: Path, method: Method, optimizer, epochs_done: int, history, fingerprint: str) -> None:
    """Write atomically, so a run killed mid-write keeps the previous checkpoint."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "fingerprint": fingerprint,
        "epochs_done": epochs_done,
        "method": method.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": history,
    }
    write_atomic(path, lambda tmp: torch.save(state, tmp))


def read_checkpoint(path: Path, fingerprint: str) -> dict | None:
    """The checkpoint's state, None when there is none; refused when unreadable or from another run."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} cannot be read ({reason}); delete it to start over") from None
    if (
        not isinstance(state, dict)
        or state.get("format") != CHECKPOINT_FORMAT
        or state.get("fingerprint") != fingerprint
    ):
        raise CheckpointError(
            f"checkpoint {path} belongs to a different run (its configuration differs); delete it to start over"
        )
    return state


class CheckpointError(KdSurveyError):
    """A checkpoint that cannot be resumed from."""
