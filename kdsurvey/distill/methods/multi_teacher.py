"""Multi-teacher KD: Hinton KD towards the average of several teachers' softened outputs."""

from __future__ import annotations

from kdsurvey.distill.losses import multi_teacher_kd_loss
from kdsurvey.distill.methods._registry import register
from kdsurvey.distill.methods.base import Method, cross_entropy
from kdsurvey.distill.options import model_list, temperature, weight
from kdsurvey.distill.roles import TEACHER, Role


@register
class MultiTeacherKD(Method):
    name = "multi_teacher"
    title = "Multi-teacher KD (averaged soft targets)"
    knowledge = "response"
    strategy = "offline"
    reference = "you2017learning"
    teacher_outputs_only = True
    option_spec = {
        "temperature": temperature(4.0),
        "ce_weight": weight(0.1),
        "kd_weight": weight(0.9),
        "extra_teachers": model_list(("cnn_medium",)),  # trained alone, averaged with the teacher
    }

    @classmethod
    def teacher_roles(cls, options):
        return (TEACHER, *(Role(arch) for arch in options["extra_teachers"]))

    def forward(self, x, y, index):
        teachers = self.teacher_logits(x, index)  # teacher first: see Method.teacher_logits
        logits = self.student(x)
        o = self.options
        return logits, {
            "ce": o["ce_weight"] * cross_entropy(logits, y),
            "kd": o["kd_weight"] * multi_teacher_kd_loss(logits, teachers, o["temperature"]),
        }
