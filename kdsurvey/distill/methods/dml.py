"""Deep mutual learning: peers trained together, each also matching the others' predictions.

The first peer is the student the tables report; the others are fresh models of `peer_arch`
(default: the student's architecture). T = 1 as in the DML paper.
"""

from __future__ import annotations

from torch import nn

from kdsurvey.distill.losses import dml_loss
from kdsurvey.distill.methods._registry import register
from kdsurvey.distill.methods.base import Method, cross_entropy
from kdsurvey.distill.options import integer, model, temperature, weight
from kdsurvey.errors import UsageError


class PeerMethod(Method):
    """An online method over peers: the student is peer 0, `others` are fresh models of `peer_arch`."""

    def __init__(self, student, teachers=(), sample=None, make_model=None, **options):
        super().__init__(student, teachers, sample, make_model, **options)
        count, arch = self.options["peers"], self.options["peer_arch"]
        if make_model is None:
            raise UsageError(f"method {self.name!r} builds peer models and needs make_model")
        self.others = nn.ModuleList(make_model(arch) for _ in range(count - 1))

    def evaluated(self):
        return {"student": self.student} | {f"peer{i + 1}": peer for i, peer in enumerate(self.others)}

    def peer_logits(self, x):
        return [self.student(x)] + [peer(x) for peer in self.others]


@register
class DeepMutualLearning(PeerMethod):
    name = "dml"
    title = "Deep mutual learning"
    knowledge = "response"
    strategy = "online"
    reference = "zhang2018deep"
    option_spec = {
        "peers": integer(2, minimum=2),
        "peer_arch": model(None),
        "temperature": temperature(1.0),
        "mimicry_weight": weight(1.0),
    }

    def forward(self, x, y, index):
        logits = self.peer_logits(x)
        o = self.options
        return logits[0], {
            "ce": sum(cross_entropy(z, y) for z in logits),
            "mimicry": o["mimicry_weight"] * dml_loss(logits, o["temperature"]),
        }
