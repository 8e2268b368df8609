"""Relational KD: distances and angles between the samples' embeddings (the pooled features).

CE + 1 x (25 x distance + 50 x angle), as in RepDistiller's recipe.
"""

from __future__ import annotations

from kdsurvey.distill.losses import rkd_loss
from kdsurvey.distill.methods._registry import register
from kdsurvey.distill.methods.base import Method, cross_entropy
from kdsurvey.distill.models import capture
from kdsurvey.distill.options import weight


def embeddings(method: Method, x):
    """Student logits and the (student, teacher) pooled embeddings of a batch."""
    student, teacher = method.student, method.teachers[0]
    with capture(teacher, [teacher.embedding_name]) as t:
        method.teacher_logits(x)
    with capture(student, [student.embedding_name]) as s:
        logits = student(x)
    return logits, s[student.embedding_name].flatten(1), t[teacher.embedding_name].flatten(1)


@register
class RelationalKD(Method):
    name = "rkd"
    title = "Relational KD (distance + angle)"
    knowledge = "relation"
    strategy = "offline"
    reference = "park2019relational"
    option_spec = {"rkd_weight": weight(1.0), "distance_weight": weight(25.0), "angle_weight": weight(50.0)}

    def forward(self, x, y, index):
        logits, s, t = embeddings(self, x)
        o = self.options
        rkd = rkd_loss(s, t, distance_weight=o["distance_weight"], angle_weight=o["angle_weight"])
        return logits, {"ce": cross_entropy(logits, y), "rkd": o["rkd_weight"] * rkd}
