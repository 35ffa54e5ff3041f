/* conversions.c: GET /v1/conversions/export?platform=...&from&to: the leads
 * that converted (or qualified: [server] conversion_event) in a range of
 * local days, as each ad platform's offline-conversion upload file, so the
 * platforms bid on the clicks that became customers:
 *   google_ads: Google Ads' click-conversion template: a Parameters:TimeZone
 *               row, then Google Click ID, Conversion Name, Conversion Time
 *               (yyyy-MM-dd HH:mm:ss), Conversion Value, Conversion Currency;
 *               rows with a gclid.
 *   microsoft:  Microsoft Advertising's offline-conversion template: the same
 *               Parameters row, Microsoft Click ID and the same four, then
 *               Hashed Email Address and Hashed Phone Number (enhanced
 *               conversions); rows with an msclkid or a hashed address.
 *   meta:       Meta's offline events: event_name (Purchase or Lead),
 *               event_time (Unix seconds), email, phone (SHA-256), fbc
 *               (fb.1.<ms>.<fbclid>), value, currency, order_id.
 *   linkedin:   LinkedIn's conversion upload template: email (SHA-256),
 *               firstname, lastname, employeecompany, title, country (left
 *               empty: no names leave leadd), timestamp (epoch ms), eventtype
 *               (purchase or qualified_lead), amount, currency.
 * Hashed identifiers (SHA-256 of the address trimmed and lowercased, of the
 * phone in E.164) only for a lead whose form recorded consent, not
 * withdrawn; a row needs a click id or such a hash, else it is left out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "leadd/calendar.h"
#include "leadd/crypto.h"
#include "leadd/jsonr.h"
#include "leadd/log.h"
#include "leadd/money.h"
#include "leadd/strutil.h"

#define CONVERSIONS_MAX_DAYS 400 /* a range; the platforms take 90 days at most */

enum platform { P_GOOGLE, P_MICROSOFT, P_META, P_LINKEDIN, P_COUNT };
static const char *const PLATFORMS[P_COUNT] = {"google_ads", "microsoft", "meta", "linkedin"};
static const char *const HEADERS[P_COUNT] = {
    "Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency\r\n",
    "Microsoft Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency,"
    "Hashed Email Address,Hashed Phone Number\r\n",
    "event_name,event_time,email,phone,fbc,value,currency,order_id\r\n",
    "email,firstname,lastname,employeecompany,title,country,timestamp,eventtype,amount,"
    "currency\r\n",
};

struct conv {
    const struct config *cfg;
    enum platform p;
    bool qualified;
    struct buf *out;
    size_t rows;
};

/* A string member of a stored JSON object, unescaped into b ("" when absent). */
static const char *json_member(const char *json, size_t n, const char *key, struct buf *b)
{
    struct jr_key k = {key, strlen(key)};
    struct jr_value v = {0};
    buf_reset(b);
    if (!json || jr_pick(json, n, &k, 1, &v) || v.kind != 's' || jr_unescape(&v, b))
        return "";
    return buf_str(b);
}

/* SHA-256 hex of s, or "" for "" (nothing to match by). */
static void hash_hex(const char *s, char out[CRYPTO_SHA256_HEX_LEN])
{
    if (!*s || crypto_sha256_hex(s, out))
        out[0] = '\0';
}

/* The lead's phone: its form's first phone field's value (stored E.164). */
static void phone_of(const struct conversion_row *c, const struct config *cfg, char *out,
                     size_t cap)
{
    const struct form *f = config_form(cfg, c->form, strlen(c->form));
    struct buf b = BUF_INIT(4096);
    out[0] = '\0';
    for (size_t i = 0; f && i < f->nfields; i++) {
        if (f->fields[i].type != FT_PHONE)
            continue;
        snprintf(out, cap, "%s", json_member(c->fields, c->fields_len, f->fields[i].name, &b));
        break;
    }
    buf_release(&b);
}

static int one(const struct conversion_row *c, void *arg)
{
    struct conv *v = arg;
    struct buf *o = v->out, attr = BUF_INIT(2048);
    char email_h[2 * SHA256_LEN + 1] = "", phone_h[2 * SHA256_LEN + 1] = "", phone[64];
    char local[32] = "", value[MONEY_STR] = "", lower[256];
    static const char *const CLICK[P_COUNT] = {"gclid", "msclkid", "fbclid", "li_fat_id"};
    const char *click = json_member(c->attribution, c->attribution_len, CLICK[v->p], &attr);
    /* hashes only with consent given and kept */
    if (c->consent && !(c->flags & LEAD_FLAG_CONSENT_WITHDRAWN)) {
        if (c->email && strlen(c->email) < sizeof(lower)) {
            snprintf(lower, sizeof(lower), "%s", c->email);
            str_lower(lower);
            hash_hex(lower, email_h);
        }
        phone_of(c, v->cfg, phone, sizeof(phone));
        /* E.164 with its +; Meta hashes the digits alone */
        hash_hex(v->p == P_META && phone[0] == '+' ? phone + 1 : phone, phone_h);
    }
    bool keep = v->p == P_GOOGLE      ? click[0]
                : v->p == P_MICROSOFT ? click[0] || email_h[0] || phone_h[0]
                : v->p == P_META      ? click[0] || email_h[0] || phone_h[0]
                                      : email_h[0];
    if (!keep) {
        buf_release(&attr);
        return 0;
    }
    struct tm lt;
    int64_t at_ms;
    if (rfc3339_parse(c->at, &at_ms)) {
        buf_release(&attr);
        return LEADD_EDB;
    }
    time_t t = (time_t)(at_ms / 1000);
    int ms = (int)(at_ms % 1000);
    localtime_r(&t, &lt);
    strftime(local, sizeof(local), "%Y-%m-%d %H:%M:%S", &lt);
    if (c->has_value && c->currency)
        money_format(c->value_minor, money_exponent(c->currency), value);
    const char *cur = c->has_value && c->currency ? c->currency : "";
    const char *name = v->cfg->conversion_name;
    switch (v->p) {
    case P_GOOGLE:
    case P_MICROSOFT:
        csv_cell(o, click, strlen(click));
        buf_addc(o, ',');
        csv_cell(o, name, strlen(name));
        buf_addf(o, ",%s,%s,%s", local, value, cur);
        if (v->p == P_MICROSOFT)
            buf_addf(o, ",%s,%s", email_h, phone_h);
        break;
    case P_META:
        buf_addf(o, "%s,%lld,%s,%s,", v->qualified ? "Lead" : "Purchase", (long long)t, email_h,
                 phone_h);
        if (click[0]) { /* fbc: fb.1.<the click's time in ms>.<fbclid>; its arrival stands in */
            char fbc[1200];
            snprintf(fbc, sizeof(fbc), "fb.1.%llu.%s", (unsigned long long)ulid_time_ms(c->id),
                     click);
            csv_cell(o, fbc, strlen(fbc));
        }
        buf_addf(o, ",%s,%s,%s", value, cur, c->id);
        break;
    case P_LINKEDIN:
        /* amount is required: 1 where no value is known, as LinkedIn asks */
        buf_addf(o, "%s,,,,,,%lld,%s,%s,%s", email_h, (long long)t * 1000 + ms,
                 v->qualified ? "qualified_lead" : "purchase", value[0] ? value : "1",
                 cur[0] ? cur : v->cfg->currency);
        break;
    case P_COUNT: break;
    }
    buf_adds(o, "\r\n");
    v->rows++;
    buf_release(&attr);
    return buf_error(o);
}

/* Local midnight of day (YYYY-MM-DD) in ms since the epoch. */
static uint64_t local_midnight_ms(const char *day)
{
    struct tm tm = {0};
    sscanf(day, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_isdst = -1;
    return (uint64_t)mktime(&tm) * 1000;
}

enum MHD_Result conversions_export(struct req *r)
{
    static const char *const allowed[] = {"platform", "from", "to", NULL};
    const char *bad = unknown_param(r, allowed), *pname = query_arg(r, "platform");
    const char *from = query_arg(r, "from"), *to = query_arg(r, "to");
    char today[DAY_LEN + 1], dfrom[DAY_LEN + 1], dto[DAY_LEN + 1];
    int p = pname ? str_index(pname, PLATFORMS, P_COUNT) : -1;
    if (bad)
        return bad_param(r, bad, "unknown parameter (platform, from, to)");
    if (p < 0)
        return bad_param(r, "platform", "expected google_ads, microsoft, meta or linkedin");
    time_t now = time(NULL);
    struct tm lt;
    localtime_r(&now, &lt);
    strftime(today, sizeof(today), "%Y-%m-%d", &lt);
    snprintf(dto, sizeof(dto), "%s", to ? to : today);
    if (from)
        snprintf(dfrom, sizeof(dfrom), "%s", from);
    else
        calendar_add_days(dto, -89, dfrom); /* the platforms take 90 days of clicks */
    if (!calendar_day_valid(dfrom) || (from && strlen(from) != DAY_LEN))
        return bad_param(r, "from", "expected a date such as 2026-11-01");
    if (!calendar_day_valid(dto) || (to && strlen(to) != DAY_LEN))
        return bad_param(r, "to", "expected a date such as 2026-11-30");
    char limit[DAY_LEN + 1];
    calendar_add_days(dfrom, CONVERSIONS_MAX_DAYS, limit);
    if (strcmp(dfrom, dto) > 0 || strcmp(dto, limit) >= 0)
        return bad_param(r, "to", "expected a day on or after from, within 400 days of it");
    char next[DAY_LEN + 1];
    calendar_add_days(dto, 1, next);
    struct buf b = BUF_INIT(64u << 20);
    struct conv v = {r->cfg, (enum platform)p, !strcmp(r->cfg->conversion_event, "qualified"), &b,
                     0};
    if (p == P_GOOGLE || p == P_MICROSOFT)
        buf_addf(&b, "Parameters:TimeZone=%s\r\n", r->cfg->timezone);
    buf_adds(&b, HEADERS[p]);
    int rc = store_conversions(r->h->st, v.qualified, local_midnight_ms(dfrom),
                               local_midnight_ms(next), one, &v);
    if (rc) {
        buf_release(&b);
        return unavailable(r, rc);
    }
    char disp[128];
    snprintf(disp, sizeof(disp), "attachment; filename=\"leadd-%s-%s-%s.csv\"", PLATFORMS[p], dfrom,
             dto);
    req_header(r, "Content-Disposition", "%s", disp);
    return respond_buf(r, 200, "text/csv; charset=utf-8", &b);
}
