"""The teacher-output cache: exact (bit-identical weights on the CPU), keyed so stale tables are never used,
strict about its files, and shared by the Runner across the students, methods and seeds of a sweep."""

from __future__ import annotations

import shutil

import pytest
import torch
from conftest import FAKE

from kdsurvey.distill import data, engine, methods, models, runner
from kdsurvey.distill.experiment import Experiment
from kdsurvey.distill.recipe import Recipe
from kdsurvey.distill.speed import Speed
from kdsurvey.distill.teacher_cache import CacheError, TeacherCache, cache_key
from kdsurvey.errors import KdSurveyError, UsageError

RECIPE = Recipe(epochs=3, batch_size=16, lr=0.05)
CPU = torch.device("cpu")


def make(splits, sample, name="hinton_kd", teacher_seed=1):
    info = splits.info
    torch.manual_seed(teacher_seed)
    teachers = [models.build(a, info.num_classes, info.in_channels) for a in ("cnn_medium", "cnn_small")]
    torch.manual_seed(1)
    student = models.build("cnn_small", info.num_classes, info.in_channels)
    cls = methods.get(name)
    return cls(student, teachers[: len(cls.teacher_roles(cls.defaults()))], sample=sample)


def train(splits, sample, cache=None, name="hinton_kd", teacher_seed=1, recipe=RECIPE, seed=3):
    method = make(splits, sample, name, teacher_seed)
    result = engine.fit(method, splits, recipe, seed=seed, device=CPU, teacher_cache=cache)
    return method, result


def same_state(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("name", ["hinton_kd", "multi_teacher", "takd"])
def test_cached_teacher_outputs_give_bit_identical_training(tmp_path, fake_splits, sample, name):
    plain, plain_result = train(fake_splits, sample, name=name)
    cache = TeacherCache(tmp_path)
    built, built_result = train(fake_splits, sample, cache, name=name)  # computes and stores every epoch
    reused, reused_result = train(fake_splits, sample, cache, name=name)  # from memory
    loaded, loaded_result = train(fake_splits, sample, TeacherCache(tmp_path), name=name)  # from the files
    assert (cache.built, cache.reused) == (3, 3) and len(list(tmp_path.glob("*/epoch-*.pt"))) == 3
    for model, result in ((built, built_result), (reused, reused_result), (loaded, loaded_result)):
        assert same_state(model, plain)
        assert result.history == plain_result.history and result.accuracy == plain_result.accuracy


def test_table_holds_the_teachers_logits_of_the_augmented_samples(fake_splits, sample):
    method = make(fake_splits, sample)
    cache = TeacherCache()
    engine.fit(method, fake_splits, Recipe(epochs=1, batch_size=16), seed=3, device=CPU, teacher_cache=cache)
    ((_, epoch), table), teacher = next(iter(cache._memory.items())), method.teachers[0]
    loader = data.batches(fake_splits.train, fake_splits.info, 16, train=True, seed=3, epoch=0)
    x, _, index = next(iter(loader))
    with torch.no_grad():
        assert torch.equal(table[0, index], teacher(x))
    assert epoch == 0 and table.shape == (1, len(fake_splits.train), fake_splits.info.num_classes)


def test_a_changed_key_is_not_reused(tmp_path, fake_splits, sample):
    cache = TeacherCache(tmp_path)
    train(fake_splits, sample, cache)
    assert cache.built == 3
    other_teacher, other_result = train(fake_splits, sample, cache, teacher_seed=2)
    assert cache.built == 6 and cache.reused == 0  # another teacher: built again, not taken from the first
    plain, plain_result = train(fake_splits, sample, teacher_seed=2)
    assert same_state(other_teacher, plain) and other_result.history == plain_result.history
    train(fake_splits, sample, cache, seed=4)  # another data stream
    train(fake_splits, sample, cache, recipe=Recipe(epochs=3, batch_size=32))  # other batches
    assert cache.built == 12 and cache.reused == 0 and len(list(tmp_path.iterdir())) == 4
    train(fake_splits, sample, cache, recipe=Recipe(epochs=4, batch_size=16))  # epochs 0-2 known, 3 is new
    assert cache.built == 13 and cache.reused == 3

    teacher = make(fake_splits, sample).teachers[0]
    base = dict(seed=3, batch_size=16, rank=0, world_size=1, speed=Speed().resolve(CPU), device=CPU)
    key = cache_key([teacher], fake_splits, **base)
    other_data = data.load(FAKE + ",seed=1")
    variants = [
        cache_key([teacher], other_data, **base),
        cache_key([make(fake_splits, sample, teacher_seed=2).teachers[0]], fake_splits, **base),
        cache_key([teacher], fake_splits, **base | {"seed": 4}),
        cache_key([teacher], fake_splits, **base | {"rank": 1, "world_size": 2}),
        cache_key([teacher], fake_splits, **base | {"speed": Speed(bf16=True).resolve(CPU)}),
        cache_key([teacher], fake_splits, **base | {"speed": Speed(channels_last=True).resolve(CPU)}),
    ]
    assert len({key, *variants}) == 1 + len(variants)
    assert cache_key([teacher], fake_splits, **base) == key  # stable


def test_corrupted_or_foreign_files_are_refused(tmp_path, fake_splits, sample):
    train(fake_splits, sample, TeacherCache(tmp_path / "a"), recipe=Recipe(epochs=1, batch_size=16))
    (mine,) = (tmp_path / "a").glob("*/epoch-0000.pt")
    train(fake_splits, sample, TeacherCache(tmp_path / "b"), recipe=Recipe(epochs=1, batch_size=16), teacher_seed=2)
    (foreign,) = (tmp_path / "b").glob("*/epoch-0000.pt")
    shutil.copy(foreign, mine)  # another teacher's table under this key
    with pytest.raises(CacheError, match="does not belong to this run") as caught:
        train(fake_splits, sample, TeacherCache(tmp_path / "a"), recipe=Recipe(epochs=1, batch_size=16))
    assert isinstance(caught.value, KdSurveyError) and str(mine) in str(caught.value)
    mine.write_bytes(b"not a cache file")
    with pytest.raises(CacheError, match="cannot be read.*delete it"):
        train(fake_splits, sample, TeacherCache(tmp_path / "a"), recipe=Recipe(epochs=1, batch_size=16))


def test_only_methods_that_need_just_teacher_outputs_take_a_cache(fake_splits, sample):
    assert {n for n in methods.names() if methods.get(n).teacher_outputs_only} == {
        "hinton_kd",
        "multi_teacher",
        "takd",
    }
    with pytest.raises(UsageError, match="cannot use a teacher cache"):
        train(fake_splits, sample, TeacherCache(), name="fitnets")


def test_runner_shares_one_cache_across_students_and_seeds(tmp_path):
    quick = Recipe(epochs=2, batch_size=16, lr=0.05)
    values = dict(dataset=FAKE, teacher="cnn_medium", student="cnn_small", seeds=(0, 1), recipe=quick)
    shared = dict(teacher_seed=0, data_seed=0)
    cached = runner.run(Experiment("hinton_kd", **values, **shared), tmp_path / "c", device="cpu",
                        speed=Speed(teacher_cache=True))  # fmt: skip
    assert len(list((tmp_path / "c" / "cache").glob("*/epoch-*.pt"))) == 2  # one teacher, one stream, 2 epochs
    plain = runner.run(Experiment("hinton_kd", **values, **shared), tmp_path / "p", device="cpu")
    assert cached["accuracy"] == plain["accuracy"] and cached["stages"] == plain["stages"]
    assert not (tmp_path / "p" / "cache").exists()
    runner.run(Experiment("hinton_kd", **values, **shared, options={"temperature": 2.0}), tmp_path / "c",
               device="cpu", speed=Speed(teacher_cache=True))  # fmt: skip
    assert len(list((tmp_path / "c" / "cache").glob("*/epoch-*.pt"))) == 2  # another method setting: same table
    per_seed = runner.run(Experiment("hinton_kd", **values), tmp_path / "s", device="cpu",
                          speed=Speed(teacher_cache=True))  # fmt: skip
    assert len(list((tmp_path / "s" / "cache").iterdir())) == 2  # a teacher and a stream per seed: two tables
    assert per_seed["stages"]["0"]["student"] != cached["stages"]["0"]["student"]  # data_seed is in the key
