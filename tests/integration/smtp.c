/* smtp.c: see smtp.h. Each session on a thread of its own, as a real
 * server serves leadd's parallel deliveries. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "smtp.h"

static void say(int fd, const char *line)
{
    size_t n = strlen(line);
    if (write(fd, line, n) != (ssize_t)n)
        return;
}

/* One line (without CRLF) into out; false when the peer went away. */
static bool read_line(int fd, char *buf, size_t *have, size_t cap, char *out, size_t outcap)
{
    for (;;) {
        char *nl = memchr(buf, '\n', *have);
        if (nl) {
            size_t n = (size_t)(nl - buf) + 1, keep = n - 1;
            if (keep && buf[keep - 1] == '\r')
                keep--;
            snprintf(out, outcap, "%.*s", (int)keep, buf);
            memmove(buf, buf + n, *have - n);
            *have -= n;
            return true;
        }
        if (*have == cap)
            return false;
        ssize_t r = read(fd, buf + *have, cap - *have);
        if (r <= 0)
            return false;
        *have += (size_t)r;
    }
}

static void session(struct smtp *s, int fd)
{
    char buf[1 << 16];
    char line[4096];
    size_t have = 0;
    struct smtp_msg m = {0};
    say(fd, "220 test.local ESMTP\r\n");
    while (read_line(fd, buf, &have, sizeof(buf), line, sizeof(line))) {
        if (!strncasecmp(line, "EHLO", 4) || !strncasecmp(line, "HELO", 4)) {
            say(fd, "250-test.local\r\n250 8BITMIME\r\n");
        } else if (!strncasecmp(line, "MAIL FROM:", 10)) {
            snprintf(m.from, sizeof(m.from), "%.255s", line + 10);
            say(fd, "250 OK\r\n");
        } else if (!strncasecmp(line, "RCPT TO:", 8)) {
            if (s->reject_rcpt) {
                say(fd, "550 no such user\r\n");
            } else {
                if (m.nrcpt < 4)
                    snprintf(m.rcpt[m.nrcpt++], sizeof(m.rcpt[0]), "%.255s", line + 8);
                say(fd, "250 OK\r\n");
            }
        } else if (!strncasecmp(line, "DATA", 4)) {
            say(fd, "354 go ahead\r\n");
            size_t cap = 1 << 20, len = 0;
            char *data = calloc(1, cap);
            while (read_line(fd, buf, &have, sizeof(buf), line, sizeof(line))) {
                if (!strcmp(line, "."))
                    break;
                const char *l = line[0] == '.' ? line + 1 : line; /* dot-unstuffing */
                len += (size_t)snprintf(data + len, cap - len, "%s\r\n", l);
            }
            m.data = data;
            pthread_mutex_lock(&s->mu);
            if (s->n < SMTP_MAX)
                s->msgs[s->n++] = m;
            else
                free(data);
            pthread_mutex_unlock(&s->mu);
            memset(&m, 0, sizeof(m));
            say(fd, "250 OK queued\r\n");
        } else if (!strncasecmp(line, "QUIT", 4)) {
            say(fd, "221 bye\r\n");
            break;
        } else if (!strncasecmp(line, "RSET", 4) || !strncasecmp(line, "NOOP", 4)) {
            say(fd, "250 OK\r\n");
        } else {
            fprintf(stderr, "smtp: unknown command '%.40s'\n", line);
            say(fd, "502 not implemented\r\n");
        }
    }
    close(fd);
}

struct conn {
    struct smtp *s;
    int fd;
};

static void *one(void *arg)
{
    struct conn *c = arg;
    session(c->s, c->fd);
    pthread_mutex_lock(&c->s->mu);
    c->s->sessions--;
    pthread_mutex_unlock(&c->s->mu);
    free(c);
    return NULL;
}

static void *serve(void *arg)
{
    struct smtp *s = arg;
    for (;;) {
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        struct conn *c = malloc(sizeof(*c));
        pthread_t t;
        c->s = s;
        c->fd = fd;
        pthread_mutex_lock(&s->mu);
        s->sessions++;
        pthread_mutex_unlock(&s->mu);
        if (pthread_create(&t, NULL, one, c) == 0)
            pthread_detach(t);
        else
            one(c);
    }
}

void smtp_start(struct smtp *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->fd, 128), 0);
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

void smtp_stop(struct smtp *s)
{
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->thread, NULL);
    /* sessions end when leadd closes them (it has stopped by now) */
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int left = s->sessions;
        pthread_mutex_unlock(&s->mu);
        if (!left)
            break;
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < s->n; i++)
        free(s->msgs[i].data);
    pthread_mutex_destroy(&s->mu);
}

bool smtp_wait(struct smtp *s, int n, int timeout_ms)
{
    uint64_t until = h_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int have = s->n;
        pthread_mutex_unlock(&s->mu);
        if (have >= n)
            return true;
        if (h_now_ms() > until)
            return false;
        poll(NULL, 0, 5);
    }
}
