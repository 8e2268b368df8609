"""Probabilistic knowledge transfer: match the embeddings' cosine-kernel conditional probabilities.

CE + 30000 x the loss, as in RepDistiller's recipe.
"""

from __future__ import annotations

from kdsurvey.distill.losses import pkt_loss
from kdsurvey.distill.methods._registry import register
from kdsurvey.distill.methods.base import Method, cross_entropy
from kdsurvey.distill.methods.rkd import embeddings
from kdsurvey.distill.options import weight


@register
class ProbabilisticKT(Method):
    name = "pkt"
    title = "Probabilistic knowledge transfer (PKT)"
    knowledge = "relation"
    strategy = "offline"
    reference = "passalis2018learning"
    option_spec = {"pkt_weight": weight(30000.0)}

    def forward(self, x, y, index):
        logits, s, t = embeddings(self, x)
        return logits, {"ce": cross_entropy(logits, y), "pkt": self.options["pkt_weight"] * pkt_loss(s, t)}
