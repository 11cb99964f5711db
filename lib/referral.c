/* referral.c: the referral model, JSON decoding and validation
 * (protocol.md, "Requests and replies" and "submit").
 *
 * Validation order of rd_referral_from_json (the first failure wins, so a
 * client always gets the same error for the same request):
 *   1. `referral` itself must be an object;
 *   2. unknown keys, in document order (a misspelt "childern" is reported
 *      as unknown rather than as "children is required", and personal data
 *      under an unknown name is refused before anything else is read);
 *   3. ref, partner, kind, postcode, children, concerns, language, urgency,
 *      consent, family, note.
 *
 * Choices where protocol.md is silent:
 *   - JSON null is not "absent": an optional field given as null is of the
 *     wrong type (invalid).
 *   - concerns: duplicate tags are allowed and kept; the order is kept as
 *     sent (it is part of the content, so it changes the digest). An empty
 *     list is the same as no list: it is not stored and not in the digest.
 *   - family: an empty object is the same as no family. Empty strings are
 *     allowed. Keys are stored in the fixed order name, phone, email,
 *     address.
 *   - note: an empty string is kept (it is present, but empty).
 *   - unknown keys are reported with the field path "referral.KEY" when KEY
 *     is a plain name ([A-Za-z0-9_-], at most 64 bytes); otherwise the
 *     field is the enclosing object's path. The key is never in the message.
 *   - strings with an embedded NUL (possible only for a json_t built by
 *     hand; the request parser refuses \u0000) are invalid.
 *
 * Messages say what the rule is and never quote the value that was sent. */
#include "referral.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_write.h"
#include "macro.h"

/* ---- names ------------------------------------------------------------- */

static const char *const kind_names[] = {
        [RD_KIND_FAMILY_SUPPORT] = "family_support",
        [RD_KIND_FIRST_LINE_PSYCHOLOGY] = "first_line_psychology",
};
RD_TABLE_COVERS(kind_names, RD_KIND__MAX);

static const char *const urgency_names[] = {
        [RD_URGENCY_NORMAL] = "normal",
        [RD_URGENCY_HIGH] = "high",
        [RD_URGENCY_CRISIS] = "crisis",
};
RD_TABLE_COVERS(urgency_names, RD_URGENCY__MAX);

static const char *const status_names[] = {
        [RD_STATUS_RECEIVED] = "received",     [RD_STATUS_ASSIGNED] = "assigned",
        [RD_STATUS_WAITLISTED] = "waitlisted", [RD_STATUS_FORWARDED] = "forwarded",
        [RD_STATUS_ACCEPTED] = "accepted",     [RD_STATUS_STARTED] = "started",
        [RD_STATUS_CLOSED] = "closed",         [RD_STATUS_WITHDRAWN] = "withdrawn",
};
RD_TABLE_COVERS(status_names, RD_STATUS__MAX);

const char *rd_kind_name(enum rd_kind kind)
{
        if ((unsigned)kind >= RD_KIND__MAX)
                return "unknown";
        return kind_names[kind];
}

const char *rd_urgency_name(enum rd_urgency urgency)
{
        if ((unsigned)urgency >= RD_URGENCY__MAX)
                return "unknown";
        return urgency_names[urgency];
}

const char *rd_status_name(enum rd_status status)
{
        if ((unsigned)status >= RD_STATUS__MAX)
                return "unknown";
        return status_names[status];
}

static int parse_name(const char *s, const char *const *names, unsigned n, unsigned *out)
{
        if (!s)
                return -EINVAL;
        for (unsigned i = 0; i < n; i++) {
                if (strcmp(s, names[i]) == 0) {
                        *out = i;
                        return 0;
                }
        }
        return -EINVAL;
}

int rd_kind_parse(const char *s, enum rd_kind *out)
{
        unsigned i;
        if (parse_name(s, kind_names, RD_KIND__MAX, &i))
                return -EINVAL;
        *out = (enum rd_kind)i;
        return 0;
}

int rd_urgency_parse(const char *s, enum rd_urgency *out)
{
        unsigned i;
        if (parse_name(s, urgency_names, RD_URGENCY__MAX, &i))
                return -EINVAL;
        *out = (enum rd_urgency)i;
        return 0;
}

int rd_status_parse(const char *s, enum rd_status *out)
{
        unsigned i;
        if (parse_name(s, status_names, RD_STATUS__MAX, &i))
                return -EINVAL;
        *out = (enum rd_status)i;
        return 0;
}

bool rd_status_is_open(enum rd_status status)
{
        return status == RD_STATUS_WAITLISTED || status == RD_STATUS_ASSIGNED ||
               status == RD_STATUS_ACCEPTED || status == RD_STATUS_STARTED;
}

/* ---- small helpers ----------------------------------------------------- */

size_t rd_utf8_length(const char *s)
{
        size_t n = 0;
        if (!s)
                return 0;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if ((*p & 0xC0) != 0x80)
                        n++;
        return n;
}

static bool is_lower_digit(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int rd_id_valid(const char *s)
{
        size_t n;
        if (!s || !is_lower_digit(s[0]))
                return 0;
        for (n = 1; s[n]; n++) {
                if (n >= RD_ID_MAX)
                        return 0;
                if (!is_lower_digit(s[n]) && s[n] != '_' && s[n] != '-')
                        return 0;
        }
        return 1;
}

/* ---- parsing one request frame ----------------------------------------- */

/* Depth of brackets outside strings, stopping early once it passes MAX.
 * Returns the deepest nesting seen (at most MAX + 1). Runs before jansson
 * so that deep input never reaches its recursive parser. */
static int bracket_depth(const char *buf, size_t len, int max)
{
        int depth = 0, deepest = 0;
        bool in_string = false;

        for (size_t i = 0; i < len; i++) {
                char c = buf[i];
                if (in_string) {
                        if (c == '\\')
                                i++; /* skip the escaped character */
                        else if (c == '"')
                                in_string = false;
                        continue;
                }
                switch (c) {
                case '"': in_string = true; break;
                case '[':
                case '{':
                        if (++depth > deepest)
                                deepest = depth;
                        if (deepest > max)
                                return deepest;
                        break;
                case ']':
                case '}':
                        if (depth > 0)
                                depth--;
                        break;
                default: break;
                }
        }
        return deepest;
}

int rd_json_parse_request(const char *buf, size_t len, json_t **out, struct rd_error *err)
{
        json_error_t jerr;
        json_t *root;

        if (!buf && len > 0)
                return rd_error_set(err, RD_MALFORMED, NULL, "request is empty");
        if (len > RD_REQUEST_MAX)
                return rd_error_set(err, RD_MALFORMED, NULL,
                                    "request is larger than %d bytes (64 KiB)", RD_REQUEST_MAX);
        if (len == 0)
                return rd_error_set(err, RD_MALFORMED, NULL,
                                    "request is empty; it must be one JSON object");
        if (memchr(buf, '\0', len))
                return rd_error_set(err, RD_MALFORMED, NULL,
                                    "request contains a NUL byte; it must be one JSON object "
                                    "in UTF-8");
        if (bracket_depth(buf, len, RD_JSON_DEPTH_MAX) > RD_JSON_DEPTH_MAX)
                return rd_error_set(err, RD_MALFORMED, NULL,
                                    "request nests arrays and objects deeper than %d levels",
                                    RD_JSON_DEPTH_MAX);

        /* \u0000 inside a string is valid JSON (RFC 8259): it is decoded, and
         * each field that cannot hold it says so (invalid), while corr is
         * echoed verbatim. */
        root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
        if (!root) {
                /* jansson's own text may quote the input: never forward it. */
                int at = jerr.position;
                switch (json_error_code(&jerr)) {
                case json_error_out_of_memory:
                        return rd_error_set(err, RD_INTERNAL, NULL,
                                            "out of memory while decoding the request");
                case json_error_invalid_utf8:
                        return rd_error_set(err, RD_MALFORMED, NULL,
                                            "request is not valid UTF-8 (error at byte %d)", at);
                case json_error_duplicate_key:
                        return rd_error_set(err, RD_MALFORMED, NULL,
                                            "request has an object with the same key twice "
                                            "(error at byte %d)",
                                            at);
                case json_error_numeric_overflow:
                        return rd_error_set(err, RD_MALFORMED, NULL,
                                            "request has a number too large to decode "
                                            "(error at byte %d)",
                                            at);
                case json_error_null_character:
                case json_error_null_byte_in_key:
                        return rd_error_set(err, RD_MALFORMED, NULL,
                                            "request contains a \\u0000 character "
                                            "(error at byte %d)",
                                            at);
                case json_error_stack_overflow:
                        return rd_error_set(err, RD_MALFORMED, NULL,
                                            "request nests arrays and objects deeper than %d "
                                            "levels",
                                            RD_JSON_DEPTH_MAX);
                case json_error_premature_end_of_input:
                        return rd_error_set(err, RD_MALFORMED, NULL,
                                            "request is not valid JSON: it ends before the "
                                            "value is complete");
                case json_error_end_of_input_expected:
                        return rd_error_set(err, RD_MALFORMED, NULL,
                                            "request is not valid JSON: there is more after "
                                            "the object (error at byte %d)",
                                            at);
                default:
                        return rd_error_set(err, RD_MALFORMED, NULL,
                                            "request is not valid JSON (error at byte %d)", at);
                }
        }
        if (!json_is_object(root)) {
                json_decref(root);
                return rd_error_set(err, RD_MALFORMED, NULL,
                                    "request must be a JSON object ({...}) at the top level");
        }
        *out = root;
        return 0;
}

/* ---- the corr of a request that cannot be decoded ---------------------- */

int rd_corr_valid(const json_t *corr)
{
        const char *s = json_string_value(corr);
        size_t n = 0, len = json_string_length(corr);

        if (!s)
                return 0;
        for (size_t i = 0; i < len; i++)
                n += ((unsigned char)s[i] & 0xC0) != 0x80;
        return n <= RD_CORR_MAX;
}

static size_t skip_space(const char *buf, size_t len, size_t i)
{
        while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
                i++;
        return i;
}

/* The end (one past the closing quote) of the string token that starts at
 * BUF[I] (a quote), or 0 when it does not end. */
static size_t string_end(const char *buf, size_t len, size_t i)
{
        for (i++; i < len; i++) {
                if (buf[i] == '\\')
                        i++;
                else if (buf[i] == '"')
                        return i + 1;
        }
        return 0;
}

/* The end of the value that starts at BUF[I]: a string, an array or object
 * (brackets counted outside strings, however deep, without recursion), or
 * a scalar up to the next delimiter. 0 when it does not end. Nothing is
 * checked: only where the value ends. */
static size_t value_end(const char *buf, size_t len, size_t i)
{
        size_t depth = 0;

        if (i >= len)
                return 0;
        if (buf[i] == '"')
                return string_end(buf, len, i);
        if (buf[i] != '[' && buf[i] != '{') {
                while (i < len && !strchr(",}] \t\r\n", buf[i]))
                        i++;
                return i;
        }
        for (; i < len; i++) {
                if (buf[i] == '"') {
                        i = string_end(buf, len, i);
                        if (!i)
                                return 0;
                        i--;
                } else if (buf[i] == '[' || buf[i] == '{') {
                        depth++;
                } else if ((buf[i] == ']' || buf[i] == '}') && --depth == 0) {
                        return i + 1;
                }
        }
        return 0;
}

/* 1 if the string token BUF[LEN] (quotes included) decodes to "corr". */
static int is_corr_key(const char *buf, size_t len)
{
        json_t *k;
        int r;

        if (len == 6 && memcmp(buf, "\"corr\"", 6) == 0)
                return 1;
        if (!memchr(buf, '\\', len)) /* only an escape can spell corr otherwise */
                return 0;
        k = json_loadb(buf, len, JSON_DECODE_ANY, NULL);
        r = json_is_string(k) && strcmp(json_string_value(k), "corr") == 0 &&
            json_string_length(k) == 4;
        json_decref(k);
        return r;
}

int rd_json_scan_corr(const char *buf, size_t len, json_t **out)
{
        json_t *found = NULL;
        size_t i;

        if (!buf)
                return 0;
        i = skip_space(buf, len, 0);
        if (i >= len || buf[i] != '{')
                return 0;
        i = skip_space(buf, len, i + 1);
        while (i < len && buf[i] == '"') {
                size_t key = i, key_end = string_end(buf, len, i), val, val_end;

                if (!key_end)
                        break;
                i = skip_space(buf, len, key_end);
                if (i >= len || buf[i] != ':')
                        break;
                val = skip_space(buf, len, i + 1);
                val_end = value_end(buf, len, val);
                if (!val_end)
                        break;
                if (is_corr_key(buf + key, key_end - key)) {
                        json_t *v = NULL;
                        if (found) { /* two: neither is the request's corr */
                                json_decref(found);
                                return 0;
                        }
                        if (buf[val] == '"')
                                v = json_loadb(buf + val, val_end - val,
                                               JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
                        if (!rd_corr_valid(v)) {
                                json_decref(v);
                                return 0;
                        }
                        found = v;
                }
                i = skip_space(buf, len, val_end);
                if (i >= len || buf[i] != ',')
                        break;
                i = skip_space(buf, len, i + 1);
        }
        if (!found)
                return 0;
        *out = found;
        return 1;
}

/* ---- validating a referral --------------------------------------------- */

static const char *const referral_keys[] = {
        "ref",      "partner", "kind",    "postcode", "children", "concerns",
        "language", "urgency", "consent", "family",   "note",
};
#define N_REFERRAL_KEYS (sizeof referral_keys / sizeof referral_keys[0])

static const char *const family_keys[] = {"name", "phone", "email", "address"};
#define N_FAMILY_KEYS (sizeof family_keys / sizeof family_keys[0])

static bool in_list(const char *key, const char *const *list, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(key, list[i]) == 0)
                        return true;
        return false;
}

int rd_json_key_is_plain(const char *key)
{
        size_t n = 0;
        for (; key[n]; n++) {
                char c = key[n];
                if (n >= 64)
                        return 0;
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-'))
                        return 0;
        }
        return n > 0;
}

/* The first key of OBJ not in LIST (document order), reported as an error
 * under PATH with ALLOWED listed in the message. */
static int check_keys(const json_t *obj, const char *path, const char *const *list, size_t n,
                      const char *allowed, struct rd_error *err)
{
        const char *key;
        json_t *value;

        json_object_foreach((json_t *)obj, key, value)
        {
                char field[RD_FIELD_MAX];
                (void)value;
                if (in_list(key, list, n))
                        continue;
                if (rd_json_key_is_plain(key))
                        snprintf(field, sizeof field, "%s.%s", path, key);
                else
                        snprintf(field, sizeof field, "%s", path);
                return rd_error_set(err, RD_INVALID, field,
                                    "%s has a key that is not allowed; the allowed keys are %s",
                                    path, allowed);
        }
        return 0;
}

/* A JSON string without embedded NUL, or NULL. */
static const char *string_value(const json_t *v)
{
        const char *s;
        if (!json_is_string(v))
                return NULL;
        s = json_string_value(v);
        if (strlen(s) != json_string_length(v))
                return NULL;
        return s;
}

static bool valid_ref(const char *s)
{
        size_t n = 0;
        for (; s[n]; n++)
                if (s[n] < '!' || s[n] > '~' || n >= RD_REF_MAX)
                        return false;
        return n >= 1;
}

static bool valid_postcode(const char *s)
{
        if (strlen(s) != 4 || s[0] < '1' || s[0] > '9')
                return false;
        for (int i = 1; i < 4; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

static bool valid_tag(const char *s)
{
        size_t n = 0;
        for (; s[n]; n++) {
                if (n >= RD_TAG_MAX)
                        return false;
                if (!is_lower_digit(s[n]) && s[n] != '_')
                        return false;
        }
        return n >= 1;
}

static bool valid_language(const char *s)
{
        size_t n = 0;
        for (; s[n]; n++)
                if (n >= 3 || s[n] < 'a' || s[n] > 'z')
                        return false;
        return n >= 2;
}

#define MSG_REF                                                                                    \
        "referral.ref must be a string of 1 to 128 printable ASCII characters ('!' to '~', no "    \
        "spaces)"
#define MSG_PARTNER                                                                                \
        "referral.partner must be an id: 1 to 64 characters from a-z, 0-9, '_' and '-', starting " \
        "with a letter or digit"
#define MSG_KIND "referral.kind must be \"family_support\" or \"first_line_psychology\""
#define MSG_POSTCODE                                                                               \
        "referral.postcode must be a Belgian postcode: 4 digits from 1000 to 9999, as a string"
#define MSG_CHILDREN "referral.children must be a list of 1 to 20 objects {\"age\": N}"
#define MSG_CHILD "each child must be an object {\"age\": N} with N an integer from 0 to 25"
#define MSG_AGE "the age of a child must be an integer from 0 to 25"
#define MSG_CONCERNS "referral.concerns must be a list of at most 16 tags"
#define MSG_TAG "each concern must be a tag of 1 to 64 characters from a-z, 0-9 and '_'"
#define MSG_LANGUAGE "referral.language must be 2 or 3 lowercase letters (a-z), e.g. \"nl\""
#define MSG_URGENCY "referral.urgency must be \"normal\", \"high\" or \"crisis\""
#define MSG_CONSENT                                                                                \
        "referral.consent must be true: a referral is made together with the family, who must "    \
        "consent to it"
#define MSG_FAMILY                                                                                 \
        "referral.family must be an object with only name, phone, email and address, each a "      \
        "string of at most 256 characters"
#define MSG_NOTE "referral.note must be a string of at most 2000 characters"

static int check_children(const json_t *v, struct rd_referral *r, struct rd_error *err)
{
        size_t n;

        if (!v)
                return rd_error_set(err, RD_INVALID, "referral.children",
                                    "referral.children is required: " MSG_CHILDREN);
        if (!json_is_array(v))
                return rd_error_set(err, RD_INVALID, "referral.children", MSG_CHILDREN);
        n = json_array_size(v);
        if (n < 1 || n > RD_CHILDREN_MAX)
                return rd_error_set(err, RD_INVALID, "referral.children", MSG_CHILDREN);
        for (size_t i = 0; i < n; i++) {
                const json_t *child = json_array_get(v, i), *age;
                char path[RD_FIELD_MAX];
                json_int_t a;
                int rc;

                snprintf(path, sizeof path, "referral.children[%zu]", i);
                if (!json_is_object(child))
                        return rd_error_set(err, RD_INVALID, path, MSG_CHILD);
                rc = check_keys(child, path, (const char *const[]){"age"}, 1, "age", err);
                if (rc)
                        return rc;
                snprintf(path, sizeof path, "referral.children[%zu].age", i);
                age = json_object_get(child, "age");
                if (!age)
                        return rd_error_set(err, RD_INVALID, path,
                                            "the age of each child is required: " MSG_AGE);
                if (!json_is_integer(age))
                        return rd_error_set(err, RD_INVALID, path, MSG_AGE);
                a = json_integer_value(age);
                if (a < 0 || a > RD_AGE_MAX)
                        return rd_error_set(err, RD_INVALID, path, MSG_AGE);
                r->ages[i] = (uint8_t)a;
        }
        r->n_children = (unsigned)n;
        return 0;
}

static int check_concerns(const json_t *v, struct rd_referral *r, struct rd_error *err)
{
        size_t n;

        if (!v)
                return 0;
        if (!json_is_array(v))
                return rd_error_set(err, RD_INVALID, "referral.concerns", MSG_CONCERNS);
        n = json_array_size(v);
        if (n > RD_CONCERNS_MAX)
                return rd_error_set(err, RD_INVALID, "referral.concerns", MSG_CONCERNS);
        for (size_t i = 0; i < n; i++) {
                const char *s = string_value(json_array_get(v, i));
                char path[RD_FIELD_MAX];

                if (!s || !valid_tag(s)) {
                        snprintf(path, sizeof path, "referral.concerns[%zu]", i);
                        return rd_error_set(err, RD_INVALID, path, MSG_TAG);
                }
                memcpy(r->concerns[i], s, strlen(s) + 1);
        }
        r->n_concerns = (unsigned)n;
        return 0;
}

static int check_family(const json_t *v, struct rd_referral *r, struct rd_error *err)
{
        json_t *copy;
        int rc;

        if (!v)
                return 0;
        if (!json_is_object(v))
                return rd_error_set(err, RD_INVALID, "referral.family", MSG_FAMILY);
        rc = check_keys(v, "referral.family", family_keys, N_FAMILY_KEYS,
                        "name, phone, email and address", err);
        if (rc)
                return rc;
        for (size_t i = 0; i < N_FAMILY_KEYS; i++) {
                const json_t *f = json_object_get(v, family_keys[i]);
                const char *s;
                char path[RD_FIELD_MAX];

                if (!f)
                        continue;
                snprintf(path, sizeof path, "referral.family.%s", family_keys[i]);
                s = string_value(f);
                if (!s || rd_utf8_length(s) > RD_FAMILY_FIELD_MAX)
                        return rd_error_set(err, RD_INVALID, path,
                                            "%s must be a string of at most 256 characters", path);
        }
        if (json_object_size(v) == 0)
                return 0; /* an empty family is no family */
        copy = json_object();
        if (!copy)
                goto oom;
        for (size_t i = 0; i < N_FAMILY_KEYS; i++) {
                const json_t *f = json_object_get(v, family_keys[i]);
                if (f &&
                    json_object_set_new(copy, family_keys[i], json_string(json_string_value(f)))) {
                        json_decref(copy);
                        goto oom;
                }
        }
        r->family = copy;
        return 0;
oom:
        rd_error_set(err, RD_INTERNAL, NULL, "out of memory while reading the referral");
        return -ENOMEM;
}

static int check_fields(const json_t *obj, struct rd_referral *r, struct rd_error *err)
{
        const json_t *v;
        const char *s;
        int rc;

        rc = check_keys(obj, "referral", referral_keys, N_REFERRAL_KEYS,
                        "ref, partner, kind, postcode, children, concerns, language, urgency, "
                        "consent, family and note",
                        err);
        if (rc)
                return rc;

        v = json_object_get(obj, "ref");
        if (!v)
                return rd_error_set(err, RD_INVALID, "referral.ref",
                                    "referral.ref is required: the partner's own id for this "
                                    "referral, 1 to 128 printable ASCII characters");
        s = string_value(v);
        if (!s || !valid_ref(s))
                return rd_error_set(err, RD_INVALID, "referral.ref", MSG_REF);
        memcpy(r->ref, s, strlen(s) + 1);

        v = json_object_get(obj, "partner");
        if (v) {
                s = string_value(v);
                if (!s || !rd_id_valid(s))
                        return rd_error_set(err, RD_INVALID, "referral.partner", MSG_PARTNER);
                memcpy(r->partner, s, strlen(s) + 1);
        }

        v = json_object_get(obj, "kind");
        if (!v)
                return rd_error_set(err, RD_INVALID, "referral.kind",
                                    "referral.kind is required: " MSG_KIND);
        s = string_value(v);
        if (!s || rd_kind_parse(s, &r->kind))
                return rd_error_set(err, RD_INVALID, "referral.kind", MSG_KIND);

        v = json_object_get(obj, "postcode");
        if (!v)
                return rd_error_set(err, RD_INVALID, "referral.postcode",
                                    "referral.postcode is required: " MSG_POSTCODE);
        s = string_value(v);
        if (!s || !valid_postcode(s))
                return rd_error_set(err, RD_INVALID, "referral.postcode", MSG_POSTCODE);
        memcpy(r->postcode, s, 5);

        rc = check_children(json_object_get(obj, "children"), r, err);
        if (rc)
                return rc;
        rc = check_concerns(json_object_get(obj, "concerns"), r, err);
        if (rc)
                return rc;

        v = json_object_get(obj, "language");
        if (v) {
                s = string_value(v);
                if (!s || !valid_language(s))
                        return rd_error_set(err, RD_INVALID, "referral.language", MSG_LANGUAGE);
                memcpy(r->language, s, strlen(s) + 1);
        }

        r->urgency = RD_URGENCY_NORMAL;
        v = json_object_get(obj, "urgency");
        if (v) {
                s = string_value(v);
                if (!s || rd_urgency_parse(s, &r->urgency))
                        return rd_error_set(err, RD_INVALID, "referral.urgency", MSG_URGENCY);
        }

        v = json_object_get(obj, "consent");
        if (!v)
                return rd_error_set(err, RD_INVALID, "referral.consent",
                                    "referral.consent is required and must be true: a referral "
                                    "is made together with the family, who must consent to it");
        if (!json_is_true(v))
                return rd_error_set(err, RD_INVALID, "referral.consent", MSG_CONSENT);

        rc = check_family(json_object_get(obj, "family"), r, err);
        if (rc)
                return rc;

        v = json_object_get(obj, "note");
        if (v) {
                s = string_value(v);
                if (!s || rd_utf8_length(s) > RD_NOTE_MAX)
                        return rd_error_set(err, RD_INVALID, "referral.note", MSG_NOTE);
                r->note = strdup(s);
                if (!r->note) {
                        rd_error_set(err, RD_INTERNAL, NULL,
                                     "out of memory while reading the referral");
                        return -ENOMEM;
                }
        }
        return 0;
}

int rd_referral_from_json(const json_t *obj, struct rd_referral *out, struct rd_error *err)
{
        struct rd_referral r;
        int rc;

        memset(&r, 0, sizeof r);
        if (!json_is_object(obj)) {
                memset(out, 0, sizeof *out);
                return rd_error_set(err, RD_INVALID, "referral",
                                    "referral must be an object with ref, kind, postcode, "
                                    "children and consent");
        }
        rc = check_fields(obj, &r, err);
        if (rc) {
                rd_referral_clear(&r);
                memset(out, 0, sizeof *out);
                return rc;
        }
        *out = r;
        return 0;
}

void rd_referral_clear(struct rd_referral *r)
{
        if (!r)
                return;
        json_decref(r->family);
        free(r->note);
        memset(r, 0, sizeof *r);
}

/* ---- canonical form and digest ----------------------------------------- */

static int set_str(json_t *obj, const char *key, const char *s)
{
        json_t *v = json_string(s);
        return v ? json_object_set_new(obj, key, v) : -1;
}

json_t *rd_referral_to_json(const struct rd_referral *r, bool with_personal)
{
        json_t *o = json_object();

        if (!o || !r)
                goto fail;
        if (set_str(o, "ref", r->ref))
                goto fail;
        if (r->partner[0] && set_str(o, "partner", r->partner))
                goto fail;
        if (set_str(o, "kind", rd_kind_name(r->kind)))
                goto fail;
        if (r->postcode[0] && set_str(o, "postcode", r->postcode))
                goto fail;
        if (r->n_children > 0) {
                json_t *a = json_array();
                if (!a || json_object_set_new(o, "children", a))
                        goto fail;
                for (unsigned i = 0; i < r->n_children && i < RD_CHILDREN_MAX; i++)
                        if (json_array_append_new(
                                    a, json_pack("{s:I}", "age", (json_int_t)r->ages[i])))
                                goto fail;
        }
        if (r->n_concerns > 0) {
                json_t *a = json_array();
                if (!a || json_object_set_new(o, "concerns", a))
                        goto fail;
                for (unsigned i = 0; i < r->n_concerns && i < RD_CONCERNS_MAX; i++)
                        if (json_array_append_new(a, json_string(r->concerns[i])))
                                goto fail;
        }
        if (r->language[0] && set_str(o, "language", r->language))
                goto fail;
        if (set_str(o, "urgency", rd_urgency_name(r->urgency)))
                goto fail;
        if (json_object_set_new(o, "consent", json_true()))
                goto fail;
        if (with_personal && r->family) {
                json_t *f = json_object();
                if (!f || json_object_set_new(o, "family", f))
                        goto fail;
                for (size_t i = 0; i < N_FAMILY_KEYS; i++) {
                        const char *s =
                                json_string_value(json_object_get(r->family, family_keys[i]));
                        if (s && set_str(f, family_keys[i], s))
                                goto fail;
                }
        }
        if (with_personal && r->note && set_str(o, "note", r->note))
                goto fail;
        return o;
fail:
        json_decref(o);
        return NULL;
}

/* The canonical form of R into W: the keys and forms of
 * rd_referral_to_json (R, true) as json_dumps writes them compactly. */
static void write_canonical(const struct rd_referral *r, struct rd_jw *w)
{
        rd_jw_open(w);
        rd_jw_str(w, "ref", r->ref);
        rd_jw_str_set(w, "partner", r->partner);
        rd_jw_str(w, "kind", rd_kind_name(r->kind));
        rd_jw_str_set(w, "postcode", r->postcode);
        if (r->n_children > 0) {
                rd_jw_key(w, "children");
                rd_jw_array(w);
                for (unsigned i = 0; i < r->n_children && i < RD_CHILDREN_MAX; i++) {
                        rd_jw_open(w);
                        rd_jw_member_int(w, "age", r->ages[i]);
                        rd_jw_close(w);
                }
                rd_jw_array_end(w);
        }
        if (r->n_concerns > 0) {
                rd_jw_key(w, "concerns");
                rd_jw_array(w);
                for (unsigned i = 0; i < r->n_concerns && i < RD_CONCERNS_MAX; i++)
                        rd_jw_string(w, r->concerns[i], strlen(r->concerns[i]));
                rd_jw_array_end(w);
        }
        rd_jw_str_set(w, "language", r->language);
        rd_jw_str(w, "urgency", rd_urgency_name(r->urgency));
        rd_jw_member_bool(w, "consent", true);
        if (r->family) {
                rd_jw_key(w, "family");
                rd_jw_open(w);
                for (size_t i = 0; i < N_FAMILY_KEYS; i++) {
                        const char *s =
                                json_string_value(json_object_get(r->family, family_keys[i]));
                        if (s)
                                rd_jw_str(w, family_keys[i], s);
                }
                rd_jw_close(w);
        }
        if (r->note)
                rd_jw_str(w, "note", r->note);
        rd_jw_close(w);
}

int rd_referral_canonical(const struct rd_referral *r, char **text, char hex[65])
{
        static const char xd[] = "0123456789abcdef";
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        struct rd_jw w;
        const char *t;
        size_t len;
        int rc = rd_jw_init(&w);

        if (rc < 0)
                return rc;
        write_canonical(r, &w);
        t = rd_jw_text(&w, &len);
        rc = t && EVP_Digest(t, len, md, &md_len, EVP_sha256(), NULL) && md_len == 32 ? 0 : -ENOMEM;
        if (rc == 0 && text && !(*text = rd_jw_take(&w, NULL)))
                rc = -ENOMEM;
        rd_jw_free(&w);
        if (rc < 0)
                return rc;
        for (unsigned i = 0; i < 32; i++) {
                hex[2 * i] = xd[md[i] >> 4];
                hex[2 * i + 1] = xd[md[i] & 15];
        }
        hex[64] = '\0';
        return 0;
}

int rd_referral_digest(const struct rd_referral *r, char hex[65])
{
        return rd_referral_canonical(r, NULL, hex);
}
