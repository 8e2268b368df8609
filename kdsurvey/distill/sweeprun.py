"""`kdsurvey sweep`: hand a sweep's tasks to an executor as their dependencies finish, and report.

A task is handed out once every task it needs has finished, the most shared of the ready ones first,
and never more than the executor has slots for, so a teacher unlocks its students as soon as it is
stored. Stages already in the Store are not run again; records are rewritten from the stored stages
on every call (cheap: nothing is trained). A failed task is reported and the tasks that need it are
skipped; the rest go on, and a rerun retries what failed, resuming from checkpoints.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from kdsurvey import record
from kdsurvey.distill import executors, sweep, tuning
from kdsurvey.distill.engine import resolve_device
from kdsurvey.distill.experiment import stamp
from kdsurvey.distill.speed import Speed
from kdsurvey.distill.store import Store
from kdsurvey.errors import KdSurveyError, UsageError
from kdsurvey.outputs import writable_folder


class SweepFailed(KdSurveyError):
    """Some tasks failed; finished stages are kept for the rerun."""


@dataclass
class Summary:
    stored: list[str] = field(default_factory=list)  # stages already finished before this call
    ran: dict[str, str] = field(default_factory=dict)  # stage label -> trained / resumed at epoch k
    records: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    def after(self, earlier: Summary) -> Summary:
        """This summary with an earlier phase's stages and time added (tuning, then the final runs)."""
        return Summary(
            earlier.stored + self.stored, earlier.ran | self.ran, self.records, earlier.seconds + self.seconds
        )

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
        with _terminate_as_interrupt():
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


@contextmanager
def _terminate_as_interrupt():
    """SIGTERM becomes KeyboardInterrupt while a sweep runs, so `execute` stops its workers on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_workers(jobs: int, threads: int | None, executor: str) -> None:
    if executor not in ("local", "slurm"):
        raise UsageError(f"unknown executor {executor!r}; use local or slurm")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UsageError(f"jobs must be a positive integer, got {jobs!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise UsageError(f"threads must be a positive integer, got {threads!r}")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UsageError("run sweeps without torchrun (each task is one process); use reproduce under torchrun")


def run(
    spec: sweep.Sweep, out, records=None, *, jobs: int = 1, threads: int | None = None, device: str = "auto",
    data_dir=None, executor: str = "local", slurm: dict | None = None, log=None, speed: Speed | None = None,
    retrain: bool = False, replace: bool = False,
) -> Summary:  # fmt: skip
    """Run a sweep: stages under OUT/stages, records to `records` (default OUT). See `make_executor`.

    Everything is checked before the first task starts: the workers' settings, the device, and every
    stored file the sweep would read (corrupted ones raise, or with `retrain` are deleted and retrained), and
    every record it would write (one of another configuration is refused unless `replace`).
    """
    out = Path(out)
    records = Path(records) if records is not None else out
    speed = speed or Speed()
    check_workers(jobs, threads, executor)
    writable_folder(out, "stage store")
    writable_folder(records, "records folder")
    key = stamper(speed, device, executor)
    store = Store(out)
    phases = [s for s in (spec.tuning_stages(), spec) if s is not None]
    for phase in phases:
        for task in sweep.plan(phase, key).stages:
            store.verify(task.stage, retrain)
    if spec.tuning is None:  # tuned experiments' records get new configurations: checked once they are chosen
        for experiment in spec.experiments:
            record.check_target(records, experiment.run_id, experiment.config_hash, replace)

    def executor_now():
        return make_executor(executor, out, records, jobs=jobs, threads=threads, device=device, data_dir=data_dir,
                             slurm=slurm, speed=speed, retrain=retrain)  # fmt: skip

    summary = Summary()
    if spec.tuning is not None and len(phases) == 2:
        summary = execute(sweep.plan(phases[0], key), executor_now(), store, log=log)
        spec = chosen(spec, store, key)
        for experiment in spec.experiments:
            record.check_target(records, experiment.run_id, experiment.config_hash, replace)
    final = execute(sweep.plan(spec, key), executor_now(), store, log=log)
    return final.after(summary)


def stamper(speed: Speed, device: str, executor: str = "local"):
    """The function that keys a stage as the workers will store it (speed switches that change numbers)."""
    if not speed.numerics(torch.device("cpu")) and not speed.numerics(torch.device("cuda")):
        return lambda stage: stage  # default switches: keys as without them, on any device
    if device == "auto" and executor == "slurm":
        raise UsageError("with --speed switches and --executor slurm, name the jobs' device: --device cpu or cuda")
    on = torch.device("cuda") if executor == "slurm" and device.startswith("cuda") else resolve_device(device)
    return lambda stage: stamp(stage, speed, on)


def planned(spec: sweep.Sweep, speed: Speed, device: str, executor: str = "local") -> sweep.Plan:
    """The plan with every stage keyed as the workers will store it."""
    return sweep.plan(spec, stamper(speed, device, executor))


def chosen(spec: sweep.Sweep, store: Store, key) -> sweep.Sweep:
    """The sweep with each tuned experiment's options chosen from its candidates' stored validation results."""
    final = []
    for experiment in spec.experiments:
        found = tuning.candidates(experiment, spec.tuning) if spec.tuning else []
        if not found:
            final.append(experiment)
            continue
        accuracies = []
        for candidate in found:
            results = [store.read(key(candidate.student_stage(seed))) for seed in candidate.seeds]
            if any(r is None for r in results):
                raise SweepFailed(f"{spec.source}: a tuning stage of {experiment.method} is missing; rerun the sweep")
            accuracies.append([r[1]["accuracy"]["student"] for r in results])
        final.append(tuning.choose(experiment, spec.tuning, accuracies))
    return sweep.Sweep(tuple(final), spec.source)


def make_executor(kind: str, out: Path, records: Path, *, jobs=1, threads=None, device="auto", data_dir=None,
                  slurm: dict | None = None, speed: Speed | None = None, retrain: bool = False):  # fmt: skip
    """local with jobs 1: this process; local with jobs N: N workers of cores/N threads (or `threads`);
    slurm: one job per task, at most `jobs` at once, `slurm` holding Slurm's keyword arguments."""
    check_workers(jobs, threads, kind)
    speed = speed or Speed()
    if kind == "slurm":
        slurm = dict(slurm or {})
        work = executors.Work(out, records, device, data_dir, threads or slurm.get("cpus"), speed, retrain)
        return executors.Slurm(work, jobs, slurm.pop("folder", out / "slurm"), **slurm)
    resolve_device(device)  # a clear error here, not one per task
    if jobs == 1:
        return executors.Inline(executors.Work(out, records, device, data_dir, threads, speed, retrain))
    threads = threads or executors.default_threads(jobs)
    return executors.Local(executors.Work(out, records, device, data_dir, threads, speed, retrain), jobs)
