#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# sqlite-guest.sh OUTDIR QUICK: the SQLite benchmark, run in one guest
# boot by tools/bench/sqlite on the emulated NVMe drive /dev/nvme0n1.
# Every workload runs in every column in turn, each on a drive
# reformatted for it (ext4, memsnap, memsnap -o filedata=fsync), so that
# the columns of one workload are measured minutes apart at most.
# Appends rows "section,column,x,metric,value,unit" to OUTDIR/results.csv
# and "key=value" lines to OUTDIR/meta; keeps each run's stderr under
# OUTDIR/runs.
set -eu
out=$1 quick=$2
top=$MEMSNAP_ROOT
sb=$out/sqlbench
mkfs=$top/build/tools/mkfs.memsnap
dev=/dev/nvme0n1
csv=$out/results.csv
runs=$out/runs
mnt=/tmp/d
mkdir -p "$runs" $mnt

# The cells, WORKLOAD:X:COUNT[:ROWS] (tools/bench/sqlbench.c): fills
# of 1, 16 and 256 rows per transaction, the read-mostly mix (90% point
# reads) on a table of ROWS rows, TATP with X subscribers.  Each group of
# cells runs in every column in turn on a drive reformatted for it, and
# that ROUNDS times, the columns' order rotated by one each round: the
# columns of a round are measured within a few minutes, and the report
# takes the median of a column's ratios over the rounds, since the load
# of the host drifts.  In the full run a group is one cell; in quick mode
# (make check) one group holds every cell, with a few transactions each,
# and runs once: enough to run every path and check every database.
if [ "$quick" = 1 ]; then
	groups=("fillseq:1:20 fillrand:1:20 fillseq:16:4 fillrand:16:4 fillseq:256:2
		fillrand:256:2 readmix:90:100:300 tatp:300:200")
	rounds=1
else
	groups=(fillseq:1:800 fillrand:1:800 fillseq:16:400 fillrand:16:400
		fillseq:256:200 fillrand:256:200 readmix:90:4000:10000 tatp:4000:6000)
	rounds=3
fi
columns="wal_full wal_normal delete_full unix_memory vfs_full vfs_normal"
stats=/sys/kernel/debug/memsnap/${dev#/dev/}/stats

row() { echo "$1,$2,$3,$4,$5,$6" >> "$csv"; }
step() { echo "bench: $(cut -d" " -f1 /proc/uptime) $*" >&2; }

{
	echo "kernel=$(uname -r)"
	echo "device=$(xargs < /sys/block/nvme0n1/device/model) \
$(($(cat /sys/block/nvme0n1/size) / 2048)) MiB, $(cat /sys/block/nvme0n1/queue/write_cache)"
	echo "cpus=$(nproc)"
	echo "quick=$quick"
	echo "cells=$(echo "${groups[*]}" | xargs)"
	echo "rounds=$rounds"
	echo "crc32c=$(cat /sys/module/memsnap/parameters/crc32c 2>/dev/null || echo unknown)"
} >> "$out/meta"

# fresh COLUMN: the drive reformatted and mounted on $mnt for COLUMN (the
# ext4 inode tables and journal written now, not by ext4lazyinit during
# the run).  unix_memory's recipe is safe from a power cut only with
# filedata=fsync (docs/sqlite.md, "The recipe for unmodified SQLite").
fresh() {
	! mountpoint -q $mnt || umount $mnt
	case $1 in
	wal_*|delete_*)
		mkfs.ext4 -F -q -E lazy_itable_init=0,lazy_journal_init=0 $dev
		mount -t ext4 $dev $mnt ;;
	unix_memory)
		$mkfs -f -q $dev
		mount -t memsnap -o filedata=fsync $dev $mnt ;;
	vfs_*)
		$mkfs -f -q $dev
		mount -t memsnap $dev $mnt ;;
	esac
}

# cells COLUMN CELL...: one sqlbench run (round $r), on new databases;
# its rows go to the CSV only when every check passed.
cells() {
	local col=$1 f rc=0 c w x
	shift
	f=$runs/$col-$(echo "$1" | tr : -)-r$r
	fresh "$col"
	SQLBENCH_STATS=$stats "$sb" "$col" $mnt "$@" > "$f.csv" 2> "$f.err" || rc=$?
	if [ "$rc" != 0 ]; then
		step "$col failed ($rc): $(tail -n 1 "$f.err")"
		for c in "$@"; do
			IFS=: read -r w x _ <<< "$c"
			row sqlite "$col" "$x" "failed_$w" "$rc" status
		done
		return 0
	fi
	cat "$f.csv" >> "$csv"
}

mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
read -ra cols <<< "$columns"
for g in "${groups[@]}"; do
	for r in $(seq "$rounds"); do
		step "$(echo "$g" | xargs) (round $r)"
		for i in "${!cols[@]}"; do
			col=${cols[$(( (i + r - 1) % ${#cols[@]} ))]}
			# shellcheck disable=SC2086 # a group is a list of cells
			cells "$col" $g
		done
	done
done
! mountpoint -q $mnt || umount $mnt
echo "bench: done" >&2
