"""Hinton KD: cross-entropy mixed with the temperature-softened KL to a frozen teacher.

Weights as in RepDistiller's CIFAR-100 recipe: 0.1 CE + 0.9 KD at T = 4.
"""

from __future__ import annotations

from kdsurvey.distill.losses import kd_loss
from kdsurvey.distill.methods._registry import register
from kdsurvey.distill.methods.base import Method, cross_entropy
from kdsurvey.distill.options import temperature, weight


@register
class HintonKD(Method):
    name = "hinton_kd"
    title = "Hinton KD (soft targets)"
    knowledge = "response"
    strategy = "offline"
    reference = "hinton2015distilling"
    teacher_outputs_only = True
    option_spec = {"temperature": temperature(4.0), "ce_weight": weight(0.1), "kd_weight": weight(0.9)}

    def forward(self, x, y, index):
        (teacher,) = self.teacher_logits(x, index)[:1]  # teacher first: see Method.teacher_logits
        logits = self.student(x)
        o = self.options
        return logits, {
            "ce": o["ce_weight"] * cross_entropy(logits, y),
            "kd": o["kd_weight"] * kd_loss(logits, teacher, o["temperature"]),
        }
