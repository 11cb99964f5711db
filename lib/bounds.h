/* bounds.h: every bound a client cannot raise (protocol.md, "Transport",
 * "submit", "events"), in one place for the daemon, the floor, the
 * benchmark and referralctl. Constants only: any binary may include it
 * without linking lib/. */
#ifndef RD_BOUNDS_H
#define RD_BOUNDS_H

/* ---- transport -------------------------------------------------------- */
#define RD_REQUEST_MAX (64 * 1024) /* bytes of one request frame; larger is malformed */
/* ZMQ_MAXMSGSIZE of both sockets: larger than RD_REQUEST_MAX, so that a
 * frame between the two still gets its `malformed` reply (protocol.md) */
#define RD_SOCKET_MSG_MAX (1024 * 1024)
#define RD_JSON_DEPTH_MAX 32 /* nesting of any request */
#define RD_CORR_MAX 128      /* code points of corr */
#define RD_BATCH_MAX 512     /* requests drained into one transaction */
#define RD_REPLY_HWM 10000   /* replies queued per client (ZMQ_SNDHWM) */
#define RD_LINGER_MS 1000    /* to flush the last replies at stop */

/* ---- replies of many items -------------------------------------------- */
#define RD_EVENTS_LIMIT_DEFAULT 1000
#define RD_EVENTS_LIMIT_MAX 10000
#define RD_LIST_LIMIT_DEFAULT 100
#define RD_LIST_LIMIT_MAX 1000

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

#endif
