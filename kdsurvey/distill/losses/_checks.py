"""Argument checks shared by the losses, and the float32 guard they compute under.

A loss that silently broadcasts a (N, C) tensor against a (M, C) one, or softens by a zero
temperature, trains on garbage; each check fails early with a message naming the argument.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import torch
from torch import Tensor


def tensor(value, name: str) -> Tensor:
    """`value` itself, or TypeError unless it is a floating-point tensor with a non-empty batch."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if value.dim() == 0 or value.shape[0] == 0:
        raise ValueError(f"{name} must have a non-empty batch dimension, got shape {tuple(value.shape)}")
    return value


def temperature(value) -> float:
    """The temperature as a float, or ValueError unless it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"temperature must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {value!r}")
    return float(value)


def same_batch(a: Tensor, b: Tensor, names: tuple[str, str]) -> None:
    """ValueError unless both tensors hold the same number of samples."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"batch sizes differ: {names[0]} has {a.shape[0]} samples, {names[1]} has {b.shape[0]}")


def logits_pair(student: Tensor, teacher: Tensor, names: tuple[str, str]) -> None:
    """ValueError unless both are (N, C) logits with the same N and the same C."""
    tensor(student, names[0])
    tensor(teacher, names[1])
    for t, name in ((student, names[0]), (teacher, names[1])):
        if t.dim() != 2:
            raise ValueError(f"{name} must be (batch, classes) logits, got shape {tuple(t.shape)}")
    same_batch(student, teacher, names)
    if student.shape[1] != teacher.shape[1]:
        raise ValueError(
            f"class counts differ: {names[0]} has {student.shape[1]} classes, {names[1]} has {teacher.shape[1]}"
        )


def same_shape(student: Tensor, teacher: Tensor, names: tuple[str, str]) -> None:
    """ValueError unless both tensors have exactly the same shape (batch first)."""
    tensor(student, names[0])
    tensor(teacher, names[1])
    same_batch(student, teacher, names)
    if student.shape != teacher.shape:
        raise ValueError(f"shapes differ: {names[0]} is {tuple(student.shape)}, {names[1]} is {tuple(teacher.shape)}")


def logits_list(values, name: str, at_least: int) -> list[Tensor]:
    """The sequence as a list of same-shaped (N, C) logits, or an error naming the offending entry."""
    if isinstance(values, Tensor) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence (list or tuple) of tensors, got {type(values).__name__}")
    items = list(values)
    if len(items) < at_least:
        raise ValueError(f"{name} needs at least {at_least} entries, got {len(items)}")
    first = f"{name}[0]"
    for i, item in enumerate(items):
        logits_pair(items[0], item, (first, f"{name}[{i}]"))
    return items


def labels(value, logits: Tensor, name: str = "labels") -> Tensor:
    """Integer class labels of shape (N,) matching (N, C) logits; ValueError when out of range."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of class indices, got dtype {value.dtype}")
    if value.dim() != 1 or value.shape[0] != logits.shape[0]:
        raise ValueError(f"{name} must have shape ({logits.shape[0]},), got {tuple(value.shape)}")
    if value.numel() and (int(value.min()) < 0 or int(value.max()) >= logits.shape[1]):
        raise ValueError(f"{name} must lie in [0, {logits.shape[1] - 1}], got values in [{value.min()}, {value.max()}]")
    return value.long()


def float32(device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast switched off on `device`: inside, `.float()` tensors stay float32 even through matmuls."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()
