#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ports/sqlite/crash_test.sh --kernel REL [--cycles N]: the power-cut loop of
# the SQLite VFS (docs/sqlite.md).  sqlite_crash.c runs transactions
# (synchronous=FULL, cache spills, a growing file) on a database opened
# through the memsnap VFS, and the harness cuts the guest's power at a
# random point after some commits, N times (default 20) on the same
# drive image.  Each boot first checks what the previous cut left:
# fsck.memsnap -n clean, PRAGMA integrity_check ok, and the database is
# exactly the last acknowledged transaction (or the next one, whose
# COMMIT was durable before it returned).  A last boot checks the last
# cut and a clean remount.  TAP: one line per cycle.
set -u
cycles=20
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--cycles) cycles=$2; shift ;;
	*) args+=("$1") ;;
	esac
	shift
done
# shellcheck source=../../selftests/lib/vmtap.sh
. "$(dirname "$0")/../../selftests/lib/vmtap.sh"
vmtap_init sqlite-crash "${args[@]}"
[[ $cycles =~ ^[1-9][0-9]*$ ]] || { echo "--cycles needs a positive number" >&2; exit 2; }
vfsdir=$top/build/ports/sqlite
[ -e "$vfsdir/libmemsnap_sqlite.so" ] || { echo "build the VFS first: make ports" >&2; exit 2; }
bin=$vfsdir/sqlite_crash
mkdir -p "$(dirname "$bin")"
gcc -O2 -Wall -Wextra -I"$top/ports/sqlite" -o "$bin" \
	"$top/ports/sqlite/sqlite_crash.c" -L"$vfsdir" \
	-Wl,-rpath,"$vfsdir" -lmemsnap_sqlite -lsqlite3 || exit 1
img=$work/drive.img
fsck=$top/build/tools/fsck.memsnap
mkfs=$top/build/tools/mkfs.memsnap

# check ACKFILE: the guest-side check of the state a cut left.
check() {
	echo "$fsck -n /dev/nvme0n1 || exit 10
	mkdir -p /tmp/m && mount -t memsnap /dev/nvme0n1 /tmp/m || exit 11
	$bin check /tmp/m $1 || exit 12"
}

echo "TAP version 13"
echo "1..$((cycles + 2))"
truncate -s 512M "$img" && "$mkfs" -q "$img"
prev=
for c in $(seq "$cycles"); do
	d=$work/run$c.d
	mkdir -p "$d"
	mark=$(( (RANDOM % 20) + 2 ))
	pre="mkdir -p /tmp/m && mount -t memsnap /dev/nvme0n1 /tmp/m || exit 11"
	[ -z "$prev" ] || pre=$(check "$prev")
	vm "run$c" --disk "$img" --kill-on POWER-CUT-NOW --timeout 600 -- bash -c "
		$pre
		exec $bin run /tmp/m \$MSVM_RESULTS/acked $mark"
	ok=1 what=
	if [ "$(rc_of "run$c")" = 0 ] && grep -q 'power cut on' "$work/run$c.err" &&
	   [ "$(wc -l < "$d/acked")" -ge "$mark" ]; then
		ok=0
		if [ -n "$prev" ]; then
			grep -q '^CHECKED ' "$work/run$c.out" || ok=1
			what="previous cut: $(grep -o 'database at [0-9]*' "$work/run$c.out"), "
		fi
	fi
	result "$ok" "cycle $c: ${what}power cut after $mark acknowledged commits" \
		"$work/run$c.err" "$work/run$c.out"
	cp "$d/acked" "$work/acked$c"
	prev=$work/acked$c
done
vm last --disk "$img" --timeout 600 -- bash -c "$(check "$prev")
	umount /tmp/m && $fsck -n /dev/nvme0n1 || exit 13
	mount -t memsnap /dev/nvme0n1 /tmp/m || exit 14
	$bin check /tmp/m $prev || exit 15
	umount /tmp/m"
[ "$(rc_of last)" = 0 ] && [ "$(grep -c '^CHECKED ' "$work/last.out")" = 2 ]
result $? "last cut recovered: integrity ok, exactly the acknowledged commits; clean remount checked" \
	"$work/last.out" "$work/last.err"
"$fsck" -n "$img" > "$work/fsck.out" 2>&1
result $? "drive image fsck-clean on the host" "$work/fsck.out"
echo "# sqlite power cuts: $cycles cycles, $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
