/* lead.h: what a lead is, and how a submission becomes one: field specs,
 * normalization, validation and spam flags. Plain C, no libraries, so every
 * rule is covered by table-driven unit tests.
 *
 * Flow: http/ parses a request body into a struct submission; lead_build()
 * checks it against a struct form and yields a struct lead (or every field
 * error at once); lead_*_json() serialise the parts the store keeps. */
#ifndef LEADD_LEAD_H
#define LEADD_LEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "leadd/buf.h"
#include "leadd/common.h"
#include "leadd/strset.h"

/* Caps on what one submission may carry (STYLE: every buffer has a cap). */
#define LEAD_MAX_INPUTS 200     /* name/value pairs parsed from one body */
#define LEAD_MAX_EXTRA 50       /* undeclared fields kept under "extra" */
#define LEAD_MAX_EXTRA_LEN 1000 /* characters in one undeclared value */
#define LEAD_MAX_NAME_LEN 100   /* characters in a field name */
#define LEAD_MAX_ATTR_LEN 1000  /* attribution values are clipped to this */
#define LEAD_MAX_EMAIL_LEN 254
#define LEAD_MAX_ERRORS 64

enum field_type {
    FT_TEXT,
    FT_EMAIL,
    FT_PHONE,
    FT_INTEGER,
    FT_NUMBER,
    FT_BOOL,
    FT_CONSENT,
    FT_URL,
    FT_ENUM,
};

/* One declared field: `field.NAME = TYPE [required] [min=N] [max=N]`. */
struct field_spec {
    char *name;
    enum field_type type;
    bool required;
    bool has_min, has_max;
    double min, max; /* length for text-like types, value for numbers */
    char **choices;  /* enum(a|b|c) */
    size_t nchoices;
    char *label; /* label.NAME: what a page shows for it; NULL: the name */
};

/* field_spec_parse: parses the spec text of field `name` into *out. On error
 * returns LEADD_EINVAL with a message in err (no "file:line"; the caller adds
 * it). *out owns its memory: field_spec_release() it. */
LEADD_MUST_CHECK int field_spec_parse(struct field_spec *out, const char *name, const char *spec,
                                      char *err, size_t errlen);
void field_spec_release(struct field_spec *f);
/* field_type_name: "text", "email", ... */
const char *field_type_name(enum field_type t);

/* Which captcha a form verifies (its widget and siteverify call). */
enum captcha_kind { CAPTCHA_OFF, CAPTCHA_TURNSTILE, CAPTCHA_HCAPTCHA, CAPTCHA_RECAPTCHA };

struct rule;        /* scoring rules: see score.h */
struct assign_rule; /* assignment rules: see score.h */

#define FORM_PAGE_MAX (256 * 1024) /* a form's page = FILE, at most */

/* A form: one [form.ID] section of the config. Owned by the config. */
struct form {
    char *id;
    struct field_spec *fields;
    size_t nfields;
    struct strset origins; /* allowed Origin values */
    bool any_origin;       /* allowed_origins = * */
    char *redirect;        /* where an HTML form lands after success */
    char *title;           /* its page's heading, or NULL */
    char *consent_text;    /* the wording beside a consent checkbox, or NULL */
    /* the visitor's pages in the site's own look (pages.c): its stylesheet
     * and logo (http(s) URLs), or its whole page: the operator's HTML with
     * {{title}}, {{errors}} and {{form}} where leadd's parts go */
    char *stylesheet, *logo;
    char *page_path;
    char *page;     /* page_path's text, read at load; NULL without one */
    char *honeypot; /* name of the honeypot field, or NULL */
    long long min_fill_ms;
    long long dedupe_window_hours;
    long long rate_limit; /* submissions per rate_window_s per client; 0 = off */
    long long rate_window_s;
    char *disposable_path; /* disposable_domains = FILE, or NULL */
    struct strset disposable;
    /* scoring (score.h) */
    struct rule *rules;
    size_t nrules;
    long long grade_hot, grade_warm, qualify_at;
    /* assignment (score.h): assign.NAME lines, in file order */
    struct assign_rule *assign;
    size_t nassign;
    /* captcha: verified before anything is stored (src/forward/captcha.c) */
    enum captcha_kind captcha;
    char *captcha_secret;         /* env:NAME read; never logged */
    char *captcha_sitekey;        /* the widget's; sent to hCaptcha's siteverify */
    char *captcha_verify_url;     /* default: the provider's siteverify */
    char *captcha_action;         /* when set, the token's action must match */
    double captcha_min_score;     /* recaptcha (v3) */
    int captcha_unavailable;      /* 1 (reject): 503; 0 (accept): stored, flagged */
    long long captcha_timeout_ms; /* a check that has no answer by then is unavailable */
    /* double opt-in: a confirmation mail before the lead counts */
    int double_opt_in;      /* on (1) */
    char *confirm_mail;     /* an email target's name */
    char *confirm_redirect; /* where the link lands once confirmed */
    long long confirm_within_hours;
};

/* form_field: the index of declared field `name`, or -1. */
int form_field(const struct form *f, const char *name);
/* form_origin_allowed: whether an Origin header value may submit to f. */
bool form_origin_allowed(const struct form *f, const char *origin, size_t len);

/* ---- input: what http/ parsed from a request ---- */

enum input_kind {
    IN_STR,       /* a text value (every form-post value) */
    IN_NUM,       /* a JSON number, its text kept as written */
    IN_BOOL,      /* a JSON boolean: "true" or "false" */
    IN_NULL,      /* JSON null: counts as absent */
    IN_COMPOSITE, /* a JSON object or array: never a valid value */
    IN_FILE,      /* a multipart file part: rejected */
};

struct input_field {
    char *name;
    char *val;
    size_t len;
    enum input_kind kind;
};

struct submission {
    struct input_field *in;
    size_t n, alloc;
    bool too_many; /* more than LEAD_MAX_INPUTS pairs were offered */
    char *referer; /* headers; NULL when absent */
    char *user_agent;
    char ip[64]; /* client address, already resolved through proxies */
};

/* submission_add: appends a copy of one pair. Past LEAD_MAX_INPUTS it sets
 * too_many and drops the pair (lead_build then fails with 422). */
LEADD_MUST_CHECK int submission_add(struct submission *s, const char *name, size_t nlen,
                                    const char *val, size_t vlen, enum input_kind kind);
/* submission_release: frees everything the submission owns. */
void submission_release(struct submission *s);

/* captcha_field: whether name is a captcha widget's token field
 * (cf-turnstile-response, h-captcha-response, g-recaptcha-response, or
 * _captcha): a control, never kept with the lead. */
bool captcha_field(const char *name);
/* captcha_token: the token posted for a captcha of kind k (its widget's
 * field, or _captcha; the last one given), borrowed from s; NULL when none
 * or empty. */
const char *captcha_token(const struct submission *s, enum captcha_kind k, size_t *len);

/* ---- the lead ---- */

enum value_kind { VAL_ABSENT = 0, VAL_STR, VAL_INT, VAL_NUM, VAL_BOOL };

struct value {
    enum value_kind kind;
    char *s; /* VAL_STR, owned */
    long long i;
    double d;
    bool b;
};

enum attr {
    ATTR_UTM_SOURCE,
    ATTR_UTM_MEDIUM,
    ATTR_UTM_CAMPAIGN,
    ATTR_UTM_TERM,
    ATTR_UTM_CONTENT,
    /* the ad platforms' click ids (Google's gclid, and gbraid and wbraid
     * for iOS; Meta's fbclid; Microsoft's msclkid; LinkedIn's li_fat_id;
     * TikTok's ttclid): what an offline conversion is matched by */
    ATTR_GCLID,
    ATTR_GBRAID,
    ATTR_WBRAID,
    ATTR_FBCLID,
    ATTR_MSCLKID,
    ATTR_LI_FAT_ID,
    ATTR_TTCLID,
    ATTR_CLICK_LAST = ATTR_TTCLID,
    /* HubSpot's visitor cookie (hubspotutk), which form.js sends: its
     * Forms API attributes a submission to the visit by it */
    ATTR_HUTK,
    ATTR_REFERRER,
    ATTR_LANDING_PAGE,
    ATTR_COUNT
};
extern const char *const lead_attr_names[ATTR_COUNT];
/* lead_attr_index: the attr of a name, or -1. */
int lead_attr_index(const char *name);

/* Flags: reasons a lead is suspicious, bits of one stored integer. Spam flags
 * keep it from qualifying. Bit i is named lead_flag_names[i] (the API's,
 * the metrics' and the export's name for it). */
enum lead_flag {
    LEAD_FLAG_HONEYPOT = 1u << 0,
    LEAD_FLAG_TOO_FAST = 1u << 1,
    LEAD_FLAG_DUPLICATE = 1u << 2,
    LEAD_FLAG_DISPOSABLE = 1u << 3,
    LEAD_FLAG_MARKED_SPAM = 1u << 4, /* a person said so */
    /* the captcha provider could not be asked (captcha_unavailable = accept):
     * held like spam until a person decides, or the lead confirms by mail */
    LEAD_FLAG_CAPTCHA_UNVERIFIED = 1u << 5,
    /* the person withdrew consent: never forwarded again (not spam) */
    LEAD_FLAG_CONSENT_WITHDRAWN = 1u << 6,
};
#define LEAD_FLAG_COUNT 7
#define LEAD_FLAGS_SPAM                                                                            \
    ((unsigned)(LEAD_FLAG_HONEYPOT | LEAD_FLAG_TOO_FAST | LEAD_FLAG_MARKED_SPAM |                  \
                LEAD_FLAG_CAPTCHA_UNVERIFIED))
extern const char *const lead_flag_names[LEAD_FLAG_COUNT];

/* Where a person has taken a lead, and how hot its score made it: one name
 * each, as stored and as the API shows them. */
enum lead_status {
    LEAD_STATUS_NEW,
    LEAD_STATUS_CONTACTED,
    LEAD_STATUS_CONVERTED,
    LEAD_STATUS_REJECTED,
    /* double opt-in: waiting for the person to confirm by mail; only leadd
     * sets it (and leaves it, at confirmation) */
    LEAD_STATUS_UNCONFIRMED,
    LEAD_STATUS_COUNT
};
extern const char *const lead_status_names[LEAD_STATUS_COUNT];
enum lead_grade { LEAD_GRADE_HOT, LEAD_GRADE_WARM, LEAD_GRADE_COLD, LEAD_GRADE_COUNT };
extern const char *const lead_grade_names[LEAD_GRADE_COUNT];

struct score_reason {
    const char *rule; /* borrowed from the form's rule */
    long long points;
};

struct lead {
    const struct form *form; /* borrowed */
    struct value *vals;      /* one per declared field, in form order */
    struct input_field *extra;
    size_t nextra;
    char *attr[ATTR_COUNT]; /* NULL when absent */
    char *ip;
    char *user_agent;
    unsigned flags;
    const char *status; /* a lead_status_names[] entry; NULL: new */
    /* qualification, filled by score_lead() */
    long long score;
    const char *grade;
    bool qualified;
    struct score_reason *reasons;
    size_t nreasons;
};

/* Why a field was refused: the "code" of a 422's errors. */
enum field_code {
    FIELD_REQUIRED,
    FIELD_INVALID,
    FIELD_TOO_LONG,
    FIELD_TOO_SHORT,
    FIELD_OUT_OF_RANGE,
    FIELD_CODE_COUNT
};
extern const char *const field_code_names[FIELD_CODE_COUNT];

struct field_error {
    char field[LEAD_MAX_NAME_LEN + 1];
    const char *code; /* a field_code_names[] entry */
    char message[160];
};

struct lead_errors {
    struct field_error v[LEAD_MAX_ERRORS];
    size_t n;
};

/* lead_error_add: appends one field error (dropped past LEAD_MAX_ERRORS). */
void lead_error_add(struct lead_errors *e, const char *field, enum field_code code,
                    const char *message);

/* lead_build: validates and normalises submission s against form f.
 * disposable_default is consulted when the form names no list of its own.
 * Returns 0 with *out filled (lead_release() it), LEADD_EINVAL with every
 * problem in *errs (and *out empty), or LEADD_ENOMEM. */
LEADD_MUST_CHECK int lead_build(struct lead *out, const struct form *f, const struct submission *s,
                                const struct strset *disposable_default, struct lead_errors *errs);
void lead_release(struct lead *l);

/* lead_unconfirmed: whether l waits for its double opt-in (it cannot qualify). */
bool lead_unconfirmed(const struct lead *l);
/* lead_held: whether l may not be forwarded: spam-flagged (it cannot qualify
 * either), its consent withdrawn, or its opt-in not yet confirmed. */
bool lead_held(const struct lead *l);

/* lead_email: the first declared email field's value, or NULL. Borrowed. */
const char *lead_email(const struct lead *l);
/* lead_value: the value of declared field `name`, or NULL when absent. */
const struct value *lead_value(const struct lead *l, const char *name);

/* Serialisers for the store: each appends one JSON value to b and returns
 * buf_error(b) (sticky: a builder may check once at its end). */
int lead_fields_json(const struct lead *l, struct buf *b);
int lead_extra_json(const struct lead *l, struct buf *b);
int lead_attr_json(const struct lead *l, struct buf *b);
/* lead_attr_erased: what an erased lead keeps of its stored attribution
 * json[0..n): the campaign's own labels (utm_source, utm_medium,
 * utm_campaign: the stats count by them) and the referrer's and landing
 * page's addresses without query or fragment (where a form's values and a
 * mail's tracking ride: "?email=zelda%40example.com"). Free text (utm_term,
 * utm_content) and click ids go. Appends the JSON object to b. */
int lead_attr_erased(const char *json, size_t n, struct buf *b);
int lead_client_json(const struct lead *l, struct buf *b);
int lead_flags_json(unsigned flags, struct buf *b);
int lead_reasons_json(const struct lead *l, struct buf *b);

/* A stored lead as the store reads it back, for the API, the webhook
 * payloads and the NDJSON export to show (lead_row_json). Every pointer is
 * borrowed from the reader, for the call the row is handed to. */
struct lead_text { /* a JSON value leadd's own writer stored, shown as it is */
    const char *p;
    size_t n;
};
struct lead_event {                              /* one entry of a lead's history */
    const char *at, *status, *note, *by, *owner; /* note, by, owner: NULL when none */
    int spam;                                    /* 1, 0; -1: not said */
};
struct lead_row {
    const char *id, *form, *created_at, *status, *grade;
    const char *duplicate_of, *owner, *currency; /* NULL when none */
    struct lead_text fields, extra, attribution, client, score_reasons, crm_ids;
    long long score, value_minor; /* value_minor: when currency */
    bool qualified;
    unsigned flags;
    /* Only the API's reads and the payloads' have these (detail): */
    bool detail;
    int read; /* 1, 0: whether the viewer read it; -1: no viewer asked */
    /* its forwarding: the state (a delivery state's name, or "none"), how
     * many targets, what the hardest of its deliveries took */
    const char *forwarding;
    long long deliveries, attempts;
    const struct lead_event *history; /* oldest first */
    size_t nhistory;
};
/* lead_row_json: appends r as the API and the webhooks show a lead (the
 * wire's shape, in one place); returns buf_error(b). */
int lead_row_json(const struct lead_row *r, struct buf *b);

/* Normalisers, exposed for unit tests. Each takes trimmed text and writes the
 * normal form into *out (the caller frees it), returning 0; or returns
 * LEADD_EINVAL (not a valid value), LEADD_ETOOBIG (too long) or LEADD_ENOMEM,
 * with *out NULL. */
LEADD_MUST_CHECK int norm_email(const char *s, size_t n, char **out);
LEADD_MUST_CHECK int norm_phone(const char *s, size_t n, char **out);
LEADD_MUST_CHECK int norm_url(const char *s, size_t n, char **out);
/* norm_truth: 1 for true words, 0 for false words, -1 otherwise. */
int norm_truth(const char *s, size_t n);
/* domain_listed: whether the email's domain, or a parent of it, is in set. */
bool domain_listed(const struct strset *set, const char *email);
/* disposable_builtin: the small list that ships with leadd. */
const char *const *disposable_builtin(size_t *n);

#endif
