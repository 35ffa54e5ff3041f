/* net.c: see net.h. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "leadd/net.h"
#include "leadd/strutil.h"

int cidr_parse(const char *s, size_t n, struct cidr *out)
{
    char tmp[NET_MAX_ADDR];
    if (n >= sizeof(tmp))
        return LEADD_EINVAL;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *slash = strchr(tmp, '/');
    long long bits = -1;
    if (slash) {
        *slash = '\0';
        if (!parse_ll(slash + 1, strlen(slash + 1), &bits))
            return LEADD_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, tmp, out->addr) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, tmp, out->addr) == 1)
        out->family = AF_INET6;
    else
        return LEADD_EINVAL;
    int maxbits = out->family == AF_INET ? 32 : 128;
    if (bits < 0)
        bits = maxbits;
    if (bits > maxbits)
        return LEADD_EINVAL;
    out->bits = (int)bits;
    return 0;
}

bool cidr_match(const struct cidr *v, size_t n, const char *ip)
{
    struct cidr a;
    if (!n || cidr_parse(ip, strlen(ip), &a))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (v[i].family != a.family)
            continue;
        int full = v[i].bits / 8, rest = v[i].bits % 8;
        if (memcmp(v[i].addr, a.addr, (size_t)full))
            continue;
        if (rest && ((v[i].addr[full] ^ a.addr[full]) & (0xff << (8 - rest))))
            continue;
        return true;
    }
    return false;
}

void net_forwarded_client(const char *peer, const char *xff, const struct cidr *proxies,
                          size_t nproxies, char out[NET_MAX_ADDR])
{
    snprintf(out, NET_MAX_ADDR, "%s", peer);
    if (!xff || !nproxies || !cidr_match(proxies, nproxies, out))
        return;
    const char *end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        const char *a = start;
        size_t n = (size_t)(end - start);
        str_trim(&a, &n);
        char cand[NET_MAX_ADDR];
        if (n && n < sizeof(cand)) {
            memcpy(cand, a, n);
            cand[n] = '\0';
            unsigned char tmp[16];
            if (inet_pton(AF_INET, cand, tmp) != 1 && inet_pton(AF_INET6, cand, tmp) != 1)
                return; /* garbage: keep the last address believed */
            memcpy(out, cand, n + 1);
            if (!cidr_match(proxies, nproxies, cand))
                return;
        }
        end = start > xff ? start - 1 : xff;
    }
}
