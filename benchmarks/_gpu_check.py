"""The Python half of benchmarks/gpu_check.sh: the machine's description, the test results as JSON, the
cache-against-no-cache reproduce run, and the one-page summary. The shell script runs each step under its
own time limit; this file does the work inside a step.

    python benchmarks/_gpu_check.py env OUT.json [--dry-run]
    python benchmarks/_gpu_check.py junit JUNIT.xml OUT.json
    python benchmarks/_gpu_check.py reproduce OUT.json --scratch DIR --device D --dataset NAME --teacher A
        --student A --epochs N --batch-size N --seeds 0,1,2 [--threads N]
    python benchmarks/_gpu_check.py summary OUT_DIR

Only `env` and `reproduce` import torch; `junit` and `summary` run in milliseconds after a step was killed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

METHOD = "hinton_kd"
STEPS_FILE = "logs/steps.tsv"  # written by gpu_check.sh: name, status, seconds, limit, exit code


def write_json(path: str | Path, value: dict) -> None:
    """Written to a temporary name and renamed, so a step killed mid-write leaves the previous file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


# -- env ------------------------------------------------------------------------------------------


def env(out: str, dry_run: bool) -> int:
    """What the numbers were measured on: the GPU (name, memory, capability), driver, torch, CPU, commit."""
    import torch

    from kdsurvey.distill import environment

    cuda = torch.cuda.is_available()
    devices = [_gpu(i) for i in range(torch.cuda.device_count())] if cuda else []
    write_json(out, {
        "dry_run": dry_run, "python": platform.python_version(), "executable": sys.executable,
        "torch": torch.__version__, "torchvision": _version("torchvision"), "cuda_available": cuda,
        "cuda_version": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if cuda else None,
        "gpus": devices, "nvidia_smi": _nvidia_smi(), "cpu": environment.cpu_model(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "git_commit": environment.git_commit(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    })  # fmt: skip
    return 0


def _gpu(index: int) -> dict:
    import torch

    p = torch.cuda.get_device_properties(index)
    return {"name": p.name, "capability": f"{p.major}.{p.minor}", "memory_mib": p.total_memory // 2**20,
            "multiprocessors": p.multi_processor_count}  # fmt: skip


def _version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _nvidia_smi() -> str | None:
    query = "--query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit"
    try:
        done = subprocess.run(["nvidia-smi", query, "--format=csv,noheader"], capture_output=True, text=True,
                              timeout=20, check=True)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


# -- junit ----------------------------------------------------------------------------------------


def junit(xml_path: str, out: str) -> int:
    """pytest's JUnit XML as counts and one entry per test (outcome, seconds, first line of any message)."""
    path = Path(xml_path)
    if not path.is_file():
        write_json(out, {"complete": False, "problem": f"pytest wrote no report ({path.name}): killed or not run"})
        return 0
    tests = [_case(case) for case in ET.parse(path).getroot().iter("testcase")]
    counts = {k: sum(t["outcome"] == k for t in tests) for k in ("passed", "failed", "error", "skipped")}
    write_json(out, {"complete": True, "counts": counts, "tests": tests})
    return 0


def _case(case: ET.Element) -> dict:
    outcome, message = "passed", ""
    for tag in ("failure", "error", "skipped"):
        found = case.find(tag)
        if found is not None:
            outcome = "failed" if tag == "failure" else tag
            message = (found.get("message") or found.text or "").strip().splitlines()[:1]
            message = message[0][:300] if message else ""
            break
    name = f"{case.get('classname', '')}::{case.get('name', '')}"
    return {"name": name, "outcome": outcome, "seconds": float(case.get("time") or 0), "message": message}


# -- reproduce ------------------------------------------------------------------------------------


def reproduce(args) -> int:
    """`kdsurvey reproduce` twice in this process, without and then with the teacher cache; the second run
    starts from the first run's teacher and baselines (copied), so the students alone differ in how they
    get their teacher's outputs. Wall time, peak GPU memory and accuracies per run; written after each."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    config = {
        "method": METHOD, "dataset": args.dataset, "teacher": args.teacher, "student": args.student,
        "seeds": [int(s) for s in args.seeds.split(",")], "teacher_seed": 0, "data_seed": 0,
        "recipe": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": 0.05},
    }  # fmt: skip
    config_file = scratch / "experiment.yaml"
    config_file.write_text(json.dumps(config, indent=1), encoding="utf-8")  # JSON is YAML
    result = {"config": config, "device": args.device, "speed": ["bf16=true", "channels_last=true"], "runs": {}}
    for name, cache in (("no_cache", False), ("cache", True)):
        store = scratch / name
        if cache:
            result["shared_stages"] = _copy_shared_stages(scratch / "no_cache", store)
        result["runs"][name] = _run(config_file, store, args.device, result["speed"], cache)
        write_json(args.out, result)
    result["comparison"] = compare(result["runs"]["no_cache"], result["runs"]["cache"])
    write_json(args.out, result)
    return 0 if all(r["exit_code"] == 0 for r in result["runs"].values()) else 1


def _copy_shared_stages(source: Path, target: Path) -> int:
    """The teacher's and the baselines' stored stages, so the cached run trains only its students."""
    (target / "stages").mkdir(parents=True, exist_ok=True)
    copied = 0
    for result in sorted((source / "stages").glob("*.json")):
        stage = (read_json(result) or {}).get("stage", {})
        weights = result.with_suffix(".pt")
        if stage.get("method") != METHOD and weights.exists():
            shutil.copy2(weights, target / "stages" / weights.name)
            shutil.copy2(result, target / "stages" / result.name)
            copied += 1
    return copied


def _run(config_file: Path, store: Path, device: str, speed: list[str], cache: bool) -> dict:
    import torch

    from kdsurvey import cli

    argv = ["reproduce", "--config", str(config_file), "--out", str(store), "--device", device]
    for switch in [*speed, f"teacher_cache={'true' if cache else 'false'}"]:
        argv += ["--speed", switch]
    cuda = torch.cuda.is_available() and device != "cpu"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    began, error = time.perf_counter(), None
    try:
        code = cli.main(argv)
    except Exception as exc:  # e.g. CUDA out of memory: recorded, and the other run still goes ahead
        code, error = 1, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        print(error, file=sys.stderr)
    wall = time.perf_counter() - began
    stages = [read_json(p) or {} for p in sorted((store / "stages").glob("*.json"))]
    students = [s for s in stages if s.get("stage", {}).get("method") == METHOD]
    record = next((r for r in map(read_json, sorted(store.glob("*.json"))) if r and "accuracy" in r), None)
    return {
        "argv": argv, "exit_code": code, "error": error, "wall_s": round(wall, 3),
        "student_fit_s": round(sum(s.get("wall_time_s", 0.0) for s in students), 3),
        "students": len(students),
        "peak_gpu_allocated_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
        "peak_gpu_reserved_mib": round(torch.cuda.max_memory_reserved() / 2**20, 1) if cuda else None,
        "cache_tables": len(list(store.glob("cache/*/epoch-*.pt"))),
        "accuracy": record["accuracy"] if record else None, "stages": record["stages"] if record else None,
    }  # fmt: skip


def compare(plain: dict, cached: dict) -> dict:
    """Same stage keys (the cache stays out of them), the students' accuracies, and the students' fit time."""
    if not (plain.get("accuracy") and cached.get("accuracy")):
        return {"complete": False}
    a, b = plain["accuracy"]["student"], cached["accuracy"]["student"]
    fit_a, fit_b = plain["student_fit_s"], cached["student_fit_s"]
    return {
        "complete": True, "same_stage_keys": plain["stages"] == cached["stages"],
        "student_accuracy_identical": a == b, "max_accuracy_difference": max(abs(x - y) for x, y in zip(a, b)),
        "teacher_accuracy_identical": plain["accuracy"]["teacher"] == cached["accuracy"]["teacher"],
        "student_fit_speedup": round(fit_a / fit_b, 3) if fit_b else None,
    }  # fmt: skip


# -- summary --------------------------------------------------------------------------------------


def summary(folder: str) -> int:
    """summary.json (every step's status and the figures that matter) and summary.md (one page)."""
    out = Path(folder)
    steps = _steps(out / STEPS_FILE)
    env_info = read_json(out / "env.json") or {}
    tests = read_json(out / "tests.json")
    throughput = {p.stem: read_json(p) for p in sorted(out.glob("throughput_b*.json"))}
    repro = read_json(out / "reproduce.json")
    ratios = [r for record in throughput.values() if record for r in throughput_ratios(record)]
    failed = [s["name"] for s in steps if s["status"] != "ok"]
    figures = {"steps": steps, "failed_steps": failed, "env": env_info, "tests": (tests or {}).get("counts"),
               "throughput": ratios, "reproduce": (repro or {}).get("comparison"),
               "reproduce_runs": _run_figures(repro)}  # fmt: skip
    write_json(out / "summary.json", figures)
    (out / "summary.md").write_text(markdown(figures, tests, repro), encoding="utf-8")
    return 0


def _steps(path: Path) -> list[dict]:
    rows = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, status, seconds, limit, code = line.split("\t")
            rows.append({"name": name, "status": status, "seconds": int(seconds), "limit_s": int(limit),
                         "exit_code": None if code == "-" else int(code)})  # fmt: skip
    return rows


def throughput_ratios(record: dict) -> list[dict]:
    """Per batch size: images/s of each row and its ratio to the reference loop."""
    rows = []
    for result in record.get("results", []):
        rate = result["images_per_s"]
        ref = rate["reference (DataLoader + torchvision, fp32)"]
        row = {"batch_size": result["batch_size"], "reference_images_per_s": round(ref, 1)}
        row |= {name: round(value / ref, 3) for name, value in rate.items() if not name.startswith("reference")}
        amortised = result.get("cache_amortised_images_per_s", {})
        row |= {f"cache, build amortised over {n}": round(v / ref, 3) for n, v in amortised.items()}
        row["peak_gpu_mib"] = {name: peak["gpu_mib"] for name, peak in result["peak_memory"].items()}
        rows.append(row)
    return rows


def _run_figures(repro: dict | None) -> dict:
    keep = ("exit_code", "wall_s", "student_fit_s", "peak_gpu_allocated_mib", "cache_tables", "accuracy")
    return {name: {k: run.get(k) for k in keep} for name, run in ((repro or {}).get("runs") or {}).items()}


def markdown(figures: dict, tests: dict | None, repro: dict | None) -> str:
    e = figures["env"]
    where = ", ".join(g["name"] for g in e.get("gpus", [])) or f"CPU ({e.get('cpu', '?')})"
    mode = "dry run on the CPU (plumbing only: tiny sizes, no GPU figure)" if e.get("dry_run") else "GPU run"
    lines = [f"# GPU check: {where}", "",
             f"{mode}; {e.get('date', '?')}; commit {e.get('git_commit')}; torch {e.get('torch')} "
             f"(CUDA {e.get('cuda_version')}, cuDNN {e.get('cudnn')}); Python {e.get('python')}; "
             f"driver: {e.get('nvidia_smi') or '-'}.", ""]  # fmt: skip
    verdict = "every step ok" if not figures["failed_steps"] else "FAILED: " + ", ".join(figures["failed_steps"])
    total = sum(s["seconds"] for s in figures["steps"])
    lines += [f"**Result: {verdict}** ({total} s in the steps).", "", "| step | status | seconds | limit s |",
              "|---|---|---:|---:|"]  # fmt: skip
    lines += [f"| {s['name']} | {s['status']} | {s['seconds']} | {s['limit_s']} |" for s in figures["steps"]]
    lines += ["", *_tests_lines(tests), "", *_throughput_lines(figures["throughput"]), "", *_repro_lines(repro)]
    return "\n".join(lines) + "\n"


def _tests_lines(tests: dict | None) -> list[str]:
    if not tests or not tests.get("complete"):
        return ["## CUDA tests", "", f"No results: {(tests or {}).get('problem', 'step not run')}."]
    c = tests["counts"]
    lines = ["## CUDA tests (tests/distill/test_cuda.py)", "",
             f"{c['passed']} passed, {c['failed']} failed, {c['error']} errors, {c['skipped']} skipped."]  # fmt: skip
    lines += [f"- {t['outcome']}: {t['name']}: {t['message']}" for t in tests["tests"] if t["outcome"] != "passed"]
    return lines


def _throughput_lines(rows: list[dict]) -> list[str]:
    lines = ["## Hinton KD throughput against the reference loop (benchmarks/bench_kd_throughput.py)", ""]
    if not rows:
        return lines + ["No results (see the step's log)."]
    names = ["kdsurvey", "kdsurvey + teacher cache (table ready)", "student only (lower bound)", "kdsurvey fp32"]
    amortised = sorted({k for r in rows for k in r if k.startswith("cache, build amortised")})
    lines += ["images/s of each row divided by the reference's (DataLoader + torchvision, fp32, teacher every batch).",
              "", "| batch | reference img/s | " + " | ".join(names + amortised) + " | peak GPU MiB (kdsurvey) |",
              "|---:|---:|" + "---:|" * (len(names) + len(amortised) + 1)]  # fmt: skip
    for r in rows:
        cells = [f"{r[n]:.2f}x" if n in r else "-" for n in names + amortised]
        gpu = r["peak_gpu_mib"].get("kdsurvey")
        lines.append(f"| {r['batch_size']} | {r['reference_images_per_s']} | " + " | ".join(cells)
                     + f" | {'-' if gpu is None else round(gpu)} |")  # fmt: skip
    return lines


def _repro_lines(repro: dict | None) -> list[str]:
    lines = ["## Short CIFAR-shaped `kdsurvey reproduce`: teacher cache against none", ""]
    if not repro:
        return lines + ["No results (see the step's log)."]
    c = repro["config"]
    lines += [f"{c['method']}, {c['teacher']} -> {c['student']} on `{c['dataset']}`, {c['recipe']['epochs']} epoch(s), "
              f"batch {c['recipe']['batch_size']}, seeds {c['seeds']} (one teacher, one data stream), "
              f"{repro['device']}, {' '.join(repro['speed'])}. The cached run reuses the first run's teacher and "
              f"baselines ({repro.get('shared_stages', 0)} stages), so only the students differ.", "",
              "| run | exit | run s (all its stages) | students' fit s | peak GPU MiB | cache tables | student accuracy % |",
              "|---|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    for name, r in repro["runs"].items():
        accuracy = ", ".join(f"{a:.2f}" for a in (r["accuracy"] or {}).get("student", [])) or "-"
        gpu = "-" if r["peak_gpu_allocated_mib"] is None else round(r["peak_gpu_allocated_mib"])
        lines.append(f"| {name} | {r['exit_code']} | {r['wall_s']:.1f} | {r['student_fit_s']:.1f} | {gpu} | "
                     f"{r['cache_tables']} | {accuracy} |")  # fmt: skip
    lines += [f"- {name} stopped: {r['error']}" for name, r in repro["runs"].items() if r.get("error")]
    cmp = repro.get("comparison") or {}
    if cmp.get("complete"):
        same = "yes" if cmp["student_accuracy_identical"] else "no"
        if not cmp["student_accuracy_identical"]:
            same += f" (largest difference {cmp['max_accuracy_difference']:.2f} points)"
        lines += ["", f"Students' fit time, no cache / cache: **{cmp['student_fit_speedup']}x**. Student accuracies "
                  f"identical: **{same}**; stage keys equal: {'yes' if cmp['same_stage_keys'] else 'no'}."]  # fmt: skip
    return lines


# -- command line ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("env")
    p.add_argument("out")
    p.add_argument("--dry-run", action="store_true")
    p = sub.add_parser("junit")
    p.add_argument("xml")
    p.add_argument("out")
    p = sub.add_parser("reproduce")
    p.add_argument("out")
    for flag in ("--scratch", "--device", "--dataset", "--teacher", "--student", "--seeds"):
        p.add_argument(flag, required=True)
    for flag in ("--epochs", "--batch-size"):
        p.add_argument(flag, type=int, required=True)
    p.add_argument("--threads", type=int, default=None)
    p = sub.add_parser("summary")
    p.add_argument("folder")
    args = parser.parse_args(argv)
    if args.command == "env":
        return env(args.out, args.dry_run)
    if args.command == "junit":
        return junit(args.xml, args.out)
    if args.command == "reproduce":
        return reproduce(args)
    return summary(args.folder)


if __name__ == "__main__":
    sys.exit(main())
