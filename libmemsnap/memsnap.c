// SPDX-License-Identifier: MIT OR LGPL-2.1-or-later
/*
 * libmemsnap: the user-space side of memsnap.
 *
 * A region is a file of a memsnap filesystem mapped MAP_SHARED at the
 * address recorded in its inode, so that pointers stored inside it stay
 * valid across restarts.  The persist ioctls take a file descriptor of
 * the filesystem; the registry below maps address ranges to the
 * descriptor of the region that covers them, so that msnap_persist()
 * needs only an address.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "memsnap.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif

/*
 * Fresh regions are placed in [MSNAP_ADDR_BASE, MSNAP_ADDR_END), 32 TiB
 * to 80 TiB: above the low heap and the ASan shadow (which ends near
 * 16 TiB), below where x86-64 and arm64 (48-bit) kernels put PIE
 * executables (from ~85 TiB) and the top-down mmap area.  Each region
 * starts on a 1 GiB boundary and reserves its size rounded up to 1 GiB,
 * so that it can grow in place until that boundary.  See memsnap(7).
 */
#define MSNAP_ADDR_BASE		0x200000000000ULL
#define MSNAP_ADDR_END		0x500000000000ULL
#define MSNAP_ADDR_ALIGN	(1ULL << 30)
#define MSNAP_ADDR_TRIES	64

struct msnap_region {
	void		*addr;
	size_t		size;
	int		fd;
	dev_t		dev;
};

/* One registered region: [start, end) is persisted through fd. */
struct msnap_slot {
	uintptr_t	start;
	uintptr_t	end;
	int		fd;
	dev_t		dev;
};

/*
 * The registry: slots sorted by start, never overlapping (they are
 * mappings of one process).  reg_lock is taken shared by the persist
 * calls for the whole ioctl, so a region's descriptor cannot be closed
 * (and its number reused) under them, and exclusively by open, close and
 * resize.  Lookups allocate nothing.
 */
static pthread_rwlock_t reg_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct msnap_slot *reg;		/* guarded by reg_lock */
static size_t reg_nr, reg_cap;		/* guarded by reg_lock */

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* Round @size up to @align (a power of two); 0 on overflow. */
static uint64_t round_up(uint64_t size, uint64_t align)
{
	if (size > UINT64_MAX - (align - 1))
		return 0;
	return (size + align - 1) & ~(align - 1);
}

static int pages_ret(uint64_t pages)
{
	return pages > INT_MAX ? INT_MAX : (int)pages;
}

int msnap_is_memsnap(int fd)
{
	struct statfs st;

	if (fstatfs(fd, &st))
		return -errno;
	return st.f_type == MEMSNAP_SUPER_MAGIC;
}

/* ---- registry -------------------------------------------------------- */

/* Index of the first slot that ends after @addr (reg_nr if none). */
static size_t reg_search(uintptr_t addr)
{
	size_t lo = 0, hi = reg_nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (reg[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Find the region that holds [addr, addr + len): the range may run over
 * adjacent regions of one filesystem.  Called with reg_lock held.
 */
static int reg_find(uintptr_t addr, uint64_t len, int *fd, dev_t *dev)
{
	size_t i = reg_search(addr);
	uint64_t end = addr + len;

	if (i == reg_nr || reg[i].start > addr)
		return -ENOMEM;
	*fd = reg[i].fd;
	*dev = reg[i].dev;
	for (; reg[i].end < end; i++) {
		if (i + 1 == reg_nr || reg[i + 1].start != reg[i].end)
			return -ENOMEM;
		if (reg[i + 1].dev != reg[i].dev)
			return -EXDEV;
	}
	return 0;
}

static int reg_insert(const struct msnap_region *r)
{
	struct msnap_slot *s;
	size_t i;

	pthread_rwlock_wrlock(&reg_lock);
	if (reg_nr == reg_cap) {
		size_t cap = reg_cap ? 2 * reg_cap : 8;

		s = realloc(reg, cap * sizeof(*s));
		if (!s) {
			pthread_rwlock_unlock(&reg_lock);
			return -ENOMEM;
		}
		reg = s;
		reg_cap = cap;
	}
	i = reg_search((uintptr_t)r->addr);
	memmove(&reg[i + 1], &reg[i], (reg_nr - i) * sizeof(*reg));
	reg[i] = (struct msnap_slot) {
		.start = (uintptr_t)r->addr,
		.end = (uintptr_t)r->addr + r->size,
		.fd = r->fd,
		.dev = r->dev,
	};
	reg_nr++;
	pthread_rwlock_unlock(&reg_lock);
	return 0;
}

/* The slot of @r; called with reg_lock held exclusively. */
static struct msnap_slot *reg_slot(const struct msnap_region *r)
{
	size_t i = reg_search((uintptr_t)r->addr);

	if (i == reg_nr || reg[i].start != (uintptr_t)r->addr)
		return NULL;
	return &reg[i];
}

static void reg_remove(const struct msnap_region *r)
{
	struct msnap_slot *s;

	pthread_rwlock_wrlock(&reg_lock);
	s = reg_slot(r);
	if (s) {
		memmove(s, s + 1, (reg + reg_nr - (s + 1)) * sizeof(*s));
		reg_nr--;
	}
	pthread_rwlock_unlock(&reg_lock);
}

static void reg_set_size(const struct msnap_region *r)
{
	struct msnap_slot *s;

	pthread_rwlock_wrlock(&reg_lock);
	s = reg_slot(r);
	if (s)
		s->end = s->start + r->size;
	pthread_rwlock_unlock(&reg_lock);
}

/* ---- persist, abort, wait -------------------------------------------- */

/* A range must be page aligned, non-empty and must not wrap. */
static int check_range(uint64_t addr, uint64_t len)
{
	if (!len || addr & (page_size() - 1))
		return -EINVAL;
	if (len > UINT64_MAX - addr || !round_up(addr + len, page_size()))
		return -EINVAL;
	return 0;
}

/* Run @cmd on the descriptor of the region holding the range. */
static int range_ioctl(uint64_t addr, uint64_t len, unsigned long cmd,
		       void *args)
{
	dev_t dev;
	int fd = -1, ret;

	ret = check_range(addr, len);
	if (ret)
		return ret;
	ret = -pthread_rwlock_rdlock(&reg_lock);
	if (ret)
		return ret;
	ret = reg_find(addr, len, &fd, &dev);
	if (!ret && ioctl(fd, cmd, args))
		ret = -errno;
	pthread_rwlock_unlock(&reg_lock);
	return ret;
}

int msnap_persist_epoch(void *addr, size_t len, uint64_t flags,
			uint64_t *epoch)
{
	struct msnap_persist_args args = {
		.size = sizeof(args),
		.addr = (uintptr_t)addr,
		.len = len,
		.flags = flags,
	};
	int ret;

	if (flags & ~MSNAP_PERSIST_FLAGS)
		return -EINVAL;
	ret = range_ioctl(args.addr, len, MSNAP_IOC_PERSIST, &args);
	if (ret)
		return ret;
	if (epoch)
		*epoch = args.epoch;
	return pages_ret(args.pages);
}

int msnap_persist(void *addr, size_t len, uint64_t flags)
{
	return msnap_persist_epoch(addr, len, flags, NULL);
}

int msnap_abort(void *addr, size_t len)
{
	struct msnap_abort_args args = {
		.size = sizeof(args),
		.addr = (uintptr_t)addr,
		.len = len,
	};
	int ret;

	ret = range_ioctl(args.addr, len, MSNAP_IOC_ABORT, &args);
	return ret ? ret : pages_ret(args.pages);
}

/* Every range must be valid and on the filesystem of the first. */
static int persistv_fd(const struct msnap_range *ranges, unsigned int nr,
		       int *fd)
{
	dev_t dev, first_dev = 0;
	unsigned int i;
	int ret, rfd;

	for (i = 0; i < nr; i++) {
		ret = check_range(ranges[i].addr, ranges[i].len);
		if (!ret)
			ret = reg_find(ranges[i].addr, ranges[i].len, &rfd,
				       &dev);
		if (ret)
			return ret;
		if (!i) {
			*fd = rfd;
			first_dev = dev;
		} else if (dev != first_dev) {
			return -EXDEV;
		}
	}
	return 0;
}

int msnap_persistv(const struct msnap_range *ranges, unsigned int nr,
		   uint64_t flags, uint64_t *epoch)
{
	struct msnap_persistv_args args = {
		.size = sizeof(args),
		.ranges = (uintptr_t)ranges,
		.nr_ranges = nr,
		.flags = flags,
	};
	int fd = -1, ret;

	if (!ranges || !nr || nr > MSNAP_MAX_RANGES ||
	    flags & ~MSNAP_PERSIST_FLAGS)
		return -EINVAL;
	ret = -pthread_rwlock_rdlock(&reg_lock);
	if (ret)
		return ret;
	ret = persistv_fd(ranges, nr, &fd);
	if (!ret && ioctl(fd, MSNAP_IOC_PERSISTV, &args))
		ret = -errno;
	pthread_rwlock_unlock(&reg_lock);
	if (ret)
		return ret;
	if (epoch)
		*epoch = args.epoch;
	return pages_ret(args.pages);
}

int msnap_wait(struct msnap_region *region, uint64_t epoch)
{
	__u64 e = epoch;

	if (!region)
		return -EINVAL;
	return ioctl(region->fd, MSNAP_IOC_WAIT, &e) ? -errno : 0;
}

/* ---- addresses ------------------------------------------------------- */

struct msnap_span {
	uint64_t	start;
	uint64_t	end;
};

static uint64_t addr_span(uint64_t size)
{
	return round_up(size, MSNAP_ADDR_ALIGN);
}

static int get_addr(int fd, uint64_t *addr)
{
	struct msnap_addr_args args = { .size = sizeof(args) };

	if (ioctl(fd, MSNAP_IOC_GET_ADDR, &args))
		return -errno;
	*addr = args.addr;
	return 0;
}

static int set_addr(int fd, uint64_t addr)
{
	struct msnap_addr_args args = { .size = sizeof(args), .addr = addr };

	return ioctl(fd, MSNAP_IOC_SET_ADDR, &args) ? -errno : 0;
}

/*
 * The address spans already recorded by the other files of the
 * filesystem (its namespace is one flat directory, @dir), so that a fresh
 * region never takes a place that another file will want.
 */
static int taken_spans(const char *dir, ino_t self, struct msnap_span **out,
		       size_t *nr)
{
	struct msnap_span *spans = NULL, *s;
	size_t n = 0, cap = 0;
	struct dirent *de;
	struct stat st;
	uint64_t addr = 0;
	int fd, ret = 0;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		fd = openat(dirfd(d), de->d_name,
			    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			continue;
		if (!fstat(fd, &st) && S_ISREG(st.st_mode) &&
		    st.st_ino != self && !get_addr(fd, &addr) && addr) {
			if (n == cap) {
				cap = cap ? 2 * cap : 16;
				s = realloc(spans, cap * sizeof(*s));
				if (!s) {
					close(fd);
					ret = -ENOMEM;
					break;
				}
				spans = s;
			}
			spans[n].start = addr;
			spans[n].end = addr + addr_span(st.st_size ?: 1);
			n++;
		}
		close(fd);
	}
	closedir(d);
	if (ret) {
		free(spans);
		return ret;
	}
	*out = spans;
	*nr = n;
	return 0;
}

static int span_free(const struct msnap_span *spans, size_t nr,
		     uint64_t start, uint64_t end)
{
	size_t i;

	for (i = 0; i < nr; i++)
		if (start < spans[i].end && spans[i].start < end)
			return 0;
	return 1;
}

/*
 * The first free place at or after a slot chosen by hashing the file's
 * device and inode numbers, so that files spread over the range.
 */
static uint64_t pick_addr(const struct stat *st, uint64_t span,
			  const struct msnap_span *spans, size_t nr,
			  uint64_t skip)
{
	uint64_t slots = (MSNAP_ADDR_END - MSNAP_ADDR_BASE) / MSNAP_ADDR_ALIGN;
	uint64_t h = ((uint64_t)st->st_dev << 32) ^ st->st_ino, i, c;

	if (span > MSNAP_ADDR_END - MSNAP_ADDR_BASE)
		return 0;
	h *= 0x9e3779b97f4a7c15ULL;	/* Fibonacci hashing */
	for (i = 0; i < slots; i++) {
		c = MSNAP_ADDR_BASE +
		    ((h + i) % slots) * MSNAP_ADDR_ALIGN;
		if (c + span > MSNAP_ADDR_END)
			continue;
		if (span_free(spans, nr, c, c + span) && !skip--)
			return c;
	}
	return 0;
}

/* ---- open, resize, close --------------------------------------------- */

static int open_file(const char *path, int flags, int *created)
{
	int oflags = O_RDWR | O_CLOEXEC;
	int fd;

	*created = 0;
	for (;;) {
		if (!(flags & MSNAP_OPEN_EXCL)) {
			fd = open(path, oflags);
			if (fd >= 0)
				return fd;
			if (errno != ENOENT || !(flags & MSNAP_OPEN_CREATE))
				return -errno;
		}
		fd = open(path, oflags | O_CREAT | O_EXCL, 0666);
		if (fd >= 0) {
			*created = 1;
			return fd;
		}
		if (errno != EEXIST || (flags & MSNAP_OPEN_EXCL))
			return -errno;
	}
}

static int map_at(struct msnap_region *r, uint64_t addr)
{
	void *p;

	p = mmap((void *)(uintptr_t)addr, r->size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED_NOREPLACE, r->fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (p != (void *)(uintptr_t)addr) {
		/* A kernel before 4.17 took the flag for a hint. */
		munmap(p, r->size);
		return -EEXIST;
	}
	r->addr = p;
	return 0;
}

/* Map a region that has no address yet, and record the one it got. */
static int map_fresh(struct msnap_region *r, const char *path,
		     const struct stat *st)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct msnap_span *spans = NULL;
	size_t nr = 0;
	uint64_t addr = 0, try;
	int ret;

	if (!slash)
		strcpy(dir, ".");
	else if ((size_t)(slash - path) >= sizeof(dir))
		return -ENAMETOOLONG;
	else
		snprintf(dir, sizeof(dir), "%.*s",
			 (int)(slash == path ? 1 : slash - path), path);
	ret = taken_spans(dir, st->st_ino, &spans, &nr);
	if (ret)
		return ret;
	ret = -ENOMEM;
	for (try = 0; try < MSNAP_ADDR_TRIES; try++) {
		addr = pick_addr(st, addr_span(r->size), spans, nr, try);
		if (!addr)
			break;
		ret = map_at(r, addr);
		if (ret != -EEXIST)
			break;
	}
	free(spans);
	if (ret)
		return ret;
	ret = set_addr(r->fd, addr);
	if (ret)
		munmap(r->addr, r->size);
	return ret;
}

static int map_region(struct msnap_region *r, const char *path, size_t size,
		      int flags)
{
	struct stat st;
	uint64_t addr = 0, want;
	int ret;

	ret = msnap_is_memsnap(r->fd);
	if (ret <= 0)
		return ret ? ret : -EXDEV;
	if (fstat(r->fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	r->dev = st.st_dev;
	want = round_up(size > (uint64_t)st.st_size ? size : (uint64_t)st.st_size,
			page_size());
	if (!want || want > SIZE_MAX || want > INT64_MAX)
		return -EINVAL;
	r->size = want;
	ret = get_addr(r->fd, &addr);
	if (ret)
		return ret;
	if (flags & MSNAP_OPEN_KEEP_SIZE)
		return addr ? map_at(r, addr) : map_fresh(r, path, &st);
	if (want > (uint64_t)st.st_size && ftruncate(r->fd, want))
		return -errno;
	ret = addr ? map_at(r, addr) : map_fresh(r, path, &st);
	if (ret && want > (uint64_t)st.st_size &&
	    ftruncate(r->fd, st.st_size))
		ret = -errno;
	return ret;
}

int msnap_open(const char *path, size_t size, int flags,
	       struct msnap_region **region)
{
	struct msnap_region *r;
	int created, ret;

	if (!path || !region ||
	    flags & ~(MSNAP_OPEN_CREATE | MSNAP_OPEN_EXCL |
		      MSNAP_OPEN_KEEP_SIZE) ||
	    (flags & MSNAP_OPEN_EXCL && !(flags & MSNAP_OPEN_CREATE)))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = open_file(path, flags, &created);
	ret = r->fd < 0 ? r->fd : map_region(r, path, size, flags);
	if (!ret) {
		ret = reg_insert(r);
		if (ret)
			munmap(r->addr, r->size);
	}
	if (ret) {
		if (r->fd >= 0)
			close(r->fd);
		if (created)
			unlink(path);
		free(r);
		return ret;
	}
	*region = r;
	return 0;
}

void *msnap_addr(const struct msnap_region *region)
{
	return region ? region->addr : NULL;
}

size_t msnap_size(const struct msnap_region *region)
{
	return region ? region->size : 0;
}

int msnap_fd(const struct msnap_region *region)
{
	return region ? region->fd : -EINVAL;
}

static int grow(struct msnap_region *r, size_t size)
{
	void *p;

	p = mremap(r->addr, r->size, size, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (ftruncate(r->fd, size)) {
		int err = -errno;

		mremap(r->addr, size, r->size, 0);
		return err;
	}
	return 0;
}

static int shrink(struct msnap_region *r, size_t size)
{
	if (ftruncate(r->fd, size))
		return -errno;
	if (mremap(r->addr, r->size, size, 0) == MAP_FAILED)
		return -errno;
	return 0;
}

int msnap_resize(struct msnap_region *region, size_t size)
{
	uint64_t want = round_up(size, page_size());
	int ret;

	if (!region || !want || want > SIZE_MAX || want > INT64_MAX)
		return -EINVAL;
	if (want == region->size)
		return 0;
	ret = want > region->size ? grow(region, want) : shrink(region, want);
	if (ret)
		return ret;
	region->size = want;
	reg_set_size(region);
	return 0;
}

/*
 * Only the mapping changes, in place: the file keeps its size, so that a
 * region can follow a file that another process grew (or reserve room
 * for its own growth by write(2), whose new size is persisted with the
 * data).
 */
int msnap_remap(struct msnap_region *region, size_t size)
{
	uint64_t want = round_up(size, page_size());
	void *p;

	if (!region || !want || want > SIZE_MAX || want > INT64_MAX)
		return -EINVAL;
	if (want == region->size)
		return 0;
	p = mremap(region->addr, region->size, want, 0);
	if (p == MAP_FAILED)
		return -errno;
	region->size = want;
	reg_set_size(region);
	return 0;
}

int msnap_close(struct msnap_region *region)
{
	int ret = 0;

	if (!region)
		return -EINVAL;
	reg_remove(region);
	if (munmap(region->addr, region->size))
		ret = -errno;
	if (close(region->fd) && !ret)
		ret = -errno;
	free(region);
	return ret;
}
