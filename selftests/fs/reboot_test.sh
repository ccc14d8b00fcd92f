#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# reboot_test.sh --kernel REL: host-side tests of what a memsnap
# filesystem holds across reboots and power cuts, in TAP.  Each boot is a
# tools/vm/run guest on the same persistent drive image; the guest side is
# reboot_guest.py.
#   - clean: boot 1 formats, mounts, writes files (some fsynced, some
#     not), renames, unlinks, chmods, truncates, unmounts; boot 2 mounts
#     and finds exactly what was written (the unmount writes the file
#     API's data, fsynced or not); fsck.memsnap -n is clean;
#   - power cut: boot 1 loops over fsynced overwrites, appends and
#     namespace operations, acknowledging each iteration in the results
#     directory, and the power is cut after some iterations; boot 2
#     recovers and finds every page of the data file from one iteration
#     at or after the last acknowledged one (the commit= interval may have
#     committed part of an iteration no fsync covered yet), the log's
#     records in order, the namespace a prefix; fsck.memsnap -n is clean
#     before and after the recovery mount;
#   - syncfs: 40 files written without fsync in a tree of six directories
#     on a mount with commit=3600, and a symlink, then syncfs, and the
#     power is cut around it; the next boot finds the whole tree with all
#     40 files whole, or nothing (one commit), fsck clean.
#     Three rounds.
set -u
# shellcheck source=../lib/vmtap.sh
. "$(dirname "$0")/../lib/vmtap.sh"
vmtap_init reboot "$@"
guest=$top/selftests/fs/reboot_guest.py
tools=$top/build/tools

# Guest shell prologue: a mount point, and stop at the first failure.
pro="set -e; m=/tmp/ms; mkdir -p \$m; d=/dev/nvme0n1"

echo "TAP version 13"
rounds=3
echo "1..$((6 + 2 * rounds))"

# --- clean unmount and reboot
img=$work/clean.img
vm clean1 --disk "$img:256M" -- bash -c "$pro
	$tools/mkfs.memsnap -f -q \$d
	mount -t memsnap \$d \$m
	python3 $guest populate \$m
	umount \$m"
[ "$(rc_of clean1)" = 0 ]
result $? "boot 1: format, write, fsync some, rename, unlink, unmount" \
	"$work/clean1.out" "$work/clean1.err"

vm clean2 --disk "$img" -- bash -c "$pro
	mount -t memsnap \$d \$m
	python3 $guest check \$m
	umount \$m
	$tools/fsck.memsnap -n \$d"
[ "$(rc_of clean2)" = 0 ] && grep -qx 'check: ok' "$work/clean2.out"
result $? "boot 2: exactly the data written (fsynced or not) and the namespace changes, fsck clean" \
	"$work/clean2.out" "$work/clean2.err"

# --- power cut in the middle of fsyncs and namespace operations
img=$work/cut.img
vm cut1 --disk "$img:256M" --kill-on POWER-CUT-NOW --timeout 600 -- bash -c "$pro
	$tools/mkfs.memsnap -f -q \$d
	mount -t memsnap -o commit=1 \$d \$m
	python3 $guest cutloop \$m 25"
[ "$(rc_of cut1)" = 0 ] && grep -q 'power cut on' "$work/cut1.err" &&
	[ -s "$work/cut1.d/acked" ]
result $? "boot 1: power cut while fsyncing in a loop" "$work/cut1.out" "$work/cut1.err"

vm cut2 --disk "$img" -- bash -c "$pro
	$tools/fsck.memsnap -n \$d
	mount -t memsnap \$d \$m
	MSVM_RESULTS=$work/cut1.d python3 $guest cutcheck \$m
	umount \$m
	$tools/fsck.memsnap -n \$d
	echo checkpointed-fsck-ok
	mount -t memsnap \$d \$m
	MSVM_RESULTS=$work/cut1.d python3 $guest cutcheck \$m
	umount \$m"
grep -q 'replayed [0-9]* commit' "$work/cut2.d/dmesg" 2>/dev/null
result $? "boot 2: recovery replays the log" "$work/cut2.out" "$work/cut2.d/dmesg"
[ "$(rc_of cut2)" = 0 ] && [ "$(grep -c '^cutcheck: ok' "$work/cut2.out")" = 2 ]
result $? "boot 2: every page of one iteration at or after the last acknowledged, log records in order, namespace a prefix" \
	"$work/cut2.out" "$work/cut2.err"
grep -q checkpointed-fsck-ok "$work/cut2.out"
result $? "boot 2: fsck clean before recovery and after its checkpoint" \
	"$work/cut2.out" "$work/cut2.err"

# --- power cut during a syncfs of many files written without fsync
outcomes=
for r in $(seq "$rounds"); do
	img=$work/sync$r.img
	vm "sync$r" --disk "$img:256M" --kill-on SYNC-NOW --timeout 300 -- bash -c "$pro
		$tools/mkfs.memsnap -f -q \$d
		mount -t memsnap -o commit=3600 \$d \$m
		python3 $guest syncfs \$m 40"
	[ "$(rc_of "sync$r")" = 0 ] && grep -q 'power cut on' "$work/sync$r.err"
	result $? "syncfs round $r: 40 files written, power cut around their syncfs" \
		"$work/sync$r.out" "$work/sync$r.err"
	vm "synccheck$r" --disk "$img" -- bash -c "$pro
		$tools/fsck.memsnap -n \$d
		mount -t memsnap \$d \$m
		python3 $guest synccheck \$m 40
		umount \$m
		$tools/fsck.memsnap -n \$d"
	[ "$(rc_of "synccheck$r")" = 0 ] && grep -q '^synccheck: ok' "$work/synccheck$r.out"
	result $? "syncfs round $r: all 40 files whole or none, fsck clean" \
		"$work/synccheck$r.out" "$work/synccheck$r.err"
	outcomes+=" $(sed -n 's/^syncfs: //p' "$work/synccheck$r.out")"
	rm -f "$img"
done
echo "# syncfs rounds:$outcomes"

echo "# reboot: $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
