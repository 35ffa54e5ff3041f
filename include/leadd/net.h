/* net.h: addresses and prefixes (trusted_proxies), and the client's address
 * behind trusted proxies. Pure functions over text, for request time. */
#ifndef LEADD_NET_H
#define LEADD_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "leadd/common.h"

#define NET_MAX_ADDR 64 /* a printable address with its NUL */

/* An address prefix: 10.0.0.0/8, ::1/128, or one address. */
struct cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int bits;
};

/* cidr_parse: s[0..n) as an address or prefix; LEADD_EINVAL when it is not. */
LEADD_MUST_CHECK int cidr_parse(const char *s, size_t n, struct cidr *out);
/* cidr_match: whether the printable address ip lies in any of v[0..n). */
bool cidr_match(const struct cidr *v, size_t n, const char *ip);
/* net_forwarded_client: the client's address given the peer's address and an
 * X-Forwarded-For value (NULL when absent), into out[NET_MAX_ADDR]. The
 * header is believed only from a trusted peer, and read from the right: the
 * first address that is not itself a trusted proxy is the client; anything
 * left of it could be forged by that client. Garbage keeps the last address
 * believed. */
void net_forwarded_client(const char *peer, const char *xff, const struct cidr *proxies,
                          size_t nproxies, char out[NET_MAX_ADDR]);

#endif
