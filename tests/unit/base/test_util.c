/* Unit tests for the shared helpers (lib/base/util.c): rcode names, Unix socket
 * addresses, the folders of runtime files, the pid file and the sockets given to the
 * service user. */
#include "testutil.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* A user and a group that are not ours (65534 is nobody, unless we are nobody). */
static uid_t other_uid(void)
{
	return geteuid() == 65534 ? 65533 : 65534;
}

static gid_t other_gid(void)
{
	return getegid() == 65533 ? 65532 : 65533;
}

static void the_folder_goes_to_the_service_user_its_parents_do_not(void **state)
{
	char file[PATH_MAX], dir[PATH_MAX], parent[PATH_MAX], err[PATH_MAX * 3] = "";
	char want[PATH_MAX * 3];
	struct stat st;
	path_in(file, state, "run/pindns/handoff.sock");
	path_in(dir, state, "run/pindns");
	path_in(parent, state, "run");
	int r =
	    pd_make_file_dir("handoff socket", file, other_uid(), other_gid(), err, sizeof(err));
	assert_int_equal(mode_of(dir, &st), 0755);
	if (geteuid() == 0) {
		assert_int_equal(r, 0);
		assert_int_equal(st.st_uid, other_uid());
		assert_int_equal(st.st_gid, other_gid());
	} else {
		/* Only root may give a folder away: that it was tried shows as the refusal. */
		assert_int_equal(r, -EPERM);
		snprintf(want, sizeof(want), "cannot create %s for the handoff socket %s: %s", dir,
		         file, strerror(EPERM));
		assert_string_equal(err, want);
		assert_int_equal(st.st_uid, geteuid());
	}
	assert_int_equal(mode_of(parent, &st), 0755);
	assert_int_equal(st.st_uid, geteuid());
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

/*
 * Runs check(dir) in a child process and returns its exit status. As root the child first
 * becomes uid and gid 65534 (with no supplementary groups): root may write anywhere, so a
 * check of what another user may not do needs another user. check returns 0 when all it
 * checks holds; it cannot use cmocka's asserts, which would jump back into the test runner
 * of the child.
 */
static int in_child(int (*check)(const char *dir), const char *dir)
{
	int status;
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)) {
			fprintf(stderr, "cannot become uid 65534: %s\n", strerror(errno));
			_exit(2);
		}
		if (geteuid() == 0) {
			fprintf(stderr, "still root in the child\n");
			_exit(2);
		}
		_exit(check(dir));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* The child of a_folder_not_ours_to_make_is_refused: dir holds a folder "locked" it may
 * not write to. */
static int refused_in(const char *dir)
{
	char file[PATH_MAX], locked[PATH_MAX], err[PATH_MAX * 3] = "", want[PATH_MAX * 3];
	snprintf(locked, sizeof(locked), "%s/locked", dir);
	snprintf(file, sizeof(file), "%s/pindns/control.sock", locked);
	int r = pd_make_file_dir("control socket", file, (uid_t)-1, (gid_t)-1, err, sizeof(err));
	snprintf(want, sizeof(want), "cannot create %s/pindns for the control socket %s: %s",
	         locked, file, strerror(EACCES));
	if (r != -EACCES || strcmp(err, want) != 0) {
		fprintf(stderr, "returned %d (%d expected), said '%s'\nnot '%s'\n", r, -EACCES, err,
		        want);
		return 1;
	}
	return 0;
}

static void a_folder_not_ours_to_make_is_refused(void **state)
{
	char locked[PATH_MAX];
	/* The child, 65534 when we are root, must reach into the scratch folder. */
	assert_int_equal(chmod(*state, 0755), 0);
	path_in(locked, state, "locked");
	assert_int_equal(mkdir(locked, 0555), 0);
	assert_int_equal(in_child(refused_in, *state), 0);
	/* And the refusal left nothing behind. */
	char made[PATH_MAX];
	path_in(made, state, "locked/pindns");
	assert_int_equal(access(made, F_OK), -1);
}

/* The text of a small file, or "" when it cannot be read. */
static const char *text_of(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void the_pid_file_is_written_and_replaced(void **state)
{
	char pid_file[PATH_MAX], want[32], err[PATH_MAX * 2] = "";
	struct stat st;
	path_in(pid_file, state, "pindnsd.pid");
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	mode_t old = umask(022);
	assert_int_equal(pd_write_pid_file(pid_file, err, sizeof(err)), 0);
	umask(old);
	assert_string_equal(text_of(pid_file), want);
	assert_int_equal(mode_of(pid_file, &st), 0644);
	/* A longer pid file left by a predecessor is replaced, not written over in part. */
	write_text(pid_file, "12345678901234567890\n", 0644);
	assert_int_equal(pd_write_pid_file(pid_file, err, sizeof(err)), 0);
	assert_string_equal(text_of(pid_file), want);
}

static void a_link_at_the_pid_file_is_refused_and_its_target_untouched(void **state)
{
	char pid_file[PATH_MAX], target[PATH_MAX], missing[PATH_MAX];
	char err[PATH_MAX * 2] = "", want[PATH_MAX * 2];
	struct stat st;
	path_in(pid_file, state, "pindnsd.pid");
	path_in(target, state, "shadow");
	path_in(missing, state, "missing");
	write_text(target, "root:secret\n", 0600);
	/* A symbolic link to a file: neither truncated nor written. */
	assert_int_equal(symlink(target, pid_file), 0);
	assert_int_equal(pd_write_pid_file(pid_file, err, sizeof(err)), -ELOOP);
	snprintf(want, sizeof(want), "pid-file %s is a symbolic link: refusing", pid_file);
	assert_string_equal(err, want);
	assert_string_equal(text_of(target), "root:secret\n");
	assert_int_equal(mode_of(target, &st), 0600);
	/* A link to nothing: the target is not made. */
	assert_int_equal(unlink(pid_file), 0);
	assert_int_equal(symlink(missing, pid_file), 0);
	assert_int_equal(pd_write_pid_file(pid_file, err, sizeof(err)), -ELOOP);
	assert_int_equal(lstat(missing, &st), -1);
	/* A hard link: refused before anything is truncated. */
	assert_int_equal(unlink(pid_file), 0);
	assert_int_equal(link(target, pid_file), 0);
	assert_int_equal(pd_write_pid_file(pid_file, err, sizeof(err)), -EMLINK);
	snprintf(want, sizeof(want), "pid-file %s has other hard links: refusing", pid_file);
	assert_string_equal(err, want);
	assert_string_equal(text_of(target), "root:secret\n");
	/* A FIFO: refused at once, not waited on for a reader. */
	assert_int_equal(unlink(pid_file), 0);
	assert_int_equal(mkfifo(pid_file, 0600), 0);
	assert_int_equal(pd_write_pid_file(pid_file, err, sizeof(err)), -ENXIO);
	snprintf(want, sizeof(want), "pid-file %s is not a regular file: refusing", pid_file);
	assert_string_equal(err, want);
}

static void a_socket_is_given_away_a_link_in_its_place_is_not(void **state)
{
	char sock[PATH_MAX], other[PATH_MAX], target[PATH_MAX], err[PATH_MAX * 3] = "";
	char want[PATH_MAX * 3];
	struct stat st;
	path_in(sock, state, "control.sock");
	path_in(other, state, "other.sock");
	path_in(target, state, "shadow");
	/* As root the socket really changes hands; otherwise giving it to ourselves must
	 * still succeed. */
	uid_t uid = geteuid() == 0 ? other_uid() : geteuid();
	gid_t gid = geteuid() == 0 ? other_gid() : getegid();
	int fd = pd_unix_listen("control socket", sock, 1, err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(pd_give_socket("control socket", sock, uid, gid, err, sizeof(err)), 0);
	assert_int_equal(lstat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, uid);
	assert_int_equal(st.st_gid, gid);
	close(fd);
	assert_int_equal(unlink(sock), 0);

	/* A symbolic link put in the socket's place: refused, its target keeps its owner. */
	write_text(target, "root:secret\n", 0600);
	assert_int_equal(symlink(target, sock), 0);
	assert_int_equal(pd_give_socket("control socket", sock, uid, gid, err, sizeof(err)),
	                 -ELOOP);
	snprintf(want, sizeof(want),
	         "control socket %s is a symbolic link: refusing to give it away", sock);
	assert_string_equal(err, want);
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(st.st_gid, getegid());
	assert_int_equal(unlink(sock), 0);
	/* A hard link to a file. */
	assert_int_equal(link(target, sock), 0);
	assert_int_equal(pd_give_socket("control socket", sock, uid, gid, err, sizeof(err)),
	                 -ENOTSOCK);
	assert_int_equal(unlink(sock), 0);
	/* A hard link to another socket. */
	fd = pd_unix_listen("handoff socket", other, 1, err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(link(other, sock), 0);
	assert_int_equal(pd_give_socket("control socket", sock, uid, gid, err, sizeof(err)),
	                 -EMLINK);
	assert_int_equal(stat(other, &st), 0);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(unlink(sock), 0);
	/* As root: a socket that is someone else's (theirs to give, not ours). */
	if (geteuid() == 0) {
		assert_int_equal(chown(other, other_uid(), other_gid()), 0);
		assert_int_equal(pd_give_socket("handoff socket", other, 0, 0, err, sizeof(err)),
		                 -EPERM);
		assert_int_equal(stat(other, &st), 0);
		assert_int_equal(st.st_uid, other_uid());
	}
	close(fd);
	assert_true(stat(target, &st) == 0 && st.st_uid == geteuid());
	assert_string_equal(text_of(target), "root:secret\n");
}

static void rcodes_have_one_name_each(void **state)
{
	assert_string_equal(pd_rcode_name(0), "NOERROR");
	assert_string_equal(pd_rcode_name(3), "NXDOMAIN");
	assert_string_equal(pd_rcode_name(5), "REFUSED");
	assert_string_equal(pd_rcode_name(PD_RCODE_NAMED - 1), "NOTZONE");
	assert_string_equal(pd_rcode_name(PD_RCODE_NAMED), "RCODE11");
	assert_string_equal(pd_rcode_name(15), "RCODE15");
	assert_null(pd_rcode_name(16)); /* BADVERS is no header rcode */
}

static void a_unix_address_fits_or_is_refused(void **state)
{
	struct sockaddr_un sa;
	char path[sizeof(sa.sun_path) + 1];
	memset(&sa, 0x55, sizeof(sa));
	assert_int_equal(pd_unix_addr(&sa, "/run/pindns/control.sock"), 0);
	assert_int_equal(sa.sun_family, AF_UNIX);
	assert_string_equal(sa.sun_path, "/run/pindns/control.sock");
	for (size_t i = strlen(sa.sun_path); i < sizeof(sa.sun_path); i++)
		assert_int_equal(sa.sun_path[i], 0);
	/* The longest that fits leaves room for the NUL; one more does not fit. */
	memset(path, 'a', sizeof(path));
	path[sizeof(sa.sun_path) - 1] = '\0';
	assert_int_equal(pd_unix_addr(&sa, path), 0);
	path[sizeof(sa.sun_path) - 1] = 'a';
	path[sizeof(sa.sun_path)] = '\0';
	assert_int_equal(pd_unix_addr(&sa, path), -ENAMETOOLONG);
	char err[sizeof(path) + 64] = "", want[sizeof(err)];
	assert_int_equal(pd_unix_listen("control socket", path, 1, err, sizeof(err)),
	                 -ENAMETOOLONG);
	snprintf(want, sizeof(want), "control socket %s: path too long", path);
	assert_string_equal(err, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rcodes_have_one_name_each),
	    cmocka_unit_test(a_unix_address_fits_or_is_refused),
	    cmocka_unit_test_setup_teardown(missing_folders_are_made_0755_whatever_the_umask, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(the_folder_goes_to_the_service_user_its_parents_do_not,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(an_existing_folder_is_left_as_it_is, setup, teardown),
	    cmocka_unit_test_setup_teardown(errors_name_the_folder_the_file_and_why, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(a_folder_not_ours_to_make_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(the_pid_file_is_written_and_replaced, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        a_link_at_the_pid_file_is_refused_and_its_target_untouched, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_socket_is_given_away_a_link_in_its_place_is_not,
	                                    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
