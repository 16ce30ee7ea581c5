#!/usr/bin/env bash
# Renders a ../shared/peers results.tsv as a PNG: one group of bars per
# workload, one bar per implementation (median ns per message, whiskers from
# the fastest to the slowest run), log scale on y, achan's bars highlighted.
#
#   bench/plot.sh [results.tsv [out.png]]
#
# results.tsv is what ../shared/peers/run.sh writes (columns: workload, peer,
# median_ns_per_msg, min, max, runs, count, note); rows whose median is not a
# number (FAIL) are left out. If results.meta lies beside it, its date, host
# and repetitions go into the title. The PNG goes to out.png, by default
# results.png beside the input. Needs gnuplot with the pngcairo terminal
# (Debian: apt-get install gnuplot-nox); it is for benchmarks only, not a
# dependency of the build or the tests.
#
# Environment: HIGHLIGHT (default achan) names the peer to highlight (and
# its variants named HIGHLIGHT-something, e.g. achan-tasks);
# WIDTH and HEIGHT set the image size in pixels (default 1600 x 900).
set -euo pipefail

IN=${1:-results.tsv}
OUT=${2:-${IN%.tsv}.png}
META=${IN%.tsv}.meta
HIGHLIGHT=${HIGHLIGHT:-achan}
WIDTH=${WIDTH:-1600}
HEIGHT=${HEIGHT:-900}

if ! command -v gnuplot >/dev/null 2>&1; then
    echo "plot.sh: gnuplot not found; on Debian: apt-get install gnuplot-nox" >&2
    exit 1
fi
if ! gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo; then
    echo "plot.sh: this gnuplot has no pngcairo terminal; on Debian: apt-get install gnuplot-nox" >&2
    exit 1
fi
if [ ! -r "$IN" ]; then
    echo "usage: plot.sh [results.tsv [out.png]]  ($IN: not readable)" >&2
    exit 64
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Bars: x, median, min, max, colour, peer. Workloads keep the file's order,
# as do the peers within each; groups are 1.5 bars apart. The group centres,
# separators and y range go to a gnuplot include file.
awk -F'\t' -v hl="$HIGHLIGHT" -v bars="$TMP/bars.dat" -v setup="$TMP/setup.gp" '
function unit(w) {
    if (w ~ /^w4/) return "ns/round trip"
    if (w ~ /^w5/) return "ns/oneshot"
    if (w ~ /^w6/) return "ns/update"
    return "ns/msg"
}
NR == 1 { next }
$3 !~ /^[0-9.]+$/ || $4 !~ /^[0-9.]+$/ || $5 !~ /^[0-9.]+$/ || $4 + 0 <= 0 { next }
{
    if (!($1 in first)) {
        if (ng > 0) x += 1.5
        first[$1] = x; order[++ng] = $1
    }
    last[$1] = x
    colour = ($2 == hl || index($2, hl "-") == 1) ? "0xd62728" : "0x7f9fbf"
    printf "%g\t%s\t%s\t%s\t%s\t%s\n", x, $3, $4, $5, colour, $2 > bars
    if (lo == "" || $4 + 0 < lo) lo = $4 + 0
    if (hi == "" || $5 + 0 > hi) hi = $5 + 0
    x += 1
}
END {
    if (ng == 0) { print "plot.sh: no numeric rows" > "/dev/stderr"; exit 1 }
    printf "set xrange [-1:%g]\nset x2range [-1:%g]\n", x, x > setup
    printf "set x2tics (" > setup
    for (i = 1; i <= ng; i++) {
        w = order[i]
        printf "%s\"%s\\n(%s)\" %g", (i > 1 ? ", " : ""), w, unit(w), (first[w] + last[w]) / 2 > setup
    }
    printf ")\n" > setup
    for (i = 2; i <= ng; i++)
        printf "set arrow from %g, graph 0 to %g, graph 1 nohead dt 2 lc rgb \"#aaaaaa\"\n",
            first[order[i]] - 1.25, first[order[i]] - 1.25 > setup
    # Whole decades around the data, with room above the tallest whisker for its label.
    ylo = 10 ^ int(log(lo * 0.9) / log(10) - (lo < 1 ? 1 : 0))
    yhi = 10 ^ (int(log(hi) / log(10)) + 2)
    printf "set yrange [%g:%g]\nset ytics (", ylo, yhi > setup
    for (y = ylo; y <= yhi * 1.001; y *= 10)
        printf "%s\"%s\" %g", (y > ylo ? ", " : ""), (y < 1 ? sprintf("%g", y) : sprintf("%.0f", y)), y > setup
    printf ")\n" > setup
}' "$IN"

TITLE="Channel benchmark (../shared/peers): median ns per message, log scale; whiskers: min to max"
if [ -r "$META" ]; then
    date=$(awk -F'\t' '$1 == "date" { print $2 }' "$META")
    host=$(awk -F'\t' '$1 == "host" { print $2 }' "$META")
    reps=$(awk -F'\t' '$1 == "reps" { print $2 }' "$META")
    TITLE="$TITLE\\n$reps runs per bar; $date; $host"
fi

cat > "$TMP/plot.gp" <<EOF
set terminal pngcairo size $WIDTH,$HEIGHT enhanced font "DejaVu Sans,10"
set output "$OUT"
set datafile separator "\t"
set title "$TITLE" noenhanced offset 0,1.5
load "$TMP/setup.gp"
set logscale y
set ylabel "ns per message (log scale)"
set grid ytics mytics lc rgb "#dddddd"
set xtics rotate by 45 right nomirror scale 0 noenhanced font ",9"
set x2tics nomirror scale 0 noenhanced font ",10"
set style fill solid 0.9 border lc rgb "#333333"
set boxwidth 0.8
set key top left
set bmargin 7
set tmargin 7
plot "$TMP/bars.dat" using 1:2:5:xtic(6) with boxes lc rgb variable notitle, \
     "" using 1:3:(0):(\$4 - \$3) with vectors heads size screen 0.004,90 lc rgb "#222222" notitle, \
     "" using 1:(\$4 * 1.25):(\$2 >= 1000 ? sprintf("%.0f", \$2) : sprintf("%.3g", \$2)) \
        with labels rotate by 90 left font ",8" notitle, \
     NaN with boxes lc rgb "#d62728" title "$HIGHLIGHT", \
     NaN with boxes lc rgb "#7f9fbf" title "peers"
EOF
gnuplot "$TMP/plot.gp"
echo "plot.sh: wrote $OUT" >&2
