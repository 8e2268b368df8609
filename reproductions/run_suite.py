"""Regenerate data/reproduced/: run every experiment config of the default suite and write its record.

    python reproductions/run_suite.py                 # all configs, CPU or GPU (auto), 2 jobs
    python reproductions/run_suite.py --only hinton_kd,dml --records /tmp/records

Stages shared between experiments (the teachers, the baseline students, the assistant) are trained
once, in a first phase; then each experiment trains only its own student. Stages live under --out
and are reused by a later call, so an interrupted suite resumes where it stopped. With --jobs N,
N runs train side by side, each on (cores / N) threads: small CPU models scale better that way than
one run on every thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _setup(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _stage(job):
    stage, out, device, threads = job
    _setup(threads)
    from kdsurvey.distill.engine import resolve_device
    from kdsurvey.distill.runner import Runner, Store

    began = time.perf_counter()
    Runner(Store(out), resolve_device(device)).obtain(stage)
    return stage.label, time.perf_counter() - began


def _experiment(job):
    experiment, out, records, device, threads = job
    _setup(threads)
    from kdsurvey.distill import results, runner

    record = runner.run(experiment, out, device=device)
    return str(results.write(record, records)), record["wall_time_s"]


def _configs(folder: Path, only: set[str] | None):
    from kdsurvey.distill import config

    found = []
    for path in sorted(folder.glob("*.yaml")):
        experiment = config.experiment(config.load(path))
        if only is None or experiment.method in only:
            found.append(experiment)
    if only is not None and len(found) != len(only):
        missing = only - {e.method for e in found}
        sys.exit(f"run_suite: no config for {', '.join(sorted(missing))} in {folder}")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=Path, default=HERE / "configs")
    parser.add_argument("--out", type=Path, default=HERE / "runs", help="stage store (default reproductions/runs)")
    parser.add_argument("--records", type=Path, default=HERE.parent / "data" / "reproduced")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", help="comma-separated method names")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    experiments = _configs(args.configs, only)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    shared = {}
    for e in experiments:
        for seed in e.seeds:
            for stage in (e.teacher_stage(seed), e.baseline_stage(seed), *e.student_stage(seed).teachers):
                for dependency in (*stage.teachers, stage):
                    shared.setdefault(dependency.key, dependency)
    began = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        # Dependencies first: a stage's teachers come before it in `shared`, and the pool is drained
        # between the levels (teachers, then what they teach).
        levels = {}
        for stage in shared.values():
            levels.setdefault(_depth(stage), []).append(stage)
        for depth in sorted(levels):
            jobs = [(s, args.out, args.device, threads) for s in levels[depth]]
            for label, seconds in pool.map(_stage, jobs):
                print(f"stage {label}: {seconds:.1f} s", flush=True)
        jobs = [(e, args.out, args.records, args.device, threads) for e in experiments]
        for path, seconds in pool.map(_experiment, jobs):
            print(f"record {path}: {seconds:.1f} s", flush=True)
    print(f"suite: {len(experiments)} experiments in {time.perf_counter() - began:.1f} s", flush=True)
    return 0


def _depth(stage) -> int:
    return 1 + max((_depth(t) for t in stage.teachers), default=0)


if __name__ == "__main__":
    sys.exit(main())
