/* pg.c: connecting to PostgreSQL, and what the store's PostgreSQL files
 * share over libpq (pgint.h); leadd compact. Its migrations are
 * migrate.c's, the same on both engines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/log.h"
#include "leadd/store.h"
#include "pgint.h"

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
