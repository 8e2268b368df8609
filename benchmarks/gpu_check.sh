#!/usr/bin/env bash
# One GPU check for a lent GPU (issue 11 item 7), within 8 minutes on one H100/H200:
#   1. tests/distill/test_cuda.py (bf16 + channels_last fit, teacher cache bit-identical, stage reload) on CUDA;
#   2. benchmarks/bench_kd_throughput.py at batch 64 and 256: kdsurvey against the reference loop (the ratios);
#   3. a short CIFAR-shaped `kdsurvey reproduce hinton_kd` (fake data, resnet32x4 -> resnet8x4, bf16,
#      channels_last), once without and once with the teacher cache: wall times, accuracies, peak GPU memory.
# Every result is JSON under OUT_DIR (env.json, tests.json, throughput_b*.json, reproduce.json, summary.json),
# with summary.md (one page) and logs/ (one log per step). Every step runs under `timeout`, inside one
# deadline (--budget, default 450 s), so a slow step cannot eat the others' time; a failed step does not stop
# the rest. Exit status: 0 when every step passed, 1 when one failed or timed out, 2 on bad arguments.
#
#   bash benchmarks/gpu_check.sh [--dry-run] [--budget SECONDS] OUT_DIR
#
# --dry-run (or KDSURVEY_GPU_DRY=1): the same steps at tiny sizes on the CPU, in well under a minute, to prove
# the plumbing (arguments, JSON, summary, exit codes); tests/test_gpu_check.py runs it. Its figures mean nothing.
# PYTHON=... picks the interpreter (default: .venv/bin/python if there, else python3).
#
# Through the device tool (one call; the machine's start costs 1-2 of the 15 device minutes):
#   run(command="bash benchmarks/gpu_check.sh /tmp/gpu_check; rc=$?;
#                cp /tmp/gpu_check/summary.md /tmp/gpu_check/summary.json $OUT/;
#                tar -C /tmp -czf $OUT/gpu_check.tar.gz gpu_check; exit $rc", timeout_s=540)
# No carry and no install. That machine reaches no package registry, so `pip install -e '.[test]'` cannot run
# there, and this checkout's .venv (5.9 GB with torch and CUDA) is far over the 64 MiB that can travel. Its
# python3 already holds torch (2.11+cu130 when last seen), torchvision, pytest, PyYAML, pandas and scipy, which
# is all that kdsurvey's reproduce path, the tests and the benchmark import (checked here with bibtexparser,
# adjustText, tabulate and nbval made unimportable); kdsurvey itself runs from the checkout (PYTHONPATH), and
# pytest runs with `-o addopts=-ra` because nbval is not there. Only 8 files come back from $OUT, hence the
# tarball. Then copy the figures from summary.md into benchmarks/RESULTS.md.
set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ME="gpu_check.sh"
DRY=${KDSURVEY_GPU_DRY:-0}
BUDGET=""
OUT=""

usage() { echo "bash benchmarks/gpu_check.sh [--dry-run] [--budget SECONDS] OUT_DIR"; }
die() { echo "$ME: error: $*" >&2; exit 2; }

while (($#)); do
  case $1 in
    --dry-run) DRY=1 ;;
    --budget)
      (($# >= 2)) || die "--budget needs a number of seconds"
      BUDGET=$2
      shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $1 (usage: $(usage))" ;;
    *) [[ -z $OUT ]] || die "one OUT_DIR only, got '$OUT' and '$1'"; OUT=$1 ;;
  esac
  shift
done
[[ $DRY == 0 || $DRY == 1 ]] || die "KDSURVEY_GPU_DRY must be 0 or 1, got '$DRY'"
[[ -n $OUT ]] || die "no OUT_DIR given (usage: $(usage))"
[[ -z $BUDGET || $BUDGET =~ ^[0-9]+$ ]] || die "--budget must be a whole number of seconds, got '$BUDGET'"
if [[ -e $OUT && ! -d $OUT ]]; then die "OUT_DIR $OUT is not a folder"; fi
if [[ -d $OUT && -n $(ls -A "$OUT") ]]; then die "OUT_DIR $OUT is not empty; give a new or empty folder"; fi
command -v timeout >/dev/null || die "this script needs coreutils' timeout"

if [[ -z ${PYTHON:-} ]]; then
  if [[ -x $REPO/.venv/bin/python ]]; then PYTHON=$REPO/.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
cd "$REPO" || die "cannot enter $REPO"
CHECK='import torch, kdsurvey, sys; sys.exit(0 if torch.cuda.is_available() else 3)'
"$PYTHON" -c "$CHECK" 2>/dev/null
case $? in
  0) ;;
  3) [[ $DRY == 1 ]] || die "torch sees no CUDA device; use --dry-run for the CPU check of the plumbing" ;;
  *) die "$PYTHON cannot import torch and kdsurvey (set PYTHON to an interpreter that can)" ;;
esac

if [[ $DRY == 1 ]]; then
  BUDGET=${BUDGET:-170}
  DEVICE=cpu
  export OMP_NUM_THREADS=1 KDSURVEY_CUDA_TESTS_ON_CPU=1  # 1 thread: a busy small CPU slows down with more
  BATCHES="8"
  BENCH=(--device cpu --steps 1 --rounds 1 --warmup 0 --workers 0 --threads 1 --students 2)
  REPRO=(--dataset "fake:classes=10,channels=3,size=8,train=64,test=32" --teacher resnet8 --student resnet8
    --epochs 1 --batch-size 32 --seeds 0,1 --threads 1)
  CAP_TESTS=60 CAP_BENCH=60 CAP_REPRO=60
else
  BUDGET=${BUDGET:-450}
  DEVICE=cuda
  BATCHES="64 256"
  BENCH=(--device cuda --steps 50 --rounds 5 --warmup 1)
  REPRO=(--dataset "fake:classes=100,channels=3,size=32,train=20000,test=2000" --teacher resnet32x4
    --student resnet8x4 --epochs 4 --batch-size 128 --seeds 0,1,2)
  CAP_TESTS=120 CAP_BENCH=110 CAP_REPRO=150
fi

mkdir -p "$OUT/logs" || die "cannot create $OUT/logs"
OUT=$(cd "$OUT" && pwd)
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/kdsurvey-gpu-check.XXXXXX") || die "cannot create a scratch folder"
trap 'rm -rf "$SCRATCH"' EXIT
STEPS=$OUT/logs/steps.tsv
: >"$STEPS"
DEADLINE=$BUDGET
RESERVE=15  # seconds kept for the summary
FAILED=0

# run_step NAME CAP COMMAND...: COMMAND under timeout (its cap, or what is left before the deadline), its
# output shown and kept in logs/NAME.log; one line per step in logs/steps.tsv (name, status, s, limit, rc).
run_step() {
  local name=$1 cap=$2 left limit began rc status
  shift 2
  left=$((DEADLINE - SECONDS - RESERVE))
  limit=$((cap < left ? cap : left))
  if ((limit < 5)); then
    echo "== $name: skipped, the ${BUDGET}s budget is spent"
    printf '%s\tskipped\t0\t0\t-\n' "$name" >>"$STEPS"
    FAILED=1
    return
  fi
  echo "== $name (limit ${limit}s)"
  began=$SECONDS
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUT/logs/$name.log"
  rc=${PIPESTATUS[0]}
  case $rc in
    0) status=ok ;;
    124 | 137) status=timeout ;;
    *) status=failed ;;
  esac
  ((rc == 0)) || FAILED=1
  echo "== $name: $status (exit $rc, $((SECONDS - began))s)"
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - began))" "$limit" "$rc" >>"$STEPS"
}

HELPER=benchmarks/_gpu_check.py
ENV_FLAGS=()
[[ $DRY == 1 ]] && ENV_FLAGS=(--dry-run)
run_step env 40 "$PYTHON" "$HELPER" env "$OUT/env.json" "${ENV_FLAGS[@]}"

run_step tests "$CAP_TESTS" env CUBLAS_WORKSPACE_CONFIG=:4096:8 "$PYTHON" -m pytest tests/distill/test_cuda.py \
  -p no:cacheprovider -o addopts=-ra -q --junitxml="$SCRATCH/junit.xml"
"$PYTHON" "$HELPER" junit "$SCRATCH/junit.xml" "$OUT/tests.json" || FAILED=1

first=${BATCHES%% *}
run_step "throughput_b$first" "$CAP_BENCH" "$PYTHON" benchmarks/bench_kd_throughput.py "${BENCH[@]}" \
  --batch-sizes "$first" --out "$OUT/throughput_b$first.json"

run_step reproduce "$CAP_REPRO" "$PYTHON" "$HELPER" reproduce "$OUT/reproduce.json" --scratch "$SCRATCH/reproduce" \
  --device "$DEVICE" "${REPRO[@]}"

for batch in $BATCHES; do
  [[ $batch == "$first" ]] && continue
  run_step "throughput_b$batch" "$CAP_BENCH" "$PYTHON" benchmarks/bench_kd_throughput.py "${BENCH[@]}" \
    --batch-sizes "$batch" --out "$OUT/throughput_b$batch.json"
done

timeout 30 "$PYTHON" "$HELPER" summary "$OUT" || FAILED=1
echo "== total ${SECONDS}s of a ${BUDGET}s budget; results in $OUT (summary.md)"
exit $((FAILED ? 1 : 0))
