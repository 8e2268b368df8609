"""The training loop: deterministic on the CPU, resumable after a kill, strict about its checkpoints."""

from __future__ import annotations

import pytest
import torch

from kdsurvey.distill import engine, methods, models
from kdsurvey.distill.recipe import Recipe
from kdsurvey.errors import UsageError

RECIPE = Recipe(epochs=3, batch_size=16, lr=0.05)


def make_method(splits, sample, name="hinton_kd"):
    info = splits.info
    torch.manual_seed(1)
    teacher = models.build("cnn_medium", info.num_classes, info.in_channels)
    student = models.build("cnn_small", info.num_classes, info.in_channels)
    teachers = [teacher] if methods.get(name).teacher_roles(methods.get(name).defaults()) else []
    return methods.get(name)(student, teachers, sample=sample)


def train(splits, sample, **kwargs):
    method = make_method(splits, sample, kwargs.pop("name", "hinton_kd"))
    result = engine.fit(method, splits, kwargs.pop("recipe", RECIPE), seed=3, device=torch.device("cpu"), **kwargs)
    return method, result


def same_state(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_same_seed_same_weights(fake_splits, sample):
    a, ra = train(fake_splits, sample)
    b, rb = train(fake_splits, sample)
    assert same_state(a, b) and ra.accuracy == rb.accuracy and ra.history == rb.history
    assert [h["epoch"] for h in ra.history] == [1, 2, 3]


def test_killed_run_resumes_to_the_same_result(tmp_path, fake_splits, sample):
    whole, whole_result = train(fake_splits, sample, name="cs_kd")  # draws extra random partners too

    class Killed(Exception):
        pass

    def kill_after_two(epoch):
        if epoch == 2:
            raise Killed

    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(Killed):
        train(fake_splits, sample, name="cs_kd", checkpoint=ckpt, fingerprint="f", on_epoch_end=kill_after_two)
    assert torch.load(ckpt, weights_only=True)["epochs_done"] == 2
    resumed, resumed_result = train(fake_splits, sample, name="cs_kd", checkpoint=ckpt, fingerprint="f")
    assert resumed_result.resumed_from_epoch == 2
    assert same_state(whole, resumed)
    assert resumed_result.accuracy == whole_result.accuracy and resumed_result.history == whole_result.history


def test_checkpoint_of_another_run_is_refused(tmp_path, fake_splits, sample):
    ckpt = tmp_path / "run.ckpt"
    train(fake_splits, sample, recipe=Recipe(epochs=1, batch_size=16), checkpoint=ckpt, fingerprint="one")
    with pytest.raises(engine.CheckpointError, match="different run"):
        train(fake_splits, sample, checkpoint=ckpt, fingerprint="other")
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(engine.CheckpointError, match="cannot be read"):
        train(fake_splits, sample, checkpoint=ckpt, fingerprint="one")


def test_divergence_is_reported(fake_splits, sample):
    with pytest.raises(engine.TrainingDiverged, match="lower the learning rate"):
        train(fake_splits, sample, name="ce", recipe=Recipe(epochs=1, batch_size=16, lr=1e30))


def test_accuracy_is_a_percentage_of_the_test_split(fake_splits, sample):
    _, result = train(fake_splits, sample, name="ce", recipe=Recipe(epochs=1, batch_size=16))
    assert set(result.accuracy) == {"student"}
    correct = result.accuracy["student"] * len(fake_splits.test) / 100
    assert 0 <= result.accuracy["student"] <= 100 and correct == pytest.approx(round(correct))


def test_devices():
    assert engine.resolve_device("cpu").type == "cpu"
    assert engine.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no CUDA device"):
            engine.resolve_device("cuda")
    with pytest.raises(UsageError, match="unknown device"):
        engine.resolve_device("toaster")


def test_batch_must_split_over_processes(monkeypatch, fake_splits, sample):
    monkeypatch.setattr(engine, "world", lambda: (0, 3))
    with pytest.raises(UsageError, match="does not split evenly over 3 processes"):
        train(fake_splits, sample, name="ce", recipe=Recipe(epochs=1, batch_size=16))


def test_recipe_validation_and_schedule():
    r = Recipe(epochs=240, lr=0.05)
    assert [r.lr_at(e) for e in (0, 149, 150, 180, 210)] == pytest.approx([0.05, 0.05, 0.005, 0.0005, 0.00005])
    assert Recipe(epochs=10, schedule="cosine").lr_at(5) == pytest.approx(0.025)
    for bad, message in (
        (dict(epochs=0), "epochs must be a positive integer"),
        (dict(lr=-1), "lr must be a finite number"),
        (dict(schedule="linear"), "schedule must be one of"),
        (dict(milestones=(0.8, 0.5)), "milestones must be increasing"),
    ):
        with pytest.raises(UsageError, match=message):
            Recipe(**bad)
    with pytest.raises(UsageError, match="unknown recipe field"):
        Recipe.from_dict({"epoch": 3})


def test_progress_is_one_line_an_epoch_when_not_on_a_terminal(capsys, fake_splits, sample):
    """In a log or a pipe (no terminal), `progress` prints one line per epoch with the losses, not a bar."""
    from kdsurvey.distill import engine, methods, models
    from kdsurvey.distill.recipe import Recipe

    torch.manual_seed(0)
    student = models.build("cnn_small", fake_splits.info.num_classes, fake_splits.info.in_channels)
    method = methods.get("ce")(student, [])
    engine.fit(method, fake_splits, Recipe(epochs=2, batch_size=32), seed=0, device=torch.device("cpu"), progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"] and all("ce " in x for x in lines)
