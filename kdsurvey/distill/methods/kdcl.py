"""KD via collaborative learning: peers distilled from an ensemble teacher built from all of them.

KDCL-MinLogit by default; the first peer is the reported student.
"""

from __future__ import annotations

from kdsurvey.distill.losses import kdcl_loss
from kdsurvey.distill.losses.online import ENSEMBLES
from kdsurvey.distill.methods._registry import register
from kdsurvey.distill.methods.base import cross_entropy
from kdsurvey.distill.methods.dml import PeerMethod
from kdsurvey.distill.options import choice, integer, model, temperature, weight


@register
class CollaborativeLearning(PeerMethod):
    name = "kdcl"
    title = "KD via collaborative learning (KDCL-MinLogit)"
    knowledge = "response"
    strategy = "online"
    reference = "guo2020online"
    option_spec = {
        "peers": integer(2, minimum=2),
        "peer_arch": model(None),
        "temperature": temperature(2.0),
        "ensemble": choice("min_logit", ENSEMBLES),
        "kd_weight": weight(1.0),
    }

    def forward(self, x, y, index):
        logits = self.peer_logits(x)
        o = self.options
        kd = kdcl_loss(logits, y, temperature=o["temperature"], ensemble=o["ensemble"])
        return logits[0], {"ce": sum(cross_entropy(z, y) for z in logits), "kd": o["kd_weight"] * kd}
