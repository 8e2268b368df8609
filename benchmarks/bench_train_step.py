"""Time one Hinton KD training step (resnet32x4 -> resnet8x4, CIFAR-100 shapes) in `engine.fit` and in a plain loop.

Both sides train the same student (resnet8x4) from the same frozen teacher (resnet32x4), both built by
`kdsurvey.distill.models.build` from the same seed, on the same in-memory fake data set (100 classes,
3x32x32, exactly `--steps` batches of `--batch-size` per epoch), with SGD (lr 0.05, momentum 0.9,
weight decay 5e-4) and the loss 0.1 CE + 0.9 KD at T = 4.

- package: `engine.fit(HintonKD(student, [teacher]), splits, Recipe(epochs=1, ...))`. Its time is
  `Fit.wall_time_s`, which fit measures around the epoch loop only (per-epoch seeding, batch iterator,
  forward, loss checks, divergence check, backward, step, per-batch loss logging); model moves, the
  optimiser's construction and the test-split evaluation after training fall outside it.
- plain: a hand-written loop over the same `data.batches` iterator (so data handling is identical and
  the comparison isolates the loop): teacher forward under no_grad in eval mode, student forward, the
  loss written inline with torch.nn.functional (cross_entropy, kl_div of log_softmax against softmax,
  batchmean, times T*T), zero_grad / backward / step, and nothing else: no per-step sync or logging.

On CUDA both sides run under bf16 autocast with channels_last models and batches, as fit does; on the
CPU both are fp32. Rounds are interleaved (the order alternates, AB BA AB ...) so machine noise hits both
sides alike; each side keeps its models across rounds and builds a fresh optimiser per round, as fit
does. The table gives median and minimum seconds per step over the timed rounds and the ratio
package / plain (target from the issue: at most 1.05). Peak RSS is that of this one process after each
side's warm-up (ru_maxrss only grows, so the second number covers both); on CUDA the peak allocated
GPU memory of each side is given too. A data-only row times the shared batch iterator alone.

Run from the repository root with the project's venv:

    .venv/bin/python benchmarks/bench_train_step.py [--device auto] [--steps 6] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from contextlib import nullcontext

import torch
import torch.nn.functional as F

from kdsurvey.distill import data as datamod
from kdsurvey.distill import engine, models
from kdsurvey.distill.methods.kd import HintonKD
from kdsurvey.distill.recipe import Recipe

TEACHER, STUDENT, CLASSES = "resnet32x4", "resnet8x4", 100
T, CE_WEIGHT, KD_WEIGHT = 4.0, 0.1, 0.9
SEED = 0


def build_pair() -> tuple[torch.nn.Module, torch.nn.Module]:
    """(teacher, student), built from the same seed for both sides."""
    torch.manual_seed(SEED)
    teacher = models.build(TEACHER, CLASSES)
    student = models.build(STUDENT, CLASSES)
    return teacher, student


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Package:
    """One epoch of `engine.fit` on a HintonKD method; returns fit's own training wall time."""

    name = "package: engine.fit (HintonKD)"

    def __init__(self, splits, recipe: Recipe, device: torch.device):
        teacher, student = build_pair()
        self.method = HintonKD(student, [teacher], temperature=T, ce_weight=CE_WEIGHT, kd_weight=KD_WEIGHT)
        self.splits, self.recipe, self.device = splits, recipe, device

    def __call__(self) -> float:
        sync(self.device)
        result = engine.fit(self.method, self.splits, self.recipe, seed=SEED, device=self.device)
        return result.wall_time_s


class Plain:
    """The same work written as a bare PyTorch loop, timed the same way (epoch loop only)."""

    name = "plain PyTorch loop"

    def __init__(self, splits, recipe: Recipe, device: torch.device):
        self.teacher, self.student = build_pair()
        self.cuda = device.type == "cuda"
        for model in (self.teacher, self.student):
            model.to(device)
            if self.cuda:
                model.to(memory_format=torch.channels_last)
        self.teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.train_set, self.info = splits.train.to(device), splits.info
        self.recipe, self.device = recipe, device

    def __call__(self) -> float:
        r = self.recipe
        optimizer = torch.optim.SGD(
            self.student.parameters(), lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay, nesterov=r.nesterov
        )
        sync(self.device)
        began = time.perf_counter()
        torch.manual_seed(engine.epoch_seed(SEED, 0))
        self.student.train()
        loader = datamod.batches(
            self.train_set, self.info, r.batch_size, train=True, seed=SEED, epoch=0,
            device=self.device, channels_last=self.cuda,
        )  # fmt: skip
        for x, y, _ in loader:
            with torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda else nullcontext():
                with torch.no_grad():
                    t_logits = self.teacher(x)
                s_logits = self.student(x)
                kd = F.kl_div(F.log_softmax(s_logits / T, dim=1), F.softmax(t_logits / T, dim=1), reduction="batchmean")
                loss = CE_WEIGHT * F.cross_entropy(s_logits, y) + KD_WEIGHT * kd * (T * T)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        sync(self.device)
        return time.perf_counter() - began


class DataOnly:
    """The shared batch iterator alone: index, augment, normalise (included in both sides above)."""

    name = "data.batches alone (shared)"

    def __init__(self, splits, recipe: Recipe, device: torch.device):
        self.train_set, self.info, self.recipe, self.device = splits.train.to(device), splits.info, recipe, device

    def __call__(self) -> float:
        sync(self.device)
        began = time.perf_counter()
        for _ in datamod.batches(
            self.train_set, self.info, self.recipe.batch_size, train=True, seed=SEED, epoch=0,
            device=self.device, channels_last=self.device.type == "cuda",
        ):  # fmt: skip
            pass
        sync(self.device)
        return time.perf_counter() - began


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    parser.add_argument("--steps", type=int, default=6, help="training steps per side per round (default: 6)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per side (default: 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds per side first (default: 1)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if min(args.steps, args.rounds, args.batch_size) < 1 or args.warmup < 0:
        parser.error("--steps, --rounds and --batch-size must be >= 1, --warmup >= 0")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = engine.resolve_device(args.device)
    n_train = args.steps * args.batch_size  # one epoch is exactly --steps batches
    splits = datamod.load(f"fake:classes={CLASSES},channels=3,size=32,train={n_train},test=64")
    recipe = Recipe(epochs=1, batch_size=args.batch_size)

    sides = [Plain(splits, recipe, device), Package(splits, recipe, device)]
    rss, gpu_mib = {}, {}
    for side in sides:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        for _ in range(args.warmup):
            side()
        rss[side.name] = peak_rss_mib()
        if device.type == "cuda":
            gpu_mib[side.name] = torch.cuda.max_memory_allocated(device) / 2**20
    times = {side.name: [] for side in sides}
    for r in range(args.rounds):
        for side in sides if r % 2 == 0 else reversed(sides):
            times[side.name].append(side() / args.steps)
    data_only = DataOnly(splits, recipe, device)
    data_times = [data_only() / args.steps for _ in range(args.rounds)]

    plain, package = (side.name for side in sides)
    med = {name: statistics.median(values) for name, values in times.items()}
    low = {name: min(values) for name, values in times.items()}
    paired = [b / a for a, b in zip(times[plain], times[package])]
    ratio, ratio_min, ratio_paired = med[package] / med[plain], low[package] / low[plain], statistics.median(paired)

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{os.cpu_count()} CPUs"
    print(f"{TEACHER} -> {STUDENT}, batch {args.batch_size} of 3x32x32, {CLASSES} classes, device {device} "
          f"({where}), torch {torch.__version__}, {torch.get_num_threads()} threads, Python "
          f"{platform.python_version()}; {args.steps} steps x {args.rounds} interleaved rounds per side "
          f"after {args.warmup} warm-up round(s)\n")  # fmt: skip
    gpu_col = " | peak GPU MiB" if gpu_mib else ""
    print(f"| loop | median s/step | min s/step | median / plain | peak RSS MiB{gpu_col} |")
    print("|---|---:|---:|---:|---:|" + ("---:|" if gpu_mib else ""))
    for name in (plain, package):
        gpu = f" | {gpu_mib[name]:.0f}" if gpu_mib else ""
        print(f"| {name} | {med[name]:.4f} | {low[name]:.4f} | {med[name] / med[plain]:.3f}x | {rss[name]:.0f}{gpu} |")
    print(f"| {DataOnly.name} | {statistics.median(data_times):.4f} | {min(data_times):.4f} | "
          f"{statistics.median(data_times) / med[plain]:.3f}x | - |" + (" - |" if gpu_mib else ""))  # fmt: skip
    verdict = "met" if ratio <= 1.05 else "NOT met"
    print(f"\nratio package / plain: {ratio:.3f} of medians, {ratio_min:.3f} of minima, "
          f"{ratio_paired:.3f} median of per-round ratios; target <= 1.05 {verdict}\n")  # fmt: skip
    record = {
        "benchmark": "train_step_hinton_kd",
        "teacher": TEACHER,
        "student": STUDENT,
        "batch_size": args.batch_size,
        "device": str(device),
        "device_name": where,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "steps": args.steps,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "plain_s_per_step": {"median": med[plain], "min": low[plain], "all": times[plain]},
        "package_s_per_step": {"median": med[package], "min": low[package], "all": times[package]},
        "data_only_s_per_step": {"median": statistics.median(data_times), "min": min(data_times)},
        "ratio_median": ratio,
        "ratio_min": ratio_min,
        "ratio_paired_median": ratio_paired,
        "peak_rss_mib": {"after_plain_warmup": rss[plain], "after_package_warmup": rss[package]},
        "peak_gpu_mib": gpu_mib or None,
        "target_met": ratio <= 1.05,
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
