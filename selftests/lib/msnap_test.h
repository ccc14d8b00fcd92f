/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the memsnap selftests.  Include after
 * kselftest_harness.h.
 */
#ifndef MSNAP_TEST_H
#define MSNAP_TEST_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * Whether /proc/filesystems lists @name, and as a block-device
 * filesystem (no "nodev" column): 1 listed, 0 not listed, -errno.
 */
static inline int msnap_fs_registered(const char *name, int *nodev)
{
	char line[256], *tab;
	FILE *f = fopen("/proc/filesystems", "re");
	int found = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		tab = strchr(line, '\t');
		if (!tab || strcmp(tab + 1, name))
			continue;
		found = 1;
		if (nodev)
			*nodev = !strncmp(line, "nodev", 5);
	}
	fclose(f);
	return found;
}

/* Value of one /proc/meminfo field in KiB, or -1. */
static inline long msnap_meminfo_kb(const char *field)
{
	char line[256];
	size_t n = strlen(field);
	long val = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, n) && line[n] == ':') {
			val = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

/* Whether a module called @name is loaded (listed in /proc/modules). */
static inline int msnap_module_loaded(const char *name)
{
	char line[512];
	size_t n = strlen(name);
	int found = 0;
	FILE *f = fopen("/proc/modules", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ' ')
			found = 1;
	fclose(f);
	return found;
}

/* Load the module at @path with parameters @args ("name=value ..."). */
static inline int msnap_load_module_args(const char *path, const char *args)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, args, 0) ? -errno : 0;
	close(fd);
	return ret;
}

static inline int msnap_load_module(const char *path)
{
	return msnap_load_module_args(path, "");
}

static inline int msnap_unload_module(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

#endif /* MSNAP_TEST_H */
