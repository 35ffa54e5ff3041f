/* embed.h: files built into the binary at build time by tools/embed.c, so it
 * runs from any directory: the migrations, the example config, the CRM
 * presets and the inbox app. Each set
 * ends with an entry whose name is NULL; the data is NUL-terminated. */
#ifndef LEADD_EMBED_H
#define LEADD_EMBED_H

#include <stddef.h>

struct embedded_file {
    const char *name; /* the file's base name */
    const char *data;
    size_t len; /* without the NUL */
};

extern const struct embedded_file migrations_files[];    /* migrations/sqlite/, in name order */
extern const struct embedded_file pg_migrations_files[]; /* migrations/postgres/, in name order */
extern const struct embedded_file config_files[];        /* config.example.ini */
extern const struct embedded_file presets_files[];       /* src/template/presets/ */
extern const struct embedded_file app_files[];           /* web/: the inbox app */

/* embedded_find: the file called name in set, or NULL. */
const struct embedded_file *embedded_find(const struct embedded_file *set, const char *name);

#endif
