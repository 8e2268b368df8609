"""`kdsurvey reproduce`: run one experiment (or list what can be run) and write its result record.

Launched by torchrun (WORLD_SIZE > 1), every process joins one DistributedDataParallel group
(NCCL on CUDA, gloo on the CPU); rank 0 writes the stages and the record.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch.distributed as dist

from kdsurvey.distill import config, data, methods, models, runner
from kdsurvey.distill import results as resultsmod
from kdsurvey.distill.flags import key_values
from kdsurvey.distill.speed import Speed
from kdsurvey.errors import UsageError


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


def parse_seeds(text: str | None):
    if text is None:
        return None
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip() != "")
    except ValueError:
        raise UsageError(f"--seeds takes comma-separated integers, e.g. 0,1,2; got {text!r}") from None
    if not seeds:
        raise UsageError("--seeds is empty")
    return seeds


def options_from(pairs: list[str] | None) -> dict | None:
    """--option key=value pairs, values read as YAML scalars (numbers, booleans, text)."""
    if not pairs:
        return None
    import yaml

    return {key: yaml.safe_load(value) for key, value in key_values(pairs, "--option").items()}


def command(args) -> str:
    if args.list:
        return listing()
    values = config.load(args.config) if args.config else {}
    options = options_from(args.option)
    if options is not None:
        options = {**(values.get("options") or {}), **options}
    experiment = config.experiment(
        values,
        method=args.method,
        teacher=args.teacher,
        student=args.student,
        dataset=args.dataset,
        seeds=parse_seeds(args.seeds),
        teacher_seed=args.teacher_seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        options=options,
    )
    speed = Speed.from_pairs(args.speed)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed and args.device.startswith("cuda:"):
        raise UsageError("under torchrun each process takes the GPU of its LOCAL_RANK; use --device auto or cuda")
    if distributed:
        _join_group(args.device)
    try:
        device = args.device
        if distributed and device in ("auto", "cuda") and _cuda():
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        record = runner.run(
            experiment, args.out, device=device, data_dir=args.data_dir, download=args.download,
            progress=not args.quiet, log=None if args.quiet else lambda line: print(line, file=sys.stderr),
            speed=speed,
        )  # fmt: skip
        rank = dist.get_rank() if distributed else 0
        if rank != 0:
            return ""
        path = resultsmod.write(record, Path(args.out))
        return summary_text(record) + f"record written to {path}\n"
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


def summary_text(record: dict) -> str:
    from kdsurvey import reproduced

    row = reproduced.summary([record]).iloc[0]
    lines = [f"{record['title']} on {record['dataset']}, {record['teacher']['arch']} -> {record['student']['arch']}, "
             f"{row['n']} seed(s), {record['epochs']} epochs, {record['device']}"]  # fmt: skip
    for role in ("teacher", "baseline", "student"):
        lo, hi = row[f"{role}_low"], row[f"{role}_high"]
        interval = "" if lo != lo else f"  (95% CI {lo:.2f} to {hi:.2f})"
        lines.append(f"  {role:9s} {row[f'{role}_mean']:6.2f}%{interval}")
    gain = f"  student - baseline: {row['gain']:+.2f} points"
    if row["p_value"] == row["p_value"]:
        gain += f" (95% CI {row['gain_low']:+.2f} to {row['gain_high']:+.2f}, Welch p = {row['p_value']:.3g})"
    lines.append(gain)
    return "\n".join(lines) + "\n"
