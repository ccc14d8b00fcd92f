#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# persist_crash_test.sh --kernel REL [--cycles N]: power cuts during a
# loop of persists (sync and async) of a memory-mapped region.  Each cycle
# boots the guest on the same drive, checks the state the last cut left
# (fsck clean before and after mounting, the region exactly one
# persist's state, never older than the last acknowledged), then runs
# the workload again and cuts the power at a random point.  TAP.
set -u
cycles=3
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--cycles) cycles=$2; shift ;;
	*) args+=("$1") ;;
	esac
	shift
done
# shellcheck source=../lib/vmtap.sh
. "$(dirname "$0")/../lib/vmtap.sh"
vmtap_init persist-crash "${args[@]}"
bin=$top/build/selftests/persist_crash
mkdir -p "$(dirname "$bin")"
gcc -O2 -Wall -Wextra -I"$top/include/uapi" -o "$bin" \
	"$top/selftests/fs/persist_crash.c" || exit 1
img=$work/drive.img
fsck=$top/build/tools/fsck.memsnap
mkfs=$top/build/tools/mkfs.memsnap

echo "TAP version 13"
echo "1..$((2 * cycles + 1))"
"$mkfs" -q "$img" 2>/dev/null || { truncate -s 256M "$img" && "$mkfs" -q "$img"; }
for c in $(seq "$cycles"); do
	d=$work/run$c.d
	mkdir -p "$d"
	: > "$d/acked"
	mark=$(( (RANDOM % 40) + 5 ))
	vm "run$c" --disk "$img" --kill-on POWER-CUT-NOW --timeout 600 -- bash -c "
		mkdir -p /tmp/m && mount -t memsnap /dev/nvme0n1 /tmp/m &&
		exec $bin run /tmp/m \$MSVM_RESULTS/acked $mark"
	[ "$(rc_of "run$c")" = 0 ] && grep -q 'power cut on' "$work/run$c.err" &&
		[ "$(wc -l < "$d/acked")" -ge "$mark" ]
	result $? "cycle $c: power cut after $mark acknowledged persists" \
		"$work/run$c.err" "$work/run$c.out"
	cp "$d/acked" "$work/acked$c"
	vm "check$c" --disk "$img" --timeout 600 -- bash -c "
		$fsck -n /dev/nvme0n1 || exit 10
		mkdir -p /tmp/m && mount -t memsnap /dev/nvme0n1 /tmp/m || exit 11
		$bin check /tmp/m $work/acked$c || exit 12
		umount /tmp/m && $fsck -n /dev/nvme0n1 || exit 13"
	[ "$(rc_of "check$c")" = 0 ]
	result $? "cycle $c: fsck clean, region is one persist's state, none lost" \
		"$work/check$c.out" "$work/check$c.err"
done
"$fsck" -n "$img" > "$work/fsck.out" 2>&1
result $? "drive image fsck-clean on the host" "$work/fsck.out"
echo "# persist power cuts: $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
