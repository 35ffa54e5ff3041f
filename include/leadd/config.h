/* config.h: the whole configuration of leadd, loaded from one INI file.
 *
 * Every key is in one table (config.c) with its type, limits and default.
 * Problems are collected, not fatal one by one: config_load() reports each
 * as "file:line: message" so `leadd check-config` can list them all. */
#ifndef LEADD_CONFIG_H
#define LEADD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "leadd/buf.h"
#include "leadd/common.h"
#include "leadd/lead.h"
#include "leadd/crypto.h"
#include "leadd/net.h"
#include "leadd/score.h"
#include "leadd/template.h"
#include "leadd/strset.h"

enum durability { DURABILITY_NORMAL, DURABILITY_FULL };
enum backend { BACKEND_SQLITE, BACKEND_POSTGRES };
/* Who may do what; each role may do what the ones before it may. public is
 * anyone (submissions); viewer reads what the query API shows; sales also
 * works leads; admin also erases and re-queues. An API key is an admin's. */
enum role { ROLE_PUBLIC, ROLE_VIEWER, ROLE_SALES, ROLE_ADMIN, ROLE_COUNT };
extern const char *const role_names[ROLE_COUNT];
/* qualified: leads that qualify (lead.qualified); all: every lead that is
 * not spam or a duplicate (lead.created); a condition: the leads it matches
 * (lead.qualified). */
enum webhook_when { WEBHOOK_WHEN_QUALIFIED, WEBHOOK_WHEN_ALL, WEBHOOK_WHEN_CONDITION };
/* What a target speaks: leadd's signed envelope, a shipped preset, or a
 * template of the user's. */
enum webhook_format {
    WEBHOOK_STANDARD,
    WEBHOOK_HUBSPOT,
    WEBHOOK_SALESFORCE,
    WEBHOOK_SLACK,
    WEBHOOK_EMAIL,
    WEBHOOK_TEMPLATE,
    WEBHOOK_HUBSPOT_FORMS
};
enum webhook_content { WEBHOOK_CONTENT_JSON, WEBHOOK_CONTENT_FORM };
enum webhook_method { WEBHOOK_PATCH, WEBHOOK_PUT, WEBHOOK_POST };
extern const char *const webhook_method_names[3];
enum webhook_sign { WEBHOOK_SIGN_AUTO = -1, WEBHOOK_SIGN_NO = 0, WEBHOOK_SIGN_YES = 1 };

#define CONFIG_MAX_USERS 100

/* A person who signs in: [auth] user.NAME = ROLE SECRET. */
struct user {
    char *name;
    enum role role;
    unsigned char key[SHA256_LEN]; /* SHA-256 of the secret */
};

/* A network prefix for trusted_proxies: an address with a prefix length. */
#define CONFIG_MAX_WEBHOOKS 32
#define CONFIG_MAX_FIELDS 100 /* declared fields of one form */
#define WEBHOOK_MAX_HEADERS 16
#define WEBHOOK_MAX_SCHEDULE 32
#define WEBHOOK_MAX_VARS 16
#define WEBHOOK_MAX_MAPS 64
#define WEBHOOK_MAX_RATE 100000 /* the largest N of a rate_limit N/... */

struct webhook_header {
    char *name, *value; /* value with env:NAME already read */
};

struct template;

/* A [webhook.NAME] section: where leads are forwarded, and how. */
struct webhook {
    char *name;
    char *url;
    unsigned char secret[256]; /* the key: base64-decoded text after whsec_ */
    size_t secret_len;
    struct strset forms; /* form ids; see all_forms */
    bool all_forms;      /* forms = * */
    enum webhook_when when;
    long long timeout_ms;
    long long schedule[WEBHOOK_MAX_SCHEDULE]; /* delays after each failed attempt, in ms */
    size_t nschedule;
    struct webhook_header headers[WEBHOOK_MAX_HEADERS];
    size_t nheaders;
    enum webhook_format format;
    char *template_path;               /* format = template */
    enum webhook_content content_type; /* format = template */
    int escape; /* enum template_escape of its body's values; -1: auto (slack for Slack) */
    struct template_var vars[WEBHOOK_MAX_VARS]; /* var.NAME, env:NAME read; owned */
    /* map.NAME = PROPERTY: what else a preset sends, under the CRM's names:
     * NAME a field, an attribution name, or score, grade and the like */
    struct webhook_map {
        char *name, *property;
        int line;
    } maps[WEBHOOK_MAX_MAPS];
    size_t nmaps;
    size_t nvars;
    struct condition cond;            /* when = a condition */
    int when_line, template_line;     /* where they are set, for check-config's messages */
    long long rate_n, rate_window_ms; /* at most rate_n requests per window; 0: off */
    enum webhook_sign sign_mode;      /* as configured; see sign */
    bool sign;                        /* send the Standard Webhooks headers */
    char *response_id;                /* a dotted path into the CRM's answer */
    char *record_url; /* the CRM's page of a record, {id} where its id goes (the inbox links it) */
    char *mail_from;  /* format = email */
    struct strset mail_to;
    int smtp_tls;         /* on (1): STARTTLS required on smtp:// */
    struct template *tpl; /* the compiled body (NULL for standard) */
    /* a change of status or value sent to the record the target made:
     * update_url with {id}, by method, with the update's body (NULL for
     * standard: its envelope, lead.updated) */
    char *update_url;
    enum webhook_method update_method;
    char *update_template_path;
    struct template *update_tpl;
};

/* Where a CRM's outcomes come in: an [inbound.NAME] section, answered at
 * POST /v1/inbound/NAME (inbound.c). Each event names a CRM record (matched
 * to its lead by the id the target `webhook` kept, else by address), and
 * carries a stage (mapped to a status by stage.VALUE) and an amount. */
enum inbound_kind { INBOUND_HUBSPOT, INBOUND_PIPEDRIVE, INBOUND_STANDARD };
#define CONFIG_MAX_INBOUNDS 16
#define INBOUND_MAX_STAGES 64
struct inbound_stage {
    char *value; /* the CRM's stage, compared without case */
    enum lead_status status;
};
struct inbound {
    char *name;
    enum inbound_kind kind;
    /* hubspot: the app's client secret (text); standard: whsec_ decoded */
    unsigned char secret[256];
    size_t secret_len;
    char *user, *password; /* pipedrive: HTTP basic auth */
    char *webhook;         /* the target whose records these are; NULL: one named as this */
    char *stage_property;  /* hubspot: the property holding the stage */
    char *amount_property; /* hubspot: the property holding the deal's amount */
    char *currency;        /* of amounts sent without one; NULL: [server] currency */
    struct inbound_stage stages[INBOUND_MAX_STAGES];
    size_t nstages;
};

struct config {
    /* [server] */
    char *listen; /* as written: host:port */
    char listen_host[64];
    int listen_port;
    long long threads;
    long long max_body_bytes;
    struct cidr *proxies;
    size_t nproxies;
    long long conn_timeout_s;
    long long request_timeout_s;
    long long header_timeout_s;       /* a request's headers: a slow client's first limit */
    long long connections_per_client; /* open at once from one address (not a trusted proxy) */
    long long max_connections;
    int log_format;                     /* enum log_format (log.h) */
    int log_level;                      /* enum log_level: the least level logged */
    long long event_streams;            /* GET /v1/events streams open at once */
    long long event_streams_per_user;   /* ... of them one user's (or the API keys') */
    long long event_streams_per_client; /* ... of them from one client address */
    long long event_buffer_kib;         /* what one stream may have waiting to go out */
    char *timezone;                     /* IANA zone of the stats' days */
    char *currency;                     /* the stats' currency when a request names none */
    char *spend_sources; /* "platform=utm_source ...": whose spend an ad platform's export is */
    /* GET /v1/conversions/export: which leads are conversions (converted or
     * qualified), and the conversion's name in the ad platforms */
    char *conversion_event;
    char *conversion_name;
    char *public_url; /* the base URL for links in messages (no trailing slash); NULL: none */
    /* [storage] */
    enum backend backend;
    char *db_url;      /* postgres: a libpq URI or key=value string (env:NAME read); never logged */
    long long db_pool; /* postgres: reader connections per node */
    long long claim_grace_ms; /* a delivery's claim outlives its webhook's timeout by this */
    char *db_path;
    enum durability durability;
    long long retention_days;
    /* forms, in file order */
    struct form *forms;
    size_t nforms;
    struct strset disposable_default;
    struct webhook *webhooks;
    size_t nwebhooks;
    struct inbound *inbounds;
    size_t ninbounds;
    /* [auth] */
    unsigned char (*api_keys)[SHA256_LEN]; /* SHA-256 of each key, for constant-time compares */
    size_t napi_keys;
    char *api_keys_source; /* "env:NAME" when the keys come from the environment */
    struct user *users;
    size_t nusers;
    /* bookkeeping */
    char *trusted_proxies_text;
    /* what a reload compares: every [webhook.*] line, and every line of the
     * scoring rules (score.*, grade.*, qualify_at), as "section key=value\n" */
    struct buf webhook_text, rules_text;
};

/* Diagnostics: one "file:line: message" string each. msg: problems, which
 * refuse the config; note: what is accepted but does nothing (check-config
 * prints them). */
struct config_diag {
    char **msg;
    size_t n;
    char **note;
    size_t nnote;
};
void config_diag_release(struct config_diag *d);

/* config_load: reads the file at path, or the built-in copy of
 * config.example.ini when path is NULL, then applies each "section.key=value"
 * of sets. Returns 0, LEADD_EINVAL with every problem in *diag, or
 * LEADD_ENOMEM. On success *cfg owns its memory: config_release() it. */
LEADD_MUST_CHECK int config_load(struct config *cfg, const char *path, char *const *sets,
                                 size_t nsets, struct config_diag *diag);
/* config_load_unserved: config_load for a command that does not serve
 * (backup, restore, migrate, rollup, copy, compact): it resolves only the
 * secrets it uses ([storage] url); every other one not found is left empty,
 * so cron, without the service's environment, can run it. */
LEADD_MUST_CHECK int config_load_unserved(struct config *cfg, const char *path, char *const *sets,
                                          size_t nsets, struct config_diag *diag);
/* config_load_text: the same for INI text in memory; name is used in messages. */
LEADD_MUST_CHECK int config_load_text(struct config *cfg, const char *name, const char *text,
                                      size_t len, struct config_diag *diag);
void config_release(struct config *cfg);

/* A config shared by the parts of a running leadd that read it (requests,
 * the forwarder), so a reload can replace it under them: each holder takes
 * a count and drops it when done; the last drop frees it. Thread-safe. */
struct config_ref;
/* config_ref_new: one count, held by the caller. With owned, the last drop
 * also releases and frees cfg (a reloaded config); without, cfg stays the
 * caller's (the one leadd started with, on main's stack). NULL: ENOMEM. */
struct config_ref *config_ref_new(struct config *cfg, bool owned);
/* config_ref_take: one more count; returns r. */
struct config_ref *config_ref_take(struct config_ref *r);
/* config_ref_cfg: the config itself. */
const struct config *config_ref_cfg(const struct config_ref *r);
/* config_ref_drop: gives a count back (NULL: nothing). */
void config_ref_drop(struct config_ref *r);

/* config_form: the form with that id, or NULL. */
const struct form *config_form(const struct config *cfg, const char *id, size_t len);

/* config_webhook: the webhook with that name, or NULL. */
const struct webhook *config_webhook(const struct config *cfg, const char *name);
/* config_inbound: the inbound source with that name, or NULL. */
const struct inbound *config_inbound(const struct config *cfg, const char *name, size_t len);
/* webhook_takes: whether webhook w forwards leads of form `form`. */
bool webhook_takes(const struct webhook *w, const char *form);
/* The key table, for tests and documentation: every key leadd reads, by
 * section ("server", "form", ...), with its built-in default (NULL: the key
 * is required). */
struct config_key_info {
    const char *section, *name, *def;
};
size_t config_key_count(void);
struct config_key_info config_key_at(size_t i);

#endif
