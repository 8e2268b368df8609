"""Distillation losses as pure functions on tensors: no parameters, no state, no side effects.

Grouped as the survey groups knowledge: response (soft targets), feature (intermediate layers),
relation (structure within a batch), online (peers teaching each other) and self-distillation.
Every loss returns a 0-dim float32 tensor computed with autocast off, detaches its target side,
and raises ValueError on mismatched shapes or a temperature <= 0 (TypeError for arguments of the
wrong type). Weights between terms, regressors, gates and cross-entropy belong to the methods.
"""

from __future__ import annotations

from kdsurvey.distill.losses.feature import attention_loss, hint_loss, similarity_loss
from kdsurvey.distill.losses.online import dml_loss, kdcl_loss, kdcl_teacher, one_ensemble, one_loss
from kdsurvey.distill.losses.relation import pkt_loss, rkd_loss
from kdsurvey.distill.losses.response import kd_loss, multi_teacher_kd_loss
from kdsurvey.distill.losses.self_distillation import byot_loss, cskd_loss

__all__ = [
    "attention_loss",
    "byot_loss",
    "cskd_loss",
    "dml_loss",
    "hint_loss",
    "kd_loss",
    "multi_teacher_kd_loss",
    "kdcl_loss",
    "kdcl_teacher",
    "one_ensemble",
    "one_loss",
    "pkt_loss",
    "rkd_loss",
    "similarity_loss",
]
