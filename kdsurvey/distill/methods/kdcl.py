"""KD via collaborative learning: peers distilled from an ensemble teacher built from all of them.

KDCL-MinLogit by default; the first peer is the reported student.
"""

from __future__ import annotations

from kdsurvey.distill.losses import kdcl_loss
from kdsurvey.distill.methods._registry import register
from kdsurvey.distill.methods.base import Method, cross_entropy
from kdsurvey.distill.methods.dml import build_peers


@register
class CollaborativeLearning(Method):
    name = "kdcl"
    title = "KD via collaborative learning (KDCL-MinLogit)"
    knowledge = "response"
    strategy = "online"
    reference = "guo2020online"
    defaults = {"peers": 2, "peer_arch": None, "temperature": 2.0, "ensemble": "min_logit", "kd_weight": 1.0}

    def __init__(self, student, teachers=(), sample=None, make_model=None, **options):
        super().__init__(student, teachers, sample, make_model, **options)
        self.others = build_peers(self)

    def evaluated(self):
        return {"student": self.student} | {f"peer{i + 1}": peer for i, peer in enumerate(self.others)}

    def forward(self, x, y, index):
        logits = [self.student(x)] + [peer(x) for peer in self.others]
        o = self.options
        kd = kdcl_loss(logits, y, temperature=o["temperature"], ensemble=o["ensemble"])
        return logits[0], {"ce": sum(cross_entropy(z, y) for z in logits), "kd": o["kd_weight"] * kd}
