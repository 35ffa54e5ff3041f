/* http.h: the HTTP server (the only module that includes microhttpd.h).
 * It parses requests into plain structs, hands leads to the store, and
 * answers; every error body is RFC 9457 problem+json. */
#ifndef LEADD_HTTP_H
#define LEADD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "leadd/common.h"
#include "leadd/config.h"
#include "leadd/store.h"

struct http;

struct forward;
/* http_start: listens on cfg's listen and serves until http_stop(); takes a
 * count on cfg. st and fw (the forwarder, for its metrics; may be NULL) are
 * borrowed and must outlive the server. Logs the bound address. */
LEADD_MUST_CHECK int http_start(struct http **out, struct config_ref *cfg, struct store *st,
                                struct forward *fw);
/* http_stop: stops accepting, lets requests in flight finish (up to
 * timeout_ms), then stops the server, frees it and sets *hp to NULL. */
void http_stop(struct http **hp, unsigned timeout_ms);
/* One route the server answers. The OpenAPI description is checked against
 * the route table by the tests, so the two cannot drift apart. */
struct http_route {
    const char *method;
    const char *pattern; /* "/v1/leads/{id}" */
    enum role role;      /* the least role that may call it (config.h) */
};
/* http_route_count, http_route_at: the route table, entry by entry (NULL
 * past its end). */
size_t http_route_count(void);
const struct http_route *http_route_at(size_t i);

/* http_reload: new requests are served under next from now on (http takes
 * its own count); requests in flight finish under theirs.
 * Only what requests read changes: what the server was started with
 * (listen, threads, timeouts, stream limits) stays until a restart. */
void http_reload(struct http *h, struct config_ref *next);
/* http_can_listen: 0 when [server] listen can be bound now, else the errno
 * (EADDRINUSE...): checked before anything touches the disk. */
int http_can_listen(const struct config *cfg);
/* http_inflight: requests being served now. */
int http_inflight(const struct http *h);
/* http_port: the port actually bound (useful with port 0). */
int http_port(const struct http *h);

#endif
