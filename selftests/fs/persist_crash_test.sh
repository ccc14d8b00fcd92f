#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# persist_crash_test.sh --kernel REL [--cycles N | --long]: the power-cut
# loop.  Persists (sync, async, and batches of 2 or 3 async persists in
# flight together) of a memory-mapped region run in a loop and the
# harness cuts the guest's power at a random point, N times (default 20;
# --long: 500) on the same drive image.  Each boot first checks the state
# the previous cut left: fsck.memsnap -n clean before mounting, the region
# exactly one persist's state (every page of the run that made it in this
# history), never older than the last acknowledged persist.  Then, in
# turn: (0) a clean unmount, fsck, mount; (1) on the recovered mount 1 or
# 2 new persists, a clean unmount, fsck, mount, and the region exactly
# the last acknowledged persist; (2) nothing: the recovered mount goes on.
# Then the workload runs again until the next cut (a second cut after
# the recovery).  A last boot checks the last cut, persists again and
# checks a clean remount.  TAP: one line per cycle.
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
# The runs so far: "first-persist epoch" lines, one per run (persist_crash.c).
segs=$work/segments
: > "$segs"
fsck=$top/build/tools/fsck.memsnap
mkfs=$top/build/tools/mkfs.memsnap

# check ACKFILE MODE: the guest-side check of the state a cut left, then
# what MODE (cycle % 3) does on the recovered mount (see the top).
check() {
	echo "$fsck -n /dev/nvme0n1 || exit 10
	mkdir -p /tmp/m && mount -t memsnap /dev/nvme0n1 /tmp/m || exit 11
	$bin check /tmp/m crash $1 $segs || exit 12
	echo CHECKED"
	case $2 in
	0)	echo "umount /tmp/m && $fsck -n /dev/nvme0n1 || exit 13
		mount -t memsnap /dev/nvme0n1 /tmp/m || exit 11" ;;
	1)	echo "$bin run /tmp/m \$MSVM_RESULTS/acked \$MSVM_RESULTS/segments $3 0 $4 || exit 14
		umount /tmp/m && $fsck -n /dev/nvme0n1 || exit 15
		mount -t memsnap /dev/nvme0n1 /tmp/m || exit 16
		$bin check /tmp/m clean \$MSVM_RESULTS/acked $segs \$MSVM_RESULTS/segments || exit 17
		echo REMOUNT-CHECKED" ;;
	esac
}

echo "TAP version 13"
echo "1..$((cycles + 2))"
truncate -s 256M "$img" && "$mkfs" -q "$img"
prev=
remounts=0 onmount=0
for c in $(seq "$cycles"); do
	d=$work/run$c.d
	mkdir -p "$d"
	: > "$d/acked"
	mark=$(( (RANDOM % 30) + 3 ))
	mode=$((c % 3)) k=$((1 + RANDOM % 2))
	pre="mkdir -p /tmp/m && mount -t memsnap /dev/nvme0n1 /tmp/m || exit 11"
	[ -z "$prev" ] || pre=$(check "$prev" $mode $((2 * c - 1)) $k)
	vm "run$c" --disk "$img" --kill-on POWER-CUT-NOW --timeout 600 -- bash -c "
		$pre
		exec $bin run /tmp/m \$MSVM_RESULTS/acked \$MSVM_RESULTS/segments $((2 * c)) $mark"
	ok=1 what=
	if [ "$(rc_of "run$c")" = 0 ] && grep -q 'power cut on' "$work/run$c.err" &&
	   [ "$(wc -l < "$d/acked")" -ge "$mark" ]; then
		ok=0
		if [ -n "$prev" ]; then
			grep -qx CHECKED "$work/run$c.out" || ok=1
			what="previous cut recovered and checked, "
			case $mode in
			0) what+="clean unmount and mount, " ;;
			1) grep -qx REMOUNT-CHECKED "$work/run$c.out" || ok=1
			   what+="$k persisted, clean unmount and mount checked, "
			   remounts=$((remounts + 1)) ;;
			2) what+="persisting on the recovered mount, "
			   onmount=$((onmount + 1)) ;;
			esac
		fi
	fi
	result "$ok" "cycle $c: ${what}power cut after $mark acknowledged persists" \
		"$work/run$c.err" "$work/run$c.out"
	cp "$d/acked" "$work/acked$c"
	[ -e "$d/segments" ] && cat "$d/segments" >> "$segs"
	prev=$work/acked$c
done
vm last --disk "$img" --timeout 600 -- bash -c "$(check "$prev" 1 $((2 * cycles + 1)) 2)
	umount /tmp/m && $fsck -n /dev/nvme0n1 || exit 13"
[ "$(rc_of last)" = 0 ] && grep -qx CHECKED "$work/last.out" &&
	grep -qx REMOUNT-CHECKED "$work/last.out"
result $? "last cut recovered: fsck clean, region is one persist's state, none lost; 2 persisted, clean unmount and mount checked" \
	"$work/last.out" "$work/last.err"
remounts=$((remounts + 1))
"$fsck" -n "$img" > "$work/fsck.out" 2>&1
result $? "drive image fsck-clean on the host" "$work/fsck.out"
echo "# persist power cuts: $cycles cycles, $remounts recoveries followed by new persists and a checked clean remount, $onmount by a second cut on the recovered mount, $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
