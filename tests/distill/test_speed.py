"""Speed switches: validated, default-preserving on the CPU, each one running, and in stage keys only when
they change the numbers and differ from the device's default. Also the host-memory data fallback."""

from __future__ import annotations

import pytest
import torch
from conftest import FAKE

from kdsurvey.distill import data, engine, methods, models, runner
from kdsurvey.distill.experiment import Experiment
from kdsurvey.distill.recipe import Recipe
from kdsurvey.distill.speed import Speed
from kdsurvey.distill.store import Store
from kdsurvey.errors import UsageError

RECIPE = Recipe(epochs=2, batch_size=16, lr=0.05)
CPU, CUDA = torch.device("cpu"), torch.device("cuda")  # a CUDA device object needs no GPU


def train(splits, sample, speed=None, name="hinton_kd"):
    info = splits.info
    torch.manual_seed(1)
    teacher = models.build("cnn_medium", info.num_classes, info.in_channels)
    student = models.build("cnn_small", info.num_classes, info.in_channels)
    cls = methods.get(name)
    method = cls(student, [teacher][: len(cls.teacher_roles(cls.defaults()))], sample=sample)
    return method, engine.fit(method, splits, RECIPE, seed=3, device=CPU, speed=speed)


def same_state(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def default_run(fake_splits, sample):  # per test: after conftest has fixed the thread count
    return train(fake_splits, sample)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"bf16": "yes"}, "bf16 must be true, false or absent"),
        ({"channels_last": 1}, "channels_last must be"),
        ({"fused_optimizer": "on"}, "fused_optimizer must be"),
        ({"data_on_device": 0}, "data_on_device must be"),
        ({"teacher_cache": None}, "teacher_cache must be true or false"),
        ({"compile": 2}, "compile must be true, false or a backend name"),
        ({"compile": "turbo"}, "compile backend 'turbo' is unknown"),
    ],
)
def test_bad_settings_are_clear_errors(values, message):
    with pytest.raises(UsageError, match=message):
        Speed(**values)


def test_from_dict_refuses_unknown_settings():
    assert Speed.from_dict({"bf16": False}) == Speed(bf16=False) and Speed.from_dict(None) == Speed()
    with pytest.raises(UsageError, match="unknown speed setting.*bf61"):
        Speed.from_dict({"bf61": True})


def test_automatic_means_on_cuda_only():
    cpu, cuda = Speed().resolve(CPU), Speed().resolve(CUDA)
    assert (cpu.bf16, cpu.channels_last, cpu.fused_optimizer, cpu.compile) == (False, False, False, False)
    assert (cuda.bf16, cuda.channels_last, cuda.fused_optimizer, cuda.compile) == (True, True, True, False)
    assert Speed(compile=True).resolve(CPU).compile == "inductor"


def test_numeric_switches_count_only_when_they_differ_from_the_default():
    assert Speed().numerics(CPU) == Speed().numerics(CUDA) == ()
    assert Speed(teacher_cache=True, data_on_device=False).numerics(CPU) == ()  # same numbers: not in keys
    assert Speed(bf16=False, channels_last=False, fused_optimizer=False).numerics(CPU) == ()
    assert Speed(bf16=True, channels_last=True).numerics(CUDA) == ()
    assert Speed(bf16=True).numerics(CPU) == (("bf16", True),)
    assert Speed(bf16=False, fused_optimizer=False).numerics(CUDA) == (("bf16", False), ("fused_optimizer", False))
    assert Speed(compile="eager").numerics(CPU) == (("compile", "eager"),)


def test_stage_keys_change_only_with_numbers(tmp_path):
    e = Experiment("hinton_kd", dataset=FAKE, teacher="cnn_medium", student="cnn_small", seeds=(0,))
    stage = e.student_stage(0)
    same = runner.Runner(Store(tmp_path), CPU, speed=Speed(bf16=False, teacher_cache=True, data_on_device=False))
    assert same.stamp(stage) == stage and same.stamp(stage).key == stage.key
    bf16 = runner.Runner(Store(tmp_path), CPU, speed=Speed(bf16=True)).stamp(stage)
    assert bf16.key != stage.key and bf16.describe()["speed"] == {"bf16": True}
    assert bf16.teachers[0].key != stage.teachers[0].key  # the teacher it trains is a bf16 one too
    with_data_seed = Experiment(
        "hinton_kd", dataset=FAKE, teacher="cnn_medium", student="cnn_small", seeds=(0,), data_seed=5
    )
    assert with_data_seed.student_stage(0).key != stage.key and with_data_seed.describe()["data_seed"] == 5
    assert with_data_seed.baseline_stage(0).data_seed == 5 and e.describe()["data_seed"] is None
    with pytest.raises(UsageError, match="data_seed must be an integer in"):
        Experiment("hinton_kd", dataset=FAKE, data_seed=-1)


def test_explicit_defaults_give_identical_weights(fake_splits, sample, default_run):
    explicit = Speed(bf16=False, channels_last=False, fused_optimizer=False, compile=False, data_on_device=True)
    method, result = train(fake_splits, sample, explicit)
    assert same_state(method, default_run[0]) and result.history == default_run[1].history


@pytest.mark.parametrize(
    "speed, changes_numbers",
    [
        (Speed(bf16=True), True),
        (Speed(channels_last=True), None),  # oneDNN may or may not pick another kernel: not asserted
        (Speed(fused_optimizer=True), True),
        (Speed(compile="eager"), False),  # real torch.compile tracing, eager backend: same kernels
        (Speed(data_on_device=False), False),
    ],
    ids=["bf16", "channels_last", "fused_optimizer", "compile_eager", "data_on_host"],
)
def test_each_switch_trains(fake_splits, sample, default_run, speed, changes_numbers):
    method, result = train(fake_splits, sample, speed)
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert all(torch.isfinite(torch.tensor(v)) for h in result.history for v in h.values())
    assert 0 <= result.accuracy["student"] <= 100
    if changes_numbers is not None:
        assert same_state(method, default_run[0]) is not changes_numbers
    if speed.channels_last:
        assert method.student.stage1.block1.conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_compile_switch_compiles_the_student_in_place(monkeypatch, fake_splits, sample):
    """inductor (compile=True) takes about 40 s on this CPU, too slow here: check it is asked for."""
    asked = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: asked.append((type(self).__name__, kw)))
    method, _ = train(fake_splits, sample, Speed(compile=True))
    assert asked == [("SmallCNN", {"backend": "inductor"})]
    assert not any(k.startswith("_orig_mod") for k in method.state_dict())


def test_data_fallback_is_chosen_by_size(monkeypatch, fake_splits):
    assert data.fits_on(CPU, fake_splits.train, fake_splits.test)
    size = fake_splits.train.images.nbytes + fake_splits.train.labels.nbytes
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2 * size, 8 * size))
    assert data.fits_on(CUDA, fake_splits.train)
    assert not data.fits_on(CUDA, fake_splits.train, share=0.4)


def test_host_batches_equal_device_batches(fake_splits):
    info = fake_splits.info
    resident = data.batches(fake_splits.train, info, 16, train=True, seed=2, epoch=1)
    host = data.batches(fake_splits.train, info, 16, train=True, seed=2, epoch=1, host=True)
    for (x, y, i), (hx, hy, hi) in zip(resident, host, strict=True):
        assert torch.equal(x, hx) and torch.equal(y, hy) and torch.equal(i, hi)
