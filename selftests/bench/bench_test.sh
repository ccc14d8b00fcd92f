#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench_test.sh --kernel REL: the benchmark suite's quick mode runs in a
# guest and produces a well-formed CSV, markdown report and plots, so
# that `make bench` cannot rot.  TAP output.  It never looks at a timing.
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_init check "$@"

echo "TAP version 13"
echo "1..6"
bench_quick bench run

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

python3 "$top/selftests/bench/md_ok.py" "$out/results.md" "# memsnap benchmark" \
	"| sync persist"
ok $? "bench: results.md has the header and well-formed tables"

png_ok bench latency scaling concurrency recovery
