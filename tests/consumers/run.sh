#!/usr/bin/env bash
# run.sh - builds main.c the four ways a user gets achan, runs each result,
# and exits non-zero on the first failure. Everything happens in a temporary
# directory; the source tree is only read.
#
#   1.  installed, pkg-config + a plain cc command line: a static, a shared
#       and a static libatomic_ops install (cmake --install into temporary
#       prefixes, configured for another prefix: the install is relocatable)
#   2.  installed, find_package(achan) in CMake: the same three installs,
#       and a request for the next major version, which must fail
#   3.  add_subdirectory(achan) and
#   3b. FetchContent from the local path: only the library is built and the
#       parent's settings are untouched (tests/consumers/consumer.cmake)
#   4.  the single header (scripts/amalgamate.sh): gcc and clang, C11 and C17,
#       both atomics backends, both parkers; the implementation refuses to be
#       included after another header
#
#   tests/consumers/run.sh
#   KEEP=1 tests/consumers/run.sh     keep the temporary directory
#   CC=clang JOBS=2 ...               compiler for 1-3, parallel build jobs
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
jobs=${JOBS:-2}
cc=${CC:-cc}
work=$(mktemp -d "${TMPDIR:-/tmp}/achan-consumers.XXXXXX")
cleanup() {
    if [ "${KEEP:-0}" = 1 ]; then
        echo "=== [consumers] kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

gen=()
if command -v ninja >/dev/null 2>&1; then
    gen=(-G Ninja)
fi
version=$(sed -n 's/^project(achan VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
major=${version%%.*}
strict=(-Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Werror)
start=$SECONDS

step() {
    echo "=== [consumers] $(printf '%3d' $((SECONDS - start))) s  $*"
}

fail() {
    echo "=== [consumers] FAILED: $*" >&2
    exit 1
}

# quiet CMD...: runs CMD, showing its output only when it fails.
quiet() {
    local log
    log=$(mktemp "$work/log.XXXXXX")
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        fail "$*"
    fi
}

# --- 1 and 2: installed -----------------------------------------------------

# install_achan NAME CMAKE_ARGS...: builds the library alone and installs it
# into $work/NAME/prefix.
install_achan() {
    local name=$1
    shift
    step "$name: build and install achan ($*)"
    quiet cmake -S "$root" -B "$work/$name/build" "${gen[@]}" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DACHAN_WERROR=ON -DACHAN_BUILD_TESTS=OFF -DACHAN_BUILD_EXAMPLES=OFF -DACHAN_BUILD_BENCH=OFF \
        -DCMAKE_INSTALL_PREFIX=/nonexistent/achan "$@"
    quiet cmake --build "$work/$name/build" -j "$jobs"
    quiet cmake --install "$work/$name/build" --prefix "$work/$name/prefix"

    local prefix=$work/$name/prefix
    [ -f "$prefix/include/achan/achan.h" ] || fail "$name: no include/achan/achan.h installed"
    # uv.h ships only with the libuv adapter (built when libuv is found).
    if [ -e "$prefix/include/achan/uv.h" ] && [ -z "$(find "$prefix" -name 'libachan_uv*')" ]; then
        fail "$name: uv.h installed without the libuv adapter"
    fi
    [ -n "$(find "$prefix" -name achanConfig.cmake)" ] || fail "$name: no achanConfig.cmake"
    [ -n "$(find "$prefix" -name achanConfigVersion.cmake)" ] || fail "$name: no achanConfigVersion.cmake"
    [ -n "$(find "$prefix" -name achan.pc)" ] || fail "$name: no achan.pc"
    # Relocatable: nothing installed names the build machine's directories.
    if grep -rl -e "$work" -e "$root" -e /nonexistent "$prefix" --include='*.cmake' --include='*.pc'; then
        fail "$name: installed files above contain absolute build or configure paths"
    fi
}

# pkgconfig_consumer NAME [--static]: consumer (1) against $work/NAME/prefix.
pkgconfig_consumer() {
    local name=$1 static=${2:-}
    local prefix=$work/$name/prefix dir=$work/$name/pkg-config
    local pcdir
    pcdir=$(dirname "$(find "$prefix" -name achan.pc)")
    mkdir -p "$dir"
    pc() { PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" pkg-config "$@"; }
    [ "$(pc --modversion achan)" = "$version" ] || fail "$name: pkg-config --modversion is not $version"
    local cflags libs
    cflags=$(pc --cflags achan)
    libs=$(pc $static --libs achan)
    step "$name: pkg-config + cc: $cc $cflags main.c $libs"
    # shellcheck disable=SC2086
    quiet "$cc" -std=c11 "${strict[@]}" $cflags -DACHAN_CONSUMER_EXPECT_VERSION="\"$version\"" \
        "$here/main.c" -o "$dir/consumer" $libs -Wl,-rpath,"$(pc --variable=libdir achan)"
    "$dir/consumer" "pkg-config ($name)" || fail "$name: the pkg-config consumer failed"
}

# find_package_consumer NAME: consumer (2) against $work/NAME/prefix.
find_package_consumer() {
    local name=$1
    local prefix=$work/$name/prefix dir=$work/$name/find_package
    step "$name: find_package(achan $version)"
    quiet cmake -S "$here/find_package" -B "$dir" "${gen[@]}" -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" \
        -DACHAN_EXPECT_VERSION="$version"
    quiet cmake --build "$dir" -j "$jobs"
    "$dir/consumer" "find_package ($name)" || fail "$name: the find_package consumer failed"
    if cmake -S "$here/find_package" -B "$dir-next-major" "${gen[@]}" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_PREFIX_PATH="$prefix" -DACHAN_EXPECT_VERSION="$((major + 1)).0" >/dev/null 2>&1; then
        fail "$name: find_package(achan $((major + 1)).0) accepted achan $version"
    fi
}

install_achan static
pkgconfig_consumer static --static
find_package_consumer static

install_achan shared -DBUILD_SHARED_LIBS=ON
pkgconfig_consumer shared
readelf -d "$work/shared/pkg-config/consumer" | grep -q "NEEDED.*\[libachan\.so\.$major\]" ||
    fail "shared: the consumer does not need libachan.so.$major"
find_package_consumer shared

install_achan static-aops -DACHAN_ATOMICS=libatomic_ops
pc_aops=$(PKG_CONFIG_PATH="$(dirname "$(find "$work/static-aops/prefix" -name achan.pc)")" \
    pkg-config --static --libs achan)
case " $pc_aops " in
*" -latomic_ops "*) ;;
*) fail "static-aops: pkg-config --static --libs achan lacks -latomic_ops: $pc_aops" ;;
esac
pkgconfig_consumer static-aops --static
find_package_consumer static-aops

# --- 3 and 3b: vendored -----------------------------------------------------

for how in add_subdirectory fetchcontent; do
    step "$how: achan vendored (ACHAN_SANITIZE=address given, must be ignored)"
    quiet cmake -S "$here/$how" -B "$work/$how" "${gen[@]}" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCONSUMER_ACHAN_SOURCE="$root" -DACHAN_SANITIZE=address
    quiet cmake --build "$work/$how" -j "$jobs"
    "$work/$how/consumer" "$how" || fail "$how: the consumer failed"
done

# --- 4: single header -------------------------------------------------------

single=$work/single
mkdir -p "$single"
step "single header: scripts/amalgamate.sh"
quiet sh "$root/scripts/amalgamate.sh" -o "$single/achan.h"
aops_flags=$(pkg-config --cflags --libs atomic_ops 2>/dev/null || echo -latomic_ops)

# single_header NAME COMPILER STD FLAGS...: builds main.c + single_impl.c.
single_header() {
    local name=$1 compiler=$2 std=$3
    shift 3
    command -v "$compiler" >/dev/null 2>&1 || fail "$compiler not found"
    step "single header: $name ($compiler -std=$std $*)"
    # shellcheck disable=SC2086
    quiet "$compiler" -std="$std" "${strict[@]}" -Wmissing-prototypes -DACHAN_CONSUMER_SINGLE_HEADER \
        -DACHAN_CONSUMER_EXPECT_VERSION="\"$version\"" -I"$single" "$here/main.c" \
        "$here/single_impl.c" -o "$single/$name" -pthread "$@"
    "$single/$name" "single header ($name)" || fail "single header $name failed"
}
single_header gcc-c11 gcc c11
single_header gcc-c17-aops gcc c17 -DACHAN_ATOMICS_LIBATOMIC_OPS $aops_flags
single_header clang-c17 clang c17
single_header clang-c11-aops-condvar clang c11 -DACHAN_ATOMICS_LIBATOMIC_OPS -DACHAN_PARKER_CONDVAR \
    $aops_flags

# The backend option really selects libatomic_ops.
gcc -E -DACHAN_ATOMICS_LIBATOMIC_OPS -I"$single" "$here/single_impl.c" >"$single/aops.i"
grep -q '/atomic_ops\.h"' "$single/aops.i" ||
    fail "single header: ACHAN_ATOMICS_LIBATOMIC_OPS did not select libatomic_ops"
gcc -E -I"$single" "$here/single_impl.c" >"$single/c11.i"
grep -q '/stdatomic\.h"' "$single/c11.i" || fail "single header: the default backend is not <stdatomic.h>"

# The implementation included after another header must stop with its message.
printf '#include <stdio.h>\n#define ACHAN_IMPLEMENTATION\n#include "achan.h"\n' >"$single/late.c"
if gcc -std=c11 -I"$single" -c "$single/late.c" -o "$single/late.o" 2>"$single/late.err"; then
    fail "single header: ACHAN_IMPLEMENTATION after <stdio.h> compiled"
fi
grep -q "define ACHAN_IMPLEMENTATION and include achan.h before any other header" "$single/late.err" ||
    fail "single header: wrong diagnostic for a late ACHAN_IMPLEMENTATION: $(cat "$single/late.err")"

# The public part is valid C++ (extern "C"), included twice.
if command -v c++ >/dev/null 2>&1; then
    step "single header: public part as C++"
    printf '#include "achan.h"\n#include "achan.h"\nint main() { return achan_version() == ACHAN_VERSION_HEX ? 0 : 1; }\n' \
        >"$single/cxx.cc"
    quiet c++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I"$single" "$single/cxx.cc"
fi

step "all consumers passed in $((SECONDS - start)) s"
