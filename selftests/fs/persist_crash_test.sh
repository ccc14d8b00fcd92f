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
top=$(cd "$(dirname "$0")/../.." && pwd)
rel= cycles=3
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) rel=$2; shift ;;
	--cycles) cycles=$2; shift ;;
	*) echo "usage: $0 --kernel RELEASE [--cycles N]" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$rel" ] || { echo "usage: $0 --kernel RELEASE [--cycles N]" >&2; exit 2; }

work=$top/build/check/$rel/persist-crash
bin=$top/build/selftests/persist_crash
rm -rf "$work"
mkdir -p "$work" "$(dirname "$bin")"
gcc -O2 -Wall -Wextra -I"$top/include/uapi" -o "$bin" \
	"$top/selftests/fs/persist_crash.c" || exit 1
img=$work/drive.img
fsck=$top/build/tools/fsck.memsnap
mkfs=$top/build/tools/mkfs.memsnap
n=0 failed=0

result() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n $2"
	else
		failed=$((failed + 1))
		echo "not ok $n $2"
		shift 2
		for f in "$@"; do [ -e "$f" ] && sed 's/^/#   /' "$f" | tail -n 25; done
	fi
}

echo "TAP version 13"
echo "1..$((2 * cycles + 1))"
"$mkfs" -q "$img" 2>/dev/null || { truncate -s 256M "$img" && "$mkfs" -q "$img"; }
for c in $(seq "$cycles"); do
	d=$work/cycle$c.d
	mkdir -p "$d"
	: > "$d/acked"
	mark=$(( (RANDOM % 40) + 5 ))
	"$top/tools/vm/run" --kernel "$rel" --disk "$img" --results "$d" \
		--kill-on POWER-CUT-NOW --timeout 600 -- bash -c "
		mkdir -p /tmp/m && mount -t memsnap /dev/nvme0n1 /tmp/m &&
		exec $bin run /tmp/m \$MSVM_RESULTS/acked $mark" \
		> "$work/run$c.out" 2> "$work/run$c.err"
	rc=$?
	[ "$rc" = 0 ] && grep -q 'power cut on' "$work/run$c.err" &&
		[ "$(wc -l < "$d/acked")" -ge "$mark" ]
	result $? "cycle $c: power cut after $mark acknowledged persists" \
		"$work/run$c.err" "$work/run$c.out"
	cp "$d/acked" "$work/acked$c"
	"$top/tools/vm/run" --kernel "$rel" --disk "$img" --results "$work/check$c.d" \
		--timeout 600 -- bash -c "
		$fsck -n /dev/nvme0n1 || exit 10
		mkdir -p /tmp/m && mount -t memsnap /dev/nvme0n1 /tmp/m || exit 11
		$bin check /tmp/m $work/acked$c || exit 12
		umount /tmp/m && $fsck -n /dev/nvme0n1 || exit 13" \
		> "$work/check$c.out" 2> "$work/check$c.err"
	result $? "cycle $c: fsck clean, region is one persist's state, none lost" \
		"$work/check$c.out" "$work/check$c.err"
done
"$fsck" -n "$img" > "$work/fsck.out" 2>&1
result $? "drive image fsck-clean on the host" "$work/fsck.out"
echo "# persist power cuts: $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
