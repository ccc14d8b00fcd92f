#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ports/sqlite/big_test.sh --kernel REL: a database larger than the guest's
# RAM through the SQLite VFS (docs/sqlite.md), in TAP.  One guest with
# 768 MiB of RAM and a 2 GiB drive: 1 GiB of one-page rows in 32 MiB
# transactions (each spills out of SQLite's cache into the mapped file,
# is persisted at COMMIT, and the file grows past its first 1 GiB
# mapping), then unmount, mount, PRAGMA integrity_check and every row
# read back; fsck clean, no OOM kill, soft lockup or warning.  The time
# per transaction (first and last quarter) is a TAP comment, never
# asserted (TCG timings follow the host's load).
set -u
# shellcheck source=../../selftests/lib/vmtap.sh
. "$(dirname "$0")/../../selftests/lib/vmtap.sh"
vmtap_init sqlite-big "$@"
vfsdir=$top/build/ports/sqlite
[ -e "$vfsdir/libmemsnap_sqlite.so" ] || { echo "build the VFS first: make ports" >&2; exit 2; }
bin=$vfsdir/sqlite_big
mkdir -p "$(dirname "$bin")"
gcc -O2 -Wall -Wextra -I"$top/ports/sqlite" -o "$bin" \
	"$top/ports/sqlite/sqlite_big.c" -L"$vfsdir" \
	-Wl,-rpath,"$vfsdir" -lmemsnap_sqlite -lsqlite3 || exit 1
tools=$top/build/tools
mib=1024 txmib=32

echo "TAP version 13"
echo "1..3"

vm run --mem 768 --disk "$work/drive.img:2G" --timeout 2400 -- bash -c "
	set -e; m=/tmp/ms; d=/dev/nvme0n1; mkdir -p \$m
	$tools/mkfs.memsnap -f -q \$d
	mount -t memsnap \$d \$m
	$bin write \$m $mib $txmib
	umount \$m
	mount -t memsnap \$d \$m
	$bin check \$m $mib
	umount \$m
	$tools/fsck.memsnap -n \$d"
rm -f "$work/drive.img"
out=$work/run.out
grep -q '^BIG-OK$' "$out"
result $? "1 GiB database in 768 MiB of RAM: written in 32 MiB transactions, integrity ok and every row read back after remount" \
	"$out" "$work/run.err"
[ "$(rc_of run)" = 0 ]
result $? "no soft lockup, hung task or warning; fsck clean" "$work/run.err" \
	"$work/run.d/console.log"
! grep -qE 'invoked oom-killer|Out of memory' "$work/run.d/console.log"
result $? "no OOM kill" "$work/run.d/console.log"
awk '/^transaction / { t[n++] = $3 }
     END {
	q = int(n / 4)
	for (i = 0; i < q; i++) { f += t[i]; l += t[n - 1 - i] }
	if (q) printf "# ms per 32 MiB transaction: first quarter %.0f, last quarter %.0f\n", f / q, l / q
     }' "$out"
[ "$failed" = 0 ]
