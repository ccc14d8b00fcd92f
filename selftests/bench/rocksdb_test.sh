#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# rocksdb_test.sh --kernel REL: the RocksDB benchmark's quick mode
# (tools/bench/rocksdb --quick) runs in a guest and produces a
# well-formed CSV, markdown report and plot, so that `make
# bench-rocksdb` cannot rot.  TAP output.  It never looks at a timing.
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_init rocksdb-check "$@"
echo "TAP version 13"
if ! command -v db_bench > /dev/null; then
	echo "1..0 # SKIP rocksdb-tools is not installed (tools/install-deps)"
	exit 0
fi
echo "1..5"
bench_quick bench-rocksdb rocksdb

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

python3 "$top/selftests/bench/md_ok.py" "$out/results.md" \
	"# memsnap RocksDB benchmark" "| fillrandom | 1 |" "| fillrandom memsnap_wal"
ok $? "bench-rocksdb: results.md has the header and well-formed tables"

png_ok bench-rocksdb rocksdb
