"""Small BatchNorm CNNs that let the default Fashion-MNIST suite train on two CPU cores.

Three stages of conv-BN-ReLU blocks, global average pooling and one linear layer. The first conv
has stride 2: full-resolution 28x28 convolutions cost most of the CPU time for about a point of
accuracy, and the suite runs ~45 trainings in minutes. Between stages a 2x2 max-pool halves the
maps (rounding up, so 7x7 becomes 4x4 and no border row is dropped): 28x28 input gives 14, 7, 4.

Trained alone for 10 epochs on 10,000 Fashion-MNIST images (SGD, one-cycle; test accuracy, 2 seeds):
``cnn_large`` (teacher, 288k parameters, ~4-5 s an epoch on 2 cores) 88.9-89.4%, ``cnn_medium``
(teacher assistant, 70k, ~1.5 s) 88.3%, ``cnn_small`` (student, 14k, ~0.7-0.9 s) 86.2-86.9%.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from kdsurvey.distill.models._layout import GlobalAvgPool, describe
from kdsurvey.distill.models._registry import register_builder
from kdsurvey.distill.models.cifar_resnet import init_weights

# name -> (width of each stage, conv blocks in each stage)
SIZES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "cnn_small": ((12, 24, 48), (1, 1, 1)),
    "cnn_medium": ((16, 32, 64), (1, 2, 2)),
    "cnn_large": ((32, 64, 128), (2, 2, 2)),
}


class ConvBNReLU(nn.Sequential):
    """A bias-free 3x3 convolution (BatchNorm supplies the shift), BatchNorm and ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__(
            OrderedDict(
                conv=nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
                bn=nn.BatchNorm2d(out_channels),
                relu=nn.ReLU(inplace=True),
            )
        )


class SmallCNN(nn.Module):
    """Stages ``stage1..3`` of ``blocks[i]`` conv blocks each, then ``avgpool`` and ``fc``."""

    def __init__(self, widths: tuple[int, ...], blocks: tuple[int, ...], num_classes: int, in_channels: int = 1):
        super().__init__()
        stages = []
        previous = in_channels
        for index, (width, count) in enumerate(zip(widths, blocks)):
            layers: OrderedDict[str, nn.Module] = OrderedDict()
            if index:
                layers["pool"] = nn.MaxPool2d(2, ceil_mode=True)
            for block in range(count):
                stride = 2 if index == 0 and block == 0 else 1
                layers[f"block{block + 1}"] = ConvBNReLU(previous, width, stride)
                previous = width
            stages.append(nn.Sequential(layers))
        self.stage1, self.stage2, self.stage3 = stages
        self.avgpool = GlobalAvgPool()
        self.fc = nn.Linear(previous, num_classes)
        init_weights(self)

    def forward(self, x):
        return self.fc(self.avgpool(self.stage3(self.stage2(self.stage1(x)))))


def _build(widths, blocks, num_classes: int, in_channels: int) -> nn.Module:
    return describe(
        SmallCNN(widths, blocks, num_classes, in_channels),
        sequence=("stage1", "stage2", "stage3", "avgpool", "fc"),
        stage_names=("stage1", "stage2", "stage3"),
        embedding_name="avgpool",
        classifier_name="fc",
    )


for _name, (_widths, _blocks) in SIZES.items():
    register_builder(
        _name,
        f"Small CNN, stage widths {_widths}, conv blocks per stage {_blocks}.",
        lambda num_classes, in_channels, w=_widths, b=_blocks: _build(w, b, num_classes, in_channels),
    )
