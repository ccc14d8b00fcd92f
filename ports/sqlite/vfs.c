// SPDX-License-Identifier: MIT OR LGPL-2.1-or-later
/*
 * The "memsnap" SQLite VFS, over an unmodified SQLite (Debian's 3.40).
 *
 * A main database file on a memsnap filesystem is a region (libmemsnap)
 * mapped MAP_SHARED: reads and xFetch come from the mapping, and writes
 * are memory copies, also into the room that growth makes with
 * ftruncate(2), so that no page of the database is ever file data (which
 * memsnap's commit= interval would persist on its own, in the middle of
 * a transaction): the database reaches the disk only in xSync's
 * persists.  xSync is one
 * msnap_persist() of the file: every page the transaction wrote, atomic;
 * synchronous at PRAGMA synchronous=FULL (the default) and EXTRA,
 * MSNAP_ASYNC at NORMAL and OFF.
 * Its rollback journal is an in-memory file: ROLLBACK and savepoints
 * work, no journal is written, and a commit costs one persist.
 *
 * Locking is the unix VFS's: each database file is also opened through
 * it, and xLock/xUnlock/xCheckReservedLock go to that file, so that
 * processes share a database as they do with the unix VFS.
 *
 * A writer that dies mid-transaction leaves its unpersisted pages in the
 * page cache, where other processes would read them and the next commit
 * would persist them.  So a writer raises a mark, a word in the first
 * page of the file DB-msnap (on the same memsnap filesystem, never
 * persisted: it is exactly as volatile as the pages it describes), before
 * its first write after a persist, and lowers it once they are persisted
 * or discarded.  A connection that takes a SHARED lock and finds the mark
 * raised knows its writer is gone (a live writer holds EXCLUSIVE while it
 * has pages to persist, and SHARED excludes EXCLUSIVE), and discards the
 * unpersisted pages with msnap_abort() before anyone reads: the database
 * is again exactly its last commit.
 *
 * Every other file (temporary files, statement journals, WAL) is the
 * unix VFS's, opened in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <sqlite3ext.h>
#include <memsnap.h>

#include "memsnap_sqlite.h"
#include "vfs.h"

SQLITE_EXTENSION_INIT1

/* Address space a database maps by default: it grows in place within. */
#define MS_RESERVE	(1ULL << 30)
/* Growth steps, as the unix VFS's SQLITE_FCNTL_CHUNK_SIZE: few truncates. */
#define MS_CHUNK	(1ULL << 20)
#define MS_LEVEL_NORMAL	1		/* PRAGMA synchronous=NORMAL */
#define MS_LEVEL_FULL	2		/* Debian's default */
#define MS_MARK_SUFFIX	"-msnap"
#define MS_JOURNAL	"-journal"

/*
 * What the VFS says of a memsnap database (docs/sqlite.md): writes reach
 * the disk only in a persist, all of a persist or none of it, in order,
 * and no byte that was not written changes.  Not SAFE_APPEND: the size
 * that growth sets may be durable before the pages written into it.
 */
#define MS_IOCAP	(SQLITE_IOCAP_ATOMIC | SQLITE_IOCAP_SEQUENTIAL | \
			 SQLITE_IOCAP_POWERSAFE_OVERWRITE)

/*
 * One database file of this process.  Connections to one file share it,
 * as the unix VFS shares its lock state: closing a descriptor of a file
 * drops all of the process's POSIX locks on it, so the region's
 * descriptor is closed only when the last connection goes.
 */
struct ms_inode {
	struct ms_inode		*next;		/* guarded by ms_inodes_lock */
	int			refs;		/* guarded by ms_inodes_lock */
	dev_t			dev;
	ino_t			ino;
	struct msnap_region	*r;
	char			*base;
	/* Serialises growing the mapping and discarding a dead writer's pages. */
	pthread_mutex_t		lock;
	size_t			map_len;	/* guarded by lock; only grows */
	uint32_t		*mark;		/* non-zero: unpersisted writes */
};

/* A connection's main database file on memsnap. */
struct ms_file {
	sqlite3_file		base;
	sqlite3_file		*real;		/* the unix VFS's, for locks */
	struct ms_inode		*ino;
	sqlite3_int64		size;		/* the database's, while locked */
	sqlite3_int64		mmap_max;	/* SQLITE_FCNTL_MMAP_SIZE */
	int			lock;		/* SQLITE_LOCK_* held */
	int			dirty;		/* wrote since the last persist */
	int			level;		/* PRAGMA synchronous, 0..3 */
};

/* An in-memory rollback journal. */
struct ms_mem {
	sqlite3_file		base;
	char			*buf;
	sqlite3_int64		size;
	sqlite3_int64		cap;
};

#define MS_REAL_OFF	((sizeof(struct ms_file) + 15) & ~(size_t)15)

static sqlite3_vfs *ms_unix;
static pthread_mutex_t ms_inodes_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ms_inode *ms_inodes;		/* guarded by ms_inodes_lock */

static size_t ms_page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t ms_round(size_t n, size_t align)
{
	return (n + align - 1) & ~(align - 1);
}

/* ---- which files are memsnap's ---------------------------------------- */

/* 1: on memsnap, 0: elsewhere, -errno: statfs(2) failed. */
static int ms_statfs(const char *path)
{
	struct statfs st;

	if (statfs(path, &st))
		return -errno;
	return st.f_type == MEMSNAP_SUPER_MAGIC;
}

static int ms_path_is_memsnap(const char *path)
{
	return ms_statfs(path) == 1;
}

/* A path, or the directory it would be created in. */
static int ms_place_is_memsnap(const char *path)
{
	char dir[4096];
	const char *slash;
	int ret = ms_statfs(path);

	if (ret != -ENOENT)
		return ret == 1;
	slash = strrchr(path, '/');
	if (!slash)
		return ms_path_is_memsnap(".");
	if ((size_t)(slash - path) >= sizeof(dir))
		return 0;
	memcpy(dir, path, slash - path);
	dir[slash == path ? 1 : slash - path] = '\0';
	if (slash == path)
		dir[0] = '/';
	return ms_path_is_memsnap(dir);
}

/* DB-journal of a database on memsnap: kept in memory. */
static int ms_journal_is_memsnap(const char *path)
{
	size_t n = strlen(path), s = strlen(MS_JOURNAL);
	char *db;
	int ret;

	if (n <= s || strcmp(path + n - s, MS_JOURNAL))
		return 0;
	db = strndup(path, n - s);
	if (!db)
		return 0;
	ret = ms_path_is_memsnap(db);
	free(db);
	return ret;
}

/* ---- the in-memory journal -------------------------------------------- */

static int mem_close(sqlite3_file *f)
{
	struct ms_mem *m = (struct ms_mem *)f;

	free(m->buf);
	m->buf = NULL;
	return SQLITE_OK;
}

static int mem_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
	struct ms_mem *m = (struct ms_mem *)f;
	sqlite3_int64 n = 0;

	if (off < m->size)
		n = m->size - off < amt ? m->size - off : amt;
	if (n)
		memcpy(buf, m->buf + off, n);
	if (n == amt)
		return SQLITE_OK;
	memset((char *)buf + n, 0, amt - n);
	return SQLITE_IOERR_SHORT_READ;
}

static int mem_reserve(struct ms_mem *m, sqlite3_int64 size)
{
	sqlite3_int64 cap = m->cap ? m->cap : 8192;
	char *p;

	if (size <= m->cap)
		return SQLITE_OK;
	while (cap < size)
		cap *= 2;
	p = realloc(m->buf, cap);
	if (!p)
		return SQLITE_IOERR_NOMEM;
	m->buf = p;
	m->cap = cap;
	return SQLITE_OK;
}

static int mem_write(sqlite3_file *f, const void *buf, int amt,
		     sqlite3_int64 off)
{
	struct ms_mem *m = (struct ms_mem *)f;
	int rc = mem_reserve(m, off + amt);

	if (rc)
		return rc;
	if (off > m->size)
		memset(m->buf + m->size, 0, off - m->size);
	memcpy(m->buf + off, buf, amt);
	if (off + amt > m->size)
		m->size = off + amt;
	return SQLITE_OK;
}

static int mem_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct ms_mem *m = (struct ms_mem *)f;

	if (size < m->size)
		m->size = size;
	return SQLITE_OK;
}

static int mem_sync(sqlite3_file *f, int flags)
{
	return SQLITE_OK;
}

static int mem_size(sqlite3_file *f, sqlite3_int64 *size)
{
	*size = ((struct ms_mem *)f)->size;
	return SQLITE_OK;
}

static int mem_lock(sqlite3_file *f, int level)
{
	return SQLITE_OK;
}

static int mem_reserved(sqlite3_file *f, int *out)
{
	*out = 0;
	return SQLITE_OK;
}

static int mem_fcntl(sqlite3_file *f, int op, void *arg)
{
	return SQLITE_NOTFOUND;
}

static int mem_sector(sqlite3_file *f)
{
	return 4096;
}

static int mem_caps(sqlite3_file *f)
{
	return MS_IOCAP;
}

static const sqlite3_io_methods ms_mem_methods = {
	.iVersion		= 1,
	.xClose			= mem_close,
	.xRead			= mem_read,
	.xWrite			= mem_write,
	.xTruncate		= mem_truncate,
	.xSync			= mem_sync,
	.xFileSize		= mem_size,
	.xLock			= mem_lock,
	.xUnlock		= mem_lock,
	.xCheckReservedLock	= mem_reserved,
	.xFileControl		= mem_fcntl,
	.xSectorSize		= mem_sector,
	.xDeviceCharacteristics	= mem_caps,
};

static int mem_open(sqlite3_file *f, int flags, int *out_flags)
{
	struct ms_mem *m = (struct ms_mem *)f;

	memset(m, 0, sizeof(*m));
	m->base.pMethods = &ms_mem_methods;
	if (out_flags)
		*out_flags = flags;
	return SQLITE_OK;
}

/* ---- the regions of this process -------------------------------------- */

/* The mark file's first word, mapped shared; NULL on failure. */
static uint32_t *ms_mark_map(const char *db, mode_t mode)
{
	size_t n = strlen(db), ps = ms_page();
	char *path = malloc(n + sizeof(MS_MARK_SUFFIX));
	struct stat st;
	void *p = MAP_FAILED;
	int fd;

	if (!path)
		return NULL;
	memcpy(path, db, n);
	memcpy(path + n, MS_MARK_SUFFIX, sizeof(MS_MARK_SUFFIX));
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode & 0666);
	free(path);
	if (fd < 0)
		return NULL;
	if (!fstat(fd, &st) && (st.st_size >= (off_t)ps || !ftruncate(fd, ps)))
		p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

static void ms_inode_free(struct ms_inode *ino)
{
	if (ino->mark)
		munmap(ino->mark, ms_page());
	if (ino->r)
		msnap_close(ino->r);
	pthread_mutex_destroy(&ino->lock);
	free(ino);
}

static struct ms_inode *ms_inode_new(const char *path, const struct stat *st,
				     sqlite3_int64 reserve, int *err)
{
	struct ms_inode *ino = calloc(1, sizeof(*ino));
	size_t len;

	if (!ino) {
		*err = -ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&ino->lock, NULL);
	ino->dev = st->st_dev;
	ino->ino = st->st_ino;
	len = (size_t)st->st_size > (size_t)reserve ? (size_t)st->st_size :
						     (size_t)reserve;
	len = ms_round(len ? len : 1, ms_page());
	*err = msnap_open(path, len, MSNAP_OPEN_KEEP_SIZE, &ino->r);
	if (!*err) {
		ino->base = msnap_addr(ino->r);
		ino->map_len = msnap_size(ino->r);
		ino->mark = ms_mark_map(path, st->st_mode);
		if (!ino->mark)
			*err = -errno ? -errno : -EIO;
	}
	if (*err) {
		ms_inode_free(ino);
		return NULL;
	}
	return ino;
}

/* The process's region of the file at @path, created on first use. */
static struct ms_inode *ms_inode_get(const char *path, sqlite3_int64 reserve,
				     int *err)
{
	struct ms_inode *ino;
	struct stat st;

	if (stat(path, &st)) {
		*err = -errno;
		return NULL;
	}
	pthread_mutex_lock(&ms_inodes_lock);
	for (ino = ms_inodes; ino; ino = ino->next)
		if (ino->dev == st.st_dev && ino->ino == st.st_ino)
			break;
	if (ino) {
		ino->refs++;
	} else {
		ino = ms_inode_new(path, &st, reserve, err);
		if (ino) {
			ino->refs = 1;
			ino->next = ms_inodes;
			ms_inodes = ino;
		}
	}
	pthread_mutex_unlock(&ms_inodes_lock);
	return ino;
}

static void ms_inode_put(struct ms_inode *ino)
{
	struct ms_inode **pp;

	pthread_mutex_lock(&ms_inodes_lock);
	if (--ino->refs) {
		pthread_mutex_unlock(&ms_inodes_lock);
		return;
	}
	for (pp = &ms_inodes; *pp != ino; pp = &(*pp)->next)
		;
	*pp = ino->next;
	pthread_mutex_unlock(&ms_inodes_lock);
	ms_inode_free(ino);
}

/* Map at least @len bytes of the file (in place: pointers stay valid). */
static int ms_map_cover(struct ms_inode *ino, sqlite3_int64 len)
{
	size_t want;
	int ret = 0;

	if ((size_t)len <= __atomic_load_n(&ino->map_len, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&ino->lock);
	if ((size_t)len > ino->map_len) {
		want = ms_round(len, MS_RESERVE);
		ret = msnap_remap(ino->r, want);
		if (!ret)
			__atomic_store_n(&ino->map_len, want, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&ino->lock);
	return ret;
}

/* ---- the main database file ------------------------------------------- */

static sqlite3_file *ms_real(sqlite3_file *f)
{
	return ((struct ms_file *)f)->real;
}

static int ms_fd(const struct ms_file *p)
{
	return msnap_fd(p->ino->r);
}

/*
 * The database's size: the file's, or 0 while its first page is zeroes.
 * The first transaction of a new database grows the file before it
 * writes into it, and that size may be durable without the pages (a power
 * cut before the first commit): SQLite must see an empty database then,
 * not a file of zeroes (SQLITE_NOTADB).  A committed page 1 starts with
 * "SQLite format 3".
 */
static int ms_stat_size(struct ms_file *p, sqlite3_int64 *size)
{
	static const char zero[16];
	struct stat st;
	char head[16];

	if (fstat(ms_fd(p), &st))
		return SQLITE_IOERR_FSTAT;
	*size = st.st_size;
	if (*size < (sqlite3_int64)sizeof(head))
		return SQLITE_OK;
	if ((size_t)*size <= p->ino->map_len)
		memcpy(head, p->ino->base, sizeof(head));
	else if (pread(ms_fd(p), head, sizeof(head), 0) != sizeof(head))
		return SQLITE_IOERR_READ;
	if (!memcmp(head, zero, sizeof(head)))
		*size = 0;
	return SQLITE_OK;
}

/* The persisted range: every page of the file (a persist is O(dirty)). */
static size_t ms_span(const struct ms_file *p)
{
	size_t len = ms_round(p->size, ms_page());

	return len ? len : ms_page();
}

/*
 * Discard the pages written since the last persist, by any process: the
 * caller holds the lock that shows their writer is gone, or is it.
 */
static int ms_discard(struct ms_file *p)
{
	int ret;

	ret = msnap_abort(p->ino->base, p->ino->map_len);
	if (ret < 0)
		return SQLITE_IOERR;
	__atomic_store_n(p->ino->mark, 0, __ATOMIC_RELEASE);
	p->dirty = 0;
	return SQLITE_OK;
}

/*
 * SHARED taken: refresh the size, follow growth, and drop what a writer
 * that died left behind.
 */
static int ms_shared_begin(struct ms_file *p)
{
	int rc = ms_stat_size(p, &p->size);

	if (rc)
		return rc;
	if (ms_map_cover(p->ino, p->size))
		return SQLITE_IOERR_MMAP;
	if (!__atomic_load_n(p->ino->mark, __ATOMIC_ACQUIRE))
		return SQLITE_OK;
	pthread_mutex_lock(&p->ino->lock);
	if (__atomic_load_n(p->ino->mark, __ATOMIC_ACQUIRE)) {
		rc = ms_discard(p);
		if (!rc)
			sqlite3_log(SQLITE_NOTICE_RECOVER_ROLLBACK,
				    "memsnap: discarded the unpersisted pages of a writer that died");
	}
	pthread_mutex_unlock(&p->ino->lock);
	if (!rc)
		rc = ms_stat_size(p, &p->size);
	return rc;
}

static int ms_close(sqlite3_file *f)
{
	struct ms_file *p = (struct ms_file *)f;
	sqlite3_file *real = ms_real(f);
	int rc;

	/* SQLite rolls back first; whatever is left was never committed. */
	if (p->dirty)
		ms_discard(p);
	rc = real->pMethods->xClose(real);
	ms_inode_put(p->ino);
	return rc;
}

static int ms_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
	struct ms_file *p = (struct ms_file *)f;
	sqlite3_int64 size = p->size, n = 0, m;
	ssize_t got;
	int rc;

	if (p->lock < SQLITE_LOCK_SHARED) {
		/* The header read before the first lock: size may change. */
		rc = ms_stat_size(p, &size);
		if (rc)
			return rc;
	}
	if (off < size)
		n = size - off < amt ? size - off : amt;
	m = (sqlite3_int64)p->ino->map_len - off;
	m = m < 0 ? 0 : m < n ? m : n;
	if (m)
		memcpy(buf, p->ino->base + off, m);
	while (m < n) {
		/* Past the mapping (it could not grow): read(2). */
		got = pread(ms_fd(p), (char *)buf + m, n - m, off + m);
		if (got <= 0) {
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0)
				return SQLITE_IOERR_READ;
			break;
		}
		m += got;
	}
	if (m == amt)
		return SQLITE_OK;
	memset((char *)buf + m, 0, amt - m);
	return SQLITE_IOERR_SHORT_READ;
}

/* Raise the mark before the first unpersisted write of this writer. */
static void ms_mark_dirty(struct ms_file *p)
{
	if (p->dirty)
		return;
	__atomic_store_n(p->ino->mark, 1, __ATOMIC_SEQ_CST);
	p->dirty = 1;
}

/*
 * Make room for the database to grow to @end: the file grows by whole
 * chunks with ftruncate(2), and the pages are then written through the
 * mapping, region memory that only xSync's persist writes.  A grown size
 * that becomes durable first leaves zeroes past the database's page
 * count, which SQLite ignores.
 */
static int ms_grow(struct ms_file *p, sqlite3_int64 end)
{
	sqlite3_int64 want = (end + MS_CHUNK - 1) & ~(sqlite3_int64)(MS_CHUNK - 1);
	struct stat st;

	if (ms_map_cover(p->ino, want))
		return SQLITE_FULL;
	if (fstat(ms_fd(p), &st))
		return SQLITE_IOERR_FSTAT;
	if (st.st_size < want && ftruncate(ms_fd(p), want))
		return errno == ENOSPC ? SQLITE_FULL : SQLITE_IOERR_TRUNCATE;
	p->size = want;
	return SQLITE_OK;
}

static int ms_write(sqlite3_file *f, const void *buf, int amt,
		    sqlite3_int64 off)
{
	struct ms_file *p = (struct ms_file *)f;
	int rc;

	ms_mark_dirty(p);
	if (off + amt > p->size) {
		rc = ms_grow(p, off + amt);
		if (rc)
			return rc;
	}
	memcpy(p->ino->base + off, buf, amt);
	return SQLITE_OK;
}

static int ms_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct ms_file *p = (struct ms_file *)f;
	sqlite3_file *real = ms_real(f);
	sqlite3_int64 keep;
	int rc;

	if (size > p->size) {
		ms_mark_dirty(p);
		return ms_grow(p, size);
	}
	/*
	 * Shrinking comes after the commit, or in a rollback; like the
	 * unix VFS with a chunk size, keep the file a whole number of chunks.
	 */
	keep = (size + MS_CHUNK - 1) & ~(sqlite3_int64)(MS_CHUNK - 1);
	if (keep >= p->size)
		return SQLITE_OK;
	rc = real->pMethods->xTruncate(real, keep);
	if (!rc)
		p->size = keep;
	return rc;
}

/*
 * One persist of the file: every page written since the last one, and
 * its size.  SYNC_FULL waits until it is durable; SYNC_NORMAL
 * (synchronous=NORMAL) returns once it is snapshotted (MSNAP_ASYNC):
 * atomic and ordered after every earlier commit, durable shortly after.
 */
static int ms_persist(struct ms_file *p, uint64_t flags)
{
	int ret = msnap_persist(p->ino->base, ms_span(p), flags);

	if (ret < 0)
		return ret == -ENOSPC ? SQLITE_FULL : SQLITE_IOERR_FSYNC;
	if (p->dirty) {
		__atomic_store_n(p->ino->mark, 0, __ATOMIC_RELEASE);
		p->dirty = 0;
	}
	return SQLITE_OK;
}

/*
 * SQLite passes SQLITE_SYNC_NORMAL at synchronous=FULL as well (FULL only
 * with PRAGMA fullfsync): the connection's level comes from the pragma.
 */
static int ms_sync(sqlite3_file *f, int flags)
{
	struct ms_file *p = (struct ms_file *)f;

	if ((flags & 0x0f) != SQLITE_SYNC_FULL && p->level <= MS_LEVEL_NORMAL)
		return ms_persist(p, MSNAP_ASYNC);
	return ms_persist(p, MSNAP_SYNC);
}

/* PRAGMA synchronous's value as SQLite reads it; unknown: FULL. */
static int ms_parse_level(const char *v)
{
	static const char *const names[][2] = {
		{ "off", "0" }, { "no", "0" }, { "false", "0" },
		{ "normal", "1" }, { "on", "1" }, { "yes", "1" }, { "true", "1" },
		{ "full", "2" }, { "extra", "3" },
	};
	size_t i;

	if (*v >= '0' && *v <= '9')
		return atoi(v) & 3;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(v, names[i][0]))
			return names[i][1][0] - '0';
	return MS_LEVEL_FULL;
}

static int ms_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct ms_file *p = (struct ms_file *)f;

	if (p->lock >= SQLITE_LOCK_SHARED) {
		*size = p->size;
		return SQLITE_OK;
	}
	return ms_stat_size(p, size);
}

static int ms_lock(sqlite3_file *f, int level)
{
	struct ms_file *p = (struct ms_file *)f;
	sqlite3_file *real = ms_real(f);
	int rc = real->pMethods->xLock(real, level);

	if (rc)
		return rc;
	if (p->lock == SQLITE_LOCK_NONE) {
		rc = ms_shared_begin(p);
		if (rc) {
			real->pMethods->xUnlock(real, SQLITE_LOCK_NONE);
			return rc;
		}
	}
	if (level > p->lock)
		p->lock = level;
	return SQLITE_OK;
}

static int ms_unlock(sqlite3_file *f, int level)
{
	struct ms_file *p = (struct ms_file *)f;
	sqlite3_file *real = ms_real(f);
	int rc;

	/*
	 * Leaving EXCLUSIVE with writes that were never persisted: a
	 * transaction that failed (or one that journal_mode=OFF cannot roll
	 * back).  Drop them while nobody else can read them.
	 */
	if (p->dirty && level < SQLITE_LOCK_EXCLUSIVE)
		ms_discard(p);
	rc = real->pMethods->xUnlock(real, level);
	if (!rc && level < p->lock)
		p->lock = level;
	return rc;
}

static int ms_check_reserved(sqlite3_file *f, int *out)
{
	sqlite3_file *real = ms_real(f);

	return real->pMethods->xCheckReservedLock(real, out);
}

/*
 * Watch synchronous= (SQLite itself carries it out), and refuse pages
 * smaller than the system's (see ms_small_pages()).
 */
static int ms_pragma(struct ms_file *p, char **argv)
{
	if (!argv[2])
		return SQLITE_NOTFOUND;
	if (!strcasecmp(argv[1], "synchronous")) {
		p->level = ms_parse_level(argv[2]);
	} else if (!strcasecmp(argv[1], "page_size") &&
		   atoi(argv[2]) < (int)ms_page()) {
		argv[0] = sqlite3_mprintf("memsnap: page_size must be at least %d",
					  (int)ms_page());
		return SQLITE_ERROR;
	}
	return SQLITE_NOTFOUND;
}

static int ms_fcntl(sqlite3_file *f, int op, void *arg)
{
	struct ms_file *p = (struct ms_file *)f;
	sqlite3_file *real = ms_real(f);
	sqlite3_int64 v;

	switch (op) {
	case SQLITE_FCNTL_MMAP_SIZE:
		v = *(sqlite3_int64 *)arg;
		*(sqlite3_int64 *)arg = p->mmap_max;
		if (v >= 0)
			p->mmap_max = v;
		return SQLITE_OK;
	case SQLITE_FCNTL_SIZE_HINT:
		/* Reserve the address space now; the size grows with data. */
		ms_map_cover(p->ino, *(sqlite3_int64 *)arg);
		return SQLITE_OK;
	case SQLITE_FCNTL_CHUNK_SIZE:
		return SQLITE_OK;
	case SQLITE_FCNTL_POWERSAFE_OVERWRITE:
		if (*(int *)arg < 0)
			*(int *)arg = 1;
		return SQLITE_OK;
	case SQLITE_FCNTL_PRAGMA:
		return ms_pragma(p, arg);
	case SQLITE_FCNTL_COMMIT_PHASETWO:
		/* synchronous=OFF skips xSync: persist without waiting. */
		return p->dirty ? ms_persist(p, MSNAP_ASYNC) : SQLITE_OK;
	case SQLITE_FCNTL_VFSNAME:
		*(char **)arg = sqlite3_mprintf("%s", MSNAP_SQLITE_VFS);
		return SQLITE_OK;
	}
	return real->pMethods->xFileControl(real, op, arg);
}

static int ms_sector(sqlite3_file *f)
{
	return (int)ms_page();
}

static int ms_caps(sqlite3_file *f)
{
	return MS_IOCAP;
}

/*
 * With SQLITE_FCNTL_MMAP_SIZE set, SQLite reads pages in place.  Only
 * inside the file: a page past its end would fault with SIGBUS.
 */
static int ms_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
	struct ms_file *p = (struct ms_file *)f;
	sqlite3_int64 end = off + amt;

	*pp = NULL;
	if (p->lock >= SQLITE_LOCK_SHARED && end <= p->mmap_max &&
	    end <= p->size && (size_t)end <= p->ino->map_len)
		*pp = p->ino->base + off;
	return SQLITE_OK;
}

static int ms_unfetch(sqlite3_file *f, sqlite3_int64 off, void *page)
{
	return SQLITE_OK;
}

/* No shared memory: journal_mode=WAL needs locking_mode=EXCLUSIVE. */
static const sqlite3_io_methods ms_db_methods = {
	.iVersion		= 3,
	.xClose			= ms_close,
	.xRead			= ms_read,
	.xWrite			= ms_write,
	.xTruncate		= ms_truncate,
	.xSync			= ms_sync,
	.xFileSize		= ms_file_size,
	.xLock			= ms_lock,
	.xUnlock		= ms_unlock,
	.xCheckReservedLock	= ms_check_reserved,
	.xFileControl		= ms_fcntl,
	.xSectorSize		= ms_sector,
	.xDeviceCharacteristics	= ms_caps,
	.xFetch			= ms_fetch,
	.xUnfetch		= ms_unfetch,
};

/*
 * Whether the database's pages are smaller than the system's.  Then
 * growing or cutting the file writes, through the file API, a system page
 * that also holds committed pages, and memsnap's commit= flush of such
 * file data would persist that page with the transaction's unfinished
 * changes to its committed part: such a database is refused.
 */
static int ms_small_pages(struct ms_file *p)
{
	unsigned char b[2];
	unsigned int size;

	if (pread(ms_fd(p), b, 2, 16) != 2)
		return 0;		/* empty: SQLite picks the size */
	size = b[0] << 8 | b[1];
	size = size == 1 ? 65536 : size;
	return size && size < ms_page();
}

static int ms_open_db(const char *name, sqlite3_file *f, int flags,
		      int *out_flags)
{
	struct ms_file *p = (struct ms_file *)f;
	sqlite3_file *real = (sqlite3_file *)((char *)f + MS_REAL_OFF);
	sqlite3_int64 reserve;
	int rc, err = 0;

	memset(p, 0, sizeof(*p));
	rc = ms_unix->xOpen(ms_unix, name, real, flags, out_flags);
	if (rc)
		return rc;
	reserve = sqlite3_uri_int64(name, "reserve", MS_RESERVE);
	p->ino = ms_inode_get(name, reserve > 0 ? reserve :
				       (sqlite3_int64)MS_RESERVE, &err);
	if (!p->ino) {
		real->pMethods->xClose(real);
		/* No write permission: a plain unix file (docs/sqlite.md). */
		if (err == -EACCES || err == -EPERM || err == -EROFS)
			return ms_unix->xOpen(ms_unix, name, f, flags, out_flags);
		return SQLITE_CANTOPEN;
	}
	if (ms_small_pages(p)) {
		sqlite3_log(SQLITE_CANTOPEN, "memsnap: %s: pages smaller than %d bytes",
			    name, (int)ms_page());
		ms_inode_put(p->ino);
		real->pMethods->xClose(real);
		return SQLITE_CANTOPEN;
	}
	p->real = real;
	p->level = MS_LEVEL_FULL;
	p->base.pMethods = &ms_db_methods;
	return SQLITE_OK;
}

/* ---- the VFS ----------------------------------------------------------- */

static int ms_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f,
		   int flags, int *out_flags)
{
	if (name && (flags & SQLITE_OPEN_MAIN_JOURNAL) &&
	    ms_journal_is_memsnap(name))
		return mem_open(f, flags, out_flags);
	if (name && (flags & SQLITE_OPEN_MAIN_DB) && ms_place_is_memsnap(name))
		return ms_open_db(name, f, flags, out_flags);
	return ms_unix->xOpen(ms_unix, name, f, flags, out_flags);
}

static int ms_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	int rc = ms_unix->xDelete(ms_unix, name, sync_dir);

	/* An in-memory journal has no file to delete. */
	if (rc == SQLITE_IOERR_DELETE_NOENT && ms_journal_is_memsnap(name))
		rc = SQLITE_OK;
	return rc;
}

static int ms_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	return ms_unix->xAccess(ms_unix, name, flags, out);
}

static int ms_full_pathname(sqlite3_vfs *vfs, const char *name, int n,
			    char *out)
{
	return ms_unix->xFullPathname(ms_unix, name, n, out);
}

static void *ms_dlopen(sqlite3_vfs *vfs, const char *name)
{
	return ms_unix->xDlOpen(ms_unix, name);
}

static void ms_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
	ms_unix->xDlError(ms_unix, n, msg);
}

static void (*ms_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	return ms_unix->xDlSym(ms_unix, h, sym);
}

static void ms_dlclose(sqlite3_vfs *vfs, void *h)
{
	ms_unix->xDlClose(ms_unix, h);
}

static int ms_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	return ms_unix->xRandomness(ms_unix, n, out);
}

static int ms_sleep(sqlite3_vfs *vfs, int us)
{
	return ms_unix->xSleep(ms_unix, us);
}

static int ms_current_time(sqlite3_vfs *vfs, double *t)
{
	return ms_unix->xCurrentTime(ms_unix, t);
}

static int ms_last_error(sqlite3_vfs *vfs, int n, char *msg)
{
	return ms_unix->xGetLastError(ms_unix, n, msg);
}

static int ms_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *t)
{
	return ms_unix->xCurrentTimeInt64(ms_unix, t);
}

static sqlite3_vfs ms_vfs = {
	.iVersion		= 2,
	.zName			= MSNAP_SQLITE_VFS,
	.xOpen			= ms_open,
	.xDelete		= ms_delete,
	.xAccess		= ms_access,
	.xFullPathname		= ms_full_pathname,
	.xDlOpen		= ms_dlopen,
	.xDlError		= ms_dlerror,
	.xDlSym			= ms_dlsym,
	.xDlClose		= ms_dlclose,
	.xRandomness		= ms_randomness,
	.xSleep			= ms_sleep,
	.xCurrentTime		= ms_current_time,
	.xGetLastError		= ms_last_error,
	.xCurrentTimeInt64	= ms_current_time64,
};

int msnap_sqlite_setup(const sqlite3_api_routines *api, int make_default)
{
	static pthread_mutex_t setup_lock = PTHREAD_MUTEX_INITIALIZER;
	sqlite3_vfs *unix_vfs;
	size_t sz;
	int rc;

	pthread_mutex_lock(&setup_lock);
	if (!sqlite3_api)
		sqlite3_api = api;
	unix_vfs = ms_unix ? ms_unix : sqlite3_vfs_find("unix");
	if (!unix_vfs || unix_vfs->iVersion < 2) {
		pthread_mutex_unlock(&setup_lock);
		return SQLITE_ERROR;
	}
	if (!ms_unix) {
		ms_unix = unix_vfs;
		sz = MS_REAL_OFF + unix_vfs->szOsFile;
		if (sz < sizeof(struct ms_mem))
			sz = sizeof(struct ms_mem);
		ms_vfs.szOsFile = (int)sz;
		ms_vfs.mxPathname = unix_vfs->mxPathname;
	}
	rc = sqlite3_vfs_register(&ms_vfs, make_default);
	pthread_mutex_unlock(&setup_lock);
	return rc;
}

/*
 * The entry point sqlite3_load_extension() derives from the file name
 * libmemsnap_sqlite.so; the VFS stays after the connection closes.
 */
int sqlite3_memsnapsqlite_init(sqlite3 *db, char **err,
			       const sqlite3_api_routines *api)
{
	int rc;

	SQLITE_EXTENSION_INIT2(api);
	rc = msnap_sqlite_setup(api, 0);
	return rc ? rc : SQLITE_OK_LOAD_PERMANENTLY;
}
