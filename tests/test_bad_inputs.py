"""Bad input, tried as a new user would: every case is exit 2 and one line on stderr, before any work.

Each case runs the real CLI in-process on a fresh folder and asserts: exit code 2, nothing on stdout,
exactly one stderr line starting with "kdsurvey", no traceback, no trained stage under the output
folder, and no file outside the output folder created, changed or deleted. Cases cover flags, experiment
configs, sweep files, result records, stored stages and checkpoints, and the analysis commands.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kdsurvey import cli
from kdsurvey.paths import ENV_VAR, data_dir

FAKE = "fake:classes=4,channels=1,size=16,train=96,test=32"
QUICK = ["--dataset", FAKE, "--teacher", "cnn_medium", "--epochs", "1", "--batch-size", "16", "--seeds", "0",
         "--device", "cpu", "--quiet"]  # fmt: skip

# -- reproduce: flags ------------------------------------------------------------------------------
FLAG_CASES = {
    "unknown method": ["reproduce", "hinton_kdd"],
    "no method": ["reproduce"],
    "method ce": ["reproduce", "ce"],
    "method is a number": ["reproduce", "5"],
    "temperature text": ["reproduce", "hinton_kd", "--option", "temperature=abc"],
    "temperature negative": ["reproduce", "hinton_kd", "--option", "temperature=-1"],
    "temperature zero": ["reproduce", "hinton_kd", "--option", "temperature=0"],
    "temperature nan": ["reproduce", "hinton_kd", "--option", "temperature=nan"],
    "temperature .nan": ["reproduce", "hinton_kd", "--option", "temperature=.nan"],
    "temperature inf": ["reproduce", "hinton_kd", "--option", "temperature=.inf"],
    "temperature list": ["reproduce", "hinton_kd", "--option", "temperature=[1,2]"],
    "temperature mapping": ["reproduce", "hinton_kd", "--option", "temperature={a: 1}"],
    "temperature bool": ["reproduce", "hinton_kd", "--option", "temperature=true"],
    "temperature empty": ["reproduce", "hinton_kd", "--option", "temperature="],
    "kd_weight negative": ["reproduce", "hinton_kd", "--option", "kd_weight=-0.5"],
    "ce_weight text": ["reproduce", "hinton_kd", "--option", "ce_weight=lots"],
    "unknown option": ["reproduce", "hinton_kd", "--option", "temprature=2"],
    "option without =": ["reproduce", "hinton_kd", "--option", "temperature"],
    "option without key": ["reproduce", "hinton_kd", "--option", "=2"],
    "option twice": ["reproduce", "hinton_kd", "--option", "temperature=2", "--option", "temperature=3"],
    "option bad yaml": ["reproduce", "hinton_kd", "--option", "temperature=[1,"],
    "peers 1": ["reproduce", "dml", "--option", "peers=1"],
    "peers float": ["reproduce", "dml", "--option", "peers=2.5"],
    "peer_arch unknown": ["reproduce", "dml", "--option", "peer_arch=cnn_huge"],
    "branches 1": ["reproduce", "one", "--option", "branches=1"],
    "kdcl ensemble": ["reproduce", "kdcl", "--option", "ensemble=median"],
    "fitnets stage 5": ["reproduce", "fitnets", "--option", "stage=5"],
    "fitnets stage negative": ["reproduce", "fitnets", "--option", "stage=-1"],
    "attention p 0": ["reproduce", "attention_transfer", "--option", "p=0"],
    "byot alpha 2": ["reproduce", "byot", "--option", "alpha=2"],
    "takd assistant unknown": ["reproduce", "takd", "--option", "assistant=cnn_tiny"],
    "takd assistant number": ["reproduce", "takd", "--option", "assistant=5"],
    "multi extra_teachers 5": ["reproduce", "multi_teacher", "--option", "extra_teachers=5"],
    "multi extra_teachers empty": ["reproduce", "multi_teacher", "--option", "extra_teachers=[]"],
    "multi extra_teachers unknown": ["reproduce", "multi_teacher", "--option", "extra_teachers=[cnn_smal]"],
    "pkt has no temperature": ["reproduce", "pkt", "--option", "temperature=2"],
    "seeds text": ["reproduce", "hinton_kd", "--seeds", "0,x"],
    "seeds negative": ["reproduce", "hinton_kd", "--seeds", "-1"],
    "seeds overflow": ["reproduce", "hinton_kd", "--seeds", "99999999999999999999999"],
    "seeds 2**32": ["reproduce", "hinton_kd", "--seeds", str(2**32)],
    "seeds empty": ["reproduce", "hinton_kd", "--seeds", ""],
    "seeds empty item": ["reproduce", "hinton_kd", "--seeds", "1,,2"],
    "seeds repeated": ["reproduce", "hinton_kd", "--seeds", "1,1"],
    "seeds float": ["reproduce", "hinton_kd", "--seeds", "1.5"],
    "teacher seed negative": ["reproduce", "hinton_kd", "--teacher-seed", "-3"],
    "teacher seed text": ["reproduce", "hinton_kd", "--teacher-seed", "one"],
    "epochs 0": ["reproduce", "hinton_kd", "--epochs", "0"],
    "epochs negative": ["reproduce", "hinton_kd", "--epochs", "-2"],
    "epochs text": ["reproduce", "hinton_kd", "--epochs", "ten"],
    "epochs float": ["reproduce", "hinton_kd", "--epochs", "1.5"],
    "batch size 0": ["reproduce", "hinton_kd", "--batch-size", "0"],
    "lr 0": ["reproduce", "hinton_kd", "--lr", "0"],
    "lr negative": ["reproduce", "hinton_kd", "--lr", "-0.1"],
    "lr nan": ["reproduce", "hinton_kd", "--lr", "nan"],
    "lr text": ["reproduce", "hinton_kd", "--lr", "fast"],
    "teacher unknown": ["reproduce", "hinton_kd", "--teacher", "resnet1000"],
    "student unknown": ["reproduce", "hinton_kd", "--student", "cnn_tiny"],
    "dataset unknown": ["reproduce", "hinton_kd", "--dataset", "imagenet"],
    "fake train 0": ["reproduce", "hinton_kd", "--dataset", "fake:train=0"],
    "fake test 0": ["reproduce", "hinton_kd", "--dataset", "fake:test=0"],
    "fake classes 1": ["reproduce", "hinton_kd", "--dataset", "fake:classes=1"],
    "fake size text": ["reproduce", "hinton_kd", "--dataset", "fake:size=abc"],
    "fake unknown option": ["reproduce", "hinton_kd", "--dataset", "fake:colour=1"],
    "fake option without =": ["reproduce", "hinton_kd", "--dataset", "fake:train"],
    "validation 0": ["reproduce", "hinton_kd", "--dataset", "fashion-mnist-subset:validation=0"],
    "validation text": ["reproduce", "hinton_kd", "--dataset", "fashion-mnist-subset:validation=half"],
    "validation twice": ["reproduce", "hinton_kd", "--dataset", "fake:validation=5,validation=6"],
    "subset takes no options": ["reproduce", "hinton_kd", "--dataset", "fashion-mnist-subset:train=5"],
    "mnist missing": ["reproduce", "hinton_kd", "--dataset", "mnist", "--data-dir", "{tmp}/no-such-folder"],
    "cifar100 missing": ["reproduce", "hinton_kd", "--dataset", "cifar100", "--data-dir", "{tmp}/no-such-folder"],
    "device cpu:99": ["reproduce", "hinton_kd", "--device", "cpu:99"],
    "device cuda": ["reproduce", "hinton_kd", "--device", "cuda"],
    "device cuda:0": ["reproduce", "hinton_kd", "--device", "cuda:0"],
    "device tpu": ["reproduce", "hinton_kd", "--device", "tpu"],
    "device empty": ["reproduce", "hinton_kd", "--device", ""],
    "speed without =": ["reproduce", "hinton_kd", "--speed", "bf16"],
    "speed unknown": ["reproduce", "hinton_kd", "--speed", "turbo=true"],
    "speed bad value": ["reproduce", "hinton_kd", "--speed", "bf16=maybe"],
    "speed compile backend": ["reproduce", "hinton_kd", "--speed", "compile=nosuchbackend"],
    "config missing": ["reproduce", "hinton_kd", "--config", "{tmp}/missing.yaml"],
    "config is a folder": ["reproduce", "hinton_kd", "--config", "{tmp}"],
    "out is a file": ["reproduce", "hinton_kd", *QUICK, "--out", "{tmp}/a-file"],
    "unknown flag": ["reproduce", "hinton_kd", "--temperature", "2"],
    "list with junk flag": ["reproduce", "--list", "--bogus"],
}

# -- reproduce --config: config files --------------------------------------------------------------
CONFIG_CASES = {
    "seeds scalar": "method: hinton_kd\nseeds: 5\n",
    "seeds empty": "method: hinton_kd\nseeds: []\n",
    "seeds text": "method: hinton_kd\nseeds: [a, b]\n",
    "seeds float": "method: hinton_kd\nseeds: [1.5]\n",
    "seeds huge": "method: hinton_kd\nseeds: [99999999999999999999999]\n",
    "seeds bool": "method: hinton_kd\nseeds: [true]\n",
    "dataset number": "method: hinton_kd\ndataset: 5\n",
    "dataset list": "method: hinton_kd\ndataset: [mnist]\n",
    "method list": "method: [hinton_kd, dml]\n",
    "method mapping": "method: {name: hinton_kd}\n",
    "method null": "method: null\n",
    "teacher number": "method: hinton_kd\nteacher: 5\n",
    "student unknown": "method: hinton_kd\nstudent: cnn_tiny\n",
    "extra_teachers top level": "method: multi_teacher\nextra_teachers: [cnn_medium]\n",
    "assistant top level": "method: takd\nassistant: cnn_small\n",
    "extra_teachers 5": "method: multi_teacher\noptions: {extra_teachers: 5}\n",
    "extra_teachers typo": "method: multi_teacher\noptions: {extra_teachers: cnn_smal}\n",
    "options scalar": "method: hinton_kd\noptions: 5\n",
    "options list": "method: hinton_kd\noptions: [1, 2]\n",
    "options unknown": "method: hinton_kd\noptions: {temprature: 2}\n",
    "options bad temperature": "method: hinton_kd\noptions: {temperature: -4}\n",
    "milestones text": "method: hinton_kd\nrecipe: {milestones: abc}\n",
    "milestones unordered": "method: hinton_kd\nrecipe: {milestones: [0.9, 0.5]}\n",
    "milestones out of range": "method: hinton_kd\nrecipe: {milestones: [0.5, 2]}\n",
    "nesterov maybe": "method: hinton_kd\nrecipe: {nesterov: maybe}\n",
    "recipe scalar": "method: hinton_kd\nrecipe: 5\n",
    "recipe epochs 0": "method: hinton_kd\nrecipe: {epochs: 0}\n",
    "recipe epochs text": "method: hinton_kd\nrecipe: {epochs: ten}\n",
    "recipe lr text": "method: hinton_kd\nrecipe: {lr: fast}\n",
    "recipe lr negative": "method: hinton_kd\nrecipe: {lr: -1}\n",
    "recipe schedule": "method: hinton_kd\nrecipe: {schedule: zigzag}\n",
    "recipe schedule number": "method: hinton_kd\nrecipe: {schedule: 3}\n",
    "recipe unknown field": "method: hinton_kd\nrecipe: {optimizer: adam}\n",
    "teacher_recipe list": "method: hinton_kd\nteacher_recipe: []\n",
    "epochs text": "method: hinton_kd\nepochs: abc\n",
    "teacher_seed negative": "method: hinton_kd\nteacher_seed: -1\n",
    "data_seed text": "method: hinton_kd\ndata_seed: abc\n",
    "unknown key": "method: hinton_kd\nrecipie: {}\n",
    "duplicate key": "method: hinton_kd\nseeds: [0]\nseeds: [1]\n",
    "duplicate nested key": "method: hinton_kd\nrecipe: {lr: 0.1, lr: 0.2}\n",
    "top level list": "- method: hinton_kd\n",
    "top level scalar": "hinton_kd\n",
    "empty file": "",
    "invalid yaml": "method: [unclosed\n",
    "tab indentation": "method: hinton_kd\nrecipe:\n\tepochs: 2\n",
    "non-string key": "1: hinton_kd\nmethod: hinton_kd\n",
    "fake train 0": "method: hinton_kd\ndataset: 'fake:train=0'\n",
}

# -- sweep: sweep files and flags ------------------------------------------------------------------
GRID = {"methods": ["hinton_kd"], "pairs": [["cnn_medium", "cnn_small"]], "dataset": FAKE, "seeds": [0],
        "recipe": {"epochs": 1, "batch_size": 16}}  # fmt: skip
SWEEP_CASES = {
    "methods number": {"methods": 5},
    "methods empty": {"methods": []},
    "methods unknown": {"methods": ["hinton_kdd"]},
    "methods repeated": {"methods": ["dml", "dml"]},
    "methods options scalar": {"methods": {"hinton_kd": 5}},
    "methods options unknown": {"methods": {"hinton_kd": {"temprature": 2}}},
    "methods options bad value": {"methods": {"hinton_kd": {"temperature": "hot"}}},
    "pairs number": {"pairs": 5},
    "pairs empty": {"pairs": []},
    "pair of one": {"pairs": [["cnn_large"]]},
    "pair unknown model": {"pairs": [["cnn_large", "cnn_nope"]]},
    "pair extra key": {"pairs": [{"teacher": "cnn_large", "student": "cnn_small", "assistant": "cnn_medium"}]},
    "pairs repeated": {"pairs": [["cnn_large", "cnn_small"], ["cnn_large", "cnn_small"]]},
    "include nothing": {"include": "nothing/*.yaml"},
    "include number": {"include": 5},
    "unknown key": {"sedes": [0]},
    "seeds repeated": {"seeds": [0, 0]},
    "seeds scalar": {"seeds": 3},
    "shared option unknown for a method": {"methods": ["dml", "pkt"], "options": {"temperature": 2}},
    "options scalar": {"options": 3},
    "recipe bad": {"recipe": {"epochs": -1}},
    "dataset unknown": {"dataset": "imagenet"},
    "no experiments": "EMPTY",
    "tuning scalar": {"tuning": 5},
    "tuning unknown method": {"tuning": {"validation": 8, "seeds": [0], "grids": {"pkt": {"pkt_weight": [1]}}}},
    "tuning bad value": {"tuning": {"validation": 8, "seeds": [0], "grids": {"hinton_kd": {"temperature": [0]}}}},
}
SWEEP_FLAG_CASES = {
    "jobs 0": ["--jobs", "0"],
    "jobs text": ["--jobs", "two"],
    "threads 0": ["--threads", "0"],
    "only empty": ["--only", ""],
    "only unknown": ["--only", "rkd"],
    "slurm flag without slurm": ["--slurm-time", "60"],
    "executor unknown": ["--executor", "pbs"],
    "device cpu:3": ["--device", "cpu:3"],
    "device cuda": ["--device", "cuda"],
    "speed unknown": ["--speed", "turbo=on"],
    "records is a file": ["--records", "{tmp}/a-file"],
    "sweep file missing": "MISSING",
}

# -- records read by the analysis side -------------------------------------------------------------
RECORD_CASES = {
    "teacher accuracy 0": lambda r: r["accuracy"].update(teacher=[0.0] * 3),
    "student accuracy negative": lambda r: r["accuracy"].update(student=[-1.0, 80.0, 80.0]),
    "baseline above 100": lambda r: r["accuracy"].update(baseline=[101.0, 80.0, 80.0]),
    "accuracy text": lambda r: r["accuracy"].update(student=["high", 80.0, 80.0]),
    "accuracy null": lambda r: r["accuracy"].update(student=[None, 80.0, 80.0]),
    "accuracy one short": lambda r: r["accuracy"].update(student=[80.0, 80.0]),
    "accuracy role missing": lambda r: r["accuracy"].pop("baseline"),
    "seeds text": lambda r: r.update(seeds=["a", "b", "c"]),
    "seeds repeated": lambda r: r.update(seeds=[0, 0, 1]),
    "seeds negative": lambda r: r.update(seeds=[-1, 0, 1]),
    "seeds empty": lambda r: r.update(seeds=[]),
    "parameters zero": lambda r: r["student"].update(parameters=0),
    "parameters text": lambda r: r["teacher"].update(parameters="many"),
    "arch missing": lambda r: r["teacher"].pop("arch"),
    "format": lambda r: r.update(format="other/9"),
    "strategy": lambda r: r.update(strategy="sideways"),
    "missing field": lambda r: r.pop("config_hash"),
    "epochs zero": lambda r: r.update(epochs=0),
    "epochs text": lambda r: r.update(epochs="ten"),
    "title with NUL": lambda r: r.update(title="Hinton\x00KD"),
    "title with newline": lambda r: r.update(title="Hinton\nKD"),
    "method empty": lambda r: r.update(method=""),
    "wall time negative": lambda r: r.update(wall_time_s=-1),
    "not an object": lambda r: "LIST",
    "truncated json": lambda r: "TRUNCATED",
    "empty file": lambda r: "EMPTY",
    "NaN accuracy": lambda r: "NAN",
    "duplicate under two names": lambda r: "DUPLICATE",
}

# -- stored stages and checkpoints under --out ------------------------------------------------------
STORED_CASES = {
    "stage weights empty": ("weights", b""),
    "stage weights truncated": ("weights", "TRUNCATE"),
    "stage weights foreign text": ("weights", b"this is not a torch file\n"),
    "stage weights a json file": ("weights", b'{"a": 1}'),
    "stage weights a pickled list": ("weights", "LIST"),
    "stage result invalid json": ("result", b"{not json"),
    "stage result of another stage": ("result", b'{"key": "0000000000000000", "accuracy": {"student": 50}}'),
    "stage result empty": ("result", b""),
    "checkpoint empty": ("checkpoint", b""),
    "checkpoint foreign": ("checkpoint", b"garbage" * 10),
    "checkpoint of another run": ("checkpoint", "OTHER_RUN"),
}

# -- analysis commands ------------------------------------------------------------------------------
ANALYSIS_CASES = {
    "alpha above 1": ["tables", "--table", "metric", "--alpha", "2"],
    "alpha text": ["metric", "--alpha", "half"],
    "alpha nan": ["metric", "--alpha", "nan"],
    "unknown table": ["tables", "--table", "9"],
    "unknown format": ["tables", "--format", "docx"],
    "csv of all tables": ["tables", "--format", "csv"],
    "metric partial": ["metric", "--student-size", "1"],
    "metric negative size": [
        "metric",
        "--student-size",
        "-1",
        "--teacher-size",
        "2",
        "--student-acc",
        "50",
        "--teacher-acc",
        "60",
    ],
    "metric teacher accuracy 0": [
        "metric",
        "--student-size",
        "1",
        "--teacher-size",
        "2",
        "--student-acc",
        "50",
        "--teacher-acc",
        "0",
    ],
    "cite unknown key": ["cite", "nosuchkey2099"],
    "cite keys and table": ["cite", "hinton2015distilling", "--table", "1"],
    "data folder missing": ["--data", "{tmp}/no-such-data", "tables"],
    "report out is a file": ["report", "--out", "{tmp}/a-file"],
    "plots out is a file": ["plots", "--out", "{tmp}/a-file"],
    "unknown command": ["distil"],
    "runs folder missing": ["report", "--runs", "{tmp}/no-runs", "--out", "{tmp}/out"],
    "runs folder without records": ["tables", "--table", "reproduced", "--runs", "{tmp}"],
    "runs folder with a broken record": ["tables", "--runs", "{tmp}/broken-runs"],
}


def _snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file() and skip not in p.parents
    }


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A fresh folder to run in: the output folder `out`, a plain file `a-file`, and the packaged data."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder\n", encoding="utf-8")
    (tmp_path / "broken-runs").mkdir()
    (tmp_path / "broken-runs" / "r.json").write_text('{"format": "kdsurvey-result/1"}', encoding="utf-8")
    return tmp_path


def expect_refusal(capsys, world: Path, argv: list[str], *, out_dir: Path | None = None, trained_before: int = 0):
    out_dir = out_dir or world / "out"
    argv = [a.replace("{tmp}", str(world)) for a in argv]
    before = _snapshot(world, out_dir)
    rc = cli.main(argv)
    stdout, stderr = capsys.readouterr()
    assert rc == 2, f"exit {rc} for {argv}: {stderr}"
    assert stdout == "", stdout
    assert stderr.count("\n") == 1 and stderr.startswith("kdsurvey"), stderr
    assert "Traceback" not in stderr
    assert len(list(out_dir.glob("stages/*.pt"))) == trained_before, "a stage was trained"
    assert _snapshot(world, out_dir) == before, "a file outside the output folder changed"
    return stderr


def _run_argv(argv: list[str]) -> list[str]:
    if argv and argv[0] in ("reproduce", "sweep") and "--out" not in argv:
        return [*argv, "--out", "{tmp}/out"]
    return argv


@pytest.mark.parametrize("argv", FLAG_CASES.values(), ids=FLAG_CASES.keys())
def test_bad_reproduce_flags(capsys, world, argv):
    expect_refusal(capsys, world, _run_argv(argv))


@pytest.mark.parametrize("text", CONFIG_CASES.values(), ids=CONFIG_CASES.keys())
def test_bad_configs(capsys, world, text):
    path = world / "config.yaml"
    path.write_text(text, encoding="utf-8")
    err = expect_refusal(capsys, world, ["reproduce", "--config", str(path), "--out", str(world / "out")])
    assert "config.yaml" in err or "seed" in err or "epochs" in err


def test_a_config_that_is_not_utf8(capsys, world):
    path = world / "config.yaml"
    path.write_bytes(b"method: hinton_kd\n\xff\xfe\x00")
    assert "config.yaml" in expect_refusal(capsys, world, ["reproduce", "--config", str(path), "--out", "out"])


def _sweep_file(world: Path, case) -> Path:
    path = world / "sweep.yaml"
    values = {} if case == "EMPTY" else GRID | case
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", SWEEP_CASES.values(), ids=SWEEP_CASES.keys())
def test_bad_sweeps(capsys, world, case):
    path = _sweep_file(world, case)
    err = expect_refusal(capsys, world, ["sweep", str(path), "--out", str(world / "out")])
    assert "sweep.yaml" in err


def test_a_sweep_with_duplicate_keys(capsys, world):
    path = world / "sweep.yaml"
    path.write_text("methods: [hinton_kd]\nseeds: [0]\nseeds: [1]\n", encoding="utf-8")
    assert "duplicate key" in expect_refusal(capsys, world, ["sweep", str(path), "--out", "out"])


@pytest.mark.parametrize("flags", SWEEP_FLAG_CASES.values(), ids=SWEEP_FLAG_CASES.keys())
def test_bad_sweep_flags(capsys, world, flags):
    if flags == "MISSING":
        path, flags = world / "missing.yaml", []
    else:
        path = _sweep_file(world, {})  # a valid sweep: only the flag is wrong
    expect_refusal(capsys, world, ["sweep", str(path), "--out", "{tmp}/out", *flags])


def _a_record() -> dict:
    folder = data_dir() / "reproduced"
    return json.loads(next(iter(sorted(folder.glob("*.json")))).read_text(encoding="utf-8"))


@pytest.mark.parametrize("change", RECORD_CASES.values(), ids=RECORD_CASES.keys())
def test_bad_records(capsys, world, change):
    data = Path(shutil.copytree(data_dir(), world / "data"))
    folder = data / "reproduced"
    original = next(iter(sorted(folder.glob("*.json"))))
    rec = json.loads(original.read_text(encoding="utf-8"))
    what = change(rec)
    text = json.dumps(rec)
    if what == "LIST":
        text = "[1, 2, 3]"
    elif what == "TRUNCATED":
        text = text[: len(text) // 2]
    elif what == "EMPTY":
        text = ""
    elif what == "NAN":
        text = text.replace('"student": [', '"student": [NaN, ', 1)
    elif what == "DUPLICATE":
        shutil.copy(original, folder / "zz-copy.json")
    original.write_text(text, encoding="utf-8")
    for argv in (["--data", str(data), "tables", "--table", "reproduced"], ["--data", str(data), "report",
                                                                            "--out", str(world / "out")]):  # fmt: skip
        err = expect_refusal(capsys, world, argv)
        assert "reproduced" in err and ".json" in err


def _stored_case(world: Path, kind: str, content):
    """Write a broken stored file for the teacher stage of QUICK's Hinton KD experiment."""
    import torch

    from kdsurvey.distill import config
    from kdsurvey.distill.store import Store

    experiment = config.experiment({}, method="hinton_kd", teacher="cnn_medium", dataset=FAKE, seeds=(0,), epochs=1,
                                   batch_size=16)  # fmt: skip
    store = Store(world / "out")
    stage = experiment.teacher_stage(0)
    weights, result, checkpoint = store.weights(stage), store.result(stage), store.checkpoint(stage)
    for path in (weights, checkpoint):
        path.parent.mkdir(parents=True, exist_ok=True)
    good_result = json.dumps({"key": stage.key, "accuracy": {"student": 50.0}, "parameters": 1, "wall_time_s": 1})
    if kind == "checkpoint":
        path = checkpoint
    else:
        torch.save({"w": torch.zeros(2)}, weights)
        result.write_text(good_result, encoding="utf-8")
        path = weights if kind == "weights" else result
    if content == "TRUNCATE":
        content = weights.read_bytes()[:40]
    elif content == "LIST":
        torch.save([1, 2, 3], path)
        return path
    elif content == "OTHER_RUN":
        torch.save({"format": 1, "fingerprint": "another", "epochs_done": 1}, path)
        return path
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("case", STORED_CASES.values(), ids=STORED_CASES.keys())
def test_corrupted_stored_files(capsys, world, case):
    path = _stored_case(world, *case)
    trained = len(list((world / "out").glob("stages/*.pt")))
    err = expect_refusal(capsys, world, ["reproduce", "hinton_kd", *QUICK, "--out", str(world / "out")],
                         trained_before=trained)  # fmt: skip
    assert path.name in err and "--retrain" in err


@pytest.mark.parametrize("argv", ANALYSIS_CASES.values(), ids=ANALYSIS_CASES.keys())
def test_bad_analysis_requests(capsys, world, argv):
    expect_refusal(capsys, world, argv)


def test_report_inside_its_own_output_folder(capsys, world, monkeypatch):
    assert cli.main(["report", "--out", str(world / "rep")]) == 0
    capsys.readouterr()
    (world / "rep").joinpath("keep.txt").write_text("mine\n", encoding="utf-8")
    monkeypatch.chdir(world / "rep")
    before = _snapshot(world, world / "nothing")
    err = expect_refusal(capsys, world / "rep", ["report", "--out", "."], out_dir=world / "rep")
    assert "report" in err or "folder" in err
    assert _snapshot(world, world / "nothing") == before


def test_retrain_replaces_a_corrupted_stage(capsys, world):
    """The remedy the errors name: --retrain deletes the unreadable file and trains that stage again."""
    _stored_case(world, "weights", b"")
    rc = cli.main(["reproduce", "hinton_kd", *QUICK, "--out", str(world / "out"), "--retrain"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "record written" in out and len(list((world / "out").glob("stages/*.pt"))) == 3


def test_there_are_at_least_150_cases():
    count = (len(FLAG_CASES) + len(CONFIG_CASES) + len(SWEEP_CASES) + len(SWEEP_FLAG_CASES) + len(RECORD_CASES)
             + len(STORED_CASES) + len(ANALYSIS_CASES) + 3)  # fmt: skip
    assert count >= 150, count


@pytest.mark.parametrize("kind", ["another configuration", "not a record"])
def test_a_record_of_another_configuration_is_not_overwritten(capsys, world, kind):
    """`reproduce` never replaces OUT/<run id>.json silently when it holds another configuration's record."""
    out = world / "out"
    out.mkdir()
    name = f"hinton_kd--{FAKE}--cnn_medium--cnn_small.json"
    text = json.dumps(_a_record() | {"config_hash": "0123456789abcdef"}) if kind == "another configuration" else "{"
    (out / name).write_text(text, encoding="utf-8")
    err = expect_refusal(capsys, world, ["reproduce", "hinton_kd", *QUICK, "--out", str(out)])
    assert name in err and "--replace" in err
    assert (out / name).read_text(encoding="utf-8") == text
