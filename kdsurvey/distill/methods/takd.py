"""Teacher-assistant KD: Hinton KD from an assistant that was itself distilled from the teacher.

The loss is Hinton KD's; what differs is the teacher it receives: its role is the `assistant`
architecture trained by Hinton KD from the experiment's teacher (teacher -> assistant -> student,
Mirzadeh et al. 2020).
"""

from __future__ import annotations

from kdsurvey.distill.methods._registry import register
from kdsurvey.distill.methods.hinton_kd import HintonKD
from kdsurvey.distill.options import model
from kdsurvey.distill.roles import TEACHER, Role


@register
class TeacherAssistantKD(HintonKD):
    name = "takd"
    title = "Teacher-assistant KD"
    reference = "mirzadeh2020improved"
    option_spec = {**HintonKD.option_spec, "assistant": model("cnn_medium")}

    @classmethod
    def teacher_roles(cls, options):
        return (Role(options["assistant"], "hinton_kd", (TEACHER,)),)
