/* backup.c: `leadd backup` and `leadd restore`.
 *
 * A backup is `VACUUM INTO` a temporary file beside the destination: one
 * read transaction, so one consistent snapshot taken while leadd serves (the
 * writer goes on; WAL readers never block it), and a fresh file without free
 * pages, so nothing erased before the backup began is in it. The copy is
 * checked (`PRAGMA integrity_check`, a leadd schema this binary knows),
 * fsync'd, renamed into place, and its directory fsync'd.
 *
 * A restore puts such a file back while leadd is stopped: serving leadd
 * holds an flock() on the database file (SQLite's own locks are fcntl()
 * locks and do not see it), so a restore under a running leadd is refused.
 * The file is checked the same way first; the live database, its WAL and
 * shared memory are replaced by a copy of it. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "internal.h"
#include "leadd/embed.h"

/* Whether the file at path is a sound leadd database whose every applied
 * migration this binary knows; why not in err. */
static int check_copy(const char *path, char *err, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int rc = LEADD_EINVAL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, cap, "cannot open it as a database");
        goto out;
    }
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(s, 0), "ok")) {
        snprintf(err, cap, "it is not a sound SQLite database (integrity_check: %s)",
                 s && sqlite3_column_text(s, 0) ? (const char *)sqlite3_column_text(s, 0)
                                                : sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_finalize(s);
    s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_migrations", -1, &s, NULL) !=
            SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW || sqlite3_column_type(s, 0) == SQLITE_NULL) {
        snprintf(err, cap, "it is not a leadd database (no schema_migrations)");
        goto out;
    }
    int have = sqlite3_column_int(s, 0), known = 0;
    for (size_t i = 0; migrations_files[i].name; i++)
        known = (int)strtol(migrations_files[i].name, NULL, 10);
    if (have > known) {
        snprintf(err, cap, "its schema (migration %d) is newer than this leadd knows (%d)", have,
                 known);
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(s);
    sqlite3_close(db);
    return rc;
}

/* fsync()s what open(path, flags) opens: a file, or a directory (so a
 * rename in it is durable). */
static int sync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_RDONLY | O_CLOEXEC), rc = 0;
    if (fd < 0 || fsync(fd))
        rc = LEADD_EIO;
    if (fd >= 0)
        close(fd);
    return rc;
}

/* fsync()s the directory holding path. */
static int sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return LEADD_ENOMEM;
    int rc = sync_path(dirname(copy), O_DIRECTORY);
    free(copy);
    return rc;
}

/* VACUUM INTO: the database at from copied to the new file to, in one read
 * transaction (one snapshot, while a writer goes on) and without free pages.
 * Why it failed in err. */
static int vacuum_into(const char *from, const char *to, char *err, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int rc = LEADD_EIO;
    /* The copy holds personal data: 0600 from its first byte, as the
     * database is (an empty file VACUUM INTO fills keeps its mode). */
    unlink(to);
    int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, cap, "cannot create '%s': %s", to, strerror(errno));
        return rc;
    }
    close(fd);
    if (sqlite3_open_v2(from, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, cap, "cannot open '%s': %s", from, db ? sqlite3_errmsg(db) : "no memory");
        goto out;
    }
    sqlite3_busy_timeout(db, 5000);
    /* to is the caller's and outlives the statement: SQLITE_STATIC holds. */
    if (sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_bind_text(s, 1, to, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_DONE) {
        snprintf(err, cap, "copying '%s' failed: %s", from, sqlite3_errmsg(db));
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(s);
    sqlite3_close(db);
    return rc;
}

int store_backup(const char *db_path, const char *dest, char *err, size_t cap)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", dest, (long)getpid());
    int rc = vacuum_into(db_path, tmp, err, cap);
    rc = rc ? rc : check_copy(tmp, err, cap);
    if (!rc && (sync_path(tmp, 0) || rename(tmp, dest) || sync_dir(dest))) {
        snprintf(err, cap, "writing '%s' failed: %s", dest, strerror(errno));
        rc = LEADD_EIO;
    }
    if (rc)
        unlink(tmp);
    return rc;
}

int store_lock(const char *db_path, int *fd_out)
{
    int fd = open(db_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    *fd_out = -1;
    if (fd < 0)
        return LEADD_EIO;
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        close(fd);
        return LEADD_ECONFLICT;
    }
    *fd_out = fd;
    return 0;
}

int lock_unserved(const char *db_path, int *lock, char *err, size_t cap)
{
    int rc = store_lock(db_path, lock);
    if (rc)
        snprintf(err, cap,
                 rc == LEADD_ECONFLICT ? "leadd is serving '%s': stop it first"
                                       : "cannot open '%s'",
                 db_path);
    return rc;
}

int store_restore(const char *db_path, const char *src, char *err, size_t cap)
{
    char tmp[4096] = "", side[4096];
    int lock = -1, rc;
    if ((rc = lock_unserved(db_path, &lock, err, cap)))
        return rc;
    if ((rc = check_copy(src, err, cap)))
        goto out;
    /* A copy of src beside the database, then one rename over it. */
    snprintf(tmp, sizeof(tmp), "%s.restore-%ld", db_path, (long)getpid());
    if ((rc = vacuum_into(src, tmp, err, cap)))
        goto out;
    /* The old database's WAL and shared memory belong to the old file. */
    snprintf(side, sizeof(side), "%s-wal", db_path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", db_path);
    unlink(side);
    if (sync_path(tmp, 0) || rename(tmp, db_path) || sync_dir(db_path)) {
        snprintf(err, cap, "replacing '%s' failed: %s", db_path, strerror(errno));
        rc = LEADD_EIO;
    }
out:
    if (rc && tmp[0])
        unlink(tmp);
    close(lock);
    return rc;
}
