#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# harness_test.sh --kernel REL: host-side tests of the QEMU harness
# (tools/vm/run) itself, in TAP.  Each test boots a guest.
#   - the command's exit status comes back, and its output;
#   - a WARN in the guest kernel fails a run whose command succeeded (a
#     test-only module, memsnap_splat.ko, logs one), and a clean run of the
#     same module does not;
#   - a drive image given by path persists across boots;
#   - power cut on a marker and after a delay; timeout;
#   - a tree under /tmp (hidden by the guest's own tmpfs /tmp) works: its
#     guest-init, module, working directory and results directory.
set -u
# shellcheck source=../lib/vmtap.sh
. "$(dirname "$0")/../lib/vmtap.sh"
vmtap_init harness "$@"
splat=$top/build/testmod/$rel/selftests/harness/splat/memsnap_splat.ko

echo "TAP version 13"
echo "1..10"

vm status -- sh -c 'echo out-marker; echo err-marker >&2; exit 7'
[ "$(rc_of status)" = 7 ]
result $? "exit status of the command is returned" "$work/status.err"
grep -qx out-marker "$work/status.out" && grep -qx err-marker "$work/status.out"
result $? "command output (stdout and stderr) is shown" "$work/status.out"
grep -qE 'boot to first command [0-9.]+ s' "$work/status.err"
result $? "boot time is measured and printed" "$work/status.err"

hostfile=$(mktemp /tmp/msvm-host-XXXXXX)
vm clean -- sh -c "test ! -e $hostfile && touch \"\$MSVM_RESULTS/written\" && grep -q '^memsnap ' /proc/modules"
rm -f "$hostfile"
[ "$(rc_of clean)" = 0 ] && [ -e "$work/clean.d/written" ]
result $? "memsnap.ko loaded, own /tmp, writable results directory" "$work/clean.err" "$work/clean.out"

vm nowarn -- insmod "$splat"
[ "$(rc_of nowarn)" = 0 ] && ! grep -q 'kernel splat' "$work/nowarn.err"
result $? "a module that loads cleanly passes" "$work/nowarn.err" "$work/nowarn.out"

vm warn -- insmod "$splat" warn=1
[ "$(rc_of warn)" = 1 ] && grep -q 'kernel splat' "$work/warn.err" &&
	grep -q 'deliberate warning' "$work/warn.err"
result $? "a WARN in the guest kernel fails a successful command, excerpt shown" "$work/warn.err"

img=$work/persist.img
token=$EPOCHSECONDS-$RANDOM
start=$EPOCHSECONDS
vm cut1 --disk "$img:64M" --kill-on POWER-CUT-NOW -- sh -c \
	"printf persisted-%s $token | dd of=/dev/nvme0n1 conv=fsync status=none &&
	 echo POWER-CUT-NOW && sleep 600; echo not-killed"
[ "$(rc_of cut1)" = 0 ] && grep -q 'power cut on' "$work/cut1.err" &&
	! grep -q not-killed "$work/cut1.out" && [ $((EPOCHSECONDS - start)) -lt 300 ]
result $? "power cut when the command prints a marker" "$work/cut1.err"

vm cut2 --disk "$img" -- sh -c 'head -c 100 /dev/nvme0n1 | tr -d "\0"'
[ "$(rc_of cut2)" = 0 ] && grep -qx "persisted-$token" "$work/cut2.out"
result $? "a drive image given by path persists across boots and power cuts" \
	"$work/cut2.out" "$work/cut2.err"

vm after --kill-after 1 --timeout 300 -- sh -c 'sleep 600; echo not-killed'
vm timeout --timeout 20 -- sh -c 'sleep 600; echo not-killed'
[ "$(rc_of after)" = 0 ] && grep -q 'power cut after 1 s' "$work/after.err" &&
	[ "$(rc_of timeout)" = 124 ] && grep -q 'timed out' "$work/timeout.err"
result $? "power cut after a delay, and timeout, stop the guest" \
	"$work/after.err" "$work/timeout.err"

# A copy of the harness alone, under the host's /tmp, run from a
# directory of it, with its default results directory (in the copy).
copy=$(mktemp -d /tmp/msvm-tree-XXXXXX)
mkdir -p "$copy/tools" "$copy/mod" "$copy/sub"
cp -a "$top/tools/vm" "$top/tools/kernels" "$copy/tools/"
cp "$top/build/mod/$rel/kmod/memsnap.ko" "$copy/mod/"
echo "marker-$token" > "$copy/sub/marker"
(cd "$copy/sub" && env -u MEMSNAP_VM_DIR "$copy/tools/vm/run" --kernel "$rel" \
	--module "$copy/mod/memsnap.ko" --no-disk -- sh -c \
	'cat marker && echo "root=$MEMSNAP_ROOT" && grep -q "^memsnap " /proc/modules &&
	 touch /tmp/guest-own && echo back > "$MSVM_RESULTS/back"') \
	> "$work/tmptree.out" 2> "$work/tmptree.err"
echo $? > "$work/tmptree.rc"
[ "$(rc_of tmptree)" = 0 ] && grep -qx "marker-$token" "$work/tmptree.out" &&
	grep -qx "root=$copy" "$work/tmptree.out" &&
	grep -qx back "$copy"/build/vm/results/*/back && [ ! -e /tmp/guest-own ]
result $? "a tree and results directory under the host's /tmp work in the guest" \
	"$work/tmptree.err" "$work/tmptree.out"
rm -rf "$copy"

echo "# harness: $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
