/* config.c: the INI loader. One table holds every key with its type, limits
 * and default; inih does the tokenising, this file the meaning of each line.
 * The rest of the module: diag.c (problems and hints), secrets.c (env:,
 * file:, credential:), checks.c (what the lines mean together), ref.c (the
 * config shared by a running leadd); internal.h is what they share. */
#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>

#include "leadd/calendar.h"
#include "leadd/config.h"
#include "leadd/log.h"
#include "leadd/money.h"
#include "leadd/embed.h"
#include "leadd/score.h"
#include "leadd/strutil.h"
#include "internal.h"

/* ---- value setters ----
 * The three typed ones (whole numbers, strings, enums) write one member; the
 * special ones below them parse a value into their whole section object
 * (struct config, struct form or struct webhook). */

struct key;
typedef int (*setter)(struct loader *ld, void *obj, const char *val, const struct key *k);

static int set_int(struct loader *ld, long long *p, const char *name, const char *val,
                   long long min, long long max)
{
    long long v;
    if (!parse_ll(val, strlen(val), &v) || v < min || v > max) {
        diag(ld, "%s: expected a whole number from %lld to %lld, got '%s'", name, min, max, val);
        return LEADD_EINVAL;
    }
    *p = v;
    return 0;
}

static int set_str(struct loader *ld, char **dst, const char *val)
{
    free(*dst);
    *dst = NULL;
    if (!*val)
        return 0;
    if (!(*dst = strdup(val)))
        ld->rc = LEADD_ENOMEM;
    return 0;
}

/* An enum key's words and values (redis's configEnum). */
struct key_enum {
    const char *name;
    int value;
};

static int set_enum(struct loader *ld, int *p, const char *name, const char *val,
                    const struct key_enum *choices)
{
    char list[256] = "";
    for (size_t i = 0; choices[i].name; i++) {
        if (!strcmp(val, choices[i].name)) {
            *p = choices[i].value;
            return 0;
        }
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                 i ? choices[i + 1].name ? ", " : " or " : "", choices[i].name);
    }
    diag(ld, "%s: expected %s, got '%s'", name, list, val);
    return LEADD_EINVAL;
}

static int set_listen(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct config *c = obj;
    (void)k;
    const char *colon = strrchr(val, ':');
    long long port;
    size_t hl = colon ? (size_t)(colon - val) : 0;
    const char *host = val;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host++;
        hl -= 2;
    }
    unsigned char tmp[16];
    char h[64];
    if (!colon || hl == 0 || hl >= sizeof(h) || !parse_ll(colon + 1, strlen(colon + 1), &port) ||
        port < 0 || port > 65535) {
        diag(ld, "listen: expected host:port such as 127.0.0.1:8080, got '%s'", val);
        return LEADD_EINVAL;
    }
    memcpy(h, host, hl);
    h[hl] = '\0';
    if (inet_pton(AF_INET, h, tmp) != 1 && inet_pton(AF_INET6, h, tmp) != 1) {
        diag(ld, "listen: '%s' is not an IPv4 or IPv6 address", h);
        return LEADD_EINVAL;
    }
    memcpy(c->listen_host, h, hl + 1);
    c->listen_port = (int)port;
    return set_str(ld, &c->listen, val);
}

static int set_proxies(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct config *c = obj;
    (void)k;
    free(c->proxies);
    c->proxies = NULL;
    c->nproxies = 0;
    for (const char *s = val; *s;) {
        s += strspn(s, " \t,");
        size_t n = strcspn(s, " \t,");
        if (!n)
            break;
        struct cidr *v = realloc(c->proxies, (c->nproxies + 1) * sizeof(*v));
        if (!v) {
            ld->rc = LEADD_ENOMEM;
            return 0;
        }
        c->proxies = v;
        if (cidr_parse(s, n, &v[c->nproxies])) {
            diag(ld, "trusted_proxies: '%.*s' is not an address or prefix like 10.0.0.0/8", (int)n,
                 s);
            return LEADD_EINVAL;
        }
        c->nproxies++;
        s += n;
    }
    return 0;
}

static int set_origins(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct form *f = obj;
    (void)k;
    strset_release(&f->origins);
    f->any_origin = false;
    if (!strcmp(val, "*")) {
        f->any_origin = true;
        return 0;
    }
    if (strset_add_words(&f->origins, val)) {
        ld->rc = LEADD_ENOMEM;
        return 0;
    }
    for (size_t i = 0; i < f->origins.n; i++) {
        const char *o = f->origins.v[i];
        size_t skip = !strncmp(o, "http://", 7) ? 7 : !strncmp(o, "https://", 8) ? 8 : 0;
        if (!skip || !o[skip] || strchr(o + skip, '/')) {
            diag(ld, "allowed_origins: '%s' is not an origin like https://example.com", o);
            return LEADD_EINVAL;
        }
        str_lower(f->origins.v[i]);
    }
    strset_finish(&f->origins);
    return 0;
}

/* A rate as N/UNIT: N/s, N/10s, N/min, N/h... (0: off). */
static bool parse_rate(const char *val, long long *n, long long *window_s)
{
    static const struct {
        const char *unit;
        long long s;
    } units[] = {{"s", 1},       {"sec", 1},  {"second", 1}, {"min", 60},
                 {"minute", 60}, {"h", 3600}, {"hour", 3600}};
    const char *slash = strchr(val, '/');
    if (!strcmp(val, "0")) {
        *n = 0, *window_s = 1;
        return true;
    }
    if (!slash || !parse_ll(val, (size_t)(slash - val), n) || *n <= 0 || *n > 1000000)
        return false;
    const char *u = slash + 1;
    long long mult = 1;
    size_t digits = strspn(u, "0123456789");
    if (digits && (!parse_ll(u, digits, &mult) || mult <= 0 || mult > 86400))
        return false;
    for (size_t i = 0; i < LEADD_ARRAY_LEN(units); i++) {
        if (!strcmp(u + digits, units[i].unit)) {
            *window_s = mult * units[i].s;
            return true;
        }
    }
    return false;
}

static int set_rate(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct form *f = obj;
    (void)k;
    if (parse_rate(val, &f->rate_limit, &f->rate_window_s))
        return 0;
    diag(ld, "rate_limit: expected N/s, N/min, N/hour (or N/10s...) or 0, got '%s'", val);
    return LEADD_EINVAL;
}

static int set_captcha_secret(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct form *f = obj;
    free(f->captcha_secret);
    f->captcha_secret = NULL;
    if (!*val)
        return 0;
    /* env:NAME keeps it out of the file; the value is never printed */
    (void)k;
    if (!(f->captcha_secret = secret_expand(ld, "captcha_secret", val)))
        return LEADD_EINVAL;
    return 0;
}

static int set_db_url(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct config *c = obj;
    free(c->db_url);
    c->db_url = NULL;
    (void)k;
    /* it may hold a password: env:NAME keeps it out of the file, and it is
     * never printed; every command that opens the database needs it */
    bool optional = ld->secrets_optional;
    ld->secrets_optional = false;
    if (*val)
        c->db_url = secret_expand(ld, "url", val);
    ld->secrets_optional = optional;
    return *val && !c->db_url ? LEADD_EINVAL : 0;
}

static int set_min_score(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct form *f = obj;
    char *end;
    (void)k;
    errno = 0;
    double d = strtod(val, &end);
    if (errno || end == val || *end || !(d >= 0 && d <= 1)) {
        diag(ld, "captcha_min_score: expected a score from 0.0 to 1.0, got '%s'", val);
        return LEADD_EINVAL;
    }
    f->captcha_min_score = d;
    return 0;
}

static int set_webhook_rate(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct webhook *w = obj;
    long long window_s;
    (void)k;
    if (parse_rate(val, &w->rate_n, &window_s) && w->rate_n <= WEBHOOK_MAX_RATE) {
        w->rate_window_ms = window_s * 1000;
        return 0;
    }
    diag(ld, "rate_limit: expected N/s, N/10s, N/min, N/h or 0, got '%s'", val);
    return LEADD_EINVAL;
}

static int set_when(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct webhook *w = obj;
    char err[512];
    (void)k;
    condition_release(&w->cond);
    w->when_line = ld->line;
    if (!strcmp(val, "qualified") || !strcmp(val, "all")) {
        w->when = val[0] == 'a' ? WEBHOOK_WHEN_ALL : WEBHOOK_WHEN_QUALIFIED;
        return 0;
    }
    int rc = condition_parse(&w->cond, val, err, sizeof(err));
    if (rc == LEADD_ENOMEM)
        ld->rc = rc;
    else if (rc)
        diag(ld, "when: expected qualified, all or a condition such as 'grade = hot': %s", err);
    w->when = WEBHOOK_WHEN_CONDITION;
    return rc;
}

static int set_mail_to(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct webhook *w = obj;
    (void)k;
    strset_release(&w->mail_to);
    if (strset_add_words(&w->mail_to, val))
        ld->rc = LEADD_ENOMEM;
    strset_finish(&w->mail_to);
    for (size_t i = 0; i < w->mail_to.n; i++) {
        if (!strchr(w->mail_to.v[i], '@') || strpbrk(w->mail_to.v[i], "<>\r\n,")) {
            diag(ld, "mail_to: '%s' is not an email address", w->mail_to.v[i]);
            return LEADD_EINVAL;
        }
    }
    return 0;
}

static int set_disposable(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct form *f = obj;
    (void)k;
    char line[512];
    strset_release(&f->disposable);
    if (set_str(ld, &f->disposable_path, val) || !f->disposable_path)
        return 0;
    FILE *fp = fopen(val, "r");
    if (!fp) {
        diag(ld, "disposable_domains: cannot read '%s': %s", val, strerror(errno));
        return LEADD_EINVAL;
    }
    while (fgets(line, sizeof(line), fp)) {
        line[strcspn(line, "#\r\n")] = '\0';
        str_lower(line);
        if (strset_add_words(&f->disposable, line)) {
            ld->rc = LEADD_ENOMEM;
            break;
        }
    }
    fclose(fp);
    strset_finish(&f->disposable);
    return 0;
}

/* Whether val is a URL of one of the schemes. */
bool url_of(const char *val, const char *const *schemes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t sl = strlen(schemes[i]);
        if (!strncmp(val, schemes[i], sl) && val[sl] && !strpbrk(val, " \t\r\n"))
            return true;
    }
    return false;
}

const char *const HTTP_SCHEMES[] = {"http://", "https://"};
const char *const SMTP_SCHEMES[] = {"smtp://", "smtps://"};

static int set_url(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct webhook *w = obj;
    (void)k;
    if (*val && !url_of(val, HTTP_SCHEMES, 2) && !url_of(val, SMTP_SCHEMES, 2)) {
        diag(ld, "url: expected an http://, https://, smtp:// or smtps:// URL, got '%s'", val);
        return LEADD_EINVAL;
    }
    return set_str(ld, &w->url, val);
}

static int set_public_url(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct config *c = obj;
    (void)k;
    if (*val && !url_of(val, HTTP_SCHEMES, 2)) {
        diag(ld, "public_url: expected an http:// or https:// URL, got '%s'", val);
        return LEADD_EINVAL;
    }
    /* kept without a trailing slash: every link is public_url + "/path" */
    set_str(ld, &c->public_url, val);
    for (size_t n = c->public_url ? strlen(c->public_url) : 0; n && c->public_url[n - 1] == '/';)
        c->public_url[--n] = '\0';
    return 0;
}

static int set_timezone(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct config *c = obj;
    (void)k;
    if (!calendar_zone_valid(val)) {
        diag(ld,
             "timezone: '%s' is not a time zone this machine knows (an IANA name such as"
             " UTC or Europe/Berlin; Debian's tzdata package has them)",
             val);
        return LEADD_EINVAL;
    }
    return set_str(ld, &c->timezone, val);
}

static int set_currency(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct config *c = obj;
    (void)k;
    if (!money_currency_valid(val)) {
        diag(ld, "currency: expected an ISO 4217 code such as EUR or USD, got '%s'", val);
        return LEADD_EINVAL;
    }
    return set_str(ld, &c->currency, val);
}

static int set_conversion_event(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct config *c = obj;
    (void)k;
    if (strcmp(val, "converted") && strcmp(val, "qualified")) {
        diag(ld, "conversion_event: expected converted or qualified, got '%s'", val);
        return LEADD_EINVAL;
    }
    return set_str(ld, &c->conversion_event, val);
}

/* spend_sources: the utm_source of each ad platform's spend export. */
static int set_spend_sources(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    static const char *const PLATFORMS[] = {"google_ads", "meta", "microsoft", "linkedin"};
    struct config *c = obj;
    (void)k;
    for (const char *p = val; *p;) {
        p += strspn(p, " ");
        size_t n = strcspn(p, " "), pl = strcspn(p, "=");
        bool known = false;
        for (size_t i = 0; i < LEADD_ARRAY_LEN(PLATFORMS); i++)
            known |= pl == strlen(PLATFORMS[i]) && !strncmp(p, PLATFORMS[i], pl);
        if (n && (!known || pl + 1 >= n)) {
            diag(ld,
                 "spend_sources: expected platform=utm_source pairs (google_ads, meta,"
                 " microsoft, linkedin), got '%.*s'",
                 (int)n, p);
            return LEADD_EINVAL;
        }
        p += n;
    }
    return set_str(ld, &c->spend_sources, val);
}

static int set_secret(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct webhook *w = obj;
    (void)k;
    if (!*val) {
        w->secret_len = 0;
        return 0;
    }
    long n =
        strncmp(val, "whsec_", 6) ? -1 : crypto_unbase64(val + 6, w->secret, sizeof(w->secret));
    if (n < 16) {
        diag(ld, "secret: expected whsec_ and base64 of at least 16 bytes");
        return LEADD_EINVAL;
    }
    w->secret_len = (size_t)n;
    return 0;
}

/* An inbound source's secret: a HubSpot app's client secret as text, or a
 * Standard Webhooks whsec_ key (decoded once the kind is known: checks.c). */
static int set_inbound_secret(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct inbound *in = obj;
    (void)k;
    char *text = *val ? secret_expand(ld, "secret", val) : NULL;
    size_t n = text ? strlen(text) : 0;
    if (*val && !text)
        return LEADD_EINVAL;
    if (n >= sizeof(in->secret)) {
        diag(ld, "secret: at most %zu characters", sizeof(in->secret) - 1);
        n = 0;
    }
    if (n)
        memcpy(in->secret, text, n);
    in->secret_len = n;
    if (text)
        explicit_bzero(text, strlen(text));
    free(text);
    return 0;
}

static int set_inbound_password(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct inbound *in = obj;
    (void)k;
    free(in->password);
    in->password = *val ? secret_expand(ld, "password", val) : NULL;
    return *val && !in->password ? LEADD_EINVAL : 0;
}

static int set_inbound_currency(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct inbound *in = obj;
    (void)k;
    if (*val && !money_currency_valid(val)) {
        diag(ld, "currency: expected an ISO 4217 code such as EUR or USD, got '%s'", val);
        return LEADD_EINVAL;
    }
    return set_str(ld, &in->currency, val);
}

static int set_forms(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct webhook *w = obj;
    (void)k;
    strset_release(&w->forms);
    w->all_forms = !strcmp(val, "*");
    if (!w->all_forms && strset_add_words(&w->forms, val))
        ld->rc = LEADD_ENOMEM;
    strset_finish(&w->forms);
    return 0;
}

static int set_schedule(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct webhook *w = obj;
    (void)k;
    w->nschedule = 0;
    for (const char *s = val; *s;) {
        s += strspn(s, " \t");
        size_t n = strcspn(s, " \t");
        if (!n)
            break;
        size_t digits = strspn(s, "0123456789");
        long long v, unit = 0;
        const char *u = s + digits;
        size_t ul = n - digits;
        if (ul == 2 && !strncmp(u, "ms", 2))
            unit = 1;
        else if (ul == 1 && *u == 's')
            unit = 1000;
        else if (ul == 1 && *u == 'm')
            unit = 60000;
        else if (ul == 1 && *u == 'h')
            unit = 3600000;
        if (!unit || !parse_ll(s, digits, &v) || v > 1000000 ||
            w->nschedule == WEBHOOK_MAX_SCHEDULE) {
            diag(ld, "retry_schedule: '%.*s' is not a delay like 500ms, 5s, 30m or 2h (at most %d)",
                 (int)n, s, WEBHOOK_MAX_SCHEDULE);
            return LEADD_EINVAL;
        }
        w->schedule[w->nschedule++] = v * unit;
        s += n;
    }
    return 0;
}

static int set_api_keys(struct loader *ld, void *obj, const char *val, const struct key *k)
{
    struct config *c = obj;
    struct strset keys = {0};
    (void)k;
    free(c->api_keys);
    c->api_keys = NULL;
    c->napi_keys = 0;
    free(c->api_keys_source);
    c->api_keys_source = NULL;
    const char *text = val;
    char *read = NULL;
    if (!strncmp(val, "env:", 4)) {
        /* Keys kept out of the file: NAME holds them, space- or comma-separated. */
        if (!(c->api_keys_source = strdup(val))) {
            ld->rc = LEADD_ENOMEM;
            return 0;
        }
        text = getenv(val + 4);
        if (!text)
            text = "";
    } else if (!strncmp(val, "file:", 5) || !strncmp(val, "credential:", 11)) {
        /* read again at every reload: a key added to the file is a reload */
        if (!(text = read = secret_expand(ld, "api_keys", val)))
            return 0;
    }
    if (strset_add_words(&keys, text)) {
        ld->rc = LEADD_ENOMEM;
        goto out;
    }
    strset_finish(&keys);
    if (keys.n && !(c->api_keys = calloc(keys.n, sizeof(*c->api_keys)))) {
        ld->rc = LEADD_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < keys.n; i++) {
        if (strlen(keys.v[i]) < 16)
            diag(ld, "api_keys: a key is shorter than 16 characters");
        const void *part = keys.v[i];
        size_t len = strlen(keys.v[i]);
        if (crypto_sha256(&part, &len, 1, c->api_keys[i])) {
            ld->rc = LEADD_ENOMEM;
            goto out;
        }
    }
    c->napi_keys = keys.n;
out:
    strset_release(&keys);
    if (read)
        explicit_bzero(read, strlen(read));
    free(read);
    return 0;
}

enum scope { SC_SERVER, SC_STORAGE, SC_AUTH, SC_FORM, SC_WEBHOOK, SC_INBOUND };

/* The sections: three single ones, and the named ones (form.ID, webhook.NAME,
 * inbound.NAME). */
static const struct section {
    const char *name;
    enum scope scope;
    bool named; /* "name." then an id */
} SECTIONS[] = {
    {"server", SC_SERVER, false}, {"storage", SC_STORAGE, false}, {"auth", SC_AUTH, false},
    {"form", SC_FORM, true},      {"webhook", SC_WEBHOOK, true},  {"inbound", SC_INBOUND, true},
};

enum key_type {
    KT_INT,     /* long long at off, within [min, max] */
    KT_STR,     /* char * at off, NULL when empty */
    KT_ENUM,    /* int-sized enum at off, one of choices */
    KT_SPECIAL, /* set() parses into the whole section object */
};

/* One key (redis's standardConfig): where it lives, its type and limits,
 * and its default, applied through the same setter as a value from a file.
 * off is into the scope's object: struct config, struct form or struct
 * webhook. A NULL default means the key is required. */
struct key {
    enum scope scope;
    const char *name;
    enum key_type type;
    size_t off;
    long long min, max;
    const struct key_enum *choices;
    setter set;
    const char *def;
};

_Static_assert(sizeof(enum durability) == sizeof(int), "enum keys are stored as int");
static const struct key_enum LOG_FORMATS[] = {{"text", LOG_TEXT}, {"json", LOG_JSON}, {NULL, 0}};
static const struct key_enum LOG_LEVELS[] = {
    {"info", LOG_INFO}, {"warn", LOG_WARN}, {"error", LOG_ERROR}, {NULL, 0}};
_Static_assert(sizeof(enum backend) == sizeof(int), "enum keys are stored as int");
static const struct key_enum BACKENDS[] = {
    {"sqlite", BACKEND_SQLITE}, {"postgres", BACKEND_POSTGRES}, {NULL, 0}};
static const struct key_enum DURABILITY[] = {
    {"full", DURABILITY_FULL}, {"normal", DURABILITY_NORMAL}, {NULL, 0}};
_Static_assert(sizeof(enum webhook_format) == sizeof(int), "enum keys are stored as int");
_Static_assert(sizeof(enum webhook_content) == sizeof(int), "enum keys are stored as int");
_Static_assert(sizeof(enum webhook_sign) == sizeof(int), "enum keys are stored as int");
static const struct key_enum FORMATS[] = {{"standard", WEBHOOK_STANDARD},
                                          {"hubspot", WEBHOOK_HUBSPOT},
                                          {"salesforce", WEBHOOK_SALESFORCE},
                                          {"slack", WEBHOOK_SLACK},
                                          {"email", WEBHOOK_EMAIL},
                                          {"template", WEBHOOK_TEMPLATE},
                                          {"hubspot_forms", WEBHOOK_HUBSPOT_FORMS},
                                          {NULL, 0}};
static const struct key_enum CONTENT[] = {
    {"json", WEBHOOK_CONTENT_JSON}, {"form", WEBHOOK_CONTENT_FORM}, {NULL, 0}};
static const struct key_enum ESCAPES[] = {{"auto", -1},
                                          {"none", TEMPLATE_ESC_NONE},
                                          {"slack", TEMPLATE_ESC_SLACK},
                                          {"html", TEMPLATE_ESC_HTML},
                                          {NULL, 0}};
static const struct key_enum SIGN[] = {
    {"auto", WEBHOOK_SIGN_AUTO}, {"true", WEBHOOK_SIGN_YES}, {"false", WEBHOOK_SIGN_NO}, {NULL, 0}};
_Static_assert(sizeof(enum inbound_kind) == sizeof(int), "enum keys are stored as int");
static const struct key_enum INBOUND_KINDS[] = {{"hubspot", INBOUND_HUBSPOT},
                                                {"pipedrive", INBOUND_PIPEDRIVE},
                                                {"standard", INBOUND_STANDARD},
                                                {NULL, 0}};
_Static_assert(sizeof(enum webhook_method) == sizeof(int), "enum keys are stored as int");
const char *const webhook_method_names[3] = {"PATCH", "PUT", "POST"};
static const struct key_enum METHODS[] = {
    {"PATCH", WEBHOOK_PATCH}, {"PUT", WEBHOOK_PUT}, {"POST", WEBHOOK_POST}, {NULL, 0}};
static const struct key_enum ON_OFF[] = {{"on", 1}, {"off", 0}, {NULL, 0}};
_Static_assert(sizeof(enum captcha_kind) == sizeof(int), "enum keys are stored as int");
static const struct key_enum CAPTCHAS[] = {{"off", CAPTCHA_OFF},
                                           {"turnstile", CAPTCHA_TURNSTILE},
                                           {"hcaptcha", CAPTCHA_HCAPTCHA},
                                           {"recaptcha", CAPTCHA_RECAPTCHA},
                                           {NULL, 0}};
const char *captcha_name(enum captcha_kind k)
{
    return CAPTCHAS[k].name;
}
static const struct key_enum UNAVAILABLE[] = {{"accept", 0}, {"reject", 1}, {NULL, 0}};

#define INT(sc, name, type, member, min, max, def)                                                 \
    {                                                                                              \
        sc, name, KT_INT, offsetof(type, member), min, max, NULL, NULL, def                        \
    }
#define STR(sc, name, type, member, def)                                                           \
    {                                                                                              \
        sc, name, KT_STR, offsetof(type, member), 0, 0, NULL, NULL, def                            \
    }
#define ENUM(sc, name, type, member, choices, def)                                                 \
    {                                                                                              \
        sc, name, KT_ENUM, offsetof(type, member), 0, 0, choices, NULL, def                        \
    }
#define SPECIAL(sc, name, fn, def)                                                                 \
    {                                                                                              \
        sc, name, KT_SPECIAL, 0, 0, 0, NULL, fn, def                                               \
    }
#define SCORE_LIMIT 1000000000

static const struct key KEYS[] = {
    SPECIAL(SC_SERVER, "listen", set_listen, "127.0.0.1:8080"),
    INT(SC_SERVER, "threads", struct config, threads, 1, 256, "4"),
    INT(SC_SERVER, "max_body_bytes", struct config, max_body_bytes, 1024, 16 << 20, "65536"),
    SPECIAL(SC_SERVER, "trusted_proxies", set_proxies, ""),
    INT(SC_SERVER, "connection_timeout_s", struct config, conn_timeout_s, 1, 3600, "30"),
    INT(SC_SERVER, "request_timeout_s", struct config, request_timeout_s, 1, 3600, "30"),
    INT(SC_SERVER, "header_timeout_s", struct config, header_timeout_s, 1, 3600, "10"),
    INT(SC_SERVER, "connections_per_client", struct config, connections_per_client, 1, 1000000,
        "64"),
    INT(SC_SERVER, "max_connections", struct config, max_connections, 16, 1000000, "4096"),
    INT(SC_SERVER, "event_streams", struct config, event_streams, 0, 10000, "256"),
    INT(SC_SERVER, "event_streams_per_user", struct config, event_streams_per_user, 1, 10000, "8"),
    INT(SC_SERVER, "event_streams_per_client", struct config, event_streams_per_client, 1, 10000,
        "32"),
    ENUM(SC_SERVER, "log_format", struct config, log_format, LOG_FORMATS, "text"),
    ENUM(SC_SERVER, "log_level", struct config, log_level, LOG_LEVELS, "info"),
    INT(SC_SERVER, "event_buffer_kib", struct config, event_buffer_kib, 4, 4096, "64"),
    SPECIAL(SC_SERVER, "public_url", set_public_url, ""),
    SPECIAL(SC_SERVER, "timezone", set_timezone, "UTC"),
    SPECIAL(SC_SERVER, "currency", set_currency, "EUR"),
    SPECIAL(SC_SERVER, "conversion_event", set_conversion_event, "converted"),
    STR(SC_SERVER, "conversion_name", struct config, conversion_name, "leadd conversion"),
    SPECIAL(SC_SERVER, "spend_sources", set_spend_sources,
            "google_ads=google meta=facebook microsoft=bing linkedin=linkedin"),
    SPECIAL(SC_AUTH, "api_keys", set_api_keys, ""),
    STR(SC_STORAGE, "path", struct config, db_path, "leadd.db"),
    ENUM(SC_STORAGE, "backend", struct config, backend, BACKENDS, "sqlite"),
    SPECIAL(SC_STORAGE, "url", set_db_url, ""),
    INT(SC_STORAGE, "pool", struct config, db_pool, 1, 1000, "8"),
    INT(SC_STORAGE, "claim_grace_ms", struct config, claim_grace_ms, 100, 600000, "10000"),
    ENUM(SC_STORAGE, "durability", struct config, durability, DURABILITY, "full"),
    INT(SC_STORAGE, "retention_days", struct config, retention_days, 0, 100000, "0"),
    SPECIAL(SC_FORM, "allowed_origins", set_origins, ""),
    STR(SC_FORM, "redirect", struct form, redirect, "/thanks"),
    STR(SC_FORM, "title", struct form, title, ""),
    STR(SC_FORM, "consent_text", struct form, consent_text, ""),
    STR(SC_FORM, "stylesheet", struct form, stylesheet, ""),
    STR(SC_FORM, "logo", struct form, logo, ""),
    STR(SC_FORM, "page", struct form, page_path, ""),
    STR(SC_FORM, "honeypot", struct form, honeypot, "_gotcha"),
    INT(SC_FORM, "min_fill_ms", struct form, min_fill_ms, 0, 3600000, "1500"),
    INT(SC_FORM, "dedupe_window_hours", struct form, dedupe_window_hours, 0, 8760, "24"),
    SPECIAL(SC_FORM, "rate_limit", set_rate, "30/min"),
    SPECIAL(SC_FORM, "disposable_domains", set_disposable, ""),
    ENUM(SC_FORM, "captcha", struct form, captcha, CAPTCHAS, "off"),
    SPECIAL(SC_FORM, "captcha_secret", set_captcha_secret, ""),
    STR(SC_FORM, "captcha_sitekey", struct form, captcha_sitekey, ""),
    STR(SC_FORM, "captcha_verify_url", struct form, captcha_verify_url, ""),
    STR(SC_FORM, "captcha_action", struct form, captcha_action, ""),
    SPECIAL(SC_FORM, "captcha_min_score", set_min_score, "0.5"),
    ENUM(SC_FORM, "captcha_unavailable", struct form, captcha_unavailable, UNAVAILABLE, "accept"),
    INT(SC_FORM, "captcha_timeout_ms", struct form, captcha_timeout_ms, 100, 30000, "3000"),
    ENUM(SC_FORM, "double_opt_in", struct form, double_opt_in, ON_OFF, "off"),
    STR(SC_FORM, "confirm_mail", struct form, confirm_mail, ""),
    STR(SC_FORM, "confirm_redirect", struct form, confirm_redirect, "/confirmed"),
    INT(SC_FORM, "confirm_within_hours", struct form, confirm_within_hours, 1, 8760, "72"),
    INT(SC_FORM, "grade.hot", struct form, grade_hot, -SCORE_LIMIT, SCORE_LIMIT, "60"),
    INT(SC_FORM, "grade.warm", struct form, grade_warm, -SCORE_LIMIT, SCORE_LIMIT, "30"),
    INT(SC_FORM, "qualify_at", struct form, qualify_at, -SCORE_LIMIT, SCORE_LIMIT, "40"),
    ENUM(SC_WEBHOOK, "format", struct webhook, format, FORMATS, "standard"),
    SPECIAL(SC_WEBHOOK, "url", set_url, ""),
    SPECIAL(SC_WEBHOOK, "secret", set_secret, ""),
    ENUM(SC_WEBHOOK, "sign", struct webhook, sign_mode, SIGN, "auto"),
    STR(SC_WEBHOOK, "template", struct webhook, template_path, ""),
    ENUM(SC_WEBHOOK, "content_type", struct webhook, content_type, CONTENT, "json"),
    ENUM(SC_WEBHOOK, "escape", struct webhook, escape, ESCAPES, "auto"),
    SPECIAL(SC_WEBHOOK, "forms", set_forms, "*"),
    SPECIAL(SC_WEBHOOK, "when", set_when, "qualified"),
    SPECIAL(SC_WEBHOOK, "rate_limit", set_webhook_rate, "0"),
    STR(SC_WEBHOOK, "response_id", struct webhook, response_id, ""),
    STR(SC_WEBHOOK, "record_url", struct webhook, record_url, ""),
    STR(SC_WEBHOOK, "mail_from", struct webhook, mail_from, ""),
    SPECIAL(SC_WEBHOOK, "mail_to", set_mail_to, ""),
    ENUM(SC_WEBHOOK, "smtp_tls", struct webhook, smtp_tls, ON_OFF, "on"),
    INT(SC_WEBHOOK, "timeout_ms", struct webhook, timeout_ms, 100, 600000, "10000"),
    SPECIAL(SC_WEBHOOK, "retry_schedule", set_schedule, "5s 5m 30m 2h 5h 10h 14h 20h 24h"),
    STR(SC_WEBHOOK, "update_url", struct webhook, update_url, ""),
    ENUM(SC_WEBHOOK, "update_method", struct webhook, update_method, METHODS, "PATCH"),
    STR(SC_WEBHOOK, "update_template", struct webhook, update_template_path, ""),
    ENUM(SC_INBOUND, "kind", struct inbound, kind, INBOUND_KINDS, NULL),
    SPECIAL(SC_INBOUND, "secret", set_inbound_secret, ""),
    STR(SC_INBOUND, "user", struct inbound, user, ""),
    SPECIAL(SC_INBOUND, "password", set_inbound_password, ""),
    STR(SC_INBOUND, "webhook", struct inbound, webhook, ""),
    STR(SC_INBOUND, "stage_property", struct inbound, stage_property, "dealstage"),
    STR(SC_INBOUND, "amount_property", struct inbound, amount_property, "amount"),
    SPECIAL(SC_INBOUND, "currency", set_inbound_currency, ""),
};
#undef INT
#undef STR
#undef ENUM
#undef SPECIAL

static int apply(struct loader *ld, const struct key *k, void *obj, const char *val)
{
    char *member = (char *)obj + k->off;
    switch (k->type) {
    case KT_INT: return set_int(ld, (long long *)member, k->name, val, k->min, k->max);
    case KT_STR: return set_str(ld, (char **)member, val);
    case KT_ENUM: return set_enum(ld, (int *)member, k->name, val, k->choices);
    case KT_SPECIAL: break;
    }
    return k->set(ld, obj, val, k);
}

/* did_you_mean over the keys of a scope. */
static const char *key_hint(enum scope sc, const char *name, char *out, size_t cap);

/* The key called name in a scope, or NULL. */
static const struct key *key_find(enum scope sc, const char *name)
{
    for (size_t i = 0; i < LEADD_ARRAY_LEN(KEYS); i++) {
        if (KEYS[i].scope == sc && !strcmp(KEYS[i].name, name))
            return &KEYS[i];
    }
    return NULL;
}

static const char *key_hint(enum scope sc, const char *name, char *out, size_t cap)
{
    const char *names[LEADD_ARRAY_LEN(KEYS)];
    size_t n = 0;
    for (size_t i = 0; i < LEADD_ARRAY_LEN(KEYS); i++) {
        if (KEYS[i].scope == sc)
            names[n++] = KEYS[i].name;
    }
    return did_you_mean(name, names, n, out, cap);
}

size_t config_key_count(void)
{
    return LEADD_ARRAY_LEN(KEYS);
}

struct config_key_info config_key_at(size_t i)
{
    struct config_key_info k = {NULL, NULL, NULL};
    if (i < LEADD_ARRAY_LEN(KEYS)) {
        for (size_t s = 0; s < LEADD_ARRAY_LEN(SECTIONS); s++) {
            if (SECTIONS[s].scope == KEYS[i].scope)
                k.section = SECTIONS[s].name;
        }
        k.name = KEYS[i].name;
        k.def = KEYS[i].def;
    }
    return k;
}

static void apply_defaults(struct loader *ld, enum scope sc, void *obj)
{
    for (size_t i = 0; i < LEADD_ARRAY_LEN(KEYS); i++) {
        if (KEYS[i].scope == sc && KEYS[i].def && apply(ld, &KEYS[i], obj, KEYS[i].def))
            ld->rc = LEADD_EINVAL; /* a bad built-in default is a bug */
    }
}

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static struct form *form_get(struct loader *ld, const char *id)
{
    struct config *c = ld->cfg;
    for (size_t i = 0; i < c->nforms; i++) {
        if (!strcmp(c->forms[i].id, id))
            return &c->forms[i];
    }
    if (!valid_id(id)) {
        diag(ld, "bad form id '%s' (letters, digits, _ and -)", id);
        return NULL;
    }
    if (c->nforms == CONFIG_MAX_FORMS) {
        diag(ld, "too many forms (at most %d)", CONFIG_MAX_FORMS);
        return NULL;
    }
    struct form *v = realloc(c->forms, (c->nforms + 1) * sizeof(*v));
    if (!v) {
        ld->rc = LEADD_ENOMEM;
        return NULL;
    }
    c->forms = v;
    struct form *f = &v[c->nforms++];
    memset(f, 0, sizeof(*f));
    if (!(f->id = strdup(id))) {
        ld->rc = LEADD_ENOMEM;
        c->nforms--;
        return NULL;
    }
    apply_defaults(ld, SC_FORM, f);
    return f;
}

static struct webhook *webhook_get(struct loader *ld, const char *name)
{
    struct config *c = ld->cfg;
    for (size_t i = 0; i < c->nwebhooks; i++) {
        if (!strcmp(c->webhooks[i].name, name))
            return &c->webhooks[i];
    }
    if (!valid_id(name)) {
        diag(ld, "bad webhook name '%s' (letters, digits, _ and -)", name);
        return NULL;
    }
    if (c->nwebhooks == CONFIG_MAX_WEBHOOKS) {
        diag(ld, "too many webhooks (at most %d)", CONFIG_MAX_WEBHOOKS);
        return NULL;
    }
    struct webhook *v = realloc(c->webhooks, (c->nwebhooks + 1) * sizeof(*v));
    if (!v) {
        ld->rc = LEADD_ENOMEM;
        return NULL;
    }
    c->webhooks = v;
    struct webhook *w = &v[c->nwebhooks];
    memset(w, 0, sizeof(*w));
    if (!(w->name = strdup(name))) {
        ld->rc = LEADD_ENOMEM;
        return NULL;
    }
    c->nwebhooks++;
    apply_defaults(ld, SC_WEBHOOK, w);
    return w;
}

static struct inbound *inbound_get(struct loader *ld, const char *name)
{
    struct config *c = ld->cfg;
    for (size_t i = 0; i < c->ninbounds; i++) {
        if (!strcmp(c->inbounds[i].name, name))
            return &c->inbounds[i];
    }
    if (!valid_id(name)) {
        diag(ld, "bad inbound name '%s' (letters, digits, _ and -)", name);
        return NULL;
    }
    if (c->ninbounds == CONFIG_MAX_INBOUNDS) {
        diag(ld, "too many inbound sources (at most %d)", CONFIG_MAX_INBOUNDS);
        return NULL;
    }
    struct inbound *v = realloc(c->inbounds, (c->ninbounds + 1) * sizeof(*v));
    if (!v) {
        ld->rc = LEADD_ENOMEM;
        return NULL;
    }
    c->inbounds = v;
    struct inbound *in = &v[c->ninbounds];
    memset(in, 0, sizeof(*in));
    in->kind = (enum inbound_kind) - 1; /* required: checks.c says so */
    if (!(in->name = strdup(name))) {
        ld->rc = LEADD_ENOMEM;
        return NULL;
    }
    c->ninbounds++;
    apply_defaults(ld, SC_INBOUND, in);
    return in;
}

/* stage.VALUE = STATUS: a CRM's stage (its internal value, such as
 * closedwon) and the status it gives the lead. */
static void inbound_key(struct loader *ld, struct inbound *in, const char *name, const char *val)
{
    if (!strncmp(name, "stage.", 6)) {
        const char *v = name + 6;
        int st = -1;
        for (int i = 0; i < LEAD_STATUS_COUNT; i++)
            if (i != LEAD_STATUS_UNCONFIRMED && !strcmp(val, lead_status_names[i]))
                st = i;
        if (!*v || strlen(v) > 128)
            diag(ld, "bad stage '%s'", v);
        else if (st < 0)
            diag(ld, "%s: expected a status: new, contacted, converted or rejected", name);
        else if (in->nstages == INBOUND_MAX_STAGES)
            diag(ld, "too many stages (at most %d)", INBOUND_MAX_STAGES);
        else if (!(in->stages[in->nstages].value = strdup(v)))
            ld->rc = LEADD_ENOMEM;
        else
            in->stages[in->nstages++].status = (enum lead_status)st;
        return;
    }
    const struct key *k = key_find(SC_INBOUND, name);
    if (k)
        apply(ld, k, in, val);
    else {
        char hint[96];
        diag(ld, "unknown key '%s' in [inbound.%s]%s", name, in->name,
             key_hint(SC_INBOUND, name, hint, sizeof(hint)));
    }
}

const char *const role_names[ROLE_COUNT] = {"public", "viewer", "sales", "admin"};

/* user.NAME = ROLE SECRET: the secret (or env:NAME holding it) kept only as
 * its SHA-256, like the API keys. */
static void user_key(struct loader *ld, const char *name, const char *val)
{
    struct config *c = ld->cfg;
    char role[16], secret[512];
    if (!valid_id(name)) {
        diag(ld, "bad user name '%s' (letters, digits, _ and -)", name);
        return;
    }
    if (!strcmp(name, "api")) { /* what the API keys are called, in sessions, logs and history */
        diag(ld, "user.api: 'api' is the name of the API keys; choose another name");
        return;
    }
    for (size_t i = 0; i < c->nusers; i++) {
        if (!strcmp(c->users[i].name, name)) {
            diag(ld, "user '%s' is declared twice", name);
            return;
        }
    }
    if (c->nusers == CONFIG_MAX_USERS) {
        diag(ld, "too many users (at most %d)", CONFIG_MAX_USERS);
        return;
    }
    int r = -1;
    if (sscanf(val, "%15s %511s", role, secret) != 2 ||
        (r = str_index(role, role_names, ROLE_COUNT)) <= ROLE_PUBLIC) {
        diag(ld, "user.%s: expected 'ROLE SECRET' with ROLE viewer, sales or admin", name);
        return;
    }
    char label[128];
    snprintf(label, sizeof(label), "user.%s: secret", name);
    char *text = secret_expand(ld, label, secret);
    /* A secret not read (said above, or not asked for by a command that does
     * not serve) still makes the user: named elsewhere (an assignment), it
     * is known, and its key, all zeros, is no digest of anything. */
    if (text && *text && strlen(text) < 16) {
        diag(ld, "user.%s: the secret is shorter than 16 characters", name);
        free(text);
        return;
    }
    struct user *v = realloc(c->users, (c->nusers + 1) * sizeof(*v));
    if (!v) {
        ld->rc = LEADD_ENOMEM;
        free(text);
        return;
    }
    c->users = v;
    struct user *u = &v[c->nusers];
    const void *part = text;
    size_t len = text ? strlen(text) : 0;
    u->role = (enum role)r;
    memset(u->key, 0, sizeof(u->key));
    if (!(u->name = strdup(name)) || (len && crypto_sha256(&part, &len, 1, u->key))) {
        free(u->name);
        ld->rc = LEADD_ENOMEM;
    } else {
        c->nusers++;
    }
    free(text);
}

static void webhook_key(struct loader *ld, struct webhook *w, const char *name, const char *val)
{
    if (!strncmp(name, "header.", 7)) {
        const char *h = name + 7;
        if (!*h || strpbrk(h, " :\r\n") || strpbrk(val, "\r\n")) {
            diag(ld, "bad header '%s'", h);
            return;
        }
        if (w->nheaders == WEBHOOK_MAX_HEADERS) {
            diag(ld, "too many headers (at most %d)", WEBHOOK_MAX_HEADERS);
            return;
        }
        struct webhook_header *wh = &w->headers[w->nheaders];
        if (!(wh->value = secret_expand(ld, name, val)))
            return;
        if (strpbrk(wh->value, "\r\n") || !(wh->name = strdup(h))) {
            if (wh->name == NULL && !strpbrk(wh->value, "\r\n"))
                ld->rc = LEADD_ENOMEM;
            else
                diag(ld, "bad header '%s': its value holds a line break", h);
            free(wh->value);
            wh->value = NULL;
            return;
        }
        w->nheaders++;
        return;
    }
    if (!strncmp(name, "map.", 4)) {
        const char *m = name + 4;
        size_t pl = strlen(val);
        if (!valid_id(m) || !pl || pl > 100 ||
            strspn(val, "abcdefghijklmnopqrstuvwxyz"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != pl) {
            diag(ld,
                 "%s: expected map.NAME = PROPERTY (the CRM's property name: letters, digits,"
                 " _ . and -)",
                 name);
            return;
        }
        if (w->nmaps == WEBHOOK_MAX_MAPS) {
            diag(ld, "too many map lines (at most %d)", WEBHOOK_MAX_MAPS);
            return;
        }
        struct webhook_map *mp = &w->maps[w->nmaps];
        if (!(mp->name = strdup(m)) || !(mp->property = strdup(val))) {
            free(mp->name);
            mp->name = NULL;
            ld->rc = LEADD_ENOMEM;
            return;
        }
        mp->line = ld->line;
        w->nmaps++;
        return;
    }
    if (!strncmp(name, "var.", 4)) {
        const char *v = name + 4;
        if (!valid_id(v)) {
            diag(ld, "bad variable name '%s' (letters, digits, _ and -)", v);
            return;
        }
        if (w->nvars == WEBHOOK_MAX_VARS) {
            diag(ld, "too many variables (at most %d)", WEBHOOK_MAX_VARS);
            return;
        }
        char *value = secret_expand(ld, name, val), *vname = value ? strdup(v) : NULL;
        if (!vname) {
            free(value);
            return;
        }
        w->vars[w->nvars].name = vname;
        w->vars[w->nvars].value = value;
        w->nvars++;
        return;
    }
    const struct key *k = key_find(SC_WEBHOOK, name);
    if (k && !strcmp(name, "template"))
        w->template_line = ld->line; /* its file's problems are said at it */
    if (k)
        apply(ld, k, w, val);
    else {
        char hint[96];
        diag(ld, "unknown key '%s' in [webhook.%s]%s", name, w->name,
             key_hint(SC_WEBHOOK, name, hint, sizeof(hint)));
    }
}

/* The prefixes of a form's named keys (field.NAME and the like). */
static const char *const FORM_PREFIXES[] = {"field", "label", "assign", "score"};

static void form_key(struct loader *ld, struct form *f, const char *name, const char *val)
{
    char err[256];
    if (!strncmp(name, "field.", 6)) {
        if (form_field(f, name + 6) >= 0) {
            diag(ld, "field '%s' is declared twice", name + 6);
            return;
        }
        if (f->nfields == CONFIG_MAX_FIELDS) {
            diag(ld, "too many fields (at most %d)", CONFIG_MAX_FIELDS);
            return;
        }
        struct field_spec *v = realloc(f->fields, (f->nfields + 1) * sizeof(*v));
        if (!v) {
            ld->rc = LEADD_ENOMEM;
            return;
        }
        f->fields = v;
        int rc = field_spec_parse(&v[f->nfields], name + 6, val, err, sizeof(err));
        if (rc == LEADD_ENOMEM)
            ld->rc = rc;
        else if (rc)
            diag(ld, "%s", err);
        else
            f->nfields++;
        return;
    }
    if (!strncmp(name, "label.", 6)) {
        int k = form_field(f, name + 6);
        if (k < 0) {
            diag(ld, "label.%s: no field '%s' is declared above it", name + 6, name + 6);
            return;
        }
        free(f->fields[k].label);
        if (!(f->fields[k].label = strdup(val)))
            ld->rc = LEADD_ENOMEM;
        return;
    }
    if (!strncmp(name, "assign.", 7)) {
        int rc = assign_rule_add(f, name + 7, val, err, sizeof(err));
        if (rc == LEADD_ENOMEM)
            ld->rc = rc;
        else if (rc)
            diag(ld, "%s", err);
        else
            f->assign[f->nassign - 1].line = ld->line;
        return;
    }
    if (!strncmp(name, "score.", 6)) {
        int rc = score_rule_add(f, name + 6, val, err, sizeof(err));
        if (rc == LEADD_ENOMEM)
            ld->rc = rc;
        else if (rc)
            diag(ld, "%s", err);
        else
            f->rules[f->nrules - 1].line = ld->line;
        return;
    }
    const struct key *k = key_find(SC_FORM, name);
    const char *dot = strchr(name, '.');
    char hint[160], prefix[32];
    if (k) {
        apply(ld, k, f, val);
    } else if (dot && (size_t)(dot - name) < sizeof(prefix)) {
        /* feild.phone: said with the key meant, then taken as that key, so
         * what names it (a rule on phone) is not refused as well */
        snprintf(prefix, sizeof(prefix), "%.*s", (int)(dot - name), name);
        did_you_mean(prefix, FORM_PREFIXES, LEADD_ARRAY_LEN(FORM_PREFIXES), hint, sizeof(hint));
        size_t i = 0;
        while (*hint && i < LEADD_ARRAY_LEN(FORM_PREFIXES) && !strstr(hint, FORM_PREFIXES[i]))
            i++;
        if (i < LEADD_ARRAY_LEN(FORM_PREFIXES)) {
            char meant[256];
            snprintf(meant, sizeof(meant), "%s%s", FORM_PREFIXES[i], dot);
            diag(ld, "unknown key '%s' in [form.%s] (did you mean '%s'?)", name, f->id, meant);
            struct config_diag *d = ld->diag;
            size_t n = d->n;
            form_key(ld, f, meant, val);
            while (d->n > n) /* its own problems were this line's: said once */
                free(d->msg[--d->n]);
        } else {
            diag(ld, "unknown key '%s' in [form.%s]", name, f->id);
        }
    } else {
        diag(ld, "unknown key '%s' in [form.%s]%s", name, f->id,
             key_hint(SC_FORM, name, hint, sizeof(hint)));
    }
}

/* [storage] keys of SQLite's alone: set with backend = postgres, they do
 * nothing (check-config says so; the example config sets them). */
const char *const SQLITE_ONLY[2] = {"path", "durability"};

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct loader *ld = user;
    char seen[300];
    if (ld->from_file) {
        snprintf(seen, sizeof(seen), "%s\n%s", section, name);
        if (strset_has(&ld->seen, seen) && strncmp(name, "header.", 7)) {
            diag(ld, "'%s' is set twice in [%s]", name, section);
            return 1;
        }
        if (strset_add(&ld->seen, seen, strlen(seen)))
            ld->rc = LEADD_ENOMEM;
        strset_finish(&ld->seen);
        for (size_t i = 0; !strcmp(section, "storage") && i < 2; i++)
            if (!strcmp(name, SQLITE_ONLY[i]))
                ld->sqlite_only_line[i] = ld->line;
    }
    /* What a reload needs to compare, kept as written. */
    struct buf *keep = !strncmp(section, "webhook.", 8) ? &ld->cfg->webhook_text
                       : !strncmp(section, "form.", 5) &&
                               (!strncmp(name, "score.", 6) || !strncmp(name, "grade.", 6) ||
                                !strcmp(name, "qualify_at"))
                           ? &ld->cfg->rules_text
                           : NULL;
    if (keep && buf_addf(keep, "%s %s=%s\n", section, name, value) == LEADD_ENOMEM)
        ld->rc = LEADD_ENOMEM;
    const struct section *sec = NULL;
    const char *id = NULL;
    for (size_t i = 0; i < LEADD_ARRAY_LEN(SECTIONS) && !sec; i++) {
        size_t n = strlen(SECTIONS[i].name);
        if (strncmp(section, SECTIONS[i].name, n))
            continue;
        if (!SECTIONS[i].named && !section[n])
            sec = &SECTIONS[i];
        else if (SECTIONS[i].named && section[n] == '.')
            sec = &SECTIONS[i], id = section + n + 1;
    }
    if (sec && sec->scope == SC_FORM) {
        struct form *f = form_get(ld, id);
        if (f)
            form_key(ld, f, name, value);
    } else if (sec && sec->scope == SC_WEBHOOK) {
        struct webhook *w = webhook_get(ld, id);
        if (w)
            webhook_key(ld, w, name, value);
    } else if (sec && sec->scope == SC_INBOUND) {
        struct inbound *in = inbound_get(ld, id);
        if (in)
            inbound_key(ld, in, name, value);
    } else if (sec && sec->scope == SC_AUTH && !strncmp(name, "user.", 5)) {
        user_key(ld, name + 5, value);
    } else if (sec) {
        const struct key *k = key_find(sec->scope, name);
        if (k)
            apply(ld, k, ld->cfg, value);
        else {
            char hint[96];
            diag(ld, "unknown key '%s' in [%s]%s", name, section,
                 key_hint(sec->scope, name, hint, sizeof(hint)));
        }
    } else if (strcmp(ld->last_bad, section)) {
        static const char *const names[] = {"server", "storage", "auth",
                                            "form",   "webhook", "inbound"};
        char head[128], hint[96];
        snprintf(ld->last_bad, sizeof(ld->last_bad), "%s", section);
        snprintf(head, sizeof(head), "%.*s", (int)strcspn(section, "."), section);
        diag(ld,
             "unknown section [%s] (server, storage, auth, form.ID, webhook.NAME, inbound.NAME)%s",
             section, did_you_mean(head, names, LEADD_ARRAY_LEN(names), hint, sizeof(hint)));
    }
    return 1;
}

/* A line reader for inih that counts lines, so every message can name its
 * line, and rejects over-long lines instead of letting them be split. */
struct ini_stream {
    struct loader *ld;
    const char *p, *end; /* the whole text */
};

static char *read_line(char *str, int num, void *stream)
{
    struct ini_stream *r = stream;
    if (r->p >= r->end)
        return NULL;
    const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    size_t n = nl ? (size_t)(nl - r->p) + 1 : (size_t)(r->end - r->p);
    r->ld->line++;
    if (n >= (size_t)num) {
        diag(r->ld, "line is too long (at most %d characters)", num - 2);
        snprintf(str, (size_t)num, "\n");
    } else {
        memcpy(str, r->p, n);
        str[n] = '\0';
        /* inih reports only its first syntax error; report each one here. */
        const char *s = str + strspn(str, " \t\r\n");
        if (*s && *s != ';' && *s != '#' && *s != '[' && !strpbrk(s, "=:")) {
            diag(r->ld, "expected 'key = value' or '[section]'");
            snprintf(str, (size_t)num, "\n");
        } else if (*s == '[' && !strchr(s, ']')) {
            diag(r->ld, "section header without ']'");
            snprintf(str, (size_t)num, "\n");
        }
    }
    r->p += n;
    return str;
}

char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    struct stat sb;
    if (!fp)
        return NULL;
    if (fstat(fileno(fp), &sb) == 0 && S_ISDIR(sb.st_mode)) { /* fopen takes one */
        fclose(fp);
        errno = EISDIR;
        return NULL;
    }
    struct buf b = BUF_INIT(1 << 20);
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        rc = buf_add(&b, chunk, n);
    fclose(fp);
    if (rc) {
        buf_release(&b);
        errno = EFBIG;
        return NULL;
    }
    *len = b.len;
    return buf_detach(&b);
}

const struct webhook *config_webhook(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nwebhooks; i++) {
        if (!strcmp(cfg->webhooks[i].name, name))
            return &cfg->webhooks[i];
    }
    return NULL;
}

const struct inbound *config_inbound(const struct config *cfg, const char *name, size_t len)
{
    for (size_t i = 0; i < cfg->ninbounds; i++) {
        if (strlen(cfg->inbounds[i].name) == len && !memcmp(cfg->inbounds[i].name, name, len))
            return &cfg->inbounds[i];
    }
    return NULL;
}

bool webhook_takes(const struct webhook *w, const char *form)
{
    return w->all_forms || strset_has(&w->forms, form);
}

static int load(struct config *cfg, const char *path, const char *name, const char *given,
                size_t given_len, char *const *sets, size_t nsets, bool secrets_optional,
                struct config_diag *d)
{
    struct loader ld = {.cfg = cfg, .diag = d, .file = name, .secrets_optional = secrets_optional};
    char *text = NULL;
    size_t len = 0;
    memset(cfg, 0, sizeof(*cfg));
    memset(d, 0, sizeof(*d));
    buf_init(&cfg->webhook_text, 1u << 20);
    buf_init(&cfg->rules_text, 1u << 20);
    apply_defaults(&ld, SC_SERVER, cfg);
    apply_defaults(&ld, SC_STORAGE, cfg);
    apply_defaults(&ld, SC_AUTH, cfg);
    size_t nb;
    const char *const *builtin = disposable_builtin(&nb);
    for (size_t i = 0; i < nb; i++) {
        if (strset_add(&cfg->disposable_default, builtin[i], strlen(builtin[i])))
            ld.rc = LEADD_ENOMEM;
    }
    strset_finish(&cfg->disposable_default);

    if (given) {
        if (!(text = str_dupn(given, given_len))) {
            ld.rc = LEADD_ENOMEM;
            goto out;
        }
        len = given_len;
    } else if (path) {
        if (!(text = slurp(path, &len))) {
            diag(&ld, "cannot read: %s", strerror(errno));
            goto out;
        }
    } else {
        const struct embedded_file *ex = embedded_find(config_files, "config.example.ini");
        if (ex && (text = str_dupn(ex->data, ex->len)))
            len = ex->len;
        if (!text) {
            ld.rc = LEADD_ENOMEM;
            goto out;
        }
    }
    struct ini_stream r = {&ld, text, text + len};
    ld.from_file = true;
    int prc = ini_parse_stream(read_line, &r, handler, &ld);
    if (prc < 0)
        ld.rc = LEADD_ENOMEM;
    ld.file = "--set";
    ld.from_file = false;
    for (size_t i = 0; i < nsets; i++) {
        ld.line = (int)i + 1;
        const char *s = sets[i], *eq = strchr(s, '=');
        /* server.x and storage.x split at the first dot; form.ID.key and
         * webhook.NAME.key keep their first two parts as the section. */
        const char *dot = strchr(s, '.');
        if (dot &&
            (!strncmp(s, "form.", 5) || !strncmp(s, "webhook.", 8) || !strncmp(s, "inbound.", 8)))
            dot = strchr(dot + 1, '.');
        if (!eq || !dot || dot > eq) {
            diag(&ld, "expected section.key=value, got '%s'", s);
            continue;
        }
        char sec[128], key[128];
        snprintf(sec, sizeof(sec), "%.*s", (int)(dot - s), s);
        snprintf(key, sizeof(key), "%.*s", (int)(eq - dot - 1), dot + 1);
        handler(&ld, sec, key, eq + 1);
    }
    ld.file = name;
    check_whole(&ld);
out:
    free(text);
    strset_release(&ld.seen);
    diag_sort(d, name);
    if (ld.rc == 0 && d->n)
        ld.rc = LEADD_EINVAL;
    if (ld.rc)
        config_release(cfg);
    return ld.rc;
}

int config_load(struct config *cfg, const char *path, char *const *sets, size_t nsets,
                struct config_diag *d)
{
    return load(cfg, path, path ? path : "config.example.ini", NULL, 0, sets, nsets, false, d);
}

int config_load_unserved(struct config *cfg, const char *path, char *const *sets, size_t nsets,
                         struct config_diag *d)
{
    return load(cfg, path, path ? path : "config.example.ini", NULL, 0, sets, nsets, true, d);
}

int config_load_text(struct config *cfg, const char *name, const char *text, size_t len,
                     struct config_diag *d)
{
    return load(cfg, NULL, name, text, len, NULL, 0, false, d);
}

void config_release(struct config *cfg)
{
    for (size_t i = 0; i < cfg->nforms; i++) {
        struct form *f = &cfg->forms[i];
        for (size_t k = 0; k < f->nfields; k++)
            field_spec_release(&f->fields[k]);
        free(f->fields);
        strset_release(&f->origins);
        strset_release(&f->disposable);
        free(f->id);
        free(f->redirect);
        free(f->title);
        free(f->consent_text);
        free(f->stylesheet);
        free(f->logo);
        free(f->page_path);
        free(f->page);
        free(f->captcha_secret);
        free(f->captcha_sitekey);
        free(f->captcha_verify_url);
        free(f->captcha_action);
        free(f->confirm_mail);
        free(f->confirm_redirect);
        free(f->honeypot);
        free(f->disposable_path);
        score_rules_release(f);
        assign_rules_release(f);
    }
    free(cfg->forms);
    for (size_t i = 0; i < cfg->nwebhooks; i++) {
        struct webhook *w = &cfg->webhooks[i];
        free(w->name);
        free(w->url);
        strset_release(&w->forms);
        for (size_t k = 0; k < w->nheaders; k++) {
            free(w->headers[k].name);
            free(w->headers[k].value);
        }
        for (size_t k = 0; k < w->nvars; k++) {
            free((char *)w->vars[k].name);
            free((char *)w->vars[k].value);
        }
        free(w->template_path);
        free(w->response_id);
        free(w->record_url);
        free(w->mail_from);
        strset_release(&w->mail_to);
        condition_release(&w->cond);
        template_free(&w->tpl);
        free(w->update_url);
        for (size_t k = 0; k < w->nmaps; k++) {
            free(w->maps[k].name);
            free(w->maps[k].property);
        }
        free(w->update_template_path);
        template_free(&w->update_tpl);
    }
    free(cfg->webhooks);
    for (size_t i = 0; i < cfg->ninbounds; i++) {
        struct inbound *in = &cfg->inbounds[i];
        free(in->name);
        explicit_bzero(in->secret, sizeof(in->secret));
        free(in->user);
        if (in->password)
            explicit_bzero(in->password, strlen(in->password));
        free(in->password);
        free(in->webhook);
        free(in->stage_property);
        free(in->amount_property);
        free(in->currency);
        for (size_t k = 0; k < in->nstages; k++)
            free(in->stages[k].value);
    }
    free(cfg->inbounds);
    free(cfg->api_keys);
    free(cfg->api_keys_source);
    for (size_t i = 0; i < cfg->nusers; i++)
        free(cfg->users[i].name);
    free(cfg->users);
    free(cfg->listen);
    free(cfg->proxies);
    free(cfg->db_path);
    free(cfg->db_url);
    free(cfg->public_url);
    free(cfg->timezone);
    free(cfg->currency);
    free(cfg->spend_sources);
    free(cfg->conversion_event);
    free(cfg->conversion_name);
    strset_release(&cfg->disposable_default);
    buf_release(&cfg->webhook_text);
    buf_release(&cfg->rules_text);
    memset(cfg, 0, sizeof(*cfg));
}

const struct form *config_form(const struct config *cfg, const char *id, size_t len)
{
    for (size_t i = 0; i < cfg->nforms; i++) {
        if (strlen(cfg->forms[i].id) == len && !memcmp(cfg->forms[i].id, id, len))
            return &cfg->forms[i];
    }
    return NULL;
}
