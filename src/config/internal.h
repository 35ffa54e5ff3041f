/* internal.h: what the config module's files share: the loader's state
 * while a file is read, and the helpers each part reports through. */
#ifndef LEADD_CONFIG_INTERNAL_H
#define LEADD_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "leadd/config.h"
#include "leadd/strset.h"

#define CONFIG_MAX_LINE 1024 /* longer lines are an error, not silently cut */
#define CONFIG_MAX_FORMS 100

struct loader {
    struct config *cfg;
    struct config_diag *diag;
    const char *file;
    int line;
    bool from_file;          /* a line of the file, not a --set */
    char last_bad[128];      /* the unknown section reported last */
    struct strset seen;      /* "section\nkey" pairs met in the file, for duplicates */
    int sqlite_only_line[2]; /* where the file set [storage] path, durability (0: not) */
    bool secrets_optional;   /* config_load_unserved: a secret not found is left empty */
    int rc;                  /* LEADD_ENOMEM once memory ran out */
};

/* diag.c: a problem ("file:line: message") or a note (accepted, does
 * nothing: check-config says it); diag_sort orders them by line;
 * did_you_mean: " (did you mean 'x'?)" for a likely slip among cands, else
 * "" (into out). */
void diag(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void note(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_sort(struct config_diag *d, const char *file);
const char *did_you_mean(const char *word, const char *const *cands, size_t n, char *out,
                         size_t cap);

/* secrets.c: val with each env:NAME, file:PATH and credential:NAME replaced
 * by what it names; NULL (diagnosed under key) when one cannot be read, or
 * "" with ld->secrets_optional. The caller frees it. */
char *secret_expand(struct loader *ld, const char *key, const char *val);

/* checks.c: the cross-checks, once every line is read. */
void check_whole(struct loader *ld);

/* config.c: what the checks share with the key table. */
extern const char *const HTTP_SCHEMES[2], *const SMTP_SCHEMES[2];
extern const char *const SQLITE_ONLY[2];
bool url_of(const char *val, const char *const *schemes, size_t n);
char *slurp(const char *path, size_t *len);
const char *captcha_name(enum captcha_kind k);

#endif
