"""Response-based knowledge: the student matches the teacher's softened class distribution."""

from __future__ import annotations

import torch
from torch import Tensor

from kdsurvey.distill.losses import _checks


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 4.0) -> Tensor:
    """Hinton KD (`hinton2015distilling`): T^2 * mean_n KL(softmax(t_n / T) || softmax(s_n / T)).

    Softening by T > 1 exposes the teacher's relative probabilities of the wrong classes ("dark
    knowledge"); the T^2 factor keeps the gradient scale independent of T, so that the term can be
    mixed with cross-entropy at a fixed weight. The value equals RepDistiller's DistillKL (summed KL
    / batch size * T^2). Reduction is the batch mean, so the value does not depend on batch size.

    The teacher is a target: its logits are detached, so the student alone receives gradient even
    when the teacher side still requires grad (an online peer, an ensemble). Computed in float32
    with autocast off, so bf16 inputs give no overflow in the softmax.

    The default T = 4 is RepDistiller's CIFAR-100 setting; the weights of this term and of
    cross-entropy belong to the method.

    Args:
        student_logits: (N, C) logits.
        teacher_logits: (N, C) logits.
        temperature: T > 0.

    Returns:
        A 0-dim float32 tensor.
    """
    _checks.logits_pair(student_logits, teacher_logits, ("student_logits", "teacher_logits"))
    t = _checks.temperature(temperature)
    with _checks.float32(student_logits.device):
        log_p_s = torch.log_softmax(student_logits.float() / t, dim=1)
        log_p_t = torch.log_softmax(teacher_logits.detach().float() / t, dim=1)
        kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1).mean()
    return kl * (t * t)


def multi_teacher_kd_loss(student_logits: Tensor, teacher_logits, temperature: float = 4.0) -> Tensor:
    """Multi-teacher KD (`you2017learning`): T^2 * mean_n KL(p̄_n || softmax(s_n / T)), where
    p̄_n = (1/K) sum_k softmax(t_kn / T) averages the K teachers' softened outputs.

    Averaging probabilities, not logits, is the paper's "averaged soft targets": a teacher that is
    confidently wrong cannot outvote the others by the size of its logits. With one teacher this is
    exactly `kd_loss`. Teachers are targets (detached); computed in float32.

    Args:
        student_logits: (N, C) logits.
        teacher_logits: a sequence of K >= 1 tensors of shape (N, C).
        temperature: T > 0.
    """
    teachers = _checks.logits_list(teacher_logits, "teacher_logits", at_least=1)
    for i, t_logits in enumerate(teachers):
        _checks.logits_pair(student_logits, t_logits, ("student_logits", f"teacher_logits[{i}]"))
    t = _checks.temperature(temperature)
    with _checks.float32(student_logits.device):
        log_p_s = torch.log_softmax(student_logits.float() / t, dim=1)
        p_bar = torch.stack([torch.softmax(z.detach().float() / t, dim=1) for z in teachers]).mean(dim=0)
        kl = (p_bar * (torch.log(p_bar.clamp_min(1e-30)) - log_p_s)).sum(dim=1).mean()
    return kl * (t * t)
