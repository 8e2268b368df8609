"""Teacher-assistant KD: Hinton KD from an assistant that was itself distilled from the teacher.

The loss is Hinton KD's; what differs is the teacher it receives, which the runner's plan builds as
teacher -> assistant (KD) -> student (Mirzadeh et al. 2020).
"""

from __future__ import annotations

from kdsurvey.distill.methods._registry import register
from kdsurvey.distill.methods.kd import HintonKD


@register
class TeacherAssistantKD(HintonKD):
    name = "takd"
    title = "Teacher-assistant KD"
    reference = "mirzadeh2020improved"
