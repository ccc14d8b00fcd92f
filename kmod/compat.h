/* SPDX-License-Identifier: GPL-2.0 */
/*
 * memsnap: differences between the kernel versions memsnap supports
 * (Debian's 6.1 and 6.12).  Every version test of the module lives here;
 * the rest of the code calls the helpers below.
 */
#ifndef _MEMSNAP_COMPAT_H
#define _MEMSNAP_COMPAT_H

#include <linux/version.h>

#endif /* _MEMSNAP_COMPAT_H */
