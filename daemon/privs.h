/* Dropping root once everything that needs it (binding, creating sockets) is done. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/**
 * Decides whether to drop privileges and to whom: when running as root and user is not
 * "root", sets *uid and *gid to whom to become; otherwise (not root, or told to stay
 * root) there is nothing to drop and both are set to (uid_t)-1 and (gid_t)-1. group NULL
 * means the user's own group. Returns 0, or -errno with err set when the user or group
 * is unknown or the user is root by another name.
 */
int pd_privileges_lookup(const char *user, const char *group, uid_t *uid, gid_t *gid, char *err,
                         size_t cap);

/**
 * Becomes uid/gid with no supplementary groups and no capabilities, and forbids
 * regaining them (no_new_privs). Checks that root cannot be had back. Returns 0 or
 * -errno with err set; on failure the process must not go on.
 */
int pd_privileges_drop(uid_t uid, gid_t gid, char *err, size_t cap);
