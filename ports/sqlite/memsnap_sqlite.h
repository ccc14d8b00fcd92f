/* SPDX-License-Identifier: MIT OR LGPL-2.1-or-later */
/*
 * libmemsnap_sqlite: the "memsnap" SQLite VFS.  A database on a memsnap
 * filesystem is a memory-mapped region, each commit one atomic persist,
 * its rollback journal in memory.  See msnap_sqlite_register(3) and
 * docs/sqlite.md.
 */
#ifndef MEMSNAP_SQLITE_H
#define MEMSNAP_SQLITE_H

#ifdef __cplusplus
extern "C" {
#endif

/* The name the VFS is registered under (sqlite3_vfs_find, ?vfs=). */
#define MSNAP_SQLITE_VFS	"memsnap"

/*
 * Register the VFS with the SQLite library the program is linked with;
 * the default VFS for new connections too when @make_default is non-zero.
 * Returns SQLITE_OK or an SQLite result code (SQLITE_ERROR when SQLite
 * has no "unix" VFS).  Calling it again changes only the default.
 */
int msnap_sqlite_register(int make_default);

#ifdef __cplusplus
}
#endif

#endif /* MEMSNAP_SQLITE_H */
