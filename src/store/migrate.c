/* migrate.c: leadd's schema, on either engine. The engine's embedded
 * migrations (migrations/sqlite/ or migrations/postgres/) are applied in
 * order, each with its record in schema_migrations in one transaction.
 * Nodes starting together migrate once: the driver's migration lock
 * (PostgreSQL's advisory lock; SQLite's file has one leadd) is held
 * throughout. A database that has a migration this binary does not know
 * is refused, so leadd never runs against a schema newer than it. */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "leadd/log.h"
#include "sql_driver.h"

/* The highest migration recorded (0 for none), and its name. */
static int recorded(struct sqlc *c, long *version, char *name, size_t cap)
{
    struct sqls *s = NULL;
    int r = sqls_prepare(c,
                         "SELECT version, name FROM schema_migrations ORDER BY version DESC"
                         " LIMIT 1",
                         &s);
    r = r ? r : sqls_step(s);
    if (r == SQL_ROW) {
        *version = (long)sqls_col_int(s, 0);
        snprintf(name, cap, "%s", sqls_col(s, 1));
    }
    sqls_finalize(&s);
    return r < 0 ? r : 0;
}

/* Applies m and records it, in one transaction. */
static int apply(struct sqlc *c, long version, const struct embedded_file *m)
{
    int rc = c->drv->exec(c, sql_begin_write_sql(c));
    rc = rc ? rc : c->drv->exec(c, m->data);
    rc = rc ? rc
            : sql_exec(c, NULL, "INSERT INTO schema_migrations(version, name) VALUES (?1, ?2)",
                       "it", (long long)version, m->name);
    rc = rc ? rc : c->drv->exec(c, "COMMIT");
    if (rc)
        sql_rollback(c);
    return rc;
}

int sql_migrate(struct sqlc *c, int *applied, char *err, size_t cap)
{
    const struct sql_driver *d = c->drv;
    const struct embedded_file *files = d->migrations;
    long have = 0, known = 0;
    char name[128] = "";
    int rc = LEADD_EDB;
    *applied = 0;
    snprintf(err, cap, "unable to read the database's migrations (logged)");
    if (d->migrate_lock && sql_exec(c, NULL, d->migrate_lock, ""))
        return rc;
    if (d->exec(c, d->migrations_table) || recorded(c, &have, name, sizeof(name)))
        goto unlock;
    for (size_t i = 0; files[i].name; i++)
        known = strtol(files[i].name, NULL, 10);
    if (have > known) {
        snprintf(err, cap,
                 "the database's schema (%s) is newer than this leadd knows (up to migration %ld):"
                 " run a leadd at least as new as the one that migrated it",
                 name, known);
        rc = LEADD_ECONFLICT;
        goto unlock;
    }
    for (size_t i = 0; files[i].name; i++) {
        long v = strtol(files[i].name, NULL, 10);
        if (v <= have)
            continue;
        if (apply(c, v, &files[i])) {
            snprintf(err, cap, "migration '%s' failed (logged)", files[i].name);
            goto unlock;
        }
        log_info("applied migration %s", files[i].name);
        (*applied)++;
    }
    rc = 0;
    err[0] = '\0';
unlock:
    if (d->migrate_unlock && sql_exec(c, NULL, d->migrate_unlock, ""))
        log_warn("the migration lock is held until this connection ends");
    return rc;
}

int store_migrate(const char *path, int *applied)
{
    char err[512];
    struct sqlc *c = NULL;
    int rc = sqlc_sqlite_open(path, false, true, &c);
    if (!rc && (rc = sql_migrate(c, applied, err, sizeof(err))))
        log_error("%s", err);
    sqlc_close(&c);
    return rc;
}

int store_pg_migrate(const char *url, int *applied, char *err, size_t cap)
{
    struct sqlc *c = NULL;
    int rc = sqlc_pg(url, &c, err, cap);
    *applied = 0;
    rc = rc ? rc : sql_migrate(c, applied, err, cap);
    sqlc_close(&c);
    return rc;
}
