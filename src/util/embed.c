/* embed.c: see embed.h. */
#include <string.h>

#include "leadd/embed.h"

const struct embedded_file *embedded_find(const struct embedded_file *set, const char *name)
{
    for (; set->name; set++) {
        if (!strcmp(set->name, name))
            return set;
    }
    return NULL;
}
