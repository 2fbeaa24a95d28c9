/* Unit tests for the shared helpers (src/util.c): the folders of runtime files. */
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pindns/util.h"

/* A scratch folder per test, removed with everything in it. */
static int setup(void **state)
{
	char *dir = strdup("/tmp/pindns-test-util-XXXXXX");
	if (!dir || !mkdtemp(dir))
		return -1;
	*state = dir;
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
	int rc = system(cmd);
	free(*state);
	return rc == 0 ? 0 : -1;
}

static void path_in(char *out, void **state, const char *rel)
{
	snprintf(out, PATH_MAX, "%s/%s", (char *)*state, rel);
}

static mode_t mode_of(const char *path, struct stat *st)
{
	assert_int_equal(stat(path, st), 0);
	return st->st_mode & 07777;
}

static void missing_folders_are_made_0755_whatever_the_umask(void **state)
{
	char file[PATH_MAX], dir[PATH_MAX], parent[PATH_MAX], err[256] = "";
	struct stat st;
	path_in(file, state, "run/pindns/control.sock");
	path_in(dir, state, "run/pindns");
	path_in(parent, state, "run");
	mode_t old = umask(0077);
	assert_int_equal(
	    pd_make_file_dir("control socket", file, (uid_t)-1, (gid_t)-1, err, sizeof(err)), 0);
	assert_int_equal(umask(old), 0077); /* and the umask is put back */
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(mode_of(dir, &st), 0755);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(mode_of(parent, &st), 0755);
	/* A umask that would let others write gives no more than 0755 either. */
	path_in(file, state, "open/x.pid");
	path_in(dir, state, "open");
	old = umask(0);
	assert_int_equal(pd_make_file_dir("pid file", file, (uid_t)-1, (gid_t)-1, err, sizeof(err)),
	                 0);
	umask(old);
	assert_int_equal(mode_of(dir, &st), 0755);
	/* Doubled slashes are one separator. */
	path_in(file, state, "a//b//x.sock");
	assert_int_equal(
	    pd_make_file_dir("handoff socket", file, (uid_t)-1, (gid_t)-1, err, sizeof(err)), 0);
	path_in(dir, state, "a/b");
	assert_int_equal(mode_of(dir, &st), 0755);
}

static void the_folder_goes_to_the_service_user_its_parents_do_not(void **state)
{
	if (geteuid() != 0)
		skip(); /* only root gives folders away; the package test covers it too */
	char file[PATH_MAX], dir[PATH_MAX], parent[PATH_MAX], err[256] = "";
	struct stat st;
	path_in(file, state, "run/pindns/handoff.sock");
	path_in(dir, state, "run/pindns");
	path_in(parent, state, "run");
	assert_int_equal(pd_make_file_dir("handoff socket", file, 65534, 65533, err, sizeof(err)),
	                 0);
	assert_int_equal(mode_of(dir, &st), 0755);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_gid, 65533);
	assert_int_equal(mode_of(parent, &st), 0755);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, getegid());
}

static void an_existing_folder_is_left_as_it_is(void **state)
{
	char file[PATH_MAX], dir[PATH_MAX], err[256] = "";
	struct stat st;
	path_in(dir, state, "mine");
	path_in(file, state, "mine/control.sock");
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(chmod(dir, 0701), 0);
	assert_int_equal(pd_make_file_dir("control socket", file, 65534, 65534, err, sizeof(err)),
	                 0);
	assert_int_equal(mode_of(dir, &st), 0701);
	assert_int_equal(st.st_uid, geteuid());
	/* Files in the working folder or in / need no folder made. */
	assert_int_equal(pd_make_file_dir("pid file", "x.pid", 65534, 65534, err, sizeof(err)), 0);
	assert_int_equal(pd_make_file_dir("pid file", "/x.pid", 65534, 65534, err, sizeof(err)), 0);
}

static void errors_name_the_folder_the_file_and_why(void **state)
{
	char file[PATH_MAX], plain[PATH_MAX], err[PATH_MAX * 3] = "", want[PATH_MAX * 3];
	path_in(plain, state, "plain");
	FILE *f = fopen(plain, "w");
	assert_non_null(f);
	fclose(f);
	/* The folder wanted is a file. */
	path_in(file, state, "plain/control.sock");
	assert_int_equal(
	    pd_make_file_dir("control socket", file, (uid_t)-1, (gid_t)-1, err, sizeof(err)),
	    -ENOTDIR);
	snprintf(want, sizeof(want), "cannot create %s for the control socket %s: %s", plain, file,
	         strerror(ENOTDIR));
	assert_string_equal(err, want);
	/* A folder above it is a file. */
	path_in(file, state, "plain/sub/handoff.sock");
	assert_int_equal(
	    pd_make_file_dir("handoff socket", file, (uid_t)-1, (gid_t)-1, err, sizeof(err)),
	    -ENOTDIR);
	assert_non_null(strstr(err, file));
	assert_non_null(strstr(err, strerror(ENOTDIR)));
	/* Too long for any folder. */
	char *longp = malloc(PATH_MAX + 10);
	assert_non_null(longp);
	memset(longp, 'a', PATH_MAX + 9);
	longp[0] = '/';
	longp[PATH_MAX + 9] = '\0';
	assert_int_equal(
	    pd_make_file_dir("pid file", longp, (uid_t)-1, (gid_t)-1, err, sizeof(err)),
	    -ENAMETOOLONG);
	assert_non_null(strstr(err, "path too long"));
	free(longp);
}

static void a_folder_not_ours_to_make_is_refused(void **state)
{
	if (geteuid() == 0)
		skip(); /* root may write anywhere */
	char file[PATH_MAX], locked[PATH_MAX], err[PATH_MAX * 3] = "", want[PATH_MAX * 3];
	path_in(locked, state, "locked");
	assert_int_equal(mkdir(locked, 0555), 0);
	path_in(file, state, "locked/pindns/control.sock");
	assert_int_equal(
	    pd_make_file_dir("control socket", file, (uid_t)-1, (gid_t)-1, err, sizeof(err)),
	    -EACCES);
	snprintf(want, sizeof(want), "cannot create %s/pindns for the control socket %s: %s",
	         locked, file, strerror(EACCES));
	assert_string_equal(err, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(missing_folders_are_made_0755_whatever_the_umask, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(the_folder_goes_to_the_service_user_its_parents_do_not,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(an_existing_folder_is_left_as_it_is, setup, teardown),
	    cmocka_unit_test_setup_teardown(errors_name_the_folder_the_file_and_why, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(a_folder_not_ours_to_make_is_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
