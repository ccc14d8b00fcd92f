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

static bool name_entry_ok(const struct msnap_entry_name *e, uint32_t len)
{
	uint32_t nl = le32(e->name_len);

	if (nl < 1 || nl > MSNAP_NAME_MAX || e->reserved)
		return false;
	if (len != sizeof(*e) + ROUND8(nl))
		return false;
	return msnap_all_zero(e->name + nl, len - sizeof(*e) - nl);
}

/* The entry's length if it is well formed, else 0. */
static uint32_t entry_len(const void *p, uint32_t room)
{
	const struct msnap_entry_hdr *h = p;
	uint32_t len;

	if (room < sizeof(*h))
		return 0;
	len = le16(h->len);
	if (len < sizeof(*h) || len % 8 || len > room || h->reserved)
		return 0;
	switch (le16(h->type)) {
	case MSNAP_ENTRY_DATA:
		if (len == sizeof(struct msnap_entry_data) &&
		    !((const struct msnap_entry_data *)p)->reserved)
			return len;
		return 0;
	case MSNAP_ENTRY_INODE:
		if (len == sizeof(struct msnap_entry_inode) &&
		    !((const struct msnap_entry_inode *)p)->rdev)
			return len;
		return 0;
	case MSNAP_ENTRY_NAME:
		return name_entry_ok(p, len) ? len : 0;
	case MSNAP_ENTRY_UNLINK:
		return len == sizeof(struct msnap_entry_unlink) ? len : 0;
	case MSNAP_ENTRY_TRUNCATE:
		return len == sizeof(struct msnap_entry_truncate) ? len : 0;
	}
	return 0;
}

static const char *entries_bad(const struct msnap_log_block *lb)
{
	uint32_t used = le32(lb->bytes_used), off = 0, len, n = 0;

	if (used > MSNAP_LOG_PAYLOAD)
		return "bytes_used too large";
	while (off < used) {
		len = entry_len(lb->payload + off, used - off);
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
	return entries_bad(lb);
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

/* The regular file an entry names, or NULL after reporting why not. */
static struct msnap_file *entry_file(struct msnap_fs *fs, struct record *r,
				     const struct msnap_entry_hdr *h,
				     const char *type)
{
	uint64_t ino = le64(h->ino);
	struct msnap_file *f = msnap_file_get(fs, ino);
	char why[96];

	if (f && ino >= MSNAP_FIRST_INO) {
		touch(r, f);
		return f;
	}
	snprintf(why, sizeof(why), "%s for inode %llu: %s", type, ULL(ino),
		 f ? "not a regular file" : "no such file");
	rec_problem(fs, r, why);
	return NULL;
}

static int apply_data(struct msnap_fs *fs, struct record *r,
		      const struct msnap_entry_data *e)
{
	struct msnap_file *f = entry_file(fs, r, &e->hdr, "DATA");
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

static int apply_inode(struct msnap_fs *fs, struct record *r,
		       const struct msnap_entry_inode *e)
{
	uint64_t ino = le64(e->hdr.ino);
	struct msnap_file *f;
	const char *bad = "not a file's inode number";
	char why[96];

	/* As the kernel replays: the root and unlinked files take none. */
	if (ino >= msnap_tree_span(MSNAP_TREE_MAX_HEIGHT))
		bad = "number too large for the inode tree";
	else if (ino >= MSNAP_FIRST_INO && msnap_map_get(fs->replay_unlinked,
							 ino, NULL))
		bad = "unlinked earlier in the log";
	else if (ino >= MSNAP_FIRST_INO)
		bad = msnap_attrs_bad(ino, le32(e->mode), le32(e->flags),
				      le64(e->size), le32(e->atime_nsec),
				      le32(e->mtime_nsec), le32(e->ctime_nsec));
	if (bad) {
		snprintf(why, sizeof(why), "INODE for inode %llu: %s",
			 ULL(ino), bad);
		rec_problem(fs, r, why);
		return -1;
	}
	f = msnap_file_get(fs, ino);
	if (!f)
		f = msnap_file_add(fs, ino, le32(e->mode), le64(e->size));
	f->mode = le32(e->mode);
	f->size = le64(e->size);
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

static int apply_name(struct msnap_fs *fs, struct record *r,
		      const struct msnap_entry_name *e)
{
	struct msnap_file *f = entry_file(fs, r, &e->hdr, "NAME");
	uint32_t len = le32(e->name_len);
	char why[96];

	if (!f)
		return -1;
	if (!msnap_name_ok(e->name, len)) {
		snprintf(why, sizeof(why), "NAME for inode %llu: invalid name",
			 ULL(f->ino));
		rec_problem(fs, r, why);
		return -1;
	}
	msnap_file_set_name(fs, f, e->name, len);
	return 0;
}

static int apply_truncate(struct msnap_fs *fs, struct record *r,
			  const struct msnap_entry_truncate *e)
{
	struct msnap_file *f = entry_file(fs, r, &e->hdr, "TRUNCATE");
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
	struct msnap_file *f;

	switch (le16(h->type)) {
	case MSNAP_ENTRY_DATA:
		return apply_data(fs, r, p);
	case MSNAP_ENTRY_INODE:
		return apply_inode(fs, r, p);
	case MSNAP_ENTRY_NAME:
		return apply_name(fs, r, p);
	case MSNAP_ENTRY_UNLINK:
		f = entry_file(fs, r, h, "UNLINK");
		if (!f)
			return -1;
		msnap_map_put(fs->replay_unlinked, f->ino, 1);
		msnap_file_del(fs, f);
		return 0;
	default:
		return apply_truncate(fs, r, p);
	}
}

/* What must hold between records, for the files this one changed. */
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
		why[0] = 0;
		/*
		 * Two files with one name are a problem of the state the
		 * whole log leaves (msnap_names_report()), as for the kernel,
		 * which builds the namespace after the last record.
		 */
		if (!f->name)
			snprintf(why, sizeof(why), "inode %llu has no name",
				 ULL(f->ino));
		else if (msnap_file_beyond(fs, f, f->size / MSNAP_BLOCK_SIZE +
					   !!(f->size % MSNAP_BLOCK_SIZE)))
			snprintf(why, sizeof(why),
				 "inode %llu maps pages beyond its size %llu",
				 ULL(f->ino), ULL(f->size));
		if (why[0]) {
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
