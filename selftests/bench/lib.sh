# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The frame of the benchmark checks (bench_test.sh, rocksdb_test.sh,
# sqlite_test.sh): arguments, TAP lines, the quick run in one guest boot,
# the CSV and plot checks.  Sourced; sets top, kernel, out and n.

# bench_init NAME "$@": parse --kernel REL; the results go to
# build/bench/NAME-KERNEL.
bench_init() {
	local name=$1
	shift
	top=$(cd "$(dirname "$0")/../.." && pwd)
	kernel=
	while [ $# -gt 0 ]; do
		case $1 in
		--kernel) kernel=$2; shift ;;
		*) echo "usage: $(basename "$0") --kernel REL" >&2; exit 2 ;;
		esac
		shift
	done
	out=$top/build/bench/$name-${kernel:-default}
	mkdir -p "$top/build/bench"	# a fresh clone has no build/ yet
	n=0
}

# ok STATUS DESCRIPTION: one TAP line; status 77 is a SKIP, with the
# reason in $skip_why.
ok() {
	n=$((n + 1))
	case $1 in
	0) echo "ok $n - $2" ;;
	77) echo "ok $n - $2 # SKIP ${skip_why:-}" ;;
	*) echo "not ok $n - $2" ;;
	esac
}

# bench_quick LABEL TOOL: tools/bench/TOOL --quick in one guest boot,
# then the CSV's form; two TAP lines.
bench_quick() {
	local label=$1 tool=$2 rc
	"$top/tools/bench/$tool" --quick ${kernel:+--kernel "$kernel"} \
		--out "$out" > "$out.log" 2>&1
	rc=$?
	[ "$rc" = 0 ] || sed 's/^/# /' "$out.log" | tail -n 30
	ok "$rc" "$label: the quick run completes in one guest boot"
	csv=$out/results.csv
	python3 "$top/selftests/bench/csv_ok.py" "$csv"
	ok $? "$label: results.csv is well formed (6 fields, numeric x and value)"
}

# png_ok LABEL PLOT...: each plot (build/bench/.../PLOT.png) is a PNG;
# a SKIP without gnuplot.
png_ok() {
	local label=$1 p bad=0
	shift
	if ! command -v gnuplot > /dev/null; then
		skip_why="gnuplot not installed (tools/install-deps)"
		ok 77 "$label: PNG plot"
		return
	fi
	for p in "$@"; do
		head -c 8 "$out/$p.png" 2>/dev/null | grep -q PNG ||
			{ bad=1; echo "# no $p.png"; }
	done
	ok "$bad" "$label: PNG plot"
}
