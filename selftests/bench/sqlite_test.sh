#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# sqlite_test.sh --kernel REL: the SQLite benchmark's quick mode
# (tools/bench/sqlite --quick) runs in a guest, every workload in every
# column leaves a database that holds exactly what its transactions
# committed (sqlbench checks each one: integrity_check, every row, TATP
# against its model), each commit through the memsnap VFS is one
# persist, and the CSV, markdown report and plot are well formed, so
# that `make bench-sqlite` cannot rot.  TAP output.  It never looks at
# a timing.
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_init sqlite-check "$@"
echo "TAP version 13"
if [ ! -e /usr/include/sqlite3.h ]; then
	echo "1..0 # SKIP libsqlite3-dev is not installed (tools/install-deps)"
	exit 0
fi
echo "1..6"
bench_quick bench-sqlite sqlite

# The cells the guest ran (meta: cells=WORKLOAD:X:COUNT[:ROWS] ...), each
# in every column, checked by sqlbench: the rows it read back are the
# rows committed.
python3 - "$csv" "$out/meta" <<'EOF2'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
meta = dict(l.rstrip("\n").split("=", 1) for l in open(sys.argv[2]) if "=" in l)
V = {(r["column"], r["x"], r["metric"]): r["value"] for r in rows}
cells = [c.split(":") for c in meta["cells"].split()]
assert cells, "no cells in meta"
bad = [r for r in rows if r["metric"].startswith("failed_")]
for col in ("wal_full", "wal_normal", "delete_full", "unix_memory",
            "vfs_full", "vfs_normal"):
    for c in cells:
        w, x, count = c[0], c[1], int(c[2])
        if (col, x, w + ".txn_per_s") not in V:
            bad.append((col, w, x, "no txn_per_s"))
            continue
        got = int(V.get((col, x, w + ".verified_rows"), "-1"))
        want = {"fillseq": int(x) * count, "fillrand": int(x) * count,
                "readmix": int(c[3]) if len(c) > 3 else 1000}.get(w)
        if (want is not None and got != want) or (w == "tatp" and got <= int(x)):
            bad.append((col, w, x, "verified %d rows, want %s" % (got, want)))
if bad:
    print("# missing or failed: %s" % bad)
    sys.exit(1)
EOF2
ok $? "bench-sqlite: every workload in every column, its database checked row by row"

# One persist per commit through the VFS, for the fills (every
# transaction commits); when the module has its debugfs counters.
python3 - "$csv" <<'EOF2'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]))
        if r["metric"].endswith(".persists_per_txn")]
if not rows:
    sys.exit(77)
bad = [r for r in rows if r["column"] in ("vfs_full", "vfs_normal")
       and r["metric"].split(".")[0] in ("fillseq", "fillrand")
       and abs(float(r["value"]) - 1) > 1e-9]
seen = {r["column"] for r in rows}
if bad or not {"vfs_full", "vfs_normal"} <= seen:
    print("# not one persist per commit: %s (columns with counters: %s)" % (bad, seen))
    sys.exit(1)
EOF2
rc=$?
skip_why="no memsnap counters (debugfs) in this module"
ok "$rc" "bench-sqlite: each commit through the memsnap VFS is one persist"

python3 "$top/selftests/bench/md_ok.py" "$out/results.md" \
	"# memsnap SQLite benchmark" "| fillseq | 1 row |" "| fillrand | 256 rows |" \
	"| readmix |" "| tatp |" "| fillrand vfs_full ≥ 5x wal_full at 1 row |"
ok $? "bench-sqlite: results.md has the header, every workload and well-formed tables"

png_ok bench-sqlite sqlite
