/* request.h: one request frame as a client sent it, decoded (protocol.md,
 * "Requests and replies"): the limits of every request, and a submit's
 * referral validated straight from the parser's events into struct
 * rd_referral, without a tree (docs/performance.md, issue 16, cut 3).
 *
 * The frame is parsed once, by yajl 2.1 (an event parser), with the checks
 * it does not make itself made around it: UTF-8 as RFC 3629 has it (no
 * overlong forms, no surrogates, nothing past U+10FFFF), \u escapes that
 * pair their surrogates, nesting, duplicate keys in every object, U+0000
 * in no key, numbers held exactly (an integer in 64 bits, a real short of
 * infinity). What it yields:
 *   - the request object as a jansson tree, for the operations' small
 *     fields (op, corr, id, status, the filters of list and events); but
 *   - the value of "referral" is not in that tree: a scalar stands there
 *     as itself, an object or array as an empty one; it is decoded into
 *     struct rd_referral with rd_referral_from_json's checks in its order
 *     (referral_view.h: one validator for both), while it is parsed.
 * The other requests keep a tree: they are small (a few ids and names),
 * their readers (ops_read.c) are written against jansson, and building
 * that tree from yajl's events costs less than a second parse.
 * Nothing here does I/O, reads the clock or logs; no message quotes the
 * input. */
#ifndef RD_REQUEST_H
#define RD_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "referral.h"

struct rd_request {
        json_t *top;       /* the request object (owned); "referral" stands in as above */
        bool has_referral; /* the request has a "referral" member */
        /* with HAS_REFERRAL, its verdict: 0 and REFERRAL valid (owned: its family
         * and note; rd_request_clear frees them unless taken), or what
         * rd_referral_from_json would have said of it, in REFERRAL_ERR */
        int referral_rc;
        struct rd_referral referral;
        struct rd_error referral_err;
};

/* Decode the request frame BUF of LEN bytes. Refuses (RD_MALFORMED in ERR,
 * no field): over RD_REQUEST_MAX bytes, empty, a NUL byte, nesting deeper
 * than RD_JSON_DEPTH_MAX, not UTF-8, not JSON, a duplicate key, \u0000 in
 * a key, a number that cannot be held, a top level that is not an object;
 * RD_INTERNAL when out of memory. Returns 0 and fills *OUT (release with
 * rd_request_clear), or a negative errno with ERR filled and *OUT
 * untouched. */
int rd_request_decode(const char *buf, size_t len, struct rd_request *out, struct rd_error *err);

/* Free what RQ holds (its tree, its referral's family and note) and zero
 * it. RQ may be NULL. */
void rd_request_clear(struct rd_request *rq);

/* 1 if CORR is a JSON string of at most RD_CORR_MAX code points (it may
 * hold U+0000), the only corr a reply echoes; else 0 (also for NULL). */
int rd_corr_valid(const json_t *corr);

/* The corr of the request frame BUF[LEN] when rd_request_decode refused it
 * (protocol.md: a JSON object with a readable corr gets it back, whatever
 * else is wrong). Reads only the top level of the object, without
 * recursion and whatever its size: a "corr" key (escapes decoded) whose
 * value is a string rd_corr_valid accepts, given once, before anything at
 * the top level that is not a member. Returns 1 and a new string in *OUT
 * (caller owns), or 0 (*OUT untouched). */
int rd_json_scan_corr(const char *buf, size_t len, json_t **out);

#endif
