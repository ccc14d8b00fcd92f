#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# rocksdb_test.sh --kernel REL: the RocksDB benchmark's quick mode
# (tools/bench/rocksdb --quick) runs in a guest and produces a
# well-formed CSV, markdown report and plot, so that `make
# bench-rocksdb` cannot rot.  TAP output.  It never looks at a timing.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
kernel=
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=$2; shift ;;
	*) echo "usage: rocksdb_test.sh --kernel REL" >&2; exit 2 ;;
	esac
	shift
done
echo "TAP version 13"
if ! command -v db_bench > /dev/null; then
	echo "1..0 # SKIP rocksdb-tools is not installed (tools/install-deps)"
	exit 0
fi
out=$top/build/bench/rocksdb-check-${kernel:-default}
mkdir -p "$top/build/bench"	# a fresh clone has no build/ yet
n=0
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}

echo "1..5"
"$top/tools/bench/rocksdb" --quick ${kernel:+--kernel "$kernel"} --out "$out" \
	> "$out.log" 2>&1
rc=$?
[ "$rc" = 0 ] || sed 's/^/# /' "$out.log" | tail -n 30
ok "$rc" "bench-rocksdb: the quick run completes in one guest boot"

csv=$out/results.csv
python3 "$top/selftests/bench/csv_ok.py" "$csv"
ok $? "bench-rocksdb: results.csv is well formed (6 fields, numeric x and value)"

# Every workload measured in every column, no db_bench run failed, and
# RocksDB's LOG shows the recycling option in force where it is set.
python3 - "$csv" <<'EOF2'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
have = {(r["column"], r["x"], r["metric"]) for r in rows}
xs = {r["x"] for r in rows}
bad = [r for r in rows if r["metric"].startswith("failed_")]
for c in ("ext4", "ext4_opts", "memsnap_wal", "memsnap_all"):
    for x in xs:
        for w in ("fillrandom", "fillseq", "fillbatch", "overwrite",
                  "readrandomwriterandom"):
            if (c, x, w + ".ops_per_s") not in have:
                bad.append((c, x, w))
        if (c, x, "logs_reused") not in have:
            bad.append((c, x, "LOG"))
for r in rows:
    if r["metric"] == "recycle_log_file_num" and \
            (r["value"] == "4") != (r["column"] == "ext4_opts"):
        bad.append(r)
if bad:
    print("# missing or failed: %s" % bad)
    sys.exit(1)
EOF2
ok $? "bench-rocksdb: every workload in every column, recycling on only in ext4_opts"

md=$out/results.md
python3 - "$md" <<'EOF2'
import sys
lines = open(sys.argv[1]).read().splitlines()
assert lines[0].startswith("# memsnap RocksDB benchmark")
assert any("| kernel | device | date | commit |" in l for l in lines)
cols = None
for l in lines:
    if l.startswith("|"):
        c = l.count("|")
        if cols is None:
            cols = c
        assert c == cols, l
    else:
        cols = None
assert any(l.startswith("| fillrandom | 1 |") for l in lines)
assert any(l.startswith("| fillrandom memsnap_wal") for l in lines)
EOF2
ok $? "bench-rocksdb: results.md has the header and well-formed tables"

if command -v gnuplot > /dev/null; then
	head -c 8 "$out/rocksdb.png" 2>/dev/null | grep -q PNG
	ok $? "bench-rocksdb: PNG plot"
else
	echo "ok 5 - bench-rocksdb: PNG plot # SKIP gnuplot not installed (tools/install-deps)"
fi
