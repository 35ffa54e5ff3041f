/* body.h: request bodies into a struct submission. JSON (via jansson),
 * application/x-www-form-urlencoded and multipart/form-data. No network here:
 * the functions take the whole (size-capped) body, so fuzzers can call them. */
#ifndef LEADD_BODY_H
#define LEADD_BODY_H

#include <stddef.h>

#include "leadd/lead.h"

enum body_kind { BODY_JSON, BODY_URLENCODED, BODY_MULTIPART, BODY_UNSUPPORTED };

#define BODY_MAX_BOUNDARY 70 /* RFC 2046 */

/* body_kind_of: the kind named by a Content-Type value (NULL: unsupported).
 * For multipart it copies the boundary into boundary[BODY_MAX_BOUNDARY + 1]. */
enum body_kind body_kind_of(const char *content_type, char *boundary);

/* Each parser appends the body's pairs to s. They return 0, LEADD_EINVAL with
 * a reason in err (the body is malformed: a 400), or LEADD_ENOMEM. */
LEADD_MUST_CHECK int body_parse_json(const char *p, size_t n, struct submission *s, char *err,
                                     size_t errlen);
LEADD_MUST_CHECK int body_parse_urlencoded(const char *p, size_t n, struct submission *s, char *err,
                                           size_t errlen);
LEADD_MUST_CHECK int body_parse_multipart(const char *p, size_t n, const char *boundary,
                                          struct submission *s, char *err, size_t errlen);

#endif
