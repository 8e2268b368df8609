"""FitNets: a regressor maps the student's guided layer onto the teacher's hint layer (MSE).

Single-stage as in RepDistiller's CIFAR-100 recipe (CE + 100 x hint loss, no KD term), with the hint
taken at the end of the middle stage of both networks.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from kdsurvey.distill.losses import hint_loss
from kdsurvey.distill.methods._registry import register
from kdsurvey.distill.methods.base import Method, cross_entropy, probe_shapes
from kdsurvey.distill.models import capture
from kdsurvey.distill.options import integer, weight


class Regressor(nn.Module):
    """1x1 convolution + BatchNorm + ReLU from student channels to teacher channels, resized if needed."""

    def __init__(self, student_shape, teacher_shape):
        super().__init__()
        self.size = tuple(teacher_shape[-2:])
        self.body = nn.Sequential(
            nn.Conv2d(student_shape[1], teacher_shape[1], kernel_size=1, bias=False),
            nn.BatchNorm2d(teacher_shape[1]),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        if tuple(x.shape[-2:]) != self.size:
            x = F.adaptive_avg_pool2d(x, self.size)
        return self.body(x)


@register
class FitNets(Method):
    name = "fitnets"
    title = "FitNets (hints)"
    knowledge = "feature"
    strategy = "offline"
    reference = "romero2015fitnets"
    option_spec = {
        "hint_weight": weight(100.0),
        "stage": integer(1, minimum=0, maximum=2),
    }  # every model has >= 3 stages

    def __init__(self, student, teachers=(), sample=None, make_model=None, **options):
        super().__init__(student, teachers, sample, make_model, **options)
        stage = self.options["stage"]
        self.student_layer = student.stage_names[stage]
        self.teacher_layer = self.teachers[0].stage_names[stage]
        s = probe_shapes(student, [self.student_layer], sample)[self.student_layer]
        t = probe_shapes(self.teachers[0], [self.teacher_layer], sample)[self.teacher_layer]
        self.regressor = Regressor(s, t)

    def forward(self, x, y, index):
        with capture(self.teachers[0], [self.teacher_layer]) as t:
            self.teacher_logits(x)
        with capture(self.student, [self.student_layer]) as s:
            logits = self.student(x)
        hint = hint_loss(self.regressor(s[self.student_layer]), t[self.teacher_layer])
        return logits, {"ce": cross_entropy(logits, y), "hint": self.options["hint_weight"] * hint}
