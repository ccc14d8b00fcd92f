// SPDX-License-Identifier: GPL-2.0
/*
 * replay-log: rebuild a memsnap device from a dm-log-writes log at every
 * crash point and check each image.
 *
 *   replay-log [--seed S] [--variants N] [--rng R] [--fsck PATH]
 *              [--save DIR M] [-v] LOG DEVICE-BYTES IMAGE
 *
 * The log (Documentation/admin-guide/device-mapper/log-writes.rst) is a
 * super sector, then per entry one sector holding (sector, nr_sectors,
 * flags, data_len) and, for a mark, its name, followed by the data of a
 * write.  Entries appear in completion order; a plain write is logged
 * only when the FLUSH after it arrives, FUA writes and marks at once.
 *
 * Crash points: after every entry with FLUSH or FUA, the image of every
 * entry so far (IMAGE, a file the size of the device, rebuilt
 * incrementally).  Then N variants of that point as a volatile write
 * cache and in-flight IO could leave it: writes logged after the point,
 * up to the next FLUSH or mark (at most 64), land in a random subset and
 * random order (a write of several blocks sometimes torn: a random
 * subset of its 4 KiB blocks), and plain writes since the last FLUSH
 * that nothing later overwrote are randomly lost.  The window stops
 * after the data half of a PREFLUSH write (memsnap's superblock write,
 * which it waits for before issuing anything else).  Marks bound it
 * too: "a<i>" follows the completion of persist i's writes and "i<i>"
 * precedes their submission.  Each image must be clean for
 * fsck.memsnap -n; from the mark "start" on, files "a" and "b" must hold
 * exactly the pages of one persist state j of the plan (plan.h), with
 * last acknowledged <= j <= last issued (marks "a<i>" and "i<i>"), and
 * the names must be those after j (or j + 1: namespace ops precede the
 * persist's mark and may commit earlier).
 *
 * With --save, a sample of M checked images goes to DIR with DIR/list
 * (offer(), write_list()) for the recheck after a recovery
 * (selftests/crash/recheck.sh).
 *
 * Prints one line per violation, the superblock writes (checkpoints) and
 * log wraps after "start", and "points P violations V"; exits 1 on
 * a violation, 2 on a usage or IO error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "msnapfs.h"
#include "plan.h"

#define LW_MAGIC	0x6a736677736872ULL
#define LW_FLUSH	(1 << 0)
#define LW_FUA		(1 << 1)
#define LW_DISCARD	(1 << 2)
#define LW_MARK		(1 << 3)
#define WINDOW		64

struct lw_entry_disk {
	uint64_t sector, nr_sectors, flags, data_len;
};

struct entry {
	uint64_t	off;		/* byte offset of the data in the log */
	uint64_t	start, len;	/* bytes on the device */
	uint64_t	flags;
	char		mark[32];
};

static struct entry *ent;
static size_t nent;
static unsigned char *logmap, *img;
static uint64_t devbytes;
static const char *image, *fsck_path;
static uint64_t seed = 1, rng = 12345;
static unsigned int variants = 4;
static int verbose;
static long only = -1;	/* --only K: check only the points at entry K */
static size_t cur_k;
static unsigned long points, violations, fsck_runs, checkpoints, wraps;
extern char **environ;
static char fsck_out[4096];

/*
 * --save DIR M: a sample of M checked images for the recheck phase
 * (replay_test.sh boots a guest that mounts each, persists again, and
 * checks a crash copy and a clean remount).  Three reservoirs of M:
 * images whose log holds a whole record past the end of the replay
 * (records_ahead) where one-block commits after the recovery would make
 * the next replay expect it ("aligned"), other images with such records,
 * and all others; the list takes up to M/2, M/4 and the rest of them,
 * then fills what is left in that order.
 */
static const char *save_dir;
static unsigned int save_max;
static uint64_t save_rng = 777;
struct saved {
	char		file[64];
	uint64_t	acked, issued, state;
	unsigned int	ahead;		/* valid-looking records past the end */
	unsigned int	aligned;	/* d: one at end + d with seq end + d */
	char		where[96];
};
static struct saved *pool[3];
static unsigned long pool_seen[3];

/* What the marks say at the current point. */
static int mkfs_done, started;
static uint64_t acked, issued, max_issued;

/* Pages stamped by each persist of the plan. */
static struct plan *plans;

static uint64_t rnd(void)
{
	rng = plan_mix(rng);
	return rng;
}

static void fail(const char *what)
{
	fprintf(stderr, "replay-log: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void load_log(const char *path)
{
	struct lw_entry_disk *e, super;
	uint64_t secsize, n, i, pos;
	struct stat st;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st))
		fail(path);
	logmap = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (logmap == MAP_FAILED)
		fail("mmap log");
	memcpy(&super, logmap, sizeof(super));
	/* super: magic, version, nr_entries, then a __le32 sector size */
	if (le64(super.sector) != LW_MAGIC) {
		fprintf(stderr, "replay-log: %s: not a log-writes log\n", path);
		exit(2);
	}
	n = le64(super.flags);
	secsize = le32(*(uint32_t *)(logmap + 24));
	ent = msnap_alloc(n * sizeof(*ent) + 1);
	pos = secsize;
	for (i = 0; i < n; i++) {
		struct entry *x = &ent[nent++];

		if (pos + secsize > (uint64_t)st.st_size) {
			fprintf(stderr, "replay-log: log truncated at entry %llu\n",
				(unsigned long long)i);
			exit(2);
		}
		e = (struct lw_entry_disk *)(logmap + pos);
		x->flags = le64(e->flags);
		x->start = le64(e->sector) * secsize;
		x->len = le64(e->nr_sectors) * secsize;
		x->off = pos + secsize;
		if (x->flags & LW_MARK) {
			size_t l = le64(e->data_len);

			if (l >= sizeof(x->mark))
				l = sizeof(x->mark) - 1;
			memcpy(x->mark, logmap + pos + sizeof(*e), l);
			x->len = 0;
		}
		pos += secsize;
		if (!(x->flags & (LW_DISCARD | LW_MARK)))
			pos += x->len;
		if (x->start + x->len > devbytes) {
			fprintf(stderr, "replay-log: entry %llu beyond the device\n",
				(unsigned long long)i);
			exit(2);
		}
	}
}

static bool is_write(const struct entry *x)
{
	return x->len && !(x->flags & LW_MARK);
}

/* Apply entry x to the image, saving what it replaced in undo if asked. */
static void apply(const struct entry *x, unsigned char *undo)
{
	if (!is_write(x))
		return;
	if (undo)
		memcpy(undo, img + x->start, x->len);
	if (x->flags & LW_DISCARD)
		memset(img + x->start, 0, x->len);
	else
		memcpy(img + x->start, logmap + x->off, x->len);
}

static void take_mark(const char *m)
{
	if (!strcmp(m, "mkfs"))
		mkfs_done = 1;
	else if (!strcmp(m, "start"))
		started = 1;
	else if (m[0] == 'i')
		issued = strtoull(m + 1, NULL, 10);
	else if (m[0] == 'a')
		acked = strtoull(m + 1, NULL, 10);
}

/* ---- the checker ----------------------------------------------------- */

static bool run_fsck(void)
{
	char *const argv[] = { (char *)fsck_path, "-n", (char *)image, NULL };
	posix_spawn_file_actions_t fa;
	int pfd[2], st;
	ssize_t r, got = 0;
	pid_t pid;

	fsck_runs++;
	if (pipe(pfd))
		fail("pipe");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	posix_spawn_file_actions_addclose(&fa, pfd[0]);
	errno = posix_spawn(&pid, fsck_path, &fa, NULL, argv, environ);
	if (errno)
		fail(fsck_path);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	while ((r = read(pfd[0], fsck_out + got, sizeof(fsck_out) - 1 - got)) > 0)
		got += r;
	fsck_out[got] = 0;
	close(pfd[0]);
	if (waitpid(pid, &st, 0) < 0)
		fail("waitpid");
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void load_inode(struct msnap_fs *fs, void *ctx, uint64_t ino,
		       uint64_t blk)
{
	struct msnap_inode in;
	struct msnap_file *f;

	(void)ctx;
	if (msnap_fs_read(fs, blk, &in) || le32(in.magic) != MSNAP_INODE_MAGIC)
		return;
	f = msnap_file_add(fs, ino, le32(in.mode), le64(in.size));
	f->map_root = le64(in.map_root);
	f->map_height = le32(in.map_height);
	if (ino != MSNAP_ROOT_INO)
		msnap_file_set_name(fs, f, fs->dirs && in.parent ?
				    le64(in.parent) : MSNAP_ROOT_INO,
				    in.name, le32(in.name_len));
}

/* Load the newest valid checkpoint and replay the log, as a mount does. */
static int load_fs(struct msnap_fs *fs)
{
	struct msnap_super sb[2];
	struct msnap_walk w = { 0, "inode tree", NULL, load_inode, NULL };
	const size_t bytes = MSNAP_BITMAP_BITS / 8;
	struct msnap_bitmap bm;
	bool ok[2];
	char why[160];
	uint64_t i, start;
	int k, cur;

	memset(fs, 0, sizeof(*fs));
	if (msnap_dev_open(&fs->dev, image, O_RDONLY))
		return -1;
	for (k = 0; k < 2; k++)
		ok[k] = !msnap_fs_read(fs, k, &sb[k]) &&
			!msnap_super_check(&sb[k], fs->dev.blocks, why, sizeof(why));
	if (!ok[0] && !ok[1])
		return -1;
	cur = !ok[0] || (ok[1] && le64(sb[1].generation) > le64(sb[0].generation));
	fs->sb = sb[cur];
	msnap_geometry(le64(fs->sb.blocks), le64(fs->sb.log_start),
		       le64(fs->sb.log_blocks), &fs->g);
	fs->nr_data = fs->g.blocks - fs->g.data_start;
	fs->bitmap = msnap_alloc(fs->g.bitmap_blocks * bytes);
	fs->bitmap_bad = msnap_alloc(fs->g.bitmap_blocks);
	start = fs->g.bitmap_start + le32(fs->sb.bitmap_copy) * fs->g.bitmap_blocks;
	for (i = 0; i < fs->g.bitmap_blocks; i++) {
		if (msnap_fs_read(fs, start + i, &bm))
			fs->bitmap_bad[i] = 1;
		else
			memcpy(fs->bitmap + i * bytes, bm.bits, bytes);
	}
	msnap_model_init(fs);
	msnap_tree_walk(fs, &w, le64(fs->sb.inode_root),
			le32(fs->sb.inode_height));
	msnap_log_replay(fs);
	return 0;
}

static void free_fs(struct msnap_fs *fs)
{
	msnap_model_free(fs);
	free(fs->bitmap);
	free(fs->bitmap_bad);
	msnap_dev_close(&fs->dev);
}

static struct msnap_file *by_name(struct msnap_fs *fs, const char *name)
{
	struct msnap_file *f;
	uint64_t key, *val;
	size_t i;

	for (i = 0; i < msnap_map_slots(fs->files); i++) {
		if (!msnap_map_at(fs->files, i, &key, &val))
			continue;
		f = (struct msnap_file *)(uintptr_t)*val;
		if (f && f->name && !strcmp(f->name, name))
			return f;
	}
	return NULL;
}

/* The block page idx of f lives at now, 0 for a hole. */
static uint64_t page_block(struct msnap_fs *fs, struct msnap_file *f,
			   uint64_t idx)
{
	struct msnap_node n;
	uint64_t blk, v, s;
	int level;

	if (f->overlay && msnap_map_get(f->overlay, idx, &v))
		return v;
	if (idx >= f->cutoff || !f->map_height ||
	    idx >= msnap_tree_span(f->map_height))
		return 0;
	blk = f->map_root;
	for (level = f->map_height - 1; level >= 0; level--) {
		if (msnap_fs_read(fs, blk, &n))
			return 0;
		s = (idx - le64(n.first_key)) / msnap_tree_span(level);
		if (s >= MSNAP_NODE_SLOTS)
			return 0;
		v = le64(n.slot[s]);
		if (!level || !v)
			return v;
		blk = v;
	}
	return 0;
}

static int64_t stamps[2][PLAN_A_PAGES];

static const char *read_stamps(struct msnap_fs *fs, int file,
			       unsigned int pages)
{
	static char why[128];
	static unsigned char buf[PLAN_PAGE];
	struct msnap_file *f = by_name(fs, file ? "b" : "a");
	unsigned int p;
	uint64_t blk;

	if (!f)
		return file ? "file b missing" : "file a missing";
	for (p = 0; p < pages; p++) {
		blk = page_block(fs, f, p);
		if (!blk)
			memset(buf, 0, sizeof(buf));
		else if (msnap_fs_read(fs, blk, buf))
			return "read error";
		stamps[file][p] = plan_stamp_of(buf, file, p);
		if (stamps[file][p] < 0) {
			snprintf(why, sizeof(why),
				 "file %c page %u (block %llu) torn or foreign",
				 file ? 'b' : 'a', p, (unsigned long long)blk);
			return why;
		}
	}
	return NULL;
}

/* "c" only ever had persists refused with ENOSPC: no page on the disk. */
static const char *c_untouched(struct msnap_fs *fs)
{
	static char why[128];
	struct msnap_file *f = by_name(fs, "c");
	unsigned int p;

	if (!f)
		return "file c missing";
	for (p = 0; p < PLAN_C_PAGES; p++)
		if (page_block(fs, f, p)) {
			snprintf(why, sizeof(why),
				 "file c page %u on disk after ENOSPC", p);
			return why;
		}
	return NULL;
}

static bool names_match(struct msnap_fs *fs, uint64_t j)
{
	char names[PLAN_MAX_NAMES][32];
	int k, n = plan_names(j, names);

	if (fs->nr_files != (uint64_t)n)
		return false;
	for (k = 0; k < n; k++)
		if (!by_name(fs, names[k]))
			return false;
	return true;
}

/*
 * The persist state j the region holds (every page as persist j left
 * it), or -1.  Walks the plan from state 0 keeping the number of pages
 * that differ.
 */
static int64_t region_state(uint64_t hi, uint64_t lo)
{
	static int64_t last[2][PLAN_A_PAGES];
	unsigned int p, k, f;
	long mism = 0;
	int64_t found = -1;
	uint64_t j;

	memset(last, 0, sizeof(last));
	for (p = 0; p < PLAN_A_PAGES; p++)
		mism += stamps[0][p] != 0;
	for (p = 0; p < PLAN_B_PAGES; p++)
		mism += stamps[1][p] != 0;
	if (!mism && lo == 0)
		return 0;
	for (j = 1; j <= hi; j++) {
		const struct plan *pl = &plans[j];

		for (f = 0; f < 2; f++) {
			unsigned int cnt = f ? pl->nb : pl->na;
			const uint16_t *pg = f ? pl->b : pl->a;

			for (k = 0; k < cnt; k++) {
				p = pg[k];
				mism -= stamps[f][p] != last[f][p];
				last[f][p] = j;
				mism += stamps[f][p] != last[f][p];
			}
		}
		if (!mism && j >= lo)
			found = j;
	}
	return found;
}

/* Which pages differ from the states acked..hi, for the report. */
static void explain(uint64_t hi)
{
	static int64_t last[2][PLAN_A_PAGES];
	unsigned int p, k, f, shown;
	uint64_t j;

	memset(last, 0, sizeof(last));
	for (j = 1; j <= hi; j++) {
		const struct plan *pl = &plans[j];

		for (k = 0; k < pl->na; k++)
			last[0][pl->a[k]] = j;
		for (k = 0; k < pl->nb; k++)
			last[1][pl->b[k]] = j;
		if (j < acked)
			continue;
		printf("  vs state %llu (kind %d, %u+%u pages):", (unsigned long long)j,
		       pl->kind, pl->na, pl->nb);
		for (f = 0, shown = 0; f < 2; f++)
			for (p = 0; p < (f ? PLAN_B_PAGES : PLAN_A_PAGES); p++)
				if (stamps[f][p] != last[f][p] && shown++ < 8)
					printf(" %c%u=%lld(want %lld)", f ? 'b' : 'a', p,
					       (long long)stamps[f][p], (long long)last[f][p]);
		printf(" [%u differ]\n", shown);
	}
}

static void violation(const char *where, const char *fmt, const char *arg,
		      uint64_t a, uint64_t b)
{
	violations++;
	printf("VIOLATION at %s: ", where);
	printf(fmt, arg, (unsigned long long)a, (unsigned long long)b);
	putchar('\n');
}

/*
 * Whether a whole record starts at log position pos: its blocks carry
 * the log's tag, a good CRC, seq, their index, and every DATA block it
 * names holds what its CRC says, so that a replay reaching it applies
 * it.
 */
static bool record_at(struct msnap_fs *fs, uint64_t pos, uint64_t *seq)
{
	static unsigned char data[MSNAP_BLOCK_SIZE];
	uint64_t lb = fs->g.log_blocks;
	struct msnap_log_block b;
	const struct msnap_log_block *x = &b;
	const struct msnap_entry_hdr *h;
	const struct msnap_entry_data *e;
	uint32_t i, count = 1, off, len;

	for (i = 0; i < count; i++) {
		if (msnap_fs_read(fs, fs->g.log_start + (pos + i) % lb, &b))
			return false;
		if (le32(x->magic) != MSNAP_LOG_MAGIC ||
		    !msnap_block_crc_ok(x, offsetof(struct msnap_log_block, crc)) ||
		    le64(x->nonce) != le64(fs->sb.log_nonce) || le32(x->index) != i)
			return false;
		if (!i) {
			*seq = le64(x->seq);
			count = le32(x->count);
			if (count < 1 || count > lb / 4)
				return false;
		} else if (le64(x->seq) != *seq || le32(x->count) != count) {
			return false;
		}
		for (off = 0; off + sizeof(*h) <= le32(x->bytes_used) &&
		     le32(x->bytes_used) <= MSNAP_LOG_PAYLOAD; off += len) {
			h = (const void *)(x->payload + off);
			len = le16(h->len);
			if (len < sizeof(*h) || off + len > le32(x->bytes_used))
				return false;
			if (le16(h->type) != MSNAP_ENTRY_DATA)
				continue;
			e = (const void *)h;
			if (len != sizeof(*e) || !msnap_in_data(fs, le64(e->block)) ||
			    msnap_fs_read(fs, le64(e->block), data) ||
			    msnap_crc32c(data, sizeof(data)) != le32(e->data_crc))
				return false;
		}
	}
	return true;
}

/*
 * Records left past the end of the replay: whole records (record_at)
 * with a sequence number after the one the replay expected next,
 * written by commits in flight at the crash that completed while an
 * earlier one did not.  *aligned is the smallest d (1..8) with such a
 * record d blocks after the end holding sequence number end + d: where
 * d one-block commits after a recovery would make the next replay
 * expect it.
 */
static unsigned int records_ahead(struct msnap_fs *fs, unsigned int *aligned)
{
	uint64_t lb = fs->g.log_blocks, end, next, d, seq;
	unsigned int n = 0;

	end = (le64(fs->sb.log_head) + fs->log_blocks_used) % lb;
	next = le64(fs->sb.ckpt_seq) + 1 + fs->records;
	*aligned = 0;
	for (d = 1; d < lb - fs->log_blocks_used; d++) {
		if (!record_at(fs, end + d, &seq) || seq <= next)
			continue;
		n++;
		if (!*aligned && d <= 8 && seq == next + d)
			*aligned = d;
	}
	return n;
}

static void save_image(struct saved *sv)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", save_dir, sv->file);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, img, devbytes) != (ssize_t)devbytes || close(fd))
		fail(path);
}

/* Offer the image of a checked point to the sample (reservoirs). */
static void offer(struct msnap_fs *fs, const char *where, uint64_t hi_issued,
		  uint64_t j)
{
	unsigned int aligned, ahead = records_ahead(fs, &aligned);
	int kind = aligned ? 0 : ahead ? 1 : 2;
	unsigned long slot;
	struct saved *sv;

	slot = pool_seen[kind]++;
	if (slot >= save_max) {
		save_rng = plan_mix(save_rng);
		slot = save_rng % pool_seen[kind];
		if (slot >= save_max)
			return;
	}
	sv = &pool[kind][slot];
	snprintf(sv->file, sizeof(sv->file), "%c%lu.img", "aso"[kind], slot);
	sv->acked = acked;
	sv->issued = hi_issued;
	sv->state = j;
	sv->ahead = ahead;
	sv->aligned = aligned;
	snprintf(sv->where, sizeof(sv->where), "%s", where);
	save_image(sv);
}

/* DIR/list: "FILE ACKED ISSUED STATE AHEAD ALIGNED WHERE" per image. */
static void write_list(void)
{
	unsigned long quota[3] = { save_max / 2, save_max / 4, 0 };
	unsigned long k, n[3], taken = 0, have[3];
	char path[512];
	int kind, pass;
	FILE *f;

	quota[2] = save_max - quota[0] - quota[1];
	snprintf(path, sizeof(path), "%s/list", save_dir);
	f = fopen(path, "w");
	if (!f)
		fail(path);
	for (kind = 0; kind < 3; kind++) {
		have[kind] = pool_seen[kind] < save_max ? pool_seen[kind] : save_max;
		n[kind] = 0;
	}
	/* First each kind up to its quota, then anything left, in order. */
	for (pass = 0; pass < 2; pass++)
		for (kind = 0; kind < 3; kind++)
			for (k = n[kind]; k < have[kind] && taken < save_max &&
			     (pass || k < quota[kind]); k++) {
				struct saved *sv = &pool[kind][k];

				taken++;
				n[kind]++;
				fprintf(f, "%s %llu %llu %llu %u %u %s\n", sv->file,
					(unsigned long long)sv->acked,
					(unsigned long long)sv->issued,
					(unsigned long long)sv->state, sv->ahead,
					sv->aligned, sv->where);
			}
	for (kind = 0; kind < 3; kind++)
		for (k = n[kind]; k < have[kind]; k++) {
			snprintf(path, sizeof(path), "%s/%s", save_dir,
				 pool[kind][k].file);
			unlink(path);
		}
	if (fclose(f))
		fail(path);
	printf("saved %lu of %lu images with records past the end of the log where new one-block commits reach one, %lu of %lu with other records past the end, %lu of %lu others\n",
	       n[0], pool_seen[0], n[1], pool_seen[1], n[2], pool_seen[2]);
}

static void check_point(const char *where, uint64_t hi_issued)
{
	struct msnap_fs fs;
	const char *why;
	int64_t j;

	if (!mkfs_done || (only >= 0 && (size_t)only != cur_k))
		return;
	points++;
	if (!run_fsck()) {
		violation(where, "fsck.memsnap -n not clean:%s%llu%llu", "", 0, 0);
		fputs(fsck_out, stdout);
		return;
	}
	if (!started)
		return;
	if (load_fs(&fs)) {
		violation(where, "no valid superblock%s%llu%llu", "", 0, 0);
		return;
	}
	why = read_stamps(&fs, 0, PLAN_A_PAGES);
	if (!why)
		why = read_stamps(&fs, 1, PLAN_B_PAGES);
	if (!why)
		why = c_untouched(&fs);
	if (why) {
		violation(where, "%s (acked %llu issued %llu)", why, acked, hi_issued);
	} else {
		j = region_state(hi_issued, acked);
		if (j < 0) {
			violation(where, "%sregion is no persist state in [%llu, %llu]",
				  "", acked, hi_issued);
			explain(hi_issued);
		}
		else if (!names_match(&fs, j) && !names_match(&fs, j + 1))
			violation(where, "%snames are not those after persist %llu or %llu",
				  "", j, j + 1);
		else {
			if (verbose > 1)
				printf("%s: state %lld in [%llu, %llu]\n", where, (long long)j,
				       (unsigned long long)acked, (unsigned long long)hi_issued);
			if (save_dir)
				offer(&fs, where, hi_issued, j);
		}
	}
	free_fs(&fs);
}

/* ---- variants -------------------------------------------------------- */

static unsigned char **pre;	/* pre-images of plain writes since the flush */
static size_t *since;		/* writes since the last FLUSH, in order */
static size_t nsince;

static bool overlap(const struct entry *x, const struct entry *y)
{
	return x->start < y->start + y->len && y->start < x->start + x->len;
}

static void variant(size_t k, unsigned int v)
{
	size_t fut[WINDOW], nfut = 0, i, t, drop[WINDOW], ndrop = 0;
	unsigned char *undo[2 * WINDOW];
	const struct entry *done[2 * WINDOW];
	size_t ndone = 0, ntorn = 0;
	char where[96];

	/*
	 * In flight: writes logged after k, up to the next FLUSH or mark.  A
	 * mark bounds the window: "a<i>" follows the completion of all of
	 * persist i's writes, "i<i>" precedes their submission.
	 */
	for (i = k + 1; i < nent && nfut < WINDOW; i++) {
		if (ent[i].flags & (LW_FLUSH | LW_MARK))
			break;
		if (is_write(&ent[i]) && rnd() % 2)
			fut[nfut++] = i;
		/*
		 * The data half of a PREFLUSH write (memsnap's superblock
		 * write, which waits for it): nothing after it was issued
		 * before it completed.
		 */
		if ((ent[i - 1].flags & LW_FLUSH) && !is_write(&ent[i - 1]))
			break;
	}
	/* Lost from the cache: plain writes nothing later overlaps. */
	for (i = 0; i < nsince && ndrop < WINDOW; i++) {
		const struct entry *x = &ent[since[i]];

		if (x->flags & LW_FUA || rnd() % 2)
			continue;
		for (t = i + 1; t < nsince; t++)
			if (overlap(x, &ent[since[t]]))
				break;
		if (t == nsince)
			drop[ndrop++] = i;
	}
	if (!nfut && !ndrop)
		return;
	for (i = 0; i < ndrop; i++) {
		const struct entry *x = &ent[since[drop[i]]];

		undo[ndone] = msnap_alloc(x->len);
		memcpy(undo[ndone], img + x->start, x->len);
		memcpy(img + x->start, pre[drop[i]], x->len);
		done[ndone++] = x;
	}
	for (i = nfut; i > 1; i--) {	/* shuffle: any order of arrival */
		t = rnd() % i;
		size_t tmp = fut[t];

		fut[t] = fut[i - 1];
		fut[i - 1] = tmp;
	}
	for (i = 0; i < nfut; i++) {
		const struct entry *x = &ent[fut[i]];
		uint64_t b;

		undo[ndone] = msnap_alloc(x->len);
		if (x->len > PLAN_PAGE && !(x->flags & LW_DISCARD) &&
		    rnd() % 3 == 0) {
			/* torn: only some of its 4 KiB blocks arrived */
			memcpy(undo[ndone], img + x->start, x->len);
			for (b = 0; b < x->len; b += PLAN_PAGE)
				if (rnd() % 2)
					memcpy(img + x->start + b,
					       logmap + x->off + b, PLAN_PAGE);
			ntorn++;
		} else {
			apply(x, undo[ndone]);
		}
		done[ndone++] = x;
	}
	snprintf(where, sizeof(where), "entry %zu variant %u (+%zu in flight, %zu torn, -%zu cached)",
		 k, v, nfut, ntorn, ndrop);
	check_point(where, issued);
	while (ndone--) {
		memcpy(img + done[ndone]->start, undo[ndone], done[ndone]->len);
		free(undo[ndone]);
	}
}

int main(int argc, char **argv)
{
	size_t k, i;
	int fd, a = 1;
	char where[64];
	uint64_t log_last = 0, log_end = 0;

	msnap_prog = "replay-log";
	fsck_path = "fsck.memsnap";
	for (; a < argc && argv[a][0] == '-'; a++) {
		if (!strcmp(argv[a], "--seed") && a + 1 < argc)
			seed = strtoull(argv[++a], NULL, 0);
		else if (!strcmp(argv[a], "--variants") && a + 1 < argc)
			variants = strtoul(argv[++a], NULL, 0);
		else if (!strcmp(argv[a], "--rng") && a + 1 < argc)
			rng = strtoull(argv[++a], NULL, 0);
		else if (!strcmp(argv[a], "--fsck") && a + 1 < argc)
			fsck_path = argv[++a];
		else if (!strcmp(argv[a], "--only") && a + 1 < argc)
			only = strtol(argv[++a], NULL, 0);
		else if (!strcmp(argv[a], "--save") && a + 2 < argc) {
			save_dir = argv[++a];
			save_max = strtoul(argv[++a], NULL, 0);
		} else if (!strcmp(argv[a], "-v"))
			verbose++;
		else
			break;
	}
	if (argc - a != 3) {
		fprintf(stderr, "usage: replay-log [--seed S] [--variants N] [--rng R] [--fsck PATH] [--save DIR MAX] [-v] LOG DEVICE-BYTES IMAGE\n");
		return 2;
	}
	devbytes = strtoull(argv[a + 1], NULL, 0);
	if (save_dir && save_max) {
		pool[0] = msnap_alloc(save_max * sizeof(*pool[0]));
		pool[1] = msnap_alloc(save_max * sizeof(*pool[1]));
		pool[2] = msnap_alloc(save_max * sizeof(*pool[2]));
		save_rng = rng ^ 0x5a5a;
	} else {
		save_dir = NULL;
	}
	image = argv[a + 2];
	load_log(argv[a]);
	for (k = 0; k < nent; k++)
		if ((ent[k].flags & LW_MARK) && ent[k].mark[0] == 'i') {
			uint64_t v = strtoull(ent[k].mark + 1, NULL, 10);

			if (v > max_issued)
				max_issued = v;
		}
	plans = msnap_alloc((max_issued + 1) * sizeof(*plans));
	for (k = 1; k <= max_issued; k++)
		plan_get(seed, k, &plans[k]);
	fd = open(image, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, devbytes))
		fail(image);
	img = mmap(NULL, devbytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (img == MAP_FAILED)
		fail("mmap image");
	pre = msnap_alloc(nent * sizeof(*pre) + 1);
	since = msnap_alloc(nent * sizeof(*since) + 1);
	for (k = 0; k < nent; k++) {
		struct entry *x = &ent[k];

		cur_k = k;
		if (x->flags & LW_FLUSH) {
			for (i = 0; i < nsince; i++)
				free(pre[i]);
			nsince = 0;
		}
		if (x->flags & LW_MARK) {
			take_mark(x->mark);
			if (started && !log_end) {
				const struct msnap_super *sb = (const void *)img;

				log_end = le64(sb->log_start) + le64(sb->log_blocks);
			}
		}
		if (is_write(x) && started) {
			uint64_t blk = x->start / MSNAP_BLOCK_SIZE;

			if (blk <= MSNAP_SB_BLOCK_B)
				checkpoints++;
			else if (blk < log_end) {
				if (blk < log_last)
					wraps++;
				log_last = blk;
			}
		}
		if (is_write(x)) {
			pre[nsince] = NULL;
			if (!(x->flags & LW_FUA)) {
				pre[nsince] = msnap_alloc(x->len);
			}
			apply(x, pre[nsince]);
			since[nsince++] = k;
		}
		if (!(x->flags & (LW_FLUSH | LW_FUA)))
			continue;
		snprintf(where, sizeof(where), "entry %zu", k);
		check_point(where, issued);
		for (unsigned int v = 0; v < variants && started; v++)
			variant(k, v);
	}
	printf("entries %zu persists %llu acked %llu superblock-writes %lu log-wraps %lu\n",
	       nent, (unsigned long long)max_issued, (unsigned long long)acked,
	       checkpoints, wraps);
	if (save_dir)
		write_list();
	printf("points %lu violations %lu\n", points, violations);
	return violations ? 1 : 0;
}
