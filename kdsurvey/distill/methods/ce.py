"""Cross-entropy alone: how the teacher and the baseline student are trained."""

from __future__ import annotations

from kdsurvey.distill.methods._registry import register
from kdsurvey.distill.methods.base import Method, cross_entropy


@register
class CrossEntropy(Method):
    name = "ce"
    title = "Cross-entropy only (teacher, baseline)"
    knowledge = "none"
    strategy = "none"

    def forward(self, x, y, index):
        logits = self.student(x)
        return logits, {"ce": cross_entropy(logits, y)}
