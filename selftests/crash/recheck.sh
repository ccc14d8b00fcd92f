#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# recheck.sh WORKLOAD FSCK DIR SEED: run in the guest by replay_test.sh.
# For each image in DIR/list ("FILE ACKED ISSUED STATE AHEAD ALIGNED
# WHERE", written by replay-log --save): attach it to a loop device and
# mount it (recovery); the region must be one persist state in [ACKED,
# ISSUED] with its names; make K new persists (K = ALIGNED, the number
# of one-block commits that reach a record left past the end of the
# log, when 1..3, else 1..3 in turn); then a second crash (the backing
# file copied while mounted, as a power cut would leave it) and a clean
# unmount + mount must both hold exactly the recovered state and the K
# new persists, fsck.memsnap -n clean before and after each mount.
# One line per image, VIOLATION lines, and a summary line.
set -u
w=$1 fsck=$2 dir=$3 seed=$4
mkdir -p /tmp/m /tmp/c
n=0 v=0 ahead_n=0
fsck_ok() {	# DEVICE WHAT
	"$fsck" -n "$1" > /tmp/fsck.out 2>&1 && return 0
	echo "VIOLATION $file: $2 not fsck-clean:"
	cat /tmp/fsck.out
	return 1
}
# DEVICE MOUNTPOINT WHAT: mount, hold the expected state, unmount,
# fsck-clean; 1 (after a VIOLATION line) if any step fails.
mount_verify() {
	if ! mount -t memsnap "$1" "$2"; then
		echo "VIOLATION $file: $3 does not mount"
		return 1
	fi
	local bad=0
	"$w" verify "$2" "$seed" /tmp/state "$file $3" || bad=1
	umount "$2"
	fsck_ok "$1" "$3 after its mount" || bad=1
	return $bad
}
while read -r file acked issued state ahead aligned where; do
	n=$((n + 1)) bad=0
	[ "$ahead" = 0 ] || ahead_n=$((ahead_n + 1))
	k=$aligned
	[ "$k" -ge 1 ] && [ "$k" -le 3 ] || k=$((1 + n % 3))
	cp "$dir/$file" /tmp/live.img
	l=$(losetup -f --show /tmp/live.img)
	if ! mount -t memsnap "$l" /tmp/m; then
		echo "VIOLATION $file: the recovery mount failed"
		bad=1
	elif ! "$w" recover /tmp/m "$seed" "$acked" "$issued" "$k" /tmp/state; then
		echo "VIOLATION $file: the recovered state (above)"
		bad=1
		umount /tmp/m
	else
		# A second crash: what the backing file holds while mounted.
		cp /tmp/live.img /tmp/crash.img
		c=$(losetup -f --show /tmp/crash.img)
		fsck_ok "$c" "the crash copy" || bad=1
		mount_verify "$c" /tmp/c "the crash copy" || bad=1
		losetup -d "$c"
		rm -f /tmp/crash.img
		umount /tmp/m || bad=1
		fsck_ok "$l" "the image after a clean unmount" || bad=1
		mount_verify "$l" /tmp/m "the clean remount" || bad=1
	fi
	losetup -d "$l"
	rm -f /tmp/live.img
	[ "$bad" = 0 ] && echo "image $file ok: state $state, $ahead records past the end (aligned $aligned), $k new persists; $where"
	v=$((v + bad))
done < "$dir/list"
echo "recheck: $n images ($ahead_n with records past the end), $v violations"
