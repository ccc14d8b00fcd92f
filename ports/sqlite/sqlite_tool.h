/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the SQLite port's test programs (sqlite_crash.c,
 * sqlite_big.c): open a database through the memsnap VFS, run SQL, read
 * one integer.  Any failure exits with a message.
 */
#ifndef SQLITE_TOOL_H
#define SQLITE_TOOL_H

#include <stdio.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <memsnap_sqlite.h>

/* DIR/NAME through the VFS "memsnap"; exit 2 if it cannot be opened. */
static inline sqlite3 *tool_db_open(const char *dir, const char *name)
{
	char uri[512];
	sqlite3 *db = NULL;

	snprintf(uri, sizeof(uri), "file:%s/%s?vfs=memsnap", dir, name);
	if (msnap_sqlite_register(0) ||
	    sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, NULL)) {
		fprintf(stderr, "open %s: %s\n", uri, sqlite3_errmsg(db));
		exit(2);
	}
	return db;
}

static inline void db_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err)) {
		fprintf(stderr, "%s: %s\n", sql, err);
		exit(3);
	}
}

/* The first column of the first row of @sql, or -1 with no row. */
static inline long long db_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL)) {
		fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
		exit(3);
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

#endif /* SQLITE_TOOL_H */
