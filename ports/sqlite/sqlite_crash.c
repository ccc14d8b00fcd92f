// SPDX-License-Identifier: GPL-2.0
/*
 * sqlite_crash: the guest side of crash_test.sh, a power-cut loop
 * over a database opened through the memsnap SQLite VFS.
 *
 *   sqlite_crash run DIR ACKFILE MARK
 *	Transactions on DIR/crash.db until the power goes: transaction n
 *	sets v = n on a random third of the rows of t (with a 20-page
 *	cache, so SQLite spills them into the file before the commit),
 *	appends row n of 1500 bytes to log (the file grows), and records
 *	n and how many rows it set in meta.  After each COMMIT returns, n
 *	is appended to ACKFILE and fsynced.  Prints POWER-CUT-NOW after
 *	MARK commits and goes on.
 *   sqlite_crash check DIR ACKFILE
 *	After a cut: PRAGMA integrity_check is ok and the database is
 *	exactly transaction L, where L is the last acknowledged one or the
 *	one after it (its COMMIT may have been durable before it returned):
 *	meta says L, exactly meta's count of rows have v = L, none has a
 *	larger v, and log holds rows 1..L.  Prints "CHECKED L".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include <memsnap_sqlite.h>
#include "sqlite_tool.h"

static sqlite3 *db_open(const char *dir)
{
	sqlite3 *db = tool_db_open(dir, "crash.db");

	sqlite3_busy_timeout(db, 10000);
	return db;
}

static void ack(int fd, long long n)
{
	char line[32];
	int len = snprintf(line, sizeof(line), "%lld\n", n);

	if (write(fd, line, len) != len || fsync(fd)) {
		perror("ack");
		exit(4);
	}
}

static int run(const char *dir, const char *ackfile, int mark)
{
	sqlite3 *db = db_open(dir);
	int fd = open(ackfile, O_WRONLY | O_APPEND | O_CREAT, 0644);
	long long n, done = 0;
	char sql[512];

	if (fd < 0) {
		perror(ackfile);
		return 4;
	}
	db_exec(db, "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v INT, pad BLOB);"
		"CREATE TABLE IF NOT EXISTS log(n INTEGER PRIMARY KEY, pad BLOB);"
		"CREATE TABLE IF NOT EXISTS meta(last INT, cnt INT);"
		"INSERT INTO meta SELECT 0, 0 WHERE NOT EXISTS (SELECT 1 FROM meta);"
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 600) "
		"INSERT INTO t SELECT i, 0, randomblob(1500) FROM c "
		"WHERE NOT EXISTS (SELECT 1 FROM t);"
		"PRAGMA cache_size = 20");
	for (n = db_int(db, "SELECT last FROM meta") + 1;; n++) {
		snprintf(sql, sizeof(sql), "BEGIN;"
			 "UPDATE t SET v = %lld, pad = randomblob(1500) WHERE abs(random()) %% 3 = 0;"
			 "UPDATE meta SET last = %lld, cnt = changes();"
			 "INSERT INTO log VALUES(%lld, randomblob(1500));"
			 "COMMIT", n, n, n);
		db_exec(db, sql);
		ack(fd, n);
		if (++done == mark) {
			printf("POWER-CUT-NOW\n");
			fflush(stdout);
		}
		if (done > mark + 100000)
			return 5;	/* the power never went */
	}
}

static long long last_acked(const char *ackfile)
{
	FILE *f = fopen(ackfile, "r");
	long long n, last = 0;

	if (!f)
		return errno == ENOENT ? 0 : -1;
	while (fscanf(f, "%lld", &n) == 1)
		last = n;
	fclose(f);
	return last;
}

static int check(const char *dir, const char *ackfile)
{
	long long acked = last_acked(ackfile), last, cnt, have, above, logs;
	sqlite3 *db = db_open(dir);
	char buf[64], sql[256];
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) ||
	    sqlite3_step(st) != SQLITE_ROW) {
		printf("integrity_check: %s\n", sqlite3_errmsg(db));
		return 6;
	}
	snprintf(buf, sizeof(buf), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (strcmp(buf, "ok")) {
		printf("integrity_check: %s\n", buf);
		return 7;
	}
	last = db_int(db, "SELECT last FROM meta");
	cnt = db_int(db, "SELECT cnt FROM meta");
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM t WHERE v = %lld", last);
	have = db_int(db, sql);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM t WHERE v > %lld", last);
	above = db_int(db, sql);
	logs = db_int(db, "SELECT count(*) FROM log");
	printf("acked %lld, database at %lld (%lld rows of v = %lld, meta says %lld; %lld newer; %lld log rows)\n",
	       acked, last, have, last, cnt, above, logs);
	if (acked < 0 || last < acked || last > acked + 1)
		return 8;
	if (have != cnt || above || logs != last ||
	    db_int(db, "SELECT count(*) FROM t") != 600)
		return 9;
	sqlite3_close(db);
	printf("CHECKED %lld\n", last);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "run"))
		return run(argv[2], argv[3], atoi(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "check"))
		return check(argv[2], argv[3]);
	fprintf(stderr, "usage: sqlite_crash run DIR ACKFILE MARK | check DIR ACKFILE\n");
	return 2;
}
