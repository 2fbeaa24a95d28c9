/* systemd's readiness notification and socket activation, spoken without libsystemd. */
#pragma once

#include <stddef.h>

/**
 * The sockets passed by socket activation (LISTEN_PID/LISTEN_FDS, starting at fd 3),
 * at most cap of them, marked close-on-exec; the variables are then unset so children
 * do not take them. Returns how many (0 when not socket-activated).
 */
int pd_systemd_listen_fds(int *fds, int cap);

/**
 * Sends a notification ("READY=1", "RELOADING=1", "STOPPING=1", "MAINPID=N", ...) to
 * $NOTIFY_SOCKET; does nothing when it is not set. Returns 0 or -errno.
 */
int pd_systemd_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
