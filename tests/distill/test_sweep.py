"""Sweeps: the spec and its errors, the plan, local and submitit executors, skipping and resuming."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from conftest import FAKE

from kdsurvey import cli
from kdsurvey.distill import runner, sweep, sweeprun
from kdsurvey.distill.store import Store
from kdsurvey.errors import DataNotFoundError, UnknownNameError, UsageError

REPO = Path(__file__).resolve().parents[2]
QUICK = {"epochs": 1, "batch_size": 16, "lr": 0.05}
GRID = {"methods": ["hinton_kd", "takd"], "pairs": [["cnn_medium", "cnn_small"]], "dataset": FAKE,
        "seeds": [0, 1], "teacher_seed": 0, "recipe": QUICK}  # fmt: skip
VARYING = {"wall_time_s", "stage_wall_time_s", "git_commit"}  # differ between any two runs


def write_sweep(folder: Path, values: dict) -> Path:
    path = folder / "sweep.yaml"
    path.write_text(json.dumps(values), encoding="utf-8")  # JSON is YAML
    return path


@pytest.mark.parametrize(
    "values, error, message",
    [
        ({"methods": ["hinton_kdd"]}, UnknownNameError, "hinton_kdd.*did you mean hinton_kd"),
        ({"methods": ["ce"]}, UsageError, "name a distillation method"),
        ({"methods": ["dml"], "seeds": 3}, UsageError, "seeds must be a non-empty list"),
        ({"methods": ["dml"], "seeds": [1, 1]}, UsageError, "distinct"),
        ({"methods": ["dml"], "seeds": [-1]}, UsageError, "integer in"),
        ({"methods": ["dml"], "sedes": [0]}, UsageError, "unknown key.*sedes"),
        ({"include": "nothing/*.yaml"}, DataNotFoundError, "matches no file"),
        ({"include": "configs/*.yaml", "seeds": [0]}, UsageError, "needs 'methods'"),
        ({"methods": ["dml"], "pairs": [{"teacher": "cnn_large", "student": "cnn_small", "assistant": "x"}]},
         UsageError, "a pair is"),
        ({}, UsageError, "include.*methods"),
        ({"methods": ["dml", "dml"]}, UsageError, "distinct names"),
        ({"methods": ["dml"], "pairs": [["cnn_large"]]}, UsageError, "a pair is"),
        ({"methods": {"hinton_kd": {"temprature": 2}}}, UsageError, "hinton_kd.*no option temprature"),
        ({"methods": ["dml", "pkt"], "options": {"temperature": 2}}, UsageError, "'pkt' has no option temperature"),
        ({"methods": ["dml"], "pairs": [["cnn_large", "cnn_small"], ["cnn_large", "cnn_small"]]}, UsageError,
         "would both write the record"),
    ],
)  # fmt: skip
def test_bad_sweeps_are_clear_errors(tmp_path, values, error, message):
    with pytest.raises(error, match=message):
        sweep.load(write_sweep(tmp_path, values))


def test_grid_and_includes(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "pkt.yaml").write_text(f"method: pkt\ndataset: '{FAKE}'\nseeds: [4]\n", encoding="utf-8")
    values = {"include": "configs/*.yaml", "methods": {"hinton_kd": {"temperature": 2}, "dml": None},
              "pairs": [["cnn_medium", "cnn_small"], {"teacher": "cnn_large", "student": "cnn_medium"}],
              "dataset": FAKE, "seeds": [0, 1], "epochs": 3, "options": {}}  # fmt: skip
    spec = sweep.load(write_sweep(tmp_path, values))
    got = [(e.method, e.teacher, e.student, e.seeds, e.recipe.epochs, e.options.get("temperature"))
           for e in spec.experiments]  # fmt: skip
    assert got == [
        ("pkt", "cnn_large", "cnn_small", (4,), 10, None),  # an included config is taken as written
        ("hinton_kd", "cnn_medium", "cnn_small", (0, 1), 3, 2.0),
        ("dml", "cnn_medium", "cnn_small", (0, 1), 3, 1.0),
        ("hinton_kd", "cnn_large", "cnn_medium", (0, 1), 3, 2.0),
        ("dml", "cnn_large", "cnn_medium", (0, 1), 3, 1.0),
    ]
    assert [e.method for e in spec.only({"pkt", "dml"}).experiments] == ["pkt", "dml", "dml"]
    with pytest.raises(UsageError, match="no experiment for method.*rkd"):
        spec.only({"rkd"})


def test_the_default_suite_is_one_grid_of_thirteen_methods():
    spec = sweep.load(REPO / "reproductions" / "suite.yaml")
    assert len(spec.experiments) == 13 and len({e.method for e in spec.experiments}) == 13
    assert {(e.teacher, e.student, e.dataset, e.seeds) for e in spec.experiments} == {
        ("cnn_large", "cnn_small", "fashion-mnist-subset", (0, 1, 2, 3, 4))
    }
    options = {e.method: e.options for e in spec.experiments}
    assert options["takd"]["assistant"] == "cnn_medium" and options["multi_teacher"]["extra_teachers"] == ["cnn_medium"]
    assert set(spec.tuning.grids) == set(options) and spec.tuning.validation == 2000  # every method tuned


def test_plan_trains_each_stage_once_shared_first(tmp_path):
    spec = sweep.from_values(GRID, tmp_path)
    plan = sweep.plan(spec)
    hinton, takd = spec.experiments
    stages = [t.stage for t in plan.stages]
    assert len(stages) == len({s.key for s in stages}) == 8  # teacher, 2 baselines, assistant, 2 + 2 students
    assert stages[:3] == [hinton.teacher_stage(0), hinton.baseline_stage(0), hinton.baseline_stage(1)]
    assert all(t.used_by == 2 for t in plan.stages[:3]) and stages[3] == takd.student_stage(0).teachers[0]
    position = {t.name: i for i, t in enumerate(plan.tasks)}
    assert all(position[need] < position[t.name] for t in plan.tasks for need in t.needs)
    assert [t.kind for t in plan.tasks[-2:]] == ["record", "record"] and len(plan.records[0].needs) == 5
    store = Store(tmp_path / "out")
    for path in (store.weights(stages[0]), store.result(stages[0]), store.checkpoint(stages[1])):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    text = sweep.listing(plan, store, tmp_path / "records")
    assert "2 experiment(s), 8 stage(s)" in text and "(1 done, 1 to resume, 6 to train)" in text
    assert f"done    {stages[0].label}" in text and f"resume  {stages[1].label}" in text


def without(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in VARYING}


def stage_results(out: Path) -> dict:
    return {p.name: {k: json.loads(p.read_text())[k] for k in ("accuracy", "history")}
            for p in (out / "stages").glob("*.json")}  # fmt: skip


def test_local_workers_match_one_process_and_a_second_call_trains_nothing(tmp_path, capsys):
    spec = sweep.from_values(GRID, tmp_path)
    torch.set_num_threads(1)  # the workers' thread count, so that results can match bit for bit
    expected = {e.method: runner.run(e, tmp_path / "one", device="cpu") for e in spec.experiments}
    said = []
    summary = sweeprun.run(spec, tmp_path / "out", tmp_path / "records", jobs=2, threads=1, device="cpu",
                           log=said.append)  # fmt: skip
    assert len(summary.ran) == 8 and set(summary.ran.values()) == {"trained"} and len(summary.records) == 2
    for e in spec.experiments:
        got = json.loads((tmp_path / "records" / f"{e.method}--{FAKE}--cnn_medium--cnn_small.json").read_text())
        assert without(got) == without(expected[e.method])
    assert stage_results(tmp_path / "out") == stage_results(tmp_path / "one")
    assert sum(line.startswith("train ") for line in said) == 8

    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "out" / "stages").iterdir()}
    path = write_sweep(tmp_path, GRID)
    rc = cli.main(["sweep", str(path), "--out", str(tmp_path / "out"), "--records", str(tmp_path / "records"),
                   "--device", "cpu"])  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 0 and "0 stage(s) run (0 resumed), 8 already stored" in out and out.count("record written") == 2
    assert "train " not in err and err.count("write ") == 2
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out" / "stages").iterdir()} == stamps


class Interrupted(RuntimeError):
    pass


def test_an_interrupted_sweep_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    values = GRID | {"methods": ["hinton_kd"], "seeds": [0], "recipe": QUICK | {"epochs": 2}}
    spec = sweep.from_values(values, tmp_path)
    (experiment,) = spec.experiments
    student = experiment.student_stage(0)
    fit = runner.fit

    def stop_after_one_epoch(*args, **kwargs):
        if kwargs["fingerprint"] == student.key:
            kwargs["on_epoch_end"] = lambda epoch: (_ for _ in ()).throw(Interrupted("stopped"))
        return fit(*args, **kwargs)

    monkeypatch.setattr(runner, "fit", stop_after_one_epoch)
    with pytest.raises(sweeprun.SweepFailed, match=f"2 task.*first {student.label}: Interrupted: stopped"):
        sweeprun.run(spec, tmp_path / "out", tmp_path / "records", device="cpu")
    assert not (tmp_path / "records").exists()
    listing = sweep.listing(sweep.plan(spec), Store(tmp_path / "out"), tmp_path / "records")
    assert "(2 done, 1 to resume, 0 to train)" in listing
    monkeypatch.setattr(runner, "fit", fit)
    summary = sweeprun.run(spec, tmp_path / "out", tmp_path / "records", device="cpu")
    assert summary.ran == {student.label: "resumed at epoch 2"} and len(summary.stored) == 2
    (path,) = summary.records
    whole = runner.run(experiment, tmp_path / "whole", device="cpu")
    assert json.loads(path.read_text())["accuracy"] == whole["accuracy"]


def test_slurm_executor_through_submitit_debug(tmp_path):
    pytest.importorskip("submitit", reason="submitit is not installed (pip install 'kdsurvey[slurm]')")
    from kdsurvey.distill import executors

    spec = sweep.from_values(GRID | {"methods": ["hinton_kd"], "seeds": [0]}, tmp_path)
    slurm = {"cluster": "debug", "partition": "gpu", "time_min": 5, "cpus": 1, "options": {"account": "x"}}
    with warnings.catch_warnings():  # submitit's debug jobs drop their log file handlers without closing them
        warnings.simplefilter("ignore", ResourceWarning)
        summary = sweeprun.run(spec, tmp_path / "out", tmp_path / "records", jobs=2, device="cpu",
                               executor="slurm", slurm=slurm)  # fmt: skip
        gc.collect()
    assert len(summary.ran) == 3 and len(summary.records) == 1
    whole = runner.run(spec.experiments[0], tmp_path / "whole", device="cpu")
    assert without(json.loads(summary.records[0].read_text())) == without(whole)
    assert any((tmp_path / "out" / "slurm").rglob("*_log.out"))  # submitit's per-job logs
    work = executors.Work(tmp_path / "out", tmp_path / "records")
    again = work.checkpoint("task")  # what submitit requeues after a timeout or preemption
    assert again.function is work and again.args == ("task",)


def test_slurm_without_submitit_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit -> ImportError
    path = write_sweep(tmp_path, GRID)
    rc = cli.main(["sweep", str(path), "--out", str(tmp_path), "--executor", "slurm", "--slurm-time", "60"])
    out, err = capsys.readouterr()
    assert (rc, out) == (2, "")
    assert err == "kdsurvey: error: the slurm executor needs submitit; install it with: pip install 'kdsurvey[slurm]'\n"
    assert not (tmp_path / "stages").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--slurm-partition", "gpu"], "--slurm-partition needs --executor slurm"),
        (["--jobs", "0"], "expected a positive integer"),
        (["--only", "rkd"], "no experiment for method(s) rkd"),
        (["--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_cli_sweep_errors(tmp_path, capsys, argv, message):
    try:
        rc = cli.main(["sweep", str(write_sweep(tmp_path, GRID)), "--out", str(tmp_path), *argv])
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and message in err and err.count("\n") == 1


def test_cli_dry_run_lists_and_trains_nothing(tmp_path, capsys):
    rc = cli.main(["sweep", str(write_sweep(tmp_path, GRID)), "--out", str(tmp_path / "out"), "--dry-run"])
    out, err = capsys.readouterr()
    assert (rc, err) == (0, "") and "(0 done, 0 to resume, 8 to train)" in out and out.count("  write ") == 2
    assert not (tmp_path / "out").exists()


def test_sweep_without_torch_says_how_to_install(tmp_path):
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from kdsurvey import cli\n"
        "sys.exit(cli.main(['sweep', 'sweep.yaml', '--dry-run']))\n"
    )
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert (
        done.stderr == "kdsurvey: error: reproductions need PyTorch; install it with: pip install 'kdsurvey[torch]'\n"
    )


def test_run_suite_wraps_the_sweep(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_suite", REPO / "reproductions" / "run_suite.py")
    run_suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_suite)
    suite = write_sweep(tmp_path, GRID | {"methods": ["pkt", "dml"], "seeds": [0]})
    argv = ["--suite", str(suite), "--out", str(tmp_path / "out"), "--records", str(tmp_path / "rec"),
            "--device", "cpu", "--jobs", "1"]  # fmt: skip
    assert run_suite.main(argv + ["--only", "pkt"]) == 0
    assert "1 record(s); 3 stage(s) run" in capsys.readouterr().out
    assert [p.name.split("--")[0] for p in (tmp_path / "rec").iterdir()] == ["pkt"]
    with pytest.raises(SystemExit, match="run_suite: .*no experiment for method\\(s\\) rkd"):
        run_suite.main(argv + ["--only", "rkd"])


def test_local_workers_spread_over_the_gpus(tmp_path, monkeypatch):
    from kdsurvey.distill import executors

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    work = executors.Work(tmp_path, tmp_path, device="auto")
    for slot, device in ((None, "auto"), (0, "cuda:0"), (3, "cuda:1")):
        assert work._device(slot) == device
    assert executors.Work(tmp_path, tmp_path, device="cuda:1")._device(1) == "cuda:1"  # as asked
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert work._device(1) == "auto"  # one GPU: every worker shares it


def test_speed_switches_reach_the_workers_and_the_plan_keys(tmp_path, capsys):
    """A switch that changes numbers (fused SGD on the CPU) is in every stage key the plan lists and the
    workers store, so a second call finds them all done; the teacher cache reaches the workers too."""
    path = write_sweep(tmp_path, {**GRID, "methods": ["hinton_kd"], "seeds": [0]})
    out = tmp_path / "runs"
    argv = ["sweep", str(path), "--out", str(out), "--device", "cpu", "--quiet",
            "--speed", "fused_optimizer=true", "--speed", "teacher_cache=on"]  # fmt: skip
    assert cli.main(argv) == 0
    capsys.readouterr()
    stored = sorted(p.stem for p in (out / "stages").glob("*.json"))
    plain = sweep.plan(sweep.load(path))
    assert len(stored) == len(plain.stages) == 3
    assert not {t.name for t in plain.stages} & set(stored)  # other keys than without the switch
    assert all(json.loads((out / "stages" / f"{s}.json").read_text())["stage"]["speed"] == {"fused_optimizer": True}
               for s in stored)  # fmt: skip
    assert any((out / "cache").iterdir())  # the distilled student took its teacher's outputs from the cache
    assert cli.main([*argv, "--dry-run"]) == 0
    assert "(3 done, 0 to resume, 0 to train)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--speed", "bf16"], "--speed takes KEY=VALUE"),
        (["--speed", "turbo=true"], "unknown speed setting.*turbo"),
        (["--speed", "bf16=maybe"], "bf16 must be true, false or absent"),
        (["--speed", "bf16=true", "--executor", "slurm"], "name the jobs' device"),
    ],
)
def test_cli_speed_errors(tmp_path, capsys, argv, message):
    path = write_sweep(tmp_path, {**GRID, "methods": ["hinton_kd"]})
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "r"), "--dry-run", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message, err), err


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (Linux /proc), found through each task's children file."""
    found, todo = set(), [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                kids = {int(k) for k in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += list(kids - found)
            found |= kids
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has stopped; it only waits to be reaped


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds worker processes through Linux's /proc")
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL", "SIGINT"])
def test_stopping_a_sweep_leaves_no_worker_alive(tmp_path, how):
    """`kdsurvey sweep --jobs 2` stopped mid-training: within 10 s none of its workers is alive."""
    path = write_sweep(tmp_path, GRID | {"methods": ["dml", "one"], "recipe": {"epochs": 400, "batch_size": 16}})
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "kdsurvey", "sweep", str(path), "--out", str(out), "--jobs", "2", "--threads", "1",
            "--device", "cpu", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(argv, env=os.environ | {"OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline, workers = time.monotonic() + 120, set()
        while time.monotonic() < deadline and proc.poll() is None:
            workers = _descendants(proc.pid)
            if len(workers) >= 2 and len(list(out.glob("checkpoints/*.ckpt"))) >= 2:
                break  # two workers, each inside a stage
            time.sleep(0.2)
        assert proc.poll() is None and len(workers) >= 2, "the sweep did not get two workers training"
        workers = _descendants(proc.pid)
        proc.send_signal(getattr(signal, how))
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.2)
        assert not [p for p in workers if _alive(p)], f"workers alive 10 s after {how}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in _descendants(proc.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


TUNED = GRID | {"methods": ["hinton_kd", "dml"],
                "tuning": {"validation": 32, "seeds": [0], "grids": {"hinton_kd": {"temperature": [2, 4]}}}}  # fmt: skip


@pytest.mark.parametrize(
    "tuning, message",
    [
        (5, "tuning must be a mapping"),
        ({"validation": 32, "seeds": [0]}, "takes exactly"),
        ({"validation": 0, "seeds": [0], "grids": {"dml": {"temperature": [2]}}}, "validation must be a positive"),
        ({"validation": 32, "seeds": [], "grids": {"dml": {"temperature": [2]}}}, "seeds must be a non-empty"),
        ({"validation": 32, "seeds": [0], "grids": {"pkt": {"pkt_weight": [1]}}}, "which the sweep does not run"),
        ({"validation": 32, "seeds": [0], "grids": {"dml": {"temperature": 2}}}, "must list the values"),
        ({"validation": 32, "seeds": [0], "grids": {"dml": {"temprature": [2]}}}, "has no option temprature"),
        ({"validation": 32, "seeds": [0], "grids": {"dml": {"temperature": [-1]}}}, "option temperature must be"),
    ],
)
def test_bad_tuning_sections_are_clear_errors(tmp_path, tuning, message):
    with pytest.raises(UsageError, match=message):
        sweep.load(write_sweep(tmp_path, {**TUNED, "tuning": tuning}))


def test_the_best_validation_candidate_is_chosen_and_recorded():
    from kdsurvey.distill import tuning

    spec = sweep.from_values(TUNED | {"tuning": TUNED["tuning"] | {"grids": {"hinton_kd": {
        "temperature": [2, 4], "kd_weight": [0.5, 0.9]}}}}, ".")  # fmt: skip
    hinton = spec.experiments[0]
    found = tuning.candidates(hinton, spec.tuning)
    assert [c.options["temperature"] for c in found] == [2.0, 2.0, 4.0, 4.0]
    assert {c.dataset for c in found} == {FAKE + ",validation=32"} and {c.seeds for c in found} == {(0,)}
    final = tuning.choose(hinton, spec.tuning, [[50.0], [60.0], [60.0], [40.0]])  # a tie goes to the first
    assert (final.options["temperature"], final.options["kd_weight"], final.dataset) == (2.0, 0.9, FAKE)
    assert final.tuning["chosen"] == {"temperature": 2, "kd_weight": 0.9} and len(final.tuning["candidates"]) == 4
    assert final.config_hash != hinton.config_hash and final.student_stage(0) != hinton.student_stage(0)


def test_a_tuned_sweep_trains_candidates_on_the_validation_split_then_the_choice(tmp_path, capsys):
    path = write_sweep(tmp_path, TUNED)
    rc = cli.main(["sweep", str(path), "--out", str(tmp_path / "out"), "--dry-run"])
    listing = capsys.readouterr().out
    assert rc == 0 and "(tuning): 2 candidate(s), 4 stage(s)" in listing and "chose" in listing
    rc = cli.main(["sweep", str(path), "--out", str(tmp_path / "out"), "--device", "cpu", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    capsys.readouterr()
    hinton = json.loads(next((tmp_path / "out").glob("hinton_kd--*.json")).read_text())
    dml = json.loads(next((tmp_path / "out").glob("dml--*.json")).read_text())
    assert dml["tuning"] is None and hinton["dataset"] == FAKE  # the final run is on the real split
    chosen = hinton["tuning"]["chosen"]["temperature"]
    best = max(hinton["tuning"]["candidates"], key=lambda c: c["mean"])
    assert hinton["options"]["temperature"] == chosen == best["options"]["temperature"]
    assert len(list((tmp_path / "out" / "stages").glob("*validation=32*.json"))) == 0  # stage labels hold no dataset
    stored = [json.loads(p.read_text())["stage"]["dataset"] for p in (tmp_path / "out" / "stages").glob("*.json")]
    assert stored.count(FAKE + ",validation=32") == 4  # teacher, baseline, two candidates on the validation split
