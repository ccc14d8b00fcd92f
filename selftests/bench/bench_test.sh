#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench_test.sh --kernel REL: the benchmark suite's quick mode runs in a
# guest and produces a well-formed CSV, markdown report and plots, so
# that `make bench` cannot rot.  TAP output.  It never looks at a timing.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
kernel=
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=$2; shift ;;
	*) echo "usage: bench_test.sh --kernel REL" >&2; exit 2 ;;
	esac
	shift
done
out=$top/build/bench/check-${kernel:-default}
mkdir -p "$top/build/bench"	# a fresh clone has no build/ yet
n=0
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}

echo "TAP version 13"
echo "1..6"
"$top/tools/bench/run" --quick ${kernel:+--kernel "$kernel"} --out "$out" \
	> "$out.log" 2>&1
rc=$?
[ "$rc" = 0 ] || sed 's/^/# /' "$out.log" | tail -n 30
ok "$rc" "bench: the quick suite runs in one guest boot"

csv=$out/results.csv
python3 "$top/selftests/bench/csv_ok.py" "$csv"
ok $? "bench: results.csv is well formed (6 fields, numeric x and value)"

missing=
for s in latency scaling tracking concurrency stall recovery; do
	grep -q "^$s," "$csv" 2>/dev/null || missing="$missing $s"
done
[ -z "$missing" ] || echo "# missing sections:$missing"
ok "$([ -z "$missing" ] && echo 0 || echo 1)" "bench: every section has results"

grep -q 'raw_fua_qd,1,median' "$csv" && grep -q 'raw_seq,1,median' "$csv" &&
	grep -q 'ext4_msync,1,median' "$csv" && grep -q 'memsnap_uring,1,median' "$csv" &&
	grep -q 'memsnap_thread,1,median' "$csv"
ok $? "bench: raw, ext4 and memsnap columns measured on the same drive"

md=$out/results.md
python3 - "$md" "$(uname -r)" <<'EOF'
import sys
lines = open(sys.argv[1]).read().splitlines()
assert lines[0].startswith("# memsnap benchmark")
assert any("| kernel | device | date | commit |" in l for l in lines)
# Every table: each row has the header's number of cells.
cols = None
for l in lines:
    if l.startswith("|"):
        c = l.count("|")
        if cols is None:
            cols = c
        assert c == cols, l
    else:
        cols = None
assert any(l.startswith("| sync persist") for l in lines)
EOF
ok $? "bench: results.md has the header and well-formed tables"

if command -v gnuplot > /dev/null; then
	bad=0
	for p in latency scaling concurrency recovery; do
		head -c 8 "$out/$p.png" 2>/dev/null | grep -q PNG || { bad=1; echo "# no $p.png"; }
	done
	ok "$bad" "bench: PNG plots"
else
	echo "ok 6 - bench: PNG plots # SKIP gnuplot not installed (tools/install-deps)"
fi
