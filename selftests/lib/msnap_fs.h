/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Selftest helpers for a freshly formatted and mounted memsnap filesystem
 * on the guest's scratch NVMe drive.  Include after kselftest_harness.h.
 */
#ifndef MSNAP_FS_H
#define MSNAP_FS_H

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/memsnap.h>

#define MSNAP_TEST_DEV	"/dev/nvme0n1"

/* Why a memsnap filesystem cannot be set up here, or NULL if it can. */
static inline const char *msnap_fs_unavailable(void)
{
	if (geteuid())
		return "needs root";
	if (access(MSNAP_TEST_DEV, R_OK | W_OK))
		return "no scratch drive " MSNAP_TEST_DEV " (run through tools/vm/run)";
	if (!getenv("MEMSNAP_ROOT"))
		return "MEMSNAP_ROOT unset (run through tools/vm/run)";
	return NULL;
}

/* Run a command line; its exit status, or -1. */
static inline int msnap_sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline int msnap_mkfs(const char *dev)
{
	return msnap_sh("%s/build/tools/mkfs.memsnap -f -q %s",
			getenv("MEMSNAP_ROOT"), dev);
}

static inline int msnap_fsck(const char *dev)
{
	return msnap_sh("%s/build/tools/fsck.memsnap -n %s",
			getenv("MEMSNAP_ROOT"), dev);
}

static inline int msnap_mount(const char *dev, const char *dir)
{
	return mount(dev, dir, "memsnap", 0, NULL) ? -errno : 0;
}

/* Unmount and mount again: the state a restart would see. */
static inline int msnap_remount(const char *dev, const char *dir)
{
	if (umount2(dir, 0))
		return -errno;
	return msnap_mount(dev, dir);
}

/* Create @name of @size bytes under @dir and map it shared. */
static inline void *msnap_map_file(const char *dir, const char *name,
				   size_t size, int *fdp)
{
	char path[512];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		return MAP_FAILED;
	if (ftruncate(fd, size)) {
		close(fd);
		return MAP_FAILED;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		close(fd);
	else
		*fdp = fd;
	return p;
}

static inline int msnap_persist_ioc(int fd, void *addr, size_t len,
				    __u64 flags, __u64 *epoch, __u64 *pages)
{
	struct msnap_persist_args a = {
		.size = sizeof(a), .addr = (__u64)(unsigned long)addr,
		.len = len, .flags = flags,
	};

	if (ioctl(fd, MSNAP_IOC_PERSIST, &a))
		return -errno;
	if (epoch)
		*epoch = a.epoch;
	if (pages)
		*pages = a.pages;
	return 0;
}

#endif /* MSNAP_FS_H */
