// SPDX-License-Identifier: GPL-2.0
/*
 * msnapfs log: read the commit records that follow the checkpoint and
 * replay them onto the model, as a mount does.
 *
 * Two kinds of failure must be told apart.  A record that is missing,
 * torn or stale (bad magic, CRC, sequence, nonce, framing, or a DATA block
 * whose contents do not match its CRC) is the normal end of the log.  A
 * record that is intact but says something impossible (a block in use,
 * a file that does not exist, two files with one name) is corruption.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "msnapfs.h"

#define ULL(x)	((unsigned long long)(x))
#define ROUND8(x)	(((x) + 7) & ~7U)

struct record {
	uint64_t	seq;
	uint64_t	pos;		/* first block, 0-based in the log */
	uint32_t	count;
	struct msnap_log_block *b;	/* count blocks */
	uint64_t	*touched;	/* inos the record changed */
	size_t		nr_touched;
	size_t		max_touched;
};

/*
 * An entry that ends in a string: len, reserved word and padding.  fixed
 * is the size of the entry before the string, slen its length, max the
 * longest allowed.
 */
static bool string_ok(const void *e, uint32_t fixed, uint32_t slen,
		      uint32_t reserved, uint32_t max, uint32_t len)
{
	if (slen < 1 || slen > max || reserved)
		return false;
	if (len != fixed + ROUND8(slen))
		return false;
	return msnap_all_zero((const char *)e + fixed + slen,
			      len - fixed - slen);
}

static bool inode_entry_ok(const struct msnap_fs *fs,
			   const struct msnap_entry_inode *e)
{
	/* Without DIRS rdev is the reserved word: framing, as before. */
	return fs->dirs || !e->rdev;
}

/*
 * The entry's length if it is well formed, else 0.  DIRENT, LINK and
 * SYMLINK are known entries whatever the superblock says: on an image
 * without DIRS a well-formed one is corruption (apply_entry()), not the
 * end of the log.
 */
static uint32_t entry_len(const struct msnap_fs *fs, const void *p,
			  uint32_t room)
{
	const struct msnap_entry_hdr *h = p;
	const struct msnap_entry_dirent *d = p;
	const struct msnap_entry_link *l = p;
	const struct msnap_entry_symlink *y = p;
	const struct msnap_entry_name *nm = p;
	uint32_t len;
	bool ok = false;

	if (room < sizeof(*h))
		return 0;
	len = le16(h->len);
	if (len < sizeof(*h) || len % 8 || len > room || h->reserved)
		return 0;
	switch (le16(h->type)) {
	case MSNAP_ENTRY_DATA:
		ok = len == sizeof(struct msnap_entry_data) &&
		     !((const struct msnap_entry_data *)p)->reserved;
		break;
	case MSNAP_ENTRY_INODE:
		ok = len == sizeof(struct msnap_entry_inode) &&
		     inode_entry_ok(fs, p);
		break;
	case MSNAP_ENTRY_NAME:
		ok = len >= sizeof(*nm) &&
		     string_ok(p, sizeof(*nm), le32(nm->name_len),
			       nm->reserved, MSNAP_NAME_MAX, len);
		break;
	case MSNAP_ENTRY_UNLINK:
		ok = len == sizeof(struct msnap_entry_unlink);
		break;
	case MSNAP_ENTRY_TRUNCATE:
		ok = len == sizeof(struct msnap_entry_truncate);
		break;
	case MSNAP_ENTRY_DIRENT:
		ok = len >= sizeof(*d) &&
		     string_ok(p, sizeof(*d), le32(d->name_len), d->reserved,
			       MSNAP_NAME_MAX, len);
		break;
	case MSNAP_ENTRY_LINK:
		ok = len >= sizeof(*l) &&
		     string_ok(p, sizeof(*l), le32(l->name_len), l->reserved,
			       MSNAP_NAME_MAX, len);
		break;
	case MSNAP_ENTRY_SYMLINK:
		ok = len >= sizeof(*y) &&
		     string_ok(p, sizeof(*y), le32(y->len), y->reserved,
			       MSNAP_SYMLINK_MAX, len);
		break;
	}
	return ok ? len : 0;
}

static const char *entries_bad(const struct msnap_fs *fs,
			       const struct msnap_log_block *lb)
{
	uint32_t used = le32(lb->bytes_used), off = 0, len, n = 0;

	if (used > MSNAP_LOG_PAYLOAD)
		return "bytes_used too large";
	while (off < used) {
		len = entry_len(fs, lb->payload + off, used - off);
		if (!len)
			return "malformed entry";
		off += len;
		n++;
	}
	return n == le32(lb->entries) ? NULL : "wrong entry count";
}

/*
 * Validate the framing of block index of the record at seq; count 0
 * means "the first block: take the count from it".
 */
static const char *log_block_bad(struct msnap_fs *fs,
				 const struct msnap_log_block *lb,
				 uint64_t seq, uint32_t index, uint32_t count)
{
	uint32_t c = le32(lb->count);

	if (le32(lb->magic) != MSNAP_LOG_MAGIC)
		return "no record (bad magic)";
	if (!msnap_block_crc_ok(lb, offsetof(struct msnap_log_block, crc)))
		return "bad CRC";
	if (le64(lb->seq) != seq)
		return "sequence number is not the next one";
	if (le64(lb->nonce) != le64(fs->sb.log_nonce))
		return "nonce of another log (stale record)";
	if (!msnap_all_zero(lb->reserved, sizeof(lb->reserved)))
		return "reserved bytes not zero";
	if (le32(lb->index) != index)
		return "block out of place in its record";
	/* As the kernel: a record never runs past the log's other end. */
	if (c < 1 || c > fs->g.log_blocks / 4 || (count && c != count) ||
	    fs->log_blocks_used + c > fs->g.log_blocks)
		return "bad block count";
	return entries_bad(fs, lb);
}

/* 1: a complete record read into r; 0: end of the log; -1: IO error. */
static int read_record(struct msnap_fs *fs, struct record *r)
{
	uint64_t lblocks = fs->g.log_blocks, blk;
	uint32_t i, cap = 1;
	const char *bad;

	/* Grown as blocks prove valid, not sized by an untrusted count. */
	r->b = msnap_alloc(sizeof(*r->b));
	r->count = 0;
	for (i = 0; i == 0 || i < r->count; i++) {
		if (i == cap) {
			cap = cap * 2 < r->count ? cap * 2 : r->count;
			r->b = msnap_realloc(r->b, cap * sizeof(*r->b));
		}
		blk = fs->g.log_start + (r->pos + i) % lblocks;
		if (msnap_fs_read(fs, blk, &r->b[i]))
			return -1;
		bad = log_block_bad(fs, &r->b[i], r->seq, i, r->count);
		if (bad) {
			snprintf(fs->log_end, sizeof(fs->log_end),
				 "log block %llu: %s", ULL(blk - fs->g.log_start),
				 bad);
			return 0;
		}
		if (!i)
			r->count = le32(r->b[0].count);
	}
	return 1;
}

typedef int (*entry_fn)(struct msnap_fs *fs, struct record *r,
			const void *e);

/* Call fn on each entry of r in order; stop at the first non-zero. */
static int for_each_entry(struct msnap_fs *fs, struct record *r,
			  entry_fn fn)
{
	const struct msnap_log_block *lb;
	uint32_t i, off;
	int ret;

	for (i = 0; i < r->count; i++) {
		lb = &r->b[i];
		for (off = 0; off < le32(lb->bytes_used);
		     off += le16(((const struct msnap_entry_hdr *)
				  (lb->payload + off))->len)) {
			ret = fn(fs, r, lb->payload + off);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Corruption, but fsck -p may cut the log before the record. */
static void rec_problem(struct msnap_fs *fs, struct record *r,
			const char *what)
{
	fs->log_corrupt = true;
	msnap_problem_safe(fs, "log record %llu at log block %llu: %s",
			   ULL(r->seq), ULL(r->pos), what);
}

/* A record whose DATA block does not hold what it says was torn. */
static int data_crc_check(struct msnap_fs *fs, struct record *r,
			  const void *p)
{
	const struct msnap_entry_data *e = p;
	unsigned char buf[MSNAP_BLOCK_SIZE];
	uint64_t blk = le64(e->block);
	char why[128];

	if (le16(e->hdr.type) != MSNAP_ENTRY_DATA)
		return 0;
	if (!msnap_in_data(fs, blk)) {
		snprintf(why, sizeof(why),
			 "DATA for inode %llu: block %llu outside the data area",
			 ULL(le64(e->hdr.ino)), ULL(blk));
		rec_problem(fs, r, why);
		return -1;
	}
	if (msnap_fs_read(fs, blk, buf))
		return -1;
	if (msnap_crc32c(buf, sizeof(buf)) == le32(e->data_crc))
		return 0;
	snprintf(fs->log_end, sizeof(fs->log_end),
		 "log block %llu: data block %llu does not match its CRC",
		 ULL(r->pos), ULL(blk));
	return 1;
}

static void touch(struct record *r, struct msnap_file *f)
{
	if (f->touched == r->seq)
		return;
	f->touched = r->seq;
	if (r->nr_touched == r->max_touched) {
		r->max_touched = r->max_touched ? 2 * r->max_touched : 16;
		r->touched = msnap_realloc(r->touched, r->max_touched *
					   sizeof(*r->touched));
	}
	r->touched[r->nr_touched++] = f->ino;
}

/* What an entry may name: any inode but the root, or a regular file. */
enum need { ANY_INODE, REGULAR };

/* The inode an entry names, or NULL after reporting why not. */
static struct msnap_file *entry_file(struct msnap_fs *fs, struct record *r,
				     const struct msnap_entry_hdr *h,
				     const char *type, enum need need)
{
	uint64_t ino = le64(h->ino);
	struct msnap_file *f = msnap_file_get(fs, ino);
	const char *bad = NULL;
	char why[128];

	if (!f)
		bad = "no such file";
	else if (ino < MSNAP_FIRST_INO)
		bad = "the root directory";
	else if (need == REGULAR && msnap_file_is_link(f))
		bad = "a link inode, not a regular file";
	else if (need == REGULAR && !S_ISREG(f->mode))
		bad = S_ISDIR(f->mode) ? "a directory, not a regular file" :
					 "not a regular file";
	if (!bad) {
		touch(r, f);
		return f;
	}
	snprintf(why, sizeof(why), "%s for inode %llu: %s", type, ULL(ino),
		 bad);
	rec_problem(fs, r, why);
	return NULL;
}

/* Reject an entry of feature DIRS on an image without it. */
static int need_dirs(struct msnap_fs *fs, struct record *r,
		     const struct msnap_entry_hdr *h, const char *type)
{
	char why[128];

	if (fs->dirs)
		return 0;
	snprintf(why, sizeof(why),
		 "%s for inode %llu: entry of feature DIRS on an image without it",
		 type, ULL(le64(h->ino)));
	rec_problem(fs, r, why);
	return -1;
}

static int entry_fail(struct msnap_fs *fs, struct record *r,
		      const char *type, uint64_t ino, const char *bad)
{
	char why[160];

	snprintf(why, sizeof(why), "%s for inode %llu: %s", type, ULL(ino),
		 bad);
	rec_problem(fs, r, why);
	return -1;
}

static int apply_data(struct msnap_fs *fs, struct record *r,
		      const struct msnap_entry_data *e)
{
	struct msnap_file *f = entry_file(fs, r, &e->hdr, "DATA", REGULAR);
	uint64_t blk = le64(e->block);
	const char *bad = NULL;
	char why[160];

	if (!f)
		return -1;
	if (msnap_bitmap_known(fs, blk) && msnap_bitmap_test(fs, blk))
		bad = "in use in the checkpoint";
	else if (msnap_map_get(fs->replay_used, blk, NULL))
		bad = "written twice since the checkpoint";
	else if (fs->ckpt_refs &&
		 fs->ckpt_refs[(blk - fs->g.data_start) >> 3] &
		 (1U << ((blk - fs->g.data_start) & 7)))
		bad = "referenced by the checkpoint (free in its bitmap)";
	if (bad) {
		snprintf(why, sizeof(why),
			 "DATA for inode %llu page %llu: block %llu %s",
			 ULL(f->ino), ULL(le64(e->index)), ULL(blk), bad);
		rec_problem(fs, r, why);
		return -1;
	}
	msnap_map_put(fs->replay_used, blk, 1);
	msnap_file_map(f, le64(e->index), blk);
	return 0;
}

/*
 * An inode number a new inode (INODE, LINK) may take, or why not; as the
 * kernel replays, the root and inodes unlinked since the checkpoint take
 * none.
 */
static const char *new_ino_bad(struct msnap_fs *fs, uint64_t ino)
{
	if (ino >= msnap_tree_span(MSNAP_TREE_MAX_HEIGHT))
		return "number too large for the inode tree";
	if (ino < MSNAP_FIRST_INO)
		return "not a file's inode number";
	if (msnap_map_get(fs->replay_unlinked, ino, NULL))
		return "unlinked earlier in the log";
	return NULL;
}

static const char *inode_entry_bad(struct msnap_fs *fs,
				   const struct msnap_entry_inode *e,
				   const struct msnap_file *f)
{
	struct msnap_iattr ia = {
		.ino = le64(e->hdr.ino), .mode = le32(e->mode),
		.flags = le32(e->flags), .rdev = le32(e->rdev),
		.size = le64(e->size), .atime_nsec = le32(e->atime_nsec),
		.mtime_nsec = le32(e->mtime_nsec),
		.ctime_nsec = le32(e->ctime_nsec),
	};
	static char buf[96];
	const char *bad = NULL;

	/* The root's attributes: with feature DIRS (format.md). */
	if (!fs->dirs || ia.ino != MSNAP_ROOT_INO)
		bad = new_ino_bad(fs, ia.ino);
	if (bad)
		return bad;
	if (fs->dirs && (ia.flags & MSNAP_INODE_LINK))
		return "link inode flag (only LINK makes a link inode)";
	if (f && msnap_file_is_link(f))
		return "a link inode (changed by DIRENT and UNLINK only)";
	/* Without DIRS there is one type: msnap_attrs_bad() says so. */
	if (fs->dirs && f && (f->mode & S_IFMT) != (ia.mode & S_IFMT)) {
		snprintf(buf, sizeof(buf), "changes the type from %s to %s",
			 msnap_type_name(f->mode), msnap_type_name(ia.mode));
		return buf;
	}
	return msnap_attrs_bad(fs->dirs, &ia);
}

static int apply_inode(struct msnap_fs *fs, struct record *r,
		       const struct msnap_entry_inode *e)
{
	uint64_t ino = le64(e->hdr.ino);
	struct msnap_file *f = msnap_file_get(fs, ino);
	const char *bad;

	bad = inode_entry_bad(fs, e, f);
	if (bad)
		return entry_fail(fs, r, "INODE", ino, bad);
	if (!f)
		f = msnap_file_add(fs, ino, le32(e->mode), le64(e->size));
	f->mode = le32(e->mode);
	f->size = le64(e->size);
	f->rdev = le32(e->rdev);
	f->a = (struct msnap_attrs){
		.uid = le32(e->uid), .gid = le32(e->gid),
		.flags = le32(e->flags),
		.atime_sec = le64(e->atime_sec),
		.mtime_sec = le64(e->mtime_sec),
		.ctime_sec = le64(e->ctime_sec),
		.atime_nsec = le32(e->atime_nsec),
		.mtime_nsec = le32(e->mtime_nsec),
		.ctime_nsec = le32(e->ctime_nsec),
		.preferred_addr = le64(e->preferred_addr),
	};
	if (ino >= fs->next_ino)
		fs->next_ino = ino + 1;
	touch(r, f);
	return 0;
}

/* The live directory an entry puts a name in, or why not. */
static const char *parent_bad(struct msnap_fs *fs, uint64_t parent)
{
	struct msnap_file *p = msnap_file_get(fs, parent);

	if (!p)
		return "parent does not exist";
	if (!msnap_file_is_dir(p))
		return "parent is not a directory";
	return NULL;
}

/* NAME (ino, name) is DIRENT (ino, 1, name). */
static int set_name(struct msnap_fs *fs, struct record *r,
		    const struct msnap_entry_hdr *h, const char *type,
		    uint64_t parent, const char *name, uint32_t len)
{
	struct msnap_file *f = entry_file(fs, r, h, type, ANY_INODE);
	const char *bad = NULL;

	if (!f)
		return -1;
	if (!msnap_name_ok(name, len))
		bad = "invalid name";
	else if (fs->dirs)
		bad = parent_bad(fs, parent);
	if (bad)
		return entry_fail(fs, r, type, f->ino, bad);
	msnap_file_set_name(fs, f, parent, name, len);
	return 0;
}

static int apply_link(struct msnap_fs *fs, struct record *r,
		      const struct msnap_entry_link *e)
{
	uint64_t ino = le64(e->hdr.ino), target = le64(e->target);
	struct msnap_file *t = msnap_file_get(fs, target), *f;
	const char *bad = new_ino_bad(fs, ino);

	if (need_dirs(fs, r, &e->hdr, "LINK"))
		return -1;
	if (!bad && msnap_file_get(fs, ino))
		bad = "the inode exists";
	else if (!bad && !t)
		bad = "target does not exist";
	else if (!bad && msnap_file_is_link(t))
		bad = "target is a link inode";
	else if (!bad && S_ISDIR(t->mode))
		bad = "target is a directory";
	else if (!bad && !msnap_name_ok(e->name, le32(e->name_len)))
		bad = "invalid name";
	else if (!bad)
		bad = parent_bad(fs, le64(e->parent));
	if (bad)
		return entry_fail(fs, r, "LINK", ino, bad);
	f = msnap_file_add(fs, ino, 0, 0);
	f->a.flags = MSNAP_INODE_LINK;
	f->link_target = target;
	msnap_file_set_name(fs, f, le64(e->parent), e->name,
			    le32(e->name_len));
	if (ino >= fs->next_ino)
		fs->next_ino = ino + 1;
	touch(r, f);
	return 0;
}

static int apply_symlink(struct msnap_fs *fs, struct record *r,
			 const struct msnap_entry_symlink *e)
{
	struct msnap_file *f;
	uint32_t len = le32(e->len);

	if (need_dirs(fs, r, &e->hdr, "SYMLINK"))
		return -1;
	f = entry_file(fs, r, &e->hdr, "SYMLINK", ANY_INODE);
	if (!f)
		return -1;
	if (msnap_file_is_link(f) || !S_ISLNK(f->mode))
		return entry_fail(fs, r, "SYMLINK", f->ino, "not a symlink");
	if (!msnap_symlink_ok(e->target, len))
		return entry_fail(fs, r, "SYMLINK", f->ino,
				  "target holds a NUL byte");
	msnap_file_set_symlink(f, e->target, len);
	f->size = len;
	return 0;
}

static int apply_truncate(struct msnap_fs *fs, struct record *r,
			  const struct msnap_entry_truncate *e)
{
	struct msnap_file *f = entry_file(fs, r, &e->hdr, "TRUNCATE", REGULAR);
	char why[96];

	if (!f)
		return -1;
	if (le64(e->size) > MSNAP_MAX_FILE_SIZE) {
		snprintf(why, sizeof(why),
			 "TRUNCATE for inode %llu: size too large", ULL(f->ino));
		rec_problem(fs, r, why);
		return -1;
	}
	/* The kernel always cuts at the first page past the new size. */
	if (le64(e->first_index) != le64(e->size) / MSNAP_BLOCK_SIZE +
				    !!(le64(e->size) % MSNAP_BLOCK_SIZE)) {
		snprintf(why, sizeof(why),
			 "TRUNCATE for inode %llu: first page %llu is not the first past size %llu",
			 ULL(f->ino), ULL(le64(e->first_index)),
			 ULL(le64(e->size)));
		rec_problem(fs, r, why);
		return -1;
	}
	msnap_file_truncate(f, le64(e->first_index));
	f->size = le64(e->size);
	return 0;
}

static int apply_entry(struct msnap_fs *fs, struct record *r, const void *p)
{
	const struct msnap_entry_hdr *h = p;
	const struct msnap_entry_name *n = p;
	const struct msnap_entry_dirent *d = p;
	struct msnap_file *f;

	switch (le16(h->type)) {
	case MSNAP_ENTRY_DATA:
		return apply_data(fs, r, p);
	case MSNAP_ENTRY_INODE:
		return apply_inode(fs, r, p);
	case MSNAP_ENTRY_NAME:
		return set_name(fs, r, h, "NAME", MSNAP_ROOT_INO, n->name,
				le32(n->name_len));
	case MSNAP_ENTRY_DIRENT:
		if (need_dirs(fs, r, h, "DIRENT"))
			return -1;
		return set_name(fs, r, h, "DIRENT", le64(d->parent), d->name,
				le32(d->name_len));
	case MSNAP_ENTRY_LINK:
		return apply_link(fs, r, p);
	case MSNAP_ENTRY_SYMLINK:
		return apply_symlink(fs, r, p);
	case MSNAP_ENTRY_UNLINK:
		f = entry_file(fs, r, h, "UNLINK", ANY_INODE);
		if (!f)
			return -1;
		msnap_map_put(fs->replay_unlinked, f->ino, 1);
		msnap_file_del(fs, f);
		return 0;
	default:
		return apply_truncate(fs, r, p);
	}
}

/* A rule that must hold between records broken by f, or NULL. */
static const char *between_bad(struct msnap_fs *fs, struct msnap_file *f,
			       char *why, size_t len)
{
	/*
	 * Two inodes with one name, a parent that is not a live directory,
	 * a link to nothing are problems of the state the whole log leaves
	 * (msnap_names_report(), msnap_namespace_check()), as for the
	 * kernel, which builds the namespace after the last record.
	 */
	if (!f->name)
		snprintf(why, len, "inode %llu has no name", ULL(f->ino));
	else if (msnap_file_is_link(f))
		return NULL;
	else if (S_ISLNK(f->mode) && !f->symlink_len)
		snprintf(why, len, "symlink %llu has no target", ULL(f->ino));
	else if (S_ISLNK(f->mode) && f->size != f->symlink_len)
		snprintf(why, len,
			 "symlink %llu: size %llu, but its target is %u bytes",
			 ULL(f->ino), ULL(f->size), f->symlink_len);
	else if (S_ISREG(f->mode) &&
		 msnap_file_beyond(fs, f, f->size / MSNAP_BLOCK_SIZE +
				   !!(f->size % MSNAP_BLOCK_SIZE)))
		snprintf(why, len, "inode %llu maps pages beyond its size %llu",
			 ULL(f->ino), ULL(f->size));
	else
		return NULL;
	return why;
}

/* What must hold between records, for the inodes this one changed. */
static int record_end_check(struct msnap_fs *fs, struct record *r)
{
	struct msnap_file *f;
	char why[MSNAP_NAME_MAX + 96];
	size_t i;
	int ret = 0;

	for (i = 0; i < r->nr_touched; i++) {
		f = msnap_file_get(fs, r->touched[i]);
		if (!f || f->touched != r->seq || f->ino < MSNAP_FIRST_INO)
			continue;
		f->touched = 0;
		if (between_bad(fs, f, why, sizeof(why))) {
			rec_problem(fs, r, why);
			ret = -1;
		}
	}
	return ret;
}

/* 1: replayed; 0: end of log; -1: corruption or IO error (stop). */
static int replay_record(struct msnap_fs *fs, struct record *r)
{
	int ret = read_record(fs, r);

	if (ret <= 0)
		return ret;
	ret = for_each_entry(fs, r, data_crc_check);
	if (ret)
		return ret > 0 ? 0 : -1;
	if (for_each_entry(fs, r, apply_entry) || record_end_check(fs, r))
		return -1;
	return 1;
}

/*
 * Replay the log from the checkpoint on, stopping at the first record
 * that is not there.  Returns -1 when a record was corrupt (reported) or
 * could not be read, else 0; fs->records counts the records replayed.
 */
int msnap_log_replay(struct msnap_fs *fs)
{
	struct record r = { 0 };
	int ret = 0;

	r.seq = le64(fs->sb.ckpt_seq) + 1;
	r.pos = le64(fs->sb.log_head);
	for (;;) {
		if (fs->limit_replay && fs->records >= fs->replay_limit)
			break;
		r.nr_touched = 0;
		ret = replay_record(fs, &r);
		free(r.b);
		r.b = NULL;
		if (ret <= 0)
			break;
		fs->records++;
		fs->log_blocks_used += r.count;
		r.pos = (r.pos + r.count) % fs->g.log_blocks;
		r.seq++;
	}
	free(r.touched);
	return ret < 0 ? -1 : 0;
}
