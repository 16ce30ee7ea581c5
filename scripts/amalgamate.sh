#!/bin/sh
# amalgamate.sh - generates achan.h: all of achan as one stb-style header.
#
#   scripts/amalgamate.sh [-o FILE]    write FILE (default: ./achan.h)
#   scripts/amalgamate.sh --check      only check the sources for collisions
#   scripts/amalgamate.sh --names      list the file-scope names the check sees
#
# The header holds, in order:
#   1. the public headers (include/achan/achan.h and what it includes, then
#      any other header in include/achan except the libuv adapter's uv.h);
#   2. under #ifdef ACHAN_IMPLEMENTATION, every src/*.c file listed in
#      CMakeLists.txt's set(ACHAN_SOURCES ...), in that order, each private
#      header (src/*.h) inlined once where it is first included, local
#      #include lines removed, feature-test macros replaced by one
#      _GNU_SOURCE at the very top, and each source's own macros #undef'd
#      at its end so they stay file-local as in a separate compilation.
#
# Concatenating the sources puts their file-local names into one translation
# unit. Before writing anything the script scans every source and private
# header for file-scope names (static functions and variables, typedefs, enum
# constants, struct/union/enum tags, macros that persist). A name that two
# sources (.c files) define stays file-local by a rename: in each of those
# sources every occurrence of the name becomes <module>__<name> (mpsc.c's
# chan_new becomes mpsc__chan_new), as a separate compilation would have kept
# them apart. A name that a header defines too cannot be renamed that way:
# the script then fails, naming the files; rename it in the source.
#
# POSIX sh and awk only.
set -eu

usage() {
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
}

die() {
    echo "amalgamate.sh: $*" >&2
    exit 1
}

root=$(cd "$(dirname "$0")/.." && pwd)
out=achan.h
check_only=0
while [ $# -gt 0 ]; do
    case $1 in
    -o)
        [ $# -ge 2 ] || die "-o needs a file name"
        out=$2
        shift 2
        ;;
    --check)
        check_only=1
        shift
        ;;
    --names)
        check_only=2
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
done
case $out in
/*) ;;
*) out=$(pwd)/$out ;;
esac
cd "$root"

# --- Inputs -----------------------------------------------------------------

# The sources: the entries of set(ACHAN_SOURCES ...) in CMakeLists.txt.
sources=$(awk '
    !inlist && /^[ \t]*set[ \t]*\([ \t]*ACHAN_SOURCES([ \t]|$)/ {
        inlist = 1
        sub(/^[ \t]*set[ \t]*\([ \t]*ACHAN_SOURCES/, "")
    }
    inlist {
        sub(/#.*/, "")
        line = $0
        end = index(line, ")")
        if (end)
            line = substr(line, 1, end - 1)
        n = split(line, word, /[ \t]+/)
        for (i = 1; i <= n; i++)
            if (word[i] != "")
                print word[i]
        if (end)
            exit
    }' CMakeLists.txt)
[ -n "$sources" ] || die "found no set(ACHAN_SOURCES ...) list in CMakeLists.txt"
for s in $sources; do
    case $s in
    src/*.c) ;;
    *) die "ACHAN_SOURCES entry '$s' is not a plain src/*.c path" ;;
    esac
    [ -f "$s" ] || die "ACHAN_SOURCES lists $s, which does not exist"
done

# The public headers: the umbrella first (it includes the others in order),
# then any header it does not include, less the libuv adapter's.
public="include/achan/achan.h"
for h in include/achan/*.h; do
    case $h in
    include/achan/achan.h | include/achan/uv.h) ;;
    *) public="$public $h" ;;
    esac
done

# The private headers the sources include, transitively.
private=""
todo=$sources
while [ -n "$todo" ]; do
    next=""
    for f in $todo; do
        for h in $(sed -n 's/^[[:blank:]]*#[[:blank:]]*include[[:blank:]]*"\([^"/]*\.h\)".*/\1/p' "$f"); do
            [ -f "src/$h" ] || die "$f includes \"$h\", which is not in src/"
            case " $private " in
            *" src/$h "*) ;;
            *)
                private="$private src/$h"
                next="$next src/$h"
                ;;
            esac
        done
    done
    todo=$next
done

version=$(sed -n 's/^project(achan VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || die "no project(achan VERSION x.y.z) in CMakeLists.txt"

# --- Collision check --------------------------------------------------------

# Every file-scope name a file defines, by file; names that two files define
# are reported. Macros that a source defines (other than ACHAN_* ones) are
# #undef'd after that source, so they only clash with the headers' names.
# shellcheck disable=SC2016
collisions_awk='
function reset_file() {
    depth = 0; in_comment = 0; in_pp = 0; nt = 0; body = ""
}
function record(ns, name, kind,   key) {
    key = ns SUBSEP name
    if ((FILENAME SUBSEP key) in seen)
        return
    seen[FILENAME SUBSEP key] = 1
    if (kind == "local macro") {
        local_macro[name] = local_macro[name] "\n    " FILENAME " (macro, #undef-ed after it)"
        return
    }
    owners[key] = owners[key] "\n    " FILENAME " (" kind ")"
    files_of[key] = files_of[key] " " FILENAME
    nfiles[key]++
    if (role == "h")
        in_header[key] = 1
}
function is_ident(t) {
    return t ~ /^[A-Za-z_][A-Za-z0-9_]*$/
}
function is_keyword(t) {
    return t ~ /^(static|extern|typedef|inline|__inline|__inline__|const|volatile|restrict|__restrict|register|auto|_Thread_local|_Noreturn|_Atomic|_Alignas|struct|union|enum|void|char|short|int|long|float|double|signed|unsigned|_Bool|_Complex)$/
}
# The name a declaration (tokens d[1..m], attributes removed) declares.
function declarator_name(d, m,   i, j, pd, last, t) {
    pd = 0
    last = ""
    for (i = 1; i <= m; i++) {
        t = d[i]
        if (t == "(") {
            if (i > 1 && d[i - 1] ~ /^(_Alignas|_Atomic|__typeof__|typeof)$/) {
                pd++
                continue
            }
            if (pd == 0) {
                if (d[i + 1] == "*") {
                    j = i + 1
                    while (d[j] == "*" || d[j] == "const" || d[j] == "volatile" || d[j] == "restrict")
                        j++
                    if (is_ident(d[j]))
                        return d[j]
                }
                return last
            }
            pd++
            continue
        }
        if (t == ")") {
            pd--
            continue
        }
        if (pd == 0 && (t == "[" || t == "=" || t == "," || t == ":"))
            return last
        if (pd == 0 && is_ident(t) && !is_keyword(t))
            last = t
    }
    return last
}
# A complete file-scope declaration is in toks[1..nt].
function declare(   d, m, i, skip, pd, is_static, is_typedef, name) {
    m = 0
    skip = 0
    for (i = 1; i <= nt; i++) {
        if (toks[i] == "__attribute__" || toks[i] == "__extension__" || toks[i] == "__declspec") {
            skip = (toks[i] != "__extension__")
            continue
        }
        if (skip) {
            if (toks[i] == "(")
                skip++
            else if (toks[i] == ")" && --skip == 1)
                skip = 0
            continue
        }
        d[++m] = toks[i]
    }
    pd = 0
    is_static = is_typedef = 0
    for (i = 1; i <= m; i++) {
        if (d[i] == "(")
            pd++
        else if (d[i] == ")")
            pd--
        else if (pd == 0 && d[i] == "static")
            is_static = 1
        else if (pd == 0 && d[i] == "typedef")
            is_typedef = 1
        else if (pd == 0 && d[i] == "=")
            break
    }
    if (!is_static && !is_typedef)
        return
    name = declarator_name(d, m)
    if (name != "")
        record("id", name, is_typedef ? "typedef" : "static")
}
function token(t) {
    if (depth == 0) {
        # extern "C" { ... }: its braces are no scope (the string is token 0).
        if (t == "{" && nt == 2 && toks[1] == "extern" && toks[2] == "0") {
            nt = 0
            return
        }
        if (t == "}")
            return
        if (t == "{") {
            if (nt > 0 && toks[nt] == ")" && !has_eq) {
                declare()
                body = "function"
                nt = 0
                has_eq = 0
            } else {
                if (nt >= 2 && is_ident(toks[nt]) && toks[nt - 1] ~ /^(struct|union|enum)$/)
                    record("tag", toks[nt], toks[nt - 1] " tag")
                body = (toks[nt] == "enum" || (nt >= 2 && toks[nt - 1] == "enum")) ? "enum" : "aggregate"
                toks[++nt] = "{}"
                enum_next = 1
                enum_pd = 0
            }
            depth = 1
            return
        }
        if (t == ";") {
            declare()
            nt = 0
            has_eq = 0
            return
        }
        if (t == "=")
            has_eq = 1
        toks[++nt] = t
        return
    }
    if (t == "{") {
        depth++
        return
    }
    if (t == "}") {
        if (--depth == 0 && body == "function")
            nt = 0
        return
    }
    if (body == "enum" && depth == 1) {
        if (t == "(")
            enum_pd++
        else if (t == ")")
            enum_pd--
        else if (enum_pd == 0 && t == ",")
            enum_next = 1
        else {
            if (enum_next && is_ident(t))
                record("id", t, "enum constant")
            enum_next = 0
        }
    }
}
function scan(s,   i, n, c, j, rest) {
    n = length(s)
    i = 1
    while (i <= n) {
        if (in_comment) {
            j = index(substr(s, i), "*/")
            if (!j)
                return
            i += j + 1
            in_comment = 0
            continue
        }
        c = substr(s, i, 1)
        if (c == "/" && substr(s, i + 1, 1) == "*") {
            in_comment = 1
            i += 2
            continue
        }
        if (c == "/" && substr(s, i + 1, 1) == "/")
            return
        if (c == "\"" || c == "\047") {
            for (j = i + 1; j <= n && substr(s, j, 1) != c; j++)
                if (substr(s, j, 1) == "\\")
                    j++
            token("0")
            i = j + 1
            continue
        }
        if (c ~ /[A-Za-z_0-9]/) {
            rest = substr(s, i)
            match(rest, /^[A-Za-z_0-9]+/)
            token(substr(rest, 1, RLENGTH))
            i += RLENGTH
            continue
        }
        if (c !~ /[ \t\r\f\v]/)
            token(c)
        i++
    }
}
FNR == 1 {
    reset_file()
}
{
    line = $0
    if (in_pp) {
        in_pp = (line ~ /\\$/)
        next
    }
    if (!in_comment && line ~ /^[ \t]*#/) {
        if (match(line, /^[ \t]*#[ \t]*define[ \t]+[A-Za-z_][A-Za-z0-9_]*/)) {
            name = substr(line, RSTART, RLENGTH)
            sub(/^[ \t]*#[ \t]*define[ \t]+/, "", name)
            if (name ~ /^_[A-Z_]*_SOURCE$/)
                ;
            else if (role == "c" && name !~ /^ACHAN_/)
                record("id", name, "local macro")
            else
                record("id", name, "macro")
        }
        in_pp = (line ~ /\\$/)
        next
    }
    scan(line)
}
END {
    if (list_names) {
        for (key in owners) {
            split(key, part, SUBSEP)
            print (part[1] == "tag" ? "tag " : "") part[2] ":" owners[key]
        }
        for (name in local_macro)
            print name ":" local_macro[name]
        exit 0
    }
    bad = 0
    for (key in nfiles) {
        if (nfiles[key] < 2)
            continue
        split(key, part, SUBSEP)
        if (!(key in in_header)) {
            # Only sources define it: each keeps its own, renamed.
            nf = split(files_of[key], f, " ")
            for (i = 1; i <= nf; i++)
                if (f[i] != "")
                    print "rename " f[i] " " part[2]
            continue
        }
        printf("amalgamate.sh: collision: %s%s is defined in more than one file:%s\n",
               (part[1] == "tag" ? "tag " : ""), part[2], owners[key]) > "/dev/stderr"
        bad = 1
    }
    for (name in local_macro) {
        key = "id" SUBSEP name
        if (!(key in in_header))
            continue
        printf("amalgamate.sh: collision: macro %s of a source is also defined in a header:%s%s\n",
               name, local_macro[name], owners[key]) > "/dev/stderr"
        bad = 1
    }
    if (bad)
        print "amalgamate.sh: in one translation unit these names clash with a header; rename " \
              "the one in the source with a module prefix (see scripts/amalgamate.sh)" > "/dev/stderr"
    exit bad
}'

scan_args=""
for f in $public $private; do
    scan_args="$scan_args role=h $f"
done
for f in $sources; do
    scan_args="$scan_args role=c $f"
done
# shellcheck disable=SC2086
if [ "$check_only" = 2 ]; then
    # shellcheck disable=SC2086
    awk -v list_names=1 "$collisions_awk" $scan_args | awk '/:$/ { printf "%s", $0; next } { print }'
    exit 0
fi
renames=$(mktemp)
trap 'rm -f "$renames"' EXIT
# shellcheck disable=SC2086
awk "$collisions_awk" $scan_args >"$renames" || die "name collisions with a header (see above); nothing written"
if [ "$check_only" = 1 ]; then
    echo "amalgamate.sh: no collisions with headers in $(echo "$sources" | wc -w | tr -d ' ') sources;" \
        "$(wc -l <"$renames" | tr -d ' ') file-local names renamed"
    exit 0
fi

# --- Generation -------------------------------------------------------------

# The plan (one "public PATH" or "source PATH" per line) on stdin.
# shellcheck disable=SC2016
generate_awk='
function fail(msg) {
    print "amalgamate.sh: " msg > "/dev/stderr"
    failed = 1
    exit 1
}
function include_name(line,   name) {
    name = line
    sub(/^[ \t]*#[ \t]*include[ \t]*"/, "", name)
    sub(/".*/, "", name)
    return name
}
# line with the file-local names that path renames (see the top) prefixed.
function rename_names(path, line,   out, id) {
    if (!(path in renaming))
        return line
    out = ""
    while (match(line, /[A-Za-z_][A-Za-z0-9_]*/)) {
        id = substr(line, RSTART, RLENGTH)
        if ((path SUBSEP id) in renamed)
            id = renaming[path] "__" id
        out = out substr(line, 1, RSTART - 1) id
        line = substr(line, RSTART + RLENGTH)
    }
    return out line
}
# Copies path (role public, private or source) to the output, resolving its
# local includes.
function emit(path, role,   line, name, nundef, undef, i, rc) {
    emitted[path] = 1
    print "/* ======== " path " ======== */"
    nundef = 0
    while ((rc = (getline line < path)) > 0) {
        if (line ~ /^[ \t]*#[ \t]*include[ \t]*"/) {
            name = include_name(line)
            if (name ~ /^achan\//) {
                if (role == "public") {
                    if (!(("include/" name) in emitted))
                        emit("include/" name, "public")
                } else if (!(("include/" name) in emitted)) {
                    fail(path " includes \"" name "\", which the single header does not contain")
                }
            } else if (role == "public") {
                fail(path " includes \"" name "\": public headers include only achan/ headers")
            } else if (!(("src/" name) in emitted)) {
                emit("src/" name, "private")
                print "/* ======== " path " (continued) ======== */"
            }
            continue
        }
        if (line ~ /^[ \t]*#[ \t]*define[ \t]+_[A-Z_]*_SOURCE([ \t]|$)/)
            continue # Replaced by the _GNU_SOURCE at the top.
        if (role == "source" && line ~ /^[ \t]*#[ \t]*define[ \t]+[A-Za-z_]/) {
            name = line
            sub(/^[ \t]*#[ \t]*define[ \t]+/, "", name)
            match(name, /^[A-Za-z_][A-Za-z0-9_]*/)
            name = substr(name, 1, RLENGTH)
            if (name !~ /^ACHAN_/ && !((path SUBSEP name) in undef_seen)) {
                undef_seen[path SUBSEP name] = 1
                undef[++nundef] = name
            }
        }
        print (role == "source" ? rename_names(path, line) : line)
    }
    if (rc < 0)
        fail("cannot read " path)
    close(path)
    if (nundef > 0) {
        print "/* " path "\047s own macros end with it, as in a separate compilation. */"
        for (i = 1; i <= nundef; i++)
            print "#undef " undef[i]
    }
}
BEGIN {
    while ((rc = (getline line < renames_file)) > 0) {
        split(line, r, " ")
        module = r[2]
        sub(/^.*\//, "", module)
        sub(/\.c$/, "", module)
        renaming[r[2]] = module
        renamed[r[2] SUBSEP r[3]] = 1
    }
    close(renames_file)
    print "/* achan.h - achan " version " in a single header: asynchronous channels with a"
    print " * stream interface, for C11. Generated by scripts/amalgamate.sh from the achan"
    print " * sources; do not edit (change the sources and regenerate)."
    print " *"
    print " * Include this file wherever you use achan. In exactly one .c file, define"
    print " * ACHAN_IMPLEMENTATION and include it BEFORE ANY OTHER #include of that file,"
    print " * because the implementation needs _GNU_SOURCE, which only takes effect"
    print " * ahead of the first system header:"
    print " *"
    print " *     #define ACHAN_IMPLEMENTATION"
    print " *     #include \"achan.h\""
    print " *"
    print " * Link the program with -pthread. Build options, defined before that include"
    print " * (or with -D for that file):"
    print " *"
    print " *     ACHAN_ATOMICS_LIBATOMIC_OPS   libatomic_ops instead of <stdatomic.h>"
    print " *                                   (then link with -latomic_ops)"
    print " *     ACHAN_PARKER_CONDVAR          condition-variable thread parker"
    print " *     ACHAN_PARKER_FUTEX            futex thread parker (Linux default)"
    print " *"
    print " * The API is documented in each public header section below; README.md and"
    print " * CHANGELOG.md of the achan repository have the rest."
    print " *"
    while ((rc = (getline line < license)) > 0)
        print (line == "" ? " *" : " * " line)
    if (rc < 0)
        fail("cannot read " license)
    close(license)
    print " */"
    print "#if defined(ACHAN_IMPLEMENTATION) && !defined(_GNU_SOURCE)"
    print "#define _GNU_SOURCE"
    print "#endif"
    print ""
}
$1 == "public" {
    if (!($2 in emitted))
        emit($2, "public")
    next
}
$1 == "source" {
    if (!impl) {
        impl = 1
        print ""
        print "/* ======================================================================== */"
        print "/* Implementation: compiled where ACHAN_IMPLEMENTATION is defined.          */"
        print "/* ======================================================================== */"
        print "#if defined(ACHAN_IMPLEMENTATION) && !defined(ACHAN_IMPLEMENTATION_INCLUDED)"
        print "#define ACHAN_IMPLEMENTATION_INCLUDED"
        print "#if defined(__GLIBC__) && !defined(__USE_GNU)"
        print "#error \"achan.h: define ACHAN_IMPLEMENTATION and include achan.h before any other header of this file (the implementation needs _GNU_SOURCE)\""
        print "#endif"
        print ""
    }
    emit($2, "source")
    next
}
{
    fail("bad plan line: " $0)
}
END {
    if (failed)
        exit 1
    if (impl)
        print "#endif /* ACHAN_IMPLEMENTATION */"
}'

tmp="$out.tmp.$$"
trap 'rm -f "$tmp" "$renames"' EXIT
{
    for h in $public; do
        echo "public $h"
    done
    for s in $sources; do
        echo "source $s"
    done
} | awk -v version="$version" -v license=LICENSE -v renames_file="$renames" "$generate_awk" >"$tmp" ||
    die "generation failed; nothing written"
mv "$tmp" "$out"
rm -f "$renames"
trap - EXIT
echo "amalgamate.sh: wrote $out ($(wc -l <"$out" | tr -d ' ') lines, $(echo "$sources" | wc -w | tr -d ' ') sources)"
