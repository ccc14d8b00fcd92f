/* SPDX-License-Identifier: MIT OR LGPL-2.1-or-later */
/*
 * Internal to libmemsnap_sqlite: how the two entry points (the loadable
 * extension's and msnap_sqlite_register()) hand the VFS its table of
 * SQLite functions.
 */
#ifndef MSNAP_SQLITE_VFS_H
#define MSNAP_SQLITE_VFS_H

struct sqlite3_api_routines;

/*
 * Register VFS "memsnap" (the default if @make_default), calling SQLite
 * through @api.  Returns an SQLite result code.
 */
int msnap_sqlite_setup(const struct sqlite3_api_routines *api,
		       int make_default);

#endif /* MSNAP_SQLITE_VFS_H */
