"""Where sweep tasks run: in this process, in N local worker processes, or as SLURM jobs through submitit.

Every executor runs the same picklable `Work` on a `sweep.Task` and gets an `Outcome` back. A failed
task is an Outcome, not an exception, so one bad run does not stop the others (and submitit's debug
executor does not drop into pdb). Local workers each take cores / N threads: small CPU models train
faster as N runs side by side than as one run on every core. With one GPU the N workers share it;
with several, worker i takes GPU i mod count. On SLURM each task is one job, and a job that hits its
time limit or is preempted is requeued by submitit (`Work.checkpoint`) and resumes from its stage's
last finished epoch. submitit is optional and imported only when the slurm executor is asked for.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import torch

from kdsurvey.distill.speed import Speed
from kdsurvey.distill.sweep import Task, status
from kdsurvey.errors import KdSurveyError

_RUNNERS: dict = {}  # one Runner (and its loaded data sets) per worker process and setting
_SLOT: int | None = None  # this local worker's index, for spreading workers over GPUs


class SweepError(KdSurveyError):
    """The sweep cannot go on: a worker process died or SLURM refused a job."""


class SubmititMissingError(KdSurveyError, ImportError):
    """The slurm executor needs submitit: pip install 'kdsurvey[slurm]'."""


def require_submitit():
    try:
        import submitit
    except ImportError as exc:
        raise SubmititMissingError(
            "the slurm executor needs submitit; install it with: pip install 'kdsurvey[slurm]'"
        ) from exc
    return submitit


@dataclass(frozen=True)
class Outcome:
    name: str
    ok: bool
    seconds: float
    detail: str  # trained / resumed / already stored, the record's path, or the error


@dataclass(frozen=True)
class Work:
    """Runs one task wherever it is unpickled: train or load a stage, or write a record."""

    out: Path
    records: Path
    device: str = "auto"
    data_dir: Path | None = None
    threads: int | None = None  # None leaves torch's setting alone
    speed: Speed = field(default_factory=Speed)

    def __call__(self, task: Task) -> Outcome:
        began = time.perf_counter()
        try:
            if self.threads:
                torch.set_num_threads(self.threads)
            detail = self._stage(task) if task.stage is not None else self._record(task)
        except Exception as exc:  # reported, and the tasks that need this one are skipped
            return Outcome(task.name, False, time.perf_counter() - began, f"{type(exc).__name__}: {exc}")
        return Outcome(task.name, True, time.perf_counter() - began, detail)

    def checkpoint(self, *args, **kwargs):
        """submitit calls this on timeout or preemption: requeue the same task (it resumes from its checkpoint)."""
        return require_submitit().helpers.DelayedSubmission(self, *args, **kwargs)

    def _device(self) -> str:
        count = torch.cuda.device_count() if self.device in ("auto", "cuda") else 0
        return f"cuda:{_SLOT % count}" if _SLOT is not None and count > 1 else self.device

    def _stage(self, task: Task) -> str:
        from kdsurvey.distill.engine import resolve_device
        from kdsurvey.distill.runner import Runner, Store

        key = (str(self.out), self._device(), str(self.data_dir))
        if key not in _RUNNERS:
            _RUNNERS[key] = Runner(Store(self.out), resolve_device(key[1]), self.data_dir, speed=self.speed)
        runner = _RUNNERS[key]
        before = status(task, runner.store)
        _, result = runner.obtain(task.stage)
        if before == "done":
            return "already stored"
        resumed = result.get("resumed_from_epoch") or 0
        return f"resumed at epoch {resumed + 1}" if resumed else "trained"

    def _record(self, task: Task) -> str:
        from kdsurvey.distill import results, runner

        record = runner.run(task.experiment, self.out, device=self._device(), data_dir=self.data_dir, speed=self.speed)
        return str(results.write(record, self.records))


class Inline:
    """Tasks one after another in this process (--jobs 1): no start-up cost, easy to debug."""

    slots = 1

    def __init__(self, work: Work):
        self.work = work

    def submit(self, task: Task):
        return self.work(task)

    def wait(self, handles: list) -> list:
        return handles

    def outcome(self, handle) -> Outcome:
        return handle

    def close(self, running: list) -> None:
        _RUNNERS.clear()


def _start_worker(counter) -> None:
    global _SLOT
    with counter.get_lock():
        _SLOT = counter.value
        counter.value += 1


class Local:
    """N worker processes on this machine (spawned, so CUDA works in them)."""

    def __init__(self, work: Work, jobs: int):
        context = get_context("spawn")
        counter = context.Value("i", 0)
        self.work, self.slots = work, jobs
        self.pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker, initargs=(counter,))

    def submit(self, task: Task):
        try:
            return self.pool.submit(self.work, task)
        except BrokenProcessPool as exc:
            raise SweepError("a worker process died (out of memory?); rerun the sweep to resume") from exc

    def wait(self, handles: list) -> list:
        return list(wait(handles, return_when=FIRST_COMPLETED).done)

    def outcome(self, handle) -> Outcome:
        try:
            return handle.result()
        except BrokenProcessPool as exc:
            raise SweepError("a worker process died (out of memory?); rerun the sweep to resume") from exc

    def close(self, running: list) -> None:
        self.pool.shutdown(wait=not running, cancel_futures=bool(running))


class Slurm:
    """One SLURM job per task through submitit; at most `jobs` queued or running at once.

    `cluster` is submitit's: "slurm", or "local" / "debug" to try a sweep without a cluster.
    """

    def __init__(self, work: Work, jobs: int, folder: Path, *, partition=None, time_min=None, cpus=None,
                 gpus=None, mem_gb=None, options=None, cluster="slurm", poll_s=None):  # fmt: skip
        submitit = require_submitit()
        self.work, self.slots = work, jobs
        self.poll_s = poll_s if poll_s is not None else (20.0 if cluster == "slurm" else 0.05)
        self.executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
        params = {"timeout_min": time_min, "cpus_per_task": cpus, "gpus_per_node": gpus, "mem_gb": mem_gb,
                  "slurm_partition": partition, "slurm_additional_parameters": options or None}  # fmt: skip
        self.executor.update_parameters(**{k: v for k, v in params.items() if v is not None})

    def submit(self, task: Task):
        self.executor.update_parameters(name=f"kdsurvey-{task.name}")
        try:
            return self.executor.submit(self.work, task)
        except Exception as exc:  # sbatch missing or refusing: nothing else would get through either
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SweepError(f"submitting {task.name} failed: {first}") from exc

    def wait(self, handles: list) -> list:
        while True:
            done = [job for job in handles if job.done()]
            if done:
                return done
            time.sleep(self.poll_s)

    def outcome(self, job) -> Outcome:
        try:
            return job.result()
        except Exception as exc:  # the job died outside Work (killed, out of memory, node failure)
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            return Outcome(
                job.job_id, False, 0.0, f"SLURM job {job.job_id} failed: {lines[0]} (see {job.paths.stderr})"
            )

    def close(self, running: list) -> None:
        for job in running:
            job.cancel(check=False)
        _RUNNERS.clear()  # filled only by submitit's debug executor, which runs tasks in this process


def default_threads(jobs: int) -> int:
    """cores / jobs: the cores this process may use (its affinity), shared evenly between the workers."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // jobs)
