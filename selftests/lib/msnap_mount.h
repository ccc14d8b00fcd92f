/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A freshly made memsnap filesystem per test, on top of msnap_fs.h:
 * mounted on a new directory under /tmp in a private mount namespace, so
 * that a test that dies leaves nothing mounted.  Include after
 * kselftest_harness.h and msnap_test.h.
 */
#ifndef MSNAP_MOUNT_H
#define MSNAP_MOUNT_H

#include <sched.h>
#include "msnap_fs.h"

struct msnap_mnt {
	char	dir[64];
	char	dev[64];
	int	mounted;
};

/* Why a memsnap filesystem cannot be made here, or NULL when it can. */
static inline const char *msnap_mnt_unavailable(void)
{
	const char *why = msnap_fs_unavailable();

	if (!why && msnap_fs_registered("memsnap", NULL) != 1)
		why = "memsnap filesystem type not registered";
	return why;
}

/* mkfs + mount @dev on a new directory: 0, -errno, or -1 (mkfs). */
static inline int msnap_mnt_make(struct msnap_mnt *m, const char *dev)
{
	int err;

	snprintf(m->dev, sizeof(m->dev), "%s", dev);
	if (msnap_mkfs(dev))
		return -1;
	snprintf(m->dir, sizeof(m->dir), "/tmp/msnap-XXXXXX");
	if (!mkdtemp(m->dir))
		return -errno;
	err = msnap_mount(dev, m->dir);
	m->mounted = !err;
	return err;
}

static inline int msnap_mnt_remount(struct msnap_mnt *m)
{
	int err = msnap_remount(m->dev, m->dir);

	m->mounted = !err;
	return err;
}

static inline void msnap_mnt_drop(struct msnap_mnt *m)
{
	if (m->mounted)
		umount2(m->dir, MNT_DETACH);
	m->mounted = 0;
	if (m->dir[0])
		rmdir(m->dir);
}

/* A private mount namespace, so a dead test leaves no mount behind. */
static inline int msnap_mnt_private(void)
{
	if (unshare(CLONE_NEWNS))
		return -errno;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -errno;
	return 0;
}

/*
 * FIXTURE_SETUP body: a fresh filesystem on MSNAP_TEST_DEV mounted in
 * @m, or SKIP with the reason when the guest cannot make one.
 */
#define MSNAP_MNT_SETUP(m) do {						\
	const char *why_ = msnap_mnt_unavailable();			\
									\
	memset((m), 0, sizeof(*(m)));					\
	if (why_)							\
		SKIP(return, "%s", why_);				\
	ASSERT_EQ(0, msnap_mnt_private());				\
	ASSERT_EQ(0, msnap_mnt_make((m), MSNAP_TEST_DEV));		\
} while (0)

/* "DIR/NAME" in the caller's buffer. */
static inline const char *msnap_mnt_path(const struct msnap_mnt *m,
					 const char *name, char *buf,
					 size_t len)
{
	snprintf(buf, len, "%s/%s", m->dir, name);
	return buf;
}

#endif /* MSNAP_MOUNT_H */
