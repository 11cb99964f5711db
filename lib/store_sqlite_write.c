/* store_sqlite_write.c: the SQLite driver's writes (store.h). Each runs
 * inside the caller's transaction; a failed one leaves the request to be
 * rolled back to its savepoint. */
#include "store_sqlite.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- the parts of a change ------------------------------------------------------------------- */

static int update_row(struct sq_store *s, const struct rd_stored *o)
{
        sqlite3_stmt *st = sq_prep(s, S_UPDATE);
        sqlite3_bind_int64(st, 1, o->rowid);
        sqlite3_bind_int(st, 2, (int)o->status);
        sqlite3_bind_text(st, 3, o->rule, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, o->team, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, o->connector, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, o->start_by_ms);
        sqlite3_bind_int64(st, 7, o->expected_start_ms);
        sqlite3_bind_int64(st, 8, o->offered_ms);
        sqlite3_bind_int64(st, 9, o->offer_expires_ms);
        sqlite3_bind_int64(st, 10, o->started_ms);
        sqlite3_bind_int64(st, 11, o->expected_end_ms);
        sqlite3_bind_text(st, 12, o->forward_to, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 13, o->reason, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 14, o->at_risk_fired);
        sqlite3_bind_int(st, 15, o->missed_fired);
        sqlite3_bind_int64(st, 16, o->final_ms);
        sqlite3_bind_int(st, 17, (int)o->attention);
        return sq_step_done(st);
}

static int set_trace(struct sq_store *s, int64_t rowid, const char *trace, const char *digest)
{
        sqlite3_stmt *st = sq_prep(s, S_TRACE);
        sqlite3_bind_int64(st, 1, rowid);
        if (trace)
                sqlite3_bind_text(st, 2, trace, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, digest ? digest : "", -1, SQLITE_STATIC);
        return sq_step_done(st);
}

/* Run statement ID with ?1 = ROWID and ?2 = TEXT, or ?1 = TEXT and ?2 =
 * ROWID when TEXT_FIRST. */
static int run_rowid_text(struct sq_store *s, enum sq_stmt id, int64_t rowid, const char *text,
                          bool text_first)
{
        sqlite3_stmt *st = sq_prep(s, id);
        sqlite3_bind_int64(st, text_first ? 2 : 1, rowid);
        sqlite3_bind_text(st, text_first ? 1 : 2, text, -1, SQLITE_STATIC);
        return sq_step_done(st);
}

/* Who may take waiting referral ST: CANDIDATES, the TEAMS of the first-rank
 * ones, and ST's attention. */
static int set_candidates(struct sq_store *s, const struct rd_stored *o, const char *candidates,
                          const char *teams)
{
        sqlite3_stmt *st = sq_prep(s, S_CANDIDATES_SET);
        sqlite3_bind_int64(st, 1, o->rowid);
        sqlite3_bind_text(st, 2, candidates, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, teams ? teams : "", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, (int)o->attention);
        return sq_step_done(st);
}

/* Keep a client's reason WHY for a change of referral ROWID. */
static int add_reason(struct sq_store *s, int64_t rowid, const struct rd_store_reason *why)
{
        sqlite3_stmt *st = sq_prep(s, S_REASON_ADD);
        sqlite3_bind_int64(st, 1, rowid);
        sqlite3_bind_int64(st, 2, why->at_ms);
        sqlite3_bind_text(st, 3, why->change, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, why->connector ? why->connector : "", -1, SQLITE_STATIC);
        if (why->code)
                sqlite3_bind_text(st, 5, why->code, -1, SQLITE_STATIC);
        if (why->text)
                sqlite3_bind_text(st, 6, why->text, -1, SQLITE_STATIC);
        return sq_step_done(st);
}

/* Run UPDATE statement ID with ?1 = KEY and ?2 = VALUE (NULL: none), and
 * when it changed no row, the upsert UPSERT with the same parameters: the
 * row is nearly always there, and an UPDATE seeks it once where the upsert
 * tries an insert first. 0 or a negative errno. */
static int update_or_upsert(struct sq_store *s, enum sq_stmt id, enum sq_stmt upsert,
                            const char *key, const char *value)
{
        for (int i = 0; i < 2; i++) {
                sqlite3_stmt *st = sq_prep(s, i ? upsert : id);
                int r;

                sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
                if (value)
                        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
                r = sq_step_done(st);
                if (r < 0 || sqlite3_changes(s->db) > 0)
                        return r;
        }
        return 0;
}

/* The offer, round robin and decline of CH for referral ROWID. */
static int offer_parts(struct sq_store *s, int64_t rowid, const struct rd_store_change *ch)
{
        int r = 0;

        if (ch->offered) {
                r = update_or_upsert(s, S_OFFER_BUMP, S_OFFER, ch->offered, NULL);
                if (r == 0)
                        r = run_rowid_text(s, S_OFFERED_ADD, rowid, ch->offered, true);
                if (r == 0 && ch->rr_rule)
                        r = update_or_upsert(s, S_RR_MOVE, S_RR_SET, ch->rr_rule, ch->offered);
        }
        if (r == 0 && ch->declined)
                r = run_rowid_text(s, S_DECLINE_ADD, rowid, ch->declined, false);
        return r;
}

/* Append event EV of referral ROWID (0: none; ROW its row, or NULL) in
 * its compact form; with TEXT_OUT, its JSON text too (malloc'ed, the caller's once
 * this returns 0): what is published is what a read makes of the row. */
static int append_event(struct sq_store *s, struct rd_event *ev, int64_t rowid,
                        const struct rd_stored *row, char **text_out)
{
        char *copy = NULL;
        int r;

        if (text_out) {
                const char *text = NULL;
                size_t len;

                if (s->event_w.g || rd_jw_init(&s->event_w) == 0)
                        text = rd_event_write(ev, &s->event_w) == 0 ? rd_jw_text(&s->event_w, &len)
                                                                    : NULL;
                if (text && (copy = malloc(len + 1)))
                        memcpy(copy, text, len + 1);
                if (!copy)
                        return -ENOMEM;
        }
        r = sq_event_insert(s, ev, rowid, row);
        if (r == 0 && text_out)
                *text_out = copy;
        else
                free(copy);
        return r;
}

static int append_events(struct sq_store *s, int64_t rowid, struct rd_store_change *ch,
                         bool set_last_seq)
{
        int64_t seq = s->last_seq;
        size_t done = 0; /* texts handed out */
        int r = 0;

        for (size_t i = 0; r == 0 && i < ch->n_events; i++) {
                struct rd_event *ev = &ch->events[i];
                ev->seq = ++seq;
                if (rowid > 0)
                        rd_store_format_id(rowid, ev->id);
                r = append_event(s, ev, rowid, ch->st, ch->texts ? &ch->texts[i] : NULL);
                if (r == 0)
                        done++;
        }
        if (r == 0 && rowid > 0 && set_last_seq && ch->n_events) {
                sqlite3_stmt *st = sq_prep(s, S_LAST_SEQ_OF);
                sqlite3_bind_int64(st, 1, rowid);
                sqlite3_bind_int64(st, 2, seq);
                r = sq_step_done(st);
        }
        if (r < 0) {
                while (ch->texts && done > 0) {
                        done--;
                        free(ch->texts[done]);
                        ch->texts[done] = NULL;
                }
                return r;
        }
        s->last_seq = seq;
        return 0;
}

/* ---- the operations ----------------------------------------------------------------------------
 */

/* The value of hex digit C in lowercase ('0'-'9', 'a'-'f'), or -1. */
static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Bind the content's digest DIGEST to parameter I of ST: a SHA-256 in
 * lowercase hex as its 32 bytes (COLS reads it back as that hex), any
 * other text as it is. */
static void bind_digest(sqlite3_stmt *st, int i, const char *digest)
{
        unsigned char md[32];
        size_t k = 0;

        for (; k < sizeof md && digest[2 * k] && digest[2 * k + 1]; k++) {
                int hi = hex_value(digest[2 * k]), lo = hex_value(digest[2 * k + 1]);
                if (hi < 0 || lo < 0)
                        break;
                md[k] = (unsigned char)(hi << 4 | lo);
        }
        if (k == sizeof md && !digest[2 * k])
                sqlite3_bind_blob(st, i, md, (int)sizeof md, SQLITE_TRANSIENT);
        else
                sqlite3_bind_text(st, i, digest, -1, SQLITE_STATIC);
}

static int insert_row(struct sq_store *s, const struct rd_stored *o,
                      const struct rd_store_change *ch, int64_t last_seq)
{
        sqlite3_stmt *st = sq_prep(s, S_INSERT);
        int rc;

        sqlite3_bind_text(st, 1, o->partner, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, o->ref, -1, SQLITE_STATIC);
        bind_digest(st, 3, o->digest);
        sqlite3_bind_int64(st, 4, o->received_ms);
        sqlite3_bind_text(st, 5, ch->content, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 6, (int)o->status);
        sqlite3_bind_int(st, 7, (int)o->urgency);
        sqlite3_bind_text(st, 8, o->rule, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, o->team, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 10, o->connector, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 11, o->start_by_ms);
        sqlite3_bind_int64(st, 12, o->expected_start_ms);
        sqlite3_bind_int64(st, 13, o->offered_ms);
        sqlite3_bind_int64(st, 14, o->offer_expires_ms);
        sqlite3_bind_text(st, 15, o->forward_to, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 16, o->reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 17, o->final_ms);
        if (ch->trace)
                sqlite3_bind_text(st, 18, ch->trace, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 19, ch->rules_digest ? ch->rules_digest : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 20, ch->candidates ? ch->candidates : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 21, last_seq);
        sqlite3_bind_int(st, 22, (int)o->attention);
        sqlite3_bind_text(st, 23, ch->teams ? ch->teams : "", -1, SQLITE_STATIC);
        rc = sqlite3_step(st); /* the bindings are cleared by the next sq_prep */
        sqlite3_reset(st);
        if (rc == SQLITE_CONSTRAINT)
                return -EEXIST;
        return rc == SQLITE_DONE ? 0 : sq_err(rc);
}

int sq_insert(struct rd_store *base, struct rd_store_change *ch)
{
        struct sq_store *s = sq(base);
        struct rd_stored *o = ch->st;
        /* the row's last_seq is that of its last event, known now */
        int64_t last_seq = ch->n_events ? s->last_seq + (int64_t)ch->n_events : o->last_seq;
        int64_t rowid;
        int r = insert_row(s, o, ch, last_seq);

        if (r == 0)
                r = sq_tally_insert(s, o);
        if (r < 0)
                return r;
        rowid = sqlite3_last_insert_rowid(s->db);
        r = offer_parts(s, rowid, ch);
        if (r == 0)
                r = append_events(s, rowid, ch, false);
        if (r < 0)
                return r;
        o->rowid = rowid;
        o->last_seq = last_seq;
        return 0;
}

int sq_change(struct rd_store *base, struct rd_store_change *ch)
{
        struct sq_store *s = sq(base);
        int64_t rowid = ch->st ? ch->st->rowid : 0;
        int r = 0;

        if (ch->row)
                r = update_row(s, ch->st);
        if (r == 0 && ch->trace_set)
                r = set_trace(s, rowid, ch->trace, ch->rules_digest);
        if (r == 0 && ch->candidates)
                r = set_candidates(s, ch->st, ch->candidates, ch->teams);
        if (r == 0)
                r = offer_parts(s, rowid, ch);
        if (r == 0 && ch->reason)
                r = add_reason(s, rowid, ch->reason);
        if (r == 0)
                r = append_events(s, rowid, ch, true);
        if (r == 0 && ch->st && ch->n_events)
                ch->st->last_seq = s->last_seq;
        return r;
}

int sq_erase(struct rd_store *s, int64_t rowid, const json_t *content, const char *trace,
             int64_t now_ms)
{
        char *c = json_dumps(content, JSON_COMPACT | JSON_PRESERVE_ORDER);
        sqlite3_stmt *st;
        int r = -ENOMEM;

        if (c) {
                st = sq_prep(sq(s), S_ERASE);
                sqlite3_bind_int64(st, 1, rowid);
                sqlite3_bind_text(st, 2, c, -1, SQLITE_STATIC);
                if (trace)
                        sqlite3_bind_text(st, 3, trace, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 4, now_ms);
                r = sq_step_done(st);
                sqlite3_clear_bindings(st);
        }
        if (r == 0) { /* the free text of its reasons is personal data too */
                st = sq_prep(sq(s), S_REASONS_ERASE);
                sqlite3_bind_int64(st, 1, rowid);
                r = sq_step_done(st);
        }
        free(c);
        return r;
}

int sq_meta_set(struct rd_store *s, const char *key, const char *value)
{
        sqlite3_stmt *st = sq_prep(sq(s), S_META_SET);
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        return sq_step_done(st);
}

/* ---- the audit trail
 * ------------------------------------------------------------------------------ */

int sq_audit(struct rd_store *s, int64_t at_ms, const char *client, const char *role,
             const char *action, const char *referral_id)
{
        sqlite3_stmt *st = sq_prep(sq(s), S_AUDIT_ADD);
        sqlite3_bind_int64(st, 1, at_ms);
        sqlite3_bind_text(st, 2, client, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, role, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, action, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, referral_id, -1, SQLITE_STATIC);
        return sq_step_done(st);
}

int sq_audit_purge(struct rd_store *base, int64_t before_ms)
{
        struct sq_store *s = sq(base);
        sqlite3_stmt *st = sq_prep(s, S_AUDIT_PURGE);
        int r;
        sqlite3_bind_int64(st, 1, before_ms);
        r = sq_step_done(st);
        return r < 0 ? r : sqlite3_changes(s->db);
}
