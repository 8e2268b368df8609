"""benchmarks/gpu_check.sh: its CPU dry mode runs every step and writes parseable JSON and a summary; a spent
budget still gives a summary and a failing exit status; bad arguments are one line and exit 2, before any work.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"
STEPS = ["env", "tests", "throughput_b8", "reproduce"]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="gpu_check.sh needs bash")


def gpu_check(*args, timeout=300, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "KDSURVEY_GPU_DRY"}
    environment |= {"PYTHON": sys.executable, **env}
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=environment, cwd=REPO)  # fmt: skip


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu") / "out"  # not there yet: the script makes it
    return gpu_check("--dry-run", out), out


def test_dry_run_runs_every_step_and_writes_json(dry_run):
    done, out = dry_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = load(out / "summary.json")
    assert [(s["name"], s["status"]) for s in summary["steps"]] == [(name, "ok") for name in STEPS]
    assert summary["failed_steps"] == [] and summary["env"]["dry_run"] is True
    tests = load(out / "tests.json")
    assert tests["counts"] == {"passed": 3, "failed": 0, "error": 0, "skipped": 0}  # run on the CPU stand-in
    (ratios,) = summary["throughput"]
    assert ratios["batch_size"] == 8 and ratios["reference_images_per_s"] > 0 and ratios["kdsurvey"] > 0
    assert load(out / "throughput_b8.json")["results"][0]["batch_size"] == 8
    repro = load(out / "reproduce.json")
    assert {r["exit_code"] for r in repro["runs"].values()} == {0}
    assert repro["runs"]["no_cache"]["cache_tables"] == 0 and repro["runs"]["cache"]["cache_tables"] == 1
    assert repro["shared_stages"] == 3  # teacher and two baselines: the cached run trained its students only
    assert repro["comparison"]["same_stage_keys"] and repro["comparison"]["student_accuracy_identical"]  # CPU: bits
    assert {p.name for p in (out / "logs").iterdir()} == {f"{name}.log" for name in STEPS} | {"steps.tsv"}


def test_dry_run_summary_is_one_page_with_the_ratios(dry_run):
    _, out = dry_run
    text = (out / "summary.md").read_text(encoding="utf-8")
    assert "dry run on the CPU" in text and "**Result: every step ok**" in text
    assert "3 passed, 0 failed" in text and "| 8 |" in text
    assert "Students' fit time, no cache / cache" in text and "Student accuracies identical: **yes**" in text
    assert len(text.splitlines()) < 60


def test_a_spent_budget_still_writes_the_summary_and_fails(tmp_path):
    done = gpu_check("--budget", 1, tmp_path / "out", KDSURVEY_GPU_DRY="1")
    assert done.returncode == 1
    summary = load(tmp_path / "out" / "summary.json")
    assert [(s["name"], s["status"]) for s in summary["steps"]] == [(name, "skipped") for name in STEPS]
    assert summary["failed_steps"] == STEPS
    assert "FAILED: env, tests, throughput_b8, reproduce" in (tmp_path / "out" / "summary.md").read_text()
    assert load(tmp_path / "out" / "tests.json") == {"complete": False,
                                                     "problem": "pytest wrote no report (junit.xml): killed or not run"}  # fmt: skip


@pytest.mark.parametrize(
    "args, env, message",
    [
        ([], {}, "no OUT_DIR given"),
        (["--dry-run", "--fast", "OUT"], {}, "unknown option --fast"),
        (["--dry-run", "OUT", "OTHER"], {}, "one OUT_DIR only"),
        (["--dry-run", "--budget", "soon", "OUT"], {}, "--budget must be a whole number"),
        (["--dry-run", "--budget"], {}, "--budget needs a number"),
        (["OUT"], {"KDSURVEY_GPU_DRY": "yes"}, "KDSURVEY_GPU_DRY must be 0 or 1"),
        (["OUT"], {"CUDA_VISIBLE_DEVICES": ""}, "torch sees no CUDA device; use --dry-run"),
        (["--dry-run", "OUT"], {"PYTHON": "/nonexistent/python"}, "cannot import torch and kdsurvey"),
    ],
)
def test_bad_arguments_are_one_line_before_any_work(tmp_path, args, env, message):
    args = [str(tmp_path / a) if a in ("OUT", "OTHER") else a for a in args]
    done = gpu_check(*args, timeout=120, **env)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("gpu_check.sh: error: ") and message in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_folder_with_results_in_it_is_refused(tmp_path):
    (tmp_path / "summary.md").write_text("earlier results\n")
    done = gpu_check("--dry-run", tmp_path, timeout=60)
    assert done.returncode == 2 and "is not empty" in done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["summary.md"]


def test_summary_of_gpu_shaped_results(dry_run, tmp_path):
    """The GPU-only branches of the summary (GPU memory, fp32 rows, students that differ, a run that stopped),
    fed the dry run's files with GPU-shaped values, so a formatting slip does not cost a GPU run."""
    _, dry = dry_run
    out = Path(shutil.copytree(dry, tmp_path / "out"))
    bench = load(out / "throughput_b8.json")
    result = bench["results"][0]
    rates = result["images_per_s"]
    rates["kdsurvey fp32"] = rates["reference (DataLoader + torchvision, fp32)"] / 2
    result["peak_memory"] = {name: {"rss_mib": 900.0, "gpu_mib": 1234.4} for name in rates}
    (out / "throughput_b8.json").write_text(json.dumps(bench))
    repro = load(out / "reproduce.json")
    cached = repro["runs"]["cache"]
    cached |= {"peak_gpu_allocated_mib": 2048.0, "error": "OutOfMemoryError: CUDA out of memory"}
    cached["accuracy"]["student"][0] += 0.5
    (out / "reproduce.json").write_text(json.dumps(repro))
    spec = importlib.util.spec_from_file_location("_gpu_check", REPO / "benchmarks" / "_gpu_check.py")
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)
    repro["comparison"] = helper.compare(repro["runs"]["no_cache"], cached)
    (out / "reproduce.json").write_text(json.dumps(repro))
    assert helper.main(["summary", str(out)]) == 0
    text = (out / "summary.md").read_text(encoding="utf-8")
    assert "| 8 |" in text and "0.50x" in text and "| 1234 |" in text  # fp32 at half the reference's rate
    assert "| 2048 |" in text and "cache stopped: OutOfMemoryError" in text
    assert "identical: **no (largest difference 0.50 points)**" in text
    assert load(out / "summary.json")["reproduce"]["student_accuracy_identical"] is False
