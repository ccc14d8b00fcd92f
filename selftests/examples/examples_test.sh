#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# examples_test.sh --kernel REL: host-side tests of the libmemsnap
# examples (examples/), in TAP.  Boots a guest three times on one
# persistent drive image:
#   1. mkfs, mount, run the counter and the hash table until a power cut;
#   2. after recovery both hold exactly the acknowledged updates (or the
#      one in flight), and they run on until a second power cut;
#   3. the same check again, fsck is clean, and the io_uring example runs
#      and keeps its records across runs.
set -u
# shellcheck source=../lib/vmtap.sh
. "$(dirname "$0")/../lib/vmtap.sh"
vmtap_init examples "$@"
img=$work/drive.img
ex=$top/build/examples
tools=$top/build/tools

# The complete lines of a run's output and of the counter's own output
# file (a power cut may leave half of one).
lines() {
	local f
	for f in "$work/$1.out" "$work/$1.d/counter.out"; do
		[ -e "$f" ] || continue
		if [ -n "$(tail -c 1 "$f")" ]; then
			sed '$d' "$f"
		else
			cat "$f"
		fi
	done
}

# value RUN PROG WHAT: the number in the last "PROG: WHAT N" line, or
# the empty string.
value() {
	lines "$1" | sed -nE "s/^$2: $3 ([0-9]+).*/\\1/p" | tail -n 1
}

# acked RUN PROG: the last acknowledged value, or the start value.
acked() {
	local v
	v=$(value "$1" "$2" acked)
	[ -n "$v" ] || v=$(value "$1" "$2" start)
	echo "${v:-0}"
}

# exact V L: V is L (everything acknowledged) or L + 1 (plus the update
# that was durable when the power went, but not yet acknowledged).
exact() {
	[ -n "$1" ] && { [ "$1" = "$2" ] || [ "$1" = $(($2 + 1)) ]; }
}

# check_cut BEFORE AFTER WHICH: the counter and the hash table that run
# AFTER found hold exactly what run BEFORE acknowledged.
check_cut() {
	local c h c2 h2
	c=$(acked "$1" counter) h=$(acked "$1" hashtable)
	c2=$(value "$2" counter start) h2=$(value "$2" hashtable start)
	exact "$c2" "$c"
	result $? "counter holds the acknowledged increments after $3 ($c acked, ${c2:-none} found)" \
		"$work/$2.out" "$work/$2.err"
	exact "$h2" "$h" && grep -q "^hashtable: start $h2 keys verified" "$work/$2.out"
	result $? "hash table holds the acknowledged keys after $3, pointers intact ($h acked, ${h2:-none} found)" \
		"$work/$2.out" "$work/$2.err"
}

mnt='mkdir -p /tmp/ms && mount -t memsnap /dev/nvme0n1 /tmp/ms'
# The counter writes straight into the shared results directory (each
# line reaches the host when it is printed), and the hash table starts
# once the counter has reported its start value, so that a power cut (on
# a hash-table marker) never comes before it.
both="{ $ex/counter /tmp/ms/counter 1000000 > \$MSVM_RESULTS/counter.out &
	until grep -q '^counter: start' \$MSVM_RESULTS/counter.out 2>/dev/null; do sleep 0.05; done
	$ex/hashtable /tmp/ms/table fill 1000000; }"

echo "TAP version 13"
echo "1..10"

make -s -C "$top/examples" > "$work/build.log" 2>&1 &&
	! grep -q 'warning:' "$work/build.log"
result $? "examples build without warnings" "$work/build.log"

vm run1 --disk "$img:256M" --kill-on "hashtable: acked 150" -- sh -c \
	"$tools/mkfs.memsnap -f -q /dev/nvme0n1 && $mnt && $both; echo not-killed"
[ "$(rc_of run1)" = 0 ] && grep -q 'power cut on' "$work/run1.err" &&
	! grep -q not-killed "$work/run1.out"
result $? "counter and hash table run until a power cut" \
	"$work/run1.err" "$work/run1.out"

h1=$(acked run1 hashtable)
vm run2 --disk "$img" --kill-on "hashtable: acked $((h1 + 100))" -- sh -c \
	"$mnt && $both; echo not-killed"
check_cut run1 run2 "the cut"
[ "$(rc_of run2)" = 0 ] && grep -q 'power cut on' "$work/run2.err" &&
	! grep -q not-killed "$work/run2.out"
result $? "both run on after recovery until a second power cut" \
	"$work/run2.err" "$work/run2.out"

vm run3 --disk "$img" -- sh -c "$mnt && $ex/counter /tmp/ms/counter 0 &&
	$ex/hashtable /tmp/ms/table check &&
	$ex/uring /tmp/ms/uring 300 && $ex/uring /tmp/ms/uring 20 &&
	umount /tmp/ms && $tools/fsck.memsnap -n /dev/nvme0n1 &&
	echo fsck-clean"
check_cut run2 run3 "the second cut"
grep -q '^uring: 300 persists acked, [0-9]* completed while other work went on; 300 copies written; 300 records in all' "$work/run3.out"
result $? "io_uring example overlaps 300 persists with other IO" \
	"$work/run3.out" "$work/run3.err"
grep -q '^uring: start 300 records' "$work/run3.out" &&
	grep -q ' 320 records in all' "$work/run3.out"
result $? "io_uring example's records persist across runs" \
	"$work/run3.out" "$work/run3.err"
[ "$(rc_of run3)" = 0 ] && grep -qx fsck-clean "$work/run3.out"
result $? "fsck clean after the power cuts, guest log clean" \
	"$work/run3.out" "$work/run3.err"

echo "# examples: $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
