"""`kdsurvey sweep`: hand a sweep's tasks to an executor as their dependencies finish, and report.

A task is handed out once every task it needs has finished, the most shared of the ready ones first,
and never more than the executor has slots for, so a teacher unlocks its students as soon as it is
stored. Stages already in the Store are not run again; records are rewritten from the stored stages
on every call (cheap: nothing is trained). A failed task is reported and the tasks that need it are
skipped; the rest go on, and a rerun retries what failed, resuming from checkpoints.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from kdsurvey.distill import executors, sweep
from kdsurvey.distill.flags import key_values
from kdsurvey.distill.runner import Store, stamp
from kdsurvey.distill.speed import Speed
from kdsurvey.errors import KdSurveyError, UsageError


class SweepFailed(KdSurveyError):
    """Some tasks failed; finished stages are kept for the rerun."""


@dataclass
class Summary:
    stored: list[str] = field(default_factory=list)  # stages already finished before this call
    ran: dict[str, str] = field(default_factory=dict)  # stage label -> trained / resumed at epoch k
    records: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    def text(self) -> str:
        resumed = sum(detail.startswith("resumed") for detail in self.ran.values())
        return "".join(f"record written to {p}\n" for p in self.records) + (
            f"sweep: {len(self.records)} record(s); {len(self.ran)} stage(s) run ({resumed} resumed), "
            f"{len(self.stored)} already stored; {self.seconds:.1f} s\n"
        )


def execute(plan: sweep.Plan, executor, store: Store, *, log=None) -> Summary:
    """Run every unfinished task of `plan` on `executor`; raise SweepFailed when any failed."""
    say = log or (lambda line: None)
    began = time.perf_counter()
    summary = Summary(stored=[t.name for t in plan.stages if sweep.status(t, store) == "done"])
    finished = set(summary.stored)
    pending = [t for t in plan.tasks if t.name not in finished]
    failed: dict[str, str] = {}
    running: dict = {}
    total, count = len(pending), 0
    try:
        while pending or running:
            for task in list(pending):
                if len(running) >= executor.slots:
                    break
                blocker = next((n for n in task.needs if n in failed), None)
                if blocker is not None:
                    pending.remove(task)
                    failed[task.name] = f"skipped: needs {blocker}, which failed"
                    say(f"skip {task.name}: needs {blocker}, which failed")
                elif all(n in finished for n in task.needs):
                    pending.remove(task)
                    say(f"{sweep.status(task, store)} {task.name}")
                    running[executor.submit(task)] = task
            if not running:
                if pending:
                    raise AssertionError(f"tasks waiting on nothing runnable: {[t.name for t in pending]}")
                break
            for handle in executor.wait(list(running)):
                task = running.pop(handle)
                outcome = executor.outcome(handle)
                count += 1
                if outcome.ok:
                    finished.add(task.name)
                    if task.stage is not None:
                        summary.ran[task.name] = outcome.detail
                    else:
                        summary.records.append(Path(outcome.detail))
                else:
                    failed[task.name] = outcome.detail
                state = outcome.detail if outcome.ok else f"FAILED: {outcome.detail}"
                say(f"[{count}/{total}] {task.name}: {state} ({outcome.seconds:.1f} s)")
    except BaseException:
        executor.close(list(running))
        raise
    executor.close([])
    summary.seconds = time.perf_counter() - began
    if failed:
        name, why = next(iter(failed.items()))
        first = why.strip().splitlines()[0] if why.strip() else "?"
        raise SweepFailed(f"{len(failed)} task(s) failed or were skipped, first {name}: {first}; "
                          "finished stages are kept, rerun the sweep to retry")  # fmt: skip
    return summary


def run(
    spec: sweep.Sweep, out, records=None, *, jobs: int = 1, threads: int | None = None, device: str = "auto",
    data_dir=None, executor: str = "local", slurm: dict | None = None, log=None, speed: Speed | None = None,
) -> Summary:  # fmt: skip
    """Run a sweep: stages under OUT/stages, records to `records` (default OUT). See `make_executor`."""
    out = Path(out)
    records = Path(records) if records is not None else out
    speed = speed or Speed()
    work_on = make_executor(executor, out, records, jobs=jobs, threads=threads, device=device,
                            data_dir=data_dir, slurm=slurm, speed=speed)  # fmt: skip
    return execute(planned(spec, speed, device, executor), work_on, Store(out), log=log)


def planned(spec: sweep.Sweep, speed: Speed, device: str, executor: str = "local") -> sweep.Plan:
    """The plan with every stage keyed as the workers will store it (speed switches that change numbers)."""
    if not speed.numerics(torch.device("cpu")) and not speed.numerics(torch.device("cuda")):
        return sweep.plan(spec)  # default switches: keys as without them, on any device
    if device == "auto" and executor == "slurm":
        raise UsageError("with --speed switches and --executor slurm, name the jobs' device: --device cpu or cuda")
    from kdsurvey.distill.engine import resolve_device

    on = torch.device("cuda") if executor == "slurm" and device.startswith("cuda") else resolve_device(device)
    return sweep.plan(spec, lambda stage: stamp(stage, speed, on))


def make_executor(kind: str, out: Path, records: Path, *, jobs=1, threads=None, device="auto", data_dir=None,
                  slurm: dict | None = None, speed: Speed | None = None):  # fmt: skip
    """local with jobs 1: this process; local with jobs N: N workers of cores/N threads (or `threads`);
    slurm: one job per task, at most `jobs` at once, `slurm` holding Slurm's keyword arguments."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UsageError(f"jobs must be a positive integer, got {jobs!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise UsageError(f"threads must be a positive integer, got {threads!r}")
    if kind == "slurm":
        slurm = dict(slurm or {})
        work = executors.Work(out, records, device, data_dir, threads or slurm.get("cpus"), speed or Speed())
        return executors.Slurm(work, jobs, slurm.pop("folder", out / "slurm"), **slurm)
    if kind != "local":
        raise UsageError(f"unknown executor {kind!r}; use local or slurm")
    from kdsurvey.distill.engine import resolve_device

    resolve_device(device)  # a clear error here, not one per task
    if jobs == 1:
        return executors.Inline(executors.Work(out, records, device, data_dir, threads, speed or Speed()))
    return executors.Local(
        executors.Work(out, records, device, data_dir, threads or executors.default_threads(jobs), speed or Speed()),
        jobs,
    )


def command(args) -> str:
    """The body of `kdsurvey sweep` (flags: see kdsurvey.cli)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UsageError("run sweeps without torchrun (each task is one process); use reproduce under torchrun")
    only = set(args.only.split(",")) if args.only else None
    spec = sweep.load(args.sweep).only(only)
    records = args.records or args.out
    speed = Speed.from_pairs(args.speed)
    if args.dry_run:
        return sweep.listing(planned(spec, speed, args.device, args.executor), Store(args.out), records)
    given = [k for k, v in vars(args).items() if k.startswith("slurm_") and v is not None]
    if given and args.executor != "slurm":
        raise UsageError(f"--{given[0].replace('_', '-')} needs --executor slurm")
    options = key_values(args.slurm_option, "--slurm-option", " (an sbatch option without dashes)")
    slurm = {"partition": args.slurm_partition, "time_min": args.slurm_time, "cpus": args.slurm_cpus,
             "gpus": args.slurm_gpus, "mem_gb": args.slurm_mem, "options": options}  # fmt: skip
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    summary = run(spec, args.out, records, jobs=args.jobs, threads=args.threads, device=args.device,
                  data_dir=args.data_dir, executor=args.executor, slurm=slurm, log=log, speed=speed)  # fmt: skip
    return summary.text()
