/* smtp.h: a real SMTP server for tests (RFC 5321, plain, no TLS): it
 * accepts every message and records its envelope and text. */
#ifndef LEADD_SMTP_H
#define LEADD_SMTP_H

#include <pthread.h>
#include <stdbool.h>

#define SMTP_MAX 64

struct smtp_msg {
    char from[256];
    char rcpt[4][256];
    int nrcpt;
    char *data; /* the message as sent, dot-unstuffed, CRLF line ends */
};

struct smtp {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    struct smtp_msg msgs[SMTP_MAX];
    int n;
    int reject_rcpt; /* answer 550 to RCPT TO when set */
    int sessions;    /* open, each on its own thread */
};

/* smtp_start: listens on 127.0.0.1 on a free port, serving one session at a
 * time on its own thread. */
void smtp_start(struct smtp *s);
void smtp_stop(struct smtp *s); /* closes, joins, frees the messages */
/* smtp_wait: polls until at least n messages came (timeout_ms). */
bool smtp_wait(struct smtp *s, int n, int timeout_ms);

#endif
