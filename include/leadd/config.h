/* config.h: the whole configuration of leadd, loaded from one INI file.
 *
 * Every key is in one table (config.c) with its type, limits and default.
 * Problems are collected, not fatal one by one: config_load() reports each
 * as "file:line: message" so `leadd check-config` can list them all. */
#ifndef LEADD_CONFIG_H
#define LEADD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "leadd/common.h"
#include "leadd/lead.h"
#include "leadd/strset.h"

enum durability { DURABILITY_NORMAL, DURABILITY_FULL };

/* A network prefix for trusted_proxies: an address with a prefix length. */
struct cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int bits;
};

struct webhook; /* forward.h */

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
    long long max_connections;
    /* [storage] */
    char *db_path;
    enum durability durability;
    long long retention_days;
    /* forms, in file order */
    struct form *forms;
    size_t nforms;
    struct strset disposable_default;
    /* bookkeeping */
    char *trusted_proxies_text;
    char *durability_text;
};

/* Diagnostics: one "file:line: message" string each. */
struct config_diag {
    char **msg;
    size_t n;
};
void config_diag_release(struct config_diag *d);

/* config_load: reads the file at path, or the built-in copy of
 * config.example.ini when path is NULL, then applies each "section.key=value"
 * of sets. Returns 0, LEADD_EINVAL with every problem in *diag, or
 * LEADD_ENOMEM. On success *cfg owns its memory: config_release() it. */
LEADD_MUST_CHECK int config_load(struct config *cfg, const char *path, char *const *sets,
                                 size_t nsets, struct config_diag *diag);
void config_release(struct config *cfg);

/* config_form: the form with that id, or NULL. */
const struct form *config_form(const struct config *cfg, const char *id, size_t len);

/* cidr_match: whether the printable address ip lies in any of the prefixes. */
bool cidr_match(const struct cidr *v, size_t n, const char *ip);

#endif
