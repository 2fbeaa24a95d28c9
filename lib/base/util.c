/* Bounded text building, rcode names, Unix socket addresses and listeners, the folders of
 * runtime files and the pid file, shared by the server shell. */
#define _GNU_SOURCE
#include "pindns/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

void pd_buf_printf(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
	if (*n >= cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(buf + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (k > 0)
		*n = *n + (size_t)k < cap ? *n + (size_t)k : cap - 1;
}

const char *pd_rcode_name(unsigned rcode)
{
	/* The one table: pindnsctl's stats, the metrics and pindns-load print these. */
	static const char *const names[16] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
	                                      "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
	                                      "NXRRSET", "NOTAUTH", "NOTZONE",  "RCODE11",
	                                      "RCODE12", "RCODE13", "RCODE14",  "RCODE15"};
	return rcode < 16 ? names[rcode] : NULL;
}

int pd_unix_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* Room for the NUL too: a path filling sun_path exactly is not portable. */
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

int pd_unix_listen(const char *what, const char *path, int backlog, char *err, size_t cap)
{
	struct sockaddr_un sa;
	int ret = pd_unix_addr(&sa, path);
	if (ret < 0) {
		snprintf(err, cap, "%s %s: path too long", what, path);
		return ret;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/*
	 * Run as root, in a folder the service user may write to: nothing here may follow a
	 * symbolic link put there. A file left by a crashed predecessor would make bind fail,
	 * so it is replaced; unlink removes a link, not its target. bind makes a new file and
	 * fails on anything already at path, a link included. The mode comes from the umask
	 * at creation, because there is no safe way to set it after: chmod follows a link
	 * put in place of the socket meanwhile, fchmod on a socket's fd changes the socket
	 * and not its file, and Linux has no fchmodat(AT_SYMLINK_NOFOLLOW) before 6.6
	 * (glibc's stand-in goes through /proc, which a minimal chroot may lack).
	 */
	unlink(path);
	mode_t old = umask(0177);
	int b = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (b < 0 || listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:;
	int e = errno;
	snprintf(err, cap, "%s %s: %s", what, path, strerror(e));
	if (fd >= 0)
		close(fd);
	return -e;
}

int pd_give_socket(const char *what, const char *path, uid_t uid, gid_t gid, char *err, size_t cap)
{
	struct stat st;
	const char *why;
	int e;
	/*
	 * By descriptor, so that what is checked is what is chowned. O_PATH with O_NOFOLLOW
	 * opens a symbolic link itself: it is then refused below, never followed. A hard link
	 * to a file of root's has more than one link, and a file of the service user's is
	 * not ours; our socket, just bound, is neither.
	 */
	int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		goto fail;
	if (S_ISLNK(st.st_mode)) {
		why = "is a symbolic link";
		e = ELOOP;
	} else if (!S_ISSOCK(st.st_mode)) {
		why = "is not a socket";
		e = ENOTSOCK;
	} else if (st.st_nlink != 1) {
		why = "has other hard links";
		e = EMLINK;
	} else if (st.st_uid != geteuid()) {
		why = "is not ours";
		e = EPERM;
	} else {
		if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0)
			goto fail;
		close(fd);
		return 0;
	}
	snprintf(err, cap, "%s %s %s: refusing to give it away", what, path, why);
	close(fd);
	return -e;
fail:
	e = errno;
	snprintf(err, cap, "%s %s: %s", what, path, strerror(e));
	if (fd >= 0)
		close(fd);
	return -e;
}

int pd_write_pid_file(const char *path, char *err, size_t cap)
{
	struct stat st;
	char text[32];
	int e, n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	/*
	 * Run as root, in a folder the service user may write to (during a takeover the
	 * previous daemon runs there as it): a link put at path must not make us truncate
	 * or write its target. O_NOFOLLOW refuses a symbolic link; O_NONBLOCK makes a FIFO
	 * fail (ENXIO) or open at once instead of waiting for a reader. The file is only
	 * truncated once fstat has shown it to be a regular file with no other hard link.
	 */
	int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
	if (fd < 0) {
		e = errno;
		if (e == ELOOP)
			snprintf(err, cap, "pid-file %s is a symbolic link: refusing", path);
		else if (e == ENXIO)
			snprintf(err, cap, "pid-file %s is not a regular file: refusing", path);
		else
			snprintf(err, cap, "cannot write pid-file %s: %s", path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		snprintf(err, cap, "pid-file %s %s: refusing", path,
		         S_ISREG(st.st_mode) ? "has other hard links" : "is not a regular file");
		close(fd);
		return S_ISREG(st.st_mode) ? -EMLINK : -EINVAL;
	}
	if (ftruncate(fd, 0) < 0)
		goto fail;
	for (int off = 0; off < n;) {
		ssize_t w = write(fd, text + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		off += (int)w;
	}
	e = close(fd);
	fd = -1;
	if (e < 0)
		goto fail;
	return 0;
fail:
	e = errno;
	snprintf(err, cap, "cannot write pid-file %s: %s", path, strerror(e));
	if (fd >= 0)
		close(fd);
	return -e;
}

int pd_make_file_dir(const char *what, const char *file, uid_t uid, gid_t gid, char *err,
                     size_t cap)
{
	char dir[PATH_MAX];
	struct stat st;
	mode_t old_umask;
	int fd = -1, r, e;
	size_t len = strlen(file);
	if (len >= sizeof(dir)) {
		snprintf(err, cap, "%s %s: path too long", what, file);
		return -ENAMETOOLONG;
	}
	memcpy(dir, file, len + 1);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return 0; /* in the working folder, which exists */
	while (slash > dir && slash[-1] == '/')
		slash--;
	if (slash == dir)
		return 0; /* in / */
	*slash = '\0';
	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		errno = ENOTDIR;
		goto fail;
	}
	if (errno != ENOENT)
		goto fail;

	/* Exactly 0755 whatever the umask we were started with: never writable by others. */
	old_umask = umask(022);
	r = 0;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/' || p[-1] == '/')
			continue;
		*p = '\0'; /* left cut on failure, so that the error names this parent */
		r = mkdir(dir, 0755);
		if (r < 0 && errno != EEXIST)
			break;
		*p = '/';
		r = 0;
	}
	if (r == 0)
		r = mkdir(dir, 0755);
	e = errno;
	umask(old_umask);
	if (r < 0) {
		/* Made meanwhile by someone else: theirs, so it is left alone too. */
		if (e == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		errno = e;
		goto fail;
	}
	if (uid == (uid_t)-1)
		return 0;
	/* By descriptor, and only the folder we just made: should a folder above be writable
	 * by others, a symbolic link or their folder put in its place is not chowned. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		goto fail;
	if (st.st_uid != geteuid()) {
		errno = EPERM;
		goto fail;
	}
	if (fchown(fd, uid, gid) < 0)
		goto fail;
	close(fd);
	return 0;
fail:
	e = errno;
	snprintf(err, cap, "cannot create %s for the %s %s: %s", dir, what, file, strerror(e));
	if (fd >= 0)
		close(fd);
	return -e;
}
