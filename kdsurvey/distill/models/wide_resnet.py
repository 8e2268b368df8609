"""Wide ResNets WRN-d-k (Zagoruyko & Komodakis, 2016) as the CRD benchmark uses them, dropout 0.

Pre-activation blocks (BN-ReLU before each conv), widths 16, 16k, 32k, 64k, and a final BN-ReLU
before pooling. Module names are the benchmark's (conv1, block1..3.layer, bn1, fc), so state-dict
keys match its checkpoints.
"""

from __future__ import annotations

import math

from torch import nn

from kdsurvey.distill.models._layout import GlobalAvgPool, describe
from kdsurvey.distill.models._registry import register_builder


class PreActBlock(nn.Module):
    """BN-ReLU-conv twice; a 1x1 conv shortcut, fed the pre-activated input, when the width changes."""

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.equal_in_out = in_planes == planes
        self.convShortcut = None
        if not self.equal_in_out:
            self.convShortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x):
        pre = self.relu1(self.bn1(x))
        out = self.conv2(self.relu2(self.bn2(self.conv1(pre))))
        shortcut = x if self.equal_in_out else self.convShortcut(pre)
        return out + shortcut


class NetworkBlock(nn.Module):
    """One stage: `blocks` pre-activation blocks, the first one carrying the stride."""

    def __init__(self, blocks: int, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.layer = nn.Sequential(
            *(PreActBlock(in_planes if i == 0 else planes, planes, stride if i == 0 else 1) for i in range(blocks))
        )

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    """WRN-`depth`-`widen` (depth = 6n + 4)."""

    def __init__(self, depth: int, widen: int, num_classes: int, in_channels: int = 3):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"a wide ResNet needs depth = 6n + 4, not {depth}")
        blocks = (depth - 4) // 6
        widths = (16, 16 * widen, 32 * widen, 64 * widen)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.block1 = NetworkBlock(blocks, widths[0], widths[1], stride=1)
        self.block2 = NetworkBlock(blocks, widths[1], widths[2], stride=2)
        self.block3 = NetworkBlock(blocks, widths[2], widths[3], stride=2)
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = GlobalAvgPool()
        self.fc = nn.Linear(widths[3], num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """He-normal convs (fan-out), unit BN, zero linear bias: the original WRN initialisation."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        return self.fc(self.avgpool(self.relu(self.bn1(x))))


def _build(depth: int, widen: int, num_classes: int, in_channels: int) -> nn.Module:
    return describe(
        WideResNet(depth, widen, num_classes, in_channels),
        sequence=("conv1", "block1", "block2", "block3", "bn1", "relu", "avgpool", "fc"),
        stage_names=("block1", "block2", "block3"),
        embedding_name="avgpool",
        classifier_name="fc",
    )


for _depth, _widen in ((16, 1), (16, 2), (40, 1), (40, 2)):
    register_builder(
        f"wrn_{_depth}_{_widen}",
        f"WRN-{_depth}-{_widen}.",
        lambda num_classes, in_channels, d=_depth, k=_widen: _build(d, k, num_classes, in_channels),
    )
