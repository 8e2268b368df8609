"""torchvision's ImageNet classifiers, untrained (``weights=None``: nothing is ever downloaded).

torchvision is imported inside the builders so listing or building the small models stays fast.
A first conv for another channel count replaces torchvision's, initialised the way torchvision does.
"""

from __future__ import annotations

from torch import nn

from kdsurvey.distill.models._layout import GlobalAvgPool, describe
from kdsurvey.distill.models._registry import MODELS

RESNET_SEQUENCE = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc")


def _resnet(arch: str, num_classes: int, in_channels: int) -> nn.Module:
    from torchvision import models

    model = getattr(models, arch)(weights=None, num_classes=num_classes)
    if in_channels != 3:
        model.conv1 = _conv_like(model.conv1, in_channels)
    return describe(
        model,
        sequence=RESNET_SEQUENCE,
        stage_names=("layer1", "layer2", "layer3", "layer4"),
        embedding_name="avgpool",
        classifier_name="fc",
    )


@MODELS.register("resnet18")
def resnet18(num_classes: int, in_channels: int = 3) -> nn.Module:
    """torchvision ResNet-18 (11.7M parameters with 1000 classes)."""
    return _resnet("resnet18", num_classes, in_channels)


@MODELS.register("resnet34")
def resnet34(num_classes: int, in_channels: int = 3) -> nn.Module:
    """torchvision ResNet-34."""
    return _resnet("resnet34", num_classes, in_channels)


@MODELS.register("resnet50")
def resnet50(num_classes: int, in_channels: int = 3) -> nn.Module:
    """torchvision ResNet-50 (bottleneck blocks)."""
    return _resnet("resnet50", num_classes, in_channels)


class MobileNetV2(nn.Module):
    """torchvision's MobileNetV2 with its functional pooling made a module, so hooks can read the embedding.

    Submodule names (``features.*``, ``classifier.1``) stay torchvision's, so its state dicts still load.
    """

    def __init__(self, num_classes: int, in_channels: int = 3):
        super().__init__()
        from torchvision import models

        base = models.mobilenet_v2(weights=None, num_classes=num_classes)
        if in_channels != 3:
            base.features[0][0] = _conv_like(base.features[0][0], in_channels)
        self.features = base.features
        self.avgpool = GlobalAvgPool()
        self.classifier = base.classifier

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))


@MODELS.register("mobilenet_v2")
def mobilenet_v2(num_classes: int, in_channels: int = 3) -> nn.Module:
    """torchvision MobileNetV2; its stages end where the resolution halves (strides 4, 8, 16, 32)."""
    model = MobileNetV2(num_classes, in_channels)
    blocks = tuple(f"features.{i}" for i in range(len(model.features)))
    return describe(
        model,
        sequence=(*blocks, "avgpool", "classifier"),
        stage_names=("features.3", "features.6", "features.13", blocks[-1]),
        embedding_name="avgpool",
        classifier_name="classifier.1",
    )


def _conv_like(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """The same convolution for `in_channels` inputs, Kaiming-normal as torchvision initialises it."""
    new = nn.Conv2d(
        in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
    )
    nn.init.kaiming_normal_(new.weight, mode="fan_out", nonlinearity="relu")
    if new.bias is not None:
        nn.init.zeros_(new.bias)
    return new
