#!/usr/bin/env bash
# Runs every libFuzzer harness (tests/fuzz/fuzz_*.c) for a bounded time,
# starting from its committed seed corpus, with ASan and UBSan.
#
#   scripts/fuzz.sh [seconds per harness (default 60)] [harness...]
#
# New inputs go to a scratch copy of the corpus, not into the repository;
# to keep interesting ones, merge them: <binary> -merge=1 tests/fuzz/corpus/<kind> <dir>.
# A crash leaves its input in the scratch directory and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_EACH=${1:-60}
shift || true
BUILD=${BUILD_ROOT:-$ROOT/build-test}/fuzz
CC=clang cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DACHAN_BUILD_FUZZ=ON -DACHAN_SANITIZE=address,undefined -DACHAN_BUILD_BENCH=OFF \
    -DACHAN_BUILD_EXAMPLES=OFF >/dev/null
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
    for f in "$ROOT"/tests/fuzz/fuzz_*.c; do harnesses+=("$(basename "$f" .c)"); done
fi
cmake --build "$BUILD" -j 2 --target "${harnesses[@]}"
for h in "${harnesses[@]}"; do
    kind=${h#fuzz_}
    work=$BUILD/work/$kind
    rm -rf "$work" && mkdir -p "$work/corpus"
    cp "$ROOT/tests/fuzz/corpus/$kind/"* "$work/corpus/" 2>/dev/null || true
    echo "=== $h: ${SECONDS_EACH}s"
    (cd "$work" && "$BUILD/tests/fuzz/$h" -max_total_time="$SECONDS_EACH" -max_len=1024 \
        -print_final_stats=1 corpus 2>&1 | grep -E "DONE|stat::number_of_executed_units|ERROR|SUMMARY|check failed")
done
