/* fuzz_body.c: request bodies (JSON, urlencoded, multipart; the first byte
 * picks one) into a submission, then validation and normalization against
 * the example form, scoring, and every serializer. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "leadd/body.h"
#include "leadd/config.h"
#include "leadd/score.h"

static struct config *example(void)
{
    static struct config cfg;
    static int loaded;
    if (!loaded) {
        struct config_diag d;
        if (config_load(&cfg, NULL, NULL, 0, &d))
            abort();
        config_diag_release(&d);
        loaded = 1;
    }
    return &cfg;
}

FUZZ_TARGET(body)
{
    struct submission s = {0};
    struct lead l;
    struct lead_errors *e = malloc(sizeof(*e));
    char err[256];
    if (size < 1 || !e) {
        free(e);
        return 0;
    }
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    int rc;
    switch (data[0] % 3) {
    case 0: rc = body_parse_json(p, n, &s, err, sizeof(err)); break;
    case 1: rc = body_parse_urlencoded(p, n, &s, err, sizeof(err)); break;
    default: rc = body_parse_multipart(p, n, "B", &s, err, sizeof(err)); break;
    }
    if (rc == 0) {
        struct config *cfg = example();
        if (lead_build(&l, &cfg->forms[0], &s, &cfg->disposable_default, e) == 0) {
            struct buf b = BUF_INIT(1 << 20);
            int src = score_lead(&l);
            src = src ? src : lead_fields_json(&l, &b);
            src = src ? src : lead_extra_json(&l, &b);
            src = src ? src : lead_attr_json(&l, &b);
            src = src ? src : lead_client_json(&l, &b);
            src = src ? src : lead_reasons_json(&l, &b);
            src = src ? src : lead_flags_json(l.flags, &b);
            (void)src; /* any outcome is fine; only crashes and leaks are not */
            buf_release(&b);
            lead_release(&l);
        }
    }
    submission_release(&s);
    free(e);
    return 0;
}
