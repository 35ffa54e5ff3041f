/* template.h: the bodies leadd sends to each CRM, written as templates.
 *
 * A JSON template is a JSON document. A string that is exactly one
 * placeholder, "{{path}}" or "{{path | filter | ...}}", becomes the lead's
 * value with its JSON type (a number stays a number, score_reasons an
 * array); a placeholder inside a longer string is interpolated as text; an
 * object member whose whole value is a placeholder with no value is left
 * out (an array element too). A form template is a flat JSON object sent as
 * application/x-www-form-urlencoded pairs. A text template (the email's) is
 * plain text with placeholders interpolated; its first line is the mail's
 * Subject header, where a value's line breaks and control characters become
 * spaces.
 *
 * Paths: id form created_at score grade qualified status flags score_reasons
 * duplicate_of url reasons_text fields_text fields.NAME extra.NAME
 * attribution.NAME crm_ids.NAME var.NAME. url is the lead's page in the
 * inbox (public_url + /app/leads/ID; absent without a public_url);
 * reasons_text is "rule +points, ..."; fields_text one "name: value" line a
 * field. Filters, applied left to right: first_name, last_name (a full name
 * split at its first space: "Ada King Lovelace" -> "Ada" / "King Lovelace";
 * one word is a last name), lower, upper (ASCII), local_part (the text
 * before an @), default:"text" and else:PATH (when the value so far is
 * absent or empty: the text, or the value at PATH), raw (the value is not
 * escaped for the target's markup: template_set_escape).
 *
 * jansson reads templates (at start) and the lead's JSON (per delivery) here;
 * rendering needs no other library. */
#ifndef LEADD_TEMPLATE_H
#define LEADD_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "leadd/buf.h"
#include "leadd/common.h"

enum template_kind { TEMPLATE_JSON, TEMPLATE_FORM, TEMPLATE_TEXT };

struct template;

/* A variable a template reads as {{var.NAME}}. */
struct template_var {
    const char *name, *value;
};

/* template_compile: parses text[0..len) as a template of kind. Every
 * placeholder is checked: its path and filters must exist, and a var.NAME
 * must be one of vars[0..nvars). On LEADD_EINVAL err holds
 * "FILE:LINE: message" (file names the template in messages). */
LEADD_MUST_CHECK int template_compile(struct template **out, enum template_kind kind,
                                      const char *text, size_t len, const char *file,
                                      const struct template_var *vars, size_t nvars, char *err,
                                      size_t errlen);
void template_free(struct template **tp);
enum template_kind template_kind(const struct template *t);

/* What the target reads as markup in the text it is sent: every string a
 * placeholder yields is escaped for it (after its filters), unless the
 * placeholder ends in the raw filter. A visitor's name of "<!channel>"
 * must reach Slack as text, not as a mention of everyone. JSON and form
 * encoding are the renderer's own and always applied. */
enum template_escape {
    TEMPLATE_ESC_NONE,  /* plain text (a mail's text body) */
    TEMPLATE_ESC_SLACK, /* Slack mrkdwn: & < > */
    TEMPLATE_ESC_HTML,  /* HTML: & < > " ' */
};
/* template_fields: each fields.NAME the template reads (NAME, and the line
 * of the template it is first on), so the config can check them against
 * the fields of the forms its target serves. */
struct template_field {
    char name[128];
    int line;
};
const struct template_field *template_fields(const struct template *t, size_t *n);
/* template_set_escape: TEMPLATE_ESC_NONE until set. */
void template_set_escape(struct template *t, enum template_escape esc);

/* What a template is rendered from: the lead as GET /v1/leads/{id} shows it
 * (JSON text), the server's public URL ("" when none) and the variables. */
struct template_ctx {
    const char *lead_json;
    size_t lead_len;
    const char *public_url;
    const struct template_var *vars;
    size_t nvars;
    /* what a lead's JSON does not show: the visitor's address ({{ip}}) and
     * the page's name ({{page_name}}: its form's title, else its id); NULL:
     * absent */
    const char *ip, *page_name;
    const char *event_at; /* {{event_at}}: when the delivery's event happened (RFC 3339) */
};

/* template_reads_ip: whether t reads {{ip}} (then its sender supplies it). */
bool template_reads_ip(const struct template *t);
/* template_render: appends the body to out. LEADD_EINVAL when the lead's JSON
 * does not parse, LEADD_ENOMEM, or out's error. */
LEADD_MUST_CHECK int template_render(const struct template *t, const struct template_ctx *c,
                                     struct buf *out);

/* template_json_path: the value at a dotted path ("results.0.id": digits
 * index arrays) in the JSON text json[0..len), as text (a string's contents,
 * or a number's digits) into out; LEADD_ENOTFOUND when absent or not a
 * string or number, LEADD_EINVAL when the text is not JSON. */
LEADD_MUST_CHECK int template_json_path(const char *json, size_t len, const char *path, char *out,
                                        size_t cap);

#endif
