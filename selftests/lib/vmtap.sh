# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for host-side TAP tests that boot tools/vm/run guests, sourced
# by selftests/*/*_test.sh:
#   vmtap_init NAME "$@"  parses --kernel REL into $rel, sets $top and a
#                         fresh $work = build/check/REL/NAME
#   vm NAME OPTIONS... -- COMMAND
#                         runs a guest, keeps $work/NAME.{out,err,rc}
#   rc_of NAME            that run's exit status
#   result OK DESCRIPTION [DIAGNOSTIC-FILE...]
#                         one TAP line, diagnostics on failure
# $n counts results and $failed the failures.

vmtap_init() {
	local name=$1
	shift
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	rel=
	while [ $# -gt 0 ]; do
		case "$1" in
		--kernel) rel=$2; shift ;;
		*) echo "usage: $0 --kernel RELEASE" >&2; exit 2 ;;
		esac
		shift
	done
	[ -n "$rel" ] || { echo "usage: $0 --kernel RELEASE" >&2; exit 2; }
	work=$top/build/check/$rel/$name
	rm -rf "$work"
	mkdir -p "$work"
	n=0 failed=0
}

vm() {
	local name=$1
	shift
	"$top/tools/vm/run" --kernel "$rel" --results "$work/$name.d" "$@" \
		> "$work/$name.out" 2> "$work/$name.err"
	echo $? > "$work/$name.rc"
}

rc_of() { cat "$work/$1.rc"; }

result() {
	local ok=$1 desc=$2 f
	shift 2
	n=$((n + 1))
	if [ "$ok" = 0 ]; then
		echo "ok $n $desc"
	else
		failed=$((failed + 1))
		echo "not ok $n $desc"
		for f in "$@"; do
			[ -e "$f" ] && sed 's/^/#   /' "$f" | tail -n 30
		done
	fi
}
