// SPDX-License-Identifier: GPL-2.0
/*
 * The SQLite VFS "memsnap" (ports/sqlite) over Debian's libsqlite3, on a
 * fresh memsnap filesystem: CRUD, ROLLBACK and savepoints (the journal in
 * memory), constraint failures, the extension loaded by
 * sqlite3_load_extension() and by the sqlite3 shell, WAL refused (but
 * usable in exclusive locking mode), growth
 * past the first mapping followed by another process, several processes
 * writing and reading one database, and a writer killed with SIGKILL in
 * the middle of a transaction whose pages it had already written: no
 * reader sees them, the next commit does not persist them, and after a
 * remount the database holds exactly the committed transactions.
 */
#include "kselftest_harness.h"
#include "msnap_test.h"
#include "msnap_mount.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/memsnap.h>
#include <sqlite3.h>
#include <memsnap_sqlite.h>

#ifndef MSNAP_SQLITE_SO
#define MSNAP_SQLITE_SO "libmemsnap_sqlite.so"
#endif

#define ROWS		2000	/* rows of the kill test, ~2000 pages */

/* ---- helpers --------------------------------------------------------- */

/*
 * The VFS the helpers open databases with: "unix" (with journal_mode=
 * MEMORY, the recipe for unmodified SQLite) only in the test that shows
 * why the memsnap VFS is needed.
 */
static const char *test_vfs = MSNAP_SQLITE_VFS;

/* Open DIR/NAME through test_vfs; URI parameters in @params. */
static sqlite3 *db_open(const char *dir, const char *name, const char *params)
{
	char uri[512];
	sqlite3 *db = NULL;

	snprintf(uri, sizeof(uri), "file:%s/%s?vfs=%s%s%s", dir, name,
		 test_vfs, params ? "&" : "", params ? params : "");
	if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, NULL)) {
		fprintf(stderr, "open %s: %s\n", uri, sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 30000);
	if (strcmp(test_vfs, MSNAP_SQLITE_VFS))
		sqlite3_exec(db, "PRAGMA journal_mode = MEMORY", NULL, NULL, NULL);
	return db;
}

static int db_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

	if (rc && err)
		fprintf(stderr, "%s: %s\n", sql, err);
	sqlite3_free(err);
	return rc;
}

/* The first column of the first row of @sql as an integer, or -1. */
static long long db_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL))
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The first column of @sql as text, in @buf. */
static const char *db_text(sqlite3 *db, const char *sql, char *buf, size_t n)
{
	sqlite3_stmt *st;

	snprintf(buf, n, "(error)");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL))
		return buf;
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return buf;
}

static int db_ok(sqlite3 *db)
{
	char buf[256];

	return !strcmp("ok", db_text(db, "PRAGMA integrity_check", buf,
				     sizeof(buf)));
}

static int path_exists(const char *dir, const char *name)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return !access(p, F_OK);
}

/* Fill t with ROWS rows of v = 0, ~one page each. */
static int make_table(sqlite3 *db)
{
	return db_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v INT, pad BLOB);"
		       "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
		       "WHERE i < 2000) INSERT INTO t SELECT i, 0, randomblob(3000) FROM c;"
		       "CREATE TABLE u(x)");
}

/*
 * The flags of the last MSNAP_IOC_PERSIST the process issued, and how
 * many: this program's ioctl() stands in for libc's, also for the VFS's
 * calls (its copy of libmemsnap calls ioctl() through the PLT).
 */
static uint64_t persist_flags = ~0ULL;
static int persists;

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == MSNAP_IOC_PERSIST) {
		persist_flags = ((struct msnap_persist_args *)arg)->flags;
		persists++;
	}
	return syscall(SYS_ioctl, fd, req, arg);
}

/* Commit one row; the flags of the persists it made (~0: none). */
static uint64_t commit_flags(sqlite3 *db)
{
	persist_flags = ~0ULL;
	if (db_exec(db, "INSERT INTO s VALUES(1)"))
		return ~1ULL;
	return persist_flags;
}

/* ---- without a filesystem -------------------------------------------- */

TEST(register_and_load)
{
	sqlite3 *db;
	char *err = NULL;

	ASSERT_EQ(SQLITE_OK, msnap_sqlite_register(0));
	ASSERT_NE(NULL, sqlite3_vfs_find(MSNAP_SQLITE_VFS));
	EXPECT_NE(sqlite3_vfs_find(NULL), sqlite3_vfs_find(MSNAP_SQLITE_VFS));
	ASSERT_EQ(SQLITE_OK, sqlite3_open(":memory:", &db));
	ASSERT_EQ(SQLITE_OK, sqlite3_enable_load_extension(db, 1));
	EXPECT_EQ(SQLITE_OK, sqlite3_load_extension(db, MSNAP_SQLITE_SO, NULL,
						    &err));
	if (err)
		TH_LOG("load: %s", err);
	sqlite3_free(err);
	sqlite3_close(db);
	EXPECT_NE(NULL, sqlite3_vfs_find(MSNAP_SQLITE_VFS));
}

/* ---- on a memsnap filesystem ----------------------------------------- */

FIXTURE(fs) {
	struct msnap_mnt m;
};

FIXTURE_SETUP(fs)
{
	MSNAP_MNT_SETUP(&self->m);
	ASSERT_EQ(SQLITE_OK, msnap_sqlite_register(0));
}

FIXTURE_TEARDOWN(fs)
{
	msnap_mnt_drop(&self->m);
}

TEST_F(fs, crud_without_a_journal_file)
{
	sqlite3 *db = db_open(self->m.dir, "crud.db", NULL);
	char *vfs = NULL, buf[64];

	ASSERT_NE(NULL, db);
	ASSERT_EQ(SQLITE_OK, sqlite3_file_control(db, "main",
						  SQLITE_FCNTL_VFSNAME, &vfs));
	EXPECT_STREQ(MSNAP_SQLITE_VFS, vfs);
	sqlite3_free(vfs);
	EXPECT_STREQ("delete", db_text(db, "PRAGMA journal_mode", buf,
				       sizeof(buf)));
	ASSERT_EQ(0, db_exec(db, "CREATE TABLE kv(k TEXT PRIMARY KEY, v INT)"));
	ASSERT_EQ(0, db_exec(db, "BEGIN; INSERT INTO kv VALUES('a', 1), ('b', 2),"
			     "('c', 3); UPDATE kv SET v = v * 10 WHERE k = 'b';"
			     "DELETE FROM kv WHERE k = 'c'"));
	EXPECT_FALSE(path_exists(self->m.dir, "crud.db-journal"));
	ASSERT_EQ(0, db_exec(db, "COMMIT"));
	EXPECT_EQ(21, db_int(db, "SELECT sum(v) FROM kv"));
	EXPECT_EQ(2, db_int(db, "SELECT count(*) FROM kv"));
	/* Reads in place from the mapping (xFetch). */
	ASSERT_EQ(0, db_exec(db, "PRAGMA mmap_size = 100000000"));
	EXPECT_EQ(20, db_int(db, "SELECT v FROM kv WHERE k = 'b'"));
	EXPECT_TRUE(db_ok(db));
	EXPECT_TRUE(path_exists(self->m.dir, "crud.db-msnap"));
	EXPECT_FALSE(path_exists(self->m.dir, "crud.db-journal"));
	/* WAL needs shared memory, which the VFS does not offer. */
	EXPECT_STREQ("delete", db_text(db, "PRAGMA journal_mode = WAL", buf,
				       sizeof(buf)));
	sqlite3_close(db);
}

/*
 * With locking_mode=EXCLUSIVE SQLite keeps the WAL index in its own
 * memory and WAL works, the -wal file through the unix VFS; without it,
 * a WAL database cannot be read.
 */
TEST_F(fs, wal_only_in_exclusive_locking_mode)
{
	sqlite3 *db = db_open(self->m.dir, "wal.db", NULL);
	char buf[64];
	int rc;

	ASSERT_NE(NULL, db);
	ASSERT_EQ(0, db_exec(db, "PRAGMA locking_mode = EXCLUSIVE"));
	EXPECT_STREQ("wal", db_text(db, "PRAGMA journal_mode = WAL", buf,
				    sizeof(buf)));
	ASSERT_EQ(0, db_exec(db, "CREATE TABLE w(x); INSERT INTO w VALUES(3)"));
	sqlite3_close(db);
	db = db_open(self->m.dir, "wal.db", NULL);
	ASSERT_NE(NULL, db);
	rc = db_exec(db, "SELECT * FROM w");
	EXPECT_EQ(SQLITE_CANTOPEN, rc);
	sqlite3_close(db);
	db = db_open(self->m.dir, "wal.db", NULL);
	ASSERT_NE(NULL, db);
	ASSERT_EQ(0, db_exec(db, "PRAGMA locking_mode = EXCLUSIVE"));
	EXPECT_EQ(3, db_int(db, "SELECT x FROM w"));
	EXPECT_STREQ("delete", db_text(db, "PRAGMA journal_mode = DELETE", buf,
				       sizeof(buf)));
	sqlite3_close(db);
	ASSERT_EQ(0, msnap_mnt_remount(&self->m));
	db = db_open(self->m.dir, "wal.db", NULL);
	ASSERT_NE(NULL, db);
	EXPECT_EQ(3, db_int(db, "SELECT x FROM w"));
	EXPECT_TRUE(db_ok(db));
	sqlite3_close(db);
}

/*
 * Pages smaller than the system's would share a system page with
 * committed ones when the file grows: refused, by the pragma and at open.
 */
TEST_F(fs, pages_smaller_than_the_system_page_are_refused)
{
	sqlite3 *db = db_open(self->m.dir, "small.db", NULL);

	ASSERT_NE(NULL, db);
	EXPECT_EQ(SQLITE_ERROR, db_exec(db, "PRAGMA page_size = 1024"));
	ASSERT_EQ(0, db_exec(db, "PRAGMA page_size = 8192; CREATE TABLE a(x)"));
	EXPECT_EQ(8192, db_int(db, "PRAGMA page_size"));
	sqlite3_close(db);
	test_vfs = "unix";
	db = db_open(self->m.dir, "small1k.db", NULL);
	ASSERT_NE(NULL, db);
	ASSERT_EQ(0, db_exec(db, "PRAGMA page_size = 1024; CREATE TABLE a(x)"));
	sqlite3_close(db);
	test_vfs = MSNAP_SQLITE_VFS;
	EXPECT_EQ(NULL, db_open(self->m.dir, "small1k.db", NULL));
}

/*
 * The first transaction of a new database grows the file before it
 * writes into it; a cut before its commit may leave the grown size with
 * no pages (zeroes), which must read as an empty database.
 */
TEST_F(fs, a_file_of_zeroes_is_an_empty_database)
{
	char path[256];
	sqlite3 *db;
	int fd;

	msnap_mnt_path(&self->m, "zero.db", path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 1 << 20));
	close(fd);
	db = db_open(self->m.dir, "zero.db", NULL);
	ASSERT_NE(NULL, db);
	EXPECT_EQ(0, db_int(db, "SELECT count(*) FROM sqlite_master"));
	ASSERT_EQ(0, db_exec(db, "CREATE TABLE z(x); INSERT INTO z VALUES(8)"));
	sqlite3_close(db);
	ASSERT_EQ(0, msnap_mnt_remount(&self->m));
	db = db_open(self->m.dir, "zero.db", NULL);
	ASSERT_NE(NULL, db);
	EXPECT_EQ(8, db_int(db, "SELECT x FROM z"));
	EXPECT_TRUE(db_ok(db));
	sqlite3_close(db);
}

TEST_F(fs, rollback_and_savepoints)
{
	sqlite3 *db = db_open(self->m.dir, "rb.db", NULL);

	ASSERT_NE(NULL, db);
	ASSERT_EQ(0, make_table(db));
	ASSERT_EQ(0, db_exec(db, "BEGIN; INSERT INTO u VALUES(1);"
			     "SAVEPOINT a; INSERT INTO u VALUES(2);"
			     "SAVEPOINT b; INSERT INTO u VALUES(3);"
			     "ROLLBACK TO b; RELEASE b; ROLLBACK TO a;"
			     "INSERT INTO u VALUES(4); RELEASE a; COMMIT"));
	EXPECT_EQ(5, db_int(db, "SELECT sum(x) FROM u"));
	/* A rollback after the cache spilled pages into the file. */
	ASSERT_EQ(0, db_exec(db, "PRAGMA cache_size = 10; BEGIN;"
			     "UPDATE t SET v = 7; DELETE FROM u"));
	EXPECT_EQ(7, db_int(db, "SELECT min(v) FROM t"));
	ASSERT_EQ(0, db_exec(db, "ROLLBACK"));
	EXPECT_EQ(0, db_int(db, "SELECT max(v) FROM t"));
	EXPECT_EQ(5, db_int(db, "SELECT sum(x) FROM u"));
	EXPECT_TRUE(db_ok(db));
	sqlite3_close(db);
	ASSERT_EQ(0, msnap_mnt_remount(&self->m));
	db = db_open(self->m.dir, "rb.db", NULL);
	ASSERT_NE(NULL, db);
	EXPECT_EQ(0, db_int(db, "SELECT max(v) FROM t"));
	EXPECT_EQ(ROWS, db_int(db, "SELECT count(*) FROM t"));
	EXPECT_EQ(5, db_int(db, "SELECT sum(x) FROM u"));
	EXPECT_TRUE(db_ok(db));
	sqlite3_close(db);
}

TEST_F(fs, constraint_failure_undoes_the_statement_only)
{
	sqlite3 *db = db_open(self->m.dir, "cf.db", NULL);

	ASSERT_NE(NULL, db);
	ASSERT_EQ(0, db_exec(db, "CREATE TABLE k(id INTEGER PRIMARY KEY,"
			     "name TEXT UNIQUE NOT NULL)"));
	ASSERT_EQ(0, db_exec(db, "BEGIN; INSERT INTO k(name) VALUES('x'), ('y')"));
	/* The multi-row statement fails on its third row: none of it stays. */
	EXPECT_EQ(SQLITE_CONSTRAINT, db_exec(db, "INSERT INTO k(name) VALUES"
					     "('p'), ('q'), ('x')"));
	EXPECT_EQ(SQLITE_CONSTRAINT, db_exec(db, "INSERT INTO k(name) VALUES(NULL)"));
	ASSERT_EQ(0, db_exec(db, "INSERT INTO k(name) VALUES('z'); COMMIT"));
	EXPECT_EQ(3, db_int(db, "SELECT count(*) FROM k"));
	EXPECT_EQ(0, db_int(db, "SELECT count(*) FROM k WHERE name IN ('p', 'q')"));
	EXPECT_TRUE(db_ok(db));
	sqlite3_close(db);
}

/* Every synchronous level commits; all of it survives a remount. */
TEST_F(fs, commits_survive_remount_at_every_synchronous_level)
{
	sqlite3 *db = db_open(self->m.dir, "sync.db", NULL);

	ASSERT_NE(NULL, db);
	ASSERT_EQ(0, db_exec(db, "CREATE TABLE s(x);"
			     "PRAGMA synchronous = FULL; INSERT INTO s VALUES(1);"
			     "PRAGMA synchronous = NORMAL; INSERT INTO s VALUES(2);"
			     "PRAGMA synchronous = OFF; INSERT INTO s VALUES(4)"));
	sqlite3_close(db);
	ASSERT_EQ(0, msnap_mnt_remount(&self->m));
	db = db_open(self->m.dir, "sync.db", NULL);
	ASSERT_NE(NULL, db);
	EXPECT_EQ(7, db_int(db, "SELECT sum(x) FROM s"));
	EXPECT_TRUE(db_ok(db));
	sqlite3_close(db);
}

/*
 * A commit is a synchronous persist unless the connection asked for
 * synchronous=NORMAL or OFF.  SQLite passes SQLITE_SYNC_NORMAL to xSync
 * at FULL as well (SQLITE_SYNC_FULL only with PRAGMA fullfsync), so the
 * level must come from the pragma itself.
 */
TEST_F(fs, synchronous_level_picks_sync_or_async_persists)
{
	sqlite3 *db = db_open(self->m.dir, "lvl.db", NULL);

	ASSERT_NE(NULL, db);
	ASSERT_EQ(0, db_exec(db, "CREATE TABLE s(x)"));
	EXPECT_EQ(MSNAP_SYNC, commit_flags(db));
	ASSERT_EQ(0, db_exec(db, "PRAGMA synchronous = NORMAL"));
	EXPECT_EQ(MSNAP_ASYNC, commit_flags(db));
	ASSERT_EQ(0, db_exec(db, "PRAGMA synchronous = 2"));
	EXPECT_EQ(MSNAP_SYNC, commit_flags(db));
	ASSERT_EQ(0, db_exec(db, "PRAGMA synchronous = off"));
	EXPECT_EQ(MSNAP_ASYNC, commit_flags(db));
	ASSERT_EQ(0, db_exec(db, "PRAGMA synchronous = EXTRA"));
	EXPECT_EQ(MSNAP_SYNC, commit_flags(db));
	/* fullfsync makes SQLite ask for SQLITE_SYNC_FULL: always waits. */
	ASSERT_EQ(0, db_exec(db, "PRAGMA fullfsync = ON; PRAGMA synchronous = 1"));
	EXPECT_EQ(MSNAP_SYNC, commit_flags(db));
	EXPECT_LT(0, persists);
	sqlite3_close(db);
}

/* The sqlite3 shell loads the extension and opens a database through it. */
TEST_F(fs, shell_loads_the_extension)
{
	char cmd[1024];
	sqlite3 *db;

	if (system("command -v sqlite3 >/dev/null"))
		SKIP(return, "no sqlite3 shell");
	snprintf(cmd, sizeof(cmd), "sqlite3 :memory: '.load %s' "
		 "'.open file:%s/shell.db?vfs=memsnap' "
		 "'CREATE TABLE a(x); INSERT INTO a VALUES(42)' >&2",
		 MSNAP_SQLITE_SO, self->m.dir);
	ASSERT_EQ(0, system(cmd));
	EXPECT_TRUE(path_exists(self->m.dir, "shell.db-msnap"));
	ASSERT_EQ(0, msnap_mnt_remount(&self->m));
	db = db_open(self->m.dir, "shell.db", NULL);
	ASSERT_NE(NULL, db);
	EXPECT_EQ(42, db_int(db, "SELECT x FROM a"));
	sqlite3_close(db);
}

/*
 * A database that outgrows its first mapping (reserve=64 KiB), while a
 * process that mapped it small reads it: both follow the growth.
 */
TEST_F(fs, growth_past_the_first_mapping)
{
	int go[2], done[2];
	sqlite3 *db;
	pid_t pid;
	char c;
	int st;

	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));
	db = db_open(self->m.dir, "grow.db", "reserve=65536");
	ASSERT_NE(NULL, db);
	ASSERT_EQ(0, db_exec(db, "CREATE TABLE g(x BLOB)"));
	sqlite3_close(db);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		long long n;

		db = db_open(self->m.dir, "grow.db", "reserve=65536");
		n = db ? db_int(db, "SELECT count(*) FROM g") : -1;
		if (n != 0 || write(done[1], "r", 1) != 1 ||
		    read(go[0], &c, 1) != 1)
			_exit(1);
		n = db_int(db, "SELECT count(*) FROM g");
		_exit(n == 300 && db_ok(db) ? 0 : 2);
	}
	ASSERT_EQ(1, read(done[0], &c, 1));
	db = db_open(self->m.dir, "grow.db", "reserve=65536");
	ASSERT_NE(NULL, db);
	ASSERT_EQ(0, db_exec(db, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL "
			     "SELECT i + 1 FROM c WHERE i < 300) "
			     "INSERT INTO g SELECT randomblob(3000) FROM c"));
	EXPECT_LT(1 << 20, db_int(db, "PRAGMA page_count") *
			   db_int(db, "PRAGMA page_size"));
	ASSERT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_EQ(0, WEXITSTATUS(st));
	sqlite3_close(db);
	ASSERT_EQ(0, msnap_mnt_remount(&self->m));
	db = db_open(self->m.dir, "grow.db", NULL);
	ASSERT_NE(NULL, db);
	EXPECT_EQ(300, db_int(db, "SELECT count(*) FROM g"));
	EXPECT_TRUE(db_ok(db));
	sqlite3_close(db);
}

/* Writer @id: @n transactions of one row each, BEGIN IMMEDIATE. */
static int run_writer(const char *dir, int id, int n)
{
	sqlite3 *db = db_open(dir, "mp.db", NULL);
	char sql[128];
	int i;

	if (!db)
		return 1;
	for (i = 0; i < n; i++) {
		snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE;"
			 "INSERT INTO w VALUES(%d, %d); UPDATE c SET n = n + 1;"
			 "COMMIT", id, i);
		if (db_exec(db, sql))
			return 2;
	}
	sqlite3_close(db);
	return 0;
}

/* Reader: every snapshot consistent (counter = rows) until told to stop. */
static int run_reader(const char *dir, int stop_fd)
{
	sqlite3 *db = db_open(dir, "mp.db", NULL);
	long long rows, n, last = 0;
	int reads = 0;
	char c;

	if (!db)
		return 1;
	while (read(stop_fd, &c, 1) < 0 && errno == EAGAIN) {
		if (db_exec(db, "BEGIN"))
			return 2;
		rows = db_int(db, "SELECT count(*) FROM w");
		n = db_int(db, "SELECT n FROM c");
		if (db_exec(db, "COMMIT"))
			return 2;
		if (rows != n || rows < last)
			return 3;
		last = rows;
		reads++;
	}
	sqlite3_close(db);
	return reads ? 0 : 4;
}

TEST_F(fs, processes_write_and_read_one_database)
{
	pid_t pids[3];
	int stop[2], i, st;
	sqlite3 *db = db_open(self->m.dir, "mp.db", NULL);

	ASSERT_NE(NULL, db);
	ASSERT_EQ(0, db_exec(db, "CREATE TABLE w(id INT, i INT);"
			     "CREATE TABLE c(n INT); INSERT INTO c VALUES(0)"));
	sqlite3_close(db);
	ASSERT_EQ(0, pipe2(stop, O_NONBLOCK));
	for (i = 0; i < 3; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			close(stop[1]);
			_exit(i < 2 ? run_writer(self->m.dir, i, 40) :
				      run_reader(self->m.dir, stop[0]));
		}
	}
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &st, 0));
		EXPECT_EQ(0, WEXITSTATUS(st));
	}
	close(stop[1]);
	ASSERT_EQ(pids[2], waitpid(pids[2], &st, 0));
	EXPECT_EQ(0, WEXITSTATUS(st));
	db = db_open(self->m.dir, "mp.db", NULL);
	ASSERT_NE(NULL, db);
	EXPECT_EQ(80, db_int(db, "SELECT count(*) FROM w"));
	EXPECT_EQ(40, db_int(db, "SELECT count(*) FROM w WHERE id = 1"));
	EXPECT_EQ(80, db_int(db, "SELECT n FROM c"));
	EXPECT_TRUE(db_ok(db));
	sqlite3_close(db);
}

/*
 * Reader for the kill test: every snapshot holds one value of v over all
 * rows (each transaction sets all of them) until told to stop, then a few
 * more reads; exits 0 only if it never saw a mix.
 */
static int run_mix_reader(const char *dir, int stop_fd, int ready_fd)
{
	sqlite3 *db = db_open(dir, "kill.db", NULL);
	long long lo, hi, n;
	int after = -1;
	char c;

	if (!db || write(ready_fd, "r", 1) != 1)
		return 1;
	while (after < 5) {
		if (after < 0 && !read(stop_fd, &c, 1))
			after = 0;	/* the writer is dead */
		if (db_exec(db, "BEGIN"))
			return 2;
		lo = db_int(db, "SELECT min(v) FROM t");
		hi = db_int(db, "SELECT max(v) FROM t");
		n = db_int(db, "SELECT count(*) FROM t");
		if (db_exec(db, "COMMIT"))
			return 2;
		if (lo != hi || n != ROWS) {
			fprintf(stderr, "reader saw v in [%lld, %lld], %lld rows\n",
				lo, hi, n);
			return 3;
		}
		if (after >= 0)
			after++;
		else
			usleep(20000);
	}
	sqlite3_close(db);
	return 0;
}

/*
 * The writer: update most rows in one transaction with a tiny page
 * cache, so SQLite writes (spills) them into the file before the commit,
 * report how many spills, and wait to be killed.
 */
static int run_doomed_writer(const char *dir, int report_fd)
{
	sqlite3 *db = db_open(dir, "kill.db", NULL);
	sqlite3_int64 spills = 0;
	int cur = 0, hi = 0;

	if (!db || db_exec(db, "PRAGMA cache_size = 20; BEGIN;"
			   "UPDATE t SET v = 99 WHERE id <= 1500"))
		return 1;
	sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_SPILL, &cur, &hi, 0);
	spills = cur;
	if (write(report_fd, &spills, sizeof(spills)) != sizeof(spills))
		return 1;
	for (;;)
		pause();
}

/*
 * Two committed transactions (v = 1, then v = 2), then a writer killed
 * after it spilled most of a third (v = 99) while a reader reads.
 * Returns the reader's exit status (0: it never saw a mix), or -1.
 */
static int kill_scenario(struct __test_metadata *_metadata, const char *dir)
{
	int rep[2], stop[2], ready[2], st;
	sqlite3_int64 spills = 0;
	pid_t reader, writer;
	sqlite3 *db;
	char c;

	db = db_open(dir, "kill.db", NULL);
	if (!db || make_table(db) || db_exec(db, "UPDATE t SET v = 1") ||
	    db_exec(db, "UPDATE t SET v = 2"))
		return -1;
	sqlite3_close(db);
	if (pipe(rep) || pipe(ready) || pipe2(stop, O_NONBLOCK))
		return -1;
	reader = fork();
	if (reader < 0)
		return -1;
	if (reader == 0) {
		close(stop[1]);
		_exit(run_mix_reader(dir, stop[0], ready[1]));
	}
	if (read(ready[0], &c, 1) != 1)
		return -1;
	writer = fork();
	if (writer < 0)
		return -1;
	if (writer == 0) {
		close(stop[1]);
		_exit(run_doomed_writer(dir, rep[1]));
	}
	if (read(rep[0], &spills, sizeof(spills)) != sizeof(spills))
		return -1;
	TH_LOG("the writer spilled %lld times before it was killed", spills);
	EXPECT_LT(0, spills);
	kill(writer, SIGKILL);
	waitpid(writer, &st, 0);
	close(stop[1]);
	if (waitpid(reader, &st, 0) != reader || !WIFEXITED(st))
		return -1;
	close(rep[0]);
	close(rep[1]);
	close(ready[0]);
	close(ready[1]);
	close(stop[0]);
	return WEXITSTATUS(st);
}

TEST_F(fs, killed_writer_leaks_nothing)
{
	sqlite3 *db;

	EXPECT_EQ(0, kill_scenario(_metadata, self->m.dir));

	/* The next writer commits: the dead one's pages must not go with it. */
	db = db_open(self->m.dir, "kill.db", NULL);
	ASSERT_NE(NULL, db);
	ASSERT_EQ(0, db_exec(db, "INSERT INTO u VALUES('after')"));
	EXPECT_EQ(2, db_int(db, "SELECT max(v) FROM t"));
	sqlite3_close(db);
	ASSERT_EQ(0, msnap_mnt_remount(&self->m));
	db = db_open(self->m.dir, "kill.db", NULL);
	ASSERT_NE(NULL, db);
	EXPECT_EQ(2, db_int(db, "SELECT min(v) FROM t"));
	EXPECT_EQ(2, db_int(db, "SELECT max(v) FROM t"));
	EXPECT_EQ(ROWS, db_int(db, "SELECT count(*) FROM t"));
	EXPECT_EQ(1, db_int(db, "SELECT count(*) FROM u"));
	EXPECT_TRUE(db_ok(db));
	sqlite3_close(db);
}

/*
 * The same with unmodified SQLite on the unix VFS in the documented
 * recipe (journal_mode=MEMORY): the dead writer's pages are read by the
 * other process, and its next commit makes them durable.  This is what
 * the memsnap VFS prevents (docs/sqlite.md).
 */
TEST_F(fs, recipe_without_the_vfs_leaks_a_killed_writer)
{
	sqlite3 *db;

	test_vfs = "unix";
	EXPECT_EQ(3, kill_scenario(_metadata, self->m.dir));
	db = db_open(self->m.dir, "kill.db", NULL);
	ASSERT_NE(NULL, db);
	ASSERT_EQ(0, db_exec(db, "INSERT INTO u VALUES('after')"));
	sqlite3_close(db);
	ASSERT_EQ(0, msnap_mnt_remount(&self->m));
	db = db_open(self->m.dir, "kill.db", NULL);
	ASSERT_NE(NULL, db);
	EXPECT_EQ(99, db_int(db, "SELECT max(v) FROM t"));
	EXPECT_EQ(2, db_int(db, "SELECT min(v) FROM t"));
	sqlite3_close(db);
	test_vfs = MSNAP_SQLITE_VFS;
}

/*
 * A writer killed mid-transaction, then the filesystem remounted before
 * anyone opened the database again: the committed transactions are
 * there, the uncommitted one is not.
 */
TEST_F(fs, remount_after_kill_keeps_exactly_the_commits)
{
	int rep[2], st;
	sqlite3_int64 spills;
	pid_t writer;
	sqlite3 *db;

	db = db_open(self->m.dir, "kill.db", NULL);
	ASSERT_NE(NULL, db);
	ASSERT_EQ(0, make_table(db));
	ASSERT_EQ(0, db_exec(db, "UPDATE t SET v = 5"));
	sqlite3_close(db);
	ASSERT_EQ(0, pipe(rep));
	writer = fork();
	ASSERT_LE(0, writer);
	if (writer == 0)
		_exit(run_doomed_writer(self->m.dir, rep[1]));
	ASSERT_EQ(sizeof(spills), read(rep[0], &spills, sizeof(spills)));
	EXPECT_LT(0, spills);
	ASSERT_EQ(0, kill(writer, SIGKILL));
	ASSERT_EQ(writer, waitpid(writer, &st, 0));
	ASSERT_EQ(0, msnap_mnt_remount(&self->m));
	db = db_open(self->m.dir, "kill.db", NULL);
	ASSERT_NE(NULL, db);
	EXPECT_EQ(5, db_int(db, "SELECT min(v) FROM t"));
	EXPECT_EQ(5, db_int(db, "SELECT max(v) FROM t"));
	EXPECT_TRUE(db_ok(db));
	sqlite3_close(db);
}

TEST_HARNESS_MAIN
