/* Which zone files may have changed since the last build, as inotify tells it. */
#define _GNU_SOURCE
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define PD__WATCH_DIRS 1024     /* folders watched at most; the rest are looked at */
#define PD__WATCH_CHANGES 4096  /* paths remembered; past that, every file is looked at */
#define PD__WATCH_SUSPECTS 4096 /* links remembered; past that, likewise */
#define PD__WATCH_INCLUDES 4096 /* included files remembered */

#define PD__WATCH_EVENTS                                                                           \
	(IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM |          \
	 IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

/* A set of strings, by open addressing: small, and emptied as a whole. */
typedef struct pd__strset {
	char **slot;
	uint32_t *mask; /* per slot: the inotify bits seen for it */
	uint32_t cap;   /* a power of two, kept over twice the count */
	uint32_t count;
	char **order; /* the strings in the order they came */
} pd__strset_t;

typedef struct pd__dir {
	char *path;
	int wd;         /* -1: its watch is gone */
	uint64_t since; /* the build during which it was watched (0: before the first) */
	bool trusted;   /* watched since before a build that looked at its files */
	bool local;     /* a file system whose changes all pass through this kernel */
	dev_t dev;      /* the folder watched: path may lead to another later (a link moved) */
	ino_t ino;
} pd__dir_t;

struct pd__watch {
	int fd;
	bool lost;  /* an overflow, a watch gone or a table full: look at every file */
	bool blind; /* too many folders or links to remember: vouch for no file, ever */
	bool includes_full;
	uint64_t build; /* full builds begun */
	pd__dir_t dirs[PD__WATCH_DIRS];
	size_t ndirs;
	pd__strset_t changed;  /* paths events named */
	pd__strset_t suspects; /* symbolic links and files with several links */
	pd__strset_t includes; /* files some zone reads with $INCLUDE */
};

uint32_t pd__str_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

/* The slot of s (len bytes) in set: where it is, or the empty one where it would go. */
static uint32_t pd__strset_slot(const pd__strset_t *set, const char *s, size_t len)
{
	uint32_t i = pd__str_hash(s, len) & (set->cap - 1);
	while (set->slot[i] && (strncmp(set->slot[i], s, len) != 0 || set->slot[i][len] != '\0'))
		i = (i + 1) & (set->cap - 1);
	return i;
}

static bool pd__strset_has(const pd__strset_t *set, const char *s, size_t len)
{
	return set->count && set->slot[pd__strset_slot(set, s, len)];
}

/* Adds s (or adds bits to it); false when the set is full or out of memory. */
static bool pd__strset_add(pd__strset_t *set, const char *s, size_t len, uint32_t bits,
                           uint32_t max)
{
	if (!set->slot) {
		set->cap = 2 * max;
		set->slot = calloc(set->cap, sizeof(*set->slot));
		set->mask = calloc(set->cap, sizeof(*set->mask));
		set->order = calloc(max, sizeof(*set->order));
		if (!set->slot || !set->mask || !set->order) {
			/* Not kept: the next call, clear() and free() would use what is missing. */
			free(set->slot);
			free(set->mask);
			free(set->order);
			*set = (pd__strset_t){0};
			return false;
		}
	}
	uint32_t i = pd__strset_slot(set, s, len);
	if (!set->slot[i]) {
		if (set->count == max || !(set->slot[i] = strndup(s, len)))
			return false;
		set->order[set->count++] = set->slot[i];
	}
	set->mask[i] |= bits;
	return true;
}

static void pd__strset_clear(pd__strset_t *set)
{
	for (uint32_t i = 0; i < set->count; i++)
		free(set->order[i]);
	if (set->slot) {
		memset(set->slot, 0, set->cap * sizeof(*set->slot));
		memset(set->mask, 0, set->cap * sizeof(*set->mask));
	}
	set->count = 0;
}

static void pd__strset_free(pd__strset_t *set)
{
	pd__strset_clear(set);
	free(set->slot);
	free(set->mask);
	free(set->order);
}

pd__watch_t *pd__watch_new(void)
{
	pd__watch_t *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		free(w);
		return NULL;
	}
	return w;
}

void pd__watch_free(pd__watch_t *w)
{
	if (!w)
		return;
	close(w->fd);
	for (size_t i = 0; i < w->ndirs; i++)
		free(w->dirs[i].path);
	pd__strset_free(&w->changed);
	pd__strset_free(&w->suspects);
	pd__strset_free(&w->includes);
	free(w);
}

static pd__dir_t *pd__dir_find(pd__watch_t *w, const char *dir, size_t len)
{
	for (size_t i = 0; i < w->ndirs; i++)
		if (strncmp(w->dirs[i].path, dir, len) == 0 && w->dirs[i].path[len] == '\0')
			return &w->dirs[i];
	return NULL;
}

bool pd__watch_local(const char *dir)
{
	struct statfs fs;
	if (statfs(dir, &fs) < 0)
		return false;
	switch ((unsigned long)fs.f_type) {
	case EXT4_SUPER_MAGIC: /* ext2, ext3 and ext4 alike */
	case XFS_SUPER_MAGIC:
	case BTRFS_SUPER_MAGIC:
	case TMPFS_MAGIC:
	case F2FS_SUPER_MAGIC:
	case OVERLAYFS_SUPER_MAGIC:
	case 0x2fc12fc1: /* ZFS */
		return true;
	default:
		return false;
	}
}

/*
 * Watches d from now on. Where its path leads is noted first: should it lead elsewhere
 * by the time the watch is added, drain() finds the two apart and watches it again.
 */
static void pd__dir_watch(pd__watch_t *w, pd__dir_t *d)
{
	const char *name = d->path[0] ? d->path : "."; /* "": the folder of "file" */
	struct stat st;
	bool there = stat(name, &st) == 0;
	d->dev = there ? st.st_dev : 0;
	d->ino = there ? st.st_ino : 0;
	d->wd = inotify_add_watch(w->fd, name, PD__WATCH_EVENTS);
	d->since = w->build;
	d->trusted = false;
	d->local = d->wd >= 0 && there && pd__watch_local(name);
}

static void pd__watch_dir_len(pd__watch_t *w, const char *dir, size_t len)
{
	pd__dir_t *d = pd__dir_find(w, dir, len);
	if (d && d->wd >= 0)
		return;
	if (!d) {
		if (w->ndirs == PD__WATCH_DIRS) {
			w->blind = true; /* a folder not watched: nothing can be vouched for */
			return;
		}
		d = &w->dirs[w->ndirs];
		if (!(d->path = strndup(dir, len)))
			return;
		w->ndirs++;
	}
	pd__dir_watch(w, d);
}

void pd__watch_dir(pd__watch_t *w, const char *dir)
{
	pd__watch_dir_len(w, dir, strlen(dir));
}

/* The length of path's folder part (0 for none: the working folder, spelled ""). */
static size_t pd__dir_len(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? (size_t)(slash - path) + (slash == path) : 0;
}

void pd__watch_file(pd__watch_t *w, const char *path, bool included)
{
	pd__watch_dir_len(w, path, pd__dir_len(path));
	/* A change made through another name lands on that name's folder. */
	struct stat st;
	if (lstat(path, &st) < 0 || S_ISLNK(st.st_mode) || st.st_nlink > 1)
		if (!pd__strset_add(&w->suspects, path, strlen(path), 0, PD__WATCH_SUSPECTS))
			w->blind = true;
	if (included && !pd__strset_add(&w->includes, path, strlen(path), 0, PD__WATCH_INCLUDES))
		w->includes_full = true;
}

bool pd__watch_included(const pd__watch_t *w, const char *path)
{
	return w->includes_full || pd__strset_has(&w->includes, path, strlen(path));
}

/* Notes what one event says of a folder, when the event is about it. */
static void pd__watch_event(pd__watch_t *w, pd__dir_t *d, const struct inotify_event *ev,
                            char *path, size_t cap)
{
	if (d->wd != ev->wd || d->wd < 0)
		return;
	if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
		/* The folder went: what is in it is not known any more. */
		inotify_rm_watch(w->fd, d->wd);
		d->wd = -1;
		w->lost = true;
		return;
	}
	if (!ev->len)
		return;
	/* Named as the caller spells it: "file" in "", "/file" in "/". */
	bool bare = !d->path[0] || strcmp(d->path, "/") == 0;
	int len = snprintf(path, cap, "%s%s%s", d->path, bare ? "" : "/", ev->name);
	if (len >= (int)cap ||
	    !pd__strset_add(&w->changed, path, (size_t)len, ev->mask, PD__WATCH_CHANGES))
		w->lost = true;
}

void pd__watch_drain(pd__watch_t *w)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	char path[8192];
	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));
		if (n <= 0)
			break; /* EAGAIN: all read */
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				w->lost = true;
				continue;
			}
			/* One folder may be known by several spellings: one watch for all. */
			for (size_t i = 0; i < w->ndirs; i++)
				pd__watch_event(w, &w->dirs[i], ev, path, sizeof(path));
		}
	}
	/*
	 * A folder's path may lead to another folder now, with no event on the one watched:
	 * a symbolic link on the way moved, a parent renamed. Its watch is then no good.
	 */
	for (size_t i = 0; i < w->ndirs; i++) {
		pd__dir_t *d = &w->dirs[i];
		struct stat st;
		if (d->wd < 0 || (stat(d->path[0] ? d->path : ".", &st) == 0 &&
		                  st.st_dev == d->dev && st.st_ino == d->ino))
			continue;
		inotify_rm_watch(w->fd, d->wd);
		for (size_t j = 0; j < w->ndirs; j++) /* other spellings of that folder */
			if (j != i && w->dirs[j].wd == d->wd)
				w->dirs[j].wd = -1;
		d->wd = -1;
		w->lost = true;
	}
}

bool pd__watch_unchanged(const pd__watch_t *w, const char *path)
{
	if (w->lost || w->blind)
		return false;
	const pd__dir_t *d = pd__dir_find((pd__watch_t *)w, path, pd__dir_len(path));
	if (!d || d->wd < 0 || !d->trusted || !d->local)
		return false;
	size_t len = strlen(path);
	return !pd__strset_has(&w->changed, path, len) && !pd__strset_has(&w->suspects, path, len);
}

bool pd__watch_changes(const pd__watch_t *w, const char *const **paths, size_t *count)
{
	*paths = (const char *const *)w->changed.order;
	*count = w->changed.count;
	if (w->lost || w->blind)
		return false;
	for (size_t i = 0; i < w->ndirs; i++)
		if (w->dirs[i].wd < 0 || !w->dirs[i].trusted || !w->dirs[i].local)
			return false;
	return true;
}

void pd__watch_suspects(const pd__watch_t *w, const char *const **paths, size_t *count)
{
	*paths = (const char *const *)w->suspects.order;
	*count = w->suspects.count;
}

uint32_t pd__watch_events(const pd__watch_t *w, const char *path)
{
	size_t len = strlen(path);
	if (!w->changed.count)
		return 0;
	uint32_t i = pd__strset_slot(&w->changed, path, len);
	return w->changed.slot[i] ? w->changed.mask[i] : 0;
}

void pd__watch_begin(pd__watch_t *w)
{
	w->build++;
}

void pd__watch_forget(pd__watch_t *w)
{
	pd__strset_clear(&w->changed);
}

void pd__watch_settle(pd__watch_t *w)
{
	pd__strset_clear(&w->changed);
	w->lost = false;
	for (size_t i = 0; i < w->ndirs; i++) {
		pd__dir_t *d = &w->dirs[i];
		if (d->wd < 0) {
			/* Watched again from now: vouched for after the next build. */
			pd__dir_watch(w, d);
		} else {
			d->trusted = d->since < w->build;
		}
	}
}
