/* bounds.h: every bound a client cannot raise (protocol.md, "Transport",
 * "submit", "events"), in one place for the daemon, the floor, the
 * benchmark and referralctl. Constants only: any binary may include it
 * without linking lib/. */
#ifndef RD_BOUNDS_H
#define RD_BOUNDS_H

/* ---- transport -------------------------------------------------------- */
#define RD_REQUEST_MAX (64 * 1024) /* bytes of one request frame; larger is malformed */
/* ZMQ_MAXMSGSIZE of both sockets: just larger than RD_REQUEST_MAX, so that
 * a frame between the two still gets its `malformed` reply with its corr
 * (protocol.md); a larger frame closes the connection. */
#define RD_SOCKET_MSG_MAX (RD_REQUEST_MAX + 4096)
#define RD_JSON_DEPTH_MAX 32 /* nesting of any request */
#define RD_CORR_MAX 128      /* code points of corr */
#define RD_BATCH_MAX 512     /* requests drained into one transaction */
#define RD_LINGER_MS 1000    /* to flush the last replies at stop */

/* ---- what one connection may make the daemon hold (protocol.md,
 * "Transport": 64 MiB). docs/performance.md works the sum out. */
/* Requests received and not yet read (ZMQ_RCVHWM): 128 frames of at most
 * RD_SOCKET_MSG_MAX are 8.5 MiB; beyond it ZeroMQ stops reading the
 * connection and TCP holds the client back. */
#define RD_REQUEST_HWM 128
/* Bytes of the replies held for one connection, answered and not yet
 * written to its socket (counted per reply, RD_REPLY_OVERHEAD included);
 * a reply beyond it is dropped and counted in the log. */
#define RD_CLIENT_REPLY_BYTES (40 * 1024 * 1024)
#define RD_REPLY_OVERHEAD 256 /* per reply: ZeroMQ's message and queue slot */
/* Replies queued per connection (ZMQ_SNDHWM): a count only, for the many
 * small replies of a pipelining client; bytes are bounded by
 * RD_CLIENT_REPLY_BYTES. */
#define RD_REPLY_HWM 10000
/* Replies held by one batch before it is committed and sent. */
#define RD_BATCH_REPLY_BYTES (16 * 1024 * 1024)

/* ---- replies of many items -------------------------------------------- */
/* An events, list or audit reply, and a get with its history and trace,
 * at most: a page then carries fewer items than its limit and "more". */
#define RD_PAGE_BYTES (1024 * 1024)
#define RD_EVENTS_LIMIT_DEFAULT 1000
#define RD_EVENTS_LIMIT_MAX 10000
#define RD_LIST_LIMIT_DEFAULT 100
#define RD_LIST_LIMIT_MAX 1000
/* Events of one referral a get reads, the newest (rd_store_history): as
 * many as an events page may hold, so that a referral re-assigned tens of
 * thousands of times costs a get no more than one page of events; the
 * reply counts the older ones in "history_omitted". */
#define RD_HISTORY_MAX RD_EVENTS_LIMIT_MAX

/* ---- fields of a referral (protocol.md, "submit") ------------------------ */
#define RD_REF_MAX 128 /* characters of ref */
#define RD_ID_MAX 64   /* characters of partner, team, connector ids */
#define RD_CHILDREN_MAX 20
#define RD_AGE_MAX 25
#define RD_CONCERNS_MAX 16
#define RD_TAG_MAX 64
#define RD_FAMILY_FIELD_MAX 256  /* code points of each family string */
#define RD_NOTE_MAX 2000         /* code points of note */
#define RD_UPDATE_REASON_MAX 500 /* code points of an update's reason */

/* ---- the routing file (routing.md) --------------------------------------- */
/* Code points of a forward's `reason` (a rule's forward, `otherwise`'s):
 * the events carry it whole, in RD_REASON_MAX bytes (lib/event.h), and
 * this many code points of up to 4 bytes each fit there. */
#define RD_FORWARD_REASON_MAX 120

#endif
