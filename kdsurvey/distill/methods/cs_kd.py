"""Class-wise self-KD: a sample's prediction is pulled towards that of another sample of its class.

For every sample the method draws a partner of the same class from the training set (from the
global RNG, which the engine seeds per epoch, so resumed runs draw the same partners), runs both
through the network in one batch, and adds lambda T^2 KL(p(x') || p(x)) with p(x') fixed; lambda = 1,
T = 4 as in the paper.
"""

from __future__ import annotations

import torch

from kdsurvey.distill.losses import cskd_loss
from kdsurvey.distill.methods._registry import register
from kdsurvey.distill.methods.base import Method, cross_entropy
from kdsurvey.distill.options import temperature, weight


def same_class_partners(labels, y, members):
    """For each label in y, a random training index with that label (uniform over the class)."""
    order, starts, counts = members
    pick = (torch.rand(len(y), device=y.device) * counts[y]).long()
    return order[starts[y] + pick]


@register
class ClassWiseSelfKD(Method):
    name = "cs_kd"
    title = "Class-wise self-KD (CS-KD)"
    knowledge = "response"
    strategy = "self"
    reference = "yun2020regularizing"
    option_spec = {"cls_weight": weight(1.0), "temperature": temperature(4.0)}

    _members = None

    def members(self):
        """(training indices sorted by class, start of each class, size of each class), built once."""
        if self._members is None:
            labels = self.context.labels
            order = torch.argsort(labels, stable=True)
            counts = torch.bincount(labels)
            starts = torch.cumsum(counts, 0) - counts
            self._members = (order, starts, counts)
        return self._members

    def forward(self, x, y, index):
        partners = same_class_partners(self.context.labels, y, self.members())
        paired = self.context.prepare(partners)
        logits, partner_logits = self.student(torch.cat([x, paired.to(x.dtype)])).split(len(x))
        o = self.options
        return logits, {
            "ce": cross_entropy(logits, y),
            "cls": o["cls_weight"] * cskd_loss(logits, partner_logits, o["temperature"]),
        }
