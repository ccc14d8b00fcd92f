#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/fuzz/make_corpus.sh [--kernel K]: regenerate the seed corpus of
# format_fuzz (tools/fuzz/corpus/) from real images: mkfs alone, and a
# small workload in the test guest (corpus_workload.py) copied while
# mounted (checkpoint plus log records) and after unmount.  Each image is
# stored compactly by img2seed.py, with and without the fix-CRC flag.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
kernel=()
[ "${1:-}" = --kernel ] && kernel=(--kernel "$2")
work=$top/build/fuzz/corpus-work
corpus=$top/tools/fuzz/corpus
rm -rf "$work" && mkdir -p "$work" "$corpus"
truncate -s 8M "$work/mkfs.img"
"$top/build/tools/mkfs.memsnap" -f -q "$work/mkfs.img"
"$top/tools/vm/run" "${kernel[@]}" --quiet --disk "$work/disk.img:8M" \
	--results "$work" -- python3 "$top/tools/fuzz/corpus_workload.py" "$work"
for img in mkfs mounted clean; do
	"$top/build/tools/fsck.memsnap" -n "$work/$img.img" > /dev/null
	python3 "$top/tools/fuzz/img2seed.py" "$work/$img.img" "$corpus/$img" 0
	python3 "$top/tools/fuzz/img2seed.py" "$work/$img.img" "$corpus/$img-fixcrc" 1
done
ls -l "$corpus"
