/* fuzz_jsonr.c: jr_pick() and jr_unescape() on arbitrary bytes, checked
 * against jansson: whenever jansson reads the input as an object (without
 * duplicate keys), jr must find the same keys with the same kinds, and each
 * string must unescape to exactly jansson's bytes. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "leadd/jsonr.h"

static char kind_of(const json_t *v)
{
    if (!v)
        return 0;
    if (json_is_string(v))
        return 's';
    return json_is_object(v) || json_is_array(v) ? 'c' : 'l';
}

FUZZ_TARGET(jsonr)
{
    static const struct jr_key keys[] = {{"a", 1}, {"email", 5}, {"utm_source", 10}, {"", 0}};
    enum { NKEYS = sizeof(keys) / sizeof(keys[0]) };
    struct jr_value v[NKEYS];
    struct buf b = BUF_INIT(1 << 20);
    int rc = jr_pick((const char *)data, size, keys, NKEYS, v);
    for (size_t i = 0; !rc && i < NKEYS; i++) {
        if (v[i].kind == 's' && jr_unescape(&v[i], &b) == LEADD_ENOMEM)
            abort();
    }
    json_error_t je;
    /* jansson reads a NUL byte between tokens as the end of a number (the
     * first run found {"email":6<NUL>}); JSON has none there, nor do the
     * objects jr reads, so such inputs are not compared. */
    json_t *root = memchr(data, '\0', size)
                       ? NULL
                       : json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (json_is_object(root)) {
        if (rc)
            abort(); /* a valid object jr could not read */
        for (size_t i = 0; i < NKEYS; i++) {
            json_t *want = json_object_getn(root, keys[i].name, keys[i].len);
            if (kind_of(want) != v[i].kind)
                abort();
            if (v[i].kind != 's')
                continue;
            if (jr_unescape(&v[i], &b) || b.len != json_string_length(want) ||
                memcmp(b.ptr ? b.ptr : "", json_string_value(want), b.len))
                abort();
        }
    }
    json_decref(root);
    buf_release(&b);
    return 0;
}
