"""Training images per second of Hinton KD, resnet32x4 -> resnet8x4 on 3x32x32 inputs, four ways side by side.

Rows, per batch size (all in one process, timed in interleaved rounds whose order alternates, so machine
noise hits every row alike; medians over rounds, ratios of medians):

- reference: a DataLoader over a CPU data set of PIL images with torchvision RandomCrop(32, padding=4),
  RandomHorizontalFlip, ToTensor and Normalize in `--workers` worker processes, the teacher run on every
  batch, fp32, plain SGD (see benchmarks/_kd_bench.py; written for this benchmark).
- kdsurvey: `engine.fit` of a HintonKD method for one epoch of exactly `--steps` batches (in-memory
  `data.Batches`, augmentation on the device, the default `Speed`), timed by fit's own loop clock.
- kdsurvey + teacher cache: the same with a `TeacherCache` whose table is ready (built in the warm-up),
  i.e. what every student after the first pays; the "cache build" row times building one table (a teacher
  pass over the epoch), and "amortised over N" charges build / N to each of N students sharing it.
- student only: a bare loop over the same Batches (student forward, cross-entropy, backward, SGD step):
  the lower bound for any distillation.

On CUDA, extra rows run kdsurvey with bf16, channels_last and the fused optimizer off ("fp32"), and with
`--compile`, with torch.compile (inductor; compiled during the warm-up). Peak memory per row: process RSS
(Linux VmHWM, reset before each call) and, on CUDA, torch.cuda.max_memory_allocated.

    .venv/bin/python benchmarks/bench_kd_throughput.py [--device cpu|cuda] [--steps N] [--batch-sizes 64,256]
        [--rounds R] [--students N] [--workers W] [--compile] [--out results.json]
"""

from __future__ import annotations

import argparse
import os
import time

import _kd_bench as kb
import torch
import torch.nn.functional as F

from kdsurvey.distill import data as datamod
from kdsurvey.distill import engine
from kdsurvey.distill.methods.hinton_kd import HintonKD
from kdsurvey.distill.recipe import Recipe
from kdsurvey.distill.speed import Speed
from kdsurvey.distill.teacher_cache import TeacherCache, compute


class Fitted:
    """One kdsurvey configuration: a HintonKD method trained by engine.fit, one epoch per call."""

    def __init__(self, splits, batch_size, device, speed: Speed, cache: bool):
        teacher, student = kb.build(kb.TEACHER, 0), kb.build(kb.STUDENT, 1)
        self.method = HintonKD(student, [teacher], temperature=kb.T, ce_weight=kb.CE_WEIGHT, kd_weight=kb.KD_WEIGHT)
        self.recipe = Recipe(epochs=1, batch_size=batch_size, **kb.SGD)
        self.splits, self.device, self.speed = splits, device, speed
        self.cache = TeacherCache() if cache else None

    def __call__(self, steps: int) -> float:
        result = engine.fit(self.method, self.splits, self.recipe, seed=0, device=self.device, speed=self.speed,
                            teacher_cache=self.cache)  # fmt: skip
        return result.wall_time_s


class Build:
    """Building one teacher-cache table: the teacher over one epoch of batches, as fit does it."""

    def __init__(self, splits, batch_size, device, speed: Speed):
        self.speed = speed.resolve(device)
        self.teacher = kb.frozen(kb.build(kb.TEACHER, 0), device, bool(self.speed.channels_last))
        self.splits, self.batch_size, self.device = splits, batch_size, device

    def __call__(self, steps: int) -> float:
        kb.sync(self.device)
        began = time.perf_counter()
        loader = datamod.batches(self.splits.train, self.splits.info, self.batch_size, train=True, seed=0, epoch=0,
                                 device=self.device, channels_last=bool(self.speed.channels_last))  # fmt: skip
        compute([self.teacher], loader, len(self.splits.train), lambda: self.speed.autocast(self.device))
        kb.sync(self.device)
        return time.perf_counter() - began


class StudentOnly:
    """The lower bound: the student alone over the same batches, with the same speed settings."""

    def __init__(self, splits, batch_size, device, speed: Speed):
        self.speed = speed.resolve(device)
        self.student = kb.build(kb.STUDENT, 1).to(device)
        if self.speed.channels_last:
            self.student.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(self.student.parameters(), **kb.SGD,
                                         fused=True if self.speed.fused_optimizer else None)  # fmt: skip
        self.train_set, self.info = splits.train.to(device), splits.info
        self.batch_size, self.device = batch_size, device

    def __call__(self, steps: int) -> float:
        kb.sync(self.device)
        began = time.perf_counter()
        self.student.train()
        loader = datamod.batches(self.train_set, self.info, self.batch_size, train=True, seed=0, epoch=0,
                                 device=self.device, channels_last=bool(self.speed.channels_last))  # fmt: skip
        for x, y, _ in loader:
            with self.speed.autocast(self.device):
                loss = F.cross_entropy(self.student(x).float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        kb.sync(self.device)
        return time.perf_counter() - began


def configurations(splits, batch_size, device, args) -> dict:
    teacher = kb.frozen(kb.build(kb.TEACHER, 0), device)
    rows = {
        "reference (DataLoader + torchvision, fp32)": kb.Reference(splits, batch_size, device, args.workers, teacher),
        "kdsurvey": Fitted(splits, batch_size, device, Speed(), cache=False),
        "kdsurvey + teacher cache (table ready)": Fitted(splits, batch_size, device, Speed(), cache=True),
        "teacher cache build (one table)": Build(splits, batch_size, device, Speed()),
        "student only (lower bound)": StudentOnly(splits, batch_size, device, Speed()),
    }
    if device.type == "cuda":
        fp32 = Speed(bf16=False, channels_last=False, fused_optimizer=False)
        rows["kdsurvey fp32"] = Fitted(splits, batch_size, device, fp32, cache=False)
        rows["kdsurvey fp32 + teacher cache"] = Fitted(splits, batch_size, device, fp32, cache=True)
        rows["student only fp32"] = StudentOnly(splits, batch_size, device, fp32)
        if args.compile:
            rows["kdsurvey compiled"] = Fitted(splits, batch_size, device, Speed(compile=True), cache=False)
            rows["kdsurvey compiled + teacher cache"] = Fitted(splits, batch_size, device, Speed(compile=True), True)
    return rows


def measure(batch_size: int, device: torch.device, args) -> dict:
    splits = kb.fake_splits(args.steps * batch_size)  # one epoch is exactly --steps batches
    rows = configurations(splits, batch_size, device, args)
    memory = kb.Memory(device)
    seconds = {name: [] for name in rows}
    peaks = {}
    for r in range(-args.warmup, args.rounds):
        for name, run in rows.items() if r % 2 == 0 else reversed(rows.items()):
            memory.start()
            spent = run(args.steps)
            if r < 0:
                continue
            seconds[name].append(spent)
            peak = memory.peak()
            old = peaks.setdefault(name, peak)
            peaks[name] = {k: None if v is None else max(v, old[k]) for k, v in peak.items()}
    images = args.steps * batch_size
    rate = {name: images / kb.median(values) for name, values in seconds.items()}
    build = kb.median(seconds["teacher cache build (one table)"])
    ready = kb.median(seconds["kdsurvey + teacher cache (table ready)"])
    amortised = {n: images / (ready + build / n) for n in (1, args.students)}
    return {"batch_size": batch_size, "seconds": seconds, "images_per_s": rate, "peak_memory": peaks,
            "cache_amortised_images_per_s": amortised}  # fmt: skip


def report(result: dict, args) -> str:
    rate, peaks = result["images_per_s"], result["peak_memory"]
    ref, low = rate["reference (DataLoader + torchvision, fp32)"], rate["student only (lower bound)"]
    cols = ["configuration", "images/s (median)", "/ reference", "/ student only", "peak RSS MiB", "peak GPU MiB"]
    rows = []
    for name, value in rate.items():
        gpu = peaks[name]["gpu_mib"]
        rows.append([name, f"{value:.1f}", f"{value / ref:.2f}x", f"{value / low:.2f}x",
                     f"{peaks[name]['rss_mib']:.0f}", "-" if gpu is None else f"{gpu:.0f}"])  # fmt: skip
    for n, value in result["cache_amortised_images_per_s"].items():
        rows.append([f"kdsurvey + teacher cache, build amortised over {n} student(s)", f"{value:.1f}",
                     f"{value / ref:.2f}x", f"{value / low:.2f}x", "-", "-"])  # fmt: skip
    return f"batch {result['batch_size']}\n\n" + kb.table(cols, rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    kb.add_common_args(parser)
    parser.add_argument("--steps", type=int, default=None, help="batches per timed call (default: 3 CPU, 50 CUDA)")
    parser.add_argument("--batch-sizes", default=None, help="comma-separated (default: 64,128 CPU, 64,256 CUDA)")
    parser.add_argument("--rounds", type=int, default=None, help="timed interleaved rounds (default: 3 CPU, 5 CUDA)")
    parser.add_argument("--students", type=int, default=8, help="students sharing one cache, for amortising")
    parser.add_argument("--workers", type=int, default=min(8, max(1, (os.cpu_count() or 2) // 2)),
                        help="DataLoader workers of the reference loop (default: half the CPUs, at most 8)")  # fmt: skip
    parser.add_argument("--compile", action="store_true", help="add torch.compile rows (CUDA only)")
    args = parser.parse_args()
    device = kb.setup(parser, args)
    cpu = device.type == "cpu"
    args.steps = args.steps or (3 if cpu else 50)
    args.rounds = args.rounds or (3 if cpu else 5)
    sizes = [int(b) for b in (args.batch_sizes or ("64,128" if cpu else "64,256")).split(",")]
    if min(args.steps, args.rounds, args.students, *sizes) < 1 or args.warmup < 0 or args.workers < 0:
        parser.error("--steps, --rounds, --students and batch sizes must be >= 1; --warmup, --workers >= 0")
    print(f"{kb.TEACHER} -> {kb.STUDENT}, Hinton KD, 3x32x32, {kb.CLASSES} classes; {kb.machine(device)}; "
          f"{args.steps} steps x {args.rounds} interleaved rounds after {args.warmup} warm-up; "
          f"reference with {args.workers} DataLoader worker(s)\n")  # fmt: skip
    results = []
    for batch_size in sizes:
        results.append(measure(batch_size, device, args))
        print(report(results[-1], args), flush=True)
    if args.out:
        record = {"benchmark": "kd_throughput", "machine": kb.machine(device), "args": vars(args), "results": results}
        kb.write_json(args.out, record)


if __name__ == "__main__":
    main()
