/* referral.h: the referral model, its decoding from JSON and its
 * validation (protocol.md, "submit").
 *
 * A struct rd_referral splits what is public (routing needs it, events may
 * name partner and ref) from what is personal (family, note). postcode and
 * children are needed by routing but are erased with the personal data.
 * Nothing here does I/O, reads the clock or logs. */
#ifndef RD_REFERRAL_H
#define RD_REFERRAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "error.h"
#include "json_write.h"

enum rd_kind { RD_KIND_FAMILY_SUPPORT = 0, RD_KIND_FIRST_LINE_PSYCHOLOGY = 1, RD_KIND__MAX };

enum rd_urgency {
        RD_URGENCY_NORMAL = 0,
        RD_URGENCY_HIGH = 1,
        RD_URGENCY_CRISIS = 2,
        RD_URGENCY__MAX
};

/* A referral's status (protocol.md, "update"). RECEIVED only exists in the
 * moment between intake and decision, inside one transaction. */
enum rd_status {
        RD_STATUS_RECEIVED = 0,
        RD_STATUS_ASSIGNED,
        RD_STATUS_WAITLISTED,
        RD_STATUS_FORWARDED,
        RD_STATUS_ACCEPTED,
        RD_STATUS_STARTED,
        RD_STATUS_CLOSED,
        RD_STATUS_WITHDRAWN,
        RD_STATUS__MAX
};

/* Wire name of a status; static string, never NULL. */
const char *rd_status_name(enum rd_status status);
/* Parse a wire name. Return 0 and write *OUT, or -EINVAL. */
int rd_status_parse(const char *s, enum rd_status *out);
/* true for waitlisted, assigned, accepted, started. */
bool rd_status_is_open(enum rd_status status);

/* The members of a referral's family (protocol.md, "submit"), in the order
 * they are stored in. */
enum rd_family_field {
        RD_FAMILY_NAME = 0,
        RD_FAMILY_PHONE,
        RD_FAMILY_EMAIL,
        RD_FAMILY_ADDRESS,
        RD_FAMILY__MAX
};

struct rd_referral {
        /* public */
        char ref[RD_REF_MAX + 1];
        char partner[RD_ID_MAX + 1]; /* "" when the request left it out */
        enum rd_kind kind;
        unsigned n_concerns;
        char concerns[RD_CONCERNS_MAX][RD_TAG_MAX + 1];
        char language[4]; /* "" when absent */
        enum rd_urgency urgency;
        /* erased on erase, but routing reads them */
        char postcode[5]; /* 4 digits; "" once erased */
        unsigned n_children;
        uint8_t ages[RD_CHILDREN_MAX];
        /* personal: never in events, logs or messages */
        char *family[RD_FAMILY__MAX]; /* owned; NULL: not given (all NULL: no family) */
        char *note;                   /* owned; or NULL */
};

/* true when R has a family: one of its members given (maybe ""). */
bool rd_referral_has_family(const struct rd_referral *r);

/* Names on the wire. Return a static string; never NULL. */
const char *rd_kind_name(enum rd_kind kind);
const char *rd_urgency_name(enum rd_urgency urgency);

/* Parse a wire name. Return 0 and write *OUT, or -EINVAL (OUT untouched). */
int rd_kind_parse(const char *s, enum rd_kind *out);
int rd_urgency_parse(const char *s, enum rd_urgency *out);

/* Validate OBJ (the value of a request's "referral", a jansson tree: a
 * referral read back from the store, a cases file; the daemon decodes a
 * request's without a tree, request.h, with the same checks) against every
 * rule of protocol.md's submit table and fill *OUT. Field paths in ERR start with
 * "referral." (e.g. "referral.children[0].age"). Missing urgency becomes
 * normal. partner may be absent (OUT->partner is then ""); the caller
 * decides whether that is allowed. On success returns 0 and OUT owns
 * copies of family and note (free with rd_referral_clear). On failure
 * returns a negative errno, fills ERR, and leaves OUT zeroed.
 * The first failure is reported, checked in this order: unknown keys (in
 * document order), then ref, partner, kind, postcode, children, concerns,
 * language, urgency, consent, family, note. JSON null counts as the wrong
 * type, not as absent. An empty concerns list or family object is stored
 * as absent; duplicate concern tags are allowed and kept in order. */
int rd_referral_from_json(const json_t *obj, struct rd_referral *out, struct rd_error *err);

/* Free what R owns and zero it. R may be NULL. */
void rd_referral_clear(struct rd_referral *r);

/* The referral as a JSON object "as stored, defaults filled in": keys in a
 * fixed order, urgency always present, language/concerns/family/note only
 * when present. With WITH_PERSONAL false, family and note are left out.
 * postcode and children are left out when erased (postcode ""). Returns a
 * new reference (caller owns) or NULL when out of memory. */
json_t *rd_referral_to_json(const struct rd_referral *r, bool with_personal);

/* SHA-256 (lowercase hex, 64 chars + NUL) of the canonical form of R's
 * whole content, personal data included, defaults filled in. Two requests
 * get the same digest exactly when protocol.md calls them "the same
 * content". Returns 0, or -ENOMEM. */
int rd_referral_digest(const struct rd_referral *r, char hex[65]);

/* SHA-256 of the LEN bytes at BYTES, as lowercase hex (64 chars + NUL)
 * into HEX: the one form every digest of the project takes (a referral's
 * content, a routing file's bytes). Returns 0, or -ENOMEM (HEX then
 * unwritten). */
int rd_sha256_hex(const void *bytes, size_t len, char hex[65]);

/* The canonical form of R as compact JSON text (what rd_referral_digest
 * hashes, and what the store keeps) and its digest, from one
 * serialisation: rd_referral_to_json (R, true) as json_dumps writes it
 * with JSON_COMPACT, byte for byte, written without the tree
 * (json_write.h). *TEXT (may be NULL: not wanted) is malloc'ed; the caller
 * frees it. Returns 0 or -ENOMEM. */
int rd_referral_canonical(const struct rd_referral *r, char **text, char hex[65]);

/* What the canonical form and its digest reuse from one referral to the
 * next (docs/performance.md, issue 16): the writer with its buffer, the
 * SHA-256 fetched once and its context. Owned by whoever made it. */
struct rd_canonical {
        struct rd_jw w;
        struct evp_md_st *md;      /* EVP_MD: SHA-256 */
        struct evp_md_ctx_st *ctx; /* EVP_MD_CTX */
};

/* Set C up. Returns 0, or -ENOMEM (C then needs no rd_canonical_free). */
int rd_canonical_init(struct rd_canonical *c);

/* Free what C holds. C may be NULL, or set up by nothing but a failed
 * rd_canonical_init. */
void rd_canonical_free(struct rd_canonical *c);

/* rd_referral_canonical into C: the text (LEN bytes into *LEN when LEN is
 * not NULL, NUL-terminated) borrowed from C until its next use, and the
 * digest into HEX. Returns the text, or NULL when out of memory (HEX then
 * unwritten). */
const char *rd_canonical_write(struct rd_canonical *c, const struct rd_referral *r, size_t *len,
                               char hex[65]);

/* Count the Unicode code points of the valid UTF-8 string S. */
size_t rd_utf8_length(const char *s);

/* 1 if KEY (a JSON object key from a client) may be shown in a field path:
 * 1 to 64 characters from [A-Za-z0-9_-]. Other keys could carry free text,
 * so errors name the enclosing object instead. */
int rd_json_key_is_plain(const char *key);

/* 1 if S matches [a-z0-9][a-z0-9_-]{0,63}, else 0. Used for every id. */
int rd_id_valid(const char *s);

#endif
