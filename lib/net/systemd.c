/* sd_notify and sd_listen_fds, by their documented protocols: no libsystemd needed. */
#define _GNU_SOURCE
#include "pindns/systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pindns/util.h"

#define PD_SD_LISTEN_FDS_START 3

int pd_systemd_listen_fds(int *fds, int cap)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	int count = 0;
	if (pid && n && strtol(pid, NULL, 10) == (long)getpid()) {
		long v = strtol(n, NULL, 10);
		for (long i = 0; i < v && count < cap; i++) {
			int fd = PD_SD_LISTEN_FDS_START + (int)i;
			if (fcntl(fd, F_SETFD, FD_CLOEXEC) == 0)
				fds[count++] = fd;
		}
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return count;
}

int pd_systemd_notify(const char *fmt, ...)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	char msg[512];
	va_list ap;

	if (!path || !*path)
		return 0;
	if (path[0] != '/' && path[0] != '@')
		return -EINVAL;
	int ret = pd_unix_addr(&sa, path);
	if (ret < 0)
		return ret;
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* an abstract socket */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	ret = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0 ? -errno
	                                                                                  : 0;
	close(fd);
	return ret;
}
