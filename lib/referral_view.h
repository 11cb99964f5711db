/* referral_view.h (inside lib/ only): a referral's JSON as its validator
 * reads it, whether it comes from a jansson tree (rd_referral_from_json) or
 * straight from the request's parser, without a tree
 * (rd_request_decode): for each member the checks of protocol.md's submit
 * table look at, what kind of value it is and the value. One validator,
 * rd_referral_from_view, for both: the same request gets the same verdict,
 * field and message either way. */
#ifndef RD_REFERRAL_VIEW_H
#define RD_REFERRAL_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "referral.h"

enum rd_jv_type {
        RD_JV_ABSENT = 0,
        RD_JV_NULL,
        RD_JV_FALSE,
        RD_JV_TRUE,
        RD_JV_INTEGER, /* a number without fraction or exponent, held exactly */
        RD_JV_REAL,
        RD_JV_STRING,
        RD_JV_ARRAY,
        RD_JV_OBJECT,
};

/* One JSON value. */
struct rd_jv {
        enum rd_jv_type type;
        const char *s; /* STRING: its bytes with a NUL after them (borrowed) */
        size_t len;    /* STRING: bytes (U+0000 may be among them); ARRAY: elements;
                          OBJECT: members */
        int64_t i;     /* INTEGER */
        double r;      /* REAL */
};

/* The first key of an object that it does not take, in document order. */
struct rd_jv_unknown {
        bool seen;
        bool plain;              /* rd_json_key_is_plain: KEY holds it */
        char key[RD_ID_MAX + 1]; /* a plain key: at most 64 characters */
};

/* The members of a referral, in the order of protocol.md's table (and of
 * the validator's checks). */
enum rd_referral_key {
        RD_RK_REF,
        RD_RK_PARTNER,
        RD_RK_KIND,
        RD_RK_POSTCODE,
        RD_RK_CHILDREN,
        RD_RK_CONCERNS,
        RD_RK_LANGUAGE,
        RD_RK_URGENCY,
        RD_RK_CONSENT,
        RD_RK_FAMILY,
        RD_RK_NOTE,
        RD_RK__MAX
};

/* What the validator reads. Only the members up to CHILD need to start
 * zeroed (RD_REFERRAL_VIEW_HEAD bytes): CHILD[I] and CONCERN[I] are read
 * for I below the length of children and concerns only, and whoever fills
 * the view writes each of those it counts. */
struct rd_referral_view {
        struct rd_jv self; /* the referral: OBJECT, or what it is instead */
        struct rd_jv_unknown unknown;
        struct rd_jv field[RD_RK__MAX];
        struct rd_jv_unknown family_unknown;
        struct rd_jv family[RD_FAMILY__MAX];
        struct {
                struct rd_jv self; /* OBJECT, or what it is instead */
                struct rd_jv_unknown unknown;
                struct rd_jv age;
        } child[RD_CHILDREN_MAX]; /* the first elements of children */
        struct rd_jv concern[RD_CONCERNS_MAX];
};
#define RD_REFERRAL_VIEW_HEAD offsetof(struct rd_referral_view, child)

/* The index of the referral's member KEY[LEN], or -1. */
int rd_referral_key_index(const char *key, size_t len);

/* The index of the family's member KEY[LEN], or -1. */
int rd_family_key_index(const char *key, size_t len);

/* Note KEY (NUL-terminated, from a client) as U's first unknown key unless
 * U has one already. */
void rd_jv_note_unknown(struct rd_jv_unknown *u, const char *key);

/* Validate V as rd_referral_from_json does (its contract, its order, its
 * messages) and fill *OUT. */
int rd_referral_from_view(const struct rd_referral_view *v, struct rd_referral *out,
                          struct rd_error *err);

#endif
