#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# format_test.sh: host-side tests of mkfs.memsnap and fsck.memsnap on image
# files, in TAP.  No kernel needed.  Each corruption is injected by
# msnapimg.py (which knows the format independently of tools/lib) and
# must make fsck exit 4 naming the structure; the log tests write commit
# records and check how fsck replays them.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
mkfs=$top/build/tools/mkfs.memsnap
fsck=$top/build/tools/fsck.memsnap
work=$top/build/check/format
img=$work/fs.img
n=0 failed=0

make -s -C "$top" tools >/dev/null || { echo "Bail out! tools do not build"; exit 1; }
rm -rf "$work"
mkdir -p "$work"

inject() { python3 "$top/selftests/tools/msnapimg.py" "$img" "$@"; }
sbf() { inject sb "$1"; }

result() {
	# result OK DESCRIPTION: one TAP line, with the last output on failure.
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n $2"
	else
		failed=$((failed + 1))
		echo "not ok $n $2"
		sed 's/^/#   /' "$work/out" | tail -n 20
	fi
}

run() {
	# run CMD...: output to $work/out, status to $rc.
	"$@" > "$work/out" 2>&1
	rc=$?
}

expect() {
	# expect STATUS PATTERN DESCRIPTION: $rc and the output of the last run.
	[ "$rc" = "$1" ] && grep -qE -- "$2" "$work/out"
	result $? "$3"
}

# shellcheck disable=SC2120 # SIZE is optional; no caller needs it today
fresh() {
	# fresh [SIZE]: a new image with a new filesystem.
	rm -f "$img"
	truncate -s "${1:-64M}" "$img"
	"$mkfs" -q "$img" || echo "# mkfs failed"
}

# fsck_bad PATTERN DESCRIPTION: fsck reports PATTERN and exits 4.
fsck_bad() {
	run "$fsck" "$img"
	expect 4 "$1" "$2"
}

echo "TAP version 13"

# ---- mkfs ----
rm -f "$img"
truncate -s 64M "$img"
run "$mkfs" -L testlabel "$img"
expect 0 '^label: +testlabel$' "mkfs on a fresh image shows the label"
grep -qE '^uuid: +[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' "$work/out"
result $? "mkfs shows a version 4 uuid"
ok=0
for item in device size blocks 'log size' 'data blocks'; do
	grep -q "^$item:" "$work/out" || { ok=1; break; }
done
result $ok "mkfs summary has device, size, blocks, log size, data blocks"
nonce=$(sbf log_nonce)
grep -qE '^format: +version 2, features: log_nonce dirs$' "$work/out" &&
	grep -qx "log nonce: *$(printf %016x "$nonce")" "$work/out" &&
	[ "$nonce" != 0 ] && [ "$(sbf version)" = 2 ] &&
	[ "$(sbf incompat)" = 3 ] && [ "$(inject sb log_nonce)" = "$nonce" ]
result $? "mkfs writes format 2 with LOG_NONCE, DIRS (the default) and a log nonce, and says so"
run "$fsck" "$img"
expect 0 'clean' "fsck of a fresh filesystem: clean, exit 0"
run "$fsck" -v "$img"
expect 0 '^records replayed: +0' "fsck -v prints a summary"
cp "$img" "$work/before"
run "$fsck" -y "$img"
cmp -s "$img" "$work/before"
result $((rc + $?)) "fsck -y of a clean filesystem changes nothing, exit 0"
run "$fsck" -p "$img"
cmp -s "$img" "$work/before"
result $((rc + $?)) "fsck -p of a clean filesystem changes nothing, exit 0"

run "$mkfs" "$img"
expect 1 '^mkfs.memsnap: .*contains a memsnap filesystem' "mkfs refuses an existing memsnap filesystem"
run "$mkfs" -f -q "$img"
[ "$rc" = 0 ] && [ ! -s "$work/out" ] && "$fsck" "$img" >/dev/null
result $? "mkfs -f -q overwrites it, silently"
if command -v mkfs.ext4 >/dev/null; then
	mkfs.ext4 -q -F "$img" >/dev/null 2>&1
	run "$mkfs" "$img"
	expect 1 'contains a filesystem of type ext4' "mkfs refuses an ext4 image"
	run "$mkfs" -f -q "$img"
	[ "$rc" = 0 ] && ! blkid -p "$img" >/dev/null 2>&1 && "$fsck" "$img" >/dev/null
	result $? "mkfs -f over ext4 leaves no ext4 signature"
else
	echo "ok $((n += 1)) # SKIP no mkfs.ext4"
	echo "ok $((n += 1)) # SKIP no mkfs.ext4"
fi
ok=0
for bad in 3M 128K 32M abc 1X 0 -4M; do
	run "$mkfs" -f --log-size "$bad" "$img"
	if ! { [ "$rc" = 1 ] && [ "$(wc -l < "$work/out")" = 1 ] &&
	       grep -q '^mkfs.memsnap: .*log size' "$work/out"; }; then
		ok=1
		break
	fi
done
result $ok "mkfs rejects bad --log-size values with one line, exit 1"
run "$mkfs" -f -q --log-size 16M "$img"
[ "$rc" = 0 ] && [ "$(sbf log_blocks)" = 4096 ]
result $? "mkfs --log-size 16M makes a 4096-block log"
truncate -s 4M "$work/small.img"
run "$mkfs" -q "$work/small.img"
[ "$rc" = 0 ] && "$fsck" "$work/small.img" >/dev/null
result $? "mkfs accepts a 4 MiB device; fsck finds it clean"
truncate -s 4095K "$work/tiny.img"
run "$mkfs" "$work/tiny.img"
expect 1 'too small' "mkfs refuses a device under 4 MiB"
run "$mkfs" "$work/missing.img"
expect 1 '^mkfs.memsnap: cannot open .*No such file' "mkfs reports a missing file"
run "$mkfs"
expect 1 'usage' "mkfs without a device prints the usage"

# ---- fsck: usage and operational errors ----
run "$fsck"
expect 16 'usage' "fsck without a device: usage error, exit 16"
run "$fsck" -Z "$img"
expect 16 'usage' "fsck with an unknown option: exit 16"
run "$fsck" -n -y "$img"
expect 16 'only one of -n, -p' "fsck -n -y: usage error, exit 16"
run "$fsck" --help
expect 0 '^usage: fsck.memsnap' "fsck --help prints the usage, exit 0"
run "$fsck" --version
expect 0 '^fsck.memsnap [0-9]' "fsck --version prints the version, exit 0"
run "$fsck" "$work/missing.img"
expect 8 'cannot open' "fsck of a missing file: exit 8"
rm -f "$img"
truncate -s 16M "$img"
fsck_bad 'superblock A .*bad magic' "fsck of a zeroed image: exit 4"

# ---- superblocks ----
fresh
inject flip 0 200
fsck_bad '^fsck.memsnap: superblock A \(block 0\): bad CRC' "bit flip in superblock A: reported"
grep -c '^fsck.memsnap:' "$work/out" | grep -qx 1
result $? "bit flip in superblock A: B is used and the rest is clean"
inject flip 1 200
fsck_bad 'superblock B \(block 1\): bad CRC' "both superblocks corrupted: exit 4"
fresh
inject set 0 300 '<I' 1
fsck_bad 'superblock A .*reserved bytes not zero' "superblock reserved byte set (CRC recomputed)"
fresh
inject set 0 32 '<Q' 0x100
fsck_bad 'superblock A .*unknown incompat features 0x100' "unknown incompat feature"
fresh
inject set 0 16 '<Q' 1
fsck_bad 'unknown compat' "unknown compat feature"
fresh
inject set 0 168 '<Q' $(( $(sbf data_start) + 1 ))
fsck_bad 'superblock A .*expected' "inconsistent geometry"
fresh
truncate -s 32M "$img"
fsck_bad 'more than the device' "device shorter than the filesystem"
fresh
inject set 0 176 '<Q' 1
fsck_bad 'both have generation 1' "superblocks with equal generations"

# ---- format version 2 ----
fresh
inject set 0 12 '<I' 1
inject set 1 12 '<I' 1
run "$fsck" "$img"
expect 8 '^fsck.memsnap: .*format version 1, .*re-create the filesystem with mkfs.memsnap$' \
	"a version 1 image is refused with a message to re-run mkfs, exit 8"
[ "$(wc -l < "$work/out")" = 1 ]
result $? "a version 1 image: one line"
fresh
inject set 0 276 '<I' 1
fsck_bad 'superblock A .*reserved bytes not zero' "superblock reserved32 set (CRC recomputed)"
fresh
inject set 0 32 '<Q' 0
fsck_bad 'superblock A .*no log nonce' "superblock without INCOMPAT_LOG_NONCE"
fresh
inject set 0 256 '<Q' 0
fsck_bad 'superblock A .*no log nonce' "superblock with log nonce 0"
fresh
inject set 0 124 '<I' 3
inject set 0 264 '<Q' 1700000000
inject set 0 272 '<I' 5
fsck_bad '^fsck.memsnap: superblock A: error state recorded: error 5 \(Input/output error\) at 2023-11-14 22:13:20 UTC$' \
	"a recorded error state is reported with its code and time, exit 4"
grep -c '^fsck.memsnap:' "$work/out" | grep -qx 1
result $? "a recorded error state: the only problem"

# ---- checkpoint structures ----
fresh
ds=$(sbf data_start)
bm=$(sbf bitmap_start)
bb=$(sbf bitmap_blocks)
inject flip "$ds" 1000
fsck_bad "^fsck.memsnap: inode tree node at block $ds: bad CRC" "inode tree node CRC"
fresh
inject flip $((ds + 1)) 1000
fsck_bad "^fsck.memsnap: inode 1 \(block $((ds + 1))\): bad CRC" "root inode block CRC"
fresh
inject set $((ds + 1)) 3500 '<B' 1
fsck_bad "inode 1 .*reserved bytes not zero" "inode reserved byte set (CRC recomputed)"
fresh
inject set "$ds" 50 '<B' 1
fsck_bad "inode tree node .*reserved bytes not zero" "node reserved byte set (CRC recomputed)"
fresh
inject set "$ds" 36 '<I' 2
fsck_bad "inode tree node .*used 2, but 1 slots" "node used count wrong"
fresh
inject flip "$bm" 100
fsck_bad "bitmap copy 0 block 0 \(block $bm\): bad CRC" "current bitmap block CRC"
fresh
inject flip $((bm + bb)) 100
fsck_bad "bitmap copy 1 block 0 .*bad CRC" "stale bitmap copy CRC"
fresh
inject bit $((ds + 7)) 1
fsck_bad "block $((ds + 7)): used in the bitmap but not referenced" "bitmap bit set: used but not referenced"
grep -q 'free_blocks is' "$work/out"
result $? "bitmap bit set: free_blocks mismatch reported"
fresh
inject bit $((ds + 1)) 0
fsck_bad "block $((ds + 1)): referenced \(inode 1\) but free" "bitmap bit cleared: referenced but free"

# ---- files in the checkpoint ----
fresh
inject addfile 2 alpha 8192 2
inject addfile 3 beta 100 0
run "$fsck" -v "$img"
expect 0 '^files: +2$' "checkpoint with two files: clean"
inject addfile 4 alpha 0 0
fsck_bad 'name "alpha" is used by 2 files' "duplicate name"
fresh
inject addfile 2 alpha 4096 2
fsck_bad 'inode 2: page 1 mapped beyond the end' "page mapped beyond the file size"
fresh
inject addfile 2 'a/b' 0 0
fsck_bad 'inode 2 .*invalid name' "invalid name"
fresh
inject addfile 2 alpha 0 0
inject set 0 232 '<Q' 5
fsck_bad 'inodes is 5, but there are 1 files' "superblock inode count wrong"

# ---- log replay ----
fresh
ds=$(sbf data_start)
inject addfile 2 alpha 8192 2
inject log 1 0 inode:5:100600:4096 name:5:new "data:5:0:$((ds + 100))" \
	"data:2:1:$((ds + 101))"
inject log 2 1 trunc:2:1:4096 unlink:5
run "$fsck" -v "$img"
expect 0 '^records replayed: +2 ' "two valid log records are replayed"
inject flip $((ds + 101)) 7
run "$fsck" -v "$img"
expect 0 '^records replayed: +0 .*' "a record whose data does not match its CRC ends the log"
inject flip $((ds + 101)) 7
inject flip $(( $(sbf log_start) + 1 )) 100
run "$fsck" -v "$img"
expect 0 '^records replayed: +1 ' "a torn record ends the log, not an error"
ls=$(sbf log_start)
inject set $((ls + 1)) 32 '<Q' $(( $(sbf log_nonce) == 12345 ? 54321 : 12345 ))
run "$fsck" -v "$img"
expect 0 '^log ends at: +log block 1: nonce of another log \(stale record\)' \
	"a record with another log's nonce ends the log, not an error"
grep -qE '^records replayed: +1 ' "$work/out"
result $? "a record with another nonce: the records before it replay"
inject log 2 1 trunc:2:1:4096 unlink:5
inject set $((ls + 1)) 40 '<B' 1
run "$fsck" -v "$img"
expect 0 '^log ends at: +log block 1: reserved bytes not zero' \
	"a log block with reserved bytes set ends the log, as in the kernel"
inject log 2 1 "data:2:0:$((ds + 2))"
fsck_bad 'log record 2 .*block '$((ds + 2))' in use in the checkpoint' "log reuses a checkpoint block"
inject log 2 1 "data:2:0:$((ds + 101))"
fsck_bad 'written twice since the checkpoint' "log writes one block twice"
inject log 2 1 inode:6:100600:0
fsck_bad 'inode 6 has no name' "log creates a file with no name"
inject log 2 1 inode:6:100600:0 name:6:alpha
fsck_bad 'name "alpha" is used by 2 files' "log makes a duplicate name"
inject log 2 1 inode:2:40755:8192
fsck_bad 'INODE for inode 2: changes the type from regular file to directory' "log gives a file a directory's mode"
inject log 2 1 inode:2:100644:4096
fsck_bad 'inode 2 maps pages beyond its size 4096' "log shrinks a file without truncating"
inject log 2 1 "data:9:0:$((ds + 300))"
fsck_bad 'DATA for inode 9: no such file' "log writes to a file that does not exist"

# ---- repair ----
newest() { inject newest "$1"; }
saved() { cp "$img" "$work/before"; }
unchanged() { cmp -s "$img" "$work/before"; }
# repaired DESCRIPTION: the last run exited 1, and fsck -n is clean now.
repaired() {
	[ "$rc" = 1 ] && grep -q 'corrected\|replayed' "$work/out" &&
		"$fsck" -n "$img" > "$work/out2" 2>&1
	result $? "$1"
}
# cut_short DESCRIPTION: the repair's new superblock put back as it was
# (a repair cut before its last write) leaves the old image as fsck saw it.
cut_short() {
	local slot
	[ "$(inject sb generation)" = "$(newest generation)" ] && slot=0 || slot=1
	cp "$img" "$work/cut.img"
	dd if="$work/before" of="$work/cut.img" bs=4096 skip=$slot seek=$slot \
		count=1 conv=notrunc status=none
	"$fsck" -v "$work/before" > "$work/o1" 2>&1; r1=$?
	"$fsck" -v "$work/cut.img" > "$work/o2" 2>&1; r2=$?
	[ "$r1" = "$r2" ] &&
		diff <(grep -v "^$work" "$work/o1") <(grep -v "^$work" "$work/o2") > "$work/out"
	result $? "$1"
}

fresh
ds=$(sbf data_start)
inject bit $((ds + 7)) 1
saved
run "$fsck" -p "$img"
repaired "-p frees a leaked block: exit 1, then -n is clean"
[ "$(newest free_blocks)" = "$(sbf free_blocks)" ] &&
	cmp -s <(dd if="$img" bs=4096 count=1 status=none) <(dd if="$work/before" bs=4096 count=1 status=none) &&
	[ "$(newest generation)" = 3 ] && [ "$(inject sb generation)" = 2 ]
result $? "-p frees it, writes the other superblock (generation 3), leaves the one in use"
cut_short "a repair cut before its superblock write leaves the old image intact"
run "$fsck" -p "$img"
expect 0 'clean' "-p again: nothing to do, exit 0"

fresh
inject addfile 2 alpha 8192 2
inject log 1 0 inode:5:100600:4096 name:5:new "data:5:0:$((ds + 100))" \
	"data:2:1:$((ds + 101))"
inject log 2 1 trunc:2:1:4096
nonce=$(sbf log_nonce)
saved
run "$fsck" -p "$img"
repaired "-p replays a log with records into a checkpoint: exit 1, then -n is clean"
"$fsck" -v "$img" > "$work/out" 2>&1
grep -qE '^records replayed: +0 ' "$work/out" && grep -qE '^files: +2$' "$work/out" &&
	[ "$(newest ckpt_seq)" = 2 ] && [ "$(newest log_head)" = 2 ] &&
	[ "$(newest log_nonce)" != "$nonce" ] && [ "$(newest log_nonce)" != 0 ] &&
	[ "$(newest free_blocks)" = $(( $(sbf free_blocks) - 2 )) ]
result $? "the new checkpoint: ckpt_seq 2, log_head 2, a new nonce, the log's file and pages"
cut_short "a log replay cut before its superblock write leaves the log replayable"

fresh
inject set 0 124 '<I' 3
inject set 0 264 '<Q' 1700000000
inject set 0 272 '<I' 117
run "$fsck" -p "$img"
repaired "-p clears a recorded error once the image checks out: exit 1, then -n is clean"
[ "$(newest state)" = 1 ] && [ "$(newest error_code)" = 0 ] && [ "$(newest error_time)" = 0 ]
result $? "the repaired superblock: clean, error_code and error_time 0"

fresh
inject addfile 2 alpha 8192 2
inject log 1 0 inode:5:100600:0 name:5:new
inject log 2 1 "data:9:0:$((ds + 300))"
inject log 3 2 inode:6:100600:0 name:6:newer
run "$fsck" -p "$img"
repaired "-p cuts the log at an intact record that breaks the rules: exit 1, then -n is clean"
[ "$(newest ckpt_seq)" = 1 ] && "$fsck" -v "$img" | grep -qE '^files: +2$'
result $? "the log was cut before the bad record: record 1 kept, 2 and 3 gone"

fresh
inject flip "$(sbf bitmap_start)" 100
run "$fsck" -p "$img"
repaired "-p rewrites an unreadable bitmap block from the trees"

fresh
inject flip 1 200
run "$fsck" -p "$img"
repaired "-p rewrites an invalid superblock B"

fresh
inject addfile 2 alpha 8192 2
inject addfile 3 beta 100 0
inject flip $((ds + 2)) 1000
saved
run "$fsck" -p "$img"
expect 4 'run fsck.memsnap -y; nothing changed' "-p leaves an unreadable inode alone: exit 4"
unchanged
result $? "-p that does not repair: the image is byte for byte unchanged"
run "$fsck" -y "$img"
repaired "-y drops the file whose inode cannot be read: exit 1, then -n is clean"
"$fsck" -v "$img" | grep -qE '^files: +1$'
result $? "-y kept the readable file"

fresh
inject addfile 2 alpha 0 0
inject addfile 4 alpha 0 0
run "$fsck" -y "$img"
repaired "-y renames one of two files with the same name: exit 1, then -n is clean"
grep -q '1 file renamed' "$work/out"
result $? "-y says it renamed a file"

fresh
inject addfile 2 alpha 4096 2
run "$fsck" -y "$img"
repaired "-y drops a page mapped beyond the end of the file"

fresh
inject flip 0 200
inject flip 1 200
saved
run "$fsck" -y "$img"
expect 4 'cannot repair' "-y with no valid superblock: exit 4"
unchanged
result $? "-y that cannot repair: the image is byte for byte unchanged"
inject set 0 12 '<I' 1
inject set 1 12 '<I' 1
saved
run "$fsck" -y "$img"
expect 8 'format version 1' "-y of a version 1 image: exit 8"
unchanged
result $? "-y of a version 1 image: unchanged"

fresh
inject log 1 0 inode:5:100600:4096 name:5:new "data:5:0:$((ds + 100))"
inject flip $((ds + 1)) 1000
fsck_bad "root directory \\(inode 1\\) missing" "an unreadable root directory: fsck says it is missing, exit 4"
run "$fsck" -y "$img"
repaired "-y re-creates an unreadable root directory: exit 1, then -n is clean"
"$fsck" -v "$img" | grep -qE '^files: +1$'
result $? "-y replays the log into the re-created root: the log's file is kept"

# ---- feature DIRS ----
# nodirs: a new image made with -O ^dirs (the flat namespace).
nodirs() {
	rm -f "$img"
	truncate -s 64M "$img"
	"$mkfs" -q -O ^dirs "$img" || echo "# mkfs -O ^dirs failed"
}
# tree: the default image with directory 3 ("d") holding file 4 ("f").
tree() {
	fresh
	inject addinode 3 mode=40755 name=d
	inject addinode 4 name=f parent=3
}
rm -f "$img"
truncate -s 64M "$img"
run "$mkfs" -O ^dirs "$img"
[ "$rc" = 0 ] && grep -qE '^format: +version 2, features: log_nonce$' "$work/out" &&
	[ "$(sbf incompat)" = 1 ]
result $? "mkfs -O ^dirs makes an image without DIRS, and says so"
run "$fsck" "$img"
expect 0 'clean' "fsck of a -O ^dirs filesystem: clean"
run "$mkfs" -f -q -O ^dirs,dirs "$img"
[ "$rc" = 0 ] && [ "$(sbf incompat)" = 3 ]
result $? "mkfs -O ^dirs,dirs: the last word wins"
ok=0
for bad in dirs,bogus ^log_nonce '' ','; do
	run "$mkfs" -f -O "$bad" "$img"
	if ! { [ "$rc" = 1 ] && [ "$(wc -l < "$work/out")" = 1 ] &&
	       grep -q '^mkfs.memsnap: .*feature' "$work/out"; }; then
		ok=1
		break
	fi
done
result $ok "mkfs rejects an unknown, required or empty -O feature with one line, exit 1"
run "$mkfs" -f -O bogus "$img"
expect 1 "^mkfs.memsnap: unknown feature 'bogus'" "mkfs names the unknown feature"

nodirs
ds=$(sbf data_start)
inject set $((ds + 1)) 376 '<Q' 1
fsck_bad "inode 1 .*reserved bytes not zero" "without DIRS: a parent in the inode tail is a reserved byte"
nodirs
inject set $((ds + 1)) 400 '<B' 0x61
fsck_bad "inode 1 .*reserved bytes not zero" "without DIRS: a symlink byte in the inode tail is a reserved byte"
nodirs
inject log 1 0 inode:5:100600:0 dirent:5:1:x
fsck_bad 'log record 1 .*DIRENT for inode 5: entry of feature DIRS on an image without it' "DIRENT on an image without DIRS: corruption"
nodirs
inject addfile 2 alpha 0 0
inject log 1 0 link:5:2:1:x
fsck_bad 'LINK for inode 5: entry of feature DIRS' "LINK on an image without DIRS: corruption"
nodirs
inject log 1 0 inode:5:100600:0 name:5:x "symlink:5:abc"
fsck_bad 'SYMLINK for inode 5: entry of feature DIRS' "SYMLINK on an image without DIRS: corruption"
nodirs
inject log 1 0 inode:5:100600:0:7 name:5:x
run "$fsck" -v "$img"
expect 0 '^log ends at: +log block 0: malformed entry' "without DIRS: INODE's rdev word is reserved (end of the log)"
nodirs
inject addfile 2 alpha 8192 2
inject log 1 0 inode:2:40755:8192
fsck_bad 'INODE for inode 2: mode is not a regular' "without DIRS: INODE with a directory's mode"
nodirs
inject addinode 2 mode=40755 name=d
fsck_bad 'inode 2 .*mode is not a regular' "without DIRS: a directory in the checkpoint"

tree
inject addinode 5 mode=0 flags=2 link_target=4 name=l parent=3
inject addinode 6 mode=120777 name=s symlink=some/where
inject addinode 7 mode=20644 name=c rdev=0x801
inject addinode 8 mode=60600 name=b rdev=0x700
inject addinode 9 mode=10644 name=p
inject addinode 10 mode=140755 name=sock
inject addinode 11 name=f
run "$fsck" -v "$img"
expect 0 '^files: +9$' "DIRS checkpoint with a directory, link inode, symlink, devices, FIFO, socket, and one name in two directories: clean"
saved
run "$fsck" -y "$img"
unchanged
result $? "fsck -y of that clean DIRS image changes nothing"

tree
inject addinode 9 mode=160644
fsck_bad 'inode 9 \(block [0-9]+\): unknown file type' "DIRS: an unknown file type"
tree
inject addinode 9 mode=100644 flags=2 link_target=4
fsck_bad 'inode 9 .*link inode with attributes' "DIRS: a link inode with attributes"
tree
inject addinode 9 mode=0 flags=2
fsck_bad 'inode 9 .*link inode without a target' "DIRS: a link inode without a target"
tree
inject addinode 9 mode=0 flags=2 link_target=3
fsck_bad '^fsck.memsnap: link inode 9: target 3 is a directory' "DIRS: a link inode naming a directory"
tree
inject addinode 9 mode=0 flags=2 link_target=40
fsck_bad '^fsck.memsnap: link inode 9: target 40 does not exist' "DIRS: a link inode naming nothing"
tree
inject addinode 9 mode=0 flags=2 link_target=4
inject addinode 12 mode=0 flags=2 link_target=9
fsck_bad '^fsck.memsnap: link inode 12: target 9 is a link inode' "DIRS: a link inode naming a link inode"
tree
inject addinode 9 link_target=4
fsck_bad 'inode 9 .*link_target set on an inode that is not a link inode' "DIRS: link_target without the link flag"
tree
inject addinode 9 parent=42
fsck_bad '^fsck.memsnap: inode 9: parent 42 does not exist' "DIRS: a dangling parent"
tree
inject addinode 9 parent=4
fsck_bad '^fsck.memsnap: inode 9: parent 4 is not a directory' "DIRS: a parent that is a regular file"
tree
inject addinode 9 name=zero parent=0
run "$fsck" -v "$img"
expect 0 'clean' "DIRS: parent 0 on an inode but the root is the root directory (an inode from before the feature)"
tree
inject set $((ds + 1)) 376 '<Q' 3
fsck_bad 'inode 1 .*root directory with a parent' "DIRS: a root directory with a parent"
tree
inject addinode 9 mode=40755 name=a parent=10
inject addinode 10 mode=40755 name=b parent=9
fsck_bad '^fsck.memsnap: directory 9: its parent chain loops \(2 directories\)' "DIRS: a parent loop of two directories"
grep -c 'loops' "$work/out" | grep -qx 1
result $? "DIRS: a parent loop is reported once"
tree
inject addinode 9 mode=40755 name=self parent=9
fsck_bad 'directory 9: its parent chain loops \(1 directories\)' "DIRS: a directory that is its own parent"
tree
inject addinode 9 name=f parent=3
fsck_bad 'name "f" is used by 2 files in directory 3' "DIRS: a duplicate (parent, name)"
tree
inject addinode 9 mode=120777 symlink=abc size=5
fsck_bad 'inode 9 .*symlink target does not match its size' "DIRS: a symlink whose size is not its target's length"
tree
inject addinode 9 mode=120777 size=0
fsck_bad 'inode 9 .*symlink target does not match its size' "DIRS: a symlink without a target"
tree
inject addinode 9 mode=120755 symlink=abc
fsck_bad 'inode 9 .*symlink permissions are not 0777' "DIRS: a symlink with permissions other than 0777"
tree
inject addinode 9 symlink=abc size=0
fsck_bad 'inode 9 .*symlink target set on an inode that is not a symlink' "DIRS: a symlink target on a regular file"
tree
inject addinode 9 rdev=5
fsck_bad 'inode 9 .*rdev set on an inode that is not a device' "DIRS: rdev on a regular file"
tree
inject addinode 9 mode=40755 size=10
fsck_bad 'inode 9 .*directory with a size' "DIRS: a directory with a size"
tree
inject addinode 9 mode=10644 size=10
fsck_bad 'inode 9 .*special file with a size' "DIRS: a FIFO with a size"
tree
inject addinode 9 mode=0 flags=2 link_target=4
inject set "$(inject iblock 9)" 3500 '<B' 1
fsck_bad 'inode 9 .*reserved bytes not zero' "DIRS: a reserved byte after the symlink field"

# The log with DIRS: mkdir, rename across directories, link, symlink,
# mknod, unlink of a link inode and of an emptied directory.
tree
inject log 1 0 inode:5:40755:0 dirent:5:1:sub
inject log 2 1 dirent:4:5:moved link:6:4:1:hard
inject log 3 2 inode:7:120777:3 symlink:7:abc dirent:7:5:sym
inject log 4 3 inode:8:20644:0:0x801 dirent:8:1:dev name:5:sub2
inject log 5 4 unlink:6 unlink:3
run "$fsck" -v "$img"
expect 0 '^records replayed: +5 ' "DIRS log: mkdir, rename across directories, link, symlink, mknod, unlink: clean"
grep -qE '^files: +4$' "$work/out"
result $? "DIRS log: four inodes left (directory, file, symlink, device)"
run "$fsck" -p "$img"
repaired "DIRS log folded into a checkpoint by -p: exit 1, then -n is clean"
"$fsck" -v "$img" > "$work/out" 2>&1
grep -qE '^files: +4$' "$work/out" && grep -qE '^records replayed: +0 ' "$work/out"
result $? "DIRS checkpoint written by -p keeps the namespace (4 inodes, no log)"
inject log 6 5 dirent:7:1:sym2 unlink:5
run "$fsck" "$img"
expect 4 'inode 4: parent 5 does not exist' "DIRS checkpoint from -p: parents and names survived (unlinking 5 orphans 4)"

tree
inject log 1 0 link:5:4:1:second
inject log 2 1 dirent:4:1:second unlink:5
run "$fsck" -v "$img"
expect 0 '^records replayed: +2 ' "DIRS: the link promotion (DIRENT of the file to the link's name, UNLINK of the link) is clean"
tree
inject log 1 0 link:5:4:1:second
inject log 2 1 dirent:4:1:second
fsck_bad 'name "second" is used by 2 files in directory 1' "DIRS: DIRENT onto a link's name without its UNLINK: a duplicate"
tree
inject log 1 0 "data:3:0:$((ds + 100))"
fsck_bad 'DATA for inode 3: a directory, not a regular file' "DIRS: DATA to a directory"
tree
inject log 1 0 inode:9:120777:3 symlink:9:abc name:9:s trunc:9:0:0
fsck_bad 'TRUNCATE for inode 9: not a regular file' "DIRS: TRUNCATE of a symlink"
tree
inject log 1 0 inode:4:40755:0
fsck_bad 'INODE for inode 4: changes the type from regular file to directory' "DIRS: INODE changes a file's type"
tree
inject log 1 0 inode:9:100644:0:5 name:9:x
fsck_bad 'INODE for inode 9: rdev set on an inode that is not a device' "DIRS: INODE with rdev on a regular file"
tree
inject log 1 0 inode:9:100644:0:0:2 name:9:x
fsck_bad 'INODE for inode 9: link inode flag' "DIRS: INODE with the link flag"
tree
inject log 1 0 link:9:4:1:x
inject log 2 1 inode:9:100644:0
fsck_bad 'INODE for inode 9: a link inode' "DIRS: INODE for a link inode"
tree
inject log 1 0 dirent:4:4:x
fsck_bad 'DIRENT for inode 4: parent is not a directory' "DIRS: DIRENT into a regular file"
tree
inject log 1 0 dirent:4:77:x
fsck_bad 'DIRENT for inode 4: parent does not exist' "DIRS: DIRENT into a missing directory"
tree
inject log 1 0 dirent:1:3:x
fsck_bad 'DIRENT for inode 1: the root directory' "DIRS: DIRENT of the root directory"
tree
inject log 1 0 inode:1:41777:0
run "$fsck" -n "$img"
expect 0 'clean' "DIRS: INODE for the root directory (its own attributes): clean"
run "$fsck" -y "$img"
blk=$(inject iblock 1)
[ "$rc" = 1 ] && grep -q 'replayed' "$work/out" &&
	[ "$(od -An -tu4 -j $((blk * 4096 + 24)) -N4 "$img" | tr -d ' ')" = $((8#41777)) ] &&
	"$fsck" -n "$img" > "$work/out2" 2>&1
result $? "DIRS: -y checkpoints the root's mode from its INODE entry, then -n is clean"
tree
inject log 1 0 inode:1:100644:0
fsck_bad 'INODE for inode 1: changes the type from directory to regular file' "DIRS: INODE making the root directory a regular file"
nodirs
inject log 1 0 inode:1:40755:0
fsck_bad "INODE for inode 1: not a file's inode number" "without DIRS: INODE for the root directory"
tree
inject log 1 0 link:9:3:1:x
fsck_bad 'LINK for inode 9: target is a directory' "DIRS: LINK to a directory"
tree
inject log 1 0 link:4:4:1:x
fsck_bad 'LINK for inode 4: the inode exists' "DIRS: LINK onto an existing inode"
tree
inject log 1 0 link:9:4:1:x
run "$fsck" -v "$img"
[ "$rc" = 0 ] && [ "$(inject sb next_ino)" = 5 ]
result $? "DIRS: LINK of a new inode above next_ino is clean"
inject log 2 1 inode:9:100644:0 name:9:y
fsck_bad 'INODE for inode 9: a link inode' "DIRS: LINK raised next_ino (inode 9 exists afterwards)"
tree
inject log 1 0 inode:9:120777:3 symlink:9:abc name:9:s
inject log 2 1 inode:9:120777:7
fsck_bad 'symlink 9: size 7, but its target is 3 bytes' "DIRS: INODE gives a symlink a size other than its target's"
tree
inject log 1 0 inode:9:120777:0 name:9:s
fsck_bad 'symlink 9 has no target' "DIRS: a symlink created without SYMLINK"
tree
inject log 1 0 "symlink:4:abc"
fsck_bad 'SYMLINK for inode 4: not a symlink' "DIRS: SYMLINK to a regular file"
tree
inject log 1 0 unlink:3
fsck_bad '^fsck.memsnap: inode 4: parent 3 does not exist' "DIRS: UNLINK of a directory that is not empty"
tree
inject log 1 0 inode:5:40755:0 dirent:5:3:sub
inject log 2 1 dirent:3:5:d
fsck_bad 'directory 3: its parent chain loops \(2 directories\)' "DIRS: a directory renamed into its own subdirectory"
tree
inject log 1 0 dirent:4:1:f2
inject log 2 1 dirent:4:3:f
run "$fsck" "$img"
expect 0 'clean' "DIRS: renames back and forth are clean"
tree
inject log 1 0 inode:5:100644:0 dirent:5:1:abc
inject set "$(sbf log_start)" $((56 + 88 + 32 + 3)) '<B' 1
run "$fsck" -v "$img"
expect 0 '^log ends at: +log block 0: malformed entry' "DIRS: a DIRENT with bad name padding ends the log"
tree
inject log 1 0 "symlink:4:abc"
inject set "$(sbf log_start)" $((56 + 20)) '<B' 1
run "$fsck" -v "$img"
expect 0 '^log ends at: +log block 0: malformed entry' "DIRS: a SYMLINK with its reserved word set ends the log"

# Repair with DIRS: -p touches none of it, -y makes the namespace whole.
tree
inject addinode 9 name=orphan parent=42
saved
run "$fsck" -p "$img"
expect 4 'run fsck.memsnap -y; nothing changed' "DIRS: -p leaves an orphan alone: exit 4"
unchanged
result $? "DIRS: -p that does not repair an orphan leaves the image unchanged"
run "$fsck" -y "$img"
repaired "DIRS: -y moves an orphan to the root directory: exit 1, then -n is clean"
grep -q 'namespace problem fixed' "$work/out"
result $? "DIRS: -y says it fixed a namespace problem"
tree
inject addinode 9 mode=40755 name=a parent=10
inject addinode 10 mode=40755 name=b parent=9
inject addinode 11 name=inside parent=10
run "$fsck" -y "$img"
repaired "DIRS: -y breaks a parent loop: exit 1, then -n is clean"
"$fsck" -v "$img" | grep -qE '^files: +5$'
result $? "DIRS: -y kept every inode of the loop"
tree
inject addinode 9 mode=0 flags=2 link_target=3 name=l
inject addinode 10 name=d
run "$fsck" -y "$img"
repaired "DIRS: -y drops a link to a directory and renames a clash: exit 1, then -n is clean"
"$fsck" -v "$img" | grep -qE '^files: +3$'
result $? "DIRS: -y dropped only the link inode"

# msnapimg.py's fixed offsets against the header: a C program printing
# offsetof() of every field it uses must print the same lines.
python3 "$top/selftests/tools/msnapimg.py" layout > "$work/layout.py.txt"
{
	echo '#include <stddef.h>'
	echo '#include <stdio.h>'
	echo '#include <linux/memsnap.h>'
	echo 'int main(void)'
	echo '{'
	while read -r st field _; do
		printf '\tprintf("%s %s %%zu\\n", offsetof(struct %s, %s));\n' \
			"$st" "$field" "$st" "$field"
	done < "$work/layout.py.txt"
	echo '	return 0;'
	echo '}'
} > "$work/layout.c"
${CC:-cc} -I"$top/include/uapi" -o "$work/layout" "$work/layout.c" > "$work/out" 2>&1 &&
	"$work/layout" > "$work/layout.h.txt" &&
	diff "$work/layout.py.txt" "$work/layout.h.txt" >> "$work/out" 2>&1 &&
	[ -s "$work/layout.py.txt" ]
result $? "msnapimg.py's field offsets match the header ($(wc -l < "$work/layout.py.txt") fields)"

echo "1..$n"
echo "# $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
