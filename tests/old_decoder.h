/* old_decoder.h: the request decoder as it was until issue 16 (cut 3):
 * jansson's tree of the whole frame, after a count of its brackets, then
 * rd_referral_from_json on the tree's "referral". Kept as the reference
 * that lib/request's decoder (yajl, no tree) is held to: the same verdict,
 * code and field for every frame (tests/test_referral.c over its cases,
 * the fuzz corpus and mutations of both; tests/fuzz/fuzz_request.c on
 * whatever the fuzzer makes, and fuzz_referral.c on referrals sent in a
 * submit). Header only: static functions for the programs that include
 * it. */
#ifndef RD_OLD_DECODER_H
#define RD_OLD_DECODER_H

#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include <stdio.h>
#include <stdlib.h>

#include "bounds.h"
#include "error.h"
#include "referral.h"
#include "request.h"

/* Depth of brackets outside strings, stopping early once it passes MAX.
 * Returns the deepest nesting seen (at most MAX + 1). Runs before jansson
 * so that deep input never reaches its recursive parser. */
static int old_bracket_depth(const char *buf, size_t len, int max)
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

static int old_parse_request(const char *buf, size_t len, json_t **out, struct rd_error *err)
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
        if (old_bracket_depth(buf, len, RD_JSON_DEPTH_MAX) > RD_JSON_DEPTH_MAX)
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

/* ---- the two decoders compared ------------------------------------------ */

#define OLD_WHY 2048

/* TOP (the new decoder's) holds what OLD (jansson's tree) holds, key for
 * key in the same order, the referral standing in as request.h says: 1,
 * else 0 with WHY. */
static int old_same_top(const json_t *old, const json_t *top, char *why)
{
        void *a = json_object_iter((json_t *)old), *b = json_object_iter((json_t *)top);

        for (; a && b; a = json_object_iter_next((json_t *)old, a),
                       b = json_object_iter_next((json_t *)top, b)) {
                const char *key = json_object_iter_key(a);
                const json_t *va = json_object_iter_value(a), *vb = json_object_iter_value(b);

                if (strcmp(key, json_object_iter_key(b)) != 0) {
                        snprintf(why, OLD_WHY, "a key differs from the old tree's");
                        return 0;
                }
                if (strcmp(key, "referral") == 0 && (json_is_object(va) || json_is_array(va))) {
                        if (json_typeof(va) != json_typeof(vb) ||
                            (json_is_object(vb) ? json_object_size(vb) : json_array_size(vb)) !=
                                    0) {
                                snprintf(why, OLD_WHY, "the referral does not stand in empty");
                                return 0;
                        }
                } else if (!json_equal((json_t *)va, (json_t *)vb)) {
                        snprintf(why, OLD_WHY, "the member %s differs", key);
                        return 0;
                }
        }
        if (a || b) {
                snprintf(why, OLD_WHY, "the request has %s members", a ? "fewer" : "more");
                return 0;
        }
        return 1;
}

/* The referral of the old tree REF against the new decoder's verdict in
 * RQ: the same verdict, code, field and message, or the same canonical
 * text. 1, else 0 with WHY. */
static int old_same_referral(const json_t *ref, const struct rd_request *rq, char *why)
{
        struct rd_referral r;
        struct rd_error err;
        int rc = rd_referral_from_json(ref, &r, &err), same = 1;
        char *a = NULL, *b = NULL, ha[65], hb[65];

        if ((rc == 0) != (rq->referral_rc == 0)) {
                snprintf(why, OLD_WHY,
                         "the referral is %s by the old decoder (%s), %s by the new (%s)",
                         rc ? "refused" : "accepted", err.message,
                         rq->referral_rc ? "refused" : "accepted", rq->referral_err.message);
                same = 0;
        } else if (rc != 0) {
                if (rc != rq->referral_rc || err.code != rq->referral_err.code ||
                    strcmp(err.field, rq->referral_err.field) != 0 ||
                    strcmp(err.message, rq->referral_err.message) != 0) {
                        snprintf(why, OLD_WHY,
                                 "the referral is refused at '%s' (%s), before at '%s' (%s)",
                                 rq->referral_err.field, rq->referral_err.message, err.field,
                                 err.message);
                        same = 0;
                }
        } else {
                if (rd_referral_canonical(&r, &a, ha) != 0 ||
                    rd_referral_canonical(&rq->referral, &b, hb) != 0 || strcmp(a, b) != 0) {
                        snprintf(why, OLD_WHY, "the referrals differ");
                        same = 0;
                }
                free(a);
                free(b);
                rd_referral_clear(&r);
        }
        return same;
}

/* Decode the frame BUF[LEN] with the old decoder and with rd_request_decode:
 * 1 when they agree (the same verdict, code and field; accepted: the same
 * request, and the same verdict on its referral, or the same referral),
 * with *ACCEPTED whether they accepted it; else 0 with WHY (OLD_WHY
 * bytes). */
static int old_decoders_agree(const char *buf, size_t len, bool *accepted, char *why)
{
        struct rd_error old_err, err;
        struct rd_request rq;
        json_t *old = NULL;
        const json_t *ref;
        int old_rc, rc, same = 1;

        rd_error_clear(&old_err);
        rd_error_clear(&err);
        old_rc = old_parse_request(buf, len, &old, &old_err);
        rc = rd_request_decode(buf, len, &rq, &err);
        *accepted = rc == 0 && old_rc == 0;
        if ((old_rc == 0) != (rc == 0)) {
                snprintf(why, OLD_WHY, "%s by the old decoder (%s), %s by the new (%s)",
                         old_rc ? "refused" : "accepted", old_err.message,
                         rc ? "refused" : "accepted", err.message);
                same = 0;
        } else if (rc != 0) {
                if (old_err.code != err.code || strcmp(old_err.field, err.field) != 0) {
                        snprintf(why, OLD_WHY, "refused as %s at '%s', before as %s at '%s'",
                                 rd_code_name(err.code), err.field, rd_code_name(old_err.code),
                                 old_err.field);
                        same = 0;
                }
                return same;
        }
        if (same && !old_same_top(old, rq.top, why))
                same = 0;
        ref = json_object_get(old, "referral");
        if (same && !ref != !rq.has_referral) {
                snprintf(why, OLD_WHY, "a referral in one request only");
                same = 0;
        }
        if (same && ref && !old_same_referral(ref, &rq, why))
                same = 0;
        json_decref(old);
        if (rc == 0)
                rd_request_clear(&rq);
        return same;
}

#endif
