#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# msnapctl_guest.sh [--long]: msnapctl's tests, run inside the test guest
# by msnapctl_test.sh; TAP results on standard output, the plan last.  The scratch drive
# (/dev/nvme0n1) is formatted and mounted at /tmp/ms.  The process is
# selftests/msnapctl/counter, which prints "tick N" as it counts:
#   1. checkpoint (the process is stopped), restore: it goes on from the
#      checkpointed count (the first tick after the restore is the one
#      after the last before the checkpoint), not from 1; images on tmpfs
#      (the fsync path);
#   2. three --leave-running --incremental checkpoints into a directory
#      on the memsnap mount: parent links, and each incremental dump
#      writes less than a quarter of the full one;
#   3. msnapctl killed in the middle of a checkpoint (once CRIU writes
#      the pages of a full dump), and a checkpoint
#      that CRIU refuses (a process that is not its session's leader,
#      with the one-line error and CRIU's log kept): "latest" still
#      names the last complete one, and after an unmount and a mount of
#      the memsnap filesystem it restores, with the count of that
#      checkpoint;
#   4. a process whose count lives in a memsnap region too, never
#      persisted by it: the checkpoint persists the region while the
#      task is frozen, so after an unmount (which drops unpersisted
#      region memory) the restored process finds region and memory in
#      agreement; and a --leave-running checkpoint, after which the
#      process stores more, is restored with the region rolled back to
#      the checkpoint's;
#   5. msnapctl run --every: periodic incremental checkpoints of a
#      program it starts, which is then killed and restored.
# --long: ten incremental checkpoints in 2, 3 restore/checkpoint cycles
# on one directory, and run until ten checkpoints.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
ctl=$top/build/tools/msnapctl
counter=$top/build/selftests/msnapctl/counter
mkfs=$top/build/tools/mkfs.memsnap
fsck=$top/build/tools/fsck.memsnap
long=0
[ "${1:-}" = --long ] && long=1
ms=/tmp/ms
logs=/tmp/logs
n=0 failed=0
mkdir -p "$ms" "$logs"

# result OK DESCRIPTION [LOG...]: one TAP line (selftests/lib/vmtap.sh).
# shellcheck source=../lib/vmtap.sh
. "$(dirname "$0")/../lib/vmtap.sh"

# last_tick LOG: the last count the log shows (0 if none).
last_tick() {
	local t
	t=$(sed -n 's/^tick \([0-9]*\)$/\1/p' "$1" | tail -n 1)
	echo "${t:-0}"
}

# after_mark LOG: the first count printed after the last MARK line.
after_mark() {
	sed -n '/^MARK$/h; /^MARK$/!H; ${x; p}' "$1" |
		sed -n 's/^tick \([0-9]*\)$/\1/p' | head -n 1
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds, 0; 1 on timeout.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.1
	done
}

ticks_past() { [ "$(last_tick "$1")" -ge "$2" ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
marked_ticks() { [ -n "$(after_mark "$1")" ] && ticks_past "$1" "$(($(after_mark "$1") + 2))"; }

# start LOG ARGS...: the counter in its own session; sets $pid.
start() {
	local log=$1
	shift
	setsid "$counter" "$@" >> "$log" 2>&1 < /dev/null &
	pid=$!
	wait_for 30 ticks_past "$log" 3
}

# restore_ok DIR LOG WHAT: restore, wait for ticks after it.
restore_ok() {
	echo MARK >> "$2"
	"$ctl" restore --dir "$1" > "$logs/restore.out" 2>&1 &&
		wait_for 30 marked_ticks "$2"
}

info() { sed -n "s/^$2 //p" "$1/msnapctl.info"; }
latest() { readlink "$1/latest"; }

# stop PID: kill it and wait until the pid is free (a restored process
# is not our child: init reaps it).
stop() {
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	wait_for 10 gone "$1"
}

ip link set lo up
"$mkfs" -f -q /dev/nvme0n1 && mount -t memsnap /dev/nvme0n1 "$ms"
result $? "memsnap filesystem made and mounted" || exit 1

# 1. Checkpoint, the process stops; restore; it counts on.
log=$logs/c1.log
start "$log" --mem 8
"$ctl" checkpoint "$pid" --dir /tmp/img1 > "$logs/ck1.out" 2>&1
rc=$?
wait_for 10 gone "$pid"
gone_rc=$?
last=$(last_tick "$log")
[ $rc = 0 ] && [ $gone_rc = 0 ] && [ "$(latest /tmp/img1)" = 1 ]
result $? "checkpoint without --leave-running: images committed, the process stopped (at tick $last)" \
	"$logs/ck1.out" /tmp/img1/1/dump.log
restore_ok /tmp/img1 "$log"
first=$(after_mark "$log")
[ "${first:-0}" = $((last + 1)) ] && ! grep -q '^counter:.*damaged' "$log"
result $? "restored process goes on from the checkpoint: tick $last, then ${first:-none}" \
	"$logs/restore.out" "$log" /tmp/img1/1/restore.log
stop "$pid"

# 2. Incremental checkpoints on the memsnap mount.
img=$ms/img2
log=$logs/c2.log
nck=3
[ $long = 1 ] && nck=10
start "$log" --mem 32
ok=0
: > "$logs/ck2.out"
for i in $(seq 1 $nck); do
	before=$(last_tick "$log")
	"$ctl" checkpoint "$pid" --dir "$img" --leave-running --incremental \
		>> "$logs/ck2.out" 2>&1 || ok=1
	after=$(last_tick "$log")
done
sed 's/^/# /' "$logs/ck2.out"
"$ctl" list --dir "$img" | sed 's/^/# /'
ok=0
full=$(info "$img/1" bytes)
for i in $(seq 2 $nck); do
	[ "$(readlink "$img/$i/parent")" = "../$((i - 1))" ] || ok=1
	[ "$(info "$img/$i" parent)" = $((i - 1)) ] || ok=1
	b=$(info "$img/$i" bytes)
	[ -n "$b" ] && [ $((b * 4)) -lt "${full:-0}" ] || ok=1
done
[ "$(latest "$img")" = $nck ] && [ "$(info "$img/1" parent)" = 0 ] || ok=1
result $ok "$nck checkpoints: the later ones incremental, parent links, each under a quarter of the full dump's $full bytes ($(info "$img/2" bytes) for the 2nd)" \
	"$logs/ck2.out"

# 3a. msnapctl killed in the middle of a checkpoint: a full one (32 MiB
# of memory to write), killed as soon as CRIU has begun writing pages.
# Polled with shell builtins only (a program started from the 9p root
# takes tens of milliseconds under TCG).
exec 9<> <(:)
pages_begun() { compgen -G "$img/.$((nck + 1)).tmp/pages-*.img" > /dev/null; }
"$ctl" checkpoint "$pid" --dir "$img" --leave-running \
	> "$logs/ck3.out" 2>&1 &
mp=$!
end=$((SECONDS + 60))
until pages_begun || [ $SECONDS -ge $end ]; do
	read -r -t 0.01 -u 9
done
kill -9 $mp
wait $mp 2>/dev/null
# The lock is also held by the criu that the killed msnapctl started.
flock "$img/.lock" true
[ "$(latest "$img")" = $nck ] && kill -0 "$pid"
result $? "msnapctl killed mid-checkpoint: latest is still $nck, the process runs on" \
	"$logs/ck3.out"

# 3b. A checkpoint that CRIU refuses: not its session's leader.
"$counter" >> "$logs/c3.log" 2>&1 < /dev/null &
other=$!
wait_for 30 ticks_past "$logs/c3.log" 2
"$ctl" checkpoint $other --dir "$img" > "$logs/ck3b.out" 2>&1
rc=$?
sed 's/^/# /' "$logs/ck3b.out"
[ $rc = 1 ] && [ "$(wc -l < "$logs/ck3b.out")" = 1 ] &&
	grep -q "^msnapctl: checkpoint $((nck + 1)) of pid $other failed: criu: [A-Za-z]" "$logs/ck3b.out" &&
	grep -q "log: $img/failed/dump.log" "$logs/ck3b.out" && [ -s "$img/failed/dump.log" ]
result $? "a checkpoint CRIU refuses: exit 1, one line saying why, CRIU's log kept" \
	"$logs/ck3b.out" "$img/failed/dump.log"
[ "$(latest "$img")" = $nck ] && ! [ -e "$img/$((nck + 1))" ]
result $? "the failed checkpoint left latest at $nck" "$logs/ck3b.out"
stop "$other"

# 3c. Unmount and mount, then restore the last complete one.
stop "$pid"
umount "$ms" && mount -t memsnap /dev/nvme0n1 "$ms"
result $? "memsnap remounted with the checkpoints on it"
"$ctl" list --dir "$img" | sed 's/^/# /'
restore_ok "$img" "$log"
rc=$?
first=$(after_mark "$log")
# Checkpoint $nck froze it between the ticks seen before and after it.
[ $rc = 0 ] && [ "${first:-0}" -gt "$before" ] && [ "${first:-0}" -le $((after + 1)) ] &&
	grep -q "^restored checkpoint $nck: pid $pid" "$logs/restore.out"
result $? "after the remount, checkpoint $nck restores and counts on (tick ${first:-none}; it was taken between $before and $after)" \
	"$logs/restore.out" "$img/$nck/restore.log"

# 3d. The same restored process checkpointed again (a new incremental
# chain: it is a new process to CRIU), as many cycles as the mode asks.
cycles=1
[ $long = 1 ] && cycles=3
ok=0
for _ in $(seq 1 $cycles); do
	"$ctl" checkpoint "$pid" --dir "$img" --incremental > "$logs/ck3d.out" 2>&1 || ok=1
	wait_for 10 gone "$pid" || ok=1
	last=$(last_tick "$log")
	restore_ok "$img" "$log" || ok=1
	[ "$(after_mark "$log")" = $((last + 1)) ] || ok=1
done
result $ok "$cycles checkpoint/restore cycle(s) of the restored process, each going on from its checkpoint" \
	"$logs/ck3d.out" "$logs/restore.out"
stop "$pid"

# 4a. Memsnap region persisted while frozen.
img=$ms/img3
log=$logs/c4.log
start "$log" --region "$ms/region" --mem 1
"$ctl" checkpoint "$pid" --dir "$img" > "$logs/ck4.out" 2>&1
rc=$?
sed 's/^/# /' "$logs/ck4.out"
wait_for 10 gone "$pid"
last=$(last_tick "$log")
[ $rc = 0 ] && [ "$(info "$img/1" regions)" = 1 ] &&
	grep -q "^region 65536 $ms/region$" "$img/1/msnapctl.info" &&
	grep -Eq "^checkpoint 1 of pid $pid: .*, 1 memsnap regions, [1-9][0-9]* pages persisted" "$logs/ck4.out"
result $? "checkpoint of a process with a memsnap region persists it (at tick $last)" \
	"$logs/ck4.out" "$img/1/msnapctl.info"
umount "$ms" && mount -t memsnap /dev/nvme0n1 "$ms" &&
	restore_ok "$img" "$log"
rc=$?
[ $rc = 0 ] && [ "$(after_mark "$log")" = $((last + 1)) ] &&
	! grep -q '^counter: region' "$log"
result $? "after an unmount, restored: region and memory agree, counting on from $last" \
	"$logs/restore.out" "$log"

# 4b. --leave-running, more stores to the region, kill, restore.
"$ctl" checkpoint "$pid" --dir "$img" --leave-running > "$logs/ck4b.out" 2>&1
rc=$?
at=$(last_tick "$log")
wait_for 30 ticks_past "$log" $((at + 10))
stop "$pid"
restore_ok "$img" "$log" && [ $rc = 0 ] &&
	[ "$(after_mark "$log")" -le $((at + 1)) ] && ! grep -q '^counter: region' "$log"
result $? "after --leave-running and more stores, restore rolls the region back to the checkpoint" \
	"$logs/ck4b.out" "$logs/restore.out" "$log"
stop "$pid"

# 5. msnapctl run --every.
img=$ms/img4
log=$logs/c5.log
want=2
[ $long = 1 ] && want=10
"$ctl" run --every 500 --dir "$img" -- "$counter" --mem 4 >> "$log" 2>> "$logs/run.err" &
rp=$!
has_latest() { [ "$(latest "$img" 2>/dev/null)" = "$1" ]; }
wait_for $((30 + 10 * want)) has_latest $want
rc=$?
cpid=$(sed -n 's/^counter: start pid //p' "$log")
stop "$cpid"
seen=$(last_tick "$log")
wait $rp
rrc=$?
ok=0
for i in $(seq 2 $want); do
	[ "$(info "$img/$i" parent)" = $((i - 1)) ] || ok=1
done
[ $rc = 0 ] && [ $ok = 0 ] && [ $rrc = 137 ]
result $? "run --every 500: $want periodic incremental checkpoints, exit status of the killed program ($rrc)" \
	"$logs/run.err" "$log"
restore_ok "$img" "$log"
rc=$?
first=$(after_mark "$log")
[ $rc = 0 ] && [ "${first:-0}" -gt 1 ] && [ "${first:-0}" -le $((seen + 1)) ]
result $? "the program run started restores from a periodic checkpoint (tick ${first:-none})" \
	"$logs/restore.out" "$log"
stop "$cpid"

# Usage errors and an empty directory.
mkdir -p /tmp/empty
"$ctl" restore --dir /tmp/empty > "$logs/e1" 2>&1
e1=$?
"$ctl" checkpoint 1 --dir > "$logs/e2" 2>&1
e2=$?
"$ctl" checkpoint 99999999 --dir /tmp/e > "$logs/e3" 2>&1
e3=$?
cat "$logs/e1" "$logs/e2" "$logs/e3" | sed 's/^/# /'
[ $e1 = 3 ] && [ $e2 = 2 ] && [ $e3 = 1 ] &&
	[ "$(cat "$logs/e1" "$logs/e2" "$logs/e3" | wc -l)" = 3 ]
result $? "exit status 3 with nothing to restore, 2 for bad arguments, 1 for no such process; one line each" \
	"$logs/e1" "$logs/e2" "$logs/e3"

umount "$ms" && "$fsck" -n /dev/nvme0n1 > "$logs/fsck.out" 2>&1
result $? "fsck clean after it all" "$logs/fsck.out"

echo "# msnapctl: $((n - failed)) passed, $failed failed"
echo "1..$n"
[ $failed = 0 ]
