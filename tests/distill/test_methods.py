"""Every registered method: builds, trains one step, keeps its teachers frozen, matches the catalogue."""

from __future__ import annotations

import pytest
import torch

from kdsurvey import catalogue
from kdsurvey.distill import methods, models
from kdsurvey.distill.methods.base import Context
from kdsurvey.errors import UnknownNameError, UsageError

DISTILLERS = [n for n in methods.names() if n != "ce"]


def build(name, splits, sample, **options):
    info = splits.info
    torch.manual_seed(0)
    make = lambda arch=None: models.build(arch or "cnn_small", info.num_classes, info.in_channels)  # noqa: E731
    teachers = [models.build(a, info.num_classes, info.in_channels) for a in ("cnn_medium", "cnn_small")]
    cls = methods.get(name)
    method = cls(
        make(),
        teachers[: len(cls.teacher_roles(cls.resolve_options(options)))],
        sample=sample,
        make_model=make,
        **options,
    )
    from kdsurvey.distill import data

    loader = data.batches(splits.train, info, 16, train=True, seed=0, epoch=0)
    method.context = Context(labels=splits.train.labels, prepare=loader.prepare)
    return method, loader


def test_the_issue_names_are_registered():
    expected = {
        "ce", "hinton_kd", "fitnets", "attention_transfer", "rkd", "pkt", "similarity_preserving", "takd",
        "multi_teacher", "dml", "one", "kdcl", "byot", "cs_kd",
    }  # fmt: skip
    assert set(methods.names()) == expected


@pytest.mark.parametrize("name", DISTILLERS)
def test_method_agrees_with_the_catalogue(name):
    cls = methods.get(name)
    row = catalogue.methods().set_index("method_id").loc[name]
    assert cls.strategy == row["strategy"]
    assert cls.knowledge in row["knowledge_type"].split(";")
    assert cls.reference == row["reference"]


@pytest.mark.parametrize("name", methods.names())
def test_one_training_step(name, fake_splits, sample):
    method, loader = build(name, fake_splits, sample)
    x, y, index = next(iter(loader))
    logits, losses = method(x, y, index)
    assert logits.shape == (len(x), fake_splits.info.num_classes)
    assert losses and all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    trained = [p for p in method.parameters() if p.requires_grad]
    assert trained and all(p.grad is not None for p in method.student.parameters())
    for teacher in method.teachers:
        assert not teacher.training
        assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())


@pytest.mark.parametrize("name", [n for n in DISTILLERS if methods.get(n).teacher_roles(methods.get(n).defaults())])
def test_teachers_are_outside_the_state_and_the_optimiser(name, fake_splits, sample):
    method, _ = build(name, fake_splits, sample)
    teacher_params = {id(p) for t in method.teachers for p in t.parameters()}
    assert not teacher_params & {id(p) for p in method.parameters()}
    assert all(not k.startswith("_teachers") for k in method.state_dict())


@pytest.mark.parametrize("name", methods.names())
def test_evaluated_models_are_plain_classifiers(name, fake_splits, sample):
    method, _ = build(name, fake_splits, sample)
    evaluated = method.evaluated()
    assert evaluated["student"] is method.student
    method.eval()
    with torch.no_grad():
        for model in evaluated.values():
            assert model(sample).shape == (len(sample), fake_splits.info.num_classes)


def test_unknown_method_and_option_are_clear_errors(fake_splits, sample):
    with pytest.raises(UnknownNameError, match="did you mean hinton_kd"):
        methods.get("hinton_k")
    with pytest.raises(UsageError, match="has no option temprature"):
        build("hinton_kd", fake_splits, sample, temprature=2)


def test_offline_method_without_teacher_is_refused(fake_splits, sample):
    student = models.build("cnn_small", 4, 1)
    with pytest.raises(UsageError, match="needs 1 teacher"):
        methods.get("hinton_kd")(student, [], sample=sample)


def test_one_keeps_the_student_as_branch_zero_and_draws_new_heads(fake_splits, sample):
    method, _ = build("one", fake_splits, sample)
    method.eval()
    with torch.no_grad():
        logits, gate = method.branches_and_gate(sample)
        assert torch.allclose(logits[0], method.student(sample), atol=1e-6)
        assert not torch.allclose(logits[0], logits[1])
        assert torch.allclose(gate.sum(1), torch.ones(len(sample)))
    assert len(logits) == 3


def test_cs_kd_partners_share_the_class(fake_splits, sample):
    from kdsurvey.distill.methods.cs_kd import same_class_partners

    method, _ = build("cs_kd", fake_splits, sample)
    y = fake_splits.train.labels[:40]
    partners = same_class_partners(method.context.labels, y, method.members())
    assert torch.equal(fake_splits.train.labels[partners], y)


def test_byot_has_an_exit_per_shallow_stage(fake_splits, sample):
    method, _ = build("byot", fake_splits, sample)
    assert len(method.exits) == len(method.student.stage_names) - 1
    assert set(method.evaluated()) == {"student"} | {f"exit{i + 1}" for i in range(len(method.exits))}


def test_online_peers_are_independent_models(fake_splits, sample):
    method, _ = build("dml", fake_splits, sample, peers=3)
    assert len(method.others) == 2
    a, b = (next(m.parameters()) for m in method.others)
    assert a is not b and not torch.equal(a, b)
    with pytest.raises(UsageError, match="peers must be an integer >= 2"):
        build("kdcl", fake_splits, sample, peers=1)
