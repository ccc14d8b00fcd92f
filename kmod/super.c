// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: filesystem type registration and module entry points.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/fs.h>

#include "memsnap.h"

static int memsnap_init_fs_context(struct fs_context *fc)
{
	return -EOPNOTSUPP;
}

struct file_system_type memsnap_fs_type = {
	.owner			= THIS_MODULE,
	.name			= MEMSNAP_FS_NAME,
	.init_fs_context	= memsnap_init_fs_context,
	.kill_sb		= kill_block_super,
	.fs_flags		= FS_REQUIRES_DEV,
};
MODULE_ALIAS_FS(MEMSNAP_FS_NAME);

static int __init memsnap_init(void)
{
	return register_filesystem(&memsnap_fs_type);
}

static void __exit memsnap_exit(void)
{
	unregister_filesystem(&memsnap_fs_type);
}

module_init(memsnap_init);
module_exit(memsnap_exit);

MODULE_DESCRIPTION("memsnap: atomic persistence of memory-mapped regions");
MODULE_AUTHOR("The memsnap developers");
MODULE_LICENSE("GPL");
