#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# agree_test.sh --kernel REL: fsck.memsnap and the kernel agree on every
# crafted image, in TAP.  Each case is a small image (with feature DIRS
# unless the case says otherwise: a checkpoint with
# one file, then log records written by msnapimg.py, which knows the
# format independently of tools/lib); fsck.memsnap -n runs on the host,
# then one guest mounts every image read-only through a loop device.  An
# image fsck calls clean must mount, and one fsck flags must be refused
# (EUCLEAN or EINVAL): a repair by fsck must never be needed for an image
# the kernel takes, nor the kernel refuse what fsck passes.
set -u
# shellcheck source=../lib/vmtap.sh
. "$(dirname "$0")/../lib/vmtap.sh"
vmtap_init agree "$@"
mkfs=$top/build/tools/mkfs.memsnap
fsck=$top/build/tools/fsck.memsnap
make -s -C "$top" tools > /dev/null || { echo "Bail out! tools do not build"; exit 1; }

# case NAME DESCRIPTION INJECTION...: an image, each INJECTION a
# msnapimg.py command line (one word list, split on spaces).
names=() descs=()
case_() {
	local name=$1 desc=$2 img=$work/$1.img
	shift 2
	rm -f "$img"
	truncate -s 64M "$img"
	# shellcheck disable=SC2086 # the options: words
	"$mkfs" -q ${mkfs_opts:-} "$img" || return 1
	local ds lb1
	ds=$(python3 "$top/selftests/tools/msnapimg.py" "$img" sb data_start)
	lb1=$(( $(python3 "$top/selftests/tools/msnapimg.py" "$img" sb log_blocks) - 1 ))
	python3 "$top/selftests/tools/msnapimg.py" "$img" addfile 2 alpha 8192 2
	python3 "$top/selftests/tools/msnapimg.py" "$img" log 1 0 \
		inode:5:100600:4096 name:5:new "data:5:0:$((ds + 100))"
	local inj
	for inj in "$@"; do
		inj=${inj//@DS@/$ds}
		inj=${inj//@DS200@/$((ds + 200))}
		# shellcheck disable=SC2086 # one injection: its words
		python3 "$top/selftests/tools/msnapimg.py" "$img" ${inj//@LB1@/$lb1}
	done
	names+=("$name") descs+=("$desc")
}

case_ valid "a valid log: truncate and unlink" \
	"log 2 1 trunc:2:1:4096 unlink:5"
case_ trunc_index "TRUNCATE whose first page is not the first past its size" \
	"log 2 1 trunc:2:2:4096"
case_ trunc_index0 "TRUNCATE to a size inside page 1 that keeps no page" \
	"log 2 1 trunc:2:0:100"
case_ inode_after_unlink "INODE (and NAME) for a file unlinked earlier in the record" \
	"log 2 1 unlink:5 inode:5:100600:0 name:5:again"
case_ inode_after_unlink2 "INODE for a file unlinked by an earlier record" \
	"log 2 1 unlink:5" "log 3 2 inode:5:100600:0 name:5:again"
case_ inode_root "INODE for inode 1, the root directory: its attributes (DIRS)" \
	"log 2 1 inode:1:41777:0"
case_ inode_root_file "INODE making the root directory a regular file" \
	"log 2 1 inode:1:100644:0"
case_ dup_transient "two files with one name after a record, one unlinked by the next" \
	"log 2 1 inode:6:100600:0 name:6:alpha" "log 3 2 unlink:2"
case_ dup_final "two files with one name after the last record" \
	"log 2 1 inode:6:100600:0 name:6:alpha"
case_ log_start "superblock with log_start 3, one log block less, the layout consistent" \
	"set 0 136 <Q 3" "set 0 144 <Q @LB1@" "set 1 136 <Q 3" "set 1 144 <Q @LB1@"

# Feature DIRS (mkfs sets it by default).
case_ dirs_valid "DIRS: mkdir, a move into it, a link, a symlink, a FIFO" \
	"log 2 1 inode:6:40755:0 dirent:6:1:dir dirent:5:6:moved link:7:2:6:second" \
	"log 3 2 inode:8:120777:3 dirent:8:6:sym symlink:8:abc inode:9:10644:0 dirent:9:1:fifo"
case_ dirs_promote "DIRS: a file's name replaced by its link's, the link removed" \
	"log 2 1 link:6:5:1:other" "log 3 2 dirent:5:1:other unlink:6"
case_ dirs_no_parent "DIRS: DIRENT into a directory that does not exist" \
	"log 2 1 dirent:5:42:x"
case_ dirs_parent_file "DIRS: DIRENT into a regular file" \
	"log 2 1 dirent:5:2:x"
case_ dirs_link_dir "DIRS: LINK naming a directory" \
	"log 2 1 inode:6:40755:0 dirent:6:1:d link:7:6:1:l"
case_ dirs_rmdir_full "DIRS: UNLINK of a directory that still holds a file" \
	"log 2 1 inode:6:40755:0 dirent:6:1:d dirent:5:6:x" "log 3 2 unlink:6"
case_ dirs_loop "DIRS: a directory moved into its own subdirectory" \
	"log 2 1 inode:6:40755:0 dirent:6:1:a inode:7:40755:0 dirent:7:6:b dirent:6:7:a"
case_ dirs_dup "DIRS: two files with one name in a directory" \
	"log 2 1 inode:6:40755:0 dirent:6:1:d dirent:5:6:x dirent:2:6:x"
case_ dirs_symlink_bare "DIRS: a symlink without its SYMLINK entry" \
	"log 2 1 inode:8:120777:3 dirent:8:1:s"
case_ dirs_data_dir "DIRS: DATA for a directory" \
	"log 2 1 inode:6:40755:0 dirent:6:1:d data:6:0:@DS200@"
mkfs_opts="-O ^dirs"
case_ nodirs_dirent "without DIRS: a DIRENT entry" \
	"log 2 1 dirent:5:1:x"
case_ nodirs_rdev "without DIRS: an INODE entry with a device number (the end of the log)" \
	"log 2 1 inode:6:100600:0:7 name:6:dev"
case_ nodirs_inode_root "without DIRS: INODE for inode 1, the root directory" \
	"log 2 1 inode:1:40755:0"
case_ nodirs_valid "without DIRS: the flat log of format version 2" \
	"log 2 1 trunc:2:1:4096 unlink:5"
mkfs_opts=

echo "TAP version 13"
echo "1..$((${#names[@]} + 2))"
for c in "${names[@]}"; do
	"$fsck" -n "$work/$c.img" > "$work/$c.fsck" 2>&1
	echo $? > "$work/$c.fsckrc"
done

# One guest: mount each image read-only, print its errno (0: mounted).
cmds="m=/tmp/agree; mkdir -p \$m"
for c in "${names[@]}"; do
	cmds+="
	l=\$(losetup -f --show $work/$c.img)
	dmesg -C
	if mount -t memsnap -o ro \$l \$m 2> /dev/null; then r=0; umount \$m; else r=\$?; fi
	echo \"mount $c \$r\"
	dmesg | grep memsnap | sed 's/^/# $c: /'
	losetup -d \$l"
done
vm mount --no-disk -- bash -c "$cmds"
ok=$( [ -s "$work/mount.out" ] && grep -c '^mount ' "$work/mount.out")
[ "${ok:-0}" = "${#names[@]}" ]
result $? "the guest tried every image (${#names[@]})" "$work/mount.out" "$work/mount.err"

for i in "${!names[@]}"; do
	c=${names[$i]}
	frc=$(cat "$work/$c.fsckrc")
	mrc=$(sed -n "s/^mount $c //p" "$work/mount.out")
	fclean=$([ "$frc" = 0 ] && echo 1 || echo 0)
	mok=$([ "$mrc" = 0 ] && echo 1 || echo 0)
	verdict="fsck $([ "$fclean" = 1 ] && echo clean || echo "exit $frc"), mount $([ "$mok" = 1 ] && echo ok || echo refused)"
	grep -E "^(mount|#) $c:? " "$work/mount.out" > "$work/$c.mount"
	[ -n "$mrc" ] && [ "$fclean" = "$mok" ]
	result $? "${descs[$i]}: $verdict" "$work/$c.fsck" "$work/$c.mount"
done
# The kernel's messages about these images: one prefix, the device once.
grep -E '^# [a-z_0-9]+: \[ *[0-9.]+\] memsnap' "$work/mount.out" |
	sed -E 's/^# [a-z_0-9]+: \[ *[0-9.]+\] //' > "$work/messages"
[ -s "$work/messages" ] && ! grep -vE '^memsnap: loop[0-9]+: [^ ]' "$work/messages"
result $? "kernel messages read 'memsnap: DEVICE: ...' ($(wc -l < "$work/messages") seen)" \
	"$work/messages"
echo "# agree: $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
