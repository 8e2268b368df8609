"""Relation-based knowledge: the student matches how the teacher relates the samples of a batch.

Both losses compare (N, N) or (N, N, N) structures, so the embedding widths of student and teacher
may differ; embeddings of any shape are flattened to (N, D). The teacher side is detached.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from kdsurvey.distill.losses import _checks


def _embeddings(student: Tensor, teacher: Tensor, at_least: int) -> tuple[Tensor, Tensor]:
    _checks.tensor(student, "student_embedding")
    _checks.tensor(teacher, "teacher_embedding")
    _checks.same_batch(student, teacher, ("student_embedding", "teacher_embedding"))
    if student.shape[0] < at_least:
        raise ValueError(f"a relational loss needs at least {at_least} samples, got a batch of {student.shape[0]}")
    n = student.shape[0]
    return student.float().reshape(n, -1), teacher.detach().float().reshape(n, -1)


def _distances(e: Tensor, eps: float = 1e-12) -> Tensor:
    """Pairwise Euclidean distances via |a|^2 + |b|^2 - 2ab, clamped before the square root, zero diagonal.

    The clamp keeps the square root's gradient finite for coincident points.
    """
    sq = e.pow(2).sum(dim=1)
    d = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * (e @ e.t())).clamp(min=eps).sqrt()
    return d.masked_fill(torch.eye(len(e), dtype=torch.bool, device=e.device), 0.0)


def _normalised_distances(e: Tensor) -> Tensor:
    """Distances divided by their mean over the positive entries, so the scale of the embedding drops out."""
    d = _distances(e)
    return d / d[d > 0].mean()


def _angles(e: Tensor) -> Tensor:
    """cos of the angle at e_i between e_j and e_k, for all (i, j, k), flattened."""
    directions = F.normalize(e.unsqueeze(0) - e.unsqueeze(1), p=2, dim=2)
    return torch.bmm(directions, directions.transpose(1, 2)).flatten()


def rkd_loss(
    student_embedding: Tensor,
    teacher_embedding: Tensor,
    distance_weight: float = 25.0,
    angle_weight: float = 50.0,
) -> Tensor:
    """Relational KD (`park2019relational`), distance and angle terms, as RepDistiller computes it.

    Distance: psi_D(t_i, t_j) = ||t_i - t_j|| / mu with mu the mean over the batch's positive
    distances; loss = smooth L1 (Huber, delta = 1) between the student's and teacher's (N, N)
    matrices, averaged over all entries. Angle: psi_A(t_i, t_j, t_k) = <e_ij, e_kj> with unit
    direction vectors; the same smooth L1 over all N^3 triplets. The defaults 25 and 50 are the
    paper's image-classification weights and RepDistiller's (its metric-learning runs use 1 and 2).

    Args:
        student_embedding: (N, ...) student embeddings, flattened to (N, D_s); N >= 2.
        teacher_embedding: (N, ...) teacher embeddings, flattened to (N, D_t).
        distance_weight: weight of the distance term.
        angle_weight: weight of the angle term.
    """
    s, t = _embeddings(student_embedding, teacher_embedding, at_least=2)
    with _checks.float32(s.device):
        distance = F.smooth_l1_loss(_normalised_distances(s), _normalised_distances(t))
        angle = F.smooth_l1_loss(_angles(s), _angles(t))
    return distance_weight * distance + angle_weight * angle


def _conditional_probabilities(e: Tensor, eps: float) -> Tensor:
    """Cosine-similarity kernel mapped to [0, 1], each row normalised to sum to one: p(j | i)."""
    unit = e / (e.norm(dim=1, keepdim=True) + eps)
    unit = torch.where(torch.isnan(unit), torch.zeros_like(unit), unit)
    kernel = (unit @ unit.t() + 1.0) / 2.0
    return kernel / kernel.sum(dim=1, keepdim=True)


def pkt_loss(student_embedding: Tensor, teacher_embedding: Tensor, eps: float = 1e-7) -> Tensor:
    """Probabilistic knowledge transfer (`passalis2018learning`), as RepDistiller computes it.

    The cosine kernel (cos + 1) / 2 over the batch, row-normalised, gives conditional probabilities
    p(j | i) for teacher and student; loss = mean over all (i, j) of p_t log((p_t + eps) / (p_s + eps)),
    a KL divergence between the two distributions averaged over entries (hence tiny values; the
    method's weight, 30000 in RepDistiller, restores the scale). N >= 2.
    """
    s, t = _embeddings(student_embedding, teacher_embedding, at_least=2)
    with _checks.float32(s.device):
        p_s = _conditional_probabilities(s, eps)
        p_t = _conditional_probabilities(t, eps)
        return (p_t * torch.log((p_t + eps) / (p_s + eps))).mean()
