#!/bin/sh
# make demo: the whole T² pipeline on the demo experiment — sweep (resumable: a re-run skips the
# runs that are done), fit every law with bootstrap intervals, optimize, compare, plot, report.
#   DEMO_SPEC=FILE make demo   runs another experiment file (default experiments/demo.json, else
#                               the small experiments/quick.json)
#   T2=PATH                    the binary (default build/t2)
set -eu
T2=${T2:-build/t2}
SPEC=${DEMO_SPEC:-experiments/demo.json}
if [ ! -f "$SPEC" ]; then
    echo "demo: $SPEC not found; running the small experiments/quick.json instead"
    SPEC=experiments/quick.json
fi
NAME=$(basename "$SPEC" .json)
DB=results/$NAME.db
PLOTS=plots/demo
REPORT=results/demo-report.md
BOOTSTRAP=${BOOTSTRAP:-200}

echo "== sweep $SPEC -> $DB"
"$T2" sweep "$SPEC" --db "$DB" --jobs 2

# A law the data cannot support (too few runs, no pass@k > 0) is reported and skipped: the
# report says what is missing.
for law in chinchilla t2-loss t2-acc coverage; do
    echo "== fit $law (bootstrap $BOOTSTRAP)"
    "$T2" fit --db "$DB" --law "$law" --bootstrap "$BOOTSTRAP" || echo "demo: the $law fit failed (above); continuing"
done

echo "== optimize (the spec's budgets)"
"$T2" optimize --db "$DB" || echo "demo: optimize failed (above); continuing"
# The laws are fitted on k <= eval.n_samples; the same optima with k capped there.
K_MAX=$(sed -n 's/.*"n_samples"[^0-9]*\([0-9][0-9]*\).*/\1/p' "$SPEC" | head -n 1)
if [ -n "$K_MAX" ]; then
    echo "== optimize, k capped at the $K_MAX samples measured"
    "$T2" optimize --db "$DB" --k-max "$K_MAX" || echo "demo: optimize failed (above); continuing"
fi

echo "== compare: T² pick against Chinchilla pick at equal total compute"
"$T2" compare --db "$DB" || echo "demo: compare failed (above); continuing"

echo "== plot -> $PLOTS"
"$T2" plot --db "$DB" --out "$PLOTS"

echo "== report -> $REPORT"
"$T2" report --db "$DB" --out "$REPORT" --plots "$PLOTS" --bootstrap "$BOOTSTRAP"

echo
echo "demo done: report $REPORT, figures $PLOTS/ (PNG and SVG; gnuplot NAME.gp there redraws one)"
