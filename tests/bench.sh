#!/bin/sh
# The README's benchmarks: t2 against the sgemm peak measured in the same run and, when Debian's
# python3-torch is installed and ../shared/peers/torch_llama.py is beside the project, against
# the PyTorch peer run back to back on the same machine. Prints one JSON line per measurement
# and a summary table. Usage: sh tests/bench.sh [REPEAT]   (default 3; medians are reported)
set -eu
T2=${T2_BIN:-build/t2}
REPEAT=${1:-3}
PEER=${T2_PEER:-../shared/peers/torch_llama.py}
OUT=${BENCH_OUT:-build/bench.jsonl}
: >"$OUT"
# The peer's OpenBLAS gets the same kernels as t2 (t2 picks AVX-512/AVX2 ones when OpenBLAS
# does not recognise the CPU; without this the peer would run on the slow fallback).
OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$("$T2" --blas-core)}
export OPENBLAS_CORETYPE
echo "OpenBLAS kernels: $OPENBLAS_CORETYPE; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
have_peer=0
if [ -f "$PEER" ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then have_peer=1; fi

run() { # label, command...
    label=$1
    shift
    i=0
    while [ $i -lt "$REPEAT" ]; do
        line=$("$@" --json | tail -n 1)
        echo "{\"label\": \"$label\", \"result\": $line}" >>"$OUT"
        i=$((i + 1))
    done
}

A="--n-layer 4 --d-model 128 --n-head 4 --seq-len 64 --batch 8 --vocab 128"
C="--n-layer 6 --d-model 256 --n-head 8 --seq-len 128 --batch 32 --vocab 32"
S="--n-layer 4 --d-model 128 --n-head 4 --vocab 32 --prompt-len 16 --gen 32"

run gemm-2 "$T2" bench gemm --threads 2
run train-a-2 "$T2" bench train $A --steps 60 --threads 2
run train-a-1 "$T2" bench train $A --steps 60 --threads 1
run train-c-2 "$T2" bench train $C --steps 8 --threads 2
run sample-batched-2 "$T2" bench sample $S -k 64 --threads 2
run sample-sequential-2 "$T2" bench sample $S -k 64 --threads 2 --sequential
run fit-chinchilla-2 "$T2" bench fit --law chinchilla --bootstrap 1000 --threads 2
run fit-t2-loss-2 "$T2" bench fit --law t2-loss --bootstrap 1000 --threads 2
if [ $have_peer = 1 ]; then
    run torch-train-a-2 /usr/bin/python3 "$PEER" train-bench $A --steps 63 --threads 2
    run torch-train-c-2 /usr/bin/python3 "$PEER" train-bench $C --steps 13 --threads 2
    run torch-sample-batched-2 /usr/bin/python3 "$PEER" sample-bench $S --k 64 --threads 2
fi

/usr/bin/python3 - "$OUT" <<'EOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    rows.setdefault(d["label"], []).append(d["result"])
def med(label, key):
    v = [r[key] for r in rows.get(label, []) if key in r]
    return statistics.median(v) if v else float("nan")
print(f"{'measurement':<26}{'tokens/s':>12}{'GFLOP/s':>10}{'peak':>8}{'MFU':>7}")
for label in rows:
    if label.startswith("fit-"):
        continue
    tok = med(label, "tokens_per_s")
    gf = med(label, "gflops") if "gflops" in rows[label][0] else med(label, "gflops_6n")
    peak, mfu = med(label, "peak_gflops"), med(label, "mfu")
    print(f"{label:<26}{tok:>12.0f}{gf:>10.1f}{peak:>8.0f}{mfu:>7.2f}")
for label in [l for l in rows if l.startswith("fit-")]:
    goal = 5 if "chinchilla" in label else 30
    print(f"{label:<26}{med(label, 'seconds'):>8.2f} s for 1000 bootstrap resamples (target < {goal} s)")
r = lambda a, b: med(a, "tokens_per_s") / med(b, "tokens_per_s")
print(f"train (a): 2 threads / 1 thread = {r('train-a-2', 'train-a-1'):.2f}")
print(f"sample: batched / sequential = {r('sample-batched-2', 'sample-sequential-2'):.2f}")
if "torch-train-a-2" in rows:
    print(f"train (a): t2 / PyTorch = {r('train-a-2', 'torch-train-a-2'):.2f}")
    print(f"train (c): t2 / PyTorch = {r('train-c-2', 'torch-train-c-2'):.2f}")
    print(f"sample batched: t2 / PyTorch = {r('sample-batched-2', 'torch-sample-batched-2'):.2f}")
EOF
