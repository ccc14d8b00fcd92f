#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# replay_test.sh --kernel REL [--long] [--seed N]: write-log replay.
# The guest runs the persist workload (tools/crash/workload.c) on a
# memsnap filesystem over dm-log-writes (512 KiB log, so that the log
# wraps and checkpoints happen; the 32 MiB file system filled up to a
# margin, with a persist refused with ENOSPC every 25th), with marks for
# every persist issued and acknowledged.  On the host, tools/crash/replay-log.c rebuilds the
# device at every FLUSH/FUA entry of the write log, and at random
# variants of it (in-flight writes landed in any subset and order, torn
# multi-block writes, lost cached writes), and checks each image:
# fsck.memsnap -n clean, the region exactly one persist state between
# the last acknowledged and the last issued, the names those of that
# state, no page of the file whose persists were refused.  Every third
# persist starts a batch of 2 or 3 issued together (MSNAP_ASYNC, one
# WAIT), so that commits complete in any order.  Then the recheck
# (recheck.sh): a sample of the checked images (those whose log holds a
# valid-looking record past the end of the replay first, random others
# to fill; 12, --long 100) goes to a second guest, which mounts each
# (recovery), checks the recovered state, makes 1 to 3 new persists,
# and checks that a copy taken while mounted (a second crash) and a
# clean unmount + mount both hold exactly the recovered state plus the
# new persists, fsck.memsnap -n clean each time.  TAP.
set -u
count=150 variants=1 min_points=1000 logsize=1G save=12
seed=$(( (RANDOM << 15 | RANDOM) + 1 ))
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--long) count=2000 variants=8 min_points=10000 logsize=4G save=100 ;;
	--seed) seed=$2; shift ;;
	*) args+=("$1") ;;
	esac
	shift
done
# shellcheck source=../lib/vmtap.sh
. "$(dirname "$0")/../lib/vmtap.sh"
vmtap_init crash-replay "${args[@]}"
bin=$top/build/crash
mkdir -p "$bin"
[ -e "$top/build/tools/libmsnapfs.a" ] || make -s -C "$top/tools" >&2 || exit 1
gcc -O2 -Wall -Wextra -D_GNU_SOURCE -I"$top/include/uapi" \
	-o "$bin/workload" "$top/tools/crash/workload.c" || exit 1
gcc -O2 -Wall -Wextra -D_GNU_SOURCE -I"$top/include/uapi" -I"$top/tools/lib" \
	-o "$bin/replay-log" "$top/tools/crash/replay-log.c" \
	"$top/build/tools/libmsnapfs.a" -lisal || exit 1
fsck=$top/build/tools/fsck.memsnap
mkfs=$top/build/tools/mkfs.memsnap
data=$work/data.img
log=$work/log.img
# The image the replay rebuilds is rewritten at every point: keep it in
# memory when /dev/shm has room.
img=$work/replay.img
if [ -d /dev/shm ] && [ "$(df -k --output=avail /dev/shm | tail -1)" -gt 600000 ]; then
	img=/dev/shm/memsnap-replay-$rel-$$.img
	trap 'rm -f "$img"' EXIT
fi

echo "TAP version 13"
echo "1..5"
echo "# seed $seed, $count persists, $variants variants per crash point"
vm run --disk "$data:32M" --disk "$log:$logsize" --timeout 900 -- bash -c "
	set -e
	# NVMe controllers probe in any order: find each drive by its serial.
	for c in /sys/class/nvme/nvme*; do
		case \$(tr -d ' ' < \$c/serial) in
		msnap0) d=/dev/\${c##*/}n1 ;;
		msnap1) l=/dev/\${c##*/}n1 ;;
		esac
	done
	dmsetup create lw --table \"0 \$(blockdev --getsz \$d) log-writes \$d \$l\"
	dmsetup mknodes lw
	$mkfs -q --log-size 512K /dev/mapper/lw
	dmsetup message lw 0 mark mkfs
	mkdir -p /tmp/m
	mount -t memsnap /dev/mapper/lw /tmp/m
	$bin/workload /tmp/m lw $seed $count
	umount /tmp/m
	dmsetup message lw 0 mark umount
	dmsetup remove lw"
refused=$(sed -n "s/^workload: $count persists acknowledged, \([0-9]*\) refused with ENOSPC$/\1/p" "$work/run.out")
batches=$(sed -n 's/^workload: \([0-9]*\) batches of persists in flight together$/\1/p' "$work/run.out")
[ "$(rc_of run)" = 0 ] && [ "${refused:-0}" -ge $((count / 25)) ] &&
	[ "${batches:-0}" -ge $((count / 10)) ]
result $? "workload on dm-log-writes: $count persists acknowledged, ${refused:-0} refused with ENOSPC, ${batches:-0} batches in flight together" \
	"$work/run.out" "$work/run.err"

"$fsck" -n "$data" > "$work/fsck.out" 2>&1
result $? "final drive image fsck-clean" "$work/fsck.out"

saved=$work/saved
mkdir -p "$saved"
start=$(date +%s)
"$bin/replay-log" --seed "$seed" --variants "$variants" --rng "$seed" \
	--fsck "$fsck" --save "$saved" "$save" "$log" "$(stat -c %s "$data")" "$img" \
	> "$work/replay.out" 2>&1
rc=$?
rm -f "$img"
secs=$(( $(date +%s) - start ))
stats=$(grep '^entries ' "$work/replay.out")
read -r points violations < <(sed -n 's/^points \([0-9]*\) violations \([0-9]*\)$/\1 \2/p' "$work/replay.out")
echo "# $stats"
sb=$(echo "$stats" | sed -n 's/.*superblock-writes \([0-9]*\).*/\1/p')
wraps=$(echo "$stats" | sed -n 's/.*log-wraps \([0-9]*\).*/\1/p')
logacked=$(echo "$stats" | sed -n 's/.* acked \([0-9]*\) .*/\1/p')
[ "${sb:-0}" -ge 2 ] && [ "${wraps:-0}" -ge 1 ] && [ "${logacked:-0}" = "$count" ]
result $? "write log holds all $count persists, log wrapped ${wraps:-0} times, ${sb:-0} superblock writes (checkpoints)" \
	"$work/replay.out"
[ "$rc" = 0 ] && [ "${violations:-1}" = 0 ] && [ "${points:-0}" -ge "$min_points" ]
result $? "replay: ${points:-0} crash points checked in ${secs}s, ${violations:-?} violations" \
	"$work/replay.out"

# The recheck: each saved image recovered in a guest, persisted again,
# then a second crash (the image copied while mounted) and a remount.
echo "# $(grep '^saved ' "$work/replay.out")"
nsaved=$(wc -l < "$saved/list" 2>/dev/null || echo 0)
start=$(date +%s)
vm recheck --timeout 900 -- bash "$top/selftests/crash/recheck.sh" \
	"$bin/workload" "$fsck" "$saved" "$seed"
secs=$(( $(date +%s) - start ))
read -r imgs ahead vio < <(sed -n 's/^recheck: \([0-9]*\) images (\([0-9]*\) with records past the end), \([0-9]*\) violations$/\1 \2 \3/p' "$work/recheck.out")
[ "$(rc_of recheck)" = 0 ] && [ "${vio:-1}" = 0 ] && [ "${imgs:-0}" -ge 1 ] &&
	[ "${imgs:-0}" = "$nsaved" ]
result $? "${imgs:-0} images recovered, committed again and remounted, ${vio:-?} violations (${ahead:-0} with records past the end of the log; ${secs}s)" \
	"$work/recheck.out" "$work/recheck.err"
grep -A3 '^VIOLATION' "$work/recheck.out" | sed 's/^/# /' | head -n 40
# Keep the images only when something failed, to reproduce it.
if [ "${vio:-1}" = 0 ] && [ "$(rc_of recheck)" = 0 ]; then
	rm -f "$saved"/*.img
fi
echo "# crash replay: $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
