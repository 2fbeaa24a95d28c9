/* Unit tests for the inotify watch that tells which zone files may have changed (watch.c). */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "watch.h"

typedef struct fix {
	char dir[64]; /* made for the test, removed after */
	pd__watch_t *w;
	int cwd;      /* the working folder to go back to; -1 when not left */
	bool trusted; /* dir is on a file system the watch vouches for */
} fix_t;

/* A path, by value: `path_t a = at(t, "a.zone");` then a.s. */
typedef struct path {
	char s[PATH_MAX];
} path_t;

static path_t at(const fix_t *t, const char *name)
{
	path_t p;
	snprintf(p.s, sizeof(p.s), "%s/%s", t->dir, name);
	return p;
}

/* The cases that check what the watch vouches for cannot hold where it vouches for nothing. */
#define NEED_TRUST(t)                                                                              \
	do {                                                                                       \
		if (!(t)->trusted) {                                                               \
			print_message(                                                             \
			    "%s is on a file system the watch does not trust: skipped\n",          \
			    (t)->dir);                                                             \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

static int setup(void **state)
{
	fix_t *t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	strcpy(t->dir, "/tmp/pindns-watch-XXXXXX");
	t->cwd = -1;
	if (!mkdtemp(t->dir) || !(t->w = pd__watch_new())) {
		free(t);
		return -1;
	}
	t->trusted = pd__watch_local(t->dir);
	*state = t;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	fix_t *t = *state;
	if (t->cwd >= 0) {
		if (fchdir(t->cwd) < 0)
			return -1;
		close(t->cwd);
	}
	pd__watch_free(t->w);
	int ret = nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return ret;
}

static void put(const char *path, const char *text, int flags)
{
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);
	assert_true(fd >= 0);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

static void mkdir_at(const char *path)
{
	assert_int_equal(mkdir(path, 0755), 0);
}

/* Whether pd__watch_changes() lists path. */
static bool listed(const pd__watch_t *w, const char *path)
{
	const char *const *paths;
	size_t n;
	pd__watch_changes(w, &paths, &n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(paths[i], path) == 0)
			return true;
	return false;
}

/* The watch's word that it knows every change (and how many paths it names). */
static bool complete(const pd__watch_t *w, size_t *count)
{
	const char *const *paths;
	size_t n;
	bool ok = pd__watch_changes(w, &paths, &n);
	if (count)
		*count = n;
	return ok;
}

/* What a build that looks at every zone's files does with the watch, as zonesrc.c does it. */
static void full_build(fix_t *t)
{
	pd__watch_drain(t->w);
	pd__watch_begin(t->w);
	pd__watch_settle(t->w);
}

static void new_folder_is_fresh_until_settled(void **state)
{
	fix_t *t = *state;
	NEED_TRUST(t);
	path_t a = at(t, "a.zone"), b = at(t, "b.zone"), sub = at(t, "sub"),
	       c = at(t, "sub/c.zone");
	put(a.s, "a\n", O_TRUNC);
	put(b.s, "b\n", O_TRUNC);
	mkdir_at(sub.s);
	put(c.s, "c\n", O_TRUNC);

	pd__watch_file(t->w, a.s, false);
	pd__watch_dir(t->w, sub.s);
	/* The files may have changed before the folder was watched. */
	assert_false(pd__watch_unchanged(t->w, a.s));
	assert_false(pd__watch_unchanged(t->w, b.s));
	assert_false(pd__watch_unchanged(t->w, c.s));
	assert_false(complete(t->w, NULL));
	pd__watch_drain(t->w);
	assert_false(pd__watch_unchanged(t->w, a.s));
	/* Only a build begun after the watch vouches for the folder. */
	pd__watch_settle(t->w);
	assert_false(pd__watch_unchanged(t->w, a.s));
	pd__watch_forget(t->w);
	assert_false(pd__watch_unchanged(t->w, a.s));
	assert_false(complete(t->w, NULL));

	full_build(t);
	pd__watch_drain(t->w);
	size_t n = 1;
	assert_true(complete(t->w, &n));
	assert_int_equal(n, 0);
	/* The folder is vouched for: every file in it, not only the one named. */
	assert_true(pd__watch_unchanged(t->w, a.s));
	assert_true(pd__watch_unchanged(t->w, b.s));
	assert_true(pd__watch_unchanged(t->w, c.s));
	assert_int_equal(pd__watch_events(t->w, a.s), 0);

	/* A folder first watched during a build (its file read before) waits for the next. */
	path_t sub2 = at(t, "sub2"), d = at(t, "sub2/d.zone");
	mkdir_at(sub2.s);
	put(d.s, "d\n", O_TRUNC);
	pd__watch_drain(t->w);
	pd__watch_begin(t->w);
	pd__watch_file(t->w, d.s, false);
	assert_false(pd__watch_unchanged(t->w, d.s));
	assert_true(pd__watch_unchanged(t->w, a.s));
	pd__watch_settle(t->w);
	assert_false(pd__watch_unchanged(t->w, d.s));
	assert_false(complete(t->w, NULL));
	assert_true(pd__watch_unchanged(t->w, a.s));
	full_build(t);
	assert_true(pd__watch_unchanged(t->w, d.s));
	assert_true(complete(t->w, NULL));
}

enum change { WRITE, APPEND, TOUCH, RENAME_OVER, DELETE };

static void change(const char *path, enum change how)
{
	char tmp[PATH_MAX];
	switch (how) {
	case WRITE:
		put(path, "rewritten\n", O_TRUNC);
		break;
	case APPEND:
		put(path, "more\n", O_APPEND);
		break;
	case TOUCH:
		assert_int_equal(utimensat(AT_FDCWD, path, NULL, 0), 0);
		break;
	case RENAME_OVER:
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		put(tmp, "replaced\n", O_TRUNC);
		assert_int_equal(rename(tmp, path), 0);
		break;
	case DELETE:
		assert_int_equal(unlink(path), 0);
		break;
	}
}

static void each_change_names_the_file(void **state)
{
	fix_t *t = *state;
	NEED_TRUST(t);
	static const struct {
		enum change how;
		const char *what;
		uint32_t want, not ;
	} cases[] = {
	    {WRITE, "write in place", IN_MODIFY | IN_CLOSE_WRITE, IN_DELETE | IN_MOVED_TO},
	    {APPEND, "append", IN_MODIFY | IN_CLOSE_WRITE, IN_DELETE | IN_MOVED_TO},
	    {TOUCH, "touch", IN_ATTRIB, IN_MODIFY | IN_DELETE},
	    {RENAME_OVER, "rename over", IN_MOVED_TO, IN_DELETE},
	    {DELETE, "delete", IN_DELETE, IN_MOVED_TO | IN_MODIFY},
	};
	path_t a = at(t, "a.zone"), b = at(t, "b.zone");
	put(b.s, "b\n", O_TRUNC);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("%s\n", cases[i].what);
		put(a.s, "a\n", O_TRUNC);
		pd__watch_file(t->w, a.s, false);
		pd__watch_file(t->w, b.s, false);
		full_build(t); /* the first time: a build begun after the watch */
		assert_true(pd__watch_unchanged(t->w, a.s));
		assert_true(pd__watch_unchanged(t->w, b.s));

		change(a.s, cases[i].how);
		pd__watch_drain(t->w);
		size_t n = 0;
		assert_true(complete(t->w, &n));
		assert_true(n >= 1);
		assert_false(pd__watch_unchanged(t->w, a.s));
		assert_true(listed(t->w, a.s));
		uint32_t ev = pd__watch_events(t->w, a.s);
		assert_int_equal(ev & cases[i].want, cases[i].want);
		assert_int_equal(ev & cases[i].not, 0);
		/* The other file of the folder is not touched by it. */
		assert_true(pd__watch_unchanged(t->w, b.s));
		assert_false(listed(t->w, b.s));
		assert_int_equal(pd__watch_events(t->w, b.s), 0);

		/* A full build, or a reload that read again what the events named. */
		if (i % 2)
			pd__watch_forget(t->w);
		else
			full_build(t);
		assert_true(complete(t->w, &n));
		assert_int_equal(n, 0);
		assert_int_equal(pd__watch_events(t->w, a.s), 0);
		assert_true(pd__watch_unchanged(t->w, a.s));
		assert_true(pd__watch_unchanged(t->w, b.s));
	}
}

static void unwatched_folder_is_never_unchanged(void **state)
{
	fix_t *t = *state;
	NEED_TRUST(t);
	path_t a = at(t, "a.zone"), sub = at(t, "sub"), c = at(t, "sub/c.zone");
	put(a.s, "a\n", O_TRUNC);
	mkdir_at(sub.s);
	put(c.s, "c\n", O_TRUNC);
	pd__watch_file(t->w, a.s, false);
	for (int i = 0; i < 2; i++) {
		full_build(t);
		assert_true(pd__watch_unchanged(t->w, a.s));
		/* A subfolder of a watched one is not watched. */
		assert_false(pd__watch_unchanged(t->w, c.s));
		assert_false(pd__watch_unchanged(t->w, "/nonexistent/x.zone"));
		assert_false(pd__watch_unchanged(t->w, "x.zone"));
	}
}

static void links_are_never_unchanged(void **state)
{
	fix_t *t = *state;
	NEED_TRUST(t);
	path_t plain = at(t, "plain.zone"), target = at(t, "target.zone"), sym = at(t, "sym.zone"),
	       hard = at(t, "hard.zone"), other = at(t, "other"), hard2 = at(t, "other/hard2.zone");
	put(plain.s, "p\n", O_TRUNC);
	put(target.s, "t\n", O_TRUNC);
	assert_int_equal(symlink(target.s, sym.s), 0);
	put(hard.s, "h\n", O_TRUNC);
	mkdir_at(other.s);
	assert_int_equal(link(hard.s, hard2.s), 0);

	pd__watch_file(t->w, plain.s, false);
	pd__watch_file(t->w, sym.s, false);
	pd__watch_file(t->w, hard.s, false);
	full_build(t);
	assert_true(pd__watch_unchanged(t->w, plain.s));
	assert_false(pd__watch_unchanged(t->w, sym.s));
	assert_false(pd__watch_unchanged(t->w, hard.s));

	/* A write through the other name lands on a folder not watched: no event says it. */
	put(hard2.s, "changed\n", O_APPEND);
	pd__watch_drain(t->w);
	assert_int_equal(pd__watch_events(t->w, hard.s), 0);
	assert_false(pd__watch_unchanged(t->w, hard.s));
	full_build(t);
	full_build(t);
	assert_false(pd__watch_unchanged(t->w, sym.s));
	assert_false(pd__watch_unchanged(t->w, hard.s));
	assert_true(pd__watch_unchanged(t->w, plain.s));
}

static void included_files(void **state)
{
	fix_t *t = *state;
	path_t a = at(t, "a.zone"), inc = at(t, "a.inc"), other = at(t, "other.inc");
	put(a.s, "a\n", O_TRUNC);
	put(inc.s, "i\n", O_TRUNC);
	assert_false(pd__watch_included(t->w, inc.s));
	pd__watch_file(t->w, a.s, false);
	pd__watch_file(t->w, inc.s, true);
	assert_true(pd__watch_included(t->w, inc.s));
	assert_false(pd__watch_included(t->w, a.s));
	assert_false(pd__watch_included(t->w, other.s));
	full_build(t);
	assert_true(pd__watch_included(t->w, inc.s));
}

/* A watch on sub (holding a.zone) and on the test's folder (holding b.zone), trusted. */
static void watch_sub(fix_t *t, const char *a, const char *b)
{
	path_t sub = at(t, "sub");
	mkdir_at(sub.s);
	put(a, "a\n", O_TRUNC);
	put(b, "b\n", O_TRUNC);
	pd__watch_file(t->w, a, false);
	pd__watch_file(t->w, b, false);
	full_build(t);
	pd__watch_drain(t->w);
	assert_true(complete(t->w, NULL));
	assert_true(pd__watch_unchanged(t->w, a));
	assert_true(pd__watch_unchanged(t->w, b));
}

/* A's folder is watched again, but vouched for only after one more full build. */
static void rewatched_fresh(fix_t *t, const char *a, const char *b)
{
	assert_false(complete(t->w, NULL)); /* a folder not vouched for yet */
	assert_false(pd__watch_unchanged(t->w, a));
	assert_true(pd__watch_unchanged(t->w, b));
	full_build(t);
	assert_true(complete(t->w, NULL));
	assert_true(pd__watch_unchanged(t->w, a));
	put(a, "again\n", O_APPEND);
	pd__watch_drain(t->w);
	assert_true(complete(t->w, NULL));
	assert_false(pd__watch_unchanged(t->w, a));
	assert_true(pd__watch_events(t->w, a) & IN_MODIFY);
	assert_true(pd__watch_unchanged(t->w, b));
}

static void folder_removed(void **state)
{
	fix_t *t = *state;
	NEED_TRUST(t);
	path_t sub = at(t, "sub"), a = at(t, "sub/a.zone"), b = at(t, "b.zone");
	watch_sub(t, a.s, b.s);
	assert_int_equal(unlink(a.s), 0);
	assert_int_equal(rmdir(sub.s), 0);
	pd__watch_drain(t->w);
	/* Lost: nothing is vouched for, in any folder. */
	assert_false(complete(t->w, NULL));
	assert_false(pd__watch_unchanged(t->w, a.s));
	assert_false(pd__watch_unchanged(t->w, b.s));

	/* Back before the full build that follows is done: its settle watches it again. */
	pd__watch_begin(t->w);
	mkdir_at(sub.s);
	put(a.s, "new\n", O_TRUNC);
	pd__watch_settle(t->w);
	rewatched_fresh(t, a.s, b.s);
}

static void folder_renamed(void **state)
{
	fix_t *t = *state;
	NEED_TRUST(t);
	path_t sub = at(t, "sub"), moved = at(t, "moved"), a = at(t, "sub/a.zone"),
	       b = at(t, "b.zone");
	watch_sub(t, a.s, b.s);
	assert_int_equal(rename(sub.s, moved.s), 0);
	pd__watch_drain(t->w);
	assert_false(complete(t->w, NULL));
	assert_false(pd__watch_unchanged(t->w, a.s));
	assert_false(pd__watch_unchanged(t->w, b.s));

	/* Built while the folder is gone: it cannot be watched yet. */
	full_build(t);
	assert_false(complete(t->w, NULL));
	assert_false(pd__watch_unchanged(t->w, a.s));
	assert_true(pd__watch_unchanged(t->w, b.s));
	full_build(t);
	assert_false(pd__watch_unchanged(t->w, a.s));

	/* Back under its name: the next build watches it, and the one after trusts it. */
	assert_int_equal(rename(moved.s, sub.s), 0);
	full_build(t);
	rewatched_fresh(t, a.s, b.s);
}

static void too_many_changes(void **state)
{
	fix_t *t = *state;
	NEED_TRUST(t);
	path_t a = at(t, "a.zone"), b = at(t, "b.zone");
	put(a.s, "a\n", O_TRUNC);
	put(b.s, "b\n", O_TRUNC);
	pd__watch_file(t->w, a.s, false);
	full_build(t);
	assert_true(pd__watch_unchanged(t->w, a.s));

	/* Drained as it goes, so the kernel's queue never overflows: the watch's own table does. */
	char name[32];
	size_t n = 0;
	for (int i = 0; i < 4100; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		path_t p = at(t, name);
		int fd = open(p.s, O_WRONLY | O_CREAT | O_EXCL, 0644);
		assert_true(fd >= 0);
		close(fd);
		if (i % 500 == 499)
			pd__watch_drain(t->w);
		if (i == 3999) {
			pd__watch_drain(t->w);
			assert_true(complete(t->w, &n));
			assert_int_equal(n, 4000);
			assert_true(pd__watch_unchanged(t->w, a.s));
		}
	}
	pd__watch_drain(t->w);
	assert_false(complete(t->w, NULL));
	assert_false(pd__watch_unchanged(t->w, a.s));
	assert_false(pd__watch_unchanged(t->w, b.s));

	/* The build looks at every file; after it all is trusted again. */
	pd__watch_begin(t->w);
	pd__watch_settle(t->w);
	assert_true(complete(t->w, &n));
	assert_int_equal(n, 0);
	assert_true(pd__watch_unchanged(t->w, a.s));
}

/* Paths with no folder part are in the working folder, like "./x" but spelled without it. */
static void relative_paths(void **state)
{
	fix_t *t = *state;
	NEED_TRUST(t);
	assert_true((t->cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0);
	assert_int_equal(chdir(t->dir), 0);
	put("a.zone", "a\n", O_TRUNC);
	put("b.zone", "b\n", O_TRUNC);
	put("c.zone", "c\n", O_TRUNC);
	pd__watch_file(t->w, "a.zone", false);
	pd__watch_file(t->w, "./b.zone", false);
	full_build(t);
	assert_true(pd__watch_unchanged(t->w, "a.zone"));
	assert_true(pd__watch_unchanged(t->w, "./b.zone"));

	change("a.zone", WRITE);
	change("b.zone", WRITE);
	pd__watch_drain(t->w);
	assert_true(complete(t->w, NULL));
	assert_false(pd__watch_unchanged(t->w, "a.zone"));
	assert_true(listed(t->w, "a.zone"));
	assert_true(pd__watch_events(t->w, "a.zone") & IN_MODIFY);
	assert_false(pd__watch_unchanged(t->w, "./b.zone"));
	assert_true(listed(t->w, "./b.zone"));
	assert_true(pd__watch_events(t->w, "./b.zone") & IN_MODIFY);
	assert_true(pd__watch_unchanged(t->w, "c.zone"));
	assert_true(pd__watch_unchanged(t->w, "./c.zone"));
}

/* The folder's path names another folder now: a symbolic link moved, a parent renamed. */
static void folder_path_retargeted(void **state)
{
	fix_t *t = *state;
	NEED_TRUST(t);
	path_t v1 = at(t, "v1"), v2 = at(t, "v2"), cur = at(t, "current"), tmp = at(t, "next"),
	       a1 = at(t, "v1/a.zone"), a2 = at(t, "v2/a.zone"), a = at(t, "current/a.zone");
	mkdir_at(v1.s);
	mkdir_at(v2.s);
	put(a1.s, "one\n", O_TRUNC);
	put(a2.s, "two\n", O_TRUNC);
	assert_int_equal(symlink("v1", cur.s), 0);
	pd__watch_file(t->w, a.s, false);
	full_build(t);
	assert_true(pd__watch_unchanged(t->w, a.s));

	/* Switched as deployments do it: a new link renamed over the old. */
	assert_int_equal(symlink("v2", tmp.s), 0);
	assert_int_equal(rename(tmp.s, cur.s), 0);
	pd__watch_drain(t->w);
	assert_false(pd__watch_unchanged(t->w, a.s));
	assert_false(complete(t->w, NULL));
	full_build(t);
	assert_false(pd__watch_unchanged(t->w, a.s));
	full_build(t);
	assert_true(pd__watch_unchanged(t->w, a.s));
	/* Watched where the path leads now. */
	put(a2.s, "changed\n", O_APPEND);
	pd__watch_drain(t->w);
	assert_false(pd__watch_unchanged(t->w, a.s));
	assert_true(listed(t->w, a.s));

	/* A parent of the folder renamed and another put in its place. */
	path_t p = at(t, "p"), zones = at(t, "p/zones"), z = at(t, "p/zones/z.zone"),
	       old = at(t, "p.old");
	mkdir_at(p.s);
	mkdir_at(zones.s);
	put(z.s, "z\n", O_TRUNC);
	pd__watch_file(t->w, z.s, false);
	full_build(t);
	assert_true(pd__watch_unchanged(t->w, z.s));
	assert_int_equal(rename(p.s, old.s), 0);
	mkdir_at(p.s);
	mkdir_at(zones.s);
	put(z.s, "another\n", O_TRUNC);
	pd__watch_drain(t->w);
	assert_false(pd__watch_unchanged(t->w, z.s));
	assert_false(complete(t->w, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(new_folder_is_fresh_until_settled, setup, teardown),
	    cmocka_unit_test_setup_teardown(each_change_names_the_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(unwatched_folder_is_never_unchanged, setup, teardown),
	    cmocka_unit_test_setup_teardown(links_are_never_unchanged, setup, teardown),
	    cmocka_unit_test_setup_teardown(included_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(folder_removed, setup, teardown),
	    cmocka_unit_test_setup_teardown(folder_renamed, setup, teardown),
	    cmocka_unit_test_setup_teardown(too_many_changes, setup, teardown),
	    cmocka_unit_test_setup_teardown(relative_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(folder_path_retargeted, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
