#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# msnapctl_test.sh --kernel REL [--long]: msnapctl's tests (msnapctl(8),
# docs/msnapctl.md) in one guest, in TAP: msnapctl_guest.sh's results as
# it prints them, then one for the guest's exit status and kernel log.
# The CI mode takes 2.5 to 3.5 minutes per kernel under TCG; --long
# (ten incremental checkpoints, three restore cycles, run until ten
# checkpoints) more.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
rel='' long=''
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) rel=$2; shift ;;
	--long) long=--long ;;
	*) echo "usage: $0 --kernel RELEASE [--long]" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$rel" ] || { echo "usage: $0 --kernel RELEASE [--long]" >&2; exit 2; }
work=$top/build/check/$rel/msnapctl
rm -rf "$work"
mkdir -p "$work"

echo "TAP version 13"
"$top/tools/vm/run" --kernel "$rel" --results "$work/vm" --timeout 1800 -- \
	"$top/selftests/msnapctl/msnapctl_guest.sh" ${long:+"$long"} \
	> "$work/out" 2> "$work/err" &
vm=$!
tail -n +1 -s 0.5 -F --pid=$vm "$work/out" 2>/dev/null | grep -E '^(ok|not ok|#)'
wait $vm
rc=$?
k=$(grep -cE '^(ok|not ok) ' "$work/out")
if [ "$rc" = 0 ]; then
	echo "ok $((k + 1)) msnapctl guest on $rel: exit status 0, kernel log clean"
else
	echo "not ok $((k + 1)) msnapctl guest on $rel: exit status $rc"
	tail -n 30 "$work/err" | sed 's/^/#   /'
fi
echo "1..$((k + 1))"
[ "$rc" = 0 ]
