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

/* ---- names: how many files bear each name ---------------------------- */

struct msnap_name {
	struct msnap_name	*next;
	uint64_t		users;
	char			name[];
};

struct msnap_names {
	size_t			nb;	/* buckets, power of 2 */
	size_t			n;
	struct msnap_name	**b;
};

static size_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

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
			h = name_hash(p->name) & (ns->nb - 1);
			p->next = ns->b[h];
			ns->b[h] = p;
		}
	}
	free(old);
}

static struct msnap_name *names_get(struct msnap_names *ns, const char *name,
				    bool create)
{
	struct msnap_name *p;
	size_t h;

	if (create && ns->n + 1 > ns->nb)
		names_grow(ns);
	h = name_hash(name) & (ns->nb - 1);
	for (p = ns->b[h]; p; p = p->next)
		if (!strcmp(p->name, name))
			return p;
	if (!create)
		return NULL;
	p = msnap_alloc(sizeof(*p) + strlen(name) + 1);
	strcpy(p->name, name);
	p->next = ns->b[h];
	ns->b[h] = p;
	ns->n++;
	return p;
}

uint64_t msnap_name_users(struct msnap_fs *fs, const char *name)
{
	struct msnap_name *p = names_get(fs->names, name, false);

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
				msnap_problem(fs, "name \"%s\" is used by %llu files",
					      p->name,
					      (unsigned long long)p->users);
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
}

static void file_free(struct msnap_file *f)
{
	msnap_map_free(f->overlay);
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
	msnap_file_set_name(fs, f, NULL, 0);
	msnap_map_put(fs->files, f->ino, 0);
	if (f->ino >= MSNAP_FIRST_INO)
		fs->nr_files--;
	file_free(f);
}

/* name NULL: drop the file's name. */
void msnap_file_set_name(struct msnap_fs *fs, struct msnap_file *f,
			 const char *name, uint32_t len)
{
	if (f->name) {
		names_get(fs->names, f->name, false)->users--;
		free(f->name);
		f->name = NULL;
	}
	if (!name)
		return;
	f->name = msnap_alloc(len + 1);
	memcpy(f->name, name, len);
	names_get(fs->names, f->name, true)->users++;
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
