"""Similarity-preserving KD: match the batch's pairwise-similarity (Gram) matrices of the last stage.

CE + 3000 x the loss, as in RepDistiller's recipe.
"""

from __future__ import annotations

from kdsurvey.distill.losses import similarity_loss
from kdsurvey.distill.methods._registry import register
from kdsurvey.distill.methods.base import Method, cross_entropy
from kdsurvey.distill.models import capture
from kdsurvey.distill.options import weight


@register
class SimilarityPreserving(Method):
    name = "similarity_preserving"
    title = "Similarity-preserving KD"
    knowledge = "relation"
    strategy = "offline"
    reference = "tung2019similarity"
    option_spec = {"sp_weight": weight(3000.0)}

    def forward(self, x, y, index):
        s_name, t_name = self.student.stage_names[-1], self.teachers[0].stage_names[-1]
        with capture(self.teachers[0], [t_name]) as t:
            self.teacher_logits(x)
        with capture(self.student, [s_name]) as s:
            logits = self.student(x)
        sp = similarity_loss(s[s_name], t[t_name])
        return logits, {"ce": cross_entropy(logits, y), "sp": self.options["sp_weight"] * sp}
