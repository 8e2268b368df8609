"""Online distillation: peers or branches trained together teach each other, with no pre-trained teacher.

Every target built here from the peers' own outputs is detached, so that a peer learns from the
others (or from their ensemble) without the target being pulled towards the learner.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from kdsurvey.distill.losses import _checks
from kdsurvey.distill.losses.response import kd_loss

ENSEMBLES = ("min_logit", "mean")


def dml_loss(peer_logits: Sequence[Tensor], temperature: float = 1.0) -> Tensor:
    """Deep mutual learning (`zhang2018deep`): sum_i mean_{j != i} T^2 KL(p_j || p_i), p_j detached.

    Each peer mimics the others' posteriors; with K > 2 peers the paper averages the K - 1 KL
    terms of a peer. The peers' targets are detached, so peer i receives gradient only through its
    own term and the sum is the total mimicry loss of all peers in one backward pass (as in
    MCL-OKD's DML). The paper uses plain softmax, hence T = 1.

    Args:
        peer_logits: K >= 2 tensors of (N, C) logits.
        temperature: T > 0.
    """
    peers = _checks.logits_list(peer_logits, "peer_logits", at_least=2)
    total = 0.0
    for i, learner in enumerate(peers):
        others = [kd_loss(learner, target, temperature) for j, target in enumerate(peers) if j != i]
        total = total + sum(others) / len(others)
    return total


def _gate(gate, count: int, batch: int) -> Tensor:
    _checks.tensor(gate, "gate")
    if gate.shape != (batch, count):
        raise ValueError(f"gate must have shape ({batch}, {count}) for {count} branches, got {tuple(gate.shape)}")
    with torch.no_grad():
        g = gate.float()
        if bool((g < 0).any()) or not torch.allclose(g.sum(dim=1), torch.ones_like(g[:, 0]), atol=1e-2):
            raise ValueError("gate rows must be non-negative and sum to 1 (apply softmax over the branches)")
    return gate


def one_ensemble(branch_logits: Sequence[Tensor], gate: Tensor) -> Tensor:
    """The ONE teacher (`lan2018knowledge`): z_e = sum_k gate[:, k] * z_k, in float32.

    Not detached: the method puts cross-entropy on it, which trains the gate and the branches.

    Args:
        branch_logits: K >= 2 tensors of (N, C) logits.
        gate: (N, K) non-negative weights whose rows sum to 1 (the method's softmax gate).
    """
    branches = _checks.logits_list(branch_logits, "branch_logits", at_least=2)
    weights = _gate(gate, len(branches), branches[0].shape[0])
    with _checks.float32(branches[0].device):
        stacked = torch.stack([z.float() for z in branches], dim=2)  # (N, C, K)
        return (stacked * weights.float().unsqueeze(1)).sum(dim=2)


def one_loss(branch_logits: Sequence[Tensor], gate: Tensor, temperature: float = 3.0) -> Tensor:
    """ONE distillation (`lan2018knowledge`): sum_k T^2 KL(softmax(z_e / T) || softmax(z_k / T)).

    The gated ensemble z_e of the branches teaches every branch. The teacher is detached. The paper
    writes the loss without saying where gradient stops; the authors' released code builds the
    target from `.data` with requires_grad=False, and MCL-OKD's ONE distils from
    `logits[-1].detach()`. We detach for the same reason: otherwise the KL term would also pull
    the ensemble (and the gate) towards each branch, shrinking the term by degrading the teacher,
    while the ensemble is trained by its own cross-entropy. T = 3 is the paper's and both codes'.

    Args:
        branch_logits: K >= 2 tensors of (N, C) logits.
        gate: (N, K) gate weights, rows summing to 1.
        temperature: T > 0.
    """
    teacher = one_ensemble(branch_logits, gate).detach()
    return sum(kd_loss(z, teacher, temperature) for z in branch_logits)


def kdcl_teacher(peer_logits: Sequence[Tensor], labels: Tensor, ensemble: str = "min_logit") -> Tensor:
    """The KDCL soft-target logits (`guo2020online`), detached, in float32.

    "min_logit" (KDCL-MinLogit): per peer m, z^m - z^m_y (its logits minus its own logit of the
    true class y), then the elementwise minimum over peers. Every peer's true-class entry becomes
    0 and each wrong class takes its largest margin behind y over the peers, so the teacher's
    probability of y is at least every peer's, whatever the temperature.
    "mean" (KDCL-Naive): the average of the peers' logits.

    Args:
        peer_logits: K >= 2 tensors of (N, C) logits.
        labels: (N,) integer class indices (used by "min_logit"; checked in both cases).
        ensemble: "min_logit" or "mean".
    """
    peers = _checks.logits_list(peer_logits, "peer_logits", at_least=2)
    y = _checks.labels(labels, peers[0])
    if ensemble not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {', '.join(map(repr, ENSEMBLES))}, got {ensemble!r}")
    with torch.no_grad(), _checks.float32(peers[0].device):
        stacked = torch.stack([z.detach().float() for z in peers])  # (K, N, C)
        if ensemble == "mean":
            return stacked.mean(dim=0)
        true_class = stacked.gather(2, y.view(1, -1, 1).expand(len(peers), -1, 1))
        return (stacked - true_class).min(dim=0).values


def kdcl_loss(
    peer_logits: Sequence[Tensor], labels: Tensor, temperature: float = 2.0, ensemble: str = "min_logit"
) -> Tensor:
    """KDCL (`guo2020online`): sum_m T^2 KL(softmax(z_t / T) || softmax(z^m / T)), z_t = kdcl_teacher(...).

    All peers are students of one ensemble teacher built from their own logits, which is detached.
    T = 2 follows the paper's experimental set-up; the cross-entropy on each peer is the method's.

    Args:
        peer_logits: K >= 2 tensors of (N, C) logits.
        labels: (N,) integer class indices.
        temperature: T > 0.
        ensemble: "min_logit" (KDCL-MinLogit) or "mean" (KDCL-Naive).
    """
    teacher = kdcl_teacher(peer_logits, labels, ensemble)
    return sum(kd_loss(z, teacher, temperature) for z in peer_logits)
