/* Small helpers the server shell shares: bounded text building, Unix socket listeners. */
#pragma once

#include <stddef.h>

/**
 * Appends printf-style text at buf + *n, never writing past cap (the text is cut
 * short instead), and advances *n.
 */
void pd_buf_printf(char *buf, size_t cap, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/**
 * Listens on a Unix stream socket at path, mode 0600, replacing a stale file left by a
 * previous process. Returns the fd, or -errno with "what: path: why" in err.
 */
int pd_unix_listen(const char *what, const char *path, int backlog, char *err, size_t cap);
