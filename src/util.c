/* Bounded text building, Unix socket listeners and the folders of runtime files, shared by
 * the server shell. */
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

int pd_unix_listen(const char *what, const char *path, int backlog, char *err, size_t cap)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, cap, "%s %s: path too long", what, path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* A file left by a crashed predecessor would make bind fail: replace it. */
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
