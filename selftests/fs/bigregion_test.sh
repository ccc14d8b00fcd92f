#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bigregion_test.sh --kernel REL: a region larger than the guest's RAM,
# in TAP.  One guest with 768 MiB of RAM: first the control, a 384 MiB
# region (smaller than RAM) written in 3 chunks of 64 MiB; then a 2 GiB
# region (2.7x RAM) written in 16 chunks of 64 MiB spaced 128 MiB apart
# (1 GiB in all, more than RAM), each chunk written page by page and
# persisted before the next, so the kernel must reclaim persisted pages
# while the writer faults new ones in.  Then unmount, mount, and every
# page of both regions read back (stamps in the chunks, zeroes in the
# holes); fsck clean.  No soft lockup, hung task, warning (tools/vm/run
# fails on those) or OOM kill.  The time per chunk (first and last
# quarter of the chunks, and the control's) is reported as a TAP comment,
# never asserted: timings under TCG follow the host's load
# (docs/performance.md, "Regions larger than RAM").
set -u
# shellcheck source=../lib/vmtap.sh
. "$(dirname "$0")/../lib/vmtap.sh"
vmtap_init bigregion "$@"
bin=$top/build/selftests/bigregion
mkdir -p "$(dirname "$bin")"
gcc -O2 -Wall -Wextra -I"$top/include/uapi" -I"$top/libmemsnap/include" \
	-o "$bin" "$top/selftests/fs/bigregion.c" "$top/build/lib/libmemsnap.a" ||
	exit 1
tools=$top/build/tools
small="384 3 64 128"
big="2048 16 64 128"

echo "TAP version 13"
echo "1..3"

vm run --mem 768 --disk "$work/drive.img:2G" --timeout 1800 -- bash -c "
	set -e; m=/tmp/ms; d=/dev/nvme0n1; mkdir -p \$m
	$tools/mkfs.memsnap -f -q \$d
	mount -t memsnap \$d \$m
	echo control; $bin write \$m/small $small
	echo big; $bin write \$m/big $big
	grep -E '^(pgscan|pgsteal)_file |^allocstall_normal ' /proc/vmstat
	umount \$m
	mount -t memsnap \$d \$m
	$bin check \$m/small $small > /dev/null
	$bin check \$m/big $big
	echo READ-BACK-OK
	umount \$m
	$tools/fsck.memsnap -n \$d"
rm -f "$work/drive.img"
out=$work/run.out
grep -q '^READ-BACK-OK$' "$out"
result $? "2 GiB region in 768 MiB of RAM: written in chunks, persisted, read back after remount" \
	"$out" "$work/run.err"
[ "$(rc_of run)" = 0 ]
result $? "no soft lockup, hung task or warning; fsck clean" "$work/run.err" \
	"$work/run.d/console.log"
! grep -qE 'invoked oom-killer|Out of memory' "$work/run.d/console.log"
result $? "no OOM kill" "$work/run.d/console.log"

# The figures: mean ms per chunk of the control, and of the first and the
# last quarter of the big region's chunks.
awk '/^control$/ { r = "c" } /^big$/ { r = "b" }
     /^chunk / { t[r, $2] = $4; n[r] = $2 + 1 }
     /^(pgscan|pgsteal)_file |^allocstall_normal / { vm = vm " " $1 "=" $2 }
     END {
	q = int(n["b"] / 4)
	for (i = 0; i < n["c"]; i++) c += t["c", i]
	for (i = 0; i < q; i++) { f += t["b", i]; l += t["b", n["b"] - 1 - i] }
	if (!n["c"] || !q) exit
	printf "# ms per 64 MiB chunk: control %.0f, big region first quarter %.0f, last quarter %.0f (last/first %.2f)\n",
		c / n["c"], f / q, l / q, l / f
	print "# vmstat:" vm
     }' "$out"
[ "$failed" = 0 ]
