"""A sweep of N Hinton KD students (resnet32x4 -> resnet8x4) sharing one teacher cache, against N student-only runs.

What a sweep costs once teacher outputs are shared: N students of different seeds, one data stream
(data_seed), one frozen teacher. Three arms, each N `engine.fit` calls timed whole (key hashing and the
test-split evaluation included, as a real sweep pays them), in interleaved rounds whose order alternates:

- shared cache: HintonKD with one `TeacherCache` for the arm (in memory), so the first student builds each
  epoch's table and the other N-1 reuse it;
- no cache: HintonKD running the teacher on every batch, as today;
- student only: the "ce" method, the same students without a teacher (the lower bound).

The figure of merit is shared cache / student only (target on a GPU: at most 1.2). Peak memory per arm:
process RSS (Linux VmHWM, reset before each arm) and, on CUDA, torch.cuda.max_memory_allocated.

    .venv/bin/python benchmarks/bench_kd_sweep.py [--device cpu|cuda] [--students N] [--epochs E]
        [--train IMAGES] [--batch-size B] [--rounds R] [--out results.json]
"""

from __future__ import annotations

import argparse
import time

import _kd_bench as kb

from kdsurvey.distill import engine, methods
from kdsurvey.distill.recipe import Recipe
from kdsurvey.distill.speed import Speed
from kdsurvey.distill.teacher_cache import TeacherCache

ARMS = ("shared teacher cache", "no cache (teacher every batch)", "student only (ce)")


def sweep(arm: str, teacher, splits, recipe: Recipe, args, device) -> float:
    """Seconds for N whole fit calls of one arm."""
    cache = TeacherCache() if arm == ARMS[0] else None  # a fresh cache: the arm pays for building it
    total = 0.0
    for i in range(args.students):
        student = kb.build(kb.STUDENT, 100 + i)
        if arm == ARMS[2]:
            method = methods.get("ce")(student)
        else:
            method = methods.get("hinton_kd")(student, [teacher])
        kb.sync(device)
        began = time.perf_counter()
        engine.fit(method, splits, recipe, seed=i, data_seed=0, device=device, speed=Speed(), teacher_cache=cache)
        kb.sync(device)
        total += time.perf_counter() - began
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    kb.add_common_args(parser)
    parser.add_argument("--students", type=int, default=None, help="students per sweep (default: 4 CPU, 8 CUDA)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per student (default: 1)")
    parser.add_argument("--train", type=int, default=None, help="training images (default: 128 CPU, 20000 CUDA)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="timed interleaved rounds (default: 2)")
    args = parser.parse_args()
    device = kb.setup(parser, args)
    cpu = device.type == "cpu"
    args.students = args.students or (4 if cpu else 8)
    args.train = args.train or (128 if cpu else 20000)
    if min(args.students, args.epochs, args.train, args.batch_size, args.rounds) < 1 or args.warmup < 0:
        parser.error("--students, --epochs, --train, --batch-size and --rounds must be >= 1, --warmup >= 0")
    splits = kb.fake_splits(args.train, n_test=64)
    recipe = Recipe(epochs=args.epochs, batch_size=args.batch_size, **kb.SGD)
    teacher = kb.build(kb.TEACHER, 0)
    memory = kb.Memory(device)
    seconds, peaks = {arm: [] for arm in ARMS}, {}
    for r in range(-args.warmup, args.rounds):
        for arm in ARMS if r % 2 == 0 else reversed(ARMS):
            memory.start()
            spent = sweep(arm, teacher, splits, recipe, args, device)
            if r >= 0:
                seconds[arm].append(spent)
                peak = memory.peak()
                old = peaks.setdefault(arm, peak)
                peaks[arm] = {k: None if v is None else max(v, old[k]) for k, v in peak.items()}
    med = {arm: kb.median(values) for arm, values in seconds.items()}
    low = med[ARMS[2]]
    print(f"{args.students} students x {args.epochs} epoch(s) of {args.train} images, batch {args.batch_size}, "
          f"{kb.TEACHER} -> {kb.STUDENT}; {kb.machine(device)}; {args.rounds} interleaved rounds after "
          f"{args.warmup} warm-up\n")  # fmt: skip
    rows = [[arm, f"{med[arm]:.2f}", f"{med[arm] / args.students:.2f}", f"{med[arm] / low:.2f}x",
             f"{peaks[arm]['rss_mib']:.0f}", "-" if peaks[arm]["gpu_mib"] is None else f"{peaks[arm]['gpu_mib']:.0f}"]
            for arm in ARMS]  # fmt: skip
    columns = ["arm", "sweep s (median)", "s per student", "/ student only", "peak RSS MiB", "peak GPU MiB"]
    print(kb.table(columns, rows))
    ratio = med[ARMS[0]] / low
    print(f"\nshared cache / student only: {ratio:.3f} (target on a GPU: <= 1.2; "
          f"{'met' if ratio <= 1.2 else 'not met'} here)")  # fmt: skip
    if args.out:
        record = {"benchmark": "kd_sweep", "machine": kb.machine(device), "args": vars(args), "seconds": seconds,
                  "median_s": med, "ratio_shared_cache_to_student_only": ratio, "peak_memory": peaks}  # fmt: skip
        kb.write_json(args.out, record)


if __name__ == "__main__":
    main()
