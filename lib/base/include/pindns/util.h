/* Small helpers the server shell shares: bounded text building, rcode names, Unix socket
 * addresses and listeners, the folders of runtime files and the pid file. */
#pragma once

#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>

/**
 * Appends printf-style text at buf + *n, never writing past cap (the text is cut
 * short instead), and advances *n.
 */
void pd_buf_printf(char *buf, size_t cap, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Rcodes below this have a mnemonic; the rest of the header's 16 are unassigned. */
#define PD_RCODE_NAMED 11

/**
 * The mnemonic of a header rcode: "NOERROR" to "NOTZONE", "RCODE11" to "RCODE15" for the
 * unassigned ones; NULL above 15 (the header holds 4 bits).
 */
const char *pd_rcode_name(unsigned rcode);

/**
 * Fills sa with the Unix socket address of path (sun_path NUL-terminated, the rest
 * zeroed). Returns 0, or -ENAMETOOLONG when path does not fit in sun_path.
 */
int pd_unix_addr(struct sockaddr_un *sa, const char *path);

/**
 * Listens on a Unix stream socket at path, mode 0600, replacing a stale file left by a
 * previous process. Returns the fd, or -errno with "what: path: why" in err.
 */
int pd_unix_listen(const char *what, const char *path, int backlog, char *err, size_t cap);

/**
 * Gives the socket file at path, just made by pd_unix_listen, to uid:gid. Refuses
 * (changing nothing) anything but a socket of ours with one link: a symbolic link,
 * another file or a hard link put in its place by whoever may write to its folder.
 * Returns 0, or -errno with "what path: why" in err.
 */
int pd_give_socket(const char *what, const char *path, uid_t uid, gid_t gid, char *err, size_t cap);

/**
 * Writes the pid of this process to path, mode 0644, replacing what a previous process
 * wrote there. Refuses (writing nothing) a symbolic link, a hard link or anything but a
 * regular file at path: its folder may belong to the service user. Returns 0, or -errno
 * with "pid-file path: why" in err.
 */
int pd_write_pid_file(const char *path, char *err, size_t cap);

/**
 * Makes the folder that is to hold file (a socket or the pid file) when it is missing:
 * without systemd's tmpfiles nothing makes /run/pindns. The folder is made mode 0755 and,
 * unless uid is (uid_t)-1, given to uid:gid, so that the service user can remove its own
 * files at stop; missing folders above it are made 0755 and stay ours. An existing folder
 * is left as it is. Returns 0, or -errno with "cannot create DIR for the WHAT FILE: why"
 * in err ("WHAT FILE: path too long" when file is longer than any path).
 */
int pd_make_file_dir(const char *what, const char *file, uid_t uid, gid_t gid, char *err,
                     size_t cap);
