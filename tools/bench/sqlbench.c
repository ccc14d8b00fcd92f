// SPDX-License-Identifier: GPL-2.0
/*
 * sqlbench: the SQLite benchmark of tools/bench/sqlite, run in the guest
 * by tools/bench/sqlite-guest.sh against Debian's libsqlite3 and the
 * memsnap VFS (docs/performance.md, "SQLite").  Every timing is
 * meaningful only as a ratio within one guest boot (TCG).
 *
 *   sqlbench CONFIG DIR CELL...
 *
 * Each CELL, WORKLOAD:X:COUNT[:ROWS], runs on a new database
 * DIR/WORKLOAD-X.db, removed after its check, opened as CONFIG:
 *	wal_full, wal_normal	journal_mode=WAL, synchronous=FULL / NORMAL
 *	delete_full		journal_mode=DELETE (SQLite's default), FULL
 *	unix_memory		journal_mode=MEMORY, cache_spill=OFF, FULL
 *	vfs_full, vfs_normal	the memsnap VFS, synchronous=FULL / NORMAL
 * (the first four through the unix VFS; DIR must be on memsnap for the
 * last three and not for the others).  Workloads:
 *	fillseq:ROWS:TXNS	TXNS transactions of ROWS inserted rows
 *				(integer keys in order, 128-byte values)
 *	fillrand:ROWS:TXNS	the same, each key once, in a random order
 *	readmix:PCT:OPS[:ROWS]	on a table of ROWS rows (default 1000), OPS
 *				transactions: PCT% point reads, the rest
 *				one-row updates, keys uniform
 *	tatp:SUBS:TXNS		TATP with SUBS subscribers, TXNS
 *				transactions of its standard mix
 * The random sequence starts anew in each cell: every column runs the
 * same keys and transactions.
 * Prints CSV rows "sqlite,CONFIG,X,WORKLOAD.METRIC,VALUE,UNIT": the
 * transactions per second of the timed part and, with SQLBENCH_STATS
 * naming memsnap's debugfs stats file, the persists per transaction and
 * pages per persist.  Then it closes the database, opens it again and
 * checks it: PRAGMA integrity_check is ok and it holds exactly what the
 * committed transactions wrote (every row and value; TATP against a
 * model of the database that every transaction is also checked against
 * as it runs).  Any mismatch or SQLite error exits 1 with one line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/vfs.h>
#include <sqlite3.h>
#include <linux/memsnap.h>
#include <memsnap_sqlite.h>
#include "bench_time.h"

#define VALUE_LEN	128

struct config {
	const char	*name;
	const char	*journal;	/* journal_mode to set; NULL: default */
	const char	*want_journal;	/* what PRAGMA journal_mode must say */
	int		normal;		/* synchronous=NORMAL, else FULL */
	int		vfs;		/* the memsnap VFS, else unix */
	int		nospill;	/* cache_spill=OFF */
	int		memsnap;	/* on a memsnap mount, else not */
};

static const struct config configs[] = {
	{ "wal_full", "WAL", "wal", 0, 0, 0, 0 },
	{ "wal_normal", "WAL", "wal", 1, 0, 0, 0 },
	{ "delete_full", "DELETE", "delete", 0, 0, 0, 0 },
	{ "unix_memory", "MEMORY", "memory", 0, 0, 1, 1 },
	/* The VFS keeps the rollback journal in memory in DELETE mode. */
	{ "vfs_full", NULL, "delete", 0, 1, 0, 1 },
	{ "vfs_normal", NULL, "delete", 1, 1, 0, 1 },
};

static const struct config *cfg;
static const char *dir, *workload, *xarg;
static char dbpath[4000];

static void __attribute__((format(printf, 1, 2), noreturn)) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sqlbench: %s %s %s: ", cfg ? cfg->name : "-",
		workload ? workload : "-", xarg ? xarg : "-");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* ---- random numbers: one fixed sequence, the same in every column ---- */

#define RNG_SEED	0x5eed5eed12345ULL
static uint64_t rng_state;

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t n)
{
	return splitmix(&rng_state) % n;
}

/* The 128-byte value of key @k at version @ver. */
static void value_of(uint64_t k, uint64_t ver, unsigned char *v)
{
	uint64_t s = k * 0x100000001b3ULL + ver, w;
	int i;

	for (i = 0; i < VALUE_LEN; i += 8) {
		w = splitmix(&s);
		memcpy(v + i, &w, 8);
	}
}

/* ---- SQLite helpers ---- */

static void exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		die("%s: %s", sql, err ? err : sqlite3_errmsg(db));
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die("%s: %s", sql, sqlite3_errmsg(db));
	return st;
}

/* Step once: 1 for a row, 0 when done; any error is fatal. */
static int step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		die("%s: %s", sqlite3_sql(st), sqlite3_errmsg(sqlite3_db_handle(st)));
	return 0;
}

/* Run a statement without result rows, then reset it. */
static void run(sqlite3_stmt *st)
{
	step(st);
	sqlite3_reset(st);
}

static long long query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = prep(db, sql);
	long long v;

	if (!step(st))
		die("%s: no row", sql);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void query_text(sqlite3 *db, const char *sql, char *buf, size_t len)
{
	sqlite3_stmt *st = prep(db, sql);

	if (!step(st))
		die("%s: no row", sql);
	snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

/*
 * Open DIR/bench.db as the configuration says and check that SQLite took
 * the settings: a pragma that silently kept the old mode would measure
 * something else.
 */
static sqlite3 *db_open(void)
{
	sqlite3 *db = NULL;
	char sql[128], got[32], *vfs = NULL;

	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    cfg->vfs ? MSNAP_SQLITE_VFS : NULL) != SQLITE_OK)
		die("open %s: %s", dbpath, db ? sqlite3_errmsg(db) : "out of memory");
	/* The memsnap VFS hands files off memsnap to the unix VFS. */
	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_VFSNAME, &vfs) != SQLITE_OK ||
	    !vfs || strcmp(vfs, cfg->vfs ? MSNAP_SQLITE_VFS : "unix"))
		die("the database is opened by the VFS %s", vfs ? vfs : "?");
	sqlite3_free(vfs);
	if (cfg->journal) {
		snprintf(sql, sizeof(sql), "PRAGMA journal_mode=%s", cfg->journal);
		exec(db, sql);
	}
	exec(db, cfg->normal ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL");
	if (cfg->nospill)
		exec(db, "PRAGMA cache_spill=OFF");
	query_text(db, "PRAGMA journal_mode", got, sizeof(got));
	if (strcmp(got, cfg->want_journal))
		die("journal_mode is %s, not %s", got, cfg->want_journal);
	if (query_int(db, "PRAGMA synchronous") != (cfg->normal ? 1 : 2))
		die("synchronous did not take");
	if (cfg->nospill && query_int(db, "PRAGMA cache_spill") != 0)
		die("cache_spill did not take");
	query_text(db, "PRAGMA integrity_check", got, sizeof(got));
	if (strcmp(got, "ok"))
		die("integrity_check: %s", got);
	return db;
}

/* Close, open again, and check integrity: what the checks then read
 * comes from the file, not from this connection's cache. */
static sqlite3 *db_reopen(sqlite3 *db)
{
	if (sqlite3_close(db) != SQLITE_OK)
		die("close: %s", sqlite3_errmsg(db));
	return db_open();
}

static void db_close(sqlite3 *db)
{
	if (sqlite3_close(db) != SQLITE_OK)
		die("close: %s", sqlite3_errmsg(db));
}

/* After the first commits of a WAL database: start the timed part with
 * the log checkpointed, as a long-running database would be. */
static void settle(sqlite3 *db)
{
	if (!strcmp(cfg->want_journal, "wal"))
		exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
}

/* ---- timing and memsnap's counters ---- */

/*
 * The module's counters (docs/performance.md, "The counters") that say
 * where a persist's time goes: their change over the timed part, per
 * persist.  "persists" and "pages" first.
 */
static const char *const counter_names[] = {
	"persists", "pages", "lock_wait_ns", "snapshot_ns", "snapshot_crc_ns",
	"submit_ns", "io_ns",
};
#define NCOUNTERS	(sizeof(counter_names) / sizeof(counter_names[0]))

struct counters {
	long long	v[NCOUNTERS];
};

static int read_counters(struct counters *c)
{
	const char *path = getenv("SQLBENCH_STATS");
	char name[64];
	long long v;
	size_t i;
	FILE *f;

	if (!path || !*path || !(f = fopen(path, "r")))
		return 0;
	for (i = 0; i < NCOUNTERS; i++)
		c->v[i] = -1;
	while (fscanf(f, "%63s %lld", name, &v) == 2)
		for (i = 0; i < NCOUNTERS; i++)
			if (!strcmp(name, counter_names[i]))
				c->v[i] = v;
	fclose(f);
	return c->v[0] >= 0 && c->v[1] >= 0;
}

static struct counters c0;
static int have_counters;
static double t0;

static void timer_start(void)
{
	have_counters = read_counters(&c0);
	t0 = now_us();
}

static void row(const char *metric, double v, const char *fmt, const char *unit)
{
	printf("sqlite,%s,%s,%s.%s,", cfg->name, xarg, workload, metric);
	printf(fmt, v);
	printf(",%s\n", unit);
}

static void timer_stop(long long txns)
{
	double us = now_us() - t0;
	struct counters c1;

	row("txn_per_s", txns / (us / 1e6), "%.2f", "1/s");
	row("us_per_txn", us / txns, "%.1f", "us");
	if (have_counters && read_counters(&c1)) {
		long long p = c1.v[0] - c0.v[0];
		char name[64];
		size_t i;

		row("persists_per_txn", (double)p / txns, "%.3f", "count");
		if (p <= 0)
			return;
		row("pages_per_persist", (double)(c1.v[1] - c0.v[1]) / p, "%.2f", "count");
		for (i = 2; i < NCOUNTERS; i++) {
			if (c0.v[i] < 0 || c1.v[i] < 0)
				continue;
			/* "snapshot_ns" -> "persist_snapshot_us" */
			snprintf(name, sizeof(name), "persist_%.*s_us",
				 (int)strlen(counter_names[i]) - 3, counter_names[i]);
			row(name, (c1.v[i] - c0.v[i]) / 1e3 / p, "%.1f", "us");
		}
	}
}

/* ---- fillseq, fillrand ---- */

static void fill(int random, long long rows, long long txns)
{
	long long n = rows * txns, i, j, seen = 0, *keys;
	unsigned char v[VALUE_LEN], want[VALUE_LEN];
	sqlite3_stmt *ins, *begin, *commit, *all;
	sqlite3 *db;

	keys = malloc(n * sizeof(*keys));
	if (!keys)
		die("out of memory");
	for (i = 0; i < n; i++)
		keys[i] = i;
	for (i = n - 1; random && i > 0; i--) {	/* Fisher-Yates */
		long long t = keys[i];

		j = rnd(i + 1);
		keys[i] = keys[j];
		keys[j] = t;
	}
	db = db_open();
	exec(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB NOT NULL)");
	settle(db);
	ins = prep(db, "INSERT INTO t(k, v) VALUES(?1, ?2)");
	begin = prep(db, "BEGIN");
	commit = prep(db, "COMMIT");
	timer_start();
	for (i = 0; i < txns; i++) {
		run(begin);
		for (j = i * rows; j < (i + 1) * rows; j++) {
			value_of(keys[j], 0, v);
			sqlite3_bind_int64(ins, 1, keys[j]);
			sqlite3_bind_blob(ins, 2, v, VALUE_LEN, SQLITE_STATIC);
			run(ins);
		}
		run(commit);
	}
	timer_stop(txns);
	sqlite3_finalize(ins);
	sqlite3_finalize(begin);
	sqlite3_finalize(commit);

	db = db_reopen(db);
	all = prep(db, "SELECT k, v FROM t ORDER BY k");
	while (step(all)) {
		if (sqlite3_column_int64(all, 0) != seen)
			die("row %lld has key %lld", seen, sqlite3_column_int64(all, 0));
		value_of(seen, 0, want);
		if (sqlite3_column_bytes(all, 1) != VALUE_LEN ||
		    memcmp(sqlite3_column_blob(all, 1), want, VALUE_LEN))
			die("key %lld: wrong value", seen);
		seen++;
	}
	sqlite3_finalize(all);
	if (seen != n)
		die("%lld rows, %lld committed", seen, n);
	row("verified_rows", seen, "%.0f", "count");
	db_close(db);
	free(keys);
}

/* ---- readmix ---- */

static void readmix(int pct, long long ops, long long rows)
{
	unsigned char v[VALUE_LEN];
	sqlite3_stmt *get, *upd, *all;
	long long i, k, seen = 0;
	unsigned *ver;
	sqlite3 *db;

	ver = calloc(rows, sizeof(*ver));
	if (!ver)
		die("out of memory");
	db = db_open();
	exec(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB NOT NULL)");
	upd = prep(db, "INSERT INTO t(k, v) VALUES(?1, ?2)");
	exec(db, "BEGIN");
	for (k = 0; k < rows; k++) {
		value_of(k, 0, v);
		sqlite3_bind_int64(upd, 1, k);
		sqlite3_bind_blob(upd, 2, v, VALUE_LEN, SQLITE_TRANSIENT);
		run(upd);
	}
	exec(db, "COMMIT");
	sqlite3_finalize(upd);
	settle(db);
	get = prep(db, "SELECT v FROM t WHERE k = ?1");
	upd = prep(db, "UPDATE t SET v = ?2 WHERE k = ?1");
	timer_start();
	for (i = 0; i < ops; i++) {
		k = rnd(rows);
		if ((int)rnd(100) < pct) {
			sqlite3_bind_int64(get, 1, k);
			if (!step(get))
				die("key %lld: no row", k);
			value_of(k, ver[k], v);
			if (sqlite3_column_bytes(get, 0) != VALUE_LEN ||
			    memcmp(sqlite3_column_blob(get, 0), v, VALUE_LEN))
				die("key %lld: read a wrong value", k);
			sqlite3_reset(get);
			continue;
		}
		value_of(k, ver[k] + 1, v);
		sqlite3_bind_int64(upd, 1, k);
		sqlite3_bind_blob(upd, 2, v, VALUE_LEN, SQLITE_STATIC);
		run(upd);	/* autocommit: a one-row transaction */
		if (sqlite3_changes(db) != 1)
			die("update of key %lld changed %d rows", k, sqlite3_changes(db));
		ver[k]++;
	}
	timer_stop(ops);
	sqlite3_finalize(get);
	sqlite3_finalize(upd);

	db = db_reopen(db);
	all = prep(db, "SELECT k, v FROM t ORDER BY k");
	while (step(all)) {
		k = sqlite3_column_int64(all, 0);
		if (k != seen)
			die("row %lld has key %lld", seen, k);
		value_of(k, ver[k], v);
		if (sqlite3_column_bytes(all, 1) != VALUE_LEN ||
		    memcmp(sqlite3_column_blob(all, 1), v, VALUE_LEN))
			die("key %lld: not the value of its last update", k);
		seen++;
	}
	sqlite3_finalize(all);
	if (seen != rows)
		die("%lld rows, not %lld", seen, rows);
	row("verified_rows", seen, "%.0f", "count");
	db_close(db);
	free(ver);
}

/* ---- TATP ---- */

/*
 * The model of a subscriber's rows: what the database must hold after
 * the transactions that committed.  Types (ai_type, sf_type) are 1..4;
 * call forwarding slots 0..2 start at 0, 8 and 16 hours.
 */
struct sub {
	uint32_t	vlr;		/* subscriber.vlr_location */
	uint8_t		bit1;		/* subscriber.bit_1 */
	uint8_t		ai;		/* access_info types, bit t-1 */
	uint8_t		sf;		/* special_facility types */
	uint8_t		active;		/* ... with is_active = 1 */
	uint8_t		data_a[4];	/* special_facility.data_a */
	uint8_t		cf_end[4][3];	/* call_forwarding.end_time, 0: none */
};

static struct sub *subs;
static long long nsubs;

enum { GSD, GND, GAD, USD, UL, ICF, DCF, NTX };

struct tatp {
	sqlite3		*db;
	sqlite3_stmt	*st[16];
	long long	done[NTX], failed[NTX];
};

enum {
	Q_GSD, Q_GND, Q_GAD, Q_USD1, Q_USD2, Q_UL, Q_SID, Q_SFT, Q_ICF, Q_DCF,
	Q_BEGIN, Q_COMMIT, Q_ROLLBACK, NQ
};

static const char *const tatp_sql[NQ] = {
	[Q_GSD] = "SELECT s_id, sub_nbr, bit_1, bit_2, bit_3, bit_4, bit_5, bit_6, "
		  "bit_7, bit_8, bit_9, bit_10, hex_1, hex_2, hex_3, hex_4, hex_5, "
		  "hex_6, hex_7, hex_8, hex_9, hex_10, byte2_1, byte2_2, byte2_3, "
		  "byte2_4, byte2_5, byte2_6, byte2_7, byte2_8, byte2_9, byte2_10, "
		  "msc_location, vlr_location FROM subscriber WHERE s_id = ?1",
	[Q_GND] = "SELECT cf.numberx FROM special_facility AS sf, call_forwarding AS cf "
		  "WHERE sf.s_id = ?1 AND sf.sf_type = ?2 AND sf.is_active = 1 "
		  "AND cf.s_id = sf.s_id AND cf.sf_type = sf.sf_type "
		  "AND cf.start_time <= ?3 AND ?4 < cf.end_time",
	[Q_GAD] = "SELECT data1, data2, data3, data4 FROM access_info "
		  "WHERE s_id = ?1 AND ai_type = ?2",
	[Q_USD1] = "UPDATE subscriber SET bit_1 = ?2 WHERE s_id = ?1",
	[Q_USD2] = "UPDATE special_facility SET data_a = ?3 WHERE s_id = ?1 AND sf_type = ?2",
	[Q_UL] = "UPDATE subscriber SET vlr_location = ?2 WHERE sub_nbr = ?1",
	[Q_SID] = "SELECT s_id FROM subscriber WHERE sub_nbr = ?1",
	[Q_SFT] = "SELECT sf_type FROM special_facility WHERE s_id = ?1",
	[Q_ICF] = "INSERT INTO call_forwarding VALUES(?1, ?2, ?3, ?4, ?5)",
	[Q_DCF] = "DELETE FROM call_forwarding WHERE s_id = ?1 AND sf_type = ?2 "
		  "AND start_time = ?3",
	[Q_BEGIN] = "BEGIN",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
};

static const char tatp_schema[] =
	"CREATE TABLE subscriber(s_id INTEGER PRIMARY KEY, sub_nbr TEXT NOT NULL UNIQUE, "
	"bit_1 INT, bit_2 INT, bit_3 INT, bit_4 INT, bit_5 INT, bit_6 INT, bit_7 INT, "
	"bit_8 INT, bit_9 INT, bit_10 INT, hex_1 INT, hex_2 INT, hex_3 INT, hex_4 INT, "
	"hex_5 INT, hex_6 INT, hex_7 INT, hex_8 INT, hex_9 INT, hex_10 INT, "
	"byte2_1 INT, byte2_2 INT, byte2_3 INT, byte2_4 INT, byte2_5 INT, byte2_6 INT, "
	"byte2_7 INT, byte2_8 INT, byte2_9 INT, byte2_10 INT, "
	"msc_location INT, vlr_location INT);"
	"CREATE TABLE access_info(s_id INT NOT NULL, ai_type INT NOT NULL, data1 INT, "
	"data2 INT, data3 TEXT, data4 TEXT, PRIMARY KEY(s_id, ai_type));"
	"CREATE TABLE special_facility(s_id INT NOT NULL, sf_type INT NOT NULL, "
	"is_active INT NOT NULL, error_cntrl INT, data_a INT, data_b TEXT, "
	"PRIMARY KEY(s_id, sf_type));"
	"CREATE TABLE call_forwarding(s_id INT NOT NULL, sf_type INT NOT NULL, "
	"start_time INT NOT NULL, end_time INT, numberx TEXT, "
	"PRIMARY KEY(s_id, sf_type, start_time))";

/* TATP's subscriber number: the s_id as 15 decimal digits. */
static void sub_nbr(long long s, char out[24])
{
	snprintf(out, 24, "%015lld", s);
}

/* A random subset of 1..4 types, as a bit mask (TATP: 1 to 4 rows). */
static uint8_t types(void)
{
	int n = 1 + rnd(4), t[4] = { 0, 1, 2, 3 }, i, j, x;
	uint8_t m = 0;

	for (i = 3; i > 0; i--) {
		j = rnd(i + 1);
		x = t[i];
		t[i] = t[j];
		t[j] = x;
	}
	for (i = 0; i < n; i++)
		m |= 1 << t[i];
	return m;
}

static void rnd_digits(char *out, int n)
{
	int i;

	for (i = 0; i < n; i++)
		out[i] = '0' + rnd(10);
	out[n] = 0;
}

static void tatp_load(sqlite3 *db)
{
	sqlite3_stmt *s, *a, *f, *c;
	char nbr[24], txt[16];
	long long id;
	int i, t, k;

	s = prep(db, "INSERT INTO subscriber VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
		 "?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, "
		 "?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34)");
	a = prep(db, "INSERT INTO access_info VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
	f = prep(db, "INSERT INTO special_facility VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
	c = prep(db, "INSERT INTO call_forwarding VALUES(?1, ?2, ?3, ?4, ?5)");
	exec(db, "BEGIN");
	for (id = 1; id <= nsubs; id++) {
		struct sub *m = &subs[id - 1];

		m->vlr = rnd(1ULL << 32);
		m->bit1 = rnd(2);
		sub_nbr(id, nbr);
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_text(s, 2, nbr, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(s, 3, m->bit1);
		for (i = 4; i <= 12; i++)
			sqlite3_bind_int(s, i, rnd(2));
		for (i = 13; i <= 22; i++)
			sqlite3_bind_int(s, i, rnd(16));
		for (i = 23; i <= 32; i++)
			sqlite3_bind_int(s, i, rnd(256));
		sqlite3_bind_int64(s, 33, rnd(1ULL << 32));
		sqlite3_bind_int64(s, 34, m->vlr);
		run(s);
		m->ai = types();
		for (t = 1; t <= 4; t++) {
			if (!(m->ai & 1 << (t - 1)))
				continue;
			sqlite3_bind_int64(a, 1, id);
			sqlite3_bind_int(a, 2, t);
			sqlite3_bind_int(a, 3, rnd(256));
			sqlite3_bind_int(a, 4, rnd(256));
			rnd_digits(txt, 3);
			sqlite3_bind_text(a, 5, txt, -1, SQLITE_TRANSIENT);
			rnd_digits(txt, 5);
			sqlite3_bind_text(a, 6, txt, -1, SQLITE_TRANSIENT);
			run(a);
		}
		m->sf = types();
		for (t = 1; t <= 4; t++) {
			if (!(m->sf & 1 << (t - 1)))
				continue;
			if (rnd(100) < 85)
				m->active |= 1 << (t - 1);
			m->data_a[t - 1] = rnd(256);
			sqlite3_bind_int64(f, 1, id);
			sqlite3_bind_int(f, 2, t);
			sqlite3_bind_int(f, 3, !!(m->active & 1 << (t - 1)));
			sqlite3_bind_int(f, 4, rnd(256));
			sqlite3_bind_int(f, 5, m->data_a[t - 1]);
			rnd_digits(txt, 5);
			sqlite3_bind_text(f, 6, txt, -1, SQLITE_TRANSIENT);
			run(f);
			/* 0 to 3 call forwardings per facility */
			for (k = 0; k < 3; k++) {
				if (rnd(2))
					continue;
				m->cf_end[t - 1][k] = 8 * k + 1 + rnd(8);
				sqlite3_bind_int64(c, 1, id);
				sqlite3_bind_int(c, 2, t);
				sqlite3_bind_int(c, 3, 8 * k);
				sqlite3_bind_int(c, 4, m->cf_end[t - 1][k]);
				rnd_digits(txt, 15);
				sqlite3_bind_text(c, 5, txt, -1, SQLITE_TRANSIENT);
				run(c);
			}
		}
	}
	exec(db, "COMMIT");
	sqlite3_finalize(s);
	sqlite3_finalize(a);
	sqlite3_finalize(f);
	sqlite3_finalize(c);
}

/* TATP's non-uniform subscriber id: (rand(0, A) | rand(1, P)) % P + 1. */
static long long tatp_sid(void)
{
	uint64_t a = nsubs <= 1000000 ? 65535 : nsubs <= 10000000 ? 1048575 : 2097151;

	return ((long long)(rnd(a + 1) | (1 + rnd(nsubs))) % nsubs) + 1;
}

static sqlite3_stmt *q(struct tatp *x, int i)
{
	sqlite3_reset(x->st[i]);
	sqlite3_clear_bindings(x->st[i]);
	return x->st[i];
}

/* The s_id of a subscriber number, inside a write transaction. */
static long long sid_of(struct tatp *x, long long s)
{
	sqlite3_stmt *st = q(x, Q_SID);
	char nbr[24];

	sub_nbr(s, nbr);
	sqlite3_bind_text(st, 1, nbr, -1, SQLITE_TRANSIENT);
	if (!step(st) || sqlite3_column_int64(st, 0) != s)
		die("subscriber number %s: not s_id %lld", nbr, s);
	return s;
}

static int tatp_read(struct tatp *x, int tx, long long s, struct sub *m)
{
	sqlite3_stmt *st;
	int t, start, end, n = 0, want = 0, k;

	switch (tx) {
	case GSD:
		st = q(x, Q_GSD);
		sqlite3_bind_int64(st, 1, s);
		if (!step(st) || sqlite3_column_int64(st, 0) != s ||
		    sqlite3_column_int(st, 2) != m->bit1 ||
		    (uint32_t)sqlite3_column_int64(st, 33) != m->vlr)
			die("GET_SUBSCRIBER_DATA %lld: not the committed row", s);
		return 1;
	case GND:
		t = 1 + rnd(4);
		start = 8 * rnd(3);
		end = 1 + rnd(24);
		st = q(x, Q_GND);
		sqlite3_bind_int64(st, 1, s);
		sqlite3_bind_int(st, 2, t);
		sqlite3_bind_int(st, 3, start);
		sqlite3_bind_int(st, 4, end);
		while (step(st))
			n++;
		for (k = 0; (m->active & 1 << (t - 1)) && k < 3; k++)
			want += m->cf_end[t - 1][k] && 8 * k <= start &&
				end < m->cf_end[t - 1][k];
		if (n != want)
			die("GET_NEW_DESTINATION %lld/%d: %d rows, not %d", s, t, n, want);
		return n > 0;
	default:	/* GAD */
		t = 1 + rnd(4);
		st = q(x, Q_GAD);
		sqlite3_bind_int64(st, 1, s);
		sqlite3_bind_int(st, 2, t);
		n = step(st);
		if (n != !!(m->ai & 1 << (t - 1)))
			die("GET_ACCESS_DATA %lld/%d: %s row", s, t, n ? "a" : "no");
		return n;
	}
}

/* End a write transaction: commit when @ok, else roll back. */
static int finish(struct tatp *x, int ok)
{
	run(q(x, ok ? Q_COMMIT : Q_ROLLBACK));
	return ok;
}

static int tatp_write(struct tatp *x, int tx, long long s, struct sub *m)
{
	int t = 1 + rnd(4), k = rnd(3), bit, da, end, rc, have = 0;
	sqlite3_stmt *st;
	char num[24];
	uint32_t vlr;

	switch (tx) {
	case USD:	/* commits only when the facility exists */
		bit = rnd(2);
		da = rnd(256);
		run(q(x, Q_BEGIN));
		st = q(x, Q_USD1);
		sqlite3_bind_int64(st, 1, s);
		sqlite3_bind_int(st, 2, bit);
		step(st);
		st = q(x, Q_USD2);
		sqlite3_bind_int64(st, 1, s);
		sqlite3_bind_int(st, 2, t);
		sqlite3_bind_int(st, 3, da);
		step(st);
		if (sqlite3_changes(x->db) != !!(m->sf & 1 << (t - 1)))
			die("UPDATE_SUBSCRIBER_DATA %lld/%d: %d facility rows", s, t,
			    sqlite3_changes(x->db));
		if (!finish(x, m->sf & 1 << (t - 1)))
			return 0;
		m->bit1 = bit;
		m->data_a[t - 1] = da;
		return 1;
	case UL:	/* one statement: an autocommit transaction */
		vlr = rnd(1ULL << 32);
		sub_nbr(s, num);
		st = q(x, Q_UL);
		sqlite3_bind_text(st, 1, num, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, vlr);
		step(st);
		if (sqlite3_changes(x->db) != 1)
			die("UPDATE_LOCATION %lld: %d rows", s, sqlite3_changes(x->db));
		m->vlr = vlr;
		return 1;
	case ICF:
		/*
		 * Insert a forwarding for a facility the subscriber has (SQLite
		 * enforces no foreign key here: the check is the transaction's);
		 * one that exists fails on the primary key, as in TATP.
		 */
		run(q(x, Q_BEGIN));
		sid_of(x, s);
		st = q(x, Q_SFT);
		sqlite3_bind_int64(st, 1, s);
		while (step(st))
			have |= 1 << (sqlite3_column_int(st, 0) - 1);
		if (have != m->sf)
			die("INSERT_CALL_FORWARDING %lld: facilities %#x, not %#x", s,
			    have, m->sf);
		if (!(have & 1 << (t - 1)))
			return finish(x, 0);
		end = 8 * k + 1 + rnd(8);
		rnd_digits(num, 15);
		st = q(x, Q_ICF);
		sqlite3_bind_int64(st, 1, s);
		sqlite3_bind_int(st, 2, t);
		sqlite3_bind_int(st, 3, 8 * k);
		sqlite3_bind_int(st, 4, end);
		sqlite3_bind_text(st, 5, num, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE && rc != SQLITE_CONSTRAINT)
			die("INSERT_CALL_FORWARDING: %s", sqlite3_errmsg(x->db));
		if ((rc == SQLITE_DONE) != !m->cf_end[t - 1][k])
			die("INSERT_CALL_FORWARDING %lld/%d/%d: %s", s, t, 8 * k,
			    rc == SQLITE_DONE ? "inserted a duplicate" : "refused");
		sqlite3_reset(st);
		if (!finish(x, rc == SQLITE_DONE))
			return 0;
		m->cf_end[t - 1][k] = end;
		return 1;
	default:	/* DCF: commits when a row was deleted */
		run(q(x, Q_BEGIN));
		sid_of(x, s);
		st = q(x, Q_DCF);
		sqlite3_bind_int64(st, 1, s);
		sqlite3_bind_int(st, 2, t);
		sqlite3_bind_int(st, 3, 8 * k);
		step(st);
		if (sqlite3_changes(x->db) != !!m->cf_end[t - 1][k])
			die("DELETE_CALL_FORWARDING %lld/%d/%d: %d rows", s, t, 8 * k,
			    sqlite3_changes(x->db));
		if (!finish(x, m->cf_end[t - 1][k]))
			return 0;
		m->cf_end[t - 1][k] = 0;
		return 1;
	}
}

/* The whole database against the model. */
static long long tatp_check(sqlite3 *db)
{
	long long n = 0, s, want = 0, rows = 0;
	sqlite3_stmt *st;
	struct sub *m;
	int t, k;

	st = prep(db, "SELECT s_id, bit_1, vlr_location, sub_nbr FROM subscriber ORDER BY s_id");
	while (step(st)) {
		char nbr[24];

		s = sqlite3_column_int64(st, 0);
		sub_nbr(s, nbr);
		if (s != ++n || sqlite3_column_int(st, 1) != subs[s - 1].bit1 ||
		    (uint32_t)sqlite3_column_int64(st, 2) != subs[s - 1].vlr ||
		    strcmp((const char *)sqlite3_column_text(st, 3), nbr))
			die("subscriber %lld: not as committed", n);
	}
	sqlite3_finalize(st);
	if (n != nsubs)
		die("%lld subscribers, not %lld", n, nsubs);
	rows += n;
	st = prep(db, "SELECT s_id, ai_type FROM access_info");
	while (step(st)) {
		s = sqlite3_column_int64(st, 0);
		t = sqlite3_column_int(st, 1);
		if (s < 1 || s > nsubs || t < 1 || t > 4 || !(subs[s - 1].ai & 1 << (t - 1)))
			die("access_info %lld/%d: not loaded", s, t);
		rows++;
	}
	sqlite3_finalize(st);
	st = prep(db, "SELECT s_id, sf_type, is_active, data_a FROM special_facility");
	while (step(st)) {
		s = sqlite3_column_int64(st, 0);
		t = sqlite3_column_int(st, 1);
		if (s < 1 || s > nsubs || t < 1 || t > 4)
			die("special_facility %lld/%d: not loaded", s, t);
		m = &subs[s - 1];
		if (!(m->sf & 1 << (t - 1)) ||
		    sqlite3_column_int(st, 2) != !!(m->active & 1 << (t - 1)) ||
		    sqlite3_column_int(st, 3) != m->data_a[t - 1])
			die("special_facility %lld/%d: not as committed", s, t);
		rows++;
	}
	sqlite3_finalize(st);
	st = prep(db, "SELECT s_id, sf_type, start_time, end_time FROM call_forwarding");
	while (step(st)) {
		s = sqlite3_column_int64(st, 0);
		t = sqlite3_column_int(st, 1);
		k = sqlite3_column_int(st, 2);
		if (s < 1 || s > nsubs || t < 1 || t > 4 || k % 8 || k < 0 || k > 16 ||
		    sqlite3_column_int(st, 3) != subs[s - 1].cf_end[t - 1][k / 8])
			die("call_forwarding %lld/%d/%d: not as committed", s, t, k);
		rows++;
	}
	sqlite3_finalize(st);
	for (s = 0; s < nsubs; s++) {
		m = &subs[s];
		for (t = 0; t < 4; t++) {
			want += !!(m->ai & 1 << t) + !!(m->sf & 1 << t);
			for (k = 0; k < 3; k++)
				want += !!m->cf_end[t][k];
		}
	}
	if (rows != want + nsubs)
		die("%lld rows, not %lld", rows, want + nsubs);
	return rows;
}

static void tatp(long long n, long long txns)
{
	/* GSD 35%, GND 10%, GAD 35%, USD 2%, UL 14%, ICF 2%, DCF 2% */
	static const int mix[NTX] = { 35, 45, 80, 82, 96, 98, 100 };
	struct tatp x = { 0 };
	long long i, s;
	int tx, r, ok;

	nsubs = n;
	subs = calloc(n, sizeof(*subs));
	if (!subs)
		die("out of memory");
	x.db = db_open();
	exec(x.db, tatp_schema);
	tatp_load(x.db);
	settle(x.db);
	for (i = 0; i < NQ; i++)
		x.st[i] = prep(x.db, tatp_sql[i]);
	timer_start();
	for (i = 0; i < txns; i++) {
		r = rnd(100);
		for (tx = 0; r >= mix[tx]; tx++)
			;
		s = tatp_sid();
		if (tx <= GAD)
			ok = tatp_read(&x, tx, s, &subs[s - 1]);
		else
			ok = tatp_write(&x, tx, s, &subs[s - 1]);
		x.done[tx]++;
		x.failed[tx] += !ok;
		/* A SELECT left unreset would keep its read transaction open. */
		for (r = 0; r < NQ; r++)
			sqlite3_reset(x.st[r]);
	}
	timer_stop(txns);
	for (i = 0; i < NQ; i++)
		sqlite3_finalize(x.st[i]);
	/* TATP's "successful" share, the same in every column. */
	row("success_pct", 100.0 * (txns - x.failed[GSD] - x.failed[GND] -
		x.failed[GAD] - x.failed[USD] - x.failed[UL] - x.failed[ICF] -
		x.failed[DCF]) / txns, "%.1f", "%");
	row("write_txns", x.done[USD] + x.done[UL] + x.done[ICF] + x.done[DCF],
	    "%.0f", "count");
	x.db = db_reopen(x.db);
	row("verified_rows", tatp_check(x.db), "%.0f", "count");
	db_close(x.db);
	free(subs);
}

/* ---- main ---- */

static long long num(const char *s, long long min, const char *what)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (*s == 0 || *end || v < min)
		die("%s: not a number >= %lld: '%s'", what, min, s);
	return v;
}

/* One cell: WORKLOAD:X:COUNT[:ROWS], parsed into @c (exits on bad input). */
struct cell {
	char		spec[64];
	const char	*workload, *x;
	long long	xv, count, rows;
};

static void parse_cell(const char *arg, struct cell *c)
{
	char *rows;

	workload = arg;
	if (snprintf(c->spec, sizeof(c->spec), "%s", arg) >= (int)sizeof(c->spec))
		die("cell too long: '%s'", arg);
	c->workload = strtok(c->spec, ":");
	c->x = strtok(NULL, ":");
	workload = c->workload;
	xarg = c->x;
	if (!c->x || !(rows = strtok(NULL, ":")))
		die("a cell is WORKLOAD:X:COUNT[:ROWS], not '%s'", arg);
	c->xv = num(c->x, 1, "X");
	c->count = num(rows, 1, "COUNT");
	rows = strtok(NULL, ":");
	c->rows = rows ? num(rows, 1, "ROWS") : 1000;
	if (rows && strcmp(c->workload, "readmix"))
		die("only readmix takes ROWS");
	if (strtok(NULL, ":"))
		die("a cell is WORKLOAD:X:COUNT[:ROWS], not '%s'", arg);
	if (strcmp(c->workload, "fillseq") && strcmp(c->workload, "fillrand") &&
	    strcmp(c->workload, "readmix") && strcmp(c->workload, "tatp"))
		die("unknown workload (fillseq, fillrand, readmix, tatp)");
	if (!strcmp(c->workload, "readmix") && c->xv > 100)
		die("X is a percentage of reads: at most 100");
	if (!strcmp(c->workload, "tatp") && c->xv > 100000000)
		die("at most 100000000 subscribers");
}

/* Remove the cell's database and whatever SQLite and the VFS kept beside it. */
static void remove_db(void)
{
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal", "-msnap" };
	char path[sizeof(dbpath) + 16];
	size_t i;

	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", dbpath, suffix[i]);
		if (unlink(path) && errno != ENOENT)
			die("%s: %s", path, strerror(errno));
	}
}

static void run_cell(const struct cell *c)
{
	workload = c->workload;
	xarg = c->x;
	rng_state = RNG_SEED;	/* the same sequence in every column */
	if (snprintf(dbpath, sizeof(dbpath), "%s/%s-%s.db", dir, c->workload, c->x) >=
	    (int)sizeof(dbpath))
		die("directory name too long");
	if (access(dbpath, F_OK) == 0)
		die("%s exists: each cell starts a new database", dbpath);
	if (!strcmp(c->workload, "fillseq") || !strcmp(c->workload, "fillrand"))
		fill(c->workload[4] == 'r', c->xv, c->count);
	else if (!strcmp(c->workload, "readmix"))
		readmix(c->xv, c->count, c->rows);
	else
		tatp(c->xv, c->count);
	fflush(stdout);
	remove_db();
}

int main(int argc, char **argv)
{
	struct cell *cells;
	struct statfs sfs;
	int i;

	if (argc < 4) {
		fprintf(stderr, "usage: sqlbench CONFIG DIR WORKLOAD:X:COUNT[:ROWS]...\n");
		return 2;
	}
	for (i = 0; i < (int)(sizeof(configs) / sizeof(configs[0])); i++)
		if (!strcmp(argv[1], configs[i].name))
			cfg = &configs[i];
	if (!cfg) {
		fprintf(stderr, "sqlbench: unknown configuration '%s'\n", argv[1]);
		return 2;
	}
	dir = argv[2];
	cells = calloc(argc - 3, sizeof(*cells));
	if (!cells)
		die("out of memory");
	for (i = 3; i < argc; i++)
		parse_cell(argv[i], &cells[i - 3]);
	workload = xarg = NULL;
	if (statfs(dir, &sfs))
		die("%s: %s", dir, strerror(errno));
	if ((sfs.f_type == MEMSNAP_SUPER_MAGIC) != cfg->memsnap)
		die("%s is%s a memsnap mount", dir, cfg->memsnap ? " not" : "");
	if (cfg->vfs && msnap_sqlite_register(0) != SQLITE_OK)
		die("cannot register the memsnap VFS");
	for (i = 0; i < argc - 3; i++)
		run_cell(&cells[i]);
	free(cells);
	return 0;
}
