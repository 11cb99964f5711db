/* store_sqlite_events.c: the events table's rows (schema version 10,
 * docs/performance.md, cut 9). An event is kept in the column ev in a
 * compact form, its JSON made when it is read, by the writer that made
 * the text it was published with (rd_event_write), so the two are the same
 * byte for byte. A row kept before holds its JSON text in body and no ev,
 * and is read as it is; a row of the compact form has body ''.
 *
 * The compact form: a version (1), the type, the status, the attention
 * (a byte each), two bytes (little-endian) that say which of the fields
 * below are there, then those, in this order: a number as a zigzag
 * varint (7 bits a byte, the low ones first), a text as its length (a
 * varint) and its bytes. A field that is not there is 0 or "", but for
 * the partner and ref of an event about a referral, which are then the
 * referral row's, and its id, which is then the row's id. */
#include "store_sqlite.h"

#include <errno.h>
#include <string.h>

#define EV_VERSION 1
#define EV_HEAD 6 /* version, type, status, attention, the two bytes of fields */

/* The fields after the head, in their order (a bit each). */
enum ev_field {
        F_AT,
        F_PARTNER,
        F_REF,
        F_ID,
        F_RULE,
        F_TEAM,
        F_CONNECTOR,
        F_START_BY,
        F_EXPECTED_START,
        F_FORWARD_TO,
        F_REASON,
        F_REASON_CODE,
        F_DIGEST,
        F_RULES,
        F_ERROR,
        F_ERRORS,
        F__MAX
};
_Static_assert(F__MAX <= 16, "the fields are two bytes of bits");

/* The largest compact form: the head, five numbers of ten bytes, eleven texts
 * with their lengths. */
#define EV_MAX                                                                                     \
        (EV_HEAD + 5 * 10 + 11 * 3 + sizeof(((struct rd_event *)0)->partner) +                     \
         sizeof(((struct rd_event *)0)->ref) + sizeof(((struct rd_event *)0)->id) +                \
         sizeof(((struct rd_event *)0)->rule) + sizeof(((struct rd_event *)0)->team) +             \
         sizeof(((struct rd_event *)0)->connector) + sizeof(((struct rd_event *)0)->forward_to) +  \
         sizeof(((struct rd_event *)0)->reason) + sizeof(((struct rd_event *)0)->reason_code) +    \
         sizeof(((struct rd_event *)0)->digest) + sizeof(((struct rd_event *)0)->error))

struct enc {
        unsigned char *p;
        unsigned fields;
};

static void put_num(struct enc *e, enum ev_field f, int64_t v)
{
        uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);

        if (!v && f != F_AT)
                return;
        e->fields |= 1u << f;
        while (z >= 0x80) {
                *e->p++ = (unsigned char)(z | 0x80);
                z >>= 7;
        }
        *e->p++ = (unsigned char)z;
}

/* Text T as field F; with ALWAYS even when it is "". */
static void put_text(struct enc *e, enum ev_field f, const char *t, bool always)
{
        size_t n = strlen(t), len = n;

        if (!n && !always)
                return;
        e->fields |= 1u << f;
        while (len >= 0x80) {
                *e->p++ = (unsigned char)(len | 0x80);
                len >>= 7;
        }
        *e->p++ = (unsigned char)len;
        memcpy(e->p, t, n);
        e->p += n;
}

/* Event EV of referral ROWID (0: none; ROW its row, or NULL) in the
 * compact form into BUF (EV_MAX bytes). Returns its length. */
static size_t encode(const struct rd_event *ev, int64_t rowid, const struct rd_stored *row,
                     unsigned char *buf)
{
        struct enc e = {buf + EV_HEAD, 0};
        char id[RD_RID_MAX] = "";
        const char *partner = "", *ref = "";

        if (rowid > 0) {
                rd_store_format_id(rowid, id);
                if (row) {
                        partner = row->partner;
                        ref = row->ref;
                }
        }
        put_num(&e, F_AT, ev->at_ms);
        if (strcmp(ev->partner, partner) != 0)
                put_text(&e, F_PARTNER, ev->partner, true);
        if (strcmp(ev->ref, ref) != 0)
                put_text(&e, F_REF, ev->ref, true);
        if (strcmp(ev->id, id) != 0)
                put_text(&e, F_ID, ev->id, true);
        put_text(&e, F_RULE, ev->rule, false);
        put_text(&e, F_TEAM, ev->team, false);
        put_text(&e, F_CONNECTOR, ev->connector, false);
        put_num(&e, F_START_BY, ev->start_by_ms);
        put_num(&e, F_EXPECTED_START, ev->expected_start_ms);
        put_text(&e, F_FORWARD_TO, ev->forward_to, false);
        put_text(&e, F_REASON, ev->reason, false);
        put_text(&e, F_REASON_CODE, ev->reason_code, false);
        put_text(&e, F_DIGEST, ev->digest, false);
        put_num(&e, F_RULES, ev->rules);
        put_text(&e, F_ERROR, ev->error, false);
        put_num(&e, F_ERRORS, ev->errors);
        buf[0] = EV_VERSION;
        buf[1] = (unsigned char)ev->type;
        buf[2] = (unsigned char)ev->status;
        buf[3] = (unsigned char)ev->attention;
        buf[4] = (unsigned char)(e.fields & 0xFF);
        buf[5] = (unsigned char)(e.fields >> 8);
        return (size_t)(e.p - buf);
}

int sq_event_insert(struct sq_store *s, const struct rd_event *ev, int64_t rowid,
                    const struct rd_stored *row)
{
        unsigned char buf[EV_MAX];
        size_t len = encode(ev, rowid, row, buf);
        sqlite3_stmt *st = sq_prep(s, S_EVENT);

        sqlite3_bind_int64(st, 1, ev->seq);
        if (rowid > 0)
                sqlite3_bind_int64(st, 2, rowid);
        sqlite3_bind_blob(st, 3, buf, (int)len, SQLITE_STATIC);
        return sq_step_done(st); /* the bindings are cleared by the next sq_prep */
}

struct dec {
        const unsigned char *p, *end;
        unsigned fields;
        bool bad;
};

static uint64_t get_varint(struct dec *d)
{
        uint64_t v = 0;

        for (unsigned shift = 0; shift < 64; shift += 7) {
                if (d->p >= d->end)
                        break;
                v |= (uint64_t)(*d->p & 0x7F) << shift;
                if (!(*d->p++ & 0x80))
                        return v;
        }
        d->bad = true;
        return 0;
}

static int64_t get_num(struct dec *d, enum ev_field f)
{
        uint64_t z;

        if (!(d->fields & (1u << f)))
                return 0;
        z = get_varint(d);
        return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

/* Field F into DST (SIZE bytes); false when it is not there. */
static bool get_text(struct dec *d, enum ev_field f, char *dst, size_t size)
{
        uint64_t n;

        if (!(d->fields & (1u << f)))
                return false;
        n = get_varint(d);
        if (d->bad || n >= size || n > (uint64_t)(d->end - d->p)) {
                d->bad = true;
                return false;
        }
        memcpy(dst, d->p, n);
        dst[n] = '\0';
        d->p += n;
        return true;
}

/* The event of the row ST is on (EVENT_READ: seq, referral, ev, the
 * referral's partner and ref from column 1 on) into *EV: 0, or -EIO when
 * its compact form is damaged or missing. */
static int decode(sqlite3_stmt *st, struct rd_event *ev)
{
        const unsigned char *b = sqlite3_column_blob(st, 3);
        int len = sqlite3_column_bytes(st, 3);
        struct dec d;

        memset(ev, 0, sizeof *ev);
        if (!b || len < EV_HEAD || b[0] != EV_VERSION || b[1] >= RD_EV__MAX ||
            b[2] >= RD_STATUS__MAX || b[3] >= RD_ATTENTION__MAX)
                return -EIO;
        d = (struct dec){b + EV_HEAD, b + len, (unsigned)b[4] | (unsigned)b[5] << 8, false};
        ev->seq = sqlite3_column_int64(st, 1);
        ev->type = (enum rd_event_type)b[1];
        ev->status = (enum rd_status)b[2];
        ev->attention = (enum rd_attention)b[3];
        ev->at_ms = get_num(&d, F_AT);
        if (!get_text(&d, F_PARTNER, ev->partner, sizeof ev->partner))
                sq_col_text(st, 4, ev->partner, sizeof ev->partner);
        if (!get_text(&d, F_REF, ev->ref, sizeof ev->ref))
                sq_col_text(st, 5, ev->ref, sizeof ev->ref);
        if (!get_text(&d, F_ID, ev->id, sizeof ev->id) && sqlite3_column_type(st, 2) != SQLITE_NULL)
                rd_store_format_id(sqlite3_column_int64(st, 2), ev->id);
        get_text(&d, F_RULE, ev->rule, sizeof ev->rule);
        get_text(&d, F_TEAM, ev->team, sizeof ev->team);
        get_text(&d, F_CONNECTOR, ev->connector, sizeof ev->connector);
        ev->start_by_ms = get_num(&d, F_START_BY);
        ev->expected_start_ms = get_num(&d, F_EXPECTED_START);
        get_text(&d, F_FORWARD_TO, ev->forward_to, sizeof ev->forward_to);
        get_text(&d, F_REASON, ev->reason, sizeof ev->reason);
        get_text(&d, F_REASON_CODE, ev->reason_code, sizeof ev->reason_code);
        get_text(&d, F_DIGEST, ev->digest, sizeof ev->digest);
        ev->rules = get_num(&d, F_RULES);
        get_text(&d, F_ERROR, ev->error, sizeof ev->error);
        ev->errors = get_num(&d, F_ERRORS);
        return d.bad || d.p != d.end || (d.fields >> F__MAX) ? -EIO : 0;
}

int sq_each_event_text(sqlite3_stmt *st, int (*fn)(void *ctx, const char *text), void *ctx)
{
        struct rd_jw w;
        int rc = SQLITE_DONE, r = rd_jw_init(&w);

        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                const unsigned char *body = sqlite3_column_text(st, 0);
                struct rd_event ev;

                if (body && body[0]) { /* kept as JSON before version 10 */
                        r = fn(ctx, (const char *)body);
                        continue;
                }
                r = decode(st, &ev);
                if (r == 0)
                        r = rd_event_write(&ev, &w);
                if (r == 0)
                        r = fn(ctx, rd_jw_text(&w, NULL));
        }
        rd_jw_free(&w);
        return sq_finish(st, rc, r);
}
