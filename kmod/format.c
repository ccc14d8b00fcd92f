// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: the inode codec.
 *
 * An inode block (struct msnap_inode) and an INODE log entry (struct
 * msnap_entry_inode) carry the same attribute run; here they are encoded
 * from an in-memory inode, decoded into one, and checked by the format's
 * rules, the same ones fsck applies (tools/lib/msnapfs.c).  A leaf: it
 * calls nothing else of the module.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/kdev_t.h>
#include <linux/slab.h>

#include "memsnap.h"

/* A name a file of the root directory can have (as fsck checks it). */
bool msnap_name_ok(const char *name, u32 len)
{
	return len && len <= MSNAP_NAME_MAX && !memchr(name, '/', len) &&
	       !memchr(name, 0, len) &&
	       !(len == 1 && name[0] == '.') &&
	       !(len == 2 && name[0] == '.' && name[1] == '.');
}

/* Whether @mode is a file type an inode may have (with feature DIRS). */
static bool msnap_type_ok(u64 ino, u32 mode, bool dirs)
{
	if (ino == MSNAP_ROOT_INO)
		return S_ISDIR(mode);
	if (!dirs)
		return S_ISREG(mode);
	return S_ISREG(mode) || S_ISDIR(mode) || S_ISLNK(mode) ||
	       S_ISFIFO(mode) || S_ISSOCK(mode) || S_ISCHR(mode) ||
	       S_ISBLK(mode);
}

/*
 * The attributes an inode block and an INODE log entry share, checked by
 * the format's rules (as fsck checks them): the reason they are bad, or
 * NULL.  A size past MSNAP_MAX_FILE_SIZE would let a read run for ever.
 */
const char *msnap_attrs_bad(u64 ino, const struct msnap_entry_inode *e,
			    bool dirs)
{
	u32 mode = le32_to_cpu(e->mode);
	u64 size = le64_to_cpu(e->size);

	if ((mode & ~(S_IFMT | MSNAP_MODE_PERM)) ||
	    !msnap_type_ok(ino, mode, dirs))
		return "bad mode";
	if (le32_to_cpu(e->flags) & ~MSNAP_INODE_HAS_ADDR)
		return "unknown flags";
	if (e->rdev && !S_ISCHR(mode) && !S_ISBLK(mode))
		return "a device number on an inode that is not a device";
	if (size > MSNAP_MAX_FILE_SIZE)
		return "size too large";
	if (S_ISLNK(mode) && (!size || size > MSNAP_SYMLINK_MAX))
		return "symlink size out of range";
	if (!S_ISREG(mode) && !S_ISLNK(mode) && size)
		return "size of a directory or special file not 0";
	if (le32_to_cpu(e->atime_nsec) >= NSEC_PER_SEC ||
	    le32_to_cpu(e->mtime_nsec) >= NSEC_PER_SEC ||
	    le32_to_cpu(e->ctime_nsec) >= NSEC_PER_SEC)
		return "nanoseconds out of range";
	return NULL;
}

/*
 * The attributes run from mode to ctime_nsec has the same layout in the
 * inode block and in an INODE log entry: one conversion serves both.
 */
#define MSNAP_ATTR_BYTES						\
	(offsetofend(struct msnap_entry_inode, ctime_nsec) -		\
	 offsetof(struct msnap_entry_inode, mode))
static_assert(offsetofend(struct msnap_inode, ctime_nsec) -
	      offsetof(struct msnap_inode, mode) == MSNAP_ATTR_BYTES);
/* The run's start, addressed from the whole structure (FORTIFY_SOURCE). */
#define MSNAP_ATTRS(p, type)	((u8 *)(p) + offsetof(type, mode))

static struct timespec64 msnap_ts(__le64 sec, __le32 nsec)
{
	return (struct timespec64){ le64_to_cpu(sec), le32_to_cpu(nsec) };
}

/* Set @inode's attributes from an INODE entry (or an inode block's). */
void msnap_set_attrs(struct inode *inode, const struct msnap_entry_inode *e)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);

	inode->i_mode = le32_to_cpu(e->mode);
	i_uid_write(inode, le32_to_cpu(e->uid));
	i_gid_write(inode, le32_to_cpu(e->gid));
	mi->flags = le32_to_cpu(e->flags);
	mi->disk_size = le64_to_cpu(e->size);
	i_size_write(inode, mi->disk_size);
	inode_set_atime_to_ts(inode, msnap_ts(e->atime_sec, e->atime_nsec));
	inode_set_mtime_to_ts(inode, msnap_ts(e->mtime_sec, e->mtime_nsec));
	inode_set_ctime_to_ts(inode, msnap_ts(e->ctime_sec, e->ctime_nsec));
	inode->i_rdev = new_decode_dev(le32_to_cpu(e->rdev));
	mi->preferred_addr = le64_to_cpu(e->preferred_addr);
}

/* The attributes of an on-disk inode as an INODE entry has them. */
static void msnap_disk_attrs(struct msnap_inode *di,
			     struct msnap_entry_inode *e)
{
	memset(e, 0, sizeof(*e));
	memcpy(MSNAP_ATTRS(e, struct msnap_entry_inode),
	       MSNAP_ATTRS(di, struct msnap_inode), MSNAP_ATTR_BYTES);
	e->rdev = di->rdev;
	e->preferred_addr = di->preferred_addr;
}

/* The bytes of the DIRS fields, zero without the feature. */
#define MSNAP_DIRS_BYTES						\
	(offsetof(struct msnap_inode, reserved) -			\
	 offsetof(struct msnap_inode, parent))

/* Why the link inode @di (feature DIRS) is corrupt, or NULL. */
static const char *msnap_disk_link_bad(struct msnap_inode *di)
{
	u8 *p = (u8 *)di;

	/* Every attribute zero, from mode to blocks, but the flags. */
	if (le32_to_cpu(di->flags) != MSNAP_INODE_LINK ||
	    memchr_inv(p + offsetof(struct msnap_inode, mode), 0,
		       offsetof(struct msnap_inode, flags) -
		       offsetof(struct msnap_inode, mode)) ||
	    memchr_inv(p + offsetofend(struct msnap_inode, flags), 0,
		       offsetofend(struct msnap_inode, blocks) -
		       offsetofend(struct msnap_inode, flags)) ||
	    di->rdev || memchr_inv(di->symlink, 0, sizeof(di->symlink)))
		return "link inode with attributes";
	if (le64_to_cpu(di->link_target) < MSNAP_FIRST_INO)
		return "link inode without a target";
	if (!msnap_name_ok(di->name, le32_to_cpu(di->name_len)))
		return "bad name";
	return NULL;
}

/* Why the inode block @di of inode @ino is corrupt, or NULL. */
const char *msnap_disk_inode_bad(struct msnap_inode *di, u64 ino, bool dirs)
{
	u32 len = le32_to_cpu(di->name_len);
	u64 size = le64_to_cpu(di->size);
	struct msnap_entry_inode e;
	u64 parent;

	if (le32_to_cpu(di->magic) != MSNAP_INODE_MAGIC)
		return "bad magic";
	if (!msnap_crc_ok(di, &di->crc))
		return "bad CRC";
	if (le64_to_cpu(di->ino) != ino)
		return "wrong inode number";
	if (memchr_inv(di->reserved, 0, sizeof(di->reserved)) ||
	    memchr_inv(di->reserved1, 0, sizeof(di->reserved1)) ||
	    memchr_inv(di->reserved2, 0, sizeof(di->reserved2)))
		return "reserved fields not zero";
	if (!dirs && memchr_inv(&di->parent, 0, MSNAP_DIRS_BYTES))
		return "fields of feature DIRS set without the feature";
	if (le32_to_cpu(di->map_height) > MSNAP_TREE_MAX_HEIGHT)
		return "page map too high";
	if (dirs && ino != MSNAP_ROOT_INO &&
	    (le32_to_cpu(di->flags) & MSNAP_INODE_LINK))
		return msnap_disk_link_bad(di);
	if (di->link_target)
		return "link target on an inode that is not a link";
	parent = le64_to_cpu(di->parent);
	/* Parent 0 is the root directory: images made without DIRS. */
	if (ino == MSNAP_ROOT_INO ? len != 0 || parent :
	    !msnap_name_ok(di->name, len))
		return "bad name";
	if (!S_ISLNK(le32_to_cpu(di->mode)))
		size = 0;
	if (size > MSNAP_SYMLINK_MAX || memchr(di->symlink, 0, size) ||
	    memchr_inv(di->symlink + size, 0, MSNAP_SYMLINK_MAX - size))
		return "bad symlink target";
	if (!S_ISREG(le32_to_cpu(di->mode)) && (di->map_root || di->blocks))
		return "pages on an inode that is not a regular file";
	msnap_disk_attrs(di, &e);
	return msnap_attrs_bad(ino, &e, dirs);
}

/*
 * Fill the VFS and memsnap parts of @inode from its on-disk block (a
 * link inode takes only its name, parent and target).
 */
int msnap_inode_from_disk(struct inode *inode, struct msnap_inode *di)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);
	struct msnap_entry_inode e;

	memcpy(mi->name, di->name, le32_to_cpu(di->name_len));
	mi->name[le32_to_cpu(di->name_len)] = '\0';
	mi->parent = le64_to_cpu(di->parent);
	if (!mi->parent && inode->i_ino != MSNAP_ROOT_INO)
		mi->parent = MSNAP_ROOT_INO;	/* without feature DIRS */
	mi->link_target = le64_to_cpu(di->link_target);
	if (mi->link_target) {
		mi->flags = MSNAP_INODE_LINK;
		return 0;
	}
	msnap_disk_attrs(di, &e);
	msnap_set_attrs(inode, &e);
	mi->map_root = le64_to_cpu(di->map_root);
	mi->map_height = le32_to_cpu(di->map_height);
	mi->nblocks = le64_to_cpu(di->blocks);
	inode->i_blocks = mi->nblocks << (PAGE_SHIFT - 9);
	if (S_ISLNK(inode->i_mode)) {
		mi->symlink = kmemdup_nul(di->symlink, mi->disk_size,
					  GFP_KERNEL);
		if (!mi->symlink)
			return -ENOMEM;
	}
	return 0;
}

/* The on-disk image of @inode as of now (checkpoint). */
void msnap_fill_disk_inode(struct inode *inode, struct msnap_inode *di)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);
	struct msnap_entry_inode e = {};
	size_t len = strlen(mi->name);

	di->magic = cpu_to_le32(MSNAP_INODE_MAGIC);
	di->ino = cpu_to_le64(inode->i_ino);
	di->name_len = cpu_to_le32(len);
	memcpy(di->name, mi->name, len);
	if (msnap_has_dirs(MSNAP_SB(inode->i_sb)))
		di->parent = cpu_to_le64(mi->parent);
	if (msnap_is_link(inode)) {
		di->flags = cpu_to_le32(MSNAP_INODE_LINK);
		di->link_target = cpu_to_le64(mi->link_target);
		goto out_crc;
	}
	msnap_entry_inode_fill(inode, &e);
	memcpy(MSNAP_ATTRS(di, struct msnap_inode),
	       MSNAP_ATTRS(&e, struct msnap_entry_inode), MSNAP_ATTR_BYTES);
	di->map_height = cpu_to_le32(mi->map_height);
	di->map_root = cpu_to_le64(mi->map_root);
	di->preferred_addr = e.preferred_addr;
	di->blocks = cpu_to_le64(mi->nblocks);
	di->rdev = e.rdev;
	if (mi->symlink)
		memcpy(di->symlink, mi->symlink, strlen(mi->symlink));
out_crc:
	msnap_set_crc(di, &di->crc);
}

/* The attributes of @inode as an INODE entry (and an inode block) has them. */
void msnap_entry_inode_fill(struct inode *inode, struct msnap_entry_inode *e)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);
	struct timespec64 a = inode_get_atime(inode);
	struct timespec64 m = inode_get_mtime(inode);
	struct timespec64 c = inode_get_ctime(inode);

	e->mode = cpu_to_le32(inode->i_mode);
	e->uid = cpu_to_le32(i_uid_read(inode));
	e->gid = cpu_to_le32(i_gid_read(inode));
	e->flags = cpu_to_le32(mi->flags);
	e->size = cpu_to_le64(mi->disk_size);
	e->atime_sec = cpu_to_le64(a.tv_sec);
	e->mtime_sec = cpu_to_le64(m.tv_sec);
	e->ctime_sec = cpu_to_le64(c.tv_sec);
	e->atime_nsec = cpu_to_le32(a.tv_nsec);
	e->mtime_nsec = cpu_to_le32(m.tv_nsec);
	e->ctime_nsec = cpu_to_le32(c.tv_nsec);
	if (S_ISCHR(inode->i_mode) || S_ISBLK(inode->i_mode))
		e->rdev = cpu_to_le32(new_encode_dev(inode->i_rdev));
	e->preferred_addr = cpu_to_le64(mi->preferred_addr);
}
