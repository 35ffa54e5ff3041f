/* pg.c: leadd's schema on PostgreSQL (the only file that includes
 * libpq-fe.h). Migrations (migrations/postgres/, embedded) are applied under
 * an advisory lock, so nodes starting together migrate once, each in its
 * own transaction; a database that has a migration this binary does not
 * know is refused, so a node never runs against a schema newer than it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/embed.h"
#include "leadd/log.h"
#include "leadd/store.h"
#include "pgint.h"

/* pg_advisory_lock's key for migrations: "leadd" in ASCII. */
#define MIGRATE_LOCK "465557349476"

static void on_notice(void *arg, const PGresult *r)
{
    (void)arg;
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    if (sev && !strcmp(sev, "WARNING"))
        log_warn("postgres: %s", msg ? msg : "a warning without a message");
}

PGconn *pg_connect(const char *url, char *err, size_t cap)
{
    PGconn *c = PQconnectdb(url ? url : "");
    if (c && PQstatus(c) == CONNECTION_OK) {
        PQsetNoticeReceiver(c, on_notice, NULL);
        return c;
    }
    snprintf(err, cap, "unable to connect to PostgreSQL: %s",
             c ? PQerrorMessage(c) : "out of memory");
    PQfinish(c);
    return NULL;
}

bool pg_done(PGresult *r, char *err, size_t cap)
{
    ExecStatusType s = PQresultStatus(r);
    bool ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    if (!ok && err)
        snprintf(err, cap, "%s", PQresultErrorMessage(r));
    else if (!ok)
        log_error("postgres: %s", PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

bool pg_sql(PGconn *c, const char *sql, char *err, size_t cap)
{
    return pg_done(PQexec(c, sql), err, cap);
}

/* The highest migration recorded, 0 for none. */
static bool recorded(PGconn *c, long *version, char *name, size_t ncap, char *err, size_t cap)
{
    PGresult *r = PQexec(c, "SELECT version, name FROM schema_migrations ORDER BY version DESC"
                            " LIMIT 1");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    *version = 0;
    name[0] = '\0';
    if (!ok)
        snprintf(err, cap, "%s", PQresultErrorMessage(r));
    else if (PQntuples(r) == 1) {
        *version = strtol(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(name, ncap, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return ok;
}

/* Applies one migration and records it, in one transaction. */
static bool apply(PGconn *c, long version, const struct embedded_file *m, char *err, size_t cap)
{
    char v[24];
    snprintf(v, sizeof(v), "%ld", version);
    const char *params[] = {v, m->name};
    if (!pg_sql(c, "BEGIN", err, cap))
        return false;
    bool ok = pg_sql(c, m->data, err, cap);
    if (ok) {
        PGresult *r =
            PQexecParams(c, "INSERT INTO schema_migrations(version, name) VALUES ($1, $2)", 2, NULL,
                         params, NULL, NULL, 0);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            snprintf(err, cap, "%s", PQresultErrorMessage(r));
        PQclear(r);
    }
    char ignore[8];
    if (!ok || !pg_sql(c, "COMMIT", err, cap)) {
        pg_sql(c, "ROLLBACK", ignore, sizeof(ignore));
        return false;
    }
    return true;
}

int store_pg_compact(const char *url, char *err, size_t cap)
{
    PGconn *c = pg_connect(url, err, cap);
    /* VACUUM FULL writes each table and its indexes anew and truncates the
     * old files at commit: the erased leads' old row versions go with them.
     * It holds each table's lock while it copies (captures wait, then go
     * on: none is lost), so it is the operator's to run, at a quiet hour. */
    bool ok = c && pg_sql(c,
                          "VACUUM (FULL) leads, lead_history, consents, deliveries,"
                          " delivery_attempts, confirm_tokens",
                          err, cap);
    PQfinish(c);
    return ok ? 0 : LEADD_EDB;
}

int pg_migrate(PGconn *c, int *applied, char *err, size_t cap)
{
    int rc = LEADD_EDB;
    long have = 0, known = 0;
    char name[128];
    *applied = 0;
    /* Session-level: held until unlocked or the connection goes, so a node
     * that dies mid-way lets the next one take over. */
    if (!pg_sql(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", err, cap))
        return rc;
    if (!pg_sql(
            c,
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text"
            " NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
            err, cap) ||
        !recorded(c, &have, name, sizeof(name), err, cap))
        goto unlock;
    for (size_t i = 0; pg_migrations_files[i].name; i++)
        known = strtol(pg_migrations_files[i].name, NULL, 10);
    if (have > known) {
        snprintf(err, cap,
                 "the database's schema (%s) is newer than this leadd knows (up to migration %ld):"
                 " run a leadd at least as new as the one that migrated it",
                 name, known);
        rc = LEADD_ECONFLICT;
        goto unlock;
    }
    for (size_t i = 0; pg_migrations_files[i].name; i++) {
        const struct embedded_file *m = &pg_migrations_files[i];
        long v = strtol(m->name, NULL, 10);
        if (v <= have)
            continue;
        if (!apply(c, v, m, err, cap))
            goto unlock;
        log_info("applied migration %s (postgres)", m->name);
        (*applied)++;
    }
    rc = 0;
unlock:
    pg_sql(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")", name, sizeof(name));
    return rc;
}

int store_pg_migrate(const char *url, int *applied, char *err, size_t cap)
{
    PGconn *c = pg_connect(url, err, cap);
    int rc = c ? pg_migrate(c, applied, err, cap) : LEADD_EDB;
    PQfinish(c);
    return rc;
}
