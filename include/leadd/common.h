/* common.h: the one error convention of leadd, shared by every module.
 * Functions that can fail return 0 on success or a negative LEADD_E* code. */
#ifndef LEADD_COMMON_H
#define LEADD_COMMON_H

#define LEADD_VERSION "0.1.0"

#define LEADD_MUST_CHECK __attribute__((warn_unused_result))

enum leadd_err {
    LEADD_OK = 0,
    LEADD_ENOMEM = -1,    /* out of memory, or a capped buffer is full */
    LEADD_EINVAL = -2,    /* bad input from a caller or a client */
    LEADD_EDB = -3,       /* the database failed */
    LEADD_EFULL = -4,     /* the database cannot take writes now (disk full, read-only) */
    LEADD_EIO = -5,       /* a file or socket failed */
    LEADD_ECONFLICT = -6, /* the request conflicts with stored state */
    LEADD_ENOTFOUND = -7, /* no such thing */
    LEADD_ESHUTDOWN = -8, /* the service is stopping */
    LEADD_ETOOBIG = -9,   /* input over a configured size */
};

/* leadd_strerror: a short lowercase description of an error code. */
const char *leadd_strerror(int err);

#define LEADD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
