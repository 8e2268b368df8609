"""Time a Hinton KD training step (resnet32x4 -> resnet8x4) in `engine.fit` beside a plain PyTorch loop.

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
  Its clock spans what fit's does: from the per-epoch seeding to the last step (then a device sync).

On CUDA both sides run under bf16 autocast with channels_last models and batches, as fit does; on the
CPU both are fp32. Rounds are interleaved (the order alternates, AB BA AB ...) so machine noise hits both
sides alike; each side keeps its models across rounds and builds a fresh optimiser per round, as fit
does. The table gives median and minimum wall seconds per step over the timed rounds and the ratio
package / plain (target from the issue: at most 1.05). It also gives process CPU seconds per step of the
whole call, steadier than wall time on a shared machine: there the plain side also runs
`engine.evaluate` on the 64-image test split after its loop, because fit does, so both calls do the same
extra work, and the minor page faults per step over the same call (a count, so noise-free: pages the
allocator handed back to the system and had to fault in again). Peak RSS is that of this one process
after each side's warm-up (ru_maxrss only grows, so the second number covers both sides' models); on
CUDA the peak GPU memory each side allocates over what is already resident (the data set, the other
side's models) is given too. A data-only row times the shared batch iterator alone.

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
from kdsurvey.distill.methods.hinton_kd import HintonKD
from kdsurvey.distill.recipe import Recipe
from kdsurvey.errors import UsageError

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

    def __call__(self) -> tuple[float, float]:
        sync(self.device)
        cpu = time.process_time()
        result = engine.fit(self.method, self.splits, self.recipe, seed=SEED, device=self.device)
        return result.wall_time_s, time.process_time() - cpu


class Plain:
    """The same work written as a bare PyTorch loop, timed the same way (epoch loop only)."""

    name = "plain PyTorch loop"

    def __init__(self, splits, recipe: Recipe, device: torch.device):
        self.teacher, self.student = build_pair()
        self.teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.train_set, self.test_set, self.info = splits.train, splits.test, splits.info
        self.recipe, self.device, self.cuda = recipe, device, device.type == "cuda"

    def __call__(self) -> tuple[float, float]:
        r = self.recipe
        cpu = time.process_time()
        for model in (self.teacher, self.student):  # as fit: a no-op after the first call
            model.to(self.device)
            if self.cuda:
                model.to(memory_format=torch.channels_last)
        train_set = self.train_set.to(self.device)
        optimizer = torch.optim.SGD(
            self.student.parameters(), lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay, nesterov=r.nesterov
        )
        sync(self.device)
        began = time.perf_counter()
        torch.manual_seed(engine.epoch_seed(SEED, 0))
        self.student.train()
        loader = datamod.batches(
            train_set, self.info, r.batch_size, train=True, seed=SEED, epoch=0,
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
        wall = time.perf_counter() - began
        # Not the loop, but fit does it too: keeps the process CPU times of the two calls comparable.
        engine.evaluate(self.student, self.test_set, self.info, self.device, r.eval_batch_size)
        return wall, time.process_time() - cpu


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


def minor_faults() -> int:
    """Pages this process has touched fresh so far: memory the allocator gave back and took again."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "all": values}


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
    try:
        device = engine.resolve_device(args.device)
    except UsageError as exc:
        parser.error(str(exc))
    n_train = args.steps * args.batch_size  # one epoch is exactly --steps batches
    splits = datamod.load(f"fake:classes={CLASSES},channels=3,size=32,train={n_train},test=64")
    recipe = Recipe(epochs=1, batch_size=args.batch_size)

    sides = [Plain(splits, recipe, device), Package(splits, recipe, device)]
    plain, package = (side.name for side in sides)
    rss, gpu_mib = {}, {}
    splits.train.to(device)  # moved once and cached by the set, shared by both sides
    for side in sides:
        if device.type == "cuda":  # each side's own peak: its models and activations over what is resident
            torch.cuda.reset_peak_memory_stats(device)
            resident = torch.cuda.memory_allocated(device)
        for _ in range(args.warmup):
            side()
        rss[side.name] = peak_rss_mib()
        if device.type == "cuda":
            gpu_mib[side.name] = (torch.cuda.max_memory_allocated(device) - resident) / 2**20
    wall = {side.name: [] for side in sides}
    cpu = {side.name: [] for side in sides}
    faults = {side.name: [] for side in sides}
    for r in range(args.rounds):
        for side in sides if r % 2 == 0 else reversed(sides):
            before = minor_faults()
            seconds, cpu_seconds = side()
            faults[side.name].append((minor_faults() - before) / args.steps)
            wall[side.name].append(seconds / args.steps)
            cpu[side.name].append(cpu_seconds / args.steps)
    data_only = DataOnly(splits, recipe, device)
    data_wall = [data_only() / args.steps for _ in range(args.rounds)]

    w = {name: summary(values) for name, values in wall.items()}
    c = {name: summary(values) for name, values in cpu.items()}
    f = {name: summary(values) for name, values in faults.items()}
    ratio = w[package]["median"] / w[plain]["median"]
    ratio_min = w[package]["min"] / w[plain]["min"]
    ratio_paired = statistics.median(b / a for a, b in zip(wall[plain], wall[package]))
    ratio_cpu = c[package]["median"] / c[plain]["median"]

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{os.cpu_count()} CPUs"
    print(f"{TEACHER} -> {STUDENT}, batch {args.batch_size} of 3x32x32, {CLASSES} classes, device {device} "
          f"({where}), torch {torch.__version__}, {torch.get_num_threads()} threads, Python "
          f"{platform.python_version()}; {args.steps} steps x {args.rounds} interleaved rounds per side "
          f"after {args.warmup} warm-up round(s)\n")  # fmt: skip
    columns = ["loop", "median s/step", "min s/step", "median / plain", "CPU s/step (median)", "CPU / plain"]
    columns += ["page faults/step (median)", "peak RSS MiB"] + (["peak GPU MiB"] if gpu_mib else [])
    print("| " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * (len(columns) - 1))
    for name in (plain, package):
        cells = [name, f"{w[name]['median']:.4f}", f"{w[name]['min']:.4f}"]
        cells += [f"{w[name]['median'] / w[plain]['median']:.3f}x", f"{c[name]['median']:.4f}"]
        cells += [f"{c[name]['median'] / c[plain]['median']:.3f}x", f"{f[name]['median']:.0f}", f"{rss[name]:.0f}"]
        cells += [f"{gpu_mib[name]:.0f}"] if gpu_mib else []
        print("| " + " | ".join(cells) + " |")
    d = summary(data_wall)
    cells = [DataOnly.name, f"{d['median']:.4f}", f"{d['min']:.4f}", f"{d['median'] / w[plain]['median']:.3f}x"]
    print("| " + " | ".join(cells + ["-"] * (len(columns) - len(cells))) + " |")
    verdict = "met" if ratio <= 1.05 else "NOT met"
    print(f"\nratio package / plain (wall, loop only): {ratio:.3f} of medians, {ratio_min:.3f} of minima, "
          f"{ratio_paired:.3f} median of per-round ratios; process CPU time: {ratio_cpu:.3f} of medians; "
          f"target <= 1.05 {verdict}\n")  # fmt: skip
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
        "wall_s_per_step": {"plain": w[plain], "package": w[package], "data_only": d},
        "cpu_s_per_step": {"plain": c[plain], "package": c[package]},
        "minor_page_faults_per_step": {"plain": f[plain], "package": f[package]},
        "ratio_median": ratio,
        "ratio_min": ratio_min,
        "ratio_paired_median": ratio_paired,
        "ratio_cpu_median": ratio_cpu,
        "peak_rss_mib": {"after_plain_warmup": rss[plain], "after_package_warmup": rss[package]},
        "peak_gpu_mib": gpu_mib or None,
        "target_met": ratio <= 1.05,
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
