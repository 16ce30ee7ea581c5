#!/usr/bin/env bash
# Installs the Debian 12 packages achan needs to build, test and benchmark,
# skipping those already installed. Uses sudo when not run as root.
#
#   scripts/deps.sh            everything the test suite needs
#   scripts/deps.sh --print    only print the package list
set -euo pipefail

PACKAGES=(
    build-essential   # gcc, g++, make, libc headers, binutils (nm, readelf)
    cmake             # >= 3.21 (Debian 12 has 3.25)
    ninja-build
    pkg-config        # the cmocka lookup; the pkg-config consumer test
    clang             # second compiler; ThreadSanitizer build
    libclang-rt-14-dev  # clang's sanitizer runtimes
    libcmocka-dev     # the test framework
    libatomic-ops-dev # the alternative atomics backend
    libuv1-dev        # the optional libuv adapter (achan::uv), so CI builds and tests it
    clang-tidy        # `scripts/test.sh lint`
    cppcheck          # `scripts/test.sh lint`
    doxygen           # `scripts/test.sh docs`: the API reference (-DACHAN_BUILD_DOCS=ON)
    valgrind          # `scripts/test.sh valgrind`
)

if [ "${1:-}" = "--print" ]; then
    echo "${PACKAGES[@]}"
    exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "deps.sh: not a Debian system; install the equivalents of: ${PACKAGES[*]}" >&2
    exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps.sh: all packages present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
echo "deps.sh: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
