#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ports/rocksdb/crash_test.sh --kernel REL [--cycles N | --long]
#                             [--layout wal|all]: RocksDB power cuts, TAP.
# Debian's unmodified RocksDB writes with WriteOptions::sync
# (rdb_crash.cc) and the harness cuts the guest's power at a random
# point, N times (default 20; --long: 200) on the same drive images.
# Layout "wal" (the default, docs/rocksdb.md): the write-ahead log on
# memsnap (the root of a memsnap mount), the database on ext4 on a
# second drive; "all": both in a directory of the memsnap mount.  Each boot
# first checks what the previous cut left: fsck.memsnap -n clean before
# mounting, RocksDB opens the database, every acknowledged key holds its
# value, `ldb checkconsistency` passes (it reads the WAL directory from
# the database's OPTIONS file); then writes again until the next
# cut.  A last boot checks the last cut, closes RocksDB, unmounts, and
# fsck and `sst_dump --command=verify` pass.
set -u
cycles=20 layout=wal
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--cycles) cycles=$2; shift ;;
	--long) cycles=200 ;;
	--layout) layout=$2; shift ;;
	*) args+=("$1") ;;
	esac
	shift
done
# shellcheck source=../../selftests/lib/vmtap.sh
. "$(dirname "$0")/../../selftests/lib/vmtap.sh"
vmtap_init "rocksdb-crash-$layout" "${args[@]}"
[[ $cycles =~ ^[1-9][0-9]*$ ]] || { echo "--cycles needs a positive number" >&2; exit 2; }
case $layout in
wal|all) ;;
*) echo "--layout is wal or all" >&2; exit 2 ;;
esac

echo "TAP version 13"
if [ ! -e /usr/include/rocksdb/db.h ] || ! command -v ldb > /dev/null; then
	echo "1..0 # SKIP librocksdb-dev or rocksdb-tools is not installed (tools/install-deps)"
	exit 0
fi
bin=$top/build/ports/rdb_crash
mkdir -p "$(dirname "$bin")"
g++ -std=c++17 -O2 -Wall -Wextra -o "$bin" "$top/ports/rocksdb/rdb_crash.cc" \
	-lrocksdb || exit 1
echo "1..$((cycles + 2))"
fsck=$top/build/tools/fsck.memsnap
ms=$work/memsnap.img ext=$work/ext4.img
truncate -s 512M "$ms" && "$top/build/tools/mkfs.memsnap" -q "$ms" || exit 1
disks=(--disk "$ms")
m=/tmp/ms
if [ "$layout" = wal ]; then
	truncate -s 512M "$ext" && mkfs.ext4 -q -F "$ext" || exit 1
	disks+=(--disk "$ext")
	db=/tmp/ext wal=$m
else
	# A directory of the mount, as a database on memsnap is kept.
	db=$m/db wal=$m/db
fi

# Guest commands: mount what the layout uses; check what a cut left.
# NVMe controllers probe in any order: each drive is found by its serial.
mounts="for c in /sys/class/nvme/nvme*; do
		case \$(tr -d ' ' < \$c/serial) in
		msnap0) d=/dev/\${c##*/}n1 ;;
		msnap1) e=/dev/\${c##*/}n1 ;;
		esac
	done
	$fsck -n \$d || exit 10
	mkdir -p $m && mount -t memsnap \$d $m && mkdir -p $db || exit 11"
[ "$layout" = all ] || mounts+="
	mount -t ext4 \$e $db || exit 11"
check="$bin check $db $wal \$MSVM_RESULTS/acked || exit 12
	ldb --db=$db checkconsistency || exit 13
	echo CHECKED"

acks=$work/acked
: > "$acks"
for c in $(seq "$cycles"); do
	d=$work/run$c.d
	mkdir -p "$d"
	cp "$acks" "$d/acked"
	mark=$(( (RANDOM % 800) + 100 ))
	pre=$mounts
	[ "$c" = 1 ] || pre+="
	$check"
	vm "run$c" "${disks[@]}" --kill-on POWER-CUT-NOW --timeout 600 -- bash -c "
		$pre
		exec $bin run $db $wal \$MSVM_RESULTS/acked $c $mark"
	ok=1 what=
	if [ "$(rc_of "run$c")" = 0 ] && grep -q 'power cut on' "$work/run$c.err" &&
	   [ "$(wc -l < "$d/acked")" -ge "$(( $(wc -l < "$acks") + mark ))" ]; then
		ok=0
		if [ "$c" != 1 ]; then
			grep -qx CHECKED "$work/run$c.out" || ok=1
			what="previous cut: fsck clean, every acknowledged key there, ldb consistent; "
		fi
	fi
	result "$ok" "cycle $c: ${what}power cut after $mark acknowledged sync writes" \
		"$work/run$c.err" "$work/run$c.out"
	cp "$d/acked" "$acks"
done
vm last "${disks[@]}" --timeout 600 -- bash -c "$mounts
	$check
	umount $m && { [ $layout = all ] || umount $db; } &&
	$fsck -n \$d || exit 14
	mount -t memsnap \$d $m || exit 15
	[ $layout = all ] || mount -t ext4 \$e $db || exit 15
	echo \"sst files: \$(ls $db | grep -c '\\.sst\$')\"
	for f in $db/*.sst; do
		[ -e \"\$f\" ] || continue
		sst_dump --file=\"\$f\" --command=verify > /dev/null || exit 16
	done
	echo SST-VERIFIED"
[ "$(rc_of last)" = 0 ] && grep -qx CHECKED "$work/last.out" &&
	grep -qx SST-VERIFIED "$work/last.out"
result $? "last cut: every acknowledged key there; clean unmount, fsck clean, every SST verifies" \
	"$work/last.out" "$work/last.err"
grep '^sst files: ' "$work/last.out" | sed 's/^/# /'
"$fsck" -n "$ms" > "$work/fsck.out" 2>&1
result $? "memsnap drive image fsck-clean on the host" "$work/fsck.out"
echo "# rocksdb power cuts ($layout): $cycles cycles, $(awk '{ n += $2 - $1 + 1 } END { print n + 0 }' "$acks") acknowledged keys, $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
