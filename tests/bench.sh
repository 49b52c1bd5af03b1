#!/bin/sh
# The README's benchmarks: t2 against the peak measured in the same run (sgemm for float32, the
# bf16 kernels for bf16) and, when Debian's python3-torch and ../shared/peers/torch_llama.py are
# present, against the PyTorch peer (float32, and bf16 autocast through oneDNN) run back to back on
# the same machine. Every measurement is taken REPEAT times, round-robin (each round runs every
# measurement once, so slow spells of a shared machine hit all of them alike); medians are
# reported. Prints one JSON line per measurement into $BENCH_OUT and a summary table.
# Usage: sh tests/bench.sh [REPEAT]   (default 3)
#   BENCH_ONLY="train-d48 train-d96"  runs only the measurements whose label starts with one of these.
set -eu
T2=${T2_BIN:-build/t2}
REPEAT=${1:-3}
PEER=${T2_PEER:-}
for p in ../shared/peers/torch_llama.py ../../shared/peers/torch_llama.py; do
    [ -z "$PEER" ] && [ -f "$p" ] && PEER=$p
done
OUT=${BENCH_OUT:-build/bench.jsonl}
: >"$OUT"
# The peer's OpenBLAS gets the same kernels as t2 (t2 picks AVX-512/AVX2 ones when OpenBLAS
# does not recognise the CPU; without this the peer would run on the slow fallback).
OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$("$T2" --blas-core)}
export OPENBLAS_CORETYPE
BF16=1
"$T2" bench gemm --precision bf16 --threads 1 --json >/dev/null 2>&1 || BF16=0
echo "OpenBLAS kernels: $OPENBLAS_CORETYPE; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); bf16: $BF16"
have_peer=0
if [ -n "$PEER" ] && [ -f "$PEER" ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then have_peer=1; fi

# The measurements: "label|command" lines; the command gets --json appended.
A="--n-layer 4 --d-model 128 --n-head 4 --seq-len 64 --batch 8 --vocab 128"
C="--n-layer 6 --d-model 256 --n-head 8 --seq-len 128 --batch 32 --vocab 32"
D="--n-layer 8 --d-model 512 --n-head 8 --seq-len 128 --batch 16 --vocab 256"
D48="--n-layer 2 --d-model 48 --n-head 3 --seq-len 64 --batch 16 --vocab 16"
D96="--n-layer 2 --d-model 96 --n-head 4 --seq-len 64 --batch 16 --vocab 16"
S="--n-layer 4 --d-model 128 --n-head 4 --vocab 32 --prompt-len 16 --gen 32"
P="/usr/bin/python3 $PEER"
LIST=$(mktemp)
trap 'rm -f "$LIST"' EXIT
add() { echo "$1|$2" >>"$LIST"; }
add gemm-2 "$T2 bench gemm --threads 2"
add train-a-2 "$T2 bench train $A --steps 60 --threads 2"
add train-a-1 "$T2 bench train $A --steps 60 --threads 1"
add train-c-2 "$T2 bench train $C --steps 8 --threads 2"
add train-d-2 "$T2 bench train $D --steps 4 --threads 2"
add train-d48-1 "$T2 bench train $D48 --steps 200 --threads 1"
add train-d48-2 "$T2 bench train $D48 --steps 200 --threads 2"
add train-d96-1 "$T2 bench train $D96 --steps 100 --threads 1"
add train-d96-2 "$T2 bench train $D96 --steps 100 --threads 2"
add sample-batched-2 "$T2 bench sample $S -k 64 --threads 2"
add sample-sequential-2 "$T2 bench sample $S -k 64 --threads 2 --sequential"
if [ $BF16 = 1 ]; then
    add gemm-bf16-2 "$T2 bench gemm --precision bf16 --threads 2"
    add train-c-bf16-2 "$T2 bench train $C --steps 8 --threads 2 --precision bf16"
    add train-d-bf16-2 "$T2 bench train $D --steps 4 --threads 2 --precision bf16"
fi
add fit-chinchilla-2 "$T2 bench fit --law chinchilla --bootstrap 1000 --threads 2"
add fit-t2-loss-2 "$T2 bench fit --law t2-loss --bootstrap 1000 --threads 2"
if [ $have_peer = 1 ]; then
    add torch-train-a-2 "$P train-bench $A --steps 63 --threads 2"
    add torch-train-c-2 "$P train-bench $C --steps 11 --threads 2"
    add torch-train-c-bf16-2 "$P train-bench $C --steps 11 --threads 2 --autocast bf16"
    add torch-train-d-2 "$P train-bench $D --steps 7 --threads 2"
    add torch-train-d-bf16-2 "$P train-bench $D --steps 7 --threads 2 --autocast bf16"
    add torch-train-d48-1 "$P train-bench $D48 --steps 103 --threads 1"
    add torch-train-d96-1 "$P train-bench $D96 --steps 53 --threads 1"
    add torch-sample-batched-2 "$P sample-bench $S --k 64 --threads 2"
fi

selected() { # label
    [ -z "${BENCH_ONLY:-}" ] && return 0
    for p in $BENCH_ONLY; do
        case "$1" in "$p"*) return 0 ;; esac
    done
    return 1
}

i=0
while [ $i -lt "$REPEAT" ]; do
    while IFS='|' read -r label cmd; do
        selected "$label" || continue
        # shellcheck disable=SC2086
        line=$($cmd --json </dev/null | tail -n 1)
        echo "{\"label\": \"$label\", \"round\": $i, \"result\": $line}" >>"$OUT"
    done <"$LIST"
    i=$((i + 1))
done

/usr/bin/python3 - "$OUT" <<'EOF'
import json, math, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    rows.setdefault(d["label"], []).append(d["result"])
def med(label, key):
    v = [r[key] for r in rows.get(label, []) if key in r]
    return statistics.median(v) if v else float("nan")
print(f"{'measurement':<24}{'tokens/s':>11}{'tok/cpu-s':>11}{'GFLOP/s':>9}{'peak':>7}{'MFU':>6}  kernels")
for label in rows:
    if label.startswith("fit-"):
        continue
    tok = med(label, "tokens_per_s")
    gf = med(label, "gflops") if "gflops" in rows[label][0] else med(label, "gflops_6n")
    peak, mfu, cpu = med(label, "peak_gflops"), med(label, "mfu"), med(label, "tokens_per_cpu_s")
    gemm = rows[label][0].get("gemm", rows[label][0].get("autocast", ""))
    print(f"{label:<24}{tok:>11.0f}{cpu:>11.0f}{gf:>9.1f}{peak:>7.0f}{mfu:>6.2f}  {gemm}")
for label in [l for l in rows if l.startswith("fit-")]:
    goal = 5 if "chinchilla" in label else 30
    print(f"{label:<24}{med(label, 'seconds'):>8.2f} s for 1000 bootstrap resamples (target < {goal} s)")
def ratio(a, b, what):
    x = med(a, "tokens_per_s") / med(b, "tokens_per_s")
    if not math.isnan(x):
        print(f"{what:<44} {x:5.2f}")
ratio("train-a-2", "train-a-1", "train (a): 2 threads / 1 thread")
ratio("sample-batched-2", "sample-sequential-2", "sample: batched / sequential")
ratio("train-d-bf16-2", "train-d-2", "train (d) L8 d512: t2 bf16 / t2 float32")
ratio("train-c-bf16-2", "train-c-2", "train (c) L6 d256: t2 bf16 / t2 float32")
ratio("train-a-2", "torch-train-a-2", "train (a): t2 / PyTorch")
ratio("train-c-2", "torch-train-c-2", "train (c): t2 / PyTorch, float32")
ratio("train-c-bf16-2", "torch-train-c-bf16-2", "train (c): t2 bf16 / PyTorch bf16")
ratio("train-d-2", "torch-train-d-2", "train (d): t2 / PyTorch, float32")
ratio("train-d-bf16-2", "torch-train-d-bf16-2", "train (d): t2 bf16 / PyTorch bf16")
ratio("train-d48-1", "torch-train-d48-1", "train L2 d48, 1 thread: t2 / PyTorch")
ratio("train-d96-1", "torch-train-d96-1", "train L2 d96, 1 thread: t2 / PyTorch")
ratio("sample-batched-2", "torch-sample-batched-2", "sample batched: t2 / PyTorch")
EOF
