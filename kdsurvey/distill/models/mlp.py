"""The fully connected nets of Hinton, Vinyals & Dean (2015), section 3, for 28x28 images (MNIST).

``mlp_1200_1200``: 784-1200-1200-10 ReLU, the paper's teacher, "strongly regularised using dropout":
dropout 0.2 on the input and 0.5 on each hidden layer, the MNIST rates of the dropout paper it cites
(Hinton et al. 2012; section 3 states no rates). The max-norm weight constraint of that paper is not
applied. ``mlp_800_800``: 784-800-800-10 ReLU without regularisation, the paper's small net. Parameter
counts: 2,395,210 and 1,276,810.

Their layout (for hooks and `split`): stages ``input`` (flatten and input dropout), ``hidden1``,
``hidden2``; the embedding is ``hidden2``'s output. Feature-map methods (attention transfer, FitNets)
expect convolutional maps and do not apply to them; response-based ones (Hinton KD, DML, ...) do.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from kdsurvey.distill.models._layout import describe
from kdsurvey.distill.models._registry import register_builder

SIDE = 28  # the image side these nets take (their first layer has in_channels * 28 * 28 inputs)


class MLP(nn.Module):
    def __init__(self, width: int, num_classes: int, in_channels: int, input_dropout: float, dropout: float):
        super().__init__()
        self.input = nn.Sequential(OrderedDict(flatten=nn.Flatten(1), dropout=nn.Dropout(input_dropout)))
        layers = []
        for previous in (in_channels * SIDE * SIDE, width):
            layers.append(nn.Sequential(OrderedDict(
                fc=nn.Linear(previous, width), relu=nn.ReLU(inplace=True), dropout=nn.Dropout(dropout)
            )))  # fmt: skip
        self.hidden1, self.hidden2 = layers
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        if x.shape[-2:] != (SIDE, SIDE):
            raise ValueError(f"these nets take {SIDE}x{SIDE} images, got {tuple(x.shape[-2:])}")
        return self.fc(self.hidden2(self.hidden1(self.input(x))))


def _build(width: int, input_dropout: float, dropout: float, num_classes: int, in_channels: int) -> nn.Module:
    return describe(
        MLP(width, num_classes, in_channels, input_dropout, dropout),
        sequence=("input", "hidden1", "hidden2", "fc"),
        stage_names=("input", "hidden1", "hidden2"),
        embedding_name="hidden2",
        classifier_name="fc",
    )


register_builder(
    "mlp_1200_1200",
    "Hinton et al. (2015)'s MNIST teacher: 784-1200-1200-10 ReLU, dropout 0.2 (input) and 0.5 (hidden).",
    lambda num_classes, in_channels: _build(1200, 0.2, 0.5, num_classes, in_channels),
)
register_builder(
    "mlp_800_800",
    "Hinton et al. (2015)'s small MNIST net: 784-800-800-10 ReLU, no regularisation.",
    lambda num_classes, in_channels: _build(800, 0.0, 0.0, num_classes, in_channels),
)
