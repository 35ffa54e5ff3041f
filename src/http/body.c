/* body.c: request body parsers; see body.h. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "leadd/body.h"
#include "leadd/jsonw.h"
#include "leadd/strutil.h"

enum body_kind body_kind_of(const char *ct, char *boundary)
{
    if (!ct)
        return BODY_UNSUPPORTED;
    size_t n = strcspn(ct, ";");
    const char *t = ct;
    str_trim(&t, &n);
    if (str_ieqn("application/json", t, n))
        return BODY_JSON;
    if (str_ieqn("application/x-www-form-urlencoded", t, n))
        return BODY_URLENCODED;
    if (!str_ieqn("multipart/form-data", t, n))
        return BODY_UNSUPPORTED;
    /* Find boundary=VALUE or boundary="VALUE" among the parameters. */
    for (const char *p = strchr(ct, ';'); p; p = strchr(p + 1, ';')) {
        const char *q = p + 1 + strspn(p + 1, " \t");
        if (strncasecmp(q, "boundary=", 9))
            continue;
        q += 9;
        size_t len;
        if (*q == '"') {
            q++;
            const char *end = strchr(q, '"');
            if (!end)
                return BODY_UNSUPPORTED;
            len = (size_t)(end - q);
        } else {
            len = strcspn(q, "; \t");
        }
        if (len == 0 || len > BODY_MAX_BOUNDARY)
            return BODY_UNSUPPORTED;
        memcpy(boundary, q, len);
        boundary[len] = '\0';
        return BODY_MULTIPART;
    }
    return BODY_UNSUPPORTED;
}

int body_parse_json(const char *p, size_t n, struct submission *s, char *err, size_t errlen)
{
    json_error_t je;
    int rc = LEADD_EINVAL;
    json_t *root = json_loadb(p, n, 0, &je);
    const char *key;
    json_t *v;
    struct buf num = BUF_INIT(64);
    if (!root) {
        /* jansson names its own flag for this one; say it in the client's terms. */
        const char *why = json_error_code(&je) == json_error_null_character
                              ? "a string holds \\u0000 (a NUL character), which is not accepted"
                              : je.text;
        snprintf(err, errlen, "malformed JSON at line %d, column %d: %s", je.line, je.column, why);
        goto out;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "the body must be a JSON object of fields");
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        const char *val = "";
        size_t len = 0;
        enum input_kind kind = IN_STR;
        buf_reset(&num);
        switch (json_typeof(v)) {
        case JSON_STRING:
            val = json_string_value(v);
            len = json_string_length(v);
            break;
        case JSON_INTEGER:
            kind = IN_NUM;
            if ((rc = jw_int(&num, (long long)json_integer_value(v))))
                goto out;
            val = num.ptr, len = num.len;
            break;
        case JSON_REAL:
            kind = IN_NUM;
            if ((rc = jw_num(&num, json_real_value(v))))
                goto out;
            val = num.ptr, len = num.len;
            break;
        case JSON_TRUE:
        case JSON_FALSE:
            kind = IN_BOOL;
            val = json_is_true(v) ? "true" : "false";
            len = strlen(val);
            break;
        case JSON_NULL: kind = IN_NULL; break;
        default: kind = IN_COMPOSITE; break;
        }
        if ((rc = submission_add(s, key, strlen(key), val, len, kind)))
            goto out;
    }
    rc = 0;
out:
    buf_release(&num);
    json_decref(root);
    return rc;
}

int body_parse_urlencoded(const char *p, size_t n, struct submission *s, char *err, size_t errlen)
{
    int rc = 0;
    char *copy = str_dupn(p, n);
    (void)err;
    (void)errlen;
    if (!copy)
        return LEADD_ENOMEM;
    size_t i = 0;
    while (!rc && i < n) {
        size_t end = i;
        while (end < n && copy[end] != '&')
            end++;
        size_t eq = i;
        while (eq < end && copy[eq] != '=')
            eq++;
        if (end > i) {
            size_t nl = url_decode(copy + i, eq - i);
            size_t vl = eq < end ? url_decode(copy + eq + 1, end - eq - 1) : 0;
            if (nl)
                rc = submission_add(s, copy + i, nl, eq < end ? copy + eq + 1 : "", vl, IN_STR);
        }
        i = end + 1;
    }
    free(copy);
    return rc;
}

/* Finds needle in hay[0..n); NULL if absent. */
static const char *find(const char *hay, size_t n, const char *needle, size_t nn)
{
    return memmem(hay, n, needle, nn);
}

/* Reads a Content-Disposition parameter (name= or filename=) from a header line. */
static bool disp_param(const char *line, size_t n, const char *param, const char **val,
                       size_t *vlen)
{
    size_t pl = strlen(param);
    for (size_t i = 0; i + pl < n; i++) {
        if ((i == 0 || line[i - 1] == ';' || line[i - 1] == ' ' || line[i - 1] == '\t') &&
            !strncasecmp(line + i, param, pl) && line[i + pl] == '=') {
            const char *v = line + i + pl + 1;
            size_t rest = n - i - pl - 1;
            if (rest && *v == '"') {
                const char *end = memchr(v + 1, '"', rest - 1);
                if (!end)
                    return false;
                *val = v + 1;
                *vlen = (size_t)(end - v - 1);
            } else {
                *val = v;
                *vlen = 0;
                while (*vlen < rest && v[*vlen] != ';' && v[*vlen] != ' ')
                    (*vlen)++;
            }
            return true;
        }
    }
    return false;
}

int body_parse_multipart(const char *p, size_t n, const char *boundary, struct submission *s,
                         char *err, size_t errlen)
{
    char delim[BODY_MAX_BOUNDARY + 5];
    int dl = snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
    const char *end = p + n;
    /* The first delimiter may start the body without the leading CRLF. */
    const char *cur = find(p, n, delim + 2, (size_t)dl - 2);
    if (!cur)
        goto bad;
    cur += dl - 2;
    for (;;) {
        if (end - cur >= 2 && cur[0] == '-' && cur[1] == '-')
            return 0; /* closing delimiter */
        if (end - cur < 2 || cur[0] != '\r' || cur[1] != '\n')
            goto bad;
        cur += 2;
        const char *hend = find(cur, (size_t)(end - cur), "\r\n\r\n", 4);
        if (!hend)
            goto bad;
        const char *name = NULL, *fname = NULL;
        size_t namelen = 0, fnamelen = 0;
        bool is_file = false;
        for (const char *line = cur; line < hend;) {
            const char *eol = find(line, (size_t)(hend - line), "\r\n", 2);
            size_t ll = eol ? (size_t)(eol - line) : (size_t)(hend - line);
            if (ll > 20 && !strncasecmp(line, "content-disposition:", 20)) {
                disp_param(line + 20, ll - 20, "name", &name, &namelen);
                is_file = disp_param(line + 20, ll - 20, "filename", &fname, &fnamelen);
            }
            line += ll + 2;
        }
        const char *body = hend + 4;
        const char *next = find(body, (size_t)(end - body), delim, (size_t)dl);
        if (!next || !name || !namelen)
            goto bad;
        int rc = submission_add(s, name, namelen, body, (size_t)(next - body),
                                is_file ? IN_FILE : IN_STR);
        if (rc)
            return rc;
        cur = next + dl;
    }
bad:
    snprintf(err, errlen, "malformed multipart/form-data body");
    return LEADD_EINVAL;
}
