#!/bin/sh
# The long fuzz campaign: every target of tests/fuzz/targets.py under atheris, one at a time.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]      (default 90 s, every target)
#
# Work files go to ${FUZZ_WORK:-artifacts/fuzz}: seeds/ (regenerated from the repo's vectors),
# corpus/<target>/ (grows across runs), crashes/<target>/ (one reproducer per distinct crash,
# with its traceback), logs/<target>.log, and summary.tsv (target, executions, coverage,
# features, corpus size, distinct crashes). A fixed crash's reproducer goes to
# tests/fuzz/corpus/<target>/ (replayed by tests/fuzz/test_fuzz_regression.py and used as a seed
# here); one in code another owner must fix goes to tests/fuzz/reported/<target>/.
# One process at a time: the shared test machine has two cores.
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
SECONDS_PER_TARGET=${1:-90}
[ $# -gt 0 ] && shift
WORK=${FUZZ_WORK:-artifacts/fuzz}
RSS_MB=${FUZZ_RSS_MB:-1024}

if ! "$PY" -c "import atheris" 2>/dev/null; then
    echo "atheris is not installed: $PY -m pip install atheris" >&2
    exit 1
fi
TARGETS=${*:-$("$PY" -c "from tests.fuzz.targets import TARGETS; print(' '.join(TARGETS))")}

mkdir -p "$WORK/logs"
"$PY" -m tests.fuzz.seeds "$WORK/seeds" >/dev/null
[ -f "$WORK/summary.tsv" ] || printf 'target\tseconds\texecutions\tcov\tft\tcorpus\tcrashes\n' >"$WORK/summary.tsv"

for t in $TARGETS; do
    mkdir -p "$WORK/corpus/$t" "$WORK/crashes/$t"
    # committed hostile inputs and reproducers join the seeds
    extra=""
    [ -d "tests/fuzz/corpus/$t" ] && extra="tests/fuzz/corpus/$t"
    echo "== $t (${SECONDS_PER_TARGET}s)"
    "$PY" -m tests.fuzz.atheris_main "$t" --keep-going="$WORK/crashes/$t" \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb="$RSS_MB" \
        -max_len=8192 -print_final_stats=1 -artifact_prefix="$WORK/crashes/$t/" \
        "$WORK/corpus/$t" "$WORK/seeds/$t" $extra >"$WORK/logs/$t.log" 2>&1 || true
    last=$(grep -E '^#[0-9]+' "$WORK/logs/$t.log" | tail -1)
    execs=$(echo "$last" | sed -E 's/^#([0-9]+).*/\1/')
    cov=$(echo "$last" | sed -nE 's/.* cov: ([0-9]+).*/\1/p')
    ft=$(echo "$last" | sed -nE 's/.* ft: ([0-9]+).*/\1/p')
    corp=$(echo "$last" | sed -nE 's/.* corp: ([0-9]+).*/\1/p')
    crashes=$(find "$WORK/crashes/$t" -name '*.bin' | wc -l)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$SECONDS_PER_TARGET" "${execs:-0}" "${cov:-?}" \
        "${ft:-?}" "${corp:-?}" "$crashes" >>"$WORK/summary.tsv"
    echo "   $last  crashes: $crashes"
done
echo "summary: $WORK/summary.tsv"
