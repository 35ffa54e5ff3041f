/* itest_backup.c: leadd backup while leadd serves under load (the copy opens,
 * passes integrity_check and holds every lead acknowledged before it began;
 * an erased lead is in no backup made after the erasure), leadd restore
 * (refused while leadd serves, refused for a file that is not a leadd
 * database, then the service comes back with the backup's leads), and one
 * server per database file. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char *bin(void)
{
    return getenv("LEADD_BIN") ? getenv("LEADD_BIN") : "build/leadd";
}

static long long count_in(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    long long v = -1;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

struct load {
    struct leadd *l;
    atomic_bool stop;
    atomic_int acked;
};

static void *post_loop(void *arg)
{
    struct load *ld = arg;
    for (int i = 0; !atomic_load(&ld->stop); i++) {
        char b[160];
        struct resp r;
        snprintf(b, sizeof(b), "{\"email\":\"load%d@example.org\",\"name\":\"L\",\"consent\":true}",
                 i);
        h_post_json(ld->l, "contact", b, &r);
        if (r.status == 201)
            atomic_fetch_add(&ld->acked, 1);
        resp_free(&r);
    }
    return NULL;
}

static void t_backup_under_load_and_restore(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char out[4096], dest[400], id[64], path[128];
    h_start(&l, H_BASE_INI, "auth.api_keys=" H_API_KEY, NULL);
    snprintf(dest, sizeof(dest), "%s/backup.db", l.dir);
    h_post_json(&l, "contact",
                "{\"email\":\"gone@example.org\",\"name\":\"Gone Person\",\"consent\":true}", &r);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    resp_free(&r);
    /* Erased before the backup: in no backup made after. */
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(&l, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);

    struct load ld = {.l = &l};
    pthread_t th;
    pthread_create(&th, NULL, post_loop, &ld);
    while (atomic_load(&ld.acked) < 50) /* the load is on */
        usleep(1000);
    int before = atomic_load(&ld.acked);
    assert_int_equal(h_run(out, sizeof(out), "%s backup -c %s --set storage.path=%s %s", bin(),
                           l.cfg, l.db, dest),
                     0);
    int after = atomic_load(&ld.acked);
    atomic_store(&ld.stop, true);
    pthread_join(th, NULL);
    assert_non_null(strstr(out, "checked, synced"));
    /* The copy: sound, a leadd schema, every lead acknowledged before it
     * began (and perhaps some that came during it), nothing erased. */
    {
        char sql[] = "PRAGMA integrity_check";
        sqlite3 *db;
        sqlite3_stmt *s;
        assert_int_equal(sqlite3_open_v2(dest, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
        sqlite3_finalize(s);
        sqlite3_close(db);
    }
    long long copied =
        count_in(dest, "SELECT count(*) FROM leads WHERE email LIKE 'load%@example.org'");
    fprintf(stderr, "acknowledged %d before the backup, %d by its end; the copy holds %lld\n",
            before, after, copied);
    assert_true(copied >= before && copied <= after + 8);
    char *bytes = NULL;
    {
        FILE *fp = fopen(dest, "rb");
        assert_non_null(fp);
        bytes = calloc(1, 64u << 20);
        size_t n = fread(bytes, 1, (64u << 20) - 1, fp);
        fclose(fp);
        assert_null(memmem(bytes, n, "gone@example.org", 16));
        assert_null(memmem(bytes, n, "Gone Person", 11));
    }
    free(bytes);
    /* While leadd serves: a second server and a restore are both refused. */
    assert_int_equal(h_run(out, sizeof(out), "%s restore -c %s --set storage.path=%s %s", bin(),
                           l.cfg, l.db, dest),
                     1);
    assert_non_null(strstr(out, "leadd is serving"));
    assert_int_equal(h_run(out, sizeof(out),
                           "%s serve -c %s --set storage.path=%s --set server.listen=127.0.0.1:0",
                           bin(), l.cfg, l.db),
                     1);
    assert_non_null(strstr(out, "another leadd is serving the database"));
    /* More leads after the backup, then stopped: a restore brings the
     * backup's state back. */
    h_post_json(&l, "contact", "{\"email\":\"later@example.org\",\"name\":\"L\",\"consent\":true}",
                &r);
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    /* Not a leadd database: refused, and the live one is left alone. */
    char junk[400], foreign[400];
    snprintf(junk, sizeof(junk), "%s/junk.db", l.dir);
    FILE *fp = fopen(junk, "w");
    fputs("not a database at all\n", fp);
    fclose(fp);
    assert_int_equal(h_run(out, sizeof(out), "%s restore -c %s --set storage.path=%s %s", bin(),
                           l.cfg, l.db, junk),
                     1);
    assert_non_null(strstr(out, "leadd restore: "));
    snprintf(foreign, sizeof(foreign), "%s/foreign.db", l.dir);
    {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(foreign, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    assert_int_equal(h_run(out, sizeof(out), "%s restore -c %s --set storage.path=%s %s", bin(),
                           l.cfg, l.db, foreign),
                     1);
    assert_non_null(strstr(out, "not a leadd database"));
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM leads WHERE email = 'later@example.org'"),
                     1);
    assert_int_equal(h_run(out, sizeof(out), "%s restore -c %s --set storage.path=%s %s", bin(),
                           l.cfg, l.db, dest),
                     0);
    h_restart(&l);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM leads WHERE email = 'later@example.org'"),
                     0);
    assert_int_equal(
        h_sql_int(&l, "SELECT count(*) FROM leads WHERE email LIKE 'load%%@example.org'"), copied);
    h_post_json(&l, "contact", "{\"email\":\"again@example.org\",\"name\":\"A\",\"consent\":true}",
                &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_backup_under_load_and_restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
