"""Self-distillation: a network teaches itself, from its deepest exit or from other samples of a class."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from kdsurvey.distill.losses import _checks
from kdsurvey.distill.losses.response import kd_loss


def _features(values, count: int, batch: int) -> list[Tensor]:
    if isinstance(values, Tensor) or not isinstance(values, Sequence):
        raise TypeError(f"exit_features must be a sequence (list or tuple) of tensors, got {type(values).__name__}")
    features = list(values)
    if len(features) != count:
        raise ValueError(f"exit_features has {len(features)} entries but exit_logits has {count}; give one per exit")
    deepest = len(features) - 1
    for i, f in enumerate(features):
        _checks.same_shape(f, features[deepest], (f"exit_features[{i}]", f"exit_features[{deepest}] (deepest)"))
    if features[0].shape[0] != batch:
        raise ValueError(f"batch sizes differ: exit_features have {features[0].shape[0]} samples, exit_logits {batch}")
    return features


def byot_loss(
    exit_logits: Sequence[Tensor],
    exit_features: Sequence[Tensor],
    temperature: float = 3.0,
    feature_weight: float = 0.03,
) -> Tensor:
    """Be Your Own Teacher (`zhang2019your`): the deepest exit teaches every shallower one.

    With the last entry the deepest classifier C (logits q_C, feature F_C), returns

        sum_{i < C} [ T^2 KL(softmax(q_C / T) || softmax(q_i / T)) + feature_weight * mean_n ||F_i - F_C||_2^2 ]

    with q_C and F_C detached (the deepest exit is the target, as in Self-KD-Lib's BYOT and the
    authors' code). The squared L2 distance is summed over each sample's feature elements and
    averaged over the batch. The shallow features must already have the deepest feature's shape:
    the bottleneck / adaptation layers that map them belong to the method.

    The paper's objective is sum_i [(1 - alpha) CE(q_i, y) + alpha KL(q_C || q_i) + lambda
    ||F_i - F_C||^2]. The defaults are the authors' released code's (ArchipLab-LinfengZhang/
    pytorch-self-distillation-final): alpha = 0.3, lambda = 0.03, T = 3 (its lambda multiplies an
    unsquared norm over the whole batch, so the feature scales differ). Self-KD-Lib instead uses
    T = 4, weight 1 on both CE and KD, and 0.05 on an elementwise-mean feature term. Cross-entropy
    and the alpha mixing are the method's; the paper's total is
    (1 - alpha) sum_i CE_i + alpha * byot_loss(..., feature_weight=lambda / alpha).
    The T^2 factor (absent from the authors' code) keeps the KD gradient scale independent of T.

    Args:
        exit_logits: (N, C) logits of each exit, shallowest first, deepest last; at least 2.
        exit_features: one feature tensor per exit, in the same order, all of the deepest's shape.
        temperature: T > 0.
        feature_weight: weight of the feature term (>= 0; 0 switches it off).
    """
    logits = _checks.logits_list(exit_logits, "exit_logits", at_least=2)
    features = _features(exit_features, len(logits), logits[0].shape[0])
    if isinstance(feature_weight, bool) or not isinstance(feature_weight, (int, float)) or not feature_weight >= 0:
        raise ValueError(f"feature_weight must be a number >= 0, got {feature_weight!r}")
    teacher_logits, teacher_feature = logits[-1], features[-1].detach().float()
    total = 0.0
    with _checks.float32(teacher_logits.device):
        for z, f in zip(logits[:-1], features[:-1]):
            hint = (f.float() - teacher_feature).pow(2).reshape(len(f), -1).sum(dim=1).mean()
            total = total + kd_loss(z, teacher_logits, temperature) + feature_weight * hint
    return total


def cskd_loss(logits: Tensor, paired_logits: Tensor, temperature: float = 4.0) -> Tensor:
    """Class-wise self-KD (`yun2020regularizing`): T^2 mean_n KL(p(y | x'_n; T) || p(y | x_n; T)).

    x'_n is another training sample of x_n's class; matching their predictive distributions
    penalises disagreement within a class, which curbs over-confident predictions. The prediction on
    x' is detached (the paper's tilde-theta: a fixed copy of the parameters), so only p(y | x)
    receives gradient. T = 4 (with weight lambda_cls = 1) is the paper's setting and Self-KD-Lib's;
    the weight and the cross-entropy on x are the method's.

    Args:
        logits: (N, C) logits for the samples x.
        paired_logits: (N, C) logits for the paired samples x' (same classes, same order).
        temperature: T > 0.
    """
    _checks.logits_pair(logits, paired_logits, ("logits", "paired_logits"))
    return kd_loss(logits, paired_logits, temperature)
