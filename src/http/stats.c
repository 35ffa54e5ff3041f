/* stats.c: the stats report (what each source brought, cost and earned) as
 * JSON and CSV, and the ad spend it divides: PUT (JSON), POST (an ad
 * platform's CSV), GET and DELETE /v1/spend. Money is exact throughout
 * (money.h): minor units summed by the store, quotients rounded half away
 * from zero here. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/calendar.h"
#include "leadd/jsonw.h"
#include "leadd/money.h"
#include "leadd/strmap.h"
#include "leadd/strutil.h"

#define SPEND_MAX_BODY (8u << 20) /* an upload: a year of 200 campaigns is ~4 MB of CSV */
#define SPEND_MAX_ROWS 200000
#define SPEND_MAX_ERRORS 1000 /* listed; error_count says how many there were */
#define SPEND_MAX_NAME 200    /* a source's or campaign's name, in bytes */

static const char JSON[] = "application/json";

/* ---- the report ---- */

/* The figures of a row, in the order the JSON and the CSV write them. */
enum figure {
    F_LEADS,
    F_VALID,
    F_QUALIFIED,
    F_HOT,
    F_WARM,
    F_COLD,
    F_CONTACTED,
    F_CONVERTED,
    F_REJECTED,
    F_SPAM,
    F_DUPLICATES, /* counts, above */
    F_QUALIFIED_RATE,
    F_CONVERSION_RATE,
    F_SPEND,
    F_CPL,
    F_COST_PER_QUALIFIED,
    F_COST_PER_SALE,
    F_REVENUE,
    F_ROI,
    F_COUNT
};
static const char *const FIGURE_NAMES[F_COUNT] = {
    "leads",
    "valid",
    "qualified",
    "hot",
    "warm",
    "cold",
    "contacted",
    "converted",
    "rejected",
    "spam",
    "duplicates",
    "qualified_rate",
    "conversion_rate",
    "spend",
    "cpl",
    "cost_per_qualified",
    "cost_per_sale",
    "revenue",
    "roi",
};
_Static_assert(LEADD_ARRAY_LEN(FIGURE_NAMES) == F_COUNT, "a name for every figure");

/* Figure f of row x as text; false for null (a zero divisor, or spend not
 * known). exp: the currency's decimal places. */
static bool figure(const struct report_row *x, enum figure f, bool spend_known, int exp,
                   char out[MONEY_STR])
{
    const long long counts[F_QUALIFIED_RATE] = {x->leads,    x->valid, x->qualified, x->hot,
                                                x->warm,     x->cold,  x->contacted, x->converted,
                                                x->rejected, x->spam,  x->duplicates};
    switch (f) {
    case F_QUALIFIED_RATE: return decimal_quotient(x->qualified, x->valid, 0, 4, out);
    case F_CONVERSION_RATE: return decimal_quotient(x->converted, x->valid, 0, 4, out);
    case F_REVENUE: money_format(x->revenue_minor, exp, out); return true;
    case F_SPEND: money_format(x->spend_minor, exp, out); return spend_known;
    case F_CPL: return spend_known && decimal_quotient(x->spend_minor, x->valid, exp, exp, out);
    case F_COST_PER_QUALIFIED:
        return spend_known && decimal_quotient(x->spend_minor, x->qualified, exp, exp, out);
    case F_COST_PER_SALE:
        return spend_known && decimal_quotient(x->spend_minor, x->converted, exp, exp, out);
    case F_ROI: /* (revenue - spend) / spend */
        return spend_known &&
               decimal_quotient(x->revenue_minor - x->spend_minor, x->spend_minor, 0, 4, out);
    case F_COUNT: return false;
    default: snprintf(out, MONEY_STR, "%lld", counts[f]); return true;
    }
}

static void json_row(struct buf *b, const struct report_row *x, bool spend_known, int exp)
{
    char v[MONEY_STR];
    buf_adds(b, "{\"key\":");
    jw_str(b, x->key);
    for (int f = 0; f < F_COUNT; f++) {
        buf_addf(b, ",\"%s\":", FIGURE_NAMES[f]);
        if (!figure(x, (enum figure)f, spend_known, exp, v))
            buf_adds(b, "null");
        else if (f < F_QUALIFIED_RATE) /* counts are numbers; money and rates text */
            buf_adds(b, v);
        else
            buf_addf(b, "\"%s\"", v);
    }
    /* what stats callers before the report read: total is leads */
    buf_addf(b, ",\"total\":%lld}", x->leads);
}

static void csv_row(struct buf *b, const char *key, const struct report_row *x, bool spend_known,
                    int exp, const char *currency)
{
    char v[MONEY_STR];
    csv_cell(b, key ? key : "", key ? strlen(key) : 0);
    for (int f = 0; f < F_COUNT; f++) {
        buf_addc(b, ',');
        if (figure(x, (enum figure)f, spend_known, exp, v))
            buf_adds(b, v);
    }
    buf_addf(b, ",%s\r\n", currency);
}

static int report_json(struct buf *b, const struct report *rep, const struct report_query *q,
                       const char *tz)
{
    int exp = money_exponent(q->currency);
    char v[MONEY_STR];
    buf_addf(b, "{\"group_by\":\"%s\",\"from\":", report_group_names[q->group]);
    jw_str(b, q->from);
    buf_adds(b, ",\"to\":");
    jw_str(b, q->to);
    buf_adds(b, ",\"timezone\":");
    jw_str(b, tz);
    buf_addf(b, ",\"currency\":\"%s\",\"data\":[", q->currency);
    for (size_t i = 0; i < rep->n; i++) {
        if (i)
            buf_addc(b, ',');
        json_row(b, &rep->rows[i], rep->row_spend, exp);
    }
    buf_adds(b, "],\"total\":");
    json_row(b, &rep->total, rep->total_spend, exp);
    buf_adds(b, ",\"other_currencies\":[");
    for (size_t i = 0; i < rep->nother; i++) {
        const struct report_other *o = &rep->other[i];
        int oexp = money_exponent(o->currency);
        buf_addf(b, "%s{\"currency\":\"%s\",\"spend\":", i ? "," : "", o->currency);
        money_format(o->spend_minor, oexp, v);
        if (rep->total_spend)
            buf_addf(b, "\"%s\"", v);
        else
            buf_adds(b, "null");
        money_format(o->revenue_minor, oexp, v);
        buf_addf(b, ",\"revenue\":\"%s\"}", v);
    }
    return buf_adds(b, "]}");
}

static int report_csv(struct buf *b, const struct report *rep, const struct report_query *q)
{
    int exp = money_exponent(q->currency);
    buf_adds(b, report_group_names[q->group]);
    for (int f = 0; f < F_COUNT; f++)
        buf_addf(b, ",%s", FIGURE_NAMES[f]);
    buf_adds(b, ",currency\r\n");
    for (size_t i = 0; i < rep->n; i++)
        csv_row(b, rep->rows[i].key, &rep->rows[i], rep->row_spend, exp, q->currency);
    csv_row(b, "Total", &rep->total, rep->total_spend, exp, q->currency);
    return buf_error(b);
}

enum MHD_Result stats_report(struct req *r)
{
    static const char *const allowed[] = {"group_by",   "from",     "to",     "form",
                                          "utm_source", "currency", "format", NULL};
    const char *bad = unknown_param(r, allowed), *g = query_arg(r, "group_by");
    const char *fmt = query_arg(r, "format");
    struct report_query q = {.from = query_arg(r, "from"),
                             .to = query_arg(r, "to"),
                             .form = query_arg(r, "form"),
                             .utm_source = query_arg(r, "utm_source"),
                             .currency = query_arg(r, "currency")};
    if (bad)
        return bad_param(r, bad, "unknown parameter");
    int gi = g ? str_index(g, report_group_names, REPORT_GROUP_COUNT) : -1;
    if (gi < 0)
        return bad_param(r, "group_by",
                         "expected utm_source, utm_medium, utm_campaign, form,"
                         " day, week or month (or grade, status)");
    q.group = (enum report_group)gi;
    if (q.from && !calendar_day_valid(q.from))
        return bad_param(r, "from", "expected a date such as 2026-11-01");
    if (q.to && !calendar_day_valid(q.to))
        return bad_param(r, "to", "expected a date such as 2026-11-30");
    if (q.from && q.to && strcmp(q.from, q.to) > 0)
        return bad_param(r, "to", "is before from");
    if (q.currency && !money_currency_valid(q.currency))
        return bad_param(r, "currency", "expected an ISO 4217 code such as EUR");
    if (!q.currency)
        q.currency = r->cfg->currency;
    if (fmt && strcmp(fmt, "json") && strcmp(fmt, "csv"))
        return bad_param(r, "format", "expected json or csv");
    bool csv = fmt && !strcmp(fmt, "csv");
    struct report rep;
    int rc = store_report(r->h->st, &q, &rep);
    if (rc)
        return unavailable(r, rc);
    struct buf b = BUF_INIT(32u << 20);
    if (csv) {
        report_csv(&b, &rep, &q);
        req_header(r, "Content-Disposition", "attachment; filename=\"leadd-stats-%s.csv\"",
                   report_group_names[q.group]);
    } else {
        report_json(&b, &rep, &q, r->cfg->timezone);
    }
    report_release(&rep);
    return respond_buf(r, 200, csv ? "text/csv; charset=utf-8" : JSON, &b);
}

/* ---- spend ---- */

/* What an upload holds, rows and errors both, until it is stored. */
struct upload {
    struct spend_row *v;
    size_t n, cap;
    struct strmap names; /* the rows' source and campaign strings, each once */
    struct buf errors;   /* a JSON array's members */
    size_t nerrors;
};

static void upload_release(struct upload *u)
{
    strmap_release(&u->names);
    free(u->v);
    buf_release(&u->errors);
}

/* Records one error: where (a CSV line, or a JSON array index), the column
 * and why. */
static void upload_error(struct upload *u, bool csv, size_t where, const char *field,
                         const char *msg)
{
    if (u->nerrors++ >= SPEND_MAX_ERRORS)
        return;
    struct buf *b = &u->errors;
    buf_addf(b, "%s{\"%s\":%zu,\"field\":", u->nerrors > 1 ? "," : "", csv ? "line" : "index",
             where);
    jw_str(b, field);
    buf_adds(b, ",\"message\":");
    jw_str(b, msg);
    buf_addc(b, '}');
}

/* A copy of s[0..n) that lives as long as the upload; NULL on ENOMEM. */
static const char *keep(struct upload *u, const char *s, size_t n)
{
    bool added;
    long i = strmap_index(&u->names, s, n, &added);
    return i < 0 ? NULL : strmap_key(&u->names, (size_t)i);
}

/* Checks one row's values and adds it; each problem is an error at where.
 * A CSV row's date and amount may be written as the ad platforms' exports
 * write them (calendar_day_read, money_read); JSON's are exact. */
static int upload_row(struct upload *u, bool csv, size_t where, const char *const val[5],
                      const size_t len[5], const char *dflt_currency)
{
    static const char *const NAMES[] = {"date", "utm_source", "utm_campaign", "amount", "currency"};
    char cur[4] = "", day[DAY_LEN + 1] = "", tmp[64];
    int64_t minor = 0;
    size_t before = u->nerrors;
    if (csv ? !calendar_day_read(val[0], len[0], day)
            : len[0] != DAY_LEN || (memcpy(day, val[0], DAY_LEN), !calendar_day_valid(day)))
        upload_error(u, csv, where, NAMES[0],
                     csv ? "expected a date such as 2026-11-02 (or 11/2/2026, 02.11.2026,"
                           " Nov 2, 2026)"
                         : "expected a date such as 2026-11-02");
    for (int k = 1; k <= 2; k++) {
        if ((k == 1 && !len[1]) || len[k] > SPEND_MAX_NAME || !utf8_valid(val[k], len[k]))
            upload_error(u, csv, where, NAMES[k],
                         k == 1 ? "expected the source as in utm_source, such as google"
                                : "expected the campaign as in utm_campaign (or nothing)");
    }
    if (!len[4] && dflt_currency)
        snprintf(cur, sizeof(cur), "%s", dflt_currency);
    else if (len[4] == 3)
        memcpy(cur, val[4], 3);
    if (!money_currency_valid(cur))
        upload_error(u, csv, where, NAMES[4], "expected an ISO 4217 code such as EUR");
    else if (csv ? money_read(val[3], len[3], money_exponent(cur), &minor) != 0
                 : len[3] >= sizeof(tmp) || (memcpy(tmp, val[3], len[3]), tmp[len[3]] = '\0',
                                             money_parse(tmp, money_exponent(cur), &minor))) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "expected an amount such as 125.40%s, with at most %d decimal"
                 " places in %s",
                 csv ? " (or 1,200.00 or 1.200,00)" : "", money_exponent(cur), cur);
        upload_error(u, csv, where, NAMES[3], msg);
    }
    if (u->nerrors > before)
        return 0;
    if (u->n == SPEND_MAX_ROWS) {
        upload_error(u, csv, where, NAMES[0], "too many rows in one upload");
        return 0;
    }
    if (u->n == u->cap) {
        size_t ncap = u->cap ? u->cap * 2 : 256;
        struct spend_row *v = realloc(u->v, ncap * sizeof(*v));
        if (!v)
            return LEADD_ENOMEM;
        u->v = v;
        u->cap = ncap;
    }
    struct spend_row *row = &u->v[u->n];
    memset(row, 0, sizeof(*row));
    memcpy(row->day, day, sizeof(row->day));
    memcpy(row->currency, cur, sizeof(row->currency));
    row->amount_minor = minor;
    if (!(row->utm_source = keep(u, val[1], len[1])) ||
        !(row->utm_campaign = keep(u, val[2], len[2])))
        return LEADD_ENOMEM;
    u->n++;
    return 0;
}

static int by_spend_key(const void *a, const void *b)
{
    const struct spend_row *x = a, *y = b;
    int c = strcmp(x->day, y->day);
    c = c ? c : strcmp(x->utm_source, y->utm_source);
    c = c ? c : strcmp(x->utm_campaign, y->utm_campaign);
    return c ? c : strcmp(x->currency, y->currency);
}

/* Rows of one upload with the same key add up (an export split finer than
 * by campaign, by ad group or ad, sums to the campaign's day); the sum then
 * replaces what is stored. */
static void upload_merge(struct upload *u)
{
    size_t w = 0;
    if (!u->n)
        return;
    qsort(u->v, u->n, sizeof(*u->v), by_spend_key);
    for (size_t i = 0; i < u->n; i++) {
        if (w && !by_spend_key(&u->v[w - 1], &u->v[i]) &&
            u->v[w - 1].amount_minor + u->v[i].amount_minor < MONEY_MAX_MINOR) {
            u->v[w - 1].amount_minor += u->v[i].amount_minor;
            continue;
        }
        u->v[w++] = u->v[i];
    }
    u->n = w;
}

/* Reads one CSV field (RFC 4180) at *p into out; *p moves past it and its
 * comma. Quoted fields may hold commas, doubled quotes and line breaks.
 * Returns false at a malformed quote. *eol: the record ended. */
static bool csv_field(const char **p, const char *end, struct buf *out, bool *eol)
{
    const char *s = *p;
    buf_reset(out);
    *eol = false;
    if (s < end && *s == '"') {
        for (s++;; s++) {
            if (s >= end)
                return false;
            if (*s == '"') {
                if (s + 1 < end && s[1] == '"') {
                    buf_addc(out, '"');
                    s++;
                    continue;
                }
                s++;
                break;
            }
            buf_addc(out, *s);
        }
    } else {
        const char *q = s;
        while (q < end && *q != ',' && *q != '\n' && *q != '\r')
            q++;
        buf_add(out, s, (size_t)(q - s));
        s = q;
    }
    if (s < end && *s == ',') {
        *p = s + 1;
        return true;
    }
    if (s < end && *s == '\r')
        s++;
    if (s < end && *s == '\n')
        s++;
    else if (s < end)
        return false; /* text after a closing quote */
    *eol = true;
    *p = s;
    return true;
}

/* What a column of a spend CSV holds: leadd's own names, and the ad
 * platforms' report exports as downloaded (their names compared without
 * case):
 *   Google Ads:            Day, Campaign, Currency code, Cost
 *   Meta Ads Manager:      Reporting starts, Reporting ends, Campaign name,
 *                          Amount spent (EUR)
 *   Microsoft Advertising: Time period (or Gregorian date), Campaign name,
 *                          Currency code, Spend
 *   LinkedIn:              Start Date (in UTC), Campaign Name, Currency,
 *                          Total Spent
 * The amount's name says which platform, whose utm_source spend_sources
 * gives. */
enum spend_col { C_DATE, C_SOURCE, C_CAMPAIGN, C_AMOUNT, C_CURRENCY, C_DATE_END, C_NONE = -1 };
static const struct {
    const char *name;
    enum spend_col col;
    const char *platform; /* an amount's: the export it marks */
} SPEND_COLS[] = {
    {"date", C_DATE, NULL},
    {"day", C_DATE, NULL},
    {"reporting starts", C_DATE, NULL},
    {"time period", C_DATE, NULL},
    {"gregorian date", C_DATE, NULL},
    {"start date (in utc)", C_DATE, NULL},
    {"reporting ends", C_DATE_END, NULL},
    {"end date (in utc)", C_DATE_END, NULL},
    {"utm_source", C_SOURCE, NULL},
    {"utm_campaign", C_CAMPAIGN, NULL},
    {"campaign", C_CAMPAIGN, NULL},
    {"campaign name", C_CAMPAIGN, NULL},
    {"currency", C_CURRENCY, NULL},
    {"currency code", C_CURRENCY, NULL},
    {"amount", C_AMOUNT, NULL},
    {"cost", C_AMOUNT, "google_ads"},
    {"amount spent", C_AMOUNT, "meta"}, /* "Amount spent (EUR)": the currency in brackets */
    {"spend", C_AMOUNT, "microsoft"},
    {"total spent", C_AMOUNT, "linkedin"},
};
#define SPEND_PREAMBLE 30 /* records before the header (a title, a date range) */

/* The column a header cell names, and for an amount its platform and a
 * currency in brackets ("Amount spent (EUR)") into cur. */
static enum spend_col spend_col(const char *name, size_t n, const char **platform, char cur[4])
{
    char head[64];
    str_trim(&name, &n);
    if (n >= sizeof(head))
        return C_NONE;
    memcpy(head, name, n);
    head[n] = '\0';
    str_lower(head);
    char *br = strstr(head, " (");
    if (br && strlen(br) == 6 && br[5] == ')' && strncmp(head, "start", 5) &&
        strncmp(head, "end", 3)) { /* "(eur)" */
        for (int i = 0; i < 3; i++)
            cur[i] = (char)(br[2 + i] - 'a' + 'A');
        cur[3] = '\0';
        *br = '\0';
        if (!money_currency_valid(cur))
            cur[0] = '\0';
    }
    for (size_t i = 0; i < LEADD_ARRAY_LEN(SPEND_COLS); i++) {
        if (!strcmp(head, SPEND_COLS[i].name)) {
            if (SPEND_COLS[i].platform)
                *platform = SPEND_COLS[i].platform;
            return SPEND_COLS[i].col;
        }
    }
    return C_NONE;
}

/* spend_sources: "platform=source ..." -> the source of one platform. */
static bool platform_source(const char *map, const char *platform, char *out, size_t cap)
{
    size_t pl = strlen(platform);
    for (const char *p = map ? map : ""; *p;) {
        p += strspn(p, " ");
        size_t n = strcspn(p, " ");
        if (n > pl + 1 && !strncmp(p, platform, pl) && p[pl] == '=' && n - pl - 1 < cap) {
            snprintf(out, cap, "%.*s", (int)(n - pl - 1), p + pl + 1);
            return true;
        }
        p += n;
    }
    return false;
}

/* A record that is no day's spend: a total ("Total: Account", "Total"), a
 * footer ("(c) 2026 Microsoft Corporation"), a note of one cell. */
static bool spend_skip(const char *first, size_t n, size_t ncells)
{
    str_trim(&first, &n);
    return ncells == 1 || (n >= 5 && str_ieqn("total", first, 5)) ||
           (n >= 2 && !memcmp(first, "\xC2\xA9", 2));
}

struct csv_opts {
    const char *currency;    /* the default */
    const char *utm_source;  /* every row's, when the request names it */
    const char *sources_map; /* [server] spend_sources */
};

static int parse_csv(struct upload *u, const char *body, size_t n, const struct csv_opts *o)
{
    const char *p = body, *end = body + n;
    int col_of[64];
    size_t ncols = 0, line = 1, records = 0; /* line: where a record starts */
    bool eol = false, header = false;
    struct buf f = BUF_INIT(SPEND_MAX_BODY), cells = BUF_INIT(SPEND_MAX_BODY);
    int rc = 0;
    int where[6] = {-1, -1, -1, -1, -1, -1}, first_where[6] = {-1, -1, -1, -1, -1, -1};
    const char *platform = NULL, *hrec = NULL;
    char head_cur[4] = "", source[SPEND_MAX_NAME + 1] = "";
    if (n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) /* a spreadsheet's byte-order mark */
        p += 3;
    /* The header: the first record naming a date and an amount, after
     * whatever title and date range an export puts above it. */
    while (!header && p < end && records < SPEND_PREAMBLE) {
        const char *rec = p;
        bool blank = true;
        ncols = 0;
        platform = NULL;
        head_cur[0] = '\0';
        for (int k = 0; k < 6; k++)
            where[k] = -1;
        for (eol = false; !eol;) {
            if (!csv_field(&p, end, &f, &eol)) {
                upload_error(u, true, line, "line", "malformed CSV (an unclosed quote?)");
                goto out;
            }
            blank &= f.len == 0;
            enum spend_col c = spend_col(buf_str(&f), f.len, &platform, head_cur);
            if (ncols < LEADD_ARRAY_LEN(col_of))
                col_of[ncols] = c;
            if (c != C_NONE && ncols < LEADD_ARRAY_LEN(col_of) && where[c] < 0)
                where[c] = (int)ncols;
            ncols++;
        }
        if (!blank && !records++)
            memcpy(first_where, where, sizeof(where));
        header = where[C_DATE] >= 0 && where[C_AMOUNT] >= 0 && ncols <= LEADD_ARRAY_LEN(col_of);
        if (header)
            hrec = rec;
        else
            for (const char *c = rec; c < p; c++)
                line += *c == '\n';
    }
    if (header && where[C_SOURCE] < 0) { /* the source: the request's, or the platform's */
        if (o->utm_source)
            snprintf(source, sizeof(source), "%s", o->utm_source);
        else if (platform && !platform_source(o->sources_map, platform, source, sizeof(source)))
            source[0] = '\0';
    }
    if (!header || (where[C_SOURCE] < 0 && !source[0])) {
        /* what the header lacks: the found one's source, else the first
         * record's columns, read as leadd's own header */
        static const char *const NEED[] = {"date", "utm_source", NULL, "amount"};
        for (int k = 0; k < 4; k++) {
            if (!NEED[k] ||
                (header ? k != C_SOURCE : first_where[k] >= 0 || (k == C_SOURCE && o->utm_source)))
                continue;
            char msg[160];
            snprintf(msg, sizeof(msg),
                     k == C_SOURCE ? "the header has no utm_source column (or name it: POST"
                                     " /v1/spend?utm_source=google)"
                                   : "the header has no %s column",
                     NEED[k]);
            upload_error(u, true, header ? line : 1, NEED[k], msg);
        }
        goto out;
    }
    for (const char *c = hrec; c < p; c++) /* the header's own lines */
        line += *c == '\n';
    while (!rc && p < end) {
        const char *val[6] = {"", "", "", "", "", ""}, *rec = p;
        size_t len[6] = {0}, at[6] = {0}, k = 0, start_line = line, first_at = 0, first_len = 0;
        bool bad = false, blank = true;
        buf_reset(&cells);
        for (eol = false; !eol && !bad; k++) {
            bad = !csv_field(&p, end, &f, &eol);
            blank &= f.len == 0;
            if (!bad && k == 0) {
                first_at = cells.len;
                first_len = f.len;
                buf_add(&cells, f.ptr ? f.ptr : "", f.len);
            }
            if (!bad && k < ncols && k < LEADD_ARRAY_LEN(col_of) && col_of[k] != C_NONE) {
                at[col_of[k]] = cells.len;
                len[col_of[k]] = f.len;
                buf_add(&cells, f.ptr ? f.ptr : "", f.len);
            }
        }
        for (const char *c = rec; c < p; c++)
            line += *c == '\n';
        if (bad) {
            upload_error(u, true, start_line, "line", "malformed CSV (an unclosed quote?)");
            break;
        }
        if (blank)
            continue; /* an empty line, such as the last */
        if ((rc = buf_error(&cells)))
            break;
        for (int c = 0; c < 6; c++) {
            val[c] = len[c] ? cells.ptr + at[c] : "";
            str_trim(&val[c], &len[c]);
        }
        char day[DAY_LEN + 1];
        if (!calendar_day_read(val[C_DATE], len[C_DATE], day) &&
            spend_skip(cells.ptr + first_at, first_len, k))
            continue;
        if (where[C_DATE_END] >= 0 &&
            (len[C_DATE_END] != len[C_DATE] || memcmp(val[C_DATE_END], val[C_DATE], len[C_DATE]))) {
            if (!len[C_CAMPAIGN])
                continue; /* Meta's summary row: the whole range */
            upload_error(u, true, start_line, "date",
                         "this row spans several days: export the report broken down by day");
            continue;
        }
        if (where[C_SOURCE] < 0)
            val[C_SOURCE] = source, len[C_SOURCE] = strlen(source);
        if (!len[C_CURRENCY] && head_cur[0])
            val[C_CURRENCY] = head_cur, len[C_CURRENCY] = 3;
        rc = upload_row(u, true, start_line, val, len, o->currency);
    }
out:
    buf_release(&cells);
    buf_release(&f);
    return rc;
}

static int parse_json(struct upload *u, const char *body, size_t n, const char *dflt)
{
    static const char *const KEYS[] = {"date", "utm_source", "utm_campaign", "amount", "currency"};
    json_error_t je;
    json_t *root = json_loadb(body, n, 0, &je);
    int rc = 0;
    if (!json_is_array(root)) {
        upload_error(u, false, 0, "body",
                     "expected a JSON array such as [{\"date\":\"2026-11-02\",\"utm_source\":"
                     "\"google\",\"utm_campaign\":\"spring\",\"amount\":\"125.40\","
                     "\"currency\":\"EUR\"}]");
        goto out;
    }
    for (size_t i = 0; !rc && i < json_array_size(root); i++) {
        json_t *o = json_array_get(root, i);
        const char *val[5] = {"", "", "", "", ""};
        size_t len[5] = {0};
        bool bad = !json_is_object(o);
        for (size_t k = 0; !bad && k < 5; k++) {
            json_t *v = json_object_get(o, KEYS[k]);
            if (v && !json_is_null(v) && !json_is_string(v)) {
                upload_error(u, false, i, KEYS[k],
                             k == 3 ? "expected the amount as decimal text, such as \"125.40\""
                                    : "expected text");
                bad = true;
            } else if (json_is_string(v)) {
                val[k] = json_string_value(v);
                len[k] = json_string_length(v);
            }
        }
        if (!json_is_object(o))
            upload_error(u, false, i, "body", "expected an object");
        if (!bad)
            rc = upload_row(u, false, i, val, len, dflt);
    }
out:
    json_decref(root);
    return rc;
}

enum MHD_Result spend_begin(struct req *r)
{
    req_body_start(r, SPEND_MAX_BODY);
    return MHD_YES;
}

/* PUT /v1/spend (JSON) and POST /v1/spend (CSV): all rows or none. */
enum MHD_Result spend_answer(struct req *r)
{
    bool csv = !strcmp(r->method, "POST");
    const char *ct = header_in(r, "Content-Type");
    const char *want = csv ? "text/csv" : "application/json";
    if (!ct || strncasecmp(ct, want, strlen(want)) ||
        (ct[strlen(want)] && ct[strlen(want)] != ';' && ct[strlen(want)] != ' '))
        return problem(r, 415, "unsupported-media-type", "Unsupported media type",
                       csv ? "POST /v1/spend takes text/csv (PUT takes application/json)"
                           : "PUT /v1/spend takes application/json (POST takes text/csv)");
    struct upload u = {.errors = BUF_INIT(1u << 20)};
    enum MHD_Result ret;
    const char *body = r->body.ptr ? r->body.ptr : "";
    struct csv_opts o = {r->cfg->currency, query_arg(r, "utm_source"), r->cfg->spend_sources};
    if (o.utm_source && (!*o.utm_source || strlen(o.utm_source) > SPEND_MAX_NAME))
        return bad_param(r, "utm_source", "expected the source as in utm_source, such as google");
    int rc = csv ? parse_csv(&u, body, r->body.len, &o)
                 : parse_json(&u, body, r->body.len, r->cfg->currency);
    if (rc) {
        ret = unavailable(r, rc);
        goto out;
    }
    if (u.nerrors) {
        char detail[128];
        snprintf(detail, sizeof(detail), "%zu error%s; nothing was stored", u.nerrors,
                 u.nerrors == 1 ? "" : "s");
        struct buf list = BUF_INIT(2u << 20);
        buf_addc(&list, '[');
        buf_add(&list, u.errors.ptr ? u.errors.ptr : "", u.errors.len);
        buf_addc(&list, ']');
        ret = buf_error(&list) ? unavailable(r, LEADD_ENOMEM)
                               : problem_list(r, 422, "invalid-spend", "Some rows are not valid",
                                              detail, buf_str(&list));
        buf_release(&list);
        goto out;
    }
    upload_merge(&u);
    struct store_spend_job job = {.job.op = STORE_OP_SPEND, .v = u.v, .n = u.n};
    if ((rc = store_run(r->h->st, &job.job))) {
        ret = unavailable(r, rc);
        goto out;
    }
    struct buf b = BUF_INIT(256);
    buf_addf(&b, "{\"stored\":%zu}", u.n);
    ret = respond_buf(r, 200, JSON, &b);
out:
    upload_release(&u);
    return ret;
}

static int spend_json(void *arg, const struct store_spend_row *s)
{
    char amount[MONEY_STR];
    struct buf *b = list_next(arg);
    money_format(s->amount_minor, money_exponent(s->currency), amount);
    const struct jw_str_member m[] = {{"date", s->date},
                                      {"utm_source", s->utm_source},
                                      {"utm_campaign", s->utm_campaign},
                                      {"amount", amount},
                                      {"currency", s->currency}};
    buf_addc(b, '{');
    jw_strs(b, m, LEADD_ARRAY_LEN(m), true);
    return buf_addc(b, '}');
}

enum MHD_Result spend_list(struct req *r)
{
    static const char *const allowed[] = {"from", "to", "utm_source", NULL};
    const char *bad = unknown_param(r, allowed), *from = query_arg(r, "from"),
               *to = query_arg(r, "to");
    if (bad)
        return bad_param(r, bad, "unknown parameter");
    if (from && !calendar_day_valid(from))
        return bad_param(r, "from", "expected a date such as 2026-11-01");
    if (to && !calendar_day_valid(to))
        return bad_param(r, "to", "expected a date such as 2026-11-30");
    struct buf b = BUF_INIT(64u << 20);
    struct list rows = {&b, 0};
    buf_adds(&b, "{\"data\":[");
    int rc = store_list_spend(r->h->st, from, to, query_arg(r, "utm_source"), spend_json, &rows);
    buf_adds(&b, "]}");
    if ((rc = rc ? rc : buf_error(&b))) {
        buf_release(&b);
        return unavailable(r, rc);
    }
    return respond_buf(r, 200, JSON, &b);
}

/* DELETE /v1/spend?date=&utm_source=&utm_campaign=&currency=: one row by its
 * key (no campaign: the source's row that has none). */
enum MHD_Result spend_delete(struct req *r)
{
    static const char *const allowed[] = {"date", "utm_source", "utm_campaign", "currency", NULL};
    const char *bad = unknown_param(r, allowed), *date = query_arg(r, "date");
    const char *src = query_arg(r, "utm_source"), *cur = query_arg(r, "currency");
    if (bad)
        return bad_param(r, bad, "unknown parameter");
    if (!date || !calendar_day_valid(date))
        return bad_param(r, "date", "expected a date such as 2026-11-02");
    if (!src || !*src)
        return bad_param(r, "utm_source", "required");
    if (cur && !money_currency_valid(cur))
        return bad_param(r, "currency", "expected an ISO 4217 code such as EUR");
    struct spend_row row = {.utm_source = src, .utm_campaign = query_arg(r, "utm_campaign")};
    snprintf(row.day, sizeof(row.day), "%s", date);
    snprintf(row.currency, sizeof(row.currency), "%s", cur ? cur : r->cfg->currency);
    struct store_spend_job job = {.job.op = STORE_OP_SPEND, .v = &row, .n = 1, .remove = true};
    int rc = store_run(r->h->st, &job.job);
    if (rc == LEADD_ENOTFOUND)
        return problem(r, 404, "not-found", "Not found", "no spend recorded with that key");
    if (rc)
        return unavailable(r, rc);
    return respond(r, 204, NULL, NULL, 0);
}
