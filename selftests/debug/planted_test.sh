#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# planted_test.sh --kernel debug: the debug-kernel lane catches real bugs.
# A test-only build of memsnap.ko, from a copy of kmod/ with the patches
# in selftests/debug/plants/ applied (the sources carry no test-only
# code), has two planted bugs on the persist path: a read of a commit
# after the completion work freed it (uaf.patch), and snap_lock taken
# before commit_mutex, the documented order reversed (abba.patch).  One boot of the
# debug kernel with that module runs a small fsync workload, then loads
# the test-only module memsnap_splat.ko with leak=1, which leaks an
# allocation.  The harness must fail the run and show KASAN's
# use-after-free report in msnap_reap_work, lockdep's circular dependency
# report between the two locks, and the leak that kmemleak's scan at the
# end of the run finds.  (That the real module runs clean on this kernel
# is what the guest selftests on it show.)  On any other kernel: SKIP.
set -u
# shellcheck source=../lib/vmtap.sh
. "$(dirname "$0")/../lib/vmtap.sh"
vmtap_init planted "$@"
tools=$top/build/tools

echo "TAP version 13"
if [ "$rel" != debug ]; then
	echo "1..0 # SKIP planted bugs are only caught on --kernel debug"
	exit 0
fi
echo "1..4"

obj=$("$top/tools/debug-kernel") || exit 1
# A patch that no longer applies fails here, not silently.
pm=$work/mod
mkdir -p "$pm"
cp -r "$top/kmod" "$top/include" "$pm/"
for p in "$top"/selftests/debug/plants/*.patch; do
	patch -s -d "$pm" -p1 < "$p" || echo "patch $p does not apply"
done > "$work/build.log" 2>&1
make -s -C "$obj" M="$pm/kmod" W=1 CONFIG_DEBUG_INFO_BTF_MODULES= modules \
	>> "$work/build.log" 2>&1
ko=$pm/kmod/memsnap.ko
[ -e "$ko" ] && ! grep -qE 'warning:|error:|does not apply' "$work/build.log"
result $? "test-only module with the planted bugs (plants/*.patch) builds" "$work/build.log"

splat=$top/build/testmod/debug/selftests/harness/splat/memsnap_splat.ko
if [ ! -e "$splat" ] || [ "$top/selftests/harness/splat/splat.c" -nt "$splat" ]; then
	"$top/tools/mkmodtree" "$top/build/testmod/debug" selftests/harness/splat &&
		make -s -C "$obj" M="$top/build/testmod/debug" \
			CONFIG_DEBUG_INFO_BTF_MODULES= modules >> "$work/build.log" 2>&1
fi

# A few fsyncs: each is an atomic persist (snapshot, bio, completion).
vm planted --module "$ko" --timeout 900 -- bash -c "set -e
	m=/tmp/ms; mkdir -p \$m; d=/dev/nvme0n1
	$tools/mkfs.memsnap -f -q \$d
	mount -t memsnap \$d \$m
	for i in 1 2 3; do
		dd if=/dev/urandom of=\$m/f bs=4k count=8 conv=fsync,notrunc status=none
	done
	umount \$m
	insmod $splat leak=1
	echo workload-done"
con=$work/planted.d/console.log
[ "$(rc_of planted)" = 1 ] && grep -qx workload-done "$work/planted.out" &&
	grep -q 'kernel splat' "$work/planted.err" &&
	grep -qE 'BUG: KASAN: (slab-)?use-after-free in msnap_reap_work' "$con"
result $? "KASAN catches the use-after-free in the commit completion work, the run fails" \
	"$work/planted.out" "$work/planted.err" "$con"

grep -q 'possible circular locking dependency detected' "$con" &&
	grep -A30 'possible circular locking dependency detected' "$con" |
	grep -q 'commit_mutex' &&
	grep -A30 'possible circular locking dependency detected' "$con" |
	grep -q 'snap_lock'
result $? "lockdep catches the commit_mutex/snap_lock inversion" "$con"

grep -q 'kmemleak: memory leaked by memsnap' "$work/planted.err" &&
	grep -q 'splat_leak' "$work/planted.err"
result $? "kmemleak's end-of-run scan finds the test module's leak" "$work/planted.err"

echo "# planted: $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
