/* fuzz_common.h: invariants shared by fuzz_request and fuzz_referral.
 *
 * fuzz_check_referral(OBJ) runs rd_referral_from_json on OBJ (the value of a
 * request's "referral", any JSON value) and aborts when a documented
 * property does not hold:
 *   - an error has rc < 0, a code (invalid or internal), a non-empty
 *     message, a field that is "" or starts with "referral", and OUT zeroed;
 *   - the message and the field do not depend on personal data: the same
 *     object with every family value and the note replaced by as many 'Z'
 *     (and unknown keys renamed) gives the same result and message;
 *   - the set of distinct messages (digits folded) stays small: a message
 *     that quoted the input would make it grow without bound;
 *   - an accepted referral, serialised with rd_referral_to_json and read
 *     back (as a json_t, and as request text through rd_request_decode),
 *     is accepted again with the same digest and the same JSON;
 *   - key order, an explicit "urgency": "normal", "concerns": [] and
 *     "family": {} do not change the digest (protocol.md: "the same
 *     content");
 *   - the public form (with_personal false) has no family or note and does
 *     not depend on them.
 * Only lib/'s public API is used. */
#ifndef RD_FUZZ_COMMON_H
#define RD_FUZZ_COMMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "referral.h"
#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
                                #cond);                                                            \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

/* ---- the finite-message check ------------------------------------------ */

#define FUZZ_MESSAGES_MAX 200

/* Remember MSG with every run of digits folded to '#'. Abort once more
 * than FUZZ_MESSAGES_MAX distinct messages were seen in this process. */
static void fuzz_note_message(const char *msg)
{
        static char *seen[FUZZ_MESSAGES_MAX + 1];
        static size_t n_seen;
        char folded[RD_MESSAGE_MAX + 1];
        size_t j = 0;

        for (size_t i = 0; msg[i] && j < sizeof folded - 1; i++) {
                if (msg[i] >= '0' && msg[i] <= '9') {
                        if (j == 0 || folded[j - 1] != '#')
                                folded[j++] = '#';
                } else {
                        folded[j++] = msg[i];
                }
        }
        folded[j] = '\0';
        for (size_t i = 0; i < n_seen; i++)
                if (strcmp(seen[i], folded) == 0)
                        return;
        seen[n_seen] = strdup(folded);
        FUZZ_CHECK(seen[n_seen]);
        n_seen++;
        if (n_seen > FUZZ_MESSAGES_MAX) {
                fprintf(stderr, "more than %d distinct error messages: do they quote the input?\n",
                        FUZZ_MESSAGES_MAX);
                for (size_t i = 0; i < n_seen; i++)
                        fprintf(stderr, "  %s\n", seen[i]);
                abort();
        }
}

/* ---- helpers ----------------------------------------------------------- */

static bool fuzz_error_ok(const struct rd_error *err)
{
        return err->code != RD_OK && strnlen(err->message, RD_MESSAGE_MAX) < RD_MESSAGE_MAX &&
               err->message[0] != '\0' && strnlen(err->field, RD_FIELD_MAX) < RD_FIELD_MAX;
}

static bool fuzz_is_zero(const void *p, size_t n)
{
        const unsigned char *b = p;
        for (size_t i = 0; i < n; i++)
                if (b[i])
                        return false;
        return true;
}

static const char *const fuzz_referral_keys[] = {
        "ref",      "partner", "kind",    "postcode", "children", "concerns",
        "language", "urgency", "consent", "family",   "note",
};
static const char *const fuzz_family_keys[] = {"name", "phone", "email", "address"};

static bool fuzz_in(const char *key, const char *const *list, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(key, list[i]) == 0)
                        return true;
        return false;
}

static bool fuzz_key_plain(const char *key)
{
        size_t n = 0;
        for (; key[n]; n++) {
                char c = key[n];
                if (n >= 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                 (c >= '0' && c <= '9') || c == '_' || c == '-'))
                        return false;
        }
        return n > 0;
}

/* A string like V with every code point but NUL replaced by 'Z': the same
 * length in code points, the same NULs, none of V's content. */
static json_t *fuzz_scrub_string(const json_t *v)
{
        const char *s = json_string_value(v);
        size_t len = json_string_length(v), j = 0;
        char *buf = malloc(len + 1);
        json_t *out;

        FUZZ_CHECK(buf);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == 0)
                        buf[j++] = '\0';
                else if ((c & 0xC0) != 0x80)
                        buf[j++] = 'Z';
        }
        out = json_stringn(buf, j);
        free(buf);
        FUZZ_CHECK(out);
        return out;
}

/* A copy of object O whose keys not in LIST are renamed (plain keys to
 * plain names, others to names that are not plain, order kept); values
 * given by VALUE_FN (or shared). Sets *RENAMED when a key was renamed. */
static json_t *fuzz_scrub_object(const json_t *o, const char *const *list, size_t n,
                                 json_t *(*value_fn)(const char *key, json_t *v), bool *renamed)
{
        json_t *copy = json_object();
        const char *key;
        json_t *v;
        size_t idx = 0;

        FUZZ_CHECK(copy);
        json_object_foreach((json_t *)o, key, v)
        {
                char name[32];
                const char *k = key;
                json_t *nv = value_fn ? value_fn(key, v) : json_incref(v);

                if (!fuzz_in(key, list, n)) {
                        snprintf(name, sizeof name, fuzz_key_plain(key) ? "zk%zu" : "z k%zu", idx);
                        k = name;
                        *renamed = true;
                }
                FUZZ_CHECK(nv && json_object_set_new(copy, k, nv) == 0);
                idx++;
        }
        return copy;
}

static json_t *fuzz_family_value(const char *key, json_t *v)
{
        (void)key;
        return json_is_string(v) ? fuzz_scrub_string(v) : json_incref(v);
}

static bool fuzz_renamed_family;

static json_t *fuzz_referral_value(const char *key, json_t *v)
{
        if (strcmp(key, "family") == 0 && json_is_object(v))
                return fuzz_scrub_object(v, fuzz_family_keys, 4, fuzz_family_value,
                                         &fuzz_renamed_family);
        if (strcmp(key, "note") == 0 && json_is_string(v))
                return fuzz_scrub_string(v);
        return json_incref(v);
}

/* OBJ without its personal content (see the top of this file). */
static json_t *fuzz_scrub(const json_t *obj, bool *renamed)
{
        json_t *s;

        if (!json_is_object(obj))
                return json_incref((json_t *)obj);
        fuzz_renamed_family = false;
        s = fuzz_scrub_object(obj, fuzz_referral_keys, 11, fuzz_referral_value, renamed);
        *renamed = *renamed || fuzz_renamed_family;
        return s;
}

/* OBJ with its keys (and its family's keys) in reverse order. */
static json_t *fuzz_reverse(const json_t *obj)
{
        const char *keys[64];
        size_t n = 0;
        const char *key;
        json_t *v, *out = json_object();

        FUZZ_CHECK(out);
        json_object_foreach((json_t *)obj, key, v)
        {
                FUZZ_CHECK(n < 64);
                keys[n++] = key;
        }
        while (n-- > 0) {
                v = json_object_get(obj, keys[n]);
                if (strcmp(keys[n], "family") == 0 && json_is_object(v))
                        v = fuzz_reverse(v);
                else
                        json_incref(v);
                FUZZ_CHECK(json_object_set_new(out, keys[n], v) == 0);
        }
        return out;
}

static void fuzz_digest(const struct rd_referral *r, char hex[65])
{
        char again[65];

        FUZZ_CHECK(rd_referral_digest(r, hex) == 0);
        FUZZ_CHECK(strlen(hex) == 64 && strspn(hex, "0123456789abcdef") == 64);
        FUZZ_CHECK(rd_referral_digest(r, again) == 0 && strcmp(hex, again) == 0);
}

/* Validate OBJ, which must be accepted, and return its digest in HEX. */
static void fuzz_accept(const json_t *obj, char hex[65])
{
        struct rd_referral r;
        struct rd_error err;

        memset(&err, 0, sizeof err);
        if (rd_referral_from_json(obj, &r, &err) != 0) {
                fprintf(stderr, "rejected on re-validation: %s (%s)\n", err.message, err.field);
                abort();
        }
        fuzz_digest(&r, hex);
        rd_referral_clear(&r);
}

static void fuzz_check_fields(const struct rd_referral *r)
{
        FUZZ_CHECK(strlen(r->ref) >= 1 && strlen(r->ref) <= RD_REF_MAX);
        FUZZ_CHECK(r->partner[0] == '\0' || rd_id_valid(r->partner));
        FUZZ_CHECK((unsigned)r->kind < RD_KIND__MAX);
        FUZZ_CHECK((unsigned)r->urgency < RD_URGENCY__MAX);
        FUZZ_CHECK(strlen(r->postcode) == 4);
        FUZZ_CHECK(r->n_children >= 1 && r->n_children <= RD_CHILDREN_MAX);
        for (unsigned i = 0; i < r->n_children; i++)
                FUZZ_CHECK(r->ages[i] <= RD_AGE_MAX);
        FUZZ_CHECK(r->n_concerns <= RD_CONCERNS_MAX);
        for (unsigned i = 0; i < r->n_concerns; i++)
                FUZZ_CHECK(strlen(r->concerns[i]) >= 1 && strlen(r->concerns[i]) <= RD_TAG_MAX);
        FUZZ_CHECK(r->language[0] == '\0' || strlen(r->language) == 2 || strlen(r->language) == 3);
        for (size_t i = 0; i < RD_FAMILY__MAX; i++)
                FUZZ_CHECK(!r->family[i] || rd_utf8_length(r->family[i]) <= RD_FAMILY_FIELD_MAX);
        FUZZ_CHECK(!r->note || rd_utf8_length(r->note) <= RD_NOTE_MAX);
}

/* The checks of an accepted referral R, read from OBJ; SCRUBBED_R is the
 * same referral without personal content. */
static void fuzz_check_accepted(const json_t *obj, const struct rd_referral *r,
                                const struct rd_referral *scrubbed_r)
{
        char hex[65], hex2[65];
        json_t *full, *pub, *pub2, *back, *req;
        struct rd_referral r2;
        struct rd_error err;
        char *text, *t1, *t2;

        fuzz_check_fields(r);
        fuzz_digest(r, hex);

        /* to_json, then validate again: same digest, same JSON */
        full = rd_referral_to_json(r, true);
        FUZZ_CHECK(full);
        memset(&err, 0, sizeof err);
        FUZZ_CHECK(rd_referral_from_json(full, &r2, &err) == 0);
        fuzz_digest(&r2, hex2);
        FUZZ_CHECK(strcmp(hex, hex2) == 0);
        back = rd_referral_to_json(&r2, true);
        FUZZ_CHECK(back && json_equal(full, back));
        json_decref(back);
        rd_referral_clear(&r2);

        /* and through the wire: request text, parsed as a request */
        req = json_pack("{s:s, s:O}", "op", "submit", "referral", full);
        FUZZ_CHECK(req);
        text = json_dumps(req, JSON_COMPACT);
        FUZZ_CHECK(text);
        json_decref(req);
        {
                struct rd_request rq;
                memset(&err, 0, sizeof err);
                if (rd_request_decode(text, strlen(text), &rq, &err) != 0) {
                        fprintf(stderr, "re-serialised request refused: %s\n", err.message);
                        abort();
                }
                if (rq.referral_rc != 0) {
                        fprintf(stderr, "re-serialised referral refused: %s (%s)\n",
                                rq.referral_err.message, rq.referral_err.field);
                        abort();
                }
                fuzz_digest(&rq.referral, hex2);
                FUZZ_CHECK(strcmp(hex, hex2) == 0);
                rd_request_clear(&rq);
        }
        free(text);

        /* the same content: key order, defaults written out, empty lists */
        if (json_is_object(obj)) {
                json_t *v = fuzz_reverse(obj);
                fuzz_accept(v, hex2);
                FUZZ_CHECK(strcmp(hex, hex2) == 0);
                json_decref(v);

                v = json_deep_copy(obj);
                FUZZ_CHECK(v);
                if (!json_object_get(v, "urgency"))
                        json_object_set_new(v, "urgency", json_string("normal"));
                if (!json_object_get(v, "concerns"))
                        json_object_set_new(v, "concerns", json_array());
                if (!json_object_get(v, "family"))
                        json_object_set_new(v, "family", json_object());
                fuzz_accept(v, hex2);
                FUZZ_CHECK(strcmp(hex, hex2) == 0);
                json_decref(v);
        }

        /* the public form: no personal data, and none of it shows */
        pub = rd_referral_to_json(r, false);
        pub2 = rd_referral_to_json(scrubbed_r, false);
        FUZZ_CHECK(pub && pub2);
        FUZZ_CHECK(!json_object_get(pub, "family") && !json_object_get(pub, "note"));
        t1 = json_dumps(pub, JSON_COMPACT);
        t2 = json_dumps(pub2, JSON_COMPACT);
        FUZZ_CHECK(t1 && t2);
        FUZZ_CHECK(strcmp(t1, t2) == 0);
        free(t1);
        free(t2);
        json_decref(pub);
        json_decref(pub2);
        json_decref(full);
}

/* Is one of OBJ's personal strings (8 bytes or more) inside S? */
static bool fuzz_leaks(const json_t *obj, const char *s)
{
        const json_t *family = json_object_get(obj, "family"), *note = json_object_get(obj, "note");
        const char *key;
        json_t *v;

        if (json_is_string(note) && strlen(json_string_value(note)) >= 8 &&
            strstr(s, json_string_value(note)))
                return true;
        if (json_is_object(family))
                json_object_foreach((json_t *)family, key, v)
                {
                        if (json_is_string(v) && strlen(json_string_value(v)) >= 8 &&
                            strstr(s, json_string_value(v)))
                                return true;
                }
        return false;
}

/* rd_referral_from_json on OBJ (any value, may be NULL) with every check. */
static void fuzz_check_referral(const json_t *obj)
{
        struct rd_referral r, rs;
        struct rd_error err, errs;
        bool renamed = false;
        json_t *scrubbed;
        int rc, rcs;

        memset(&err, 0, sizeof err);
        memset(&r, 0xA5, sizeof r); /* OUT must be written either way */
        rc = rd_referral_from_json(obj, &r, &err);

        scrubbed = obj ? fuzz_scrub(obj, &renamed) : NULL;
        memset(&errs, 0, sizeof errs);
        rcs = rd_referral_from_json(scrubbed, &rs, &errs);

        FUZZ_CHECK((rc == 0) == (rcs == 0));
        if (rc == 0) {
                FUZZ_CHECK(err.code == RD_OK);
                fuzz_check_accepted(obj, &r, &rs);
                rd_referral_clear(&r);
                rd_referral_clear(&rs);
        } else {
                FUZZ_CHECK(rc < 0);
                FUZZ_CHECK(fuzz_error_ok(&err));
                FUZZ_CHECK(err.code == RD_INVALID || err.code == RD_INTERNAL);
                FUZZ_CHECK(err.field[0] == '\0' || strncmp(err.field, "referral", 8) == 0);
                FUZZ_CHECK(fuzz_is_zero(&r, sizeof r));
                fuzz_note_message(err.message);
                /* nothing personal in the error */
                FUZZ_CHECK(err.code == errs.code);
                if (strcmp(err.message, errs.message) != 0) {
                        fprintf(stderr,
                                "the message depends on personal data or keys:\n  %s\n  %s\n",
                                err.message, errs.message);
                        abort();
                }
                FUZZ_CHECK(!fuzz_leaks(obj, err.message) || fuzz_leaks(obj, errs.message));
                /* the field names plain keys (by design), so compare it only
                 * when no key was renamed */
                if (!renamed) {
                        FUZZ_CHECK(strcmp(err.field, errs.field) == 0);
                        FUZZ_CHECK(!fuzz_leaks(obj, err.field) || fuzz_leaks(obj, errs.field));
                }
        }
        json_decref(scrubbed);
}

#endif
