"""The CIFAR ResNets of the CRD benchmark (Tian et al., 2020), layer for layer, so parameter counts match.

A 3x3 stem, three stages of basic blocks (a 1x1 conv + BN shortcut where the stride or width changes),
global average pooling (any input size) and one linear layer. Module names are the benchmark's
(conv1, bn1, layer1..3, fc), so state-dict keys match its checkpoints.
"""

from __future__ import annotations

from torch import nn

from kdsurvey.distill.models._layout import GlobalAvgPool, describe
from kdsurvey.distill.models._registry import register_builder

NARROW = (16, 16, 32, 64)  # stem, stage 1, stage 2, stage 3
WIDE = (32, 64, 128, 256)  # the "x4" variants


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN pairs and an identity (or projected) shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class CifarResNet(nn.Module):
    """ResNet-`depth` (depth = 6n + 2) with the given (stem, stage1, stage2, stage3) widths."""

    def __init__(self, depth: int, widths: tuple[int, int, int, int], num_classes: int, in_channels: int = 3):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"a CIFAR ResNet needs depth = 6n + 2, not {depth}")
        blocks = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _stage(widths[0], widths[1], blocks, stride=1)
        self.layer2 = _stage(widths[1], widths[2], blocks, stride=2)
        self.layer3 = _stage(widths[2], widths[3], blocks, stride=2)
        self.avgpool = GlobalAvgPool()
        self.fc = nn.Linear(widths[3], num_classes)
        init_weights(self)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x))


def _stage(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [BasicBlock(in_planes, planes, stride)]
    layers += [BasicBlock(planes, planes, 1) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def init_weights(model: nn.Module) -> None:
    """Kaiming-normal convs, unit BN: deterministic under `torch.manual_seed`, as the benchmark initialises."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _build(depth: int, widths: tuple[int, int, int, int], num_classes: int, in_channels: int) -> nn.Module:
    return describe(
        CifarResNet(depth, widths, num_classes, in_channels),
        sequence=("conv1", "bn1", "relu", "layer1", "layer2", "layer3", "avgpool", "fc"),
        stage_names=("layer1", "layer2", "layer3"),
        embedding_name="avgpool",
        classifier_name="fc",
    )


def _register(name: str, depth: int, widths: tuple[int, int, int, int]) -> None:
    register_builder(
        name,
        f"CIFAR ResNet-{depth} with widths {widths}.",
        lambda num_classes, in_channels: _build(depth, widths, num_classes, in_channels),
    )


for _depth in (8, 14, 20, 32, 44, 56, 110):
    _register(f"resnet{_depth}", _depth, NARROW)
_register("resnet8x4", 8, WIDE)
_register("resnet32x4", 32, WIDE)
