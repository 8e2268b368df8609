"""The model registry: exact parameter counts, layouts that hooks and `split` rely on, clear errors."""

from __future__ import annotations

import copy
import functools

import pytest

torch = pytest.importorskip("torch")

from kdsurvey.distill import models  # noqa: E402
from kdsurvey.errors import UnknownNameError, UsageError  # noqa: E402

# Counts with 100 classes, as published for the CRD benchmark (Tian et al., 2020).
CRD_COUNTS = {
    "resnet8x4": 1_233_540,
    "resnet32x4": 7_433_860,
    "resnet20": 278_324,
    "resnet32": 472_756,
    "resnet56": 861_620,
    "resnet110": 1_736_564,
    "wrn_16_2": 703_284,
    "wrn_40_2": 2_255_156,
    "wrn_40_1": 569_780,
}
CIFAR = ["resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet8x4", "resnet32x4"]
WRN = ["wrn_16_1", "wrn_16_2", "wrn_40_1", "wrn_40_2"]
SMALL = ["cnn_small", "cnn_medium", "cnn_large"]
VISION = ["resnet18", "resnet34", "resnet50", "mobilenet_v2"]
ALL = CIFAR + WRN + SMALL + VISION  # convolutional: any image size, 4-D stage maps
MLP = ["mlp_1200_1200", "mlp_800_800"]  # Hinton et al. (2015)'s MNIST nets: 28x28 images, flat features


@functools.cache
def built(name: str, in_channels: int = 3) -> torch.nn.Module:
    """One seeded 10-class model per (name, channels) for the whole module: building the big ones is slow."""
    torch.manual_seed(0)
    return models.build(name, num_classes=10, in_channels=in_channels)


def batch(in_channels: int, size: int) -> torch.Tensor:
    return torch.randn(2, in_channels, size, size, generator=torch.Generator().manual_seed(1))


def test_names_lists_every_family():
    assert models.names() == sorted(ALL + MLP)


@pytest.mark.parametrize(
    ("name", "count", "dropout"), [("mlp_1200_1200", 2_395_210, True), ("mlp_800_800", 1_276_810, False)]
)
def test_hinton_mlps_have_the_papers_sizes_and_a_layout(name, count, dropout):
    torch.manual_seed(0)
    model = models.build(name, 10, 1)
    assert models.parameter_count(model) == count
    assert any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in model.modules()) == dropout
    x = batch(1, 28)
    model.eval()
    with torch.no_grad():
        trunk, head = models.split(model)
        assert torch.equal(head(trunk(x)), model(x)) and model(x).shape == (2, 10)
    with pytest.raises(ValueError, match="28x28"):
        model(batch(1, 32))


@pytest.mark.parametrize(("name", "count"), CRD_COUNTS.items())
def test_parameter_counts_match_the_benchmark(name, count):
    assert models.parameter_count(models.build(name, num_classes=100)) == count


def test_torchvision_resnet18_has_its_imagenet_parameter_count():
    assert models.parameter_count(models.build("resnet18", num_classes=1000)) == 11_689_512


def test_parameter_count_skips_frozen_parameters_and_bn_statistics():
    model = models.build("cnn_small", num_classes=10)
    total = sum(p.numel() for p in model.parameters())
    assert models.parameter_count(model) == total
    model.fc.weight.requires_grad_(False)
    assert models.parameter_count(model) == total - model.fc.weight.numel()


def test_small_cnns_have_the_sizes_the_cpu_suite_needs():
    small, medium, large = (models.parameter_count(models.build(n, num_classes=10, in_channels=1)) for n in SMALL)
    assert 8_000 <= small <= 25_000
    assert 50_000 <= medium <= 100_000
    assert 250_000 <= large <= 400_000


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(("in_channels", "size"), [(1, 28), (3, 32)])
def test_forward_gives_logits_for_mnist_and_cifar_shapes(name, in_channels, size):
    model = built(name, in_channels).eval()
    with torch.no_grad():
        assert model(batch(in_channels, size)).shape == (2, 10)


@pytest.mark.parametrize("name", ALL)
def test_layout_attributes_name_real_modules(name):
    model = built(name)
    paths = dict(model.named_modules())
    assert len(model.stage_names) >= 3
    assert all(stage in paths for stage in model.stage_names)
    assert model.embedding_name in paths
    assert isinstance(paths[model.classifier_name], torch.nn.Linear)


@pytest.mark.parametrize("name", ALL)
def test_capture_reads_every_stage_and_the_embedding(name):
    model = built(name).eval()
    wanted = [*model.stage_names, model.embedding_name, model.classifier_name]
    with torch.no_grad(), models.capture(model, wanted) as feats:
        logits = model(batch(3, 32))
    assert list(feats) == wanted
    stages = [feats[s] for s in model.stage_names]
    assert all(f.dim() == 4 and f.shape[0] == 2 for f in stages)
    sides = [f.shape[-1] for f in stages]
    assert sides == sorted(sides, reverse=True) and sides[0] > sides[-1]
    fc = model.get_submodule(model.classifier_name)
    embedding = feats[model.embedding_name]
    assert embedding.shape in {(2, fc.in_features), (2, fc.in_features, 1, 1)}
    assert torch.equal(fc(embedding.flatten(1)), logits)
    assert torch.equal(feats[model.classifier_name], logits)


def test_capture_keeps_the_graph_for_feature_losses():
    model = built("cnn_small").train()
    with models.capture(model, model.stage_names[-1:]) as feats:
        model(batch(3, 32))
    feats[model.stage_names[-1]].pow(2).mean().backward()
    assert model.stage1.block1.conv.weight.grad is not None
    model.zero_grad(set_to_none=True)


def _hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_capture_removes_its_hooks_on_exit():
    model = built("resnet8")
    with models.capture(model, model.stage_names):
        assert _hook_count(model) == 3
    assert _hook_count(model) == 0


def test_capture_removes_its_hooks_when_the_body_raises():
    model = built("resnet8")
    with pytest.raises(RuntimeError, match="boom"), models.capture(model, model.stage_names):
        raise RuntimeError("boom")
    assert _hook_count(model) == 0


def test_capture_rejects_an_unknown_path_and_names_the_nearest():
    model = built("resnet8")
    with pytest.raises(UsageError, match=r"'layer4'.*layer[123]"), models.capture(model, ["layer1", "layer4"]):
        pass  # pragma: no cover
    assert _hook_count(model) == 0


@pytest.mark.parametrize("name", ALL)
def test_split_reproduces_the_model_with_its_own_parameters(name):
    model = built(name).eval()
    trunk, head = models.split(model)
    x = batch(3, 32)
    with torch.no_grad():
        assert torch.equal(head(trunk(x)), model(x))
    own = {id(p) for p in model.parameters()}
    trunk_ids, head_ids = {id(p) for p in trunk.parameters()}, {id(p) for p in head.parameters()}
    assert trunk_ids | head_ids == own
    assert not trunk_ids & head_ids
    assert model.get_submodule(model.stage_names[-1]) in list(head.modules())
    assert model.get_submodule(model.stage_names[-2]) in list(trunk.modules())


def test_split_heads_can_branch_off_one_trunk():
    """ONE deep-copies the head; branches must not share weights nor disturb the shared trunk output."""
    model = built("resnet20").eval()
    trunk, head = models.split(model)
    branch = copy.deepcopy(head)
    assert not {id(p) for p in branch.parameters()} & {id(p) for p in model.parameters()}
    with torch.no_grad():
        shared = trunk(batch(3, 32))
        before = shared.clone()
        assert torch.equal(branch(shared), head(shared))
        assert torch.equal(shared, before)


def test_split_rejects_foreign_models():
    with pytest.raises(UsageError, match="split needs"):
        models.split(torch.nn.Linear(2, 2))


def test_unknown_model_name_suggests_the_nearest():
    with pytest.raises(UnknownNameError, match=r"unknown model 'resnet21'; did you mean .*resnet20"):
        models.build("resnet21", num_classes=10)


@pytest.mark.parametrize("num_classes", [1, 0, -3, 2.5, True, "10", None])
def test_bad_num_classes_is_a_usage_error(num_classes):
    with pytest.raises(UsageError, match="num_classes"):
        models.build("cnn_small", num_classes=num_classes)


@pytest.mark.parametrize("in_channels", [0, -1, 1.0])
def test_bad_in_channels_is_a_usage_error(in_channels):
    with pytest.raises(UsageError, match="in_channels"):
        models.build("cnn_small", num_classes=10, in_channels=in_channels)


@pytest.mark.parametrize("name", ["resnet8", "wrn_16_1", "cnn_medium", "mobilenet_v2"])
def test_the_same_seed_gives_the_same_weights(name):
    def weights(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return models.build(name, num_classes=10).state_dict()

    first, again, other = weights(0), weights(0), weights(1)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_vision_models_take_other_channel_counts():
    conv = built("resnet18", 1).conv1
    assert conv.in_channels == 1 and conv.out_channels == 64 and conv.stride == (2, 2)
    assert built("mobilenet_v2", 1).features[0][0].in_channels == 1


def test_capture_takes_a_single_path():
    model = built("cnn_small").eval()
    with torch.no_grad(), models.capture(model, "avgpool") as feats:
        model(batch(3, 32))
    assert list(feats) == ["avgpool"] and feats["avgpool"].shape == (2, model.fc.in_features)


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("resnet8", {"conv1.weight", "bn1.running_mean", "layer2.0.downsample.0.weight", "layer3.0.bn2.bias"}),
        ("wrn_16_1", {"block1.layer.0.bn1.weight", "block2.layer.0.convShortcut.weight", "bn1.bias", "fc.weight"}),
    ],
)
def test_state_dict_keys_follow_the_benchmark_checkpoints(name, keys):
    assert keys <= set(built(name).state_dict())
