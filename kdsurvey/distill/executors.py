"""Where sweep tasks run: in this process, in N local worker processes, or as SLURM jobs through submitit.

Every executor runs the same picklable `Work` on a `sweep.Task` and gets an `Outcome` back. A failed
task is an Outcome, not an exception, so one bad run does not stop the others (and submitit's debug
executor does not drop into pdb). Local workers each take cores / N threads: small CPU models train
faster as N runs side by side than as one run on every core. With one GPU the N workers share it;
with several, worker i takes GPU i mod count. On SLURM each task is one job, and a job that hits its
time limit or is preempted is requeued by submitit (`Work.checkpoint`) and resumes from its stage's
last finished epoch. submitit is optional and imported only when the slurm executor is asked for.

Nothing here is module-level state: a task builds its own Runner, and a local worker learns its slot
(for spreading workers over GPUs) from the task it is handed. Local workers never outlive the sweep:
each asks the kernel to kill it when its parent dies (Linux PR_SET_PDEATHSIG) and also watches its
parent's pid, so SIGKILL, SIGTERM or Ctrl-C on `kdsurvey sweep` leaves no worker training behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import torch

from kdsurvey import record
from kdsurvey.distill.engine import resolve_device
from kdsurvey.distill.runner import Runner, run
from kdsurvey.distill.speed import Speed
from kdsurvey.distill.store import Store
from kdsurvey.distill.sweep import Task, status
from kdsurvey.errors import KdSurveyError


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
    retrain: bool = False

    def __call__(self, task: Task, slot: int | None = None) -> Outcome:
        began = time.perf_counter()
        try:
            if self.threads:
                torch.set_num_threads(self.threads)
            device = self._device(slot)
            detail = self._stage(task, device) if task.stage is not None else self._record(task, device)
        except Exception as exc:  # reported, and the tasks that need this one are skipped
            return Outcome(task.name, False, time.perf_counter() - began, f"{type(exc).__name__}: {exc}")
        return Outcome(task.name, True, time.perf_counter() - began, detail)

    def checkpoint(self, *args, **kwargs):
        """submitit calls this on timeout or preemption: requeue the same task (it resumes from its checkpoint)."""
        return require_submitit().helpers.DelayedSubmission(self, *args, **kwargs)

    def _device(self, slot: int | None) -> str:
        """With several GPUs, local worker slot i takes GPU i mod count."""
        count = torch.cuda.device_count() if self.device in ("auto", "cuda") else 0
        return f"cuda:{slot % count}" if slot is not None and count > 1 else self.device

    def _stage(self, task: Task, device: str) -> str:
        runner = Runner(Store(self.out), resolve_device(device), self.data_dir, speed=self.speed, retrain=self.retrain)
        before = status(task, runner.store)
        _, result = runner.obtain(task.stage)
        if before == "done":
            return "already stored"
        resumed = result.get("resumed_from_epoch") or 0
        return f"resumed at epoch {resumed + 1}" if resumed else "trained"

    def _record(self, task: Task, device: str) -> str:
        rec = run(task.experiment, self.out, device=device, data_dir=self.data_dir, speed=self.speed)
        return str(record.write(rec, self.records))


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
        pass


def _die_with_parent(parent: int) -> None:
    """In a worker: be killed when the sweep process dies, however it dies."""
    try:  # Linux: the kernel sends SIGKILL the moment the parent exits
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch():  # elsewhere (and as a second line of defence): poll the parent's pid
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="kdsurvey-parent-watch", daemon=True).start()


class Local:
    """N worker processes on this machine (spawned, so CUDA works in them)."""

    def __init__(self, work: Work, jobs: int):
        self.work, self.slots = work, jobs
        self.pool = ProcessPoolExecutor(
            jobs, mp_context=get_context("spawn"), initializer=_die_with_parent, initargs=(os.getpid(),)
        )
        self._slot_of: dict = {}  # future -> the slot it holds

    def submit(self, task: Task):
        slot = min(set(range(self.slots)) - set(self._slot_of.values()))
        try:
            future = self.pool.submit(self.work, task, slot)
        except BrokenProcessPool as exc:
            raise SweepError("a worker process died (out of memory?); rerun the sweep to resume") from exc
        self._slot_of[future] = slot
        return future

    def wait(self, handles: list) -> list:
        return list(wait(handles, return_when=FIRST_COMPLETED).done)

    def outcome(self, handle) -> Outcome:
        self._slot_of.pop(handle, None)
        try:
            return handle.result()
        except BrokenProcessPool as exc:
            raise SweepError("a worker process died (out of memory?); rerun the sweep to resume") from exc

    def close(self, running: list) -> None:
        """Shut the pool down; with tasks still running (an interrupted sweep), kill the workers first."""
        if running:
            for process in list(getattr(self.pool, "_processes", {}).values()):
                process.kill()  # the stage resumes from its checkpoint on the next call
        self.pool.shutdown(wait=True, cancel_futures=True)


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


def default_threads(jobs: int) -> int:
    """cores / jobs: the cores this process may use (its affinity), shared evenly between the workers."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // jobs)
