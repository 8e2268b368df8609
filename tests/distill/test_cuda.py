"""The CUDA path: bf16 autocast and channels_last reach the training step, the teacher cache changes no bit
of the student, and a stage trained on the GPU reloads to the same weights and accuracy.

Every test here skips without a CUDA device; CI has none, so they run through benchmarks/gpu_check.sh on a
lent GPU. KDSURVEY_CUDA_TESTS_ON_CPU=1 runs them on the CPU with the same switches forced on (bf16,
channels_last), which is what `gpu_check.sh --dry-run` does to prove the tests themselves before GPU time
is spent on them.
"""

from __future__ import annotations

import os

import pytest
import torch

from kdsurvey.distill import data, engine, methods, models, runner
from kdsurvey.distill.experiment import Experiment
from kdsurvey.distill.recipe import Recipe
from kdsurvey.distill.speed import Speed
from kdsurvey.distill.store import Store
from kdsurvey.distill.teacher_cache import TeacherCache

# CIFAR-shaped with resnet8x4 on the GPU; on the CPU stand-in 8x8 images and the narrow resnet8 (the same
# code), since bf16 convolutions are slow on CPUs without AVX-512 (a resnet8x4 step on 64 32x32 images took
# 25 s in bf16 against 3 s in fp32 on a busy 2-core machine).
ARCHS = {"cuda": "resnet8x4", "cpu": "resnet8"}
DATASETS = {"cuda": "fake:classes=10,channels=3,size=32,train=256,test=64",
            "cpu": "fake:classes=10,channels=3,size=8,train=32,test=16"}  # fmt: skip
RECIPES = {"cuda": Recipe(epochs=2, batch_size=64, lr=0.05), "cpu": Recipe(epochs=2, batch_size=16, lr=0.05)}
SPEED = Speed(bf16=True, channels_last=True)  # what CUDA's automatic settings give; forced for the CPU stand-in
ON_CPU = "KDSURVEY_CUDA_TESTS_ON_CPU"
# Ops torch flags as possibly nondeterministic warn instead of failing; the tests compare the bits themselves.
NONDETERMINISTIC_WARNING = "ignore:.*does not have a deterministic implementation"


@pytest.fixture
def device():
    if torch.cuda.is_available():
        yield torch.device("cuda")
        return
    if os.environ.get(ON_CPU) != "1":
        pytest.skip(f"needs a CUDA device ({ON_CPU}=1 runs it on the CPU, as gpu_check.sh --dry-run does)")
    # One thread: the stand-in only proves the tests, and two threads on a busy 2-core machine wait on each
    # other (a 4-step fit took 4.5 s with 2 threads against 0.1 s with 1).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch.device("cpu")
    torch.set_num_threads(before)


@pytest.fixture
def deterministic(monkeypatch):
    """Deterministic kernels (cuDNN and cuBLAS), so two identical runs give identical bits on the GPU too."""
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", os.environ.get("CUBLAS_WORKSPACE_CONFIG") or ":4096:8")
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)  # fmt: skip
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[2], before[3]


@pytest.fixture
def splits(device):
    return data.load(DATASETS[device.type])


def hinton_kd(splits, device) -> methods.Method:
    torch.manual_seed(0)
    teacher = models.build(ARCHS[device.type], splits.info.num_classes)
    torch.manual_seed(1)
    return methods.get("hinton_kd")(models.build(ARCHS[device.type], splits.info.num_classes), [teacher])


def train(splits, device, cache=None):
    method = hinton_kd(splits, device)
    result = engine.fit(method, splits, RECIPES[device.type], seed=3, device=device, speed=SPEED, teacher_cache=cache)
    return method.student, result


def same_state(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_hinton_kd_trains_in_bf16_with_channels_last(splits, device):
    method, recipe = hinton_kd(splits, device), RECIPES[device.type]
    dtypes = []
    method.student.fc.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    result = engine.fit(method, splits, recipe, seed=3, device=device, speed=SPEED)
    steps = recipe.epochs * len(splits.train) // recipe.batch_size
    assert dtypes[:steps] == [torch.bfloat16] * steps  # every training step ran under bf16 autocast
    convs = [p for p in method.student.parameters() if p.dim() == 4]
    assert convs and all(p.device.type == device.type for p in method.student.parameters())
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert all(torch.isfinite(torch.tensor([h["ce"], h["kd"]])).all() for h in result.history)
    assert 0 <= result.accuracy["student"] <= 100


@pytest.mark.filterwarnings(NONDETERMINISTIC_WARNING)
def test_teacher_cache_gives_the_same_student(splits, device, deterministic):
    plain, plain_result = train(splits, device)
    again, again_result = train(splits, device)
    assert same_state(plain, again) and again_result.history == plain_result.history, (
        f"training on {device} is not deterministic even without the cache, so the cache cannot be checked"
    )
    cache = TeacherCache()
    built, built_result = train(splits, device, cache)  # computes each epoch's table
    reused, reused_result = train(splits, device, cache)  # takes them from device memory
    epochs = RECIPES[device.type].epochs
    assert (cache.built, cache.reused) == (epochs, epochs)
    for model, result in ((built, built_result), (reused, reused_result)):
        assert same_state(model, plain)
        assert result.history == plain_result.history and result.accuracy == plain_result.accuracy


def test_stage_trained_on_the_device_reloads(tmp_path, device):
    name, arch, recipe = DATASETS[device.type], ARCHS[device.type], RECIPES[device.type]
    experiment = Experiment("hinton_kd", teacher=arch, student=arch, dataset=name, seeds=(0,),
                            recipe=Recipe(epochs=1, batch_size=recipe.batch_size, lr=0.05))  # fmt: skip
    rec = runner.run(experiment, tmp_path, device=str(device), speed=SPEED)
    said = []
    again = runner.Runner(Store(tmp_path), device, log=said.append, speed=SPEED)
    student, result = again.obtain(experiment.student_stage(0))
    assert said == []  # loaded, nothing trained again
    assert result["accuracy"]["student"] == rec["accuracy"]["student"][0]
    assert next(student.parameters()).device.type == device.type
    student.to(memory_format=torch.channels_last)  # as fit left it when it measured the stored accuracy
    splits = again.splits(name)
    assert engine.evaluate(student, splits.test, splits.info, device, speed=SPEED) == result["accuracy"]["student"]
    stored, _ = again.store.read(again.stamp(experiment.student_stage(0)))
    assert {t.device.type for t in stored.values()} == {"cpu"}  # read as on a machine without a GPU
    on_cpu = models.build(arch, splits.info.num_classes)
    on_cpu.load_state_dict(stored)
    assert all(torch.equal(v, student.state_dict()[k].cpu()) for k, v in on_cpu.state_dict().items())
