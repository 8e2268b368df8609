"""The training loop shared by every method: offline, online and self-distillation alike.

One loop fits all because a method's forward returns (logits, named losses) and owns whatever it
trains. The loop adds what every run needs: a per-epoch seed (so a resumed run replays the same
batches and augmentations), an atomic checkpoint after every epoch that a restarted run resumes
from, bf16 autocast and channels_last on CUDA (the CPU path stays fp32 and deterministic),
DistributedDataParallel when launched by torchrun, and a progress bar only on a terminal.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from kdsurvey.distill import data as datamod
from kdsurvey.distill.methods import Method
from kdsurvey.distill.recipe import Recipe
from kdsurvey.errors import KdSurveyError, UsageError

CHECKPOINT_FORMAT = 1


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
    except RuntimeError as exc:
        raise UsageError(f"unknown device {name!r}; use auto, cpu or cuda[:N]") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {name!r} asked for, but torch sees no CUDA device; use --device cpu or auto")
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"device {name!r} is not supported; use auto, cpu or cuda[:N]")
    return device


def epoch_seed(seed: int, epoch: int) -> int:
    """The global RNG seed at the start of an epoch: a pure function of (seed, epoch)."""
    return (int(seed) * 1_000_003 + int(epoch) * 7919 + 17) % (2**63 - 1)


def world() -> tuple[int, int]:
    """(rank, world size): (0, 1) unless a process group is running."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


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
) -> Fit:
    """Train `method` for `recipe.epochs` and evaluate its models on the test split.

    With `checkpoint`, the state after each epoch is written there atomically and a later call with
    the same `fingerprint` resumes after the last finished epoch; a checkpoint with another
    fingerprint is refused rather than silently mixed into a different run.
    """
    rank, size = world()
    if recipe.batch_size % size:
        raise UsageError(f"batch size {recipe.batch_size} does not split evenly over {size} processes")
    cuda = device.type == "cuda"
    method.to(device)
    if cuda:
        method.to(memory_format=torch.channels_last)
    train_set, info = splits.train.to(device), splits.info
    method.context.labels = train_set.labels
    params = [p for p in method.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay, nesterov=recipe.nesterov
    )
    start, history = 0, []
    if checkpoint is not None and checkpoint.exists():
        start, history = load_checkpoint(checkpoint, method, optimizer, fingerprint)
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
            train_set, info, recipe.batch_size // size, train=True, seed=seed, epoch=epoch,
            device=device, rank=rank, world_size=size, channels_last=cuda,
        )  # fmt: skip
        method.context.prepare = loader.prepare  # the same augmentation for extra samples (CS-KD partners)
        for x, y, index in _bar(loader, progress and rank == 0, f"epoch {epoch + 1}/{recipe.epochs}"):
            with torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext():
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
        history.append({"epoch": epoch + 1, "lr": recipe.lr_at(epoch)} | {k: v / seen for k, v in totals.items()})
        if checkpoint is not None and rank == 0:
            save_checkpoint(checkpoint, method, optimizer, epoch + 1, history, fingerprint)
        if size > 1:
            dist.barrier()
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)
    wall = time.perf_counter() - began
    accuracy = {
        name: evaluate(m, splits.test, info, device, recipe.eval_batch_size) for name, m in method.evaluated().items()
    }
    return Fit(accuracy, history, wall, start)


class TrainingDiverged(KdSurveyError, FloatingPointError):
    """The loss became NaN or infinite."""


@torch.no_grad()
def evaluate(model: nn.Module, test_set, info, device: torch.device, batch_size: int = 1000) -> float:
    """Top-1 accuracy in percent on the whole test split, in eval mode (fp32 on CPU, bf16 on CUDA)."""
    was_training = model.training
    model.eval()
    cuda = device.type == "cuda"
    correct = total = 0
    for x, y, _ in datamod.batches(test_set, info, batch_size, train=False, device=device, channels_last=cuda):
        with torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext():
            logits = model(x)
        correct += int((logits.argmax(dim=1) == y).sum())
        total += len(y)
    model.train(was_training)
    return 100.0 * correct / total


def _bar(iterable, show: bool, description: str):
    """tqdm on an interactive terminal only: quiet in CI, in pipes and when TQDM_DISABLE is set."""
    if not show or not sys.stderr.isatty() or os.environ.get("CI"):
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=description, leave=False, dynamic_ncols=True)


# -- checkpoints ------------------------------------------------------------------------------


def save_checkpoint(path: Path, method: Method, optimizer, epochs_done: int, history, fingerprint: str) -> None:
    """Write atomically (temporary file + rename), so a run killed mid-write keeps the previous one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": CHECKPOINT_FORMAT,
        "fingerprint": fingerprint,
        "epochs_done": epochs_done,
        "method": method.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": history,
    }
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, method: Method, optimizer, fingerprint: str) -> tuple[int, list]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        raise CheckpointError(f"checkpoint {path} cannot be read ({exc}); delete it to start over") from exc
    if state.get("format") != CHECKPOINT_FORMAT or state.get("fingerprint") != fingerprint:
        raise CheckpointError(
            f"checkpoint {path} belongs to a different run (its configuration differs); delete it to start over"
        )
    method.load_state_dict(state["method"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["epochs_done"]), list(state["history"])


class CheckpointError(KdSurveyError):
    """A checkpoint that cannot be resumed from."""
