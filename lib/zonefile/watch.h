/* Which zone files may have changed since the last build, as inotify tells it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A watch on the folders zone files were read from, so a reload can tell the files that
 * changed without a stat() of every file of every zone. Whatever it cannot vouch for
 * (a folder watched only since the files were read, a network file system, a symbolic
 * link or a file with other hard links, an event queue that overflowed) counts as
 * changed, and the caller looks at the file itself.
 */
typedef struct pd__watch pd__watch_t;

/** FNV-1a of len bytes of s: the hash of the watch's path sets, and of zonesrc.c's. */
uint32_t pd__str_hash(const char *s, size_t len);

/** A watch on no folder yet; NULL when inotify is not there (or out of memory). */
pd__watch_t *pd__watch_new(void);

void pd__watch_free(pd__watch_t *w);

/**
 * Watches dir from now on (once per folder). Its files are vouched for only once a build
 * that began after this (pd__watch_begin()) has looked at them and settled: they may
 * have changed before the watch was there.
 */
void pd__watch_dir(pd__watch_t *w, const char *dir);

/**
 * Watches the folder of path, a file a zone was read from (included: by $INCLUDE), and
 * notes when path is one a folder's watch misses changes of.
 */
void pd__watch_file(pd__watch_t *w, const char *path, bool included);

/** Whether some zone may read path by $INCLUDE (true when too many to remember). */
bool pd__watch_included(const pd__watch_t *w, const char *path);

/**
 * Whether every change to the files of dir's file system passes through this kernel (ext4,
 * XFS, Btrfs, tmpfs, F2FS, overlayfs, ZFS), so a watch sees them: not NFS, SMB or FUSE.
 */
bool pd__watch_local(const char *dir);

/** Reads the events that came since the last call. */
void pd__watch_drain(pd__watch_t *w);

/**
 * True when path cannot have changed since the last pd__watch_settle(): its folder was
 * watched all along on a local file system, no event named it, and it is neither a
 * symbolic link nor one of several hard links.
 */
bool pd__watch_unchanged(const pd__watch_t *w, const char *path);

/**
 * The paths events named since the last pd__watch_settle() or pd__watch_forget(), in
 * *paths and *count. False when that list is not the whole story (an overflow, a watch
 * lost, a folder not vouched for yet, a file system or links no watch sees through):
 * every file must then be looked at.
 */
bool pd__watch_changes(const pd__watch_t *w, const char *const **paths, size_t *count);

/**
 * The paths whose changes no watch sees (symbolic links, files with several links), in
 * *paths and *count: a reload that trusts the watch must look at these itself.
 */
void pd__watch_suspects(const pd__watch_t *w, const char *const **paths, size_t *count);

/** The inotify event bits (IN_*) seen for path since the last pd__watch_settle(). */
uint32_t pd__watch_events(const pd__watch_t *w, const char *path);

/** A build that will look at every zone's files begins: before it reads or stat()s one. */
void pd__watch_begin(pd__watch_t *w);

/**
 * After that build has looked at every file, each either vouched for or stat()ed: forgets
 * the events, and vouches for the folders watched since before it began.
 */
void pd__watch_settle(pd__watch_t *w);

/** After a reload that read again every zone the events named: forgets the events. */
void pd__watch_forget(pd__watch_t *w);
