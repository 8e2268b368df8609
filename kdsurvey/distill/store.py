"""Trained stages on disk: OUT/stages/LABEL.pt (weights) + LABEL.json (result), OUT/checkpoints/LABEL.ckpt.

Files are written to a temporary name and renamed, so a stage is either completely stored or not at all.
A stored file that cannot be read (truncated, empty, foreign, or from another run) is one error naming
the file and what to do; with `retrain=True` it is deleted and the stage trained again.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from kdsurvey.distill.engine import CheckpointError, read_checkpoint
from kdsurvey.distill.experiment import Stage
from kdsurvey.errors import KdSurveyError

RETRAIN_HINT = "rerun with --retrain to train it again, or delete it"


class StoredStageError(KdSurveyError):
    """A stored stage or checkpoint that cannot be used."""


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Store:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def weights(self, stage: Stage) -> Path:
        return self.root / "stages" / f"{stage.label}.pt"

    def result(self, stage: Stage) -> Path:
        return self.root / "stages" / f"{stage.label}.json"

    def checkpoint(self, stage: Stage) -> Path:
        return self.root / "checkpoints" / f"{stage.label}.ckpt"

    def stored(self, stage: Stage) -> bool:
        """Whether `stage` is completely stored: its weights and its result."""
        return self.weights(stage).exists() and self.result(stage).exists()

    def read(self, stage: Stage) -> tuple[dict, dict] | None:
        """(state dict, result) of a stored stage; None when it is not (completely) stored."""
        if not self.stored(stage):
            return None
        weights, result = self.weights(stage), self.result(stage)
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated, empty or not a torch file
            raise StoredStageError(
                f"stored stage {weights} cannot be read ({first_line(exc)}); {RETRAIN_HINT}"
            ) from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise StoredStageError(f"stored stage {weights} holds no state dict; {RETRAIN_HINT}")
        try:
            values = json.loads(result.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoredStageError(
                f"stored stage {result} is not valid JSON ({first_line(exc)}); {RETRAIN_HINT}"
            ) from None
        if not isinstance(values, dict) or values.get("key") != stage.key or "accuracy" not in values:
            raise StoredStageError(
                f"stored stage {result} belongs to another stage or lacks its accuracy; {RETRAIN_HINT}"
            )
        return state, values

    def verify(self, stage: Stage, retrain: bool = False) -> None:
        """Check the stage's stored files (weights, result, checkpoint) before any work starts.

        An unreadable one raises StoredStageError; with `retrain` it is deleted instead, so the stage trains anew.
        """
        try:
            self.read(stage)
        except StoredStageError:
            if not retrain:
                raise
            self.weights(stage).unlink(missing_ok=True)
            self.result(stage).unlink(missing_ok=True)
        try:
            read_checkpoint(self.checkpoint(stage), stage.key)
        except CheckpointError as exc:
            if not retrain:
                raise StoredStageError(f"{first_line(exc)}; {RETRAIN_HINT}") from None
            self.checkpoint(stage).unlink(missing_ok=True)
