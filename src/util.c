/* Bounded text building and Unix socket listeners, shared by the server shell. */
#define _GNU_SOURCE
#include "pindns/util.h"

#include <errno.h>
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
