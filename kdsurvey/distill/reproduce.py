"""`kdsurvey reproduce`: run one experiment (or list what can be run) and write its result record.

The library side of the command: it takes an Experiment (built by kdsurvey.cli from flags and a config).

Launched by torchrun (WORLD_SIZE > 1), every process joins one DistributedDataParallel group
(NCCL on CUDA, gloo on the CPU); rank 0 writes the stages and the record.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch.distributed as dist

from kdsurvey import record, reproduced
from kdsurvey.distill import data, methods, models, runner
from kdsurvey.distill.engine import resolve_device
from kdsurvey.distill.experiment import Experiment
from kdsurvey.distill.speed import Speed
from kdsurvey.errors import UsageError
from kdsurvey.outputs import writable_folder


def listing() -> str:
    lines = ["methods:"]
    for name in methods.names():
        cls = methods.get(name)
        lines.append(f"  {name:22s} {cls.strategy:8s} {cls.knowledge:9s} {cls.title}")
    lines.append("models:")
    lines.append("  " + ", ".join(models.names()))
    lines.append("data sets:")
    lines.append("  " + ", ".join(data.names()) + "   (default: fashion-mnist-subset, embedded)")
    return "\n".join(lines) + "\n"


def reproduce(
    experiment: Experiment, out: str | Path, *, device: str = "auto", data_dir=None, download: bool = False,
    progress: bool = False, log=None, speed: Speed | None = None, retrain: bool = False, replace: bool = False,
) -> tuple[dict, Path | None]:  # fmt: skip
    """Run `experiment`, write its record to `out`; returns (record, its path), the path None off rank 0.

    Under torchrun (WORLD_SIZE > 1) this process joins the group first and leaves it at the end.
    """
    writable_folder(out)
    record.check_target(out, experiment.run_id, experiment.config_hash, replace)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed and device.startswith("cuda:"):
        raise UsageError("under torchrun each process takes the GPU of its LOCAL_RANK; use --device auto or cuda")
    resolve_device(device)  # a bad device is an error before the group forms or anything loads
    if distributed:
        _join_group(device)
    try:
        if distributed and device in ("auto", "cuda") and _cuda():
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        rec = runner.run(experiment, out, device=device, data_dir=data_dir, download=download, progress=progress,
                         log=log, speed=speed, retrain=retrain)  # fmt: skip
        if (dist.get_rank() if distributed else 0) != 0:
            return rec, None
        return rec, record.write(rec, Path(out))
    finally:
        if distributed:
            dist.destroy_process_group()


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _join_group(device: str) -> None:
    import torch

    backend = "nccl" if device != "cpu" and torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend=backend)


def summary_text(rec: dict) -> str:
    row = reproduced.summary([rec]).iloc[0]
    lines = [f"{rec['title']} on {rec['dataset']}, {rec['teacher']['arch']} -> {rec['student']['arch']}, "
             f"{row['n']} seed(s), {rec['epochs']} epochs, {rec['device']}"]  # fmt: skip
    for role in ("teacher", "baseline", "student"):
        lo, hi = row[f"{role}_low"], row[f"{role}_high"]
        interval = "" if lo != lo else f"  (95% CI {lo:.2f} to {hi:.2f})"
        lines.append(f"  {role:9s} {row[f'{role}_mean']:6.2f}%{interval}")
    gain = f"  student - baseline: {row['gain']:+.2f} points"
    if row["p_value"] == row["p_value"]:
        gain += f" (95% CI {row['gain_low']:+.2f} to {row['gain_high']:+.2f}, Welch p = {row['p_value']:.3g})"
    lines.append(gain)
    return "\n".join(lines) + "\n"
