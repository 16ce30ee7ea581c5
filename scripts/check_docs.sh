#!/bin/sh
# check_docs.sh - the code blocks the documentation quotes from the source
# tree must be identical to it, so the docs cannot drift from the examples
# that CI compiles and runs.
#
# In a Markdown file, a code block preceded by a marker line
#
#     <!-- include: examples/hello.c -->
#     <!-- include: examples/pipeline.c lines 62-89 -->
#
# (the fence may follow on the next line, or after blank lines) must hold
# exactly that file, or exactly those lines of it (1-based, inclusive).
#
#   scripts/check_docs.sh [FILE.md...]          check (default: README.md docs/*.md)
#   scripts/check_docs.sh --update [FILE.md...] rewrite the marked blocks
#                                               from the files they name
#
# Paths in markers are relative to the repository root, where this runs.
# Exit status: 0 all blocks match, 1 a block differs or a marker is wrong,
# 2 usage. ctest runs it as the test check_docs (label docs).
set -eu
cd "$(dirname "$0")/.."

mode=check
if [ "${1:-}" = "--update" ]; then
    mode=update
    shift
fi
case "${1:-}" in
-*)
    echo "usage: $0 [--update] [FILE.md...]" >&2
    exit 2
    ;;
esac
if [ $# -eq 0 ]; then
    set -- README.md docs/*.md
fi

# The awk program reads one Markdown file. In check mode it prints one line
# per problem and a final "checked N" line; in update mode it prints the
# file with every marked block replaced (problems go to stderr).
AWK_PROG='
function problem(msg) {
    bad++
    if (mode == "update")
        print FILENAME ":" FNR ": " msg > "/dev/stderr"
    else
        print FILENAME ":" FNR ": " msg
}
# Loads the quoted lines into want[1..n]; returns n, or -1 on error.
function load(path, first, last,    line, k, n, rc) {
    n = 0
    k = 0
    while ((rc = (getline line < path)) > 0) {
        k++
        if (k >= first && (last == 0 || k <= last))
            want[++n] = line
    }
    if (rc < 0) {
        problem("cannot read " path)
        return -1
    }
    close(path)
    if (last != 0 && k < last) {
        problem(path " has " k " lines, the marker asks for " first "-" last)
        return -1
    }
    return n
}
function emit(s) { if (mode == "update") print s }
BEGIN { state = 0; bad = 0; blocks = 0 }
{
    if (state == 0) {
        emit($0)
        if ($0 ~ /^<!-- include: [^ ]+( lines [0-9]+-[0-9]+)? -->$/) {
            spec = $0
            sub(/^<!-- include: /, "", spec)
            sub(/ -->$/, "", spec)
            path = spec
            first = 1
            last = 0
            if (spec ~ / lines /) {
                path = spec
                sub(/ lines .*/, "", path)
                range = spec
                sub(/.* lines /, "", range)
                split(range, r, "-")
                first = r[1] + 0
                last = r[2] + 0
                if (first < 1 || last < first) {
                    problem("bad line range " range)
                    next
                }
            }
            n = load(path, first, last)
            marker_line = FNR
            state = (n < 0) ? 0 : 1
        } else if ($0 ~ /^<!--[ \t]*include/) {
            problem("malformed marker (want <!-- include: PATH --> or <!-- include: PATH lines A-B -->)")
        }
        next
    }
    if (state == 1) {            # after a marker: blank lines, then a fence
        if ($0 ~ /^[ \t]*$/) {
            emit($0)
            next
        }
        if ($0 !~ /^```/) {
            problem("the marker of line " marker_line " is not followed by a code block")
            emit($0)
            state = 0
            next
        }
        emit($0)
        fence = $0
        got = 0
        state = 2
        next
    }
    # state 2: inside the quoted block, until the closing fence.
    if ($0 == "```") {
        blocks++
        if (mode == "update") {
            for (i = 1; i <= n; i++)
                print want[i]
        } else {
            differ = 0
            for (i = 1; i <= got || i <= n; i++) {
                if (i > got || i > n || have[i] != want[i]) {
                    differ = i
                    break
                }
            }
            if (differ) {
                problem("the block quoting " path " (marker on line " marker_line \
                        ") differs from it at its line " differ ":")
                print "    quoted: " (differ <= got ? have[differ] : "(end of block)")
                print "    source: " (differ <= n ? want[differ] : "(end of quote)")
            }
        }
        emit($0)
        state = 0
        next
    }
    have[++got] = $0
}
END {
    if (state == 2)
        problem("the block after the marker of line " marker_line " is never closed")
    if (mode == "check")
        print "checked " blocks
    exit bad ? 1 : 0
}
'

status=0
total=0
for md in "$@"; do
    if [ ! -f "$md" ]; then
        echo "$md: no such file" >&2
        status=1
        continue
    fi
    if [ "$mode" = update ]; then
        tmp="$md.tmp.$$"
        if awk -v mode=update "$AWK_PROG" "$md" >"$tmp"; then
            if cmp -s "$tmp" "$md"; then
                rm -f "$tmp"
            else
                mv "$tmp" "$md"
                echo "updated $md"
            fi
        else
            rm -f "$tmp"
            status=1
        fi
        continue
    fi
    out=$(awk -v mode=check "$AWK_PROG" "$md") || status=1
    n=$(printf '%s\n' "$out" | sed -n 's/^checked //p')
    printf '%s\n' "$out" | sed '/^checked /d'
    echo "$md: $n quoted blocks checked"
    total=$((total + n))
done
if [ "$mode" = check ]; then
    if [ $status -eq 0 ]; then
        echo "check_docs: all $total quoted blocks match their sources"
    else
        echo "check_docs: FAILED (fix the block, or run scripts/check_docs.sh --update)" >&2
    fi
fi
exit $status
