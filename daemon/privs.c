/* Privilege drop: setgroups, setgid, setuid, no_new_privs, and a check it held. */
#define _GNU_SOURCE
#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "pindns/sanitizer.h"

int pd_privileges_lookup(const char *user, const char *group, uid_t *uid, gid_t *gid, char *err,
                         size_t cap)
{
	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (geteuid() != 0 || strcmp(user, "root") == 0)
		return 0;
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		snprintf(err, cap,
		         "user '%s' does not exist: create it (useradd --system %s), set another "
		         "with user:/--user, or 'user: root' to stay root (not recommended)",
		         user, user);
		return -ENOENT;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (group) {
		struct group *gr = getgrnam(group);
		if (!gr) {
			snprintf(err, cap, "group '%s' does not exist", group);
			return -ENOENT;
		}
		*gid = gr->gr_gid;
	}
	if (*uid == 0) {
		snprintf(err, cap, "user '%s' is root by another name; use 'user: root' to say so",
		         user);
		return -EINVAL;
	}
	return 0;
}

int pd_privileges_drop(uid_t uid, gid_t gid, char *err, size_t cap)
{
	int e;
	/* Groups first: setgid and setgroups need the root we are about to give up. */
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		e = errno; /* snprintf may change errno */
		snprintf(err, cap, "cannot drop privileges to uid %u gid %u: %s", (unsigned)uid,
		         (unsigned)gid, strerror(e));
		return -e;
	}
	/* Leaving uid 0 clears the capability sets; no_new_privs keeps them cleared. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		e = errno;
		snprintf(err, cap, "no_new_privs: %s", strerror(e));
		return -e;
	}
	if (setuid(0) == 0 || geteuid() == 0) {
		snprintf(err, cap, "root could be regained after dropping it");
		return -EPERM;
	}
#if PD_ASAN
	/* Sanitizer builds only: LeakSanitizer must ptrace its own threads at exit. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
	return 0;
}
