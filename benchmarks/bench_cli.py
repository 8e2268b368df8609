"""Time `import kdsurvey` and `kdsurvey report` side by side with a bare interpreter start.

Each round runs every command once, in turn, so machine noise hits them alike; the table gives the
median and minimum wall time over the rounds, the ratio of medians to a bare `python -c pass`, and
the peak RSS of each process. Run from the repository root with the project's venv:

    .venv/bin/python benchmarks/bench_cli.py [--rounds 7]

Targets (issue 2, on 2 cores): `kdsurvey report` under 3 s, `import kdsurvey` under 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _kdsurvey() -> list[str]:
    script = Path(sys.executable).with_name("kdsurvey")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kdsurvey"]


def commands(out: Path) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "python -c pass (baseline)": [py, "-c", "pass"],
        "import kdsurvey": [py, "-c", "import kdsurvey"],
        "import kdsurvey.catalogue (pandas)": [py, "-c", "import kdsurvey.catalogue"],
        "kdsurvey tables --table 1": _kdsurvey() + ["tables", "--table", "1"],
        "kdsurvey report --out DIR": _kdsurvey() + ["report", "--out", str(out)],
    }


def run_once(argv: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run of argv."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kdsurvey-bench-"))
    try:
        cmds = commands(work / "report")
        times = {name: [] for name in cmds}
        rss = {name: 0 for name in cmds}
        for argv in cmds.values():  # warm the file cache once
            run_once(argv)
        for _ in range(args.rounds):
            for name, argv in cmds.items():
                seconds, peak = run_once(argv)
                times[name].append(seconds)
                rss[name] = max(rss[name], peak)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(times["python -c pass (baseline)"])
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
          f"{args.rounds} interleaved rounds\n")  # fmt: skip
    print("| command | median s | min s | median / baseline | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"| `{name}` | {med:.3f} | {min(values):.3f} | {med / base:.1f}x | {rss[name] / 1024:.0f} |")


if __name__ == "__main__":
    main()
