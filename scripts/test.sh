#!/usr/bin/env bash
# The whole test suite, as CI runs it: every configuration achan supports,
# each built with -Werror and run through ctest.
#
#   gcc        plain RelWithDebInfo build          (C11 atomics, futex parker)
#   clang      plain RelWithDebInfo build
#   asan       gcc, AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan       clang, ThreadSanitizer (C11 atomics: TSan cannot see libatomic_ops)
#   aops       gcc, ACHAN_ATOMICS=libatomic_ops
#   condvar    gcc, ACHAN_PARKER=condvar
#
#   scripts/test.sh                 all of them
#   scripts/test.sh gcc tsan        some of them
#   BUILD_ROOT=/tmp/b scripts/test.sh   build directories elsewhere (default: ./build-test)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_ROOT=${BUILD_ROOT:-$ROOT/build-test}
JOBS=${JOBS:-2}
CONFIGS=("$@")
[ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=(gcc clang asan tsan aops condvar)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

run_config() {
    local name=$1 cc=$2
    shift 2
    local dir=$BUILD_ROOT/$name
    echo "=== [$name] configure ($cc $*)"
    CC=$cc cmake -S "$ROOT" -B "$dir" -G Ninja -DACHAN_WERROR=ON -DACHAN_BUILD_BENCH=ON "$@" >/dev/null
    echo "=== [$name] build"
    cmake --build "$dir" -j "$JOBS"
    echo "=== [$name] test"
    local t0=$SECONDS
    ctest --test-dir "$dir" --output-on-failure -j "$JOBS" --timeout 1200
    echo "=== [$name] passed in $((SECONDS - t0)) s"
}

start=$SECONDS
for c in "${CONFIGS[@]}"; do
    case $c in
    gcc) run_config gcc gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
    clang) run_config clang clang -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
    asan) run_config asan gcc -DCMAKE_BUILD_TYPE=Debug -DACHAN_SANITIZE=address,undefined ;;
    tsan) run_config tsan clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DACHAN_SANITIZE=thread ;;
    aops) run_config aops gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DACHAN_ATOMICS=libatomic_ops ;;
    condvar) run_config condvar gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DACHAN_PARKER=condvar ;;
    *) echo "unknown configuration: $c" >&2; exit 2 ;;
    esac
done
echo "=== all configurations passed (${CONFIGS[*]}) in $((SECONDS - start)) s"
