// SPDX-License-Identifier: GPL-2.0
/*
 * sqlite_big: the guest side of big_test.sh, a database larger
 * than the guest's RAM through the memsnap SQLite VFS.
 *
 *   sqlite_big write DIR MIB TXMIB
 *	Fills DIR/big.db with MIB MiB of rows, one page each (3900 bytes:
 *	the row's number in four digits, repeated), TXMIB MiB per
 *	transaction; prints the time per transaction.
 *   sqlite_big check DIR MIB
 *	PRAGMA integrity_check is ok, the table has every row and every
 *	row holds its own bytes.  Prints "BIG-OK".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>
#include <memsnap_sqlite.h>
#include "sqlite_tool.h"

#define ROW_BYTES	4096	/* a row fills a page */

/* The row's expected contents, as SQL. */
#define PAD_SQL "replace(hex(zeroblob(975)), '00', printf('%04d', id % 10000))"

static sqlite3 *db_open(const char *dir)
{
	sqlite3 *db = tool_db_open(dir, "big.db");

	return db;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int write_db(const char *dir, long long mib, long long txmib)
{
	long long rows = mib * 1048576 / ROW_BYTES;
	long long per = txmib * 1048576 / ROW_BYTES, i;
	sqlite3 *db = db_open(dir);
	char sql[512];
	double t0;

	db_exec(db, "CREATE TABLE b(id INTEGER PRIMARY KEY, pad TEXT)");
	for (i = 0; i < rows; i += per) {
		t0 = now_ms();
		snprintf(sql, sizeof(sql), "BEGIN; WITH RECURSIVE c(id) AS "
			 "(SELECT %lld UNION ALL SELECT id + 1 FROM c WHERE id < %lld) "
			 "INSERT INTO b SELECT id, %s FROM c; COMMIT",
			 i + 1, i + per < rows ? i + per : rows, PAD_SQL);
		db_exec(db, sql);
		printf("transaction %lld: %.0f ms\n", i / per, now_ms() - t0);
		fflush(stdout);
	}
	printf("file: %lld pages\n", db_int(db, "PRAGMA page_count"));
	sqlite3_close(db);
	return 0;
}

static int check_db(const char *dir, long long mib)
{
	long long rows = mib * 1048576 / ROW_BYTES;
	sqlite3 *db = db_open(dir);
	sqlite3_stmt *st;
	long long n, bad;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) ||
	    sqlite3_step(st) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok")) {
		printf("integrity_check failed: %s\n", sqlite3_errmsg(db));
		return 4;
	}
	sqlite3_finalize(st);
	n = db_int(db, "SELECT count(*) FROM b");
	bad = db_int(db, "SELECT count(*) FROM b WHERE pad != " PAD_SQL);
	printf("%lld rows of %lld, %lld wrong\n", n, rows, bad);
	sqlite3_close(db);
	if (n != rows || bad)
		return 5;
	printf("BIG-OK\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "write"))
		return write_db(argv[2], atoll(argv[3]), atoll(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "check"))
		return check_db(argv[2], atoll(argv[3]));
	fprintf(stderr, "usage: sqlite_big write DIR MIB TXMIB | check DIR MIB\n");
	return 2;
}
