"""Regenerate data/reproduced/: run the default suite (suite.yaml, a grid of 13 methods) and write its records.

    python reproductions/run_suite.py                 # every method (tuning, then 5 seeds), CPU or GPU (auto), 2 jobs
    python reproductions/run_suite.py --only hinton_kd,dml --records /tmp/records

A thin wrapper over `kdsurvey sweep` (kdsurvey.distill.sweeprun) with the suite's defaults. Stages
shared between experiments (the teachers, the baseline students, the assistant) are trained once,
first; each stage lives under --out and is skipped by a later call, so an interrupted suite resumes
where it stopped. With --jobs N, N runs train side by side, each on (cores / N) threads: small CPU
models scale better that way than one run on every thread.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, default=HERE / "suite.yaml", help="the sweep file (default suite.yaml)")
    parser.add_argument("--out", type=Path, default=HERE / "runs", help="stage store (default reproductions/runs)")
    parser.add_argument("--records", type=Path, default=HERE.parent / "data" / "reproduced")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", help="comma-separated method names")
    args = parser.parse_args(argv)

    from kdsurvey.distill import sweep, sweeprun
    from kdsurvey.errors import KdSurveyError

    try:
        spec = sweep.load(args.suite).only(set(args.only.split(",")) if args.only else None)
        summary = sweeprun.run(spec, args.out, args.records, jobs=args.jobs, device=args.device, replace=True,
                               log=lambda line: print(line, flush=True))  # fmt: skip
    except KdSurveyError as exc:
        sys.exit(f"run_suite: {exc}")
    print(summary.text(), end="", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
