"""Attention transfer: match the normalised spatial attention maps at the end of every stage.

CE + 1000 x the sum over stage pairs, as in RepDistiller's recipe. Stages are paired from the
deepest down when the two networks have different numbers of stages.
"""

from __future__ import annotations

from kdsurvey.distill.losses import attention_loss
from kdsurvey.distill.methods._registry import register
from kdsurvey.distill.methods.base import Method, cross_entropy
from kdsurvey.distill.models import capture
from kdsurvey.distill.options import integer, weight


def paired_stages(student, teacher) -> list[tuple[str, str]]:
    n = min(len(student.stage_names), len(teacher.stage_names))
    return list(zip(student.stage_names[-n:], teacher.stage_names[-n:]))


@register
class AttentionTransfer(Method):
    name = "attention_transfer"
    title = "Attention transfer"
    knowledge = "feature"
    strategy = "offline"
    reference = "zagoruyko2017paying"
    option_spec = {"at_weight": weight(1000.0), "p": integer(2, minimum=1)}

    def forward(self, x, y, index):
        pairs = paired_stages(self.student, self.teachers[0])
        with capture(self.teachers[0], [t for _, t in pairs]) as t:
            self.teacher_logits(x)
        with capture(self.student, [s for s, _ in pairs]) as s:
            logits = self.student(x)
        at = sum(attention_loss(s[a], t[b], p=self.options["p"]) for a, b in pairs)
        return logits, {"ce": cross_entropy(logits, y), "at": self.options["at_weight"] * at}
