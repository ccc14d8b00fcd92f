// SPDX-License-Identifier: GPL-2.0
/*
 * msnapfs model: the files of a checkpoint, in memory, in a form the log
 * can be replayed onto.  Page maps stay on disk: a file keeps only its
 * checkpoint tree root, a cutoff (truncation since the checkpoint) and an
 * overlay of the pages the log mapped, so memory grows with the log and
 * the number of files, never with the data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "msnapfs.h"

/* fsck(8): operational error.  Only fsck builds the model. */
#define MSNAP_EXIT_OOM	8

void *msnap_alloc(size_t size)
{
	void *p = calloc(1, size ? size : 1);

	if (!p) {
		msnap_err("out of memory");
		exit(MSNAP_EXIT_OOM);
	}
	return p;
}

void *msnap_realloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p) {
		msnap_err("out of memory");
		exit(MSNAP_EXIT_OOM);
	}
	return p;
}

/* ---- u64 -> u64 map: open addressing, linear probing ----------------- */

struct msnap_map_ent {
	uint64_t	key;
	uint64_t	val;
	bool		used;
};

struct msnap_map {
	size_t			cap;	/* power of 2 */
	size_t			n;
	struct msnap_map_ent	*e;
};

static uint64_t hash64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	return k ^ (k >> 33);
}

struct msnap_map *msnap_map_new(void)
{
	struct msnap_map *m = msnap_alloc(sizeof(*m));

	m->cap = 16;
	m->e = msnap_alloc(m->cap * sizeof(*m->e));
	return m;
}

void msnap_map_free(struct msnap_map *m)
{
	if (m)
		free(m->e);
	free(m);
}

static struct msnap_map_ent *map_find(const struct msnap_map *m,
				      uint64_t key)
{
	size_t i = hash64(key) & (m->cap - 1);

	while (m->e[i].used && m->e[i].key != key)
		i = (i + 1) & (m->cap - 1);
	return &m->e[i];
}

static void map_grow(struct msnap_map *m)
{
	struct msnap_map_ent *old = m->e, *e;
	size_t i, cap = m->cap;

	m->cap *= 2;
	m->e = msnap_alloc(m->cap * sizeof(*m->e));
	for (i = 0; i < cap; i++) {
		if (!old[i].used)
			continue;
		e = map_find(m, old[i].key);
		*e = old[i];
	}
	free(old);
}

bool msnap_map_get(const struct msnap_map *m, uint64_t key, uint64_t *val)
{
	const struct msnap_map_ent *e = map_find(m, key);

	if (e->used && val)
		*val = e->val;
	return e->used;
}

/* Entries are never removed: users store 0 for "gone". */
void msnap_map_put(struct msnap_map *m, uint64_t key, uint64_t val)
{
	struct msnap_map_ent *e;

	if (4 * (m->n + 1) > 3 * m->cap)
		map_grow(m);
	e = map_find(m, key);
	if (!e->used) {
		e->used = true;
		e->key = key;
		m->n++;
	}
	e->val = val;
}

size_t msnap_map_slots(const struct msnap_map *m)
{
	return m ? m->cap : 0;
}

bool msnap_map_at(const struct msnap_map *m, size_t i, uint64_t *key,
		  uint64_t **val)
{
	if (!m->e[i].used)
		return false;
	*key = m->e[i].key;
	*val = &m->e[i].val;
	return true;
}

/* ---- names: how many inodes bear each (directory, name) ------------- */

struct msnap_name {
	struct msnap_name	*next;
	uint64_t		parent;
	uint64_t		users;
	char			name[];
};

struct msnap_names {
	size_t			nb;	/* buckets, power of 2 */
	size_t			n;
	struct msnap_name	**b;
};

static size_t name_hash(uint64_t parent, const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ hash64(parent);	/* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h;
}

static void names_grow(struct msnap_names *ns)
{
	struct msnap_name **old = ns->b, *p, *next;
	size_t i, nb = ns->nb, h;

	ns->nb = nb ? 2 * nb : 64;
	ns->b = msnap_alloc(ns->nb * sizeof(*ns->b));
	for (i = 0; i < nb; i++) {
		for (p = old[i]; p; p = next) {
			next = p->next;
			h = name_hash(p->parent, p->name) & (ns->nb - 1);
			p->next = ns->b[h];
			ns->b[h] = p;
		}
	}
	free(old);
}

static struct msnap_name *names_get(struct msnap_names *ns, uint64_t parent,
				    const char *name, bool create)
{
	struct msnap_name *p;
	size_t h;

	if (create && ns->n + 1 > ns->nb)
		names_grow(ns);
	h = name_hash(parent, name) & (ns->nb - 1);
	for (p = ns->b[h]; p; p = p->next)
		if (p->parent == parent && !strcmp(p->name, name))
			return p;
	if (!create)
		return NULL;
	p = msnap_alloc(sizeof(*p) + strlen(name) + 1);
	p->parent = parent;
	strcpy(p->name, name);
	p->next = ns->b[h];
	ns->b[h] = p;
	ns->n++;
	return p;
}

uint64_t msnap_name_users(struct msnap_fs *fs, uint64_t parent,
			  const char *name)
{
	struct msnap_name *p = names_get(fs->names, parent, name, false);

	return p ? p->users : 0;
}

void msnap_names_report(struct msnap_fs *fs)
{
	struct msnap_names *ns = fs->names;
	struct msnap_name *p;
	size_t i;

	for (i = 0; i < ns->nb; i++)
		for (p = ns->b[i]; p; p = p->next)
			if (p->users > 1)
				msnap_problem(fs, "name \"%s\" is used by %llu files in directory %llu",
					      p->name,
					      (unsigned long long)p->users,
					      (unsigned long long)p->parent);
}

/* ---- files ----------------------------------------------------------- */

void msnap_model_init(struct msnap_fs *fs)
{
	fs->files = msnap_map_new();
	fs->names = msnap_alloc(sizeof(*fs->names));
	names_grow(fs->names);
	fs->replay_used = msnap_map_new();
	fs->replay_unlinked = msnap_map_new();
	fs->next_ino = le64(fs->sb.next_ino);
	fs->dirs = le64(fs->sb.incompat) & MSNAP_FEATURE_INCOMPAT_DIRS;
}

static void file_free(struct msnap_file *f)
{
	msnap_map_free(f->overlay);
	free(f->symlink);
	free(f->name);
	free(f);
}

void msnap_model_free(struct msnap_fs *fs)
{
	struct msnap_name *p, *next;
	uint64_t key, *val;
	size_t i;

	for (i = 0; i < msnap_map_slots(fs->files); i++)
		if (msnap_map_at(fs->files, i, &key, &val) && *val)
			file_free((struct msnap_file *)(uintptr_t)*val);
	msnap_map_free(fs->files);
	msnap_map_free(fs->replay_used);
	msnap_map_free(fs->replay_unlinked);
	for (i = 0; fs->names && i < fs->names->nb; i++)
		for (p = fs->names->b[i]; p; p = next) {
			next = p->next;
			free(p);
		}
	if (fs->names)
		free(fs->names->b);
	free(fs->names);
	fs->files = fs->replay_used = fs->replay_unlinked = NULL;
	fs->names = NULL;
}

struct msnap_file *msnap_file_get(struct msnap_fs *fs, uint64_t ino)
{
	uint64_t v = 0;

	msnap_map_get(fs->files, ino, &v);
	return (struct msnap_file *)(uintptr_t)v;
}

struct msnap_file *msnap_file_add(struct msnap_fs *fs, uint64_t ino,
				  uint32_t mode, uint64_t size)
{
	struct msnap_file *f = msnap_alloc(sizeof(*f));

	f->ino = ino;
	f->mode = mode;
	f->size = size;
	f->cutoff = UINT64_MAX;
	msnap_map_put(fs->files, ino, (uintptr_t)f);
	if (ino >= MSNAP_FIRST_INO)
		fs->nr_files++;
	return f;
}

void msnap_file_del(struct msnap_fs *fs, struct msnap_file *f)
{
	msnap_file_set_name(fs, f, 0, NULL, 0);
	msnap_map_put(fs->files, f->ino, 0);
	if (f->ino >= MSNAP_FIRST_INO)
		fs->nr_files--;
	file_free(f);
}

/* name NULL: drop the inode's name (and parent). */
void msnap_file_set_name(struct msnap_fs *fs, struct msnap_file *f,
			 uint64_t parent, const char *name, uint32_t len)
{
	if (f->name) {
		names_get(fs->names, f->parent, f->name, false)->users--;
		free(f->name);
		f->name = NULL;
	}
	f->parent = 0;
	if (!name)
		return;
	f->parent = parent;
	f->name = msnap_alloc(len + 1);
	memcpy(f->name, name, len);
	names_get(fs->names, parent, f->name, true)->users++;
}

void msnap_file_set_symlink(struct msnap_file *f, const char *target,
			    uint32_t len)
{
	free(f->symlink);
	f->symlink = msnap_alloc(len + 1);
	memcpy(f->symlink, target, len);
	f->symlink_len = len;
}

bool msnap_file_is_link(const struct msnap_file *f)
{
	return f->a.flags & MSNAP_INODE_LINK;
}

bool msnap_file_is_dir(const struct msnap_file *f)
{
	return !msnap_file_is_link(f) && S_ISDIR(f->mode);
}

/* ---- the namespace after the last record ----------------------------- */

/*
 * The inode at slot *@i of the files map or after it, the root
 * directory left out; *@i is then past it.  NULL at the end.
 */
static struct msnap_file *next_inode(struct msnap_fs *fs, size_t *i)
{
	uint64_t key, *val;
	size_t slot;

	while (*i < msnap_map_slots(fs->files)) {
		slot = (*i)++;
		if (msnap_map_at(fs->files, slot, &key, &val) && *val &&
		    key != MSNAP_ROOT_INO)
			return (struct msnap_file *)(uintptr_t)*val;
	}
	return NULL;
}

#define ULL(x)	((unsigned long long)(x))

/* Each live inode's parent, and each link inode's target. */
static void check_refs(struct msnap_fs *fs, struct msnap_file *f)
{
	struct msnap_file *p = msnap_file_get(fs, f->parent);
	struct msnap_file *t;

	if (!f->name)
		return;		/* reported after its record */
	if (!f->parent)
		msnap_problem(fs, "inode %llu: parent 0 (only the root directory has none)",
			      ULL(f->ino));
	else if (!p)
		msnap_problem(fs, "inode %llu: parent %llu does not exist",
			      ULL(f->ino), ULL(f->parent));
	else if (!msnap_file_is_dir(p))
		msnap_problem(fs, "inode %llu: parent %llu is not a directory",
			      ULL(f->ino), ULL(f->parent));
	if (!msnap_file_is_link(f))
		return;
	t = msnap_file_get(fs, f->link_target);
	if (!t)
		msnap_problem(fs, "link inode %llu: target %llu does not exist",
			      ULL(f->ino), ULL(f->link_target));
	else if (msnap_file_is_link(t))
		msnap_problem(fs, "link inode %llu: target %llu is a link inode",
			      ULL(f->ino), ULL(f->link_target));
	else if (S_ISDIR(t->mode))
		msnap_problem(fs, "link inode %llu: target %llu is a directory",
			      ULL(f->ino), ULL(f->link_target));
}

/* Move f's name into the root directory (fsck -y). */
static void reparent(struct msnap_fs *fs, struct msnap_file *f)
{
	char *name = f->name;

	f->name = NULL;		/* kept: set_name() must not free it */
	names_get(fs->names, f->parent, name, false)->users--;
	msnap_file_set_name(fs, f, MSNAP_ROOT_INO, name, strlen(name));
	free(name);
}

enum { CHAIN_WALKING = 1, CHAIN_ROOT, CHAIN_BAD };

struct chain {
	struct msnap_map	*state;	/* ino -> CHAIN_* */
	uint64_t		*path;
	size_t			len, cap;
	unsigned long		fixed;
};

/*
 * Follow parents up from directory d.  Every inode is on one walk only
 * (its state says where its own walk ended), so all walks together take
 * O(n).  A loop is reported once, by its lowest inode number, when the
 * walk that closes it meets an inode of its own path.
 */
static void walk_chain(struct msnap_fs *fs, struct chain *c, uint64_t d,
		       bool fix)
{
	uint64_t x = d, st = 0, result = CHAIN_BAD, low;
	struct msnap_file *f;
	size_t i, k;

	c->len = 0;
	for (;;) {
		if (x == MSNAP_ROOT_INO) {
			result = CHAIN_ROOT;
			break;
		}
		st = 0;
		msnap_map_get(c->state, x, &st);
		if (st == CHAIN_ROOT || st == CHAIN_BAD) {
			result = st;
			break;
		}
		f = msnap_file_get(fs, x);
		if (st == CHAIN_WALKING) {
			for (k = 0; c->path[k] != x; k++)
				;
			for (low = x, i = k; i < c->len; i++)
				if (c->path[i] < low)
					low = c->path[i];
			if (fix) {
				/* fsck -y: the loop hangs from the root now. */
				reparent(fs, msnap_file_get(fs, low));
				c->fixed++;
				result = CHAIN_ROOT;
				break;
			}
			msnap_problem(fs, "directory %llu: its parent chain loops (%zu directories) and never reaches the root",
				      ULL(low), c->len - k);
			break;
		}
		if (!f || !msnap_file_is_dir(f))
			break;		/* reported by check_refs() */
		msnap_map_put(c->state, x, CHAIN_WALKING);
		if (c->len == c->cap) {
			c->cap = c->cap ? 2 * c->cap : 64;
			c->path = msnap_realloc(c->path,
						c->cap * sizeof(*c->path));
		}
		c->path[c->len++] = x;
		x = f->parent;
	}
	for (i = 0; i < c->len; i++)
		msnap_map_put(c->state, c->path[i], result);
}

/*
 * The rules of the whole namespace (feature DIRS), which hold after the
 * last record only, as for the uniqueness of names: every parent a live
 * directory, every parent chain reaching the root, every link target a
 * live inode that is neither a directory nor a link inode.
 */
void msnap_namespace_check(struct msnap_fs *fs)
{
	struct chain c = { .state = msnap_map_new() };
	struct msnap_file *f;
	size_t i;

	if (!fs->dirs)
		return;
	for (i = 0; (f = next_inode(fs, &i)); )
		check_refs(fs, f);
	for (i = 0; (f = next_inode(fs, &i)); )
		if (msnap_file_is_dir(f))
			walk_chain(fs, &c, f->ino, false);
	free(c.path);
	msnap_map_free(c.state);
}

static bool link_ok(struct msnap_fs *fs, const struct msnap_file *f)
{
	struct msnap_file *t = msnap_file_get(fs, f->link_target);

	return t && !msnap_file_is_link(t) && !S_ISDIR(t->mode);
}

/*
 * fsck -y: what msnap_namespace_check() reports, repaired: a link inode
 * whose target is gone or cannot be linked is dropped (it is a name
 * only), an inode whose parent is not a live directory moves to the root
 * directory, and so does the lowest directory of a loop.  Names that
 * clash there are for the caller to resolve.  Returns the number of
 * inodes changed.
 */
unsigned long msnap_namespace_fix(struct msnap_fs *fs)
{
	struct chain c = { .state = msnap_map_new() };
	struct msnap_file *f, *p;
	uint64_t *drop;
	size_t i, n = 0;

	drop = msnap_alloc((msnap_map_slots(fs->files) + 1) * sizeof(*drop));
	for (i = 0; (f = next_inode(fs, &i)); )
		if (msnap_file_is_link(f) && !link_ok(fs, f))
			drop[n++] = f->ino;
	/* Collected first: deleting may grow the map being walked. */
	for (i = 0; i < n; i++)
		msnap_file_del(fs, msnap_file_get(fs, drop[i]));
	free(drop);
	c.fixed = n;
	for (i = 0; (f = next_inode(fs, &i)); ) {
		p = msnap_file_get(fs, f->parent);
		if (f->name && (!p || !msnap_file_is_dir(p))) {
			reparent(fs, f);
			c.fixed++;
		}
	}
	for (i = 0; (f = next_inode(fs, &i)); )
		if (msnap_file_is_dir(f))
			walk_chain(fs, &c, f->ino, true);
	free(c.path);
	msnap_map_free(c.state);
	return c.fixed;
}

/* ---- page maps ------------------------------------------------------- */

void msnap_file_map(struct msnap_file *f, uint64_t index, uint64_t blk)
{
	if (!f->overlay)
		f->overlay = msnap_map_new();
	msnap_map_put(f->overlay, index, blk);
	if (!f->ov_any || index > f->ov_max)
		f->ov_max = index;
	f->ov_any = true;
}

/*
 * Unmap every page from first on.  The checkpoint tree is left alone: the
 * cutoff hides its keys from first on, for good, since only the log maps
 * pages until the next checkpoint, and those go to the overlay.
 */
void msnap_file_truncate(struct msnap_file *f, uint64_t first)
{
	uint64_t key, *val;
	size_t i;

	if (first < f->cutoff)
		f->cutoff = first;
	for (i = 0; i < msnap_map_slots(f->overlay); i++)
		if (msnap_map_at(f->overlay, i, &key, &val) && key >= first)
			*val = 0;
	if (f->ov_any && f->ov_max >= first) {
		f->ov_any = first > 0;
		f->ov_max = first ? first - 1 : 0;
	}
}

/* Whether f maps any page at index >= npages. */
bool msnap_file_beyond(struct msnap_fs *fs, struct msnap_file *f,
		       uint64_t npages)
{
	uint64_t key, *val, max = 0;
	bool any = false;
	size_t i;

	if (msnap_tree_any(fs, f->map_root, f->map_height, npages, f->cutoff))
		return true;
	if (!f->ov_any || f->ov_max < npages)
		return false;
	/* ov_max is only a bound after a truncate: find the real one. */
	for (i = 0; i < msnap_map_slots(f->overlay); i++) {
		if (!msnap_map_at(f->overlay, i, &key, &val) || !*val)
			continue;
		if (!any || key > max)
			max = key;
		any = true;
	}
	f->ov_any = any;
	f->ov_max = max;
	return any && max >= npages;
}
