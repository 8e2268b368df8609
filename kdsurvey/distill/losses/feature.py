"""Feature-based knowledge: the student matches what the teacher's intermediate layers compute.

Each loss takes one (student, teacher) layer pair; summing over layer pairs, any regressor or
connector between the two, and the weight of the term belong to the method. The teacher side is a
target and is detached.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from kdsurvey.distill.losses import _checks


def hint_loss(student_feature: Tensor, teacher_feature: Tensor) -> Tensor:
    """FitNets hint (`romero2015fitnets`): mean over all elements of (r(s) - t)^2.

    The thin student is guided by the teacher's middle layer before it is trained on the task. The
    regressor r that maps the student's guided layer to the teacher's hint shape belongs to the
    method, so both arguments here must have the same shape. The paper writes 1/2 ||t - r(s)||^2;
    the elementwise mean (RepDistiller's nn.MSELoss) keeps the scale independent of layer size.
    """
    _checks.same_shape(student_feature, teacher_feature, ("student_feature", "teacher_feature"))
    with _checks.float32(student_feature.device):
        return (student_feature.float() - teacher_feature.detach().float()).pow(2).mean()


def _attention_map(feature: Tensor, p: float) -> Tensor:
    """Channel mean of |f|^p, flattened per sample and L2-normalised: where the layer "looks"."""
    return F.normalize(feature.abs().pow(p).mean(dim=1).flatten(1), dim=1)


def attention_loss(student_feature: Tensor, teacher_feature: Tensor, p: float = 2) -> Tensor:
    """Attention transfer (`zagoruyko2017paying`) for one layer pair, as RepDistiller computes it.

    Q = normalize(vec(mean_c |f_c|^p)); loss = mean over batch and positions of (Q_s - Q_t)^2.
    Only the spatial map is compared, so the channel counts may differ. When the spatial sizes
    differ, the larger map is adaptive-average-pooled to the smaller before the attention maps are
    taken (RepDistiller pools to the smaller height; we pool height and width independently, which
    is the same for square maps). The paper uses p = 2; the weight of the term (RepDistiller:
    beta = 1000) is the method's. The paper's per-layer term is the (unsquared) p-norm of the
    difference; RepDistiller's mean squared difference is what is implemented here.

    Args:
        student_feature: (N, C_s, H_s, W_s).
        teacher_feature: (N, C_t, H_t, W_t).
        p: exponent of the attention map, > 0.
    """
    _checks.tensor(student_feature, "student_feature")
    _checks.tensor(teacher_feature, "teacher_feature")
    for f, name in ((student_feature, "student_feature"), (teacher_feature, "teacher_feature")):
        if f.dim() != 4:
            raise ValueError(f"{name} must be a (batch, channels, height, width) map, got shape {tuple(f.shape)}")
    _checks.same_batch(student_feature, teacher_feature, ("student_feature", "teacher_feature"))
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not p > 0:
        raise ValueError(f"p must be a number > 0, got {p!r}")
    size = (
        min(student_feature.shape[2], teacher_feature.shape[2]),
        min(student_feature.shape[3], teacher_feature.shape[3]),
    )
    with _checks.float32(student_feature.device):
        s, t = student_feature.float(), teacher_feature.detach().float()
        if s.shape[2:] != size:
            s = F.adaptive_avg_pool2d(s, size)
        if t.shape[2:] != size:
            t = F.adaptive_avg_pool2d(t, size)
        return (_attention_map(s, p) - _attention_map(t, p)).pow(2).mean()


def _row_normalised_gram(feature: Tensor) -> Tensor:
    """The (N, N) batch Gram matrix of the flattened features, each row scaled to unit L2 norm."""
    flat = feature.reshape(len(feature), -1)
    return F.normalize(flat @ flat.t(), dim=1)


def similarity_loss(student_feature: Tensor, teacher_feature: Tensor) -> Tensor:
    """Similarity-preserving KD (`tung2019similarity`) for one layer pair, as RepDistiller computes it.

    Inputs that the teacher finds similar should be similar for the student too: with
    G = row-normalise(F F^T) over the flattened batch features, loss = ||G_t - G_s||_F^2 / N^2.
    Only (N, N) matrices are compared, so the feature shapes may differ. The weight of the term
    (RepDistiller: gamma = 3000) is the method's.
    """
    _checks.tensor(student_feature, "student_feature")
    _checks.tensor(teacher_feature, "teacher_feature")
    _checks.same_batch(student_feature, teacher_feature, ("student_feature", "teacher_feature"))
    n = student_feature.shape[0]
    with _checks.float32(student_feature.device):
        g_s = _row_normalised_gram(student_feature.float())
        g_t = _row_normalised_gram(teacher_feature.detach().float())
        return (g_t - g_s).pow(2).sum() / (n * n)
