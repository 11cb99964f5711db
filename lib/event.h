/* event.h: the status event (protocol.md, "Events") and its JSON form.
 *
 * struct rd_event has no field that could hold family data, a note, the
 * postcode or the children: a leak of personal data into an event, the
 * journal or a log line built from it would have to be a compile error. */
#ifndef RD_EVENT_H
#define RD_EVENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "referral.h"

struct rd_jw;

enum rd_event_type {
        RD_EV_RECEIVED = 0,
        RD_EV_ASSIGNED,
        RD_EV_ACCEPTED,
        RD_EV_DECLINED,
        RD_EV_OFFER_EXPIRED,
        RD_EV_STARTED,
        RD_EV_CLOSED,
        RD_EV_WITHDRAWN,
        RD_EV_WAITLISTED,
        RD_EV_FORWARDED,
        RD_EV_WINDOW_AT_RISK,
        RD_EV_WINDOW_MISSED,
        RD_EV_ERASED,
        RD_EV_CONFIG_RELOADED,
        RD_EV_CONFIG_REJECTED,
        RD_EV_NEEDS_ATTENTION, /* (rev 2) a waiting referral nobody can take */
        RD_EV__MAX
};

/* Why a waiting referral waits for a coordinator (protocol.md rev 2,
 * referral.needs_attention). The numbers are stored on disk. */
enum rd_attention {
        RD_ATTENTION_NONE = 0,
        RD_ATTENTION_ALL_DECLINED = 1, /* every candidate declined it or let an offer lapse */
        RD_ATTENTION_NO_CANDIDATE = 2, /* its rule has no eligible candidate at all */
        RD_ATTENTION__MAX
};

/* A fixed list of reason codes (protocol.md rev 2, "update"): the codes
 * one change may carry, in the contract's order. */
struct rd_reason_codes {
        const char *const *code;
        size_t n;
};

/* The one list per change that takes a reason_code: an update is checked
 * against it (hub_update.c), and the report and stats count by it
 * (rd_reason_codes_zeros). Static. */
extern const struct rd_reason_codes rd_declined_codes, rd_withdrawn_codes, rd_closed_codes;

/* A new object of the counts by CODES, each 0, then "none" (a change
 * without a code) 0, in that order, so that figures have every key
 * whatever happened. Owned by the caller; NULL when out of memory. */
json_t *rd_reason_codes_zeros(const struct rd_reason_codes *codes);

#define RD_RID_MAX 24         /* "R" + digits */
#define RD_REASON_MAX 512     /* bytes of a forward reason (from the routing file) */
#define RD_REASON_CODE_MAX 32 /* bytes of an update's reason_code (protocol.md rev 2) */

struct rd_event {
        int64_t seq;   /* assigned by the store when appended; 0 before */
        int64_t at_ms; /* ms since the epoch */
        enum rd_event_type type;
        /* referral events; empty string / 0 when not applicable */
        char id[RD_RID_MAX];
        char partner[RD_ID_MAX + 1];
        char ref[RD_REF_MAX + 1];
        enum rd_status status;
        char rule[RD_ID_MAX + 1];
        char team[RD_ID_MAX + 1];
        char connector[RD_ID_MAX + 1];
        int64_t start_by_ms;
        int64_t expected_start_ms;
        char forward_to[RD_ID_MAX + 1];
        char reason[RD_REASON_MAX];           /* forwarded only: the forward's reason, for the
                                                 receiving service (never a client's free text) */
        char reason_code[RD_REASON_CODE_MAX]; /* declined, withdrawn, closed: the code given */
        enum rd_attention attention;          /* needs_attention: why */
        /* config events */
        char digest[65];
        int64_t rules;
        char error[RD_REASON_MAX];
        int64_t errors;
};

/* The wire name of TYPE ("referral.assigned", ...). Static, never NULL. */
const char *rd_event_type_name(enum rd_event_type type);

/* Parse a wire name. Returns 0 and writes *OUT, or -EINVAL. */
int rd_event_type_parse(const char *s, enum rd_event_type *out);

/* The wire name of A ("all_declined", "no_candidate"; "" for none). Static,
 * never NULL. */
const char *rd_attention_name(enum rd_attention a);

/* Parse a wire name ("" is none). Returns 0 and writes *OUT, or -EINVAL. */
int rd_attention_parse(const char *s, enum rd_attention *out);

/* The event as the JSON text of protocol.md, compact: seq, at, type, then
 * the fields that apply to its type and are set (an empty string or a time
 * of 0 is left out); no field can hold personal data. The store keeps it
 * and the daemon publishes it as it is. Written without a tree
 * (json_write.h): the text jansson's json_dumps made of the same object
 * before issue 16, byte for byte (tests/test_event.c).
 * rd_event_write: into W (emptied first; the text is rd_jw_text (W)),
 * returns 0 or -ENOMEM. rd_event_text: a new malloc'ed text (caller frees),
 * or NULL when out of memory. */
int rd_event_write(const struct rd_event *ev, struct rd_jw *w);
char *rd_event_text(const struct rd_event *ev);

/* Fill *OUT from OBJ, the parsed text of rd_event_text (the store keeps
 * events in that form). Returns 0, or -EINVAL when OBJ is not such an
 * event. */
int rd_event_from_json(const json_t *obj, struct rd_event *out);

/* true for event types that are decisions (journal_events: decisions):
 * everything but received and the window events. */
int rd_event_is_decision(enum rd_event_type type);

#endif
