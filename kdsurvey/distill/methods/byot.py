"""Be Your Own Teacher: shallow exits on every stage but the last, taught by the network's deepest exit.

Each exit is a 1x1 bottleneck to the deepest embedding's width, pooling and a linear classifier
(removed after training: the reported student is the plain network). The objective is the paper's:
CE on the deepest exit plus, per shallow exit, (1 - alpha) CE + alpha KL(deepest || exit) + lambda
||F_exit - F_deepest||^2, with alpha = 0.3, lambda = 0.03, T = 3 from the authors' code.
"""

from __future__ import annotations

from torch import nn

from kdsurvey.distill.losses import byot_loss
from kdsurvey.distill.methods._registry import register
from kdsurvey.distill.methods.base import Method, cross_entropy, probe_shapes
from kdsurvey.distill.models import capture
from kdsurvey.distill.options import number, temperature, weight


class Exit(nn.Module):
    """A shallow classifier: stage feature map -> embedding of the deepest width -> logits."""

    def __init__(self, channels: int, width: int, num_classes: int):
        super().__init__()
        self.bottleneck = nn.Sequential(
            nn.Conv2d(channels, width, kernel_size=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        )
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, feature):
        embedding = self.bottleneck(feature).mean(dim=(2, 3))
        return self.classifier(embedding), embedding


class _ExitModel(nn.Module):
    """The student up to one stage followed by that stage's exit, evaluated like any classifier."""

    def __init__(self, method: SelfDistillation, index: int):
        super().__init__()
        self.method, self.index = [method], index

    def forward(self, x):
        return self.method[0].exits_forward(x)[0][self.index]


@register
class SelfDistillation(Method):
    name = "byot"
    title = "Be your own teacher (BYOT)"
    knowledge = "response"
    strategy = "self"
    reference = "zhang2019your"
    option_spec = {"alpha": number(0.3, maximum=1.0), "feature_weight": weight(0.03), "temperature": temperature(3.0)}

    def __init__(self, student, teachers=(), sample=None, make_model=None, **options):
        super().__init__(student, teachers, sample, make_model, **options)
        self.stages = list(student.stage_names[:-1])
        shapes = probe_shapes(student, self.stages + [student.embedding_name], sample)
        width = shapes[student.embedding_name][1]
        num_classes = student.get_submodule(student.classifier_name).out_features
        self.exits = nn.ModuleList(Exit(shapes[s][1], width, num_classes) for s in self.stages)

    def exits_forward(self, x):
        """(logits of every exit, embeddings of every exit), shallowest first, the network's own last."""
        names = self.stages + [self.student.embedding_name]
        with capture(self.student, names) as f:
            deepest = self.student(x)
        outs = [head(f[s]) for head, s in zip(self.exits, self.stages)]
        logits = [z for z, _ in outs] + [deepest]
        embeddings = [e for _, e in outs] + [f[self.student.embedding_name].flatten(1)]
        return logits, embeddings

    def evaluated(self):
        exits = {f"exit{i + 1}": _ExitModel(self, i) for i in range(len(self.exits))}
        return {"student": self.student} | exits

    def forward(self, x, y, index):
        logits, embeddings = self.exits_forward(x)
        o = self.options
        alpha = o["alpha"]
        shallow_ce = sum(cross_entropy(z, y) for z in logits[:-1])
        distil = byot_loss(logits, embeddings, o["temperature"], feature_weight=o["feature_weight"] / alpha)
        return logits[-1], {
            "ce": cross_entropy(logits[-1], y) + (1 - alpha) * shallow_ce,
            "self_kd": alpha * distil,
        }
