"""Experiments: plans, stage sharing, records, configs and the `kdsurvey reproduce` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAKE

from kdsurvey import cli, record
from kdsurvey.distill import config, runner
from kdsurvey.distill.experiment import Experiment
from kdsurvey.distill.recipe import Recipe
from kdsurvey.errors import UnknownNameError, UsageError

QUICK = Recipe(epochs=1, batch_size=16, lr=0.05)


def experiment(method="hinton_kd", **kw):
    kw.setdefault("seeds", (0, 1))
    kw.setdefault("recipe", QUICK)
    return Experiment(method=method, dataset=FAKE, teacher="cnn_medium", student="cnn_small", **kw)


def test_plan_of_each_strategy():
    e = experiment(teacher_seed=7)
    assert e.student_stage(1).teachers == (e.teacher_stage(1),) and e.teacher_stage(1).seed == 7
    takd = experiment("takd", options={"assistant": "cnn_small"})
    (assistant,) = takd.student_stage(0).teachers
    assert (assistant.method, assistant.arch, assistant.teachers) == (
        "hinton_kd",
        "cnn_small",
        (takd.teacher_stage(0),),
    )
    assert len(experiment("multi_teacher").student_stage(0).teachers) == 2
    assert experiment("dml").student_stage(0).teachers == ()
    assert experiment("cs_kd").student_stage(0).teachers == ()
    with pytest.raises(UsageError, match="name a distillation method"):
        experiment("ce")


def test_stage_keys_tell_every_setting_apart():
    e = experiment()
    keys = {e.student_stage(0).key, e.student_stage(1).key, e.baseline_stage(0).key, e.teacher_stage(0).key}
    keys.add(experiment(options={"temperature": 2.0}).student_stage(0).key)
    keys.add(experiment(recipe=Recipe(epochs=2, batch_size=16)).student_stage(0).key)
    assert len(keys) == 6
    assert experiment().student_stage(0).key == e.student_stage(0).key  # stable


@pytest.mark.parametrize(
    "changes, error, message",
    [
        ({"method": "hinton"}, UnknownNameError, "unknown method 'hinton'"),
        ({"student": "cnn_tiny"}, UnknownNameError, "unknown model 'cnn_tiny'"),
        ({"dataset": "imagenet"}, UnknownNameError, "unknown data set 'imagenet'"),
        ({"seeds": (1, 1)}, UsageError, "distinct"),
        ({"seeds": (-1,)}, UsageError, "integer in"),
        ({"seeds": (2**32,)}, UsageError, "integer in"),
        ({"seeds": 5}, UsageError, "non-empty list"),
        ({"teacher_seed": "zero"}, UsageError, "teacher_seed"),
        ({"options": {"temperature": "abc"}}, UsageError, "option temperature must be a finite number > 0"),
        ({"options": {"temperature": 0}}, UsageError, "option temperature"),
        ({"options": {"kd_weight": float("nan")}}, UsageError, "option kd_weight"),
        ({"options": {"temprature": 2}}, UsageError, "has no option temprature"),
        ({"dataset": "fake:train=0"}, UsageError, "train must be an integer in"),
    ],
)
def test_bad_experiments_are_clear_errors(changes, error, message):
    values = {"method": "hinton_kd", "dataset": FAKE} | changes
    with pytest.raises(error, match=message):
        Experiment(**values)


def test_run_writes_a_valid_record_and_reuses_stages(tmp_path):
    said = []
    rec = runner.run(experiment(), tmp_path, device="cpu", log=said.append)
    record.validate(rec, "record")
    assert rec["seeds"] == [0, 1] and len(rec["accuracy"]["student"]) == 2
    assert rec["teacher"]["parameters"] > rec["student"]["parameters"]
    assert rec["torch"] and rec["device"] == "cpu" and rec["config"]["dataset"] == FAKE
    assert len(said) == 6  # teacher, baseline, student for two seeds
    said.clear()
    again = runner.run(experiment(), tmp_path, device="cpu", log=said.append)
    assert said == [] and again["accuracy"] == rec["accuracy"]  # every stage came from the store
    said.clear()
    runner.run(experiment("pkt"), tmp_path, device="cpu", log=said.append)
    assert len(said) == 2 and all("pkt" in line for line in said)  # teachers and baselines shared


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(
        f"method: dml\ndataset: '{FAKE}'\nteacher: cnn_medium\nepochs: 2\nseeds: [3, 4]\n"
        "recipe: {batch_size: 16, lr: 1e-2}\nteacher_recipe: {epochs: 5}\noptions: {peers: 3}\n",
        encoding="utf-8",
    )
    e = config.experiment(config.load(path), seeds=(5,), lr=0.2)
    assert e.method == "dml" and e.seeds == (5,) and e.options["peers"] == 3
    assert (e.recipe.epochs, e.recipe.batch_size, e.recipe.lr) == (2, 16, 0.2)
    assert (e.teacher_recipe.epochs, e.teacher_recipe.batch_size) == (5, 16)
    path.write_text("method: dml\nrecipie: {}\n", encoding="utf-8")
    with pytest.raises(UsageError, match="unknown key.*recipie"):
        config.experiment(config.load(path))
    path.write_text("method: [unclosed\n", encoding="utf-8")
    with pytest.raises(UsageError, match="not valid YAML"):
        config.load(path)


def test_the_suite_covers_every_method():
    from kdsurvey.distill import methods as registry
    from kdsurvey.distill import sweep

    suite = sweep.load(Path(__file__).resolve().parents[2] / "reproductions" / "suite.yaml")
    assert sorted(e.method for e in suite.experiments) == sorted(set(registry.names()) - {"ce"})


def run_cli(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_reproduce_end_to_end(capsys, tmp_path):
    rc, out, err = run_cli(
        capsys, "reproduce", "hinton_kd", "--dataset", FAKE, "--teacher", "cnn_medium", "--epochs", "1",
        "--batch-size", "16", "--seeds", "0,1", "--device", "cpu", "--out", tmp_path, "--quiet",
    )  # fmt: skip
    assert (rc, err) == (0, "")
    assert "teacher" in out and "Welch p" in out and "record written to" in out
    (path,) = tmp_path.glob("*.json")
    record.validate(json.loads(path.read_text()), str(path))


def test_cli_reproduce_with_the_teacher_cache_matches_without(capsys, tmp_path):
    argv = ["reproduce", "hinton_kd", "--dataset", FAKE, "--teacher", "cnn_medium", "--epochs", "1",
            "--batch-size", "16", "--seeds", "0", "--device", "cpu", "--quiet"]  # fmt: skip
    assert run_cli(capsys, *argv, "--out", tmp_path / "plain")[0] == 0
    assert run_cli(capsys, *argv, "--out", tmp_path / "cached", "--speed", "teacher_cache=true")[0] == 0
    assert any((tmp_path / "cached" / "cache").iterdir()) and not (tmp_path / "plain" / "cache").exists()
    plain, cached = (json.loads(next((tmp_path / d).glob("*.json")).read_text()) for d in ("plain", "cached"))
    assert plain["accuracy"] == cached["accuracy"]  # the cache changes the cost, not the numbers


def test_cli_list(capsys):
    rc, out, _ = run_cli(capsys, "reproduce", "--list")
    assert rc == 0 and "hinton_kd" in out and "resnet32x4" in out and "fashion-mnist-subset" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["reproduce", "hinton_kdd"], "did you mean hinton_kd"),
        (["reproduce"], "no method given"),
        (["reproduce", "hinton_kd", "--seeds", "0,x"], "integer in"),
        (["reproduce", "hinton_kd", "--option", "temperature"], "KEY=VALUE"),
        (["reproduce", "hinton_kd", "--dataset", "mnist", "--data-dir", "/nonexistent/kd"], "--download"),
        (["reproduce", "hinton_kd", "--config", "/nonexistent/x.yaml"], "does not exist"),
        (["reproduce", "hinton_kd", "--epochs", "0"], "expected a positive integer"),
        (["reproduce", "hinton_kd", "--speed", "compile=nosuchbackend"], "compile backend 'nosuchbackend' is unknown"),
    ],
)
def test_cli_reproduce_errors(capsys, tmp_path, argv, message):
    rc, out, err = run_cli(capsys, *argv, "--out", tmp_path)
    assert rc == 2 and out == "" and message in err and err.count("\n") == 1


def test_killed_process_resumes_to_the_uninterrupted_result(tmp_path):
    """SIGKILL a real `kdsurvey reproduce` once its first checkpoint exists; the rerun ends where one run does."""
    args = [sys.executable, "-m", "kdsurvey", "reproduce", "dml", "--dataset", FAKE.replace("train=96", "train=960"),
            "--epochs", "6", "--batch-size", "16", "--seeds", "0", "--device", "cpu", "--quiet"]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    whole = subprocess.run(args + ["--out", str(tmp_path / "whole")], env=env, capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen(args + ["--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(out.glob("checkpoints/*dml*.ckpt")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not list(out.glob("*.json")), "the run finished before it could be killed; make it longer"
    resumed = subprocess.run(args + ["--out", str(out)], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    (a,), (b,) = (tmp_path / "whole").glob("*.json"), out.glob("*.json")
    first, second = json.loads(a.read_text()), json.loads(b.read_text())
    assert first["accuracy"] == second["accuracy"]
    stage = json.loads(next((out / "stages").glob("cnn_small-dml-*.json")).read_text())
    assert 1 <= stage["resumed_from_epoch"] < 6


def test_a_rerun_with_other_options_needs_replace(capsys, tmp_path):
    argv = ["reproduce", "hinton_kd", "--dataset", FAKE, "--teacher", "cnn_medium", "--epochs", "1",
            "--batch-size", "16", "--seeds", "0", "--device", "cpu", "--quiet", "--out", tmp_path]  # fmt: skip
    assert run_cli(capsys, *argv)[0] == 0
    assert run_cli(capsys, *argv)[0] == 0  # the same configuration: rewritten, same numbers
    rc, out, err = run_cli(capsys, *argv, "--option", "temperature=2")
    assert rc == 2 and "another configuration" in err and "--replace" in err
    (path,) = tmp_path.glob("*.json")
    assert json.loads(path.read_text())["options"]["temperature"] == 4.0
    assert run_cli(capsys, *argv, "--option", "temperature=2", "--replace")[0] == 0
    assert json.loads(path.read_text())["options"]["temperature"] == 2.0


def test_a_users_run_reaches_the_report_beside_the_shipped_rows(capsys, tmp_path):
    """`kdsurvey report --runs DIR` after a one-epoch `reproduce`: the run is a row of its own, labelled."""
    runs = tmp_path / "runs"
    argv = ["reproduce", "hinton_kd", "--dataset", FAKE, "--teacher", "cnn_medium", "--epochs", "1",
            "--batch-size", "16", "--seeds", "0,1", "--device", "cpu", "--quiet", "--out", runs]  # fmt: skip
    assert run_cli(capsys, *argv)[0] == 0
    rc, out, err = run_cli(capsys, "report", "--runs", runs, "--out", tmp_path / "report")
    assert (rc, err) == (0, ""), err
    table = (tmp_path / "report" / "tables" / "reproduced.md").read_text(encoding="utf-8")
    (rec,) = [json.loads(p.read_text()) for p in runs.glob("*.json")]
    assert f"{runs}, config {rec['config_hash'][:8]}" in table and "shipped" in table
    assert "R-hinton_kd-2" in table and FAKE in table  # its own row, beside the shipped Hinton KD row
    metric = (tmp_path / "report" / "tables" / "metric.csv").read_text(encoding="utf-8")
    assert "R-hinton_kd-2" in metric
    assert str(runs) in (tmp_path / "report" / "macros.tex").read_text(encoding="utf-8")
    rc, out, _ = run_cli(capsys, "tables", "--table", "reproduced", "--runs", runs, "--format", "csv")
    assert rc == 0 and "R-hinton_kd-2" in out
