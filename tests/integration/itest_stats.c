/* itest_stats.c: what sources cost and earn. A known data set (leads across
 * sources and campaigns, spam, a duplicate, conversions with values in two
 * currencies, an erasure, spend loaded as JSON and as CSV) and every figure
 * of the report checked against values worked out by hand below; local days
 * across a DST change; counters kept up by every kind of change equal to
 * counters rebuilt from the leads; the spend API's errors. */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

static char INI[8192];

static void make_ini(void)
{
    snprintf(INI, sizeof(INI),
             "%s[auth]\napi_keys = " H_API_KEY "\n"
             "user.vera = viewer vera-secret-0123456789\n",
             H_BASE_INI);
}

static const char *bin(void)
{
    const char *b = getenv("LEADD_BIN");
    return b ? b : "build/leadd";
}

/* Posts a submission; its id into id (when given). */
static void post(struct leadd *l, const char *json, char *id, size_t cap)
{
    struct resp r;
    h_post_json(l, "contact", json, &r);
    if (r.status != 201)
        fail_msg("post: %ld %s", r.status, r.body);
    if (id)
        assert_true(h_json_str(r.body, "id", id, cap));
    resp_free(&r);
}

static void patch(struct leadd *l, const char *id, const char *json)
{
    char path[96];
    struct resp r;
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(l, "PATCH", path, json, &r);
    if (r.status != 200)
        fail_msg("PATCH %s %s: %ld %s", id, json, r.status, r.body);
    resp_free(&r);
}

/* Today in Berlin, as the server counts days with timezone = Europe/Berlin. */
static void berlin_today(char out[11])
{
    time_t t = time(NULL);
    struct tm tm;
    char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    setenv("TZ", "Europe/Berlin", 1);
    tzset();
    localtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
    if (old)
        setenv("TZ", old, 1);
    else
        unsetenv("TZ");
    tzset();
    free(old);
}

/* Checks the figures of one row: want is "name=value ...", where a value is
 * a count (a JSON integer), text (a JSON string: money and rates) or null. */
static void expect_row(const json_t *row, const char *label, const char *want)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", want);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = '\0';
        const char *name = tok, *v = eq + 1;
        json_t *got = json_object_get(row, name);
        if (!got)
            fail_msg("%s: no %s", label, name);
        char text[64];
        if (json_is_null(got))
            snprintf(text, sizeof(text), "null");
        else if (json_is_integer(got))
            snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(got));
        else if (json_is_string(got))
            snprintf(text, sizeof(text), "%s", json_string_value(got));
        else
            snprintf(text, sizeof(text), "?");
        if (strcmp(text, v))
            fail_msg("%s: %s is %s, want %s", label, name, text, v);
        /* money and rates are text, never JSON numbers */
        if (strchr(v, '.') && !json_is_string(got))
            fail_msg("%s: %s is not a decimal string", label, name);
    }
}

/* The row of data whose key is key (NULL: the row of no key). */
static const json_t *row_of(const json_t *root, const char *key)
{
    const json_t *data = json_object_get(root, "data"), *row;
    size_t i;
    json_array_foreach(data, i, row)
    {
        const json_t *k = json_object_get(row, "key");
        if (key ? json_is_string(k) && !strcmp(json_string_value(k), key) : json_is_null(k))
            return row;
    }
    fail_msg("no row %s", key ? key : "null");
    return NULL;
}

static json_t *get_json(struct leadd *l, const char *path)
{
    struct resp r;
    json_error_t je;
    h_api(l, "GET", path, NULL, &r);
    if (r.status != 200)
        fail_msg("GET %s: %ld %s", path, r.status, r.body);
    json_t *root = json_loads(r.body, 0, &je);
    if (!root)
        fail_msg("GET %s: not JSON: %s", path, r.body);
    resp_free(&r);
    return root;
}

static void spend_csv(struct leadd *l, const char *csv, struct resp *r)
{
    h_req(l, "POST", "/v1/spend", csv, r, "Authorization: Bearer " H_API_KEY,
          "Content-Type: text/csv", NULL);
}

/* The data set; returns the lead to erase's id in erase_id. Worked out by
 * the rules of H_BASE_INI (company +20, budget >= 10000 +30, gmail -15,
 * google or bing +10; hot >= 60, warm >= 30, qualified >= 40):
 *   L1 google/spring   company, budget  -> 60 hot, qualified; converted 12000.00 EUR
 *   L2 google/spring   company          -> 30 warm;            rejected
 *   L3 google/autumn   budget           -> 40 warm, qualified; converted 300 USD
 *   L4 google/autumn   gmail            -> -5 cold
 *   L5 facebook/fb1    company, budget  -> 50 warm, qualified; contacted
 *   L6 facebook/fb1    honeypot         -> spam
 *   L7 facebook/fb1    L5's email       -> duplicate
 *   L8 (no source)     company, budget  -> 50 warm, qualified; converted, no value
 *   L9 linkedin/li1    company, budget  -> 50 warm, qualified; erased (still counted) */
static void load_data_set(struct leadd *l, const char *today)
{
    char id[8][64], body[2048];
    struct resp r;
    post(l,
         "{\"email\":\"l1@corp.example\",\"name\":\"L1\",\"company\":\"C\",\"budget\":50000,"
         "\"consent\":true,\"utm_source\":\"google\",\"utm_campaign\":\"spring\"}",
         id[1], sizeof(id[1]));
    post(l,
         "{\"email\":\"l2@corp.example\",\"name\":\"L2\",\"company\":\"C\",\"consent\":true,"
         "\"utm_source\":\"google\",\"utm_campaign\":\"spring\"}",
         id[2], sizeof(id[2]));
    post(l,
         "{\"email\":\"l3@corp.example\",\"name\":\"L3\",\"budget\":50000,\"consent\":true,"
         "\"utm_source\":\"google\",\"utm_campaign\":\"autumn\"}",
         id[3], sizeof(id[3]));
    post(l,
         "{\"email\":\"l4@gmail.com\",\"name\":\"L4\",\"consent\":true,\"utm_source\":\"google\","
         "\"utm_campaign\":\"autumn\"}",
         NULL, 0);
    post(l,
         "{\"email\":\"l5@corp.example\",\"name\":\"L5\",\"company\":\"C\",\"budget\":50000,"
         "\"consent\":true,\"utm_source\":\"facebook\",\"utm_campaign\":\"fb1\"}",
         id[5], sizeof(id[5]));
    post(l,
         "{\"email\":\"l6@corp.example\",\"name\":\"L6\",\"consent\":true,\"_gotcha\":\"x\","
         "\"utm_source\":\"facebook\",\"utm_campaign\":\"fb1\"}",
         NULL, 0);
    post(l,
         "{\"email\":\"l5@corp.example\",\"name\":\"L5 again\",\"consent\":true,"
         "\"utm_source\":\"facebook\",\"utm_campaign\":\"fb1\"}",
         NULL, 0);
    post(l,
         "{\"email\":\"l8@corp.example\",\"name\":\"L8\",\"company\":\"C\",\"budget\":50000,"
         "\"consent\":true}",
         id[0], sizeof(id[0]));
    post(l,
         "{\"email\":\"l9@corp.example\",\"name\":\"L9\",\"company\":\"C\",\"budget\":50000,"
         "\"consent\":true,\"utm_source\":\"linkedin\",\"utm_campaign\":\"li1\"}",
         id[7], sizeof(id[7]));
    patch(l, id[1], "{\"status\":\"converted\",\"value\":\"12000.00\",\"currency\":\"EUR\"}");
    patch(l, id[3], "{\"status\":\"converted\",\"value\":\"300\",\"currency\":\"USD\"}");
    patch(l, id[5], "{\"status\":\"contacted\"}");
    patch(l, id[2], "{\"status\":\"rejected\"}");
    patch(l, id[0], "{\"status\":\"converted\"}");
    char path[96];
    snprintf(path, sizeof(path), "/v1/leads/%s", id[7]);
    h_api(l, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);

    /* spend: JSON, then an ad platform's CSV (its two linkedin rows, split
     * by ad group, add up to 30.00), and a day outside the range */
    snprintf(
        body, sizeof(body),
        "[{\"date\":\"%s\",\"utm_source\":\"google\",\"utm_campaign\":\"spring\","
        "\"amount\":\"100.00\",\"currency\":\"EUR\"},"
        "{\"date\":\"%s\",\"utm_source\":\"google\",\"utm_campaign\":\"autumn\","
        "\"amount\":\"50\"},"
        "{\"date\":\"%s\",\"utm_source\":\"google\",\"amount\":\"10.00\",\"currency\":\"EUR\"},"
        "{\"date\":\"%s\",\"utm_source\":\"facebook\",\"utm_campaign\":\"fb1\","
        "\"amount\":\"60.00\",\"currency\":\"EUR\"},"
        "{\"date\":\"%s\",\"utm_source\":\"bing\",\"utm_campaign\":\"b1\","
        "\"amount\":\"25.00\",\"currency\":\"EUR\"},"
        "{\"date\":\"%s\",\"utm_source\":\"google\",\"utm_campaign\":\"spring\","
        "\"amount\":\"7.00\",\"currency\":\"USD\"},"
        "{\"date\":\"2020-01-15\",\"utm_source\":\"google\",\"utm_campaign\":\"spring\","
        "\"amount\":\"999.00\",\"currency\":\"EUR\"}]",
        today, today, today, today, today, today);
    h_api(l, "PUT", "/v1/spend", body, &r);
    if (r.status != 200)
        fail_msg("PUT /v1/spend: %ld %s", r.status, r.body);
    assert_string_equal(r.body, "{\"stored\":7}");
    resp_free(&r);
    snprintf(body, sizeof(body),
             "\xEF\xBB\xBF"
             "Date,UTM_Source,utm_campaign, Amount ,currency\r\n"
             "%s,linkedin,li1,20.00,EUR\r\n"
             "%s,\"linkedin\",li1,\"10\",EUR\r\n\r\n",
             today, today);
    spend_csv(l, body, &r);
    if (r.status != 200)
        fail_msg("POST /v1/spend: %ld %s", r.status, r.body);
    assert_string_equal(r.body, "{\"stored\":1}");
    resp_free(&r);
}

/* Every figure of the data set's report, worked out by hand. */
static void check_figures(struct leadd *l, const char *today)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/stats?group_by=utm_source&from=%s&to=%s", today, today);
    json_t *root = get_json(l, path);
    assert_string_equal(json_string_value(json_object_get(root, "currency")), "EUR");
    assert_string_equal(json_string_value(json_object_get(root, "timezone")), "Europe/Berlin");
    expect_row(row_of(root, "google"), "google",
               "leads=4 total=4 valid=4 qualified=2 hot=1 warm=2 cold=1 contacted=0 converted=2"
               " rejected=1 spam=0 duplicates=0 qualified_rate=0.5000 conversion_rate=0.5000"
               " spend=160.00 cpl=40.00 cost_per_qualified=80.00 cost_per_sale=80.00"
               " revenue=12000.00 roi=74.0000");
    expect_row(row_of(root, "facebook"), "facebook",
               "leads=3 valid=1 qualified=1 hot=0 warm=1 cold=0 contacted=1 converted=0"
               " rejected=0 spam=1 duplicates=1 qualified_rate=1.0000 conversion_rate=0.0000"
               " spend=60.00 cpl=60.00 cost_per_qualified=60.00 cost_per_sale=null"
               " revenue=0.00 roi=-1.0000");
    expect_row(row_of(root, "linkedin"), "linkedin",
               "leads=1 valid=1 qualified=1 warm=1 spend=30.00 cpl=30.00"
               " cost_per_qualified=30.00 cost_per_sale=null revenue=0.00 roi=-1.0000");
    expect_row(row_of(root, NULL), "no source",
               "leads=1 valid=1 qualified=1 converted=1 qualified_rate=1.0000"
               " conversion_rate=1.0000 spend=0.00 cpl=0.00 cost_per_sale=0.00 revenue=0.00"
               " roi=null");
    expect_row(row_of(root, "bing"), "bing (spend, no leads)",
               "leads=0 valid=0 qualified_rate=null conversion_rate=null spend=25.00 cpl=null"
               " cost_per_qualified=null cost_per_sale=null revenue=0.00 roi=-1.0000");
    /* rows by leads, most first, then key (no key before any) */
    const char *order[] = {"google", "facebook", NULL, "linkedin", "bing"};
    const json_t *data = json_object_get(root, "data");
    assert_int_equal(json_array_size(data), 5);
    for (size_t i = 0; i < 5; i++) {
        const json_t *k = json_object_get(json_array_get(data, i), "key");
        if (order[i] ? !json_is_string(k) || strcmp(json_string_value(k), order[i])
                     : !json_is_null(k))
            fail_msg("row %zu is not %s", i, order[i] ? order[i] : "null");
    }
    /* 275.00 / 7 = 39.2857 -> 39.29; / 5 = 55.00; / 3 = 91.667 -> 91.67;
     * (12000 - 275) / 275 = 42.63636 -> 42.6364 */
    expect_row(json_object_get(root, "total"), "total",
               "key=null leads=9 valid=7 qualified=5 hot=1 warm=5 cold=1 contacted=1"
               " converted=3 rejected=1 spam=1 duplicates=1 qualified_rate=0.7143"
               " conversion_rate=0.4286 spend=275.00 cpl=39.29 cost_per_qualified=55.00"
               " cost_per_sale=91.67 revenue=12000.00 roi=42.6364");
    /* never summed with euros: the dollars, apart */
    const json_t *other = json_object_get(root, "other_currencies");
    assert_int_equal(json_array_size(other), 1);
    expect_row(json_array_get(other, 0), "USD", "currency=USD spend=7.00 revenue=300.00");
    json_decref(root);

    /* the same range in dollars: only the dollar figures */
    snprintf(path, sizeof(path), "/v1/stats?group_by=utm_source&from=%s&to=%s&currency=USD", today,
             today);
    root = get_json(l, path);
    expect_row(row_of(root, "google"), "google in USD",
               "leads=4 converted=2 spend=7.00 cpl=1.75 revenue=300.00 roi=41.8571");
    expect_row(json_object_get(root, "total"), "total in USD", "spend=7.00 revenue=300.00");
    json_decref(root);

    snprintf(path, sizeof(path), "/v1/stats?group_by=utm_campaign&from=%s&to=%s", today, today);
    root = get_json(l, path);
    expect_row(row_of(root, "spring"), "spring", "leads=2 spend=100.00 cpl=50.00 revenue=12000.00");
    expect_row(row_of(root, "autumn"), "autumn", "leads=2 spend=50.00 cpl=25.00 revenue=0.00");
    expect_row(row_of(root, NULL), "no campaign", "leads=1 spend=10.00 cpl=10.00");
    expect_row(row_of(root, "b1"), "b1", "leads=0 spend=25.00");
    json_decref(root);

    /* a medium or a form knows no spend of its own: null, and the total has it */
    snprintf(path, sizeof(path), "/v1/stats?group_by=utm_medium&from=%s&to=%s", today, today);
    root = get_json(l, path);
    expect_row(row_of(root, NULL), "no medium", "leads=9 spend=null cpl=null roi=null");
    expect_row(json_object_get(root, "total"), "total by medium", "spend=275.00 cpl=39.29");
    json_decref(root);
    snprintf(path, sizeof(path), "/v1/stats?group_by=day&form=contact&from=%s&to=%s", today, today);
    root = get_json(l, path);
    expect_row(row_of(root, today), "today, one form", "leads=9 spend=null revenue=12000.00");
    expect_row(json_object_get(root, "total"), "total of one form", "spend=null");
    json_decref(root);

    /* by day, week and month: the Berlin day, its week's Monday, its month */
    root = get_json(l, "/v1/stats?group_by=day");
    assert_int_equal(json_array_size(json_object_get(root, "data")), 2); /* + the 2020 spend */
    expect_row(row_of(root, today), "today",
               "leads=9 valid=7 spend=275.00 cpl=39.29 revenue=12000.00");
    expect_row(row_of(root, "2020-01-15"), "old spend", "leads=0 spend=999.00");
    expect_row(json_object_get(root, "total"), "all time", "spend=1274.00 leads=9");
    json_decref(root);
    root = get_json(l, "/v1/stats?group_by=month&utm_source=google");
    char month[8];
    snprintf(month, sizeof(month), "%.7s", today);
    expect_row(row_of(root, month), "this month, google", "leads=4 spend=160.00");
    expect_row(row_of(root, "2020-01"), "2020-01, google", "leads=0 spend=999.00");
    json_decref(root);
    root = get_json(l, "/v1/stats?group_by=week");
    const json_t *wk = json_array_get(json_object_get(root, "data"), 1);
    struct tm tm = {0};
    strptime(json_string_value(json_object_get(wk, "key")), "%Y-%m-%d", &tm);
    tm.tm_hour = 12;
    time_t t = timegm(&tm);
    gmtime_r(&t, &tm);
    assert_int_equal(tm.tm_wday, 1); /* a Monday */
    expect_row(wk, "this week", "leads=9");
    json_decref(root);

    /* CSV: the same figures, null as an empty cell, a total row */
    struct resp r;
    snprintf(path, sizeof(path), "/v1/stats?group_by=utm_source&from=%s&to=%s&format=csv", today,
             today);
    h_api(l, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    char ct[64];
    assert_string_equal(h_header(&r, "content-type", ct, sizeof(ct)), "text/csv; charset=utf-8");
    assert_non_null(strstr(
        r.body, "utm_source,leads,valid,qualified,hot,warm,cold,contacted,converted,rejected,"
                "spam,duplicates,qualified_rate,conversion_rate,spend,cpl,cost_per_qualified,"
                "cost_per_sale,revenue,roi,currency\r\n"));
    assert_non_null(strstr(r.body, "\r\ngoogle,4,4,2,1,2,1,0,2,1,0,0,0.5000,0.5000,160.00,40.00,"
                                   "80.00,80.00,12000.00,74.0000,EUR\r\n"));
    assert_non_null(strstr(r.body, "\r\nfacebook,3,1,1,0,1,0,1,0,0,1,1,1.0000,0.0000,60.00,60.00,"
                                   "60.00,,0.00,-1.0000,EUR\r\n"));
    assert_non_null(strstr(r.body, "\r\nTotal,9,7,5,1,5,1,1,3,1,1,1,0.7143,0.4286,275.00,39.29,"
                                   "55.00,91.67,12000.00,42.6364,EUR\r\n"));
    resp_free(&r);

    /* what stats callers before the report asked still answers as it did */
    h_api(l, "GET", "/v1/stats?group_by=grade", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "{\"key\":\"hot\",\"total\":1,\"qualified\":1,\"converted\":1,"
                                   "\"spam\":0}"));
    resp_free(&r);
    h_api(l, "GET", "/v1/stats?group_by=utm_source&created_after=2020-01-01T00:00:00Z", NULL, &r);
    assert_non_null(strstr(r.body, "{\"key\":\"google\",\"total\":4,\"qualified\":2,"
                                   "\"converted\":2,\"spam\":0}"));
    resp_free(&r);
}

static void t_report_figures_by_hand(void **state)
{
    (void)state;
    struct leadd l;
    char today[11];
    make_ini();
    berlin_today(today);
    h_start(&l, INI, "server.timezone=Europe/Berlin", NULL);
    load_data_set(&l, today);

    /* counted twice: SQLite first with the new leads past the rollup's mark
     * (the report reads them as they are), then folded into the counters;
     * PostgreSQL's are counted as each batch writes them, both times */
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM leads WHERE id > (SELECT upto FROM"
                                   " rollup_mark)"),
                     h_pg() ? 0 : 9);
    check_figures(&l, today);
    assert_int_equal(h_stop(&l), 0);
    h_restart(&l);
    assert_true(h_sql_int(&l, "SELECT count(*) FROM leads WHERE id > (SELECT upto FROM"
                              " rollup_mark)") == 0);
    check_figures(&l, today);

    struct resp r;
    /* bad parameters are named */
    const char *bad[][2] = {
        {"/v1/stats?group_by=day&from=2026-02-30", "from"},
        {"/v1/stats?group_by=day&from=2026-03-02&to=2026-03-01", "to"},
        {"/v1/stats?group_by=day&currency=euro", "currency"},
        {"/v1/stats?group_by=day&format=xlsx", "format"},
        {"/v1/stats?group_by=hour", "group_by"},
        {"/v1/stats?group_by=day&status=new", "status"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[64];
        h_api(&l, "GET", bad[i][0], NULL, &r);
        snprintf(want, sizeof(want), "parameter '%s'", bad[i][1]);
        if (r.status != 400 || !strstr(r.body, want))
            fail_msg("%s: %ld %s", bad[i][0], r.status, r.body);
        resp_free(&r);
    }
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

/* Leads stored at the edges of Berlin's DST days, counted by their local
 * day; ranges of whole and partial months. */
static void t_days_in_the_zone(void **state)
{
    (void)state;
    struct leadd l;
    char out[4096];
    make_ini();
    h_start(&l, INI, "server.timezone=Europe/Berlin", NULL);
    assert_int_equal(h_stop(&l), 0);
    /* 2026-03-28T23:00Z is 03-29 00:00 CET; 23 hours later (CEST) it is 03-30. */
    const long long t[] = {1774738800000LL - 1, 1774738800000LL,
                           1774738800000LL + 23 * 3600000LL - 1, 1774738800000LL + 23 * 3600000LL};
    for (size_t i = 0; i < 4; i++) {
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "INSERT INTO leads(id, form, created_at, created_ms, utm_source) VALUES"
                 " ('01KMXZ00000000000000000%zu', 'contact', 'x', %lld, 'dst')",
                 i, t[i]);
        h_sql_exec(&l, sql);
    }
    /* leads written by another program are counted by a rebuild; which
     * needs SQLite's file to itself (PostgreSQL's serving nodes wait for it) */
    assert_int_equal(h_rollup_rebuild(&l, "Europe/Berlin", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "groups counted from the leads"));
    h_restart(&l);
    if (h_pg()) {
        assert_int_equal(h_rollup_rebuild(&l, "Europe/Berlin", out, sizeof(out)), 0);
    } else {
        assert_int_equal(h_rollup_rebuild(&l, "Europe/Berlin", out, sizeof(out)), 1);
        assert_non_null(strstr(out, "stop the leadd serving"));
    }
    json_t *root = get_json(&l, "/v1/stats?group_by=day&from=2026-03-28&to=2026-03-30");
    expect_row(row_of(root, "2026-03-28"), "03-28", "leads=1");
    expect_row(row_of(root, "2026-03-29"), "03-29 (23 hours)", "leads=2");
    expect_row(row_of(root, "2026-03-30"), "03-30", "leads=1");
    json_decref(root);
    const char *ranges[][2] = {
        {"from=2026-03-29&to=2026-03-29", "2"}, /* days only */
        {"from=2026-03-01&to=2026-03-31", "4"}, /* one whole month */
        {"from=2026-02-15&to=2026-04-10", "4"}, /* a month and days either side */
        {"from=2026-03-29&to=2026-04-30", "3"}, /* days, then a whole month */
        {"from=2026-03-30", "1"},
        {"to=2026-03-28", "1"},
        {"from=2026-04-01", "0"},
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        char path[160], want[32];
        snprintf(path, sizeof(path), "/v1/stats?group_by=utm_source&%s", ranges[i][0]);
        root = get_json(&l, path);
        snprintf(want, sizeof(want), "leads=%s", ranges[i][1]);
        expect_row(json_object_get(root, "total"), ranges[i][0], want);
        json_decref(root);
    }
    /* the same leads in UTC: a restart in another zone counts them again */
    assert_int_equal(h_stop(&l), 0);
    free(l.sets[0]); /* server.timezone: back to the default, UTC */
    memmove(l.sets, l.sets + 1, --l.nsets * sizeof(l.sets[0])); /* the backend's stay */
    h_restart(&l);
    assert_true(h_wait_log(&l, "counting the stats' days again", 5000));
    root = get_json(&l, "/v1/stats?group_by=day&from=2026-03-28&to=2026-03-30");
    expect_row(row_of(root, "2026-03-28"), "03-28 UTC", "leads=2");
    expect_row(row_of(root, "2026-03-29"), "03-29 UTC", "leads=2");
    json_decref(root);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

static uint64_t rnd_state = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (unsigned)(rnd_state % n);
}

/* Rebuilds the counters again and again, beside the nodes' writes, until
 * told to stop; each must succeed. */
struct rebuilder {
    struct leadd *l;
    atomic_bool stop;
    int runs, failed;
};

static void *rebuild_meanwhile(void *arg)
{
    struct rebuilder *rb = arg;
    char out[4096];
    do {
        if (h_rollup_rebuild(rb->l, "UTC", out, sizeof(out)) != 0) {
            fprintf(stderr, "rebuild beside the nodes failed: %s\n", out);
            rb->failed++;
        }
        rb->runs++;
    } while (!atomic_load(&rb->stop));
    return NULL;
}

/* A random mix of every change that moves a counter, then the counters the
 * writer and the triggers kept, against counters rebuilt from the leads.
 * On PostgreSQL each batch counts its own leads as it commits (no fold
 * lags), and the mix runs while the counters are rebuilt beside it. */
static void t_kept_counters_equal_rebuilt(void **state)
{
    (void)state;
    struct leadd l;
    static char out[4096];
    static const char *const SRC[] = {"google", "bing", "facebook", "", "newsletter"};
    static const char *const STATUS[] = {"new", "contacted", "converted", "rejected"};
    char ids[200][64];
    make_ini();
    h_start(&l, INI, NULL);
    for (int i = 0; i < 200; i++) {
        char body[512];
        int s = (int)rnd(5);
        snprintf(body, sizeof(body),
                 "{\"email\":\"p%u@corp.example\",\"name\":\"P\",%s\"budget\":%u,"
                 "\"consent\":true%s%s%s%s,\"utm_campaign\":\"c%u\"%s}",
                 rnd(150), rnd(2) ? "\"company\":\"C\"," : "", rnd(3) * 10000,
                 *SRC[s] ? ",\"utm_source\":\"" : "", SRC[s], *SRC[s] ? "\"" : "",
                 rnd(2) ? ",\"utm_medium\":\"cpc\"" : "", rnd(3),
                 rnd(12) == 0 ? ",\"_gotcha\":\"x\"" : "");
        post(&l, body, ids[i], sizeof(ids[i]));
    }
    /* one with attribution as long as a lead keeps (1,000 characters, here
     * 2,000 bytes) and characters a key might be cut at */
    static char big[4096];
    size_t n = (size_t)snprintf(big, sizeof(big),
                                "{\"email\":\"long@corp.example\",\"name\":\"L\",\"consent\":true,"
                                "\"utm_source\":\"google\",\"utm_medium\":\"a\\u001fb 3:c\","
                                "\"utm_campaign\":\"");
    for (int k = 0; k < 999; k++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "\xc3\xa9");
    snprintf(big + n, sizeof(big) - n, "z\"}");
    post(&l, big, ids[199], sizeof(ids[199]));
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM leads WHERE length(utm_campaign) >= 500 "
                                   "AND utm_medium LIKE 'a%%'"),
                     1);
    /* PostgreSQL: counted as they were written, nothing waits for a fold */
    if (h_pg())
        assert_int_equal(h_sql_int(&l, "SELECT sum(leads) FROM rollup WHERE grain = 0"), 201);
    /* SQLite: folded into the counters at the stop. From here on every
     * change moves counted leads between counters (the triggers) */
    assert_int_equal(h_stop(&l), 0);
    h_restart(&l);
    assert_true(h_sql_int(&l, "SELECT count(*) FROM leads WHERE id <= (SELECT upto FROM"
                              " rollup_mark)") == 201);
    struct rebuilder rb = {.l = &l};
    pthread_t th;
    if (h_pg()) /* nodes write while the counters are rebuilt */
        assert_int_equal(pthread_create(&th, NULL, rebuild_meanwhile, &rb), 0);
    for (int i = 0; i < 120; i++) {
        const char *id = ids[rnd(200)];
        char body[256];
        switch (rnd(5)) {
        case 0: snprintf(body, sizeof(body), "{\"spam\":true}"); break;
        case 1: snprintf(body, sizeof(body), "{\"spam\":false}"); break;
        case 2:
            snprintf(body, sizeof(body), "{\"status\":\"converted\",\"value\":\"%u.%02u\"%s}",
                     rnd(9000), rnd(100), rnd(3) ? "" : ",\"currency\":\"USD\"");
            break;
        case 3: snprintf(body, sizeof(body), "{\"value\":null}"); break;
        default: snprintf(body, sizeof(body), "{\"status\":\"%s\"}", STATUS[rnd(4)]); break;
        }
        patch(&l, id, body);
    }
    for (int i = 0; i < 10; i++) {
        char path[96];
        struct resp r;
        snprintf(path, sizeof(path), "/v1/leads/%s", ids[rnd(200)]);
        h_api(&l, "DELETE", path, NULL, &r);
        resp_free(&r);
    }
    if (h_pg()) {
        atomic_store(&rb.stop, true);
        pthread_join(th, NULL);
        assert_int_equal(rb.failed, 0);
        assert_true(rb.runs >= 1);
    }
    assert_int_equal(h_stop(&l), 0);
    /* rules change: rescore moves grades and qualification of stored leads */
    assert_int_equal(h_run(out, sizeof(out),
                           "%s rescore -c %s --set storage.path=%s --set form.contact.grade.hot=25 "
                           "--set form.contact.grade.warm=5"
                           " --set form.contact.qualify_at=20%s",
                           bin(), l.cfg, l.db, h_backend_sets(&l)),
                     0);
    assert_non_null(strstr(out, "rescored "));
    assert_true(h_sql_int(&l, "SELECT count(*) FROM leads WHERE id > (SELECT upto FROM"
                              " rollup_mark)") == 0);
    assert_true(h_sql_int(&l, "SELECT sum(leads) FROM rollup WHERE grain = 0") == 201);
    assert_true(h_sql_int(&l, "SELECT count(*) FROM rollup WHERE leads = 0") == 0);
    assert_true(h_rollup_kept_is_rebuilt(&l) > 100);
    h_cleanup(&l);
}

/* The ad platforms' report exports as downloaded, each with its title and
 * date-range lines above the header, its total and footer rows, its own
 * column names, date format and number format, stored with exact sums and
 * the utm_source that spend_sources gives its platform. */
static const char GOOGLE_ADS[] = /* Google Ads, Campaigns report segmented by Day, .csv */
    "Campaign report\n"          /* the report's title */
    "\"November 1, 2026 - November 2, 2026\"\n" /* its date range */
    "Day,Campaign,Currency code,Cost\n"         /* Day: YYYY-MM-DD; Cost: 1,234.56 */
    "2026-11-01,Spring sale,EUR,\"1,200.00\"\n"
    "2026-11-02,Spring sale,EUR,35.10\n"
    "2026-11-02,Brand,EUR,4.90\n"
    "Total: Account,--,EUR,\"1,240.00\"\n" /* the totals Google adds at the end */
    "Total: Campaigns,--,EUR,\"1,240.00\"\n";
static const char META[] = /* Meta Ads Manager, Export table data, breakdown by Day, de locale */
    "\xEF\xBB\xBF"         /* a byte-order mark */
    "Reporting starts,Reporting ends,Campaign name,Amount spent (EUR)\n" /* currency named */
    "2026-11-01,2026-11-02,,\"1.340,50\"\n" /* the summary row: the whole range, no campaign */
    "2026-11-01,2026-11-01,Retargeting,\"1.200,00\"\n" /* decimal comma, point groups */
    "2026-11-02,2026-11-02,Retargeting,\"140,50\"\n";
static const char MICROSOFT[] = /* Microsoft Advertising, Campaign performance, Daily */
    "\"Report Name: Campaign performance\"\n"
    "\"Report Time: 11/3/2026 9:00:00 AM\"\n"
    "\"Time Zone: (GMT+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna\"\n"
    "\"Report Aggregation: Daily\"\n"
    "\"Rows: 2\"\n"
    "\n"
    "\"Time period\",\"Campaign name\",\"Currency code\",\"Spend\"\n" /* M/D/YYYY dates */
    "\"11/1/2026\",\"Search - Brand\",\"EUR\",\"19.99\"\n"
    "\"11/2/2026\",\"Search - Brand\",\"EUR\",\"1,005.01\"\n"
    "\"Total\",\"\",\"\",\"1,025.00\"\n"
    "\n"
    "\"\xC2\xA9"
    "2026 Microsoft Corporation. All rights reserved. \"\n";
static const char LINKEDIN[] = /* LinkedIn Campaign Manager, Campaign performance, daily */
    "Campaign Performance Report (in UTC)\n"
    "\"Report Start: 11/1/2026, 12:00 AM\"\n"
    "\"Report End: 11/2/2026, 11:59 PM\"\n"
    "\"Account Name: Initech\",\"Account ID: 5071\"\n"
    "Start Date (in UTC),Account Name,Campaign Group Name,Campaign Name,Campaign ID,Currency,"
    "Total Spent,Impressions,Clicks\n"
    "11/1/2026,Initech,Q4,Decision makers,12345,EUR,250.00,1000,12\n"
    "11/2/2026,Initech,Q4,Decision makers,12345,EUR,\"1,000.00\",2000,30\n";

static void t_spend_platform_exports(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    static const struct {
        const char *csv, *source;
        int rows;
        long long minor;
    } E[] = {
        {GOOGLE_ADS, "google", 3, 124000},
        {META, "facebook", 2, 134050},
        {MICROSOFT, "bing", 2, 102500},
        {LINKEDIN, "linkedin", 2, 125000},
    };
    make_ini();
    h_start(&l, INI, NULL);
    for (size_t i = 0; i < sizeof(E) / sizeof(E[0]); i++) {
        char want[32];
        spend_csv(&l, E[i].csv, &r);
        snprintf(want, sizeof(want), "{\"stored\":%d}", E[i].rows);
        if (r.status != 200 || strcmp(r.body, want))
            fail_msg("export %zu (%s): %ld %s", i, E[i].source, r.status, r.body);
        resp_free(&r);
        assert_int_equal(
            h_sql_int(&l, "SELECT count(*) FROM spend WHERE utm_source = '%s'", E[i].source),
            E[i].rows);
        assert_int_equal(h_sql_int(&l,
                                   "SELECT sum(amount_minor) FROM spend WHERE utm_source = '%s'"
                                   " AND currency = 'EUR'",
                                   E[i].source),
                         E[i].minor);
    }
    h_api(&l, "GET", "/v1/spend?from=2026-11-02&to=2026-11-02&utm_source=bing", NULL, &r);
    assert_string_equal(r.body, "{\"data\":[{\"date\":\"2026-11-02\",\"utm_source\":\"bing\","
                                "\"utm_campaign\":\"Search - Brand\",\"amount\":\"1005.01\","
                                "\"currency\":\"EUR\"}]}");
    resp_free(&r);
    /* the request names the source: Google's export as "adwords" */
    h_req(&l, "POST", "/v1/spend?utm_source=adwords", GOOGLE_ADS, &r,
          "Authorization: Bearer " H_API_KEY, "Content-Type: text/csv", NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(h_sql_int(&l, "SELECT sum(amount_minor) FROM spend WHERE utm_source ="
                                   " 'adwords'"),
                     124000);
    /* refused whole, with the line: a row over several days, a malformed
     * amount; nothing of either stored */
    long long before = h_sql_int(&l, "SELECT count(*) FROM spend");
    spend_csv(&l,
              "Reporting starts,Reporting ends,Campaign name,Amount spent (EUR)\n"
              "2026-12-01,2026-12-01,Retargeting,\"10,00\"\n"
              "2026-12-01,2026-12-31,Retargeting,\"1.200,00\"\n",
              &r);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "{\"line\":3,\"field\":\"date\",\"message\":\"this row spans"));
    resp_free(&r);
    spend_csv(&l, "Day,Campaign,Currency code,Cost\n2026-12-01,A,EUR,\"1,20,00\"\n", &r);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "{\"line\":2,\"field\":\"amount\""));
    resp_free(&r);
    spend_csv(&l, "Report\n\"Dec 1, 2026\"\nDay,Campaign,Cost\nDecember 1 2026,A,1.00\n", &r);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "{\"line\":4,\"field\":\"date\""));
    resp_free(&r);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM spend"), before);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

static void t_spend_api(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    make_ini();
    h_start(&l, INI, NULL);
    /* every bad row reported with its line; nothing stored */
    spend_csv(&l,
              "date,utm_source,utm_campaign,amount,currency\n"
              "2026-11-02,google,spring,125.40,EUR\n"
              "2026-11-31,google,spring,1.00,EUR\n"
              "2026-11-03,,spring,1.00,EUR\n"
              "\"2026-11-04\",google,\"with, comma\",\"1.5\"\n"
              "2026-11-05,google,x,-3.00,EUR\n"
              "2026-11-06,google,x,1.001,EUR\n"
              "2026-11-07,google,x,100,JPY\n"
              "2026-11-08,google,x,1.5,JPY\n"
              "2026-11-09,google,x,1,euro\n"
              "2026-11-10,google,\"multi\nline\",2.00,EUR\n"
              "2026-11-11,google,x,1e3,EUR\n",
              &r);
    assert_int_equal(r.status, 422);
    char ct[64];
    assert_string_equal(h_header(&r, "content-type", ct, sizeof(ct)), "application/problem+json");
    const char *want[] = {
        "{\"line\":3,\"field\":\"date\"",    "{\"line\":4,\"field\":\"utm_source\"",
        "{\"line\":6,\"field\":\"amount\"",  "{\"line\":7,\"field\":\"amount\"",
        "{\"line\":9,\"field\":\"amount\"",  "{\"line\":10,\"field\":\"currency\"",
        "{\"line\":13,\"field\":\"amount\"", "\"detail\":\"7 errors; nothing was stored\"",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (!strstr(r.body, want[i]))
            fail_msg("want %s in %s", want[i], r.body);
    }
    resp_free(&r);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM spend"), 0);
    spend_csv(&l, "date,amount\n2026-11-02,1\n", &r);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "the header has no utm_source column"));
    resp_free(&r);
    spend_csv(&l, "date,utm_source,amount\n2026-11-02,\"google,1\n", &r);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "malformed CSV"));
    resp_free(&r);
    /* the right type for each method */
    h_req(&l, "POST", "/v1/spend", "[]", &r, "Authorization: Bearer " H_API_KEY,
          "Content-Type: application/json", NULL);
    assert_int_equal(r.status, 415);
    resp_free(&r);
    h_req(&l, "PUT", "/v1/spend", "date,utm_source,amount\n", &r,
          "Authorization: Bearer " H_API_KEY, "Content-Type: text/csv", NULL);
    assert_int_equal(r.status, 415);
    resp_free(&r);
    /* JSON: errors by index */
    h_api(&l, "PUT", "/v1/spend",
          "[{\"date\":\"2026-11-02\",\"utm_source\":\"google\",\"amount\":12.5},"
          "{\"date\":\"2026-11-02\",\"utm_source\":\"google\",\"amount\":\"1\"},7]",
          &r);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "{\"index\":0,\"field\":\"amount\""));
    assert_non_null(strstr(r.body, "{\"index\":2,\"field\":\"body\""));
    assert_null(strstr(r.body, "\"index\":1"));
    resp_free(&r);
    h_api(&l, "PUT", "/v1/spend", "{\"date\":\"2026-11-02\"}", &r);
    assert_int_equal(r.status, 422);
    resp_free(&r);
    /* upsert by key: the second upload replaces the first's amount */
    spend_csv(&l,
              "utm_source,date,amount,utm_campaign\n"
              "google,2026-11-02,125.40,spring\n"
              "google,2026-11-03,5,\n"
              "bing,2026-11-02,0.99,spring\n",
              &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    spend_csv(&l, "date,utm_source,utm_campaign,amount\n2026-11-02,google,spring,130\n", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    h_api(&l, "GET", "/v1/spend?from=2026-11-02&to=2026-11-02&utm_source=google", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"data\":[{\"date\":\"2026-11-02\",\"utm_source\":\"google\","
                                "\"utm_campaign\":\"spring\",\"amount\":\"130.00\","
                                "\"currency\":\"EUR\"}]}");
    resp_free(&r);
    h_api(&l, "GET", "/v1/spend", NULL, &r);
    assert_non_null(strstr(r.body, "{\"date\":\"2026-11-03\",\"utm_source\":\"google\","
                                   "\"utm_campaign\":null,\"amount\":\"5.00\""));
    resp_free(&r);
    h_api(&l, "GET", "/v1/spend?from=yesterday", NULL, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    /* DELETE one by its key; a second time it is gone */
    h_api(&l, "DELETE", "/v1/spend?date=2026-11-03&utm_source=google", NULL, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    h_api(&l, "DELETE", "/v1/spend?date=2026-11-03&utm_source=google", NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    h_api(&l, "DELETE",
          "/v1/spend?date=2026-11-02&utm_source=bing&utm_campaign=spring"
          "&currency=EUR",
          NULL, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM spend"), 1);
    /* a viewer reads spend and may not change it */
    h_req(&l, "GET", "/v1/spend", NULL, &r, "Authorization: Bearer vera-secret-0123456789", NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    h_req(&l, "POST", "/v1/spend", "date,utm_source,amount\n2026-11-02,x,1\n", &r,
          "Authorization: Bearer vera-secret-0123456789", "Content-Type: text/csv", NULL);
    assert_int_equal(r.status, 403);
    resp_free(&r);

    /* a deal value: exact, in its currency's places */
    char id[64];
    post(&l, "{\"email\":\"v@corp.example\",\"name\":\"V\",\"consent\":true}", id, sizeof(id));
    char path[96];
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    const char *bad_values[] = {
        "{\"value\":12000}",      "{\"value\":\"12.345\"}",
        "{\"value\":\"-5\"}",     "{\"value\":\"5.5\",\"currency\":\"JPY\"}",
        "{\"currency\":\"EUR\"}", "{\"value\":\"5\",\"currency\":\"eur\"}",
        "{\"value\":\"1e9\"}",
    };
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
        h_api(&l, "PATCH", path, bad_values[i], &r);
        if (r.status != 422)
            fail_msg("PATCH %s: %ld %s", bad_values[i], r.status, r.body);
        resp_free(&r);
    }
    h_api(&l, "PATCH", path, "{\"status\":\"converted\",\"value\":\"5000\",\"currency\":\"JPY\"}",
          &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"value\":\"5000\",\"currency\":\"JPY\""));
    resp_free(&r);
    h_api(&l, "PATCH", path, "{\"value\":\"12000.5\"}", &r);
    assert_non_null(strstr(r.body, "\"value\":\"12000.50\",\"currency\":\"EUR\""));
    resp_free(&r);
    h_api(&l, "PATCH", path, "{\"value\":null}", &r);
    assert_non_null(strstr(r.body, "\"value\":null,\"currency\":null"));
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_report_figures_by_hand),      cmocka_unit_test(t_days_in_the_zone),
        cmocka_unit_test(t_kept_counters_equal_rebuilt), cmocka_unit_test(t_spend_api),
        cmocka_unit_test(t_spend_platform_exports),
    };
    return h_run_group_tests_name("stats", tests, NULL, NULL);
}
