/* SPDX-License-Identifier: GPL-2.0 */
/*
 * memsnap: a data single level store.
 *
 * Private header of the memsnap module, laid out as: constants, in-memory
 * structures, accessors, on-disk helpers, print wrappers, prototypes.
 */
#ifndef _MEMSNAP_H
#define _MEMSNAP_H

#include <linux/fs.h>
#include <uapi/linux/memsnap.h>

#include "compat.h"

/* super.c */
extern struct file_system_type memsnap_fs_type;

#endif /* _MEMSNAP_H */
