#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# rocksdb-guest.sh OUTDIR QUICK: Debian's db_bench on ext4 and memsnap,
# run in one guest boot by tools/bench/rocksdb with two emulated NVMe
# drives, found by serial: msnap0 gets memsnap, msnap1 ext4, both
# reformatted before every db_bench run.  Appends rows
# "section,column,x,metric,value,unit" to OUTDIR/results.csv and
# "key=value" lines to OUTDIR/meta; keeps db_bench's output and
# RocksDB's LOG of every run under OUTDIR/runs.
set -eu
out=$1 quick=$2
top=$MEMSNAP_ROOT
mkfs=$top/build/tools/mkfs.memsnap
csv=$out/results.csv
runs=$out/runs
mkdir -p "$runs"

# Operations per thread (db_bench's --num is per thread).  fillbatch
# writes 1000 entries per synced batch, so it gets ten times as many.
# Quick mode: one thread count and a few operations, for make check.
if [ "$quick" = 1 ]; then
	num=20 threads=1
else
	num=2000 threads="1 4 8"
fi
bnum=$((num * 10))
[ "$quick" = 0 ] || bnum=2000
columns="ext4 ext4_opts memsnap_wal memsnap_all"
# fillrandom runs last of the fresh-database benchmarks, so the LOG left
# at the end is that of fillrandom, overwrite and readrandomwriterandom.
main_bench=fillseq,fillrandom,overwrite,readrandomwriterandom

d='' e=''
for c in /sys/class/nvme/nvme*; do
	case $(tr -d ' ' < "$c/serial") in
	msnap0) d=/dev/${c##*/}n1 ;;
	msnap1) e=/dev/${c##*/}n1 ;;
	esac
done
[ -b "$d" ] && [ -b "$e" ] || { echo "bench: drives msnap0/msnap1 not found" >&2; exit 1; }

row() { echo "$1,$2,$3,$4,$5,$6" >> "$csv"; }
step() { echo "bench: $(cut -d" " -f1 /proc/uptime) $*" >&2; }
dev_meta() {
	local b=${1#/dev/}
	echo "$(xargs < "/sys/block/$b/device/model") $(($(cat "/sys/block/$b/size") / 2048)) MiB, $(cat "/sys/block/$b/queue/write_cache")"
}

{
	echo "kernel=$(uname -r)"
	echo "device=$(dev_meta "$d") (memsnap); $(dev_meta "$e") (ext4)"
	echo "cpus=$(nproc)"
	echo "quick=$quick"
	echo "num=$num"
	echo "batch_num=$bnum"
	echo "crc32c=$(cat /sys/module/memsnap/parameters/crc32c 2>/dev/null || echo unknown)"
	echo "db_bench_assertions=$(db_bench --benchmarks=fillseq --num=1 --db=/tmp/probe 2>&1 | grep -qa 'Assertions are enabled' && echo yes || echo no)"
} >> "$out/meta"

# options COLUMN: the OPTIONS file every column runs with (db_bench
# ignores --wal_dir and the other option flags when it reads one).  A
# 128 KiB memtable makes RocksDB switch logs during a run, so that WAL
# recycling has logs to recycle.  RocksDB 7.8 turns recycling off unless
# wal_recovery_mode is kSkipAnyCorruptedRecords (it is incompatible with
# the default kPointInTimeRecovery), so ext4_opts sets that too.
options() {
	echo "[Version]"
	echo "  rocksdb_version=7.8.3"
	echo "  options_file_version=1.1"
	echo "[DBOptions]"
	case $1 in
	ext4_opts)
		echo "  recycle_log_file_num=4"
		echo "  allow_fallocate=false"
		echo "  wal_recovery_mode=kSkipAnyCorruptedRecords" ;;
	memsnap_wal)
		echo "  wal_dir=/tmp/m" ;;
	esac
	echo "[CFOptions \"default\"]"
	echo "  write_buffer_size=131072"
	echo "[TableOptions/BlockBasedTable \"default\"]"
}

# bench COLUMN THREADS NAME NUM BENCHMARKS DB: one db_bench run; its
# ops/sec and micros/op to the CSV.
bench() {
	local col=$1 t=$2 name=$3 n=$4 list=$5 db=$6 f rc=0
	f=$runs/$col-$t-$name
	db_bench --benchmarks="$list" --db="$db" --options_file="$runs/$col.ini" \
		--num="$n" --threads="$t" --sync=true --value_size=100 --key_size=16 \
		--seed=1 > "$f.out" 2> "$f.err" || rc=$?
	if [ "$rc" != 0 ]; then
		step "db_bench $col t=$t $list failed ($rc)"
		tail -n 5 "$f.err" >&2
		row rocksdb "$col" "$t" "failed_$name" "$rc" status
		return 0
	fi
	awk -v c="$col" -v t="$t" '$2 == ":" && $4 == "micros/op" && $6 == "ops/sec" {
		printf "rocksdb,%s,%s,%s.ops_per_s,%s,1/s\n", c, t, $1, $5
		printf "rocksdb,%s,%s,%s.us_per_op,%s,us\n", c, t, $1, $3 }' \
		"$f.out" >> "$csv"
}

# fresh COLUMN: new filesystems for the next db_bench run, mounted (the
# ext4 inode tables and journal written now rather than by ext4lazyinit
# during the run).  db_bench deletes an old database but not the logs
# of an old wal_dir, so every run starts from mkfs.
fresh() {
	mountpoint -q /tmp/e && umount /tmp/e
	mountpoint -q /tmp/m && umount /tmp/m
	if [ "$1" != memsnap_all ]; then
		mkfs.ext4 -F -q -E lazy_itable_init=0,lazy_journal_init=0 "$e"
		mount -t ext4 "$e" /tmp/e
	fi
	case $1 in
	memsnap_*) $mkfs -f -q "$d"; mount -t memsnap "$d" /tmp/m ;;
	esac
}

mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
mkdir -p /tmp/e /tmp/m
for t in $threads; do
	for col in $columns; do
		step "$col threads=$t"
		options "$col" > "$runs/$col.ini"
		case $col in
		memsnap_all) db=/tmp/m ;;
		*) db=/tmp/e/db ;;
		esac
		fresh "$col"
		bench "$col" "$t" batch "$bnum" fillbatch "$db"
		fresh "$col"
		bench "$col" "$t" main "$num" "$main_bench" "$db"
		# memsnap's persists during the run (module counters, when it
		# has them): with the writes, how many writers a sync served.
		st=/sys/kernel/debug/memsnap/${d#/dev/}/stats
		p=
		! mountpoint -q /tmp/m || [ ! -r "$st" ] ||
			p=$(awk '$1 == "persists" { print $2 }' "$st")
		[ -z "$p" ] || row rocksdb "$col" "$t" persists "$p" count
		log=$db/LOG
		if [ -r "$log" ]; then
			cp "$log" "$runs/$col-$t.LOG"
			r=$(sed -n 's/.*Options\.recycle_log_file_num: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
			row rocksdb "$col" "$t" recycle_log_file_num "${r:-0}" count
			row rocksdb "$col" "$t" logs_reused "$(grep -ac 'reusing log .* from recycle list' "$log")" count
		fi
	done
done
mountpoint -q /tmp/e && umount /tmp/e
mountpoint -q /tmp/m && umount /tmp/m
echo "bench: done" >&2
