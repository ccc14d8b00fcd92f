// SPDX-License-Identifier: GPL-2.0
/*
 * msnapctl: checkpoint whole process trees with CRIU (libcriu) into a
 * directory of crash-consistent checkpoints, and restore the latest one.
 *
 *   msnapctl checkpoint PID --dir IMAGES [--leave-running] [--incremental]
 *   msnapctl restore --dir IMAGES [--checkpoint N]
 *   msnapctl list --dir IMAGES
 *   msnapctl run --every MS --dir IMAGES -- CMD [ARG...]
 *
 * IMAGES holds one directory per checkpoint, 1, 2, ..., a "latest"
 * symlink naming the newest complete one, and, for an incremental dump,
 * a "parent" symlink in the checkpoint to the one before (CRIU's
 * --track-mem and parent images).  A checkpoint is dumped into .N.tmp;
 * while CRIU still holds the tasks frozen (its "post-dump" notification)
 * msnapctl makes the images durable (one syncfs(2) on a memsnap mount,
 * an fsync(2) of every file and of the directory elsewhere), renames
 * .N.tmp to N, switches "latest" and persists the memsnap regions the
 * tasks map, in one MSNAP_IOC_PERSISTV per memsnap filesystem.  "latest"
 * is the commit point: a checkpoint that fails or is interrupted leaves
 * the previous one the latest.  See msnapctl(8) and docs/msnapctl.md.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include <criu.h>
#include <linux/memsnap.h>

#define MSNAPCTL_VERSION	"0.1.0"
#define INFO_NAME		"msnapctl.info"
#define DUMP_LOG		"dump.log"
#define RESTORE_LOG		"restore.log"
#define MAX_REGIONS		1024	/* MSNAP_IOC_PERSISTV's limit */

/* Exit status (msnapctl(8), EXIT STATUS). */
#define EX_OK		0
#define EX_FAIL		1	/* the checkpoint or restore failed */
#define EX_USAGE	2	/* bad arguments */
#define EX_NOCKPT	3	/* no complete checkpoint to restore */
#define EX_BUSY		4	/* another msnapctl is checkpointing there */
#define EX_RUN_ERR	125	/* run: msnapctl failed before CMD ran */

struct region {
	char		path[PATH_MAX];
	dev_t		dev;
	ino_t		ino;
	uint64_t	size;
};

/* What msnapctl records about a checkpoint in its msnapctl.info. */
struct info {
	int		pid;
	unsigned long long starttime;	/* /proc/PID/stat field 22 */
	double		time;		/* wall clock at the freeze (s) */
	int		parent;		/* 0: a full dump */
	bool		track_mem;
	bool		shell_job;
	long		dump_ms;	/* from the request to post-dump */
	unsigned long long bytes;	/* sum of the *.img sizes */
	int		nr_regions;
	struct region	regions[MAX_REGIONS];
	unsigned long long region_pages;	/* persisted (not recorded) */
};

struct opts {
	const char	*dir;
	int		pid;
	bool		leave_running;
	bool		incremental;
	bool		shell_job;
	bool		tcp_established;
	int		log_level;
	int		checkpoint;	/* restore: 0 means latest */
	long		every_ms;
	bool		quiet;
};

/* The checkpoint in progress, for the post-dump callback. */
struct ckpt {
	const struct opts *o;
	int		dirfd;		/* IMAGES */
	int		tmpfd;		/* IMAGES/.N.tmp */
	int		n;
	bool		on_memsnap;
	bool		committed;
	int		error;		/* -errno of the commit, or 0 */
	const char	*failed_step;
	struct timespec	start;
	struct info	info;
};

static struct ckpt *cur;

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("msnapctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void __attribute__((noreturn)) usage(FILE *f, int status)
{
	fprintf(f,
		"usage: msnapctl checkpoint PID --dir IMAGES [--leave-running] [--incremental]\n"
		"                [--shell-job] [--tcp-established] [--log-level N]\n"
		"       msnapctl restore --dir IMAGES [--checkpoint N] [--log-level N]\n"
		"       msnapctl list --dir IMAGES\n"
		"       msnapctl run --every MS --dir IMAGES [--no-incremental] -- CMD [ARG...]\n"
		"       msnapctl --version\n");
	exit(status);
}

static double now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* A decimal number in [min, max], or -1. */
static long parse_num(const char *s, long min, long max)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	return v;
}

/* The start time of a process (clock ticks since boot), 0 if gone. */
static unsigned long long proc_starttime(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long st = 0;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	p = strrchr(buf, ')');		/* the name may hold spaces */
	for (i = 2; p && i < 22; i++)
		p = strchr(p + 1, ' ');
	if (p)
		sscanf(p + 1, "%llu", &st);
	return st;
}

/* ---- the image directory ---- */

/* Whether a name is a checkpoint's: digits only, no leading zero. */
static int ckpt_number(const char *name)
{
	if (name[0] == '0')
		return -1;
	return parse_num(name, 1, INT_MAX);
}

static int is_memsnap_fd(int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs))
		return -errno;
	return sfs.f_type == MEMSNAP_SUPER_MAGIC;
}

/* Remove a checkpoint-like directory: files and symlinks only. */
static int remove_flat_dir(int dirfd, const char *name)
{
	struct dirent *de;
	int fd, ret = 0;
	DIR *d;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    unlinkat(fd, de->d_name, 0) && !ret)
			ret = -errno;
	closedir(d);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) && !ret)
		ret = -errno;
	return ret;
}

/*
 * The number "latest" names, 0 when there is none.  A "latest" that
 * names no checkpoint directory is an error (-ENOENT).
 */
static int read_latest(int dirfd)
{
	char buf[32];
	struct stat st;
	ssize_t len;
	int n;

	len = readlinkat(dirfd, "latest", buf, sizeof(buf) - 1);
	if (len < 0)
		return errno == ENOENT ? 0 : -errno;
	buf[len] = 0;
	n = ckpt_number(buf);
	if (n < 0)
		return -EINVAL;
	if (fstatat(dirfd, buf, &st, AT_SYMLINK_NOFOLLOW) || !S_ISDIR(st.st_mode))
		return -ENOENT;
	return n;
}

/*
 * Clear what interrupted checkpoints left (.N.tmp) and return the next
 * number: one above every checkpoint directory present.
 */
static int prepare_next(int dirfd)
{
	struct dirent *de;
	int n, max = 0, fd;
	DIR *d;

	fd = dup(dirfd);
	d = fd < 0 ? NULL : fdopendir(fd);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char num[16];

		if (sscanf(de->d_name, ".%15[0-9].tmp", num) == 1 &&
		    !strcmp(de->d_name + strlen(num) + 1, ".tmp")) {
			remove_flat_dir(dirfd, de->d_name);
			continue;
		}
		n = ckpt_number(de->d_name);
		if (n > max)
			max = n;
	}
	closedir(d);
	return max + 1;
}

/* ---- msnapctl.info ---- */

static int write_info(int dfd, const struct info *in)
{
	FILE *f;
	int fd, i, ret = 0;

	fd = openat(dfd, INFO_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -errno;
	}
	fprintf(f, "msnapctl 1\npid %d\nstarttime %llu\ntime %.3f\nparent %d\n"
		"track_mem %d\nshell_job %d\ndump_ms %ld\nbytes %llu\nregions %d\n",
		in->pid, in->starttime, in->time, in->parent, in->track_mem,
		in->shell_job, in->dump_ms, in->bytes, in->nr_regions);
	for (i = 0; i < in->nr_regions; i++)
		fprintf(f, "region %llu %s\n",
			(unsigned long long)in->regions[i].size,
			in->regions[i].path);
	if (fflush(f) || ferror(f))
		ret = -EIO;
	fclose(f);
	return ret;
}

static void info_line(struct info *in, const char *key, const char *val)
{
	struct region *r;

	if (!strcmp(key, "pid"))
		in->pid = atoi(val);
	else if (!strcmp(key, "starttime"))
		in->starttime = strtoull(val, NULL, 10);
	else if (!strcmp(key, "time"))
		in->time = strtod(val, NULL);
	else if (!strcmp(key, "parent"))
		in->parent = atoi(val);
	else if (!strcmp(key, "track_mem"))
		in->track_mem = atoi(val);
	else if (!strcmp(key, "shell_job"))
		in->shell_job = atoi(val);
	else if (!strcmp(key, "dump_ms"))
		in->dump_ms = atol(val);
	else if (!strcmp(key, "bytes"))
		in->bytes = strtoull(val, NULL, 10);
	else if (!strcmp(key, "region") && in->nr_regions < MAX_REGIONS) {
		r = &in->regions[in->nr_regions];
		if (sscanf(val, "%llu %4095[^\n]",
			   (unsigned long long *)&r->size, r->path) == 2)
			in->nr_regions++;
	}
}

/* Read checkpoint n's msnapctl.info: 0, or -errno (-EINVAL: not ours). */
static int read_info(int dirfd, int n, struct info *in)
{
	char path[64], line[PATH_MAX + 64], *sp;
	bool ours = false;
	int fd;
	FILE *f;

	memset(in, 0, sizeof(*in));
	snprintf(path, sizeof(path), "%d/" INFO_NAME, n);
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = 0;
		if (!strcmp(line, "msnapctl"))
			ours = true;
		info_line(in, line, sp + 1);
	}
	fclose(f);
	return ours ? 0 : -EINVAL;
}

/* Sum of the sizes of the *.img files of a directory. */
static unsigned long long image_bytes(int dfd)
{
	unsigned long long sum = 0;
	struct dirent *de;
	struct stat st;
	size_t len;
	int fd;
	DIR *d;

	fd = dup(dfd);
	d = fd < 0 ? NULL : fdopendir(fd);
	if (!d)
		return 0;
	rewinddir(d);
	while ((de = readdir(d))) {
		len = strlen(de->d_name);
		if (len > 4 && !strcmp(de->d_name + len - 4, ".img") &&
		    !fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			sum += st.st_size;
	}
	closedir(d);
	return sum;
}

/* ---- making a checkpoint durable ---- */

/* fsync every regular file of a directory, then the directory. */
static int fsync_dir_files(int dfd)
{
	struct dirent *de;
	int fd, ret = 0;
	DIR *d;

	fd = dup(dfd);
	d = fd < 0 ? NULL : fdopendir(fd);
	if (!d)
		return -errno;
	rewinddir(d);
	while ((de = readdir(d)) && !ret) {
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			if (errno != ELOOP)
				ret = -errno;
			continue;
		}
		if (fsync(fd))
			ret = -errno;
		close(fd);
	}
	closedir(d);
	if (!ret && fsync(dfd))
		ret = -errno;
	return ret;
}

/* Make every image of the checkpoint durable. */
static int sync_images(struct ckpt *c)
{
	if (c->on_memsnap)
		return syncfs(c->tmpfd) ? -errno : 0;
	return fsync_dir_files(c->tmpfd);
}

/* Rename .N.tmp to N and point "latest" at it (not yet durable). */
static int publish(struct ckpt *c)
{
	char tmp[32], name[16];

	snprintf(tmp, sizeof(tmp), ".%d.tmp", c->n);
	snprintf(name, sizeof(name), "%d", c->n);
	if (renameat(c->dirfd, tmp, c->dirfd, name))
		return -errno;
	/* Outside memsnap, the directory entry N must be durable first. */
	if (!c->on_memsnap && fsync(c->dirfd))
		return -errno;
	unlinkat(c->dirfd, ".latest.tmp", 0);
	if (symlinkat(name, c->dirfd, ".latest.tmp") ||
	    renameat(c->dirfd, ".latest.tmp", c->dirfd, "latest"))
		return -errno;
	return 0;
}

/* Undo publish(): N back to .N.tmp, "latest" back to prev. */
static void unpublish(struct ckpt *c, int prev)
{
	char tmp[32], name[16];

	snprintf(tmp, sizeof(tmp), ".%d.tmp", c->n);
	snprintf(name, sizeof(name), "%d", prev);
	if (prev > 0) {
		unlinkat(c->dirfd, ".latest.tmp", 0);
		if (!symlinkat(name, c->dirfd, ".latest.tmp"))
			renameat(c->dirfd, ".latest.tmp", c->dirfd, "latest");
	} else {
		unlinkat(c->dirfd, "latest", 0);
	}
	snprintf(name, sizeof(name), "%d", c->n);
	renameat(c->dirfd, name, c->dirfd, tmp);
	fsync(c->dirfd);
}

/* ---- memsnap regions of the frozen tasks ---- */

static int add_region(struct info *in, int pid, const char *range,
		      const char *path)
{
	char mf[PATH_MAX];
	struct region *r;
	struct stat st;
	int fd, i, ms;

	snprintf(mf, sizeof(mf), "/proc/%d/map_files/%s", pid, range);
	fd = open(mf, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;	/* not a file we can reach: CRIU will say */
	ms = is_memsnap_fd(fd);
	if (ms != 1 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	close(fd);
	for (i = 0; i < in->nr_regions; i++)
		if (in->regions[i].dev == st.st_dev && in->regions[i].ino == st.st_ino)
			return 0;
	if (in->nr_regions == MAX_REGIONS)
		return -E2BIG;
	r = &in->regions[in->nr_regions++];
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	r->size = st.st_size;
	return 0;
}

/* The shared file mappings of one task that live on memsnap. */
static int scan_maps(struct info *in, int pid)
{
	char path[64], line[PATH_MAX + 128], range[64], perms[8], file[PATH_MAX];
	unsigned long long ino;
	int ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (!ret && fgets(line, sizeof(line), f)) {
		file[0] = 0;
		if (sscanf(line, "%63s %7s %*s %*s %llu %4095[^\n]",
			   range, perms, &ino, file) < 3)
			continue;
		if (perms[3] != 's' || !ino || file[0] != '/')
			continue;
		ret = add_region(in, pid, range, file);
	}
	fclose(f);
	return ret;
}

/* The tasks of the tree rooted at pid: every thread's children. */
static int scan_tree(struct info *in, int pid, int depth)
{
	char path[64];
	struct dirent *de;
	int ret, child;
	DIR *d;
	FILE *f;

	if (depth > 64)
		return -ELOOP;
	ret = scan_maps(in, pid);
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return ret ? ret : -errno;
	while (!ret && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.20s/children",
			 pid, de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (!ret && fscanf(f, "%d", &child) == 1)
			ret = scan_tree(in, child, depth + 1);
		fclose(f);
	}
	closedir(d);
	return ret;
}

/*
 * Persist every region of one memsnap filesystem (dev) in one atomic
 * MSNAP_IOC_PERSISTV: map each file here, whole; the persist writes the
 * pages its tasks dirtied through their own mappings (the dirty set is
 * the file's).
 */
static int persist_dev(struct info *in, dev_t dev)
{
	static struct msnap_range rg[MAX_REGIONS];
	struct msnap_persistv_args args = { .size = sizeof(args) };
	unsigned int nr = 0, i;
	int fd, iofd = -1, ret = 0;
	void *a;

	for (i = 0; i < (unsigned int)in->nr_regions && !ret; i++) {
		struct region *r = &in->regions[i];

		if (r->dev != dev || !r->size)
			continue;
		fd = open(r->path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		a = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (a == MAP_FAILED)
			ret = -errno;
		else
			rg[nr++] = (struct msnap_range){ (uintptr_t)a, r->size };
		if (iofd < 0 && !ret)
			iofd = fd;
		else
			close(fd);
	}
	args.ranges = (uintptr_t)rg;
	args.nr_ranges = nr;
	if (!ret && nr && ioctl(iofd, MSNAP_IOC_PERSISTV, &args))
		ret = -errno;
	if (!ret)
		in->region_pages += args.pages;
	for (i = 0; i < nr; i++)
		munmap((void *)(uintptr_t)rg[i].addr, rg[i].len);
	if (iofd >= 0)
		close(iofd);
	return ret;
}

static int persist_regions(struct info *in)
{
	int i, j, ret;

	for (i = 0; i < in->nr_regions; i++) {
		for (j = 0; j < i; j++)
			if (in->regions[j].dev == in->regions[i].dev)
				break;
		if (j < i)
			continue;	/* that filesystem is done */
		ret = persist_dev(in, in->regions[i].dev);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Commit the checkpoint while the tasks are frozen: record it, make the
 * images durable, publish it as "latest", persist the regions, and make
 * "latest" durable.  On a memsnap mount that also holds the regions, the
 * region persist's commit carries the queued rename and "latest" too, so
 * regions and checkpoint become durable in one commit.
 */
static int commit(struct ckpt *c)
{
	struct info *in = &c->info;
	int ret, prev;

	c->failed_step = "cannot find the tasks' memsnap regions";
	ret = scan_tree(in, c->o->pid, 0);
	if (ret)
		return ret;
	in->time = now_real();
	in->dump_ms = ms_since(&c->start);
	in->bytes = image_bytes(c->tmpfd);
	c->failed_step = "cannot write " INFO_NAME;
	ret = write_info(c->tmpfd, in);
	if (ret)
		return ret;
	c->failed_step = c->on_memsnap ? "syncfs of the images failed" :
					 "fsync of the images failed";
	ret = sync_images(c);
	if (ret)
		return ret;
	prev = read_latest(c->dirfd);
	c->failed_step = "cannot rename the checkpoint into place";
	ret = publish(c);
	if (ret)
		return ret;
	c->failed_step = "persist of the memsnap regions failed";
	ret = persist_regions(in);
	if (ret) {
		unpublish(c, prev);
		return ret;
	}
	c->committed = true;	/* from here on, N is the latest */
	c->failed_step = "fsync of the image directory failed";
	if (fsync(c->dirfd))
		return -errno;
	return 0;
}

/* libcriu's notification callback: "post-dump" runs with the tasks frozen. */
static int notify_cb(char *action, criu_notify_arg_t na)
{
	(void)na;
	if (!cur || strcmp(action, "post-dump"))
		return 0;
	cur->error = commit(cur);
	return cur->error ? -1 : 0;
}

/* ---- CRIU ---- */

/* The first "Error (...): message" of a CRIU log, without its prefix. */
static void criu_error(int dfd, const char *log, char *buf, size_t size)
{
	char line[1024], *p;
	int fd;
	FILE *f;

	snprintf(buf, size, "see the log");
	fd = openat(dfd, log, O_RDONLY | O_CLOEXEC);
	f = fd < 0 ? NULL : fdopen(fd, "r");
	if (!f) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		p = strstr(line, "Error (");
		/* A probe's helper that failed (iptables, ...) is noise. */
		if (!p || strstr(p, "exited, status="))
			continue;
		p = strstr(p, "): ");
		if (!p)
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(buf, size, "%s", p + 3);
		break;
	}
	fclose(f);
}

static const char *criu_binary(void)
{
	const char *b = getenv("MSNAPCTL_CRIU");

	return b && *b ? b : "criu";
}

/* Whether the CRIU binary can be found; says why not. */
static bool criu_found(void)
{
	const char *b = criu_binary(), *path = getenv("PATH");
	char buf[PATH_MAX];
	const char *p, *e;

	if (strchr(b, '/'))
		return access(b, X_OK) == 0 ||
		       (say("cannot run %s: %s", b, strerror(errno)), false);
	for (p = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin"; *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, ':');
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)(e - p), p, b);
		if (access(buf, X_OK) == 0)
			return true;
	}
	say("criu not found in PATH (Debian package criu)");
	return false;
}

static criu_opts *criu_setup(const struct opts *o, int dfd, const char *log)
{
	criu_opts *co = NULL;	/* criu_local_init_opts() frees a non-NULL one */

	if (criu_local_init_opts(&co)) {
		say("cannot set up libcriu: out of memory");
		return NULL;
	}
	criu_local_set_service_binary(co, criu_binary());
	criu_local_set_images_dir_fd(co, dfd);
	criu_local_set_log_file(co, log);
	criu_local_set_log_level(co, o->log_level);
	criu_local_set_shell_job(co, o->shell_job);
	criu_local_set_tcp_established(co, o->tcp_established);
	return co;
}

/* ---- checkpoint ---- */

static int open_images_dir(const char *dir, bool create)
{
	int fd;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdir(dir, 0700) && errno != EEXIST) {
			say("cannot create %s: %s", dir, strerror(errno));
			return -1;
		}
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		say("cannot open %s: %s", dir, strerror(errno));
	return fd;
}

/*
 * Take the directory's lock.  The descriptor is inherited by criu swrk
 * (no O_CLOEXEC), so a CRIU left running by a killed msnapctl holds the
 * lock until it is gone too.
 */
static int lock_dir(int dirfd, const char *dir)
{
	int fd;

	fd = openat(dirfd, ".lock", O_RDWR | O_CREAT, 0600);
	if (fd < 0) {
		say("cannot create %s/.lock: %s", dir, strerror(errno));
		return -EX_FAIL;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		if (errno == EWOULDBLOCK)
			say("%s is busy: another msnapctl is checkpointing into it", dir);
		else
			say("cannot lock %s: %s", dir, strerror(errno));
		close(fd);
		return errno == EWOULDBLOCK ? -EX_BUSY : -EX_FAIL;
	}
	return fd;
}

/*
 * The parent of an incremental dump: the latest checkpoint, if it is of
 * this very process (same pid and start time) and tracked memory.
 */
static int pick_parent(struct ckpt *c, unsigned long long starttime)
{
	struct info prev;
	int latest;

	latest = read_latest(c->dirfd);
	if (latest <= 0 || read_info(c->dirfd, latest, &prev))
		return 0;
	if (prev.pid != c->o->pid || prev.starttime != starttime || !prev.track_mem)
		return 0;
	return latest;
}

/* Keep a failed dump's directory (its log) as IMAGES/failed. */
static void keep_failed(struct ckpt *c)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), ".%d.tmp", c->n);
	remove_flat_dir(c->dirfd, "failed");
	if (renameat(c->dirfd, tmp, c->dirfd, "failed"))
		remove_flat_dir(c->dirfd, tmp);
}

static int report_failure(struct ckpt *c, int ret)
{
	char msg[512];

	if (c->error) {
		say("checkpoint %d of pid %d failed: %s: %s", c->n, c->o->pid,
		    c->failed_step, strerror(-c->error));
	} else {
		criu_error(c->tmpfd, DUMP_LOG, msg, sizeof(msg));
		say("checkpoint %d of pid %d failed: criu: %s (log: %s/failed/%s)",
		    c->n, c->o->pid, ret == -EBADE ? msg : strerror(-ret),
		    c->o->dir, DUMP_LOG);
	}
	if (c->committed)
		return EX_FAIL;
	keep_failed(c);
	return EX_FAIL;
}

static int run_dump(struct ckpt *c)
{
	char parent[32];
	criu_opts *co;
	int ret;

	co = criu_setup(c->o, c->tmpfd, DUMP_LOG);
	if (!co)
		return -ENOMEM;
	criu_local_set_pid(co, c->o->pid);
	criu_local_set_leave_running(co, c->o->leave_running);
	criu_local_set_track_mem(co, c->info.track_mem);
	if (c->info.parent) {
		snprintf(parent, sizeof(parent), "../%d", c->info.parent);
		criu_local_set_parent_images(co, parent);
	}
	criu_local_set_notify_cb(co, notify_cb);
	cur = c;
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	ret = criu_local_dump(co);
	cur = NULL;
	criu_local_free_opts(co);
	/* CRIU writes stats-dump.img and its log after post-dump. */
	if (!ret && c->committed)
		sync_images(c);
	return ret;
}

static int prepare_ckpt(struct ckpt *c, unsigned long long starttime)
{
	char tmp[32];

	c->n = prepare_next(c->dirfd);
	if (c->n < 0) {
		say("cannot read %s: %s", c->o->dir, strerror(-c->n));
		return -1;
	}
	snprintf(tmp, sizeof(tmp), ".%d.tmp", c->n);
	if (mkdirat(c->dirfd, tmp, 0700)) {
		say("cannot create %s/%s: %s", c->o->dir, tmp, strerror(errno));
		return -1;
	}
	c->tmpfd = openat(c->dirfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->tmpfd < 0) {
		say("cannot open %s/%s: %s", c->o->dir, tmp, strerror(errno));
		return -1;
	}
	c->info.pid = c->o->pid;
	c->info.starttime = starttime;
	c->info.track_mem = c->o->incremental;
	c->info.shell_job = c->o->shell_job;
	c->info.parent = c->o->incremental ? pick_parent(c, starttime) : 0;
	return 0;
}

static void print_done(const struct ckpt *c)
{
	const struct info *in = &c->info;

	printf("checkpoint %d of pid %d: %llu bytes", c->n, in->pid, in->bytes);
	if (in->parent)
		printf(", parent %d", in->parent);
	if (in->nr_regions)
		printf(", %d memsnap regions, %llu pages persisted",
		       in->nr_regions, in->region_pages);
	printf(", %ld ms\n", in->dump_ms);
	fflush(stdout);
}

static int checkpoint(const struct opts *o)
{
	static struct ckpt c;
	unsigned long long starttime;
	int lockfd, ret;

	memset(&c, 0, sizeof(c));
	c.o = o;
	c.tmpfd = -1;
	starttime = proc_starttime(o->pid);
	if (!starttime || kill(o->pid, 0)) {
		say("no process with pid %d", o->pid);
		return EX_FAIL;
	}
	if (!criu_found())
		return EX_FAIL;
	c.dirfd = open_images_dir(o->dir, true);
	if (c.dirfd < 0)
		return EX_FAIL;
	lockfd = lock_dir(c.dirfd, o->dir);
	if (lockfd < 0)
		return -lockfd;
	c.on_memsnap = is_memsnap_fd(c.dirfd) == 1;
	if (prepare_ckpt(&c, starttime))
		return EX_FAIL;
	ret = run_dump(&c);
	if (!ret && !c.committed) {
		/* A CRIU that sent no post-dump: commit now, tasks running. */
		c.error = commit(&c);
	}
	if (ret || c.error)
		ret = report_failure(&c, ret);
	else if (!o->quiet)
		print_done(&c);
	close(c.tmpfd);
	close(lockfd);
	close(c.dirfd);
	return ret;
}

/* ---- restore ---- */

/*
 * Discard what the regions got since their last persist, which was this
 * checkpoint's (when nothing else persisted them since): the restored
 * tasks then find the regions as they were at the freeze.
 */
static int rollback_regions(const struct info *in)
{
	struct msnap_abort_args args;
	struct stat st;
	int i, fd, ret;
	void *a;

	for (i = 0; i < in->nr_regions; i++) {
		const char *path = in->regions[i].path;

		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st)) {
			say("cannot open memsnap region %s: %s", path, strerror(errno));
			return -1;
		}
		a = st.st_size ? mmap(NULL, st.st_size, PROT_READ | PROT_WRITE,
				      MAP_SHARED, fd, 0) : NULL;
		if (a == MAP_FAILED) {
			say("cannot map memsnap region %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		args = (struct msnap_abort_args){ .size = sizeof(args),
			.addr = (uintptr_t)a, .len = st.st_size };
		ret = a && ioctl(fd, MSNAP_IOC_ABORT, &args) ? -errno : 0;
		if (a)
			munmap(a, st.st_size);
		close(fd);
		if (ret) {
			say("cannot roll back memsnap region %s: %s", path, strerror(-ret));
			return -1;
		}
	}
	return 0;
}

/* Which checkpoint to restore: --checkpoint N, or "latest". */
static int restore_target(const struct opts *o, int dirfd)
{
	struct stat st;
	char name[16];
	int n;

	if (o->checkpoint) {
		snprintf(name, sizeof(name), "%d", o->checkpoint);
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISDIR(st.st_mode)) {
			say("%s has no checkpoint %d", o->dir, o->checkpoint);
			return -1;
		}
		return o->checkpoint;
	}
	n = read_latest(dirfd);
	if (n == 0)
		say("%s holds no complete checkpoint", o->dir);
	else if (n < 0)
		say("%s/latest names no checkpoint: %s", o->dir, strerror(-n));
	return n > 0 ? n : -1;
}

/* Every checkpoint an incremental one builds on must be there. */
static int check_chain(const struct opts *o, int dirfd, int n, struct info *in)
{
	struct info p;
	int k = n, depth = 0;

	if (read_info(dirfd, n, in)) {
		say("%s/%d is not a checkpoint msnapctl made (no %s)", o->dir, n, INFO_NAME);
		return -1;
	}
	for (k = in->parent; k && depth < 100000; k = p.parent, depth++) {
		if (read_info(dirfd, k, &p)) {
			say("checkpoint %d needs its parent %d, which %s lacks", n, k, o->dir);
			return -1;
		}
	}
	return 0;
}

static int restore(const struct opts *o)
{
	struct opts ro = *o;
	static struct info in;
	char name[16], msg[512];
	int dirfd, ckfd, n, ret;
	criu_opts *co;

	dirfd = open_images_dir(o->dir, false);
	if (dirfd < 0)
		return EX_NOCKPT;
	n = restore_target(o, dirfd);
	if (n < 0 || check_chain(o, dirfd, n, &in))
		return EX_NOCKPT;
	if (!kill(in.pid, 0) || errno == EPERM) {
		say("pid %d of checkpoint %d is in use: stop that process first", in.pid, n);
		return EX_FAIL;
	}
	if (!criu_found() || rollback_regions(&in))
		return EX_FAIL;
	snprintf(name, sizeof(name), "%d", n);
	ckfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ckfd < 0) {
		say("cannot open %s/%s: %s", o->dir, name, strerror(errno));
		return EX_FAIL;
	}
	ro.shell_job = in.shell_job;
	co = criu_setup(&ro, ckfd, RESTORE_LOG);
	if (!co)
		return EX_FAIL;
	ret = criu_local_restore(co);
	criu_local_free_opts(co);
	if (ret < 0) {
		criu_error(ckfd, RESTORE_LOG, msg, sizeof(msg));
		say("restore of checkpoint %d failed: criu: %s (log: %s/%d/%s)", n,
		    ret == -EBADE ? msg : strerror(-ret), o->dir, n, RESTORE_LOG);
		return EX_FAIL;
	}
	if (!o->quiet)
		printf("restored checkpoint %d: pid %d\n", n, ret);
	close(ckfd);
	close(dirfd);
	return EX_OK;
}

/* ---- list ---- */

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static void list_one(const struct opts *o, int dirfd, int n, int latest)
{
	static struct info in;
	char when[64], parent[16];
	time_t t;

	if (read_info(dirfd, n, &in)) {
		printf("%-6d (no %s: not made by msnapctl)\n", n, INFO_NAME);
		return;
	}
	t = (time_t)in.time;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
	snprintf(parent, sizeof(parent), in.parent ? "%d" : "-", in.parent);
	printf("%-6d %s.%03d %7d %12llu %-6s %7ld %7d%s\n", n, when,
	       (int)((in.time - t) * 1000), in.pid, in.bytes, parent, in.dump_ms,
	       in.nr_regions, n == latest ? "  latest" :
	       n > latest ? "  not committed" : "");
	(void)o;
}

static int list(const struct opts *o)
{
	int dirfd, fd, latest, nr = 0, cap = 64, *nums, i, n;
	bool failed = false, partial = false;
	struct dirent *de;
	DIR *d;

	dirfd = open_images_dir(o->dir, false);
	if (dirfd < 0)
		return EX_FAIL;
	latest = read_latest(dirfd);
	fd = dup(dirfd);
	d = fd < 0 ? NULL : fdopendir(fd);
	nums = malloc(cap * sizeof(*nums));
	if (!d || !nums) {
		say("cannot read %s: %s", o->dir, strerror(errno));
		return EX_FAIL;
	}
	while ((de = readdir(d))) {
		n = ckpt_number(de->d_name);
		failed |= !strcmp(de->d_name, "failed");
		partial |= de->d_name[0] == '.' && strstr(de->d_name, ".tmp");
		if (n < 0)
			continue;
		if (nr == cap && !(nums = realloc(nums, (cap *= 2) * sizeof(*nums)))) {
			say("out of memory");
			return EX_FAIL;
		}
		nums[nr++] = n;
	}
	closedir(d);
	qsort(nums, nr, sizeof(*nums), cmp_int);
	printf("%-6s %-23s %7s %12s %-6s %7s %7s\n", "CKPT", "TIME", "PID",
	       "BYTES", "PARENT", "DUMP_MS", "REGIONS");
	for (i = 0; i < nr; i++)
		list_one(o, dirfd, nums[i], latest > 0 ? latest : 0);
	if (failed)
		printf("the last failed checkpoint's log: %s/failed/%s\n", o->dir, DUMP_LOG);
	if (partial)
		printf("an interrupted checkpoint is left in %s (removed by the next one)\n", o->dir);
	free(nums);
	close(dirfd);
	return EX_OK;
}

/* ---- run ---- */

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

static int start_child(const struct opts *o, char **argv)
{
	struct sigaction sa = { .sa_handler = forward_signal };
	int pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		say("cannot fork: %s", strerror(errno));
		return -1;
	}
	if (!pid) {
		/* Its own session, so CRIU needs no --shell-job. */
		if (!o->shell_job)
			setsid();
		execvp(argv[0], argv);
		say("cannot run %s: %s", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	child_pid = pid;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return pid;
}

/* Wait up to ms for the child to exit: 1 if it did, 0 if not. */
static int wait_child(int pidfd, long ms)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	struct timespec t0;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long left = ms - ms_since(&t0);

		r = poll(&p, 1, left > 0 ? (int)left : 0);
		if (r > 0)
			return 1;
		if (r == 0 || left <= 0)
			return 0;
		if (errno != EINTR)
			return 0;
	}
}

static int run(struct opts *o, char **argv)
{
	struct timespec t0;
	int fd, pid, pidfd, st;

	if (!criu_found())
		return EX_RUN_ERR;
	fd = open_images_dir(o->dir, true);
	if (fd < 0)
		return EX_RUN_ERR;
	close(fd);
	pid = start_child(o, argv);
	if (pid < 0)
		return EX_RUN_ERR;
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		say("pidfd_open: %s", strerror(errno));
		kill(pid, SIGKILL);
		return EX_RUN_ERR;
	}
	o->pid = pid;
	o->leave_running = true;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* A checkpoint starts every MS; one that takes longer delays the next. */
	while (!wait_child(pidfd, o->every_ms - ms_since(&t0))) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		checkpoint(o);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- main ---- */

enum { OPT_SHELL_JOB = 256, OPT_TCP, OPT_LOG_LEVEL, OPT_NO_INCR };

static const struct option long_opts[] = {
	{ "dir",		required_argument, NULL, 'd' },
	{ "leave-running",	no_argument,	   NULL, 'R' },
	{ "incremental",	no_argument,	   NULL, 'i' },
	{ "no-incremental",	no_argument,	   NULL, OPT_NO_INCR },
	{ "checkpoint",		required_argument, NULL, 'c' },
	{ "every",		required_argument, NULL, 'e' },
	{ "shell-job",		no_argument,	   NULL, OPT_SHELL_JOB },
	{ "tcp-established",	no_argument,	   NULL, OPT_TCP },
	{ "log-level",		required_argument, NULL, OPT_LOG_LEVEL },
	{ "quiet",		no_argument,	   NULL, 'q' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

/* Which options each command takes (the short letters and OPT_*). */
static bool allowed(const char *cmd, int c)
{
	switch (c) {
	case 'd': case 'q': case OPT_LOG_LEVEL:
		return true;
	case 'R': case 'i': case OPT_TCP:
		return !strcmp(cmd, "checkpoint");
	case OPT_SHELL_JOB:
		return !strcmp(cmd, "checkpoint") || !strcmp(cmd, "run");
	case 'c':
		return !strcmp(cmd, "restore");
	case 'e': case OPT_NO_INCR:
		return !strcmp(cmd, "run");
	}
	return false;
}

static int bad(const char *fmt, const char *arg)
{
	fputs("msnapctl: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (msnapctl --help)\n", stderr);
	return EX_USAGE;
}

static int parse_opt(struct opts *o, const char *cmd, int c, const char *arg)
{
	long v;

	if (!allowed(cmd, c))
		return -1;
	switch (c) {
	case 'd': o->dir = arg; break;
	case 'R': o->leave_running = true; break;
	case 'i': o->incremental = true; break;
	case OPT_NO_INCR: o->incremental = false; break;
	case OPT_SHELL_JOB: o->shell_job = true; break;
	case OPT_TCP: o->tcp_established = true; break;
	case 'q': o->quiet = true; break;
	case 'c':
	case 'e':
	case OPT_LOG_LEVEL:
		v = parse_num(arg, c == OPT_LOG_LEVEL ? 0 : 1,
			      c == 'c' ? INT_MAX : c == 'e' ? 86400000 : 4);
		if (v < 0)
			return -2;
		if (c == 'c')
			o->checkpoint = v;
		else if (c == 'e')
			o->every_ms = v;
		else
			o->log_level = v;
		break;
	}
	return 0;
}

static int parse(struct opts *o, const char *cmd, int argc, char **argv)
{
	int c, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+d:Ric:e:qh", long_opts, NULL)) != -1) {
		if (c == 'h')
			usage(stdout, EX_OK);
		if (c == '?' || c == ':')
			return bad("%s: unknown option or missing value", argv[optind - 1]);
		r = parse_opt(o, cmd, c, optarg);
		if (r == -1)
			return bad("%s takes no such option", cmd);
		if (r == -2)
			return bad("bad number '%s'", optarg);
	}
	if (!o->dir)
		return bad("%s needs --dir IMAGES", cmd);
	return EX_OK;
}

int main(int argc, char **argv)
{
	struct opts o = { .log_level = 2, .incremental = false };
	const char *cmd;
	int ret;

	if (argc < 2)
		usage(stderr, EX_USAGE);
	cmd = argv[1];
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("msnapctl %s (libcriu %s)\n", MSNAPCTL_VERSION, CRIU_VERSION);
		return EX_OK;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h"))
		usage(stdout, EX_OK);
	if (strcmp(cmd, "checkpoint") && strcmp(cmd, "restore") &&
	    strcmp(cmd, "list") && strcmp(cmd, "run"))
		return bad("unknown command '%s'", cmd);
	if (!strcmp(cmd, "run"))
		o.incremental = true;
	/* checkpoint's PID comes first: msnapctl checkpoint PID --dir ... */
	if (!strcmp(cmd, "checkpoint")) {
		if (argc < 3 || (o.pid = parse_num(argv[2], 1, INT_MAX)) < 0)
			return bad("checkpoint needs a PID first, not '%s'",
				   argc < 3 ? "" : argv[2]);
		argv++;
		argc--;
	}
	ret = parse(&o, cmd, argc - 1, argv + 1);
	if (ret)
		return ret;
	argc -= optind + 1;
	argv += optind + 1;
	if (!strcmp(cmd, "run") && !o.every_ms)
		return bad("%s needs --every MS", cmd);
	if (!strcmp(cmd, "run") && !argc)
		return bad("%s needs a command after --", cmd);
	if (strcmp(cmd, "run") && argc)
		return bad("unexpected argument '%s'", argv[0]);
	if (strcmp(cmd, "list") && geteuid()) {
		say("%s needs root (CRIU ptraces and restores process trees)", cmd);
		return !strcmp(cmd, "run") ? EX_RUN_ERR : EX_FAIL;
	}
	if (!strcmp(cmd, "run"))
		return run(&o, argv);
	if (!strcmp(cmd, "checkpoint"))
		return checkpoint(&o);
	if (!strcmp(cmd, "restore"))
		return restore(&o);
	return list(&o);
}
