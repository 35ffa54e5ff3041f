/* diag.c: the config's problems and notes, each "file:line: message",
 * sorted by line, and the "did you mean" a slip gets. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/strutil.h"

/* Adds "file:line: message" to the problems, or "file:line: note: message"
 * to the notes (what is accepted but does nothing: said, never refused). */
static void diag_vadd(struct loader *ld, bool is_note, const char *fmt, va_list ap)
{
    char msg[512], *line;
    char ***list = is_note ? &ld->diag->note : &ld->diag->msg;
    size_t *n = is_note ? &ld->diag->nnote : &ld->diag->n;
    const char *prefix = is_note ? "note: " : "";
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct buf b = BUF_INIT(1024);
    int rc = ld->line > 0 ? buf_addf(&b, "%s:%d: %s%s", ld->file, ld->line, prefix, msg)
                          : buf_addf(&b, "%s: %s%s", ld->file, prefix, msg);
    char **v = rc ? NULL : realloc(*list, (*n + 1) * sizeof(*v));
    if (!v || !(line = buf_detach(&b))) {
        buf_release(&b);
        ld->rc = LEADD_ENOMEM;
        return;
    }
    *list = v;
    v[(*n)++] = line;
}

void diag(struct loader *ld, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(ld, false, fmt, ap);
    va_end(ap);
}

void note(struct loader *ld, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(ld, true, fmt, ap);
    va_end(ap);
}

/* Where a message points: the file's lines in order, then --set's, then
 * messages about the whole file. */
static long diag_rank(const char *msg, const char *file)
{
    size_t n = strlen(file);
    long base = 0;
    if (!strncmp(msg, file, n) && msg[n] == ':')
        msg += n + 1;
    else if (!strncmp(msg, "--set:", 6))
        msg += 6, base = 1L << 30;
    else
        return LONG_MAX;
    char *end;
    long line = strtol(msg, &end, 10);
    return end != msg && *end == ':' ? base + line : LONG_MAX;
}

/* Sorts the messages by where they point (stable: an insertion sort, over a
 * handful of lines), so a file's problems read top to bottom. */
void diag_sort(struct config_diag *d, const char *file)
{
    for (size_t i = 1; i < d->n; i++) {
        char *m = d->msg[i];
        long r = diag_rank(m, file);
        size_t j = i;
        for (; j > 0 && diag_rank(d->msg[j - 1], file) > r; j--)
            d->msg[j] = d->msg[j - 1];
        d->msg[j] = m;
    }
}

/* The edit distance of a and b (insertions, deletions, substitutions), for
 * "did you mean"; both short (names in a config). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t n = strlen(b), row[64];
    if (n >= LEADD_ARRAY_LEN(row) || strlen(a) >= LEADD_ARRAY_LEN(row))
        return SIZE_MAX;
    for (size_t j = 0; j <= n; j++)
        row[j] = j;
    for (size_t i = 1; a[i - 1]; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= n; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            best = up + 1 < best ? up + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            row[j] = best;
            diag = up;
        }
    }
    return row[n];
}

/* " (did you mean 'x'?)" for the candidate nearest to word, when one is a
 * likely slip (at most 2 edits, and fewer than half the word); "" else. */
const char *did_you_mean(const char *word, const char *const *cands, size_t n, char *out,
                         size_t cap)
{
    size_t best = SIZE_MAX, pick = 0;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, cands[i]);
        if (d < best)
            best = d, pick = i;
    }
    out[0] = '\0';
    if (best > 0 && best <= 2 && best * 2 < strlen(word))
        snprintf(out, cap, " (did you mean '%s'?)", cands[pick]);
    return out;
}

void config_diag_release(struct config_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->msg[i]);
    free(d->msg);
    for (size_t i = 0; i < d->nnote; i++)
        free(d->note[i]);
    free(d->note);
    memset(d, 0, sizeof(*d));
}
