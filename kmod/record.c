// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: commit records, both ways.
 *
 * A commit record is a run of log blocks, each framed by a header (magic,
 * commit sequence, index and count, the log nonce, CRC32C) around a
 * payload of 8-byte aligned entries (uapi: struct msnap_entry_*).  The
 * write side builds a record in zeroed pages and seals it; the read side
 * is what recovery trusts: a record is valid only if every block's
 * framing is and every data block its DATA entries name has the CRC32C
 * they state.  Both sides follow docs/format.md and must change with it
 * (docs/design.md, "Changing the record format").
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/buffer_head.h>
#include <linux/slab.h>

#include "memsnap.h"

/* An empty record, at most a MSNAP_RECORD_MAX_DIV-th of the log. */
void msnap_record_init(struct msnap_sb_info *sbi, struct msnap_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->max_blocks = max_t(u64, 1, sbi->log_blocks / MSNAP_RECORD_MAX_DIV);
}

/* Free the record's pages; it can be built again from empty. */
void msnap_record_free(struct msnap_record *rec)
{
	unsigned int i;

	for (i = 0; i < rec->alloced; i++)
		__free_page(rec->pages[i]);
	kfree(rec->pages);
	rec->pages = NULL;
	rec->nr = 0;
	rec->alloced = 0;
}

/* Log blocks the record uses so far. */
unsigned int msnap_record_blocks(struct msnap_record *rec)
{
	return rec->nr;
}

static struct msnap_log_block *msnap_record_block(struct msnap_record *rec,
						  unsigned int i)
{
	return page_address(rec->pages[i]);
}

/* Zeroed pages for the first @blocks blocks of the record, in advance. */
int msnap_record_reserve(struct msnap_record *rec, unsigned int blocks)
{
	struct page **pages;

	blocks = min(blocks, rec->max_blocks);
	if (blocks > rec->cap) {
		pages = krealloc_array(rec->pages, blocks, sizeof(*pages),
				       GFP_NOFS);
		if (!pages)
			return -ENOMEM;
		rec->pages = pages;
		rec->cap = blocks;
	}
	for (; rec->alloced < blocks; rec->alloced++) {
		rec->pages[rec->alloced] = alloc_page(GFP_NOFS | __GFP_ZERO);
		if (!rec->pages[rec->alloced])
			return -ENOMEM;
	}
	return 0;
}

static int msnap_record_grow(struct msnap_record *rec)
{
	int err;

	if (rec->nr == rec->max_blocks)
		return -ENOSPC;
	if (rec->nr == rec->alloced) {
		err = msnap_record_reserve(rec, rec->cap ? rec->cap * 2 : 4);
		if (err)
			return err;
	}
	rec->nr++;
	rec->used = 0;
	rec->entries = 0;
	return 0;
}

/*
 * Append a zeroed entry of @len bytes (header included) to the record and
 * return it for the caller to fill; ERR_PTR(-ENOSPC) when the record
 * would exceed its share of the log.
 */
void *msnap_record_add(struct msnap_record *rec, enum msnap_entry_type type,
		       u64 ino, size_t len)
{
	struct msnap_log_block *lb;
	struct msnap_entry_hdr *hdr;
	int err;

	len = round_up(len, 8);
	if (!rec->nr || rec->used + len > MSNAP_LOG_PAYLOAD) {
		err = msnap_record_grow(rec);
		if (err)
			return ERR_PTR(err);
	}
	lb = msnap_record_block(rec, rec->nr - 1);
	hdr = (void *)(lb->payload + rec->used);
	hdr->type = cpu_to_le16(type);
	hdr->len = cpu_to_le16(len);
	hdr->ino = cpu_to_le64(ino);
	rec->used += len;
	rec->entries++;
	lb->entries = cpu_to_le32(rec->entries);
	lb->bytes_used = cpu_to_le32(rec->used);
	return hdr;
}

/* Seal the record's blocks as commit next_seq and start writing them. */
void msnap_record_write(struct super_block *sb, struct msnap_record *rec,
			struct msnap_io *io)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	u64 pos = (sbi->log_head + sbi->log_used) % sbi->log_blocks;
	blk_opf_t opf = REQ_OP_WRITE | REQ_SYNC | REQ_FUA;
	struct msnap_log_block *lb;
	unsigned int i, first;
	time64_t now = ktime_get_real_seconds();

	lockdep_assert_held(&sbi->commit_mutex);
	for (i = 0; i < rec->nr; i++) {
		lb = msnap_record_block(rec, i);
		lb->magic = cpu_to_le32(MSNAP_LOG_MAGIC);
		lb->seq = cpu_to_le64(sbi->next_seq);
		lb->index = cpu_to_le32(i);
		lb->count = cpu_to_le32(rec->nr);
		lb->nonce = cpu_to_le64(sbi->log_nonce);
		lb->time = cpu_to_le64(now);
		msnap_set_crc(lb, &lb->crc);
	}
	/* At most two runs: up to the end of the log, then from its start. */
	first = min_t(u64, rec->nr, sbi->log_blocks - pos);
	msnap_submit_pages(sb, sbi->log_start + pos, rec->pages, first, opf, io,
			   msnap_io_rec_end);
	if (first < rec->nr)
		msnap_submit_pages(sb, sbi->log_start, rec->pages + first,
				   rec->nr - first, opf, io, msnap_io_rec_end);
}

/* The record was submitted: it holds its log blocks and sequence number. */
void msnap_record_done(struct msnap_sb_info *sbi, struct msnap_record *rec)
{
	lockdep_assert_held(&sbi->commit_mutex);
	sbi->log_used += rec->nr;
	sbi->next_seq++;
}

/* Reading a record back (recovery). */

/*
 * The size a well-formed entry of its type has (reserved fields zero, a
 * name zero padded), 0 if it is not well formed.  Kept in step with the
 * user-space reader's entry_len() (tools/lib/msnapfs_log.c), so that the
 * kernel and fsck end the log at the same record.
 */
/*
 * The length of a string entry whose fixed part is @head bytes, with
 * its reserved word and string length at @reserved and @len: the word
 * zero, 1 to @max string bytes zero padded to 8; 0 if it is not so.
 * Reads nothing past the header before checking the entry holds @head.
 */
static size_t msnap_str_entry_size(struct msnap_entry_hdr *h, size_t head,
				   const __le32 *reserved, const __le32 *len,
				   u32 max)
{
	size_t hlen = le16_to_cpu(h->len);
	u32 n;

	if (hlen < head || *reserved)
		return 0;
	n = le32_to_cpu(*len);
	if (!n || n > max || hlen != round_up(head + n, 8) ||
	    memchr_inv((char *)h + head + n, 0, hlen - head - n))
		return 0;
	return hlen;
}

/*
 * Without feature DIRS the INODE entry's rdev word is a reserved field:
 * non-zero, the entry is malformed (the end of the log, as for fsck).
 */
static size_t msnap_entry_size(struct msnap_entry_hdr *h, bool dirs)
{
	struct msnap_entry_inode *i = (void *)h;
	struct msnap_entry_symlink *sl = (void *)h;
	struct msnap_entry_dirent *de = (void *)h;
	struct msnap_entry_data *d = (void *)h;
	struct msnap_entry_name *n = (void *)h;
	struct msnap_entry_link *l = (void *)h;

	/* h->len is within the block (the caller checked): read only in it. */
	switch (le16_to_cpu(h->type)) {
	case MSNAP_ENTRY_DATA:
		/* Read past the header only within the entry's length. */
		if (le16_to_cpu(h->len) != sizeof(*d) || d->reserved)
			return 0;
		return sizeof(*d);
	case MSNAP_ENTRY_INODE:
		if (le16_to_cpu(h->len) != sizeof(*i) || (!dirs && i->rdev))
			return 0;
		return sizeof(*i);
	case MSNAP_ENTRY_NAME:
		return msnap_str_entry_size(h, sizeof(*n), &n->reserved,
					    &n->name_len, MSNAP_NAME_MAX);
	case MSNAP_ENTRY_DIRENT:
		return msnap_str_entry_size(h, sizeof(*de), &de->reserved,
					    &de->name_len, MSNAP_NAME_MAX);
	case MSNAP_ENTRY_LINK:
		return msnap_str_entry_size(h, sizeof(*l), &l->reserved,
					    &l->name_len, MSNAP_NAME_MAX);
	case MSNAP_ENTRY_SYMLINK:
		return msnap_str_entry_size(h, sizeof(*sl), &sl->reserved,
					    &sl->len, MSNAP_SYMLINK_MAX);
	case MSNAP_ENTRY_UNLINK:
		return sizeof(struct msnap_entry_unlink);
	case MSNAP_ENTRY_TRUNCATE:
		return sizeof(struct msnap_entry_truncate);
	}
	return 0;
}

/* Check the entries of one log block parse exactly to bytes_used. */
static bool msnap_log_block_parses(struct msnap_log_block *lb, bool dirs)
{
	u32 used = le32_to_cpu(lb->bytes_used), off, len, n = 0;
	struct msnap_entry_hdr *h;

	if (used > MSNAP_LOG_PAYLOAD)
		return false;
	for (off = 0; off < used; off += len, n++) {
		if (used - off < sizeof(*h))
			return false;
		h = (void *)(lb->payload + off);
		len = le16_to_cpu(h->len);
		if (len < sizeof(*h) || len % 8 || len > used - off ||
		    len != msnap_entry_size(h, dirs) || h->reserved)
			return false;
	}
	return n == le32_to_cpu(lb->entries);
}

/* Drop the buffers msnap_read_record() read. */
void msnap_replay_rec_free(struct msnap_replay_rec *r)
{
	u32 i;

	for (i = 0; i < r->count; i++)
		brelse(r->bhs[i]);
	kfree(r->bhs);
}

/* Whether @lb is block @index of commit @seq of this log, and parses. */
static bool msnap_log_block_ok(struct msnap_sb_info *sbi,
			       struct msnap_log_block *lb, u64 seq, u32 index)
{
	return le32_to_cpu(lb->magic) == MSNAP_LOG_MAGIC &&
	       msnap_crc_ok(lb, &lb->crc) && le64_to_cpu(lb->seq) == seq &&
	       le32_to_cpu(lb->index) == index &&
	       le64_to_cpu(lb->nonce) == sbi->log_nonce &&
	       !memchr_inv(lb->reserved, 0, sizeof(lb->reserved)) &&
	       msnap_log_block_parses(lb, msnap_has_dirs(sbi));
}

/*
 * Whether every data block of a DATA entry of @lb holds what the record
 * says (*@ok false: a torn commit, the end of the log); -EUCLEAN for a
 * block outside the data area, which no commit writes (fsck's
 * data_crc_check calls it corruption too).
 */
static int msnap_record_data_ok(struct super_block *sb,
				struct msnap_log_block *lb, bool *ok)
{
	u32 used = le32_to_cpu(lb->bytes_used), off;
	struct msnap_entry_data *d;
	struct buffer_head *bh;

	*ok = false;
	for (off = 0; off < used; off += le16_to_cpu(d->hdr.len)) {
		d = (void *)(lb->payload + off);
		if (le16_to_cpu(d->hdr.type) != MSNAP_ENTRY_DATA)
			continue;
		if (!msnap_is_data_block(MSNAP_SB(sb), le64_to_cpu(d->block))) {
			msnap_err(sb, "commit %llu: DATA for inode %llu: block %llu outside the data area",
				  le64_to_cpu(lb->seq), le64_to_cpu(d->hdr.ino),
				  le64_to_cpu(d->block));
			return -EUCLEAN;
		}
		bh = sb_bread(sb, le64_to_cpu(d->block));
		if (!bh)
			return 0;
		*ok = msnap_crc32c(bh->b_data, MSNAP_BLOCK_SIZE) ==
		      le32_to_cpu(d->data_crc);
		brelse(bh);
		if (!*ok)
			return 0;
	}
	*ok = true;
	return 0;
}

/*
 * Read the record at log offset @pos as commit @seq into @r: r->valid
 * says whether it is whole (if not, it is the end of the log).  The
 * blocks are checked in order and a data block only once its log
 * block's framing was.  The caller frees @r whatever the result.
 */
int msnap_read_record(struct super_block *sb, u64 pos, u64 seq,
		      struct msnap_replay_rec *r)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_log_block *lb;
	u32 i, count = 1;
	bool ok;
	int err;

	r->count = 0;
	r->bhs = NULL;
	r->valid = false;
	for (i = 0; i < count; i++) {
		struct buffer_head *bh;

		bh = sb_bread(sb, sbi->log_start + (pos + i) % sbi->log_blocks);
		if (!bh)
			return 0;
		lb = (void *)bh->b_data;
		if (!i) {
			count = le32_to_cpu(lb->count);
			if (!count || count > sbi->log_blocks / MSNAP_RECORD_MAX_DIV ||
			    !msnap_log_fits(sbi, count)) {
				brelse(bh);
				return 0;
			}
			r->bhs = kcalloc(count, sizeof(*r->bhs), GFP_KERNEL);
			if (!r->bhs) {
				brelse(bh);
				return -ENOMEM;
			}
		}
		r->bhs[r->count++] = bh;
		if (le32_to_cpu(lb->count) != count ||
		    !msnap_log_block_ok(sbi, lb, seq, i))
			return 0;
	}
	/* fsck checks every block's framing before any data block. */
	for (i = 0; i < count; i++) {
		err = msnap_record_data_ok(sb, (void *)r->bhs[i]->b_data, &ok);
		if (err || !ok)
			return err;
	}
	r->valid = true;
	return 0;
}
