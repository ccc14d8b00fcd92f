#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# persist_crash_test.sh --kernel REL [--cycles N | --long]: the power-cut
# loop.  Persists (sync and async) of a memory-mapped region run in a
# loop and the harness cuts the guest's power at a random point, N times
# (default 20; --long: 500) on the same drive image.  Each boot first
# checks the state the previous cut left: fsck.memsnap -n clean before and
# after mounting, the region exactly one persist's state, never older than
# the last acknowledged persist; then it runs the workload again until the
# next cut.  A last boot checks the last cut.  TAP: one line per cycle.
set -u
cycles=20
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--cycles) cycles=$2; shift ;;
	--long) cycles=500 ;;
	*) args+=("$1") ;;
	esac
	shift
done
# shellcheck source=../lib/vmtap.sh
. "$(dirname "$0")/../lib/vmtap.sh"
vmtap_init persist-crash "${args[@]}"
[[ $cycles =~ ^[1-9][0-9]*$ ]] || { echo "--cycles needs a positive number" >&2; exit 2; }
bin=$top/build/selftests/persist_crash
mkdir -p "$(dirname "$bin")"
gcc -O2 -Wall -Wextra -I"$top/include/uapi" -o "$bin" \
	"$top/selftests/fs/persist_crash.c" || exit 1
img=$work/drive.img
fsck=$top/build/tools/fsck.memsnap
mkfs=$top/build/tools/mkfs.memsnap

# check ACKFILE: the guest-side check of the state a cut left.
check() {
	echo "$fsck -n /dev/nvme0n1 || exit 10
	mkdir -p /tmp/m && mount -t memsnap /dev/nvme0n1 /tmp/m || exit 11
	$bin check /tmp/m $1 || exit 12
	umount /tmp/m && $fsck -n /dev/nvme0n1 || exit 13
	echo CHECKED"
}

echo "TAP version 13"
echo "1..$((cycles + 2))"
truncate -s 256M "$img" && "$mkfs" -q "$img"
prev=
for c in $(seq "$cycles"); do
	d=$work/run$c.d
	mkdir -p "$d"
	: > "$d/acked"
	mark=$(( (RANDOM % 30) + 3 ))
	pre=
	[ -z "$prev" ] || pre=$(check "$prev")
	vm "run$c" --disk "$img" --kill-on POWER-CUT-NOW --timeout 600 -- bash -c "
		$pre
		mkdir -p /tmp/m && mount -t memsnap /dev/nvme0n1 /tmp/m &&
		exec $bin run /tmp/m \$MSVM_RESULTS/acked $mark"
	ok=1
	if [ "$(rc_of "run$c")" = 0 ] && grep -q 'power cut on' "$work/run$c.err" &&
	   [ "$(wc -l < "$d/acked")" -ge "$mark" ]; then
		[ -z "$prev" ] || grep -qx CHECKED "$work/run$c.out"
		ok=$?
	fi
	result "$ok" "cycle $c: ${prev:+previous cut recovered and checked, }power cut after $mark acknowledged persists" \
		"$work/run$c.err" "$work/run$c.out"
	cp "$d/acked" "$work/acked$c"
	prev=$work/acked$c
done
vm last --disk "$img" --timeout 600 -- bash -c "$(check "$prev")"
[ "$(rc_of last)" = 0 ] && grep -qx CHECKED "$work/last.out"
result $? "last cut recovered: fsck clean, region is one persist's state, none lost" \
	"$work/last.out" "$work/last.err"
"$fsck" -n "$img" > "$work/fsck.out" 2>&1
result $? "drive image fsck-clean on the host" "$work/fsck.out"
echo "# persist power cuts: $cycles cycles, $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
