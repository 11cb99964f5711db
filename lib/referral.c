/* referral.c: the referral model, its validation and its canonical form
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
 *   - strings with an embedded NUL (a \u0000 in the request: only corr may
 *     hold one) are invalid.
 *
 *
 * Messages say what the rule is and never quote the value that was sent.
 * The checks read a view of the referral (referral_view.h), made from a
 * jansson tree here or by the request's decoder (request.c) without one. */
#include "referral.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_write.h"
#include "macro.h"
#include "referral_view.h"

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

/* S has at most MAX code points: counted only when it has more bytes than
 * that (a character is one byte or more), so a note of a few hundred
 * bytes is not walked byte by byte. */
static bool utf8_at_most(const char *s, size_t max)
{
        return strnlen(s, max + 1) <= max || rd_utf8_length(s) <= max;
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

/* ---- validating a referral --------------------------------------------- */

static const char *const referral_keys[] = {
        [RD_RK_REF] = "ref",           [RD_RK_PARTNER] = "partner",   [RD_RK_KIND] = "kind",
        [RD_RK_POSTCODE] = "postcode", [RD_RK_CHILDREN] = "children", [RD_RK_CONCERNS] = "concerns",
        [RD_RK_LANGUAGE] = "language", [RD_RK_URGENCY] = "urgency",   [RD_RK_CONSENT] = "consent",
        [RD_RK_FAMILY] = "family",     [RD_RK_NOTE] = "note",
};
RD_TABLE_COVERS(referral_keys, RD_RK__MAX);

static const char *const family_keys[] = {
        [RD_FAMILY_NAME] = "name",
        [RD_FAMILY_PHONE] = "phone",
        [RD_FAMILY_EMAIL] = "email",
        [RD_FAMILY_ADDRESS] = "address",
};
RD_TABLE_COVERS(family_keys, RD_FAMILY__MAX);

bool rd_referral_has_family(const struct rd_referral *r)
{
        for (size_t i = 0; i < RD_FAMILY__MAX; i++)
                if (r->family[i])
                        return true;
        return false;
}

/* NAME (NUL-terminated) is KEY[LEN]: compared in one pass, without
 * strlen and memcmp (a request's every key comes here). */
static bool is_key(const char *name, const char *key, size_t len)
{
        size_t j = 0;

        while (j < len && name[j] && name[j] == key[j])
                j++;
        return j == len && name[j] == '\0';
}

/* The index of KEY[LEN] in LIST of N, or -1. */
static int key_index(const char *key, size_t len, const char *const *list, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (list[i][0] == key[0] && is_key(list[i], key, len))
                        return (int)i;
        return -1;
}

int rd_referral_key_index(const char *key, size_t len)
{
        return key_index(key, len, referral_keys, RD_RK__MAX);
}

int rd_family_key_index(const char *key, size_t len)
{
        return key_index(key, len, family_keys, RD_FAMILY__MAX);
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

void rd_jv_note_unknown(struct rd_jv_unknown *u, const char *key)
{
        if (u->seen)
                return;
        u->seen = true;
        u->plain = rd_json_key_is_plain(key);
        if (u->plain)
                snprintf(u->key, sizeof u->key, "%s", key);
}

/* U, the first key of the object at PATH it does not take, as an error
 * that lists ALLOWED; 0 when there is none. */
static int check_keys(const struct rd_jv_unknown *u, const char *path, const char *allowed,
                      struct rd_error *err)
{
        char field[RD_FIELD_MAX];

        if (!u->seen)
                return 0;
        if (u->plain)
                snprintf(field, sizeof field, "%s.%s", path, u->key);
        else
                snprintf(field, sizeof field, "%s", path);
        return rd_error_set(err, RD_INVALID, field,
                            "%s has a key that is not allowed; the allowed keys are %s", path,
                            allowed);
}

/* V's text when V is a string without U+0000, else NULL. */
static const char *string_value(const struct rd_jv *v)
{
        if (v->type != RD_JV_STRING || memchr(v->s, '\0', v->len))
                return NULL;
        return v->s;
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

static int oom(struct rd_error *err)
{
        rd_error_set(err, RD_INTERNAL, NULL, "out of memory while reading the referral");
        return -ENOMEM;
}

/* The error MSG about child I (its AGE when AGE is true). */
static int child_error(size_t i, bool age, const char *msg, struct rd_error *err)
{
        char path[RD_FIELD_MAX];

        snprintf(path, sizeof path, "referral.children[%zu]%s", i, age ? ".age" : "");
        return rd_error_set(err, RD_INVALID, path, "%s", msg);
}

static int check_children(const struct rd_referral_view *view, struct rd_referral *r,
                          struct rd_error *err)
{
        const struct rd_jv *v = &view->field[RD_RK_CHILDREN];

        if (v->type == RD_JV_ABSENT)
                return rd_error_set(err, RD_INVALID, "referral.children",
                                    "referral.children is required: " MSG_CHILDREN);
        if (v->type != RD_JV_ARRAY || v->len < 1 || v->len > RD_CHILDREN_MAX)
                return rd_error_set(err, RD_INVALID, "referral.children", MSG_CHILDREN);
        for (size_t i = 0; i < v->len; i++) {
                const struct rd_jv *age = &view->child[i].age;

                if (view->child[i].self.type != RD_JV_OBJECT)
                        return child_error(i, false, MSG_CHILD, err);
                if (view->child[i].unknown.seen) {
                        char path[RD_FIELD_MAX];
                        snprintf(path, sizeof path, "referral.children[%zu]", i);
                        return check_keys(&view->child[i].unknown, path, "age", err);
                }
                if (age->type == RD_JV_ABSENT)
                        return child_error(i, true, "the age of each child is required: " MSG_AGE,
                                           err);
                if (age->type != RD_JV_INTEGER || age->i < 0 || age->i > RD_AGE_MAX)
                        return child_error(i, true, MSG_AGE, err);
                r->ages[i] = (uint8_t)age->i;
        }
        r->n_children = (unsigned)v->len;
        return 0;
}

static int check_concerns(const struct rd_referral_view *view, struct rd_referral *r,
                          struct rd_error *err)
{
        const struct rd_jv *v = &view->field[RD_RK_CONCERNS];

        if (v->type == RD_JV_ABSENT)
                return 0;
        if (v->type != RD_JV_ARRAY || v->len > RD_CONCERNS_MAX)
                return rd_error_set(err, RD_INVALID, "referral.concerns", MSG_CONCERNS);
        for (size_t i = 0; i < v->len; i++) {
                const char *s = string_value(&view->concern[i]);
                char path[RD_FIELD_MAX];

                if (!s || !valid_tag(s)) {
                        snprintf(path, sizeof path, "referral.concerns[%zu]", i);
                        return rd_error_set(err, RD_INVALID, path, MSG_TAG);
                }
                memcpy(r->concerns[i], s, strlen(s) + 1);
        }
        r->n_concerns = (unsigned)v->len;
        return 0;
}

static int check_family(const struct rd_referral_view *view, struct rd_referral *r,
                        struct rd_error *err)
{
        const struct rd_jv *v = &view->field[RD_RK_FAMILY];
        int rc;

        if (v->type == RD_JV_ABSENT)
                return 0;
        if (v->type != RD_JV_OBJECT)
                return rd_error_set(err, RD_INVALID, "referral.family", MSG_FAMILY);
        rc = check_keys(&view->family_unknown, "referral.family", "name, phone, email and address",
                        err);
        if (rc)
                return rc;
        for (size_t i = 0; i < RD_FAMILY__MAX; i++) {
                const char *s = string_value(&view->family[i]);
                char path[RD_FIELD_MAX];

                if (view->family[i].type == RD_JV_ABSENT ||
                    (s && utf8_at_most(s, RD_FAMILY_FIELD_MAX)))
                        continue;
                snprintf(path, sizeof path, "referral.family.%s", family_keys[i]);
                return rd_error_set(err, RD_INVALID, path,
                                    "%s must be a string of at most 256 characters", path);
        }
        /* an empty family is no family */
        for (size_t i = 0; i < RD_FAMILY__MAX; i++)
                if (view->family[i].type != RD_JV_ABSENT &&
                    !(r->family[i] = strdup(view->family[i].s)))
                        return oom(err);
        return 0;
}

/* The string member K of VIEW, when it is there: its text, checked by
 * VALID, into *OUT; else an error with MSG. */
static int check_optional(const struct rd_referral_view *view, enum rd_referral_key k,
                          bool (*valid)(const char *), const char **out, const char *msg,
                          struct rd_error *err)
{
        const struct rd_jv *v = &view->field[k];
        char field[RD_FIELD_MAX];

        *out = NULL;
        if (v->type == RD_JV_ABSENT)
                return 0;
        *out = string_value(v);
        if (*out && valid(*out))
                return 0;
        snprintf(field, sizeof field, "referral.%s", referral_keys[k]);
        return rd_error_set(err, RD_INVALID, field, "%s", msg);
}

static bool valid_id(const char *s)
{
        return rd_id_valid(s);
}

static bool valid_kind(const char *s)
{
        enum rd_kind k;
        return rd_kind_parse(s, &k) == 0;
}

static bool valid_urgency(const char *s)
{
        enum rd_urgency u;
        return rd_urgency_parse(s, &u) == 0;
}

static bool valid_note(const char *s)
{
        return utf8_at_most(s, RD_NOTE_MAX);
}

static int check_fields(const struct rd_referral_view *view, struct rd_referral *r,
                        struct rd_error *err)
{
        const char *s;
        int rc;

        rc = check_keys(&view->unknown, "referral",
                        "ref, partner, kind, postcode, children, concerns, language, urgency, "
                        "consent, family and note",
                        err);
        if (rc)
                return rc;

        if (view->field[RD_RK_REF].type == RD_JV_ABSENT)
                return rd_error_set(err, RD_INVALID, "referral.ref",
                                    "referral.ref is required: the partner's own id for this "
                                    "referral, 1 to 128 printable ASCII characters");
        if ((rc = check_optional(view, RD_RK_REF, valid_ref, &s, MSG_REF, err)))
                return rc;
        memcpy(r->ref, s, strlen(s) + 1);

        if ((rc = check_optional(view, RD_RK_PARTNER, valid_id, &s, MSG_PARTNER, err)))
                return rc;
        if (s)
                memcpy(r->partner, s, strlen(s) + 1);

        if (view->field[RD_RK_KIND].type == RD_JV_ABSENT)
                return rd_error_set(err, RD_INVALID, "referral.kind",
                                    "referral.kind is required: " MSG_KIND);
        if ((rc = check_optional(view, RD_RK_KIND, valid_kind, &s, MSG_KIND, err)))
                return rc;
        rd_kind_parse(s, &r->kind);

        if (view->field[RD_RK_POSTCODE].type == RD_JV_ABSENT)
                return rd_error_set(err, RD_INVALID, "referral.postcode",
                                    "referral.postcode is required: " MSG_POSTCODE);
        if ((rc = check_optional(view, RD_RK_POSTCODE, valid_postcode, &s, MSG_POSTCODE, err)))
                return rc;
        memcpy(r->postcode, s, 5);

        if ((rc = check_children(view, r, err)) || (rc = check_concerns(view, r, err)))
                return rc;

        if ((rc = check_optional(view, RD_RK_LANGUAGE, valid_language, &s, MSG_LANGUAGE, err)))
                return rc;
        if (s)
                memcpy(r->language, s, strlen(s) + 1);

        r->urgency = RD_URGENCY_NORMAL;
        if ((rc = check_optional(view, RD_RK_URGENCY, valid_urgency, &s, MSG_URGENCY, err)))
                return rc;
        if (s)
                rd_urgency_parse(s, &r->urgency);

        if (view->field[RD_RK_CONSENT].type == RD_JV_ABSENT)
                return rd_error_set(err, RD_INVALID, "referral.consent",
                                    "referral.consent is required and must be true: a referral "
                                    "is made together with the family, who must consent to it");
        if (view->field[RD_RK_CONSENT].type != RD_JV_TRUE)
                return rd_error_set(err, RD_INVALID, "referral.consent", MSG_CONSENT);

        if ((rc = check_family(view, r, err)))
                return rc;

        if ((rc = check_optional(view, RD_RK_NOTE, valid_note, &s, MSG_NOTE, err)))
                return rc;
        if (s && !(r->note = strdup(s)))
                return oom(err);
        return 0;
}

int rd_referral_from_view(const struct rd_referral_view *view, struct rd_referral *out,
                          struct rd_error *err)
{
        struct rd_referral r;
        int rc;

        memset(&r, 0, sizeof r);
        if (view->self.type != RD_JV_OBJECT) {
                memset(out, 0, sizeof *out);
                return rd_error_set(err, RD_INVALID, "referral",
                                    "referral must be an object with ref, kind, postcode, "
                                    "children and consent");
        }
        rc = check_fields(view, &r, err);
        if (rc) {
                rd_referral_clear(&r);
                memset(out, 0, sizeof *out);
                return rc;
        }
        *out = r;
        return 0;
}

/* ---- the view of a tree ------------------------------------------------ */

/* J (may be NULL: absent) as a view value. */
static void jv_of(const json_t *j, struct rd_jv *v)
{
        memset(v, 0, sizeof *v);
        switch (j ? json_typeof(j) : JSON_NULL) {
        case JSON_OBJECT:
                v->type = RD_JV_OBJECT;
                v->len = json_object_size(j);
                break;
        case JSON_ARRAY:
                v->type = RD_JV_ARRAY;
                v->len = json_array_size(j);
                break;
        case JSON_STRING:
                v->type = RD_JV_STRING;
                v->s = json_string_value(j);
                v->len = json_string_length(j);
                break;
        case JSON_INTEGER:
                v->type = RD_JV_INTEGER;
                v->i = json_integer_value(j);
                break;
        case JSON_REAL:
                v->type = RD_JV_REAL;
                v->r = json_real_value(j);
                break;
        case JSON_TRUE: v->type = RD_JV_TRUE; break;
        case JSON_FALSE: v->type = RD_JV_FALSE; break;
        case JSON_NULL: v->type = j ? RD_JV_NULL : RD_JV_ABSENT; break;
        }
}

/* The first key of object OBJ not in LIST of N into U. */
static void unknown_of(const json_t *obj, const char *const *list, size_t n,
                       struct rd_jv_unknown *u)
{
        const char *key;
        json_t *value;

        json_object_foreach((json_t *)obj, key, value)
        {
                (void)value;
                if (key_index(key, strlen(key), list, n) < 0) {
                        rd_jv_note_unknown(u, key);
                        return;
                }
        }
}

int rd_referral_from_json(const json_t *obj, struct rd_referral *out, struct rd_error *err)
{
        static const char *const age_key[] = {"age"};
        struct rd_referral_view view;
        const json_t *a, *f;

        memset(&view, 0, RD_REFERRAL_VIEW_HEAD);
        jv_of(obj, &view.self);
        if (view.self.type == RD_JV_OBJECT) {
                unknown_of(obj, referral_keys, RD_RK__MAX, &view.unknown);
                for (size_t k = 0; k < RD_RK__MAX; k++)
                        jv_of(json_object_get(obj, referral_keys[k]), &view.field[k]);
        }
        a = json_object_get(obj, "children");
        for (size_t i = 0; json_is_array(a) && i < json_array_size(a) && i < RD_CHILDREN_MAX; i++) {
                const json_t *child = json_array_get(a, i);
                memset(&view.child[i], 0, sizeof view.child[i]);
                jv_of(child, &view.child[i].self);
                if (json_is_object(child)) {
                        unknown_of(child, age_key, 1, &view.child[i].unknown);
                        jv_of(json_object_get(child, "age"), &view.child[i].age);
                }
        }
        a = json_object_get(obj, "concerns");
        for (size_t i = 0; json_is_array(a) && i < json_array_size(a) && i < RD_CONCERNS_MAX; i++)
                jv_of(json_array_get(a, i), &view.concern[i]);
        f = json_object_get(obj, "family");
        if (json_is_object(f)) {
                unknown_of(f, family_keys, RD_FAMILY__MAX, &view.family_unknown);
                for (size_t k = 0; k < RD_FAMILY__MAX; k++)
                        jv_of(json_object_get(f, family_keys[k]), &view.family[k]);
        }
        return rd_referral_from_view(&view, out, err);
}

void rd_referral_clear(struct rd_referral *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < RD_FAMILY__MAX; i++)
                free(r->family[i]);
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
        if (with_personal && rd_referral_has_family(r)) {
                json_t *f = json_object();
                if (!f || json_object_set_new(o, "family", f))
                        goto fail;
                for (size_t i = 0; i < RD_FAMILY__MAX; i++)
                        if (r->family[i] && set_str(f, family_keys[i], r->family[i]))
                                goto fail;
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
        if (rd_referral_has_family(r)) {
                rd_jw_key(w, "family");
                rd_jw_open(w);
                for (size_t i = 0; i < RD_FAMILY__MAX; i++)
                        if (r->family[i])
                                rd_jw_str(w, family_keys[i], r->family[i]);
                rd_jw_close(w);
        }
        if (r->note)
                rd_jw_str(w, "note", r->note);
        rd_jw_close(w);
}

int rd_canonical_init(struct rd_canonical *c)
{
        memset(c, 0, sizeof *c);
        if (rd_jw_init(&c->w) < 0)
                return -ENOMEM;
        c->md = EVP_MD_fetch(NULL, "SHA256", NULL);
        c->ctx = c->md ? EVP_MD_CTX_new() : NULL;
        if (!c->ctx) {
                rd_canonical_free(c);
                return -ENOMEM;
        }
        return 0;
}

void rd_canonical_free(struct rd_canonical *c)
{
        if (!c)
                return;
        rd_jw_free(&c->w);
        EVP_MD_CTX_free(c->ctx);
        EVP_MD_free(c->md);
        memset(c, 0, sizeof *c);
}

/* The 32 bytes of a SHA-256 digest MD as lowercase hex into HEX. */
static void hex_of(const unsigned char md[32], char hex[65])
{
        static const char xd[] = "0123456789abcdef";

        for (unsigned i = 0; i < 32; i++) {
                hex[2 * i] = xd[md[i] >> 4];
                hex[2 * i + 1] = xd[md[i] & 15];
        }
        hex[64] = '\0';
}

int rd_sha256_hex(const void *bytes, size_t len, char hex[65])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;

        if (!EVP_Digest(bytes, len, md, &md_len, EVP_sha256(), NULL) || md_len != 32)
                return -ENOMEM;
        hex_of(md, hex);
        return 0;
}

const char *rd_canonical_write(struct rd_canonical *c, const struct rd_referral *r, size_t *len,
                               char hex[65])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        const char *t;
        size_t n;

        rd_jw_reset(&c->w);
        write_canonical(r, &c->w);
        t = rd_jw_text(&c->w, &n);
        if (!t || !EVP_DigestInit_ex(c->ctx, c->md, NULL) || !EVP_DigestUpdate(c->ctx, t, n) ||
            !EVP_DigestFinal_ex(c->ctx, md, &md_len) || md_len != 32)
                return NULL;
        hex_of(md, hex);
        if (len)
                *len = n;
        return t;
}

int rd_referral_canonical(const struct rd_referral *r, char **text, char hex[65])
{
        struct rd_canonical c;
        char h[65];
        const char *t;
        int rc = rd_canonical_init(&c);

        if (rc < 0)
                return rc;
        t = rd_canonical_write(&c, r, NULL, h);
        rc = t ? 0 : -ENOMEM;
        if (rc == 0 && text && !(*text = strdup(t)))
                rc = -ENOMEM;
        rd_canonical_free(&c);
        if (rc == 0)
                memcpy(hex, h, sizeof h);
        return rc;
}

int rd_referral_digest(const struct rd_referral *r, char hex[65])
{
        return rd_referral_canonical(r, NULL, hex);
}
