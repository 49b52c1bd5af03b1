#!/bin/sh
# Run every test binary (cmocka), show each one's report, and end with "N passed, N failed".
# A binary that crashes or exits non-zero without a cmocka summary counts as one failure.
# The test binaries link OpenBLAS directly: give them the kernels t2 itself chooses.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -x "${T2_BIN:-build/t2}" ]; then
    OPENBLAS_CORETYPE=$("${T2_BIN:-build/t2}" --blas-core) && export OPENBLAS_CORETYPE
fi
passed=0
failed=0
failed_bins=""
log=$(mktemp)
for bin in "$@"; do
    name=$(basename "$bin")
    start=$(date +%s)
    "$bin" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    p=$(sed -n 's/.*\[  PASSED  \] \([0-9][0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/.*\[  FAILED  \] \([0-9][0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$f" -ne 0 ]; then
        cat "$log"
        failed_bins="$failed_bins $name"
    else
        grep -E '^\[ *(SKIPPED|  FAILED) *\]|skipped:' "$log" || true
    fi
    printf '%-28s %3d passed %3d failed  (%ss)\n' "$name" "$p" "$f" "$secs"
    passed=$((passed + p))
    failed=$((failed + f))
done
rm -f "$log"
[ -n "$failed_bins" ] && echo "failing:$failed_bins"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
