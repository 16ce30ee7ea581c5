#!/usr/bin/env bash
# The whole test suite, as CI runs it: every configuration achan supports,
# each built with -Werror and run through ctest.
#
#   gcc        plain RelWithDebInfo build, C11     (C11 atomics, futex parker)
#   clang      plain RelWithDebInfo build, C11
#   asan       gcc, AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan       clang, ThreadSanitizer (C11 atomics: TSan cannot see libatomic_ops)
#   aops       gcc, ACHAN_ATOMICS=libatomic_ops
#   condvar    gcc, ACHAN_PARKER=condvar
#   c17        gcc and clang as C17: builds and runs the unit, conformance
#              and packaging labels only
#   lint       clang-tidy (.clang-tidy) and cppcheck (.cppcheck-suppressions)
#              over src/, for each atomics backend and parker; any finding fails
#   packaging  a shared build (exports only achan_*, SONAME, examples against
#              it) and tests/consumers/run.sh (installed, vendored and
#              single-header consumers)
#   docs       the API reference (Doxygen over include/achan; any warning,
#              an undocumented public symbol among them, fails) and the
#              `docs` tests (docs/guide.md quotes the examples exactly)
#   valgrind   a Debug build's unit, conformance, alloc, example and fuzz
#              corpus tests under valgrind memcheck (--leak-check=full, any
#              error fails; tests/valgrind.supp); not the stress, races or
#              soak programs
#   perturb    the stress and races labels built with ACHAN_TEST_PERTURB
#              (random yields and spins at every atomic operation), plain
#              and under TSan: about 2.5 min on a quiet machine, 5 on a busy
#              one
#   fuzz       scripts/fuzz.sh $FUZZ_SECONDS (default 30): every libFuzzer
#              harness (tests/fuzz/) for that long from its committed
#              corpus, clang with ASan+UBSan: 2.5 min for the five
#              harnesses, plus the build. (Every configuration above also
#              replays the committed corpora: ctest label fuzz.)
#   soak       tests/soak.c for SOAK_SECONDS (default 120) in an ASan+UBSan
#              build (SOAK_SANITIZE=thread: TSan); about 2 min 10 s in all
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
[ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=(gcc clang asan tsan aops condvar c17 lint packaging docs valgrind perturb fuzz soak)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

# configure NAME CC CMAKE_ARGS...: configures $BUILD_ROOT/NAME with -Werror.
configure() {
    local name=$1 cc=$2
    shift 2
    echo "=== [$name] configure ($cc $*)"
    CC=$cc cmake -S "$ROOT" -B "$BUILD_ROOT/$name" -G Ninja -DACHAN_WERROR=ON "$@" >/dev/null
}

# run_config NAME CC CMAKE_ARGS...: builds everything, runs every test.
run_config() {
    local name=$1
    configure "$@" -DACHAN_BUILD_BENCH=ON
    echo "=== [$name] build"
    cmake --build "$BUILD_ROOT/$name" -j "$JOBS"
    echo "=== [$name] test"
    local t0=$SECONDS
    ctest --test-dir "$BUILD_ROOT/$name" --output-on-failure -j "$JOBS" --timeout 1200
    echo "=== [$name] passed in $((SECONDS - t0)) s"
}

# run_labels NAME LABEL_REGEX CC CMAKE_ARGS...: builds only what the tests
# with those labels need (the library, those test programs), runs them.
run_labels() {
    local name=$1 labels=$2
    shift 2
    configure "$name" "$@" -DACHAN_BUILD_BENCH=OFF
    local dir=$BUILD_ROOT/$name targets
    # Each test is named after its program (tests/CMakeLists.txt, examples/).
    targets=$(ctest --test-dir "$dir" -N -L "$labels" | sed -n 's/^ *Test *#[0-9]*: \([^ ]*\)$/\1/p' |
        sed 's/^example_//')
    # Some tests run no program of their own (typed_compile_fail runs the
    # compiler): keep the names that are build targets.
    local known
    known=$(ninja -C "$dir" -t targets all | sed -n 's/^\([^:/]*\): .*/\1/p')
    # shellcheck disable=SC2086
    targets=$(printf '%s\n' $targets | grep -Fx "$known" || true)
    echo "=== [$name] build achan" $targets
    # shellcheck disable=SC2086
    cmake --build "$dir" -j "$JOBS" --target achan $targets
    echo "=== [$name] test -L '$labels'"
    ctest --test-dir "$dir" --output-on-failure -j "$JOBS" --timeout 1200 -L "$labels"
}

# lint: clang-tidy and cppcheck over the library sources, with the flags
# of each backend's compile_commands.json (tests, examples and benchmarks
# are not configured, so only src/ is in it). Any finding fails.
run_lint() {
    local variant dir out rc=0
    for variant in c11: aops:-DACHAN_ATOMICS=libatomic_ops condvar:-DACHAN_PARKER=condvar; do
        local name=lint-${variant%%:*} arg=${variant#*:}
        dir=$BUILD_ROOT/$name
        # shellcheck disable=SC2086
        configure "$name" clang -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DACHAN_BUILD_TESTS=OFF \
            -DACHAN_BUILD_EXAMPLES=OFF -DACHAN_BUILD_BENCH=OFF $arg
        echo "=== [$name] clang-tidy (the library's sources)"
        out=$dir/clang-tidy.log
        # One file per process, JOBS at a time; "N warnings generated" counts
        # what system headers produced and is not a finding.
        if ! sed -n 's/^ *"file": "\(.*\/src\/[^/]*\.c\)",\{0,1\}$/\1/p' "$dir/compile_commands.json" |
            xargs -P "$JOBS" -n 1 clang-tidy -p "$dir" --quiet >"$out" 2>&1; then
            grep -v ' warnings\? generated\.$' "$out" >&2 || true
            echo "=== [$name] clang-tidy: findings above" >&2
            rc=1
        fi
        echo "=== [$name] cppcheck"
        # cppcheck names files under the working directory (ROOT) by their
        # relative path, and matches --file-filter against that name: an
        # absolute filter alone matches nothing ("could not find any files
        # matching the filter", exit 1). Both forms, for either behaviour.
        if ! cppcheck --project="$dir/compile_commands.json" --file-filter="$ROOT/src/*" \
            --file-filter='src/*' \
            --enable=warning,style,performance,portability \
            --std=c11 --inline-suppr --suppressions-list=.cppcheck-suppressions \
            --error-exitcode=1 -q -j "$JOBS"; then
            echo "=== [$name] cppcheck: findings above" >&2
            rc=1
        fi
    done
    echo "=== [lint] CMakePresets.json, scripts"
    cmake --list-presets=all >/dev/null || rc=1
    sh -n scripts/amalgamate.sh || rc=1
    sh scripts/amalgamate.sh --check || rc=1
    return $rc
}

# packaging: the shared library (export check, SONAME, the examples and the
# single-header consumer run against it), then every consumer project.
run_packaging() {
    local dir=$BUILD_ROOT/packaging-shared
    configure packaging-shared gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_SHARED_LIBS=ON \
        -DACHAN_BUILD_BENCH=OFF
    # Every example the label runs (each test is example_<program>).
    local examples
    examples=$(ctest --test-dir "$dir" -N -L example | sed -n 's/^ *Test *#[0-9]*: example_\([^ ]*\)$/\1/p')
    echo "=== [packaging-shared] build achan consumer_single_header" $examples
    # shellcheck disable=SC2086
    cmake --build "$dir" -j "$JOBS" --target achan consumer_single_header $examples
    echo "=== [packaging-shared] test -L 'packaging|example'"
    ctest --test-dir "$dir" --output-on-failure -j "$JOBS" -L 'packaging|example'
    echo "=== [packaging] tests/consumers/run.sh"
    JOBS=$JOBS tests/consumers/run.sh
}

# docs: the `docs` target (Doxygen; its Doxyfile fails on any warning) and
# the tests labelled docs. Nothing is compiled.
run_docs() {
    local dir=$BUILD_ROOT/docs
    configure docs gcc -DACHAN_BUILD_DOCS=ON -DACHAN_BUILD_EXAMPLES=OFF -DACHAN_BUILD_BENCH=OFF
    echo "=== [docs] build the API reference"
    cmake --build "$dir" --target docs
    echo "=== [docs] reference in $dir/docs/html/index.html"
    echo "=== [docs] test -L docs"
    ctest --test-dir "$dir" --output-on-failure -L docs
}

# valgrind: memcheck over the non-stress tests of a Debug build, through
# ctest's memcheck mode (the command wraps each test program). The cmake -P
# tests (a compile-fail check, the misuse coverage check) run no achan code.
run_valgrind() {
    local dir=$BUILD_ROOT/valgrind labels='unit|conformance|alloc|example|fuzz'
    configure valgrind gcc -DCMAKE_BUILD_TYPE=Debug -DACHAN_BUILD_BENCH=OFF
    echo "=== [valgrind] build"
    cmake --build "$dir" -j "$JOBS"
    echo "=== [valgrind] ctest -T memcheck -L '$labels'"
    # Wakes, timers and parks run 20-50 times slower: no test may time out.
    ctest --test-dir "$dir" -T memcheck -j "$JOBS" --timeout 1800 -L "$labels" \
        -E '^(typed_compile_fail|misuse_coverage)$' --output-on-failure \
        --overwrite MemoryCheckCommand="$(command -v valgrind)" \
        --overwrite "MemoryCheckCommandOptions=--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,possible --num-callers=30" \
        --overwrite MemoryCheckSuppressionFile="$ROOT/tests/valgrind.supp"
}

# soak: the soak program for SOAK_SECONDS in a sanitizer build.
run_soak() {
    local seconds=${SOAK_SECONDS:-120} san=${SOAK_SANITIZE:-address,undefined}
    local name=soak-asan cc=gcc type=Debug
    if [ "$san" = thread ]; then
        name=soak-tsan
        cc=clang
        type=RelWithDebInfo
    fi
    local dir=$BUILD_ROOT/$name
    configure "$name" "$cc" -DCMAKE_BUILD_TYPE=$type -DACHAN_SANITIZE="$san" -DACHAN_BUILD_BENCH=OFF \
        -DACHAN_BUILD_EXAMPLES=OFF
    echo "=== [soak] build"
    cmake --build "$dir" -j "$JOBS" --target soak
    echo "=== [soak] soak --seconds $seconds ($san)"
    "$dir/tests/soak" --seconds "$seconds"
}

# perturb: schedule perturbation (src/perturb.c) under the stress and races
# tests, plain and under TSan.
run_perturb() {
    run_labels perturb-gcc 'stress|races' gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DACHAN_TEST_PERTURB=ON
    run_labels perturb-tsan 'stress|races' clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DACHAN_SANITIZE=thread -DACHAN_TEST_PERTURB=ON
}

start=$SECONDS
times=()
for c in "${CONFIGS[@]}"; do
    t0=$SECONDS
    case $c in
    gcc) run_config gcc gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_STANDARD=11 ;;
    clang) run_config clang clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_STANDARD=11 ;;
    asan) run_config asan gcc -DCMAKE_BUILD_TYPE=Debug -DACHAN_SANITIZE=address,undefined ;;
    tsan) run_config tsan clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DACHAN_SANITIZE=thread ;;
    aops) run_config aops gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DACHAN_ATOMICS=libatomic_ops ;;
    condvar) run_config condvar gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DACHAN_PARKER=condvar ;;
    c17)
        for cc in gcc clang; do
            run_labels "c17-$cc" 'unit|conformance|packaging' "$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
                -DCMAKE_C_STANDARD=17
        done
        ;;
    lint) run_lint ;;
    packaging) run_packaging ;;
    docs) run_docs ;;
    fuzz) BUILD_ROOT=$BUILD_ROOT scripts/fuzz.sh "${FUZZ_SECONDS:-30}" ;;
    valgrind) run_valgrind ;;
    soak) run_soak ;;
    perturb) run_perturb ;;
    *)
        echo "unknown configuration: $c" >&2
        exit 2
        ;;
    esac
    times+=("$c $((SECONDS - t0)) s")
    echo "=== [$c] done in $((SECONDS - t0)) s"
done
echo "=== times: $(printf '%s, ' "${times[@]}" | sed 's/, $//')"
echo "=== all configurations passed (${CONFIGS[*]}) in $((SECONDS - start)) s"
