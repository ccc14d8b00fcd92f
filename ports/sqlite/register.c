// SPDX-License-Identifier: MIT OR LGPL-2.1-or-later
/*
 * msnap_sqlite_register(): the VFS for a program linked with SQLite.
 *
 * The VFS calls SQLite through a table of function pointers, as every
 * loadable extension does (sqlite3ext.h).  SQLite hands that table to an
 * extension it loads; a program that links this library instead gets
 * one filled here with the functions of the SQLite it is linked with.
 * SQLITE_CORE makes sqlite3ext.h declare the table without turning the
 * function names into calls through it.
 */
#define SQLITE_CORE 1
#include <sqlite3ext.h>

#include "memsnap_sqlite.h"
#include "vfs.h"

/* Only the functions the VFS uses. */
static const sqlite3_api_routines msnap_sqlite_core_api = {
	.vfs_find	= sqlite3_vfs_find,
	.vfs_register	= sqlite3_vfs_register,
	.uri_int64	= sqlite3_uri_int64,
	.log		= sqlite3_log,
	.mprintf	= sqlite3_mprintf,
};

int msnap_sqlite_register(int make_default)
{
	return msnap_sqlite_setup(&msnap_sqlite_core_api, make_default);
}
