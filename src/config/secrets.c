/* secrets.c: a secret named in the config (env:NAME, file:PATH,
 * credential:NAME), read at each load, never printed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/strutil.h"

#define SECRET_FILE_MAX (64 * 1024)

/* What one reference names, appended to b: env:NAME the environment
 * variable, file:PATH the file (its trailing white space dropped),
 * credential:NAME systemd's $CREDENTIALS_DIRECTORY/NAME. 0, or why not in
 * why (the value itself is never said). */
static int secret_read(const char *kind, const char *name, struct buf *b, char *why, size_t cap)
{
    if (!strcmp(kind, "env")) {
        const char *v = getenv(name);
        if (!v) {
            snprintf(why, cap, "environment variable '%s' is not set", name);
            return LEADD_ENOTFOUND;
        }
        return buf_adds(b, v);
    }
    char path[8192];
    if (!strcmp(kind, "credential")) {
        const char *dir = getenv("CREDENTIALS_DIRECTORY");
        if (!dir) {
            snprintf(why, cap,
                     "credential '%s': no $CREDENTIALS_DIRECTORY (LoadCredential= in the unit)",
                     name);
            return LEADD_ENOTFOUND;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, name);
    } else {
        snprintf(path, sizeof(path), "%s", name);
    }
    FILE *fp = fopen(path, "re");
    if (!fp) {
        snprintf(why, cap, "cannot read '%s': %s", path, strerror(errno));
        return LEADD_ENOTFOUND;
    }
    char *text = malloc(SECRET_FILE_MAX + 1);
    size_t n = text ? fread(text, 1, SECRET_FILE_MAX + 1, fp) : 0;
    bool bad = ferror(fp) || n > SECRET_FILE_MAX;
    fclose(fp);
    if (!text)
        return LEADD_ENOMEM;
    while (n && strchr(" \t\r\n", text[n - 1]))
        n--;
    int rc = 0;
    if (bad) {
        snprintf(why, cap, "cannot read '%s': %s", path,
                 n > SECRET_FILE_MAX ? "larger than 64 KiB" : "read error");
        rc = LEADD_ENOTFOUND;
    } else {
        rc = buf_add(b, text, n);
    }
    explicit_bzero(text, SECRET_FILE_MAX + 1);
    free(text);
    return rc;
}

/* val with each secret reference (env:NAME, file:PATH, credential:NAME)
 * replaced by what it names (a secret kept out of the file: "Bearer
 * env:HUBSPOT_TOKEN"), read now: at start and at every reload, so a new key
 * in a file is a reload. NULL, diagnosed, when one cannot be read (with
 * secrets_optional: "" instead, said nowhere); the value is never printed. */
char *secret_expand(struct loader *ld, const char *key, const char *val)
{
    static const char IDENT[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
    static const char *const KINDS[] = {"env:", "file:", "credential:"};
    struct buf b = BUF_INIT(SECRET_FILE_MAX + 8192);
    const char *p = val;
    for (const char *e = p; *e; e++) {
        size_t k = 0;
        while (k < LEADD_ARRAY_LEN(KINDS) && strncmp(e, KINDS[k], strlen(KINDS[k])))
            k++;
        if (k == LEADD_ARRAY_LEN(KINDS) || (e > val && strchr(IDENT, e[-1])))
            continue; /* not a reference, or part of a longer word */
        buf_add(&b, p, (size_t)(e - p));
        const char *n = e + strlen(KINDS[k]);
        /* a path runs to the next blank; a name is a word (a credential's
         * may hold . and -) */
        size_t nl = k == 1   ? strcspn(n, " \t")
                    : k == 2 ? strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                         "0123456789_.-")
                             : strspn(n, IDENT);
        char name[4096], kind[16], why[8400];
        snprintf(name, sizeof(name), "%.*s", (int)nl, n);
        snprintf(kind, sizeof(kind), "%.*s", (int)strlen(KINDS[k]) - 1, KINDS[k]);
        int rc = nl ? secret_read(kind, name, &b, why, sizeof(why)) : LEADD_ENOTFOUND;
        if (!nl)
            snprintf(why, sizeof(why), "%s needs a name", KINDS[k]);
        if (rc == LEADD_ENOTFOUND && ld->secrets_optional) {
            buf_release(&b);
            return strdup("");
        }
        if (rc == LEADD_ENOTFOUND) {
            diag(ld, "%s: %s", key, why);
            buf_release(&b);
            return NULL;
        }
        p = e = n + nl;
        if (!*e)
            break;
    }
    buf_adds(&b, p);
    if (buf_error(&b)) {
        ld->rc = LEADD_ENOMEM;
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b);
}
