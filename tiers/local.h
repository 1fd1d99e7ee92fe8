/*
 * local.h - what the local tiers (lmdb, file) share about the directories
 * that hold their stores.
 */
#ifndef CAIRN_LOCAL_H
#define CAIRN_LOCAL_H

#include <stdatomic.h>
#include <stdbool.h>

/* mkdir -p: creates path and any missing parents (mode 0755), syncing the
 * parent of each directory it creates so that the new names are durable.
 * Returns 0 if path is, or now is, a directory; else -errno with a detail
 * naming the path (-ENOTDIR when a file is in the way). */
int cairn__mkdir_p(const char *path);

/* fsyncs the directory path (after creating files in it). */
int cairn__sync_dir(const char *path);

/* The writer lock of a local store: flock(LOCK_EX | LOCK_NB) on
 * cairn.lock in the store's directory (dirfd, or store_path when dirfd is
 * AT_FDCWD), opened afresh for each acquire, since flock locks belong to
 * the open file description: a second handle in this process is refused
 * just as another process is. *slot holds the lock's fd while held, else
 * -1; releasing closes it. Errors: CAIRN_BUSY, -errno (the detail names
 * store_path). */
int cairn__store_lock(_Atomic int *slot, int dirfd, const char *store_path, bool acquire);

#endif /* CAIRN_LOCAL_H */
