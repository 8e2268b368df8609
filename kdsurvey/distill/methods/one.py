"""ONE: one network with several branches on a shared trunk; their gated ensemble teaches each branch.

The student's own head is branch 0, so the reported student is the plain student network (one branch,
the deployed size); extra branches are re-initialised copies of its last stage and classifier. The
gate is a linear layer with softmax on the trunk's pooled output. CE on every branch and on the
ensemble, plus the KL term at T = 3 (Lan et al. 2018).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from kdsurvey.distill.losses import one_ensemble, one_loss
from kdsurvey.distill.methods._registry import register
from kdsurvey.distill.methods.base import Method, cross_entropy
from kdsurvey.distill.models import split
from kdsurvey.distill.options import integer, temperature, weight


def fresh_copy(module: nn.Module) -> nn.Module:
    """A copy with newly drawn weights: identical branches would receive identical gradients forever."""
    clone = copy.deepcopy(module)
    for m in clone.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif hasattr(m, "reset_parameters") and m is not clone:
            m.reset_parameters()
    return clone


@torch.no_grad()
def probe_trunk(trunk: nn.Module, sample) -> int:
    """Channels of the trunk's output, probed in eval mode so BatchNorm statistics stay untouched."""
    was_training = trunk.training
    trunk.eval()
    channels = trunk(sample[:2]).shape[1]
    trunk.train(was_training)
    return channels


class Ensemble(nn.Module):
    """The gated ensemble as a plain classifier, so that it can be evaluated like any model."""

    def __init__(self, method: OnTheFlyEnsemble):
        super().__init__()
        self.method = [method]  # a list, so the method is not registered as a child twice

    def forward(self, x):
        branch_logits, gate = self.method[0].branches_and_gate(x)
        return one_ensemble(branch_logits, gate)


@register
class OnTheFlyEnsemble(Method):
    name = "one"
    title = "On-the-fly native ensemble (ONE)"
    knowledge = "response"
    strategy = "online"
    reference = "lan2018knowledge"
    option_spec = {"branches": integer(3, minimum=2), "temperature": temperature(3.0), "kd_weight": weight(1.0)}

    def __init__(self, student, teachers=(), sample=None, make_model=None, **options):
        super().__init__(student, teachers, sample, make_model, **options)
        count = self.options["branches"]
        self.trunk, head = split(student)
        self.extra_heads = nn.ModuleList(fresh_copy(head) for _ in range(count - 1))
        self.heads = [head]  # branch 0 is the student's own head, registered under `student`
        channels = probe_trunk(self.trunk, sample)
        self.gate = nn.Linear(channels, count)

    def branches_and_gate(self, x):
        shared = self.trunk(x)
        logits = [head(shared) for head in self.heads + list(self.extra_heads)]
        gate = torch.softmax(self.gate(shared.float().mean(dim=(2, 3))), dim=1)
        return logits, gate

    def evaluated(self):
        return {"student": self.student, "ensemble": Ensemble(self)}

    def forward(self, x, y, index):
        logits, gate = self.branches_and_gate(x)
        o = self.options
        ensemble = one_ensemble(logits, gate)
        return logits[0], {
            "ce": sum(cross_entropy(z, y) for z in logits) + cross_entropy(ensemble, y),
            "kd": o["kd_weight"] * one_loss(logits, gate, o["temperature"]),
        }
