/* store_sqlite_sql.c: the SQL of the SQLite driver, all of it: the schema
 * migrations and every statement the driver prepares at open. */
#include "macro.h"
#include "store_sqlite.h"

/* Schema migrations: SQ_MIGRATIONS[i] takes user_version i to i + 1. Never
 * edit a released step (its text is what databases in the field ran); append
 * a new one. Released steps spell status numbers out; the static assertions
 * below hold them to enum rd_status. */
/* clang-format off */
/* Parts of the released step 6 -> 7 (never edit them). M7_NUMBER: the
 * number of the bucket a duration D (ms, an SQL expression) counts in
 * (store.h, rd_store_duration_bucket): D (below 0: 0) is 1000 * E + M for
 * the bucket M * 10^E, M its three most significant digits (its whole
 * value below 1000); numbers rise with the buckets. M7_ADD: how a count
 * takes a delta. */
#define M7_D0(d) "max(" d ", 0)"
#define M7_NUMBER(d) \
        "(max(length(" M7_D0(d) ") - 3, 0) * 1000 + CAST(substr(" M7_D0(d) ", 1, 3) AS INTEGER))"
#define M7_ADD(key) " ON CONFLICT (" key ") DO UPDATE SET count = count + excluded.count;"
/* The tallies (n, delta) of the referral row R ("new" or "old"), each
 * SIGN ("1" or "-1"), as the arms of one compound SELECT; the ALSO
 * conditions narrow the arms of a figure (an update counts only what
 * changed). */
#define M7_IN_TIME(r) "(" r ".started_ms > 0 AND " r ".started_ms <= " r ".start_by_ms)"
#define M7_MISSED(r) "(" r ".missed_fired = 1)"
#define M7_ATTENTION(r) "(" r ".attention > 0)"
#define M7_ROW(r, sign, status_also, offer_also, start_also) \
        " SELECT 1000000 + " r ".status, " sign " WHERE 1" status_also \
        " UNION ALL SELECT 2000000 + " M7_NUMBER(r ".first_offered_ms - " r ".received_ms") \
        ", " sign " WHERE " r ".first_offered_ms > 0" offer_also \
        " UNION ALL SELECT 3000000 + " M7_NUMBER(r ".started_ms - " r ".received_ms") \
        ", " sign " WHERE " r ".started_ms > 0" start_also
#define M7_FLAGS(r, sign) \
        " UNION ALL SELECT 4000000, " sign " WHERE " M7_IN_TIME(r) \
        " UNION ALL SELECT 5000000, " sign " WHERE " M7_MISSED(r) \
        " UNION ALL SELECT 6000000, " sign " WHERE " M7_ATTENTION(r)
/* one of the figures' flags of an updated row changed: its delta */
#define M7_FLAG_CHANGE(n, cond) \
        " UNION ALL SELECT " n ", " cond("new") " - " cond("old") \
        " WHERE " cond("new") " != " cond("old")
/* a column of the update that the figures read changed */
#define M7_CHANGED(c) "old." c " IS NOT new." c
#define M7_CHANGED_DURATION(c) " AND (" M7_CHANGED(c) " OR " M7_CHANGED("received_ms") ")"

const char *const sq_migrations[] = {
        /* 0 -> 1 */
        "CREATE TABLE referrals ("
        "  rowid INTEGER PRIMARY KEY,"
        "  partner TEXT NOT NULL,"
        "  ref TEXT NOT NULL,"
        "  digest TEXT NOT NULL,"
        "  received_ms INTEGER NOT NULL,"
        "  content TEXT," /* the referral as JSON, personal data included */
        "  status INTEGER NOT NULL,"
        "  rule TEXT NOT NULL DEFAULT '',"
        "  team TEXT NOT NULL DEFAULT '',"
        "  connector TEXT NOT NULL DEFAULT '',"
        "  start_by_ms INTEGER NOT NULL DEFAULT 0,"
        "  expected_start_ms INTEGER NOT NULL DEFAULT 0,"
        "  offered_ms INTEGER NOT NULL DEFAULT 0,"
        "  offer_expires_ms INTEGER NOT NULL DEFAULT 0,"
        "  started_ms INTEGER NOT NULL DEFAULT 0,"
        "  expected_end_ms INTEGER NOT NULL DEFAULT 0,"
        "  forward_to TEXT NOT NULL DEFAULT '',"
        "  reason TEXT NOT NULL DEFAULT '',"
        "  trace TEXT,"
        "  rules_digest TEXT NOT NULL DEFAULT '',"
        "  last_seq INTEGER NOT NULL DEFAULT 0,"
        "  urgency INTEGER NOT NULL DEFAULT 0,"
        "  first_offered_ms INTEGER NOT NULL DEFAULT 0,"
        "  at_risk_fired INTEGER NOT NULL DEFAULT 0,"
        "  missed_fired INTEGER NOT NULL DEFAULT 0,"
        "  candidates TEXT NOT NULL DEFAULT ''," /* waitlisted: who may take it */
        "  final_ms INTEGER NOT NULL DEFAULT 0," /* when it reached a final status */
        "  erased_ms INTEGER NOT NULL DEFAULT 0,"
        "  UNIQUE (partner, ref));"
        "CREATE INDEX referrals_last_seq ON referrals (last_seq);"
        "CREATE INDEX referrals_open ON referrals (status) WHERE status IN (1, 2, 4, 5);"
        /* deadlines: the loop asks for the earliest of each kind */
        "CREATE INDEX referrals_offer_due ON referrals (offer_expires_ms)"
        "  WHERE status = 1 AND offer_expires_ms > 0;"
        "CREATE INDEX referrals_at_risk_due ON referrals (start_by_ms)"
        "  WHERE status IN (1, 2, 4) AND at_risk_fired = 0 AND start_by_ms > 0;"
        "CREATE INDEX referrals_missed_due ON referrals (start_by_ms)"
        "  WHERE status IN (1, 2, 4) AND missed_fired = 0 AND start_by_ms > 0;"
        "CREATE INDEX referrals_erase_due ON referrals (final_ms)"
        "  WHERE erased_ms = 0 AND final_ms > 0;"
        "CREATE TABLE offered (" /* every connector ever offered a referral */
        "  connector TEXT NOT NULL,"
        "  referral INTEGER NOT NULL,"
        "  PRIMARY KEY (connector, referral)) WITHOUT ROWID;"
        "CREATE TABLE audit (" /* who read personal data or changed what; never the data */
        "  n INTEGER PRIMARY KEY,"
        "  at_ms INTEGER NOT NULL,"
        "  client TEXT NOT NULL,"
        "  role TEXT NOT NULL,"
        "  action TEXT NOT NULL,"
        "  referral TEXT NOT NULL DEFAULT '');"
        "CREATE INDEX audit_at ON audit (at_ms);"
        "CREATE TABLE declines (" /* who declined or let an offer lapse */
        "  referral INTEGER NOT NULL,"
        "  connector TEXT NOT NULL,"
        "  PRIMARY KEY (referral, connector)) WITHOUT ROWID;"
        "CREATE TABLE events ("
        "  seq INTEGER PRIMARY KEY,"
        "  referral INTEGER,"
        "  body TEXT NOT NULL);"
        "CREATE INDEX events_referral ON events (referral) WHERE referral IS NOT NULL;"
        "CREATE TABLE offer_counts (connector TEXT PRIMARY KEY, count INTEGER NOT NULL)"
        "  WITHOUT ROWID;"
        "CREATE TABLE round_robin (rule TEXT PRIMARY KEY, connector TEXT NOT NULL)"
        "  WITHOUT ROWID;",
        /* 1 -> 2: the waitlist stays on disk. An index in waitlist order
         * (the hub reads its head from it), and how many referrals wait for
         * each set of candidates (the forecast counts those ahead without
         * reading them), kept by triggers so that it cannot drift. */
        "CREATE INDEX referrals_waiting ON referrals (urgency DESC, start_by_ms, rowid)"
        "  WHERE status = 2;"
        "CREATE TABLE waiting_sets (candidates TEXT PRIMARY KEY, count INTEGER NOT NULL)"
        "  WITHOUT ROWID;"
        "INSERT INTO waiting_sets SELECT candidates, count(*) FROM referrals WHERE status = 2"
        "  GROUP BY candidates;"
        "CREATE TRIGGER waiting_in AFTER INSERT ON referrals WHEN new.status = 2 BEGIN"
        "  INSERT INTO waiting_sets VALUES (new.candidates, 1)"
        "    ON CONFLICT (candidates) DO UPDATE SET count = count + 1;"
        "END;"
        "CREATE TRIGGER waiting_change AFTER UPDATE OF status, candidates ON referrals"
        "  WHEN old.status = 2 OR new.status = 2 BEGIN"
        "  UPDATE waiting_sets SET count = count - 1"
        "    WHERE old.status = 2 AND candidates = old.candidates;"
        "  DELETE FROM waiting_sets WHERE candidates = old.candidates AND count <= 0;"
        "  INSERT INTO waiting_sets SELECT new.candidates, 1 WHERE new.status = 2"
        "    ON CONFLICT (candidates) DO UPDATE SET count = count + 1;"
        "END;"
        "CREATE TRIGGER waiting_out AFTER DELETE ON referrals WHEN old.status = 2 BEGIN"
        "  UPDATE waiting_sets SET count = count - 1 WHERE candidates = old.candidates;"
        "  DELETE FROM waiting_sets WHERE candidates = old.candidates AND count <= 0;"
        "END;"
        /* facts about the whole database, such as the routing file every
         * waiting referral's candidates were worked out with */
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
        /* the columns `stats` counts, so that its scans read this index and
         * not the rows with their content and trace (2.4 KB each) */
        "CREATE INDEX referrals_figures ON referrals (status, forward_to, received_ms,"
        "  first_offered_ms, started_ms, start_by_ms);",
        /* 2 -> 3: the routing files that have been in force (daemon.md rev
         * 2): each text once, under its digest, as the bytes it was loaded
         * from; and the periods in force, one row each, the one in force
         * with until_ms 0 */
        "CREATE TABLE routing_files (digest TEXT PRIMARY KEY, text BLOB NOT NULL);"
        "CREATE TABLE routing_in_force ("
        "  n INTEGER PRIMARY KEY,"
        "  digest TEXT NOT NULL REFERENCES routing_files (digest),"
        "  source TEXT NOT NULL," /* the name it was loaded under */
        "  from_ms INTEGER NOT NULL,"
        "  until_ms INTEGER NOT NULL DEFAULT 0);",
        /* 3 -> 4 (rev 2): reasons, attention, list filters, missed windows.
         * A waiting referral's attention (1 all_declined, 2 no_candidate)
         * and the teams of its first-rank candidates (wait_teams, space
         * separated); the connector and team of the current or last offer
         * (waiting again after a decline, or forwarded, a referral keeps
         * them: list by connector and team); an index per list filter,
         * each in the order of the latest event. */
        "ALTER TABLE referrals ADD COLUMN attention INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE referrals ADD COLUMN wait_teams TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE referrals ADD COLUMN last_connector TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE referrals ADD COLUMN last_team TEXT NOT NULL DEFAULT '';"
        "UPDATE referrals SET last_connector = connector, last_team = team WHERE connector != '';"
        /* an offer that ended (a decline, a lapse, a forward after it): its
         * referral.assigned event still names it */
        "UPDATE referrals SET (last_connector, last_team) = (SELECT"
        "    coalesce(json_extract(body, '$.connector'), ''), coalesce(json_extract(body, "
        "'$.team'), '')"
        "    FROM events WHERE referral = referrals.rowid"
        "    AND json_extract(body, '$.type') = 'referral.assigned' ORDER BY seq DESC LIMIT 1)"
        "  WHERE connector = '' AND first_offered_ms > 0"
        "  AND EXISTS (SELECT 1 FROM events WHERE referral = referrals.rowid"
        "    AND json_extract(body, '$.type') = 'referral.assigned');"
        "CREATE INDEX referrals_status_seq ON referrals (status, last_seq);"
        "CREATE INDEX referrals_connector_seq ON referrals (last_connector, last_seq)"
        "  WHERE last_connector != '';"
        "CREATE INDEX referrals_team_seq ON referrals (last_team, last_seq) WHERE last_team != '';"
        "CREATE INDEX referrals_attention ON referrals (last_seq) WHERE attention > 0;"
        "CREATE INDEX referrals_missed ON referrals (start_by_ms) WHERE missed_fired = 1;"
        /* a client's reasons for a change: the code, and free text that is
         * personal data (NULL once erased) */
        "CREATE TABLE reasons ("
        "  n INTEGER PRIMARY KEY,"
        "  referral INTEGER NOT NULL,"
        "  at_ms INTEGER NOT NULL,"
        "  change TEXT NOT NULL,"
        "  connector TEXT NOT NULL DEFAULT '',"
        "  reason_code TEXT,"
        "  reason TEXT);"
        "CREATE INDEX reasons_referral ON reasons (referral);"
        "CREATE INDEX reasons_code ON reasons (change, reason_code);",
        /* 4 -> 5: the waiting referrals counted by candidates and urgency
         * (the forecast of a new referral: those of a higher urgency come
         * before it, of a lower one after it), each set with the latest
         * start_by it has had since it was last empty (none of its
         * referrals has a later one), and an index to count those of one
         * set before a place in the list when some may come after it,
         * stopping at the slots there are: the cost is in those counted,
         * not in the length of the list. Urgency never changes, and a
         * waiting referral keeps its start_by; their columns are in the
         * trigger all the same. */
        "DROP TRIGGER waiting_in;"
        "DROP TRIGGER waiting_change;"
        "DROP TRIGGER waiting_out;"
        "DROP TABLE waiting_sets;"
        "CREATE TABLE waiting_sets ("
        "  candidates TEXT NOT NULL,"
        "  urgency INTEGER NOT NULL,"
        "  count INTEGER NOT NULL,"
        "  latest_start_by INTEGER NOT NULL,"
        "  PRIMARY KEY (candidates, urgency)) WITHOUT ROWID;"
        "INSERT INTO waiting_sets SELECT candidates, urgency, count(*), max(start_by_ms)"
        "  FROM referrals WHERE status = 2 GROUP BY candidates, urgency;"
        "CREATE TRIGGER waiting_in AFTER INSERT ON referrals WHEN new.status = 2 BEGIN"
        "  INSERT INTO waiting_sets VALUES (new.candidates, new.urgency, 1, new.start_by_ms)"
        "    ON CONFLICT (candidates, urgency) DO UPDATE SET count = count + 1,"
        "    latest_start_by = max(latest_start_by, excluded.latest_start_by);"
        "END;"
        "CREATE TRIGGER waiting_change AFTER UPDATE OF status, candidates, urgency, start_by_ms"
        "  ON referrals WHEN old.status = 2 OR new.status = 2 BEGIN"
        "  UPDATE waiting_sets SET count = count - 1"
        "    WHERE old.status = 2 AND candidates = old.candidates AND urgency = old.urgency;"
        "  DELETE FROM waiting_sets"
        "    WHERE candidates = old.candidates AND urgency = old.urgency AND count <= 0;"
        "  INSERT INTO waiting_sets"
        "    SELECT new.candidates, new.urgency, 1, new.start_by_ms WHERE new.status = 2"
        "    ON CONFLICT (candidates, urgency) DO UPDATE SET count = count + 1,"
        "    latest_start_by = max(latest_start_by, excluded.latest_start_by);"
        "END;"
        "CREATE TRIGGER waiting_out AFTER DELETE ON referrals WHEN old.status = 2 BEGIN"
        "  UPDATE waiting_sets SET count = count - 1"
        "    WHERE candidates = old.candidates AND urgency = old.urgency;"
        "  DELETE FROM waiting_sets"
        "    WHERE candidates = old.candidates AND urgency = old.urgency AND count <= 0;"
        "END;"
        "CREATE INDEX referrals_waiting_sets ON referrals (candidates, urgency, start_by_ms)"
        "  WHERE status = 2;",
        /* 5 -> 6: the status lists of the partial indexes as OR of
         * equalities. To decide whether a row belongs in an index whose
         * WHERE says `status IN (...)`, SQLite builds a temporary b-tree of
         * the list at every insert and update of a referral; equalities
         * cost a comparison each. The statements that name these indexes
         * spell the same condition (WATCHED, below). */
        "DROP INDEX referrals_open;"
        "CREATE INDEX referrals_open ON referrals (status)"
        "  WHERE status = 1 OR status = 2 OR status = 4 OR status = 5;"
        "DROP INDEX referrals_at_risk_due;"
        "CREATE INDEX referrals_at_risk_due ON referrals (start_by_ms)"
        "  WHERE (status = 1 OR status = 2 OR status = 4) AND at_risk_fired = 0"
        "  AND start_by_ms > 0;"
        "DROP INDEX referrals_missed_due;"
        "CREATE INDEX referrals_missed_due ON referrals (start_by_ms)"
        "  WHERE (status = 1 OR status = 2 OR status = 4) AND missed_fired = 0"
        "  AND start_by_ms > 0;",
        /* 6 -> 7: `stats` in constant time. Its figures are kept as counts,
         * by triggers in the transaction of every change (as waiting_sets
         * is), so that they cannot drift; filled here from the rows.
         * tallies: a count per N = FIGURE * 1,000,000 + KEY, so that each
         * is one row found by its rowid and updated in place:
         *   1 status     KEY: the status; referrals in it
         *   2 to_offer   KEY: the number of the bucket (M7_NUMBER) of
         *                receipt to first offer; referrals offered
         *   3 to_start   the same, receipt to start; referrals started
         *   4 in_time    KEY 0: started no later than their start_by
         *   5 missed     KEY 0: referral.window_missed fired
         *   6 attention  KEY 0: waiting referrals with an attention
         * forward_counts: referrals now forwarded (status 3), by target;
         * reason_counts: the reasons kept, by change and code ("": none).
         * Counts that fall to 0 stay as rows (the readers skip them). And
         * the waiting referrals by receipt, for the oldest of them. */
        "CREATE TABLE tallies (n INTEGER PRIMARY KEY, count INTEGER NOT NULL);"
        "CREATE TABLE forward_counts (target TEXT PRIMARY KEY, count INTEGER NOT NULL)"
        "  WITHOUT ROWID;"
        "CREATE TABLE reason_counts (change TEXT NOT NULL, code TEXT NOT NULL,"
        "  count INTEGER NOT NULL, PRIMARY KEY (change, code)) WITHOUT ROWID;"
        "INSERT INTO tallies SELECT 1000000 + status, count(*) FROM referrals GROUP BY status;"
        "INSERT INTO tallies SELECT 2000000 + " M7_NUMBER("first_offered_ms - received_ms")
        "  , count(*) FROM referrals WHERE first_offered_ms > 0 GROUP BY 1;"
        "INSERT INTO tallies SELECT 3000000 + " M7_NUMBER("started_ms - received_ms")
        "  , count(*) FROM referrals WHERE started_ms > 0 GROUP BY 1;"
        "INSERT INTO tallies SELECT 4000000, count(*) FROM referrals"
        "  WHERE started_ms > 0 AND started_ms <= start_by_ms;"
        "INSERT INTO tallies SELECT 5000000, count(*) FROM referrals WHERE missed_fired = 1;"
        "INSERT INTO tallies SELECT 6000000, count(*) FROM referrals WHERE attention > 0;"
        "INSERT INTO forward_counts SELECT forward_to, count(*) FROM referrals WHERE status = 3"
        "  GROUP BY forward_to;"
        "INSERT INTO reason_counts SELECT change, coalesce(reason_code, ''), count(*)"
        "  FROM reasons GROUP BY 1, 2;"
        "CREATE TRIGGER tallies_in AFTER INSERT ON referrals BEGIN"
        "  INSERT INTO tallies" M7_ROW("new", "1", "", "", "") M7_FLAGS("new", "1") M7_ADD("n")
        "END;"
        "CREATE TRIGGER tallies_out AFTER DELETE ON referrals BEGIN"
        "  INSERT INTO tallies" M7_ROW("old", "-1", "", "", "") M7_FLAGS("old", "-1") M7_ADD("n")
        "END;"
        /* an update: the old row's counts out and the new row's in, of each
         * figure whose columns changed */
        "CREATE TRIGGER tallies_change AFTER UPDATE OF status, received_ms, first_offered_ms,"
        "  started_ms, start_by_ms, missed_fired, attention ON referrals"
        "  WHEN " M7_CHANGED("status") " OR " M7_CHANGED("first_offered_ms")
        "  OR " M7_CHANGED("started_ms") " OR " M7_CHANGED("start_by_ms")
        "  OR " M7_CHANGED("missed_fired") " OR " M7_CHANGED("attention")
        "  OR " M7_CHANGED("received_ms") " BEGIN"
        "  INSERT INTO tallies"
        M7_ROW("old", "-1", " AND " M7_CHANGED("status"),
               M7_CHANGED_DURATION("first_offered_ms"), M7_CHANGED_DURATION("started_ms"))
        " UNION ALL"
        M7_ROW("new", "1", " AND " M7_CHANGED("status"),
               M7_CHANGED_DURATION("first_offered_ms"), M7_CHANGED_DURATION("started_ms"))
        M7_FLAG_CHANGE("4000000", M7_IN_TIME) M7_FLAG_CHANGE("5000000", M7_MISSED)
        M7_FLAG_CHANGE("6000000", M7_ATTENTION) M7_ADD("n")
        "END;"
        "CREATE TRIGGER forwards_in AFTER INSERT ON referrals WHEN new.status = 3 BEGIN"
        "  INSERT INTO forward_counts VALUES (new.forward_to, 1)" M7_ADD("target")
        "END;"
        "CREATE TRIGGER forwards_out AFTER DELETE ON referrals WHEN old.status = 3 BEGIN"
        "  INSERT INTO forward_counts VALUES (old.forward_to, -1)" M7_ADD("target")
        "END;"
        "CREATE TRIGGER forwards_change AFTER UPDATE OF status, forward_to ON referrals"
        "  WHEN (old.status = 3 OR new.status = 3)"
        "  AND (" M7_CHANGED("status") " OR " M7_CHANGED("forward_to") ") BEGIN"
        "  INSERT INTO forward_counts SELECT old.forward_to, -1 WHERE old.status = 3"
        "    UNION ALL SELECT new.forward_to, 1 WHERE new.status = 3" M7_ADD("target")
        "END;"
        "CREATE TRIGGER reasons_in AFTER INSERT ON reasons BEGIN"
        "  INSERT INTO reason_counts VALUES (new.change, coalesce(new.reason_code, ''), 1)"
        M7_ADD("change, code")
        "END;"
        "CREATE TRIGGER reasons_out AFTER DELETE ON reasons BEGIN"
        "  INSERT INTO reason_counts VALUES (old.change, coalesce(old.reason_code, ''), -1)"
        M7_ADD("change, code")
        "END;"
        "CREATE TRIGGER reasons_change AFTER UPDATE OF change, reason_code ON reasons BEGIN"
        "  INSERT INTO reason_counts SELECT old.change, coalesce(old.reason_code, ''), -1"
        "    UNION ALL SELECT new.change, coalesce(new.reason_code, ''), 1 WHERE 1"
        M7_ADD("change, code")
        "END;"
        "CREATE INDEX referrals_waiting_since ON referrals (received_ms) WHERE status = 2;",
        /* 7 -> 8: fewer indexes, each one a statement needs (docs/
         * performance.md, the indexes of referrals). The held referrals at
         * start and the open offers read referrals_status_seq, which begins
         * with the status; the windows to watch are one index whose
         * at_risk_fired comes first: at risk is its range 0, missed both
         * ranges; the audit trail is purged by its number (it is appended
         * in time order); `stats` reads its counts (6 -> 7), not
         * referrals_figures nor referrals_missed. */
        "DROP INDEX referrals_open;"
        "DROP INDEX referrals_at_risk_due;"
        "DROP INDEX referrals_missed_due;"
        "CREATE INDEX referrals_window_due ON referrals (at_risk_fired, start_by_ms)"
        "  WHERE (status = 1 OR status = 2 OR status = 4) AND missed_fired = 0"
        "  AND start_by_ms > 0;"
        "DROP INDEX audit_at;"
        "DROP INDEX referrals_figures;"
        "DROP INDEX referrals_missed;",
        /* 8 -> 9: narrower rows. rules_file: the routing file that decided,
         * as the number of its period in routing_in_force (n, an INTEGER
         * PRIMARY KEY: it stays what it is, whatever VACUUM does) when it
         * was the file in force, else its digest (a replay's file, never
         * in force); rules_digest is then ''. No type: it holds either.
         * Rows written before keep rules_digest and no rules_file. (And
         * digest, the content's SHA-256, is stored as its 32 bytes where it
         * is one: a column's type allows that, no step.) */
        "ALTER TABLE referrals ADD COLUMN rules_file;",
        /* 9 -> 10: events in a compact form (store_sqlite_events.c), their
         * JSON made when read. Rows written before keep their JSON in body
         * and no ev; a row of the compact form has body ''. No row is
         * rewritten. */
        "ALTER TABLE events ADD COLUMN ev BLOB;",
        /* 10 -> 11: a new referral's tallies counted in C
         * (store_sqlite_tally.c) and folded once per transaction, not by
         * the trigger tallies_in (its program and upserts ran at every
         * insert); deletes and updates, which are rare, keep theirs. */
        "DROP TRIGGER tallies_in;",
};
/* clang-format on */
const size_t sq_n_migrations = RD_ELEMENTSOF(sq_migrations);

/* How an event is read (schema version 10, store_sqlite_events.c): body,
 * seq, referral, ev, and the partner and ref of its referral's row ('' for
 * none). EVENT_READ_ONLY(JOIN) those of events with a referral (JOIN) or
 * all (LEFT JOIN). */
#define EVENT_READ_ONLY(join)                                                                      \
        "SELECT e.body, e.seq, e.referral, e.ev, coalesce(r.partner, ''), coalesce(r.ref, '')"     \
        " FROM events e " join " referrals r ON r.rowid = e.referral"
#define EVENT_READ EVENT_READ_ONLY("LEFT JOIN")

/* Status numbers on disk are enum rd_status: statements name them through
 * these, never by number. */
#define SQ_STR_(x) #x
#define SQ_STR(x) SQ_STR_(x)
#define N_ASSIGNED 1
#define N_WAITLISTED 2
#define N_FORWARDED 3
#define N_ACCEPTED 4
#define N_STARTED 5
_Static_assert(N_ASSIGNED == RD_STATUS_ASSIGNED && N_WAITLISTED == RD_STATUS_WAITLISTED &&
                       N_FORWARDED == RD_STATUS_FORWARDED && N_ACCEPTED == RD_STATUS_ACCEPTED &&
                       N_STARTED == RD_STATUS_STARTED,
               "status numbers are stored on disk: the statements and the released migrations "
               "(referrals_open, the deadline indexes, the waitlist triggers) use them");
_Static_assert(RD_ATTENTION_NONE == 0,
               "attention > 0 is stored for a waiting referral that needs a "
               "coordinator (the index referrals_attention)");
#define ASSIGNED SQ_STR(N_ASSIGNED)
#define WAITLISTED SQ_STR(N_WAITLISTED)
#define FORWARDED SQ_STR(N_FORWARDED)
#define ACCEPTED SQ_STR(N_ACCEPTED)
#define STARTED SQ_STR(N_STARTED)
/* held by a connector: what counts towards its load */
#define HELD "(" ASSIGNED ", " ACCEPTED ", " STARTED ")"
/* open and not started: a window to watch, as referrals_window_due says
 * it (equalities, not IN, which makes SQLite build a temporary b-tree at
 * every write of a row: migration 5 -> 6) */
#define WATCHED "(status = " ASSIGNED " OR status = " WAITLISTED " OR status = " ACCEPTED ")"

/* WHAT of the referrals whose window is watched (referrals_window_due,
 * migration 7 -> 8) and whose at-risk event has fired (AT_RISK "1") or
 * not ("0"); the missed event has not */
/* clang-format off */
#define WINDOW_DUE(what, at_risk) \
        "SELECT " what " FROM referrals INDEXED BY referrals_window_due WHERE " WATCHED \
        " AND missed_fired = 0 AND start_by_ms > 0 AND at_risk_fired = " at_risk
/* those due by ?1 */
#define DUE_WINDOW(at_risk) WINDOW_DUE(COLS, at_risk) " AND start_by_ms <= ?1"
/* those due by ?1 whose missed event has not fired, at risk or not */
#define DUE_MISSED DUE_WINDOW("0") " UNION ALL " DUE_WINDOW("1")
/* the earliest start_by of those not at risk yet, and of those not missed yet */
#define NEXT_AT_RISK "(" WINDOW_DUE("min(start_by_ms)", "0") ")"
#define NEXT_MISSED \
        "(SELECT min(m) FROM (" WINDOW_DUE("min(start_by_ms) AS m", "0") \
        " UNION ALL " WINDOW_DUE("min(start_by_ms)", "1") "))"
/* clang-format on */

/* the tallies of figure ?1 (enum sq_figure): a range of rowids */
#define FIGURE_SPAN SQ_STR(SQ_FIGURE_SPAN)
#define FIGURE_RANGE "n >= ?1 * " FIGURE_SPAN " AND n < (?1 + 1) * " FIGURE_SPAN

/* a delta ?2 of tally ?1 */
/* clang-format off */
#define TALLY_ADD "INSERT INTO tallies (n, count) VALUES (?1, ?2)" M7_ADD("n")
/* the bucket number of the duration ?1 - ?2 as the triggers compute it:
 * for the differences that overflow 64 bits (SQLite goes on in floating
 * point) */
#define TALLY_NUMBER "SELECT " M7_NUMBER("?1 - ?2")
/* the tallies of every row of referrals added to the table (the rows of a
 * store filled without them: store_sqlite_import.c), as the step 6 -> 7
 * counted them */
#define TALLIES_FILL \
        "INSERT INTO tallies (n, count) SELECT n, count(*) FROM (" \
        "SELECT 1000000 + status AS n FROM referrals" \
        " UNION ALL SELECT 2000000 + " M7_NUMBER("first_offered_ms - received_ms") \
        " FROM referrals WHERE first_offered_ms > 0" \
        " UNION ALL SELECT 3000000 + " M7_NUMBER("started_ms - received_ms") \
        " FROM referrals WHERE started_ms > 0" \
        " UNION ALL SELECT 4000000 FROM referrals WHERE " M7_IN_TIME("referrals") \
        " UNION ALL SELECT 5000000 FROM referrals WHERE " M7_MISSED("referrals") \
        " UNION ALL SELECT 6000000 FROM referrals WHERE " M7_ATTENTION("referrals") ")" \
        " WHERE 1 GROUP BY n" M7_ADD("n")
/* clang-format on */

/* The routing file of a digest (parameter N) as rules_file names it
 * (migration 8 -> 9): the number of the period in force when the digest is
 * that of the file in force, else the digest */
#define RULES_FILE(n)                                                                              \
        "coalesce((SELECT n FROM routing_in_force WHERE n = (SELECT max(n) FROM routing_in_force)" \
        " AND digest = ?" #n "), ?" #n ")"
#define RULES_FILE_19 RULES_FILE(19)
#define RULES_FILE_3 RULES_FILE(3)

/* digest: the content's SHA-256, stored as its 32 bytes where it is one
 * (store_sqlite_write.c), read as hex */
#define COLS                                                                                       \
        "rowid, partner, ref, iif(typeof(digest) = 'blob', lower(hex(digest)), digest),"           \
        " received_ms, status, rule, team, connector, start_by_ms, "                               \
        "expected_start_ms, offered_ms, offer_expires_ms, started_ms, expected_end_ms, "           \
        "forward_to, reason, last_seq, urgency, first_offered_ms, at_risk_fired, missed_fired, "   \
        "final_ms, erased_ms, attention"

/* `list` (rd_store_list): every filter, with its parameters: ?1 since, ?3
 * the statuses (a bit per status; 0: any), ?4 connector, ?5 team (NULL:
 * any), ?6 attention (1: only those), ?7 the viewer (0 all, 1 a partner, 2
 * a connector) and ?8 its id. Each list statement reads one index in the
 * order of the latest event, the one of its most selective filter, and
 * checks the others on the rows that index yields; ?2 is the limit. */
#define LIST_FILTERS                                                                               \
        " last_seq > ?1 AND (?3 = 0 OR (?3 >> status) & 1)"                                        \
        " AND (?4 IS NULL OR last_connector = ?4)"                                                 \
        " AND (?5 IS NULL OR CASE WHEN status = " WAITLISTED                                       \
        "   THEN instr(' ' || wait_teams || ' ', ' ' || ?5 || ' ') > 0 ELSE last_team = ?5 END)"   \
        " AND (?6 = 0 OR attention > 0)"                                                           \
        " AND (?7 = 0 OR (?7 = 1 AND (partner = ?8 OR forward_to = ?8))"                           \
        "   OR (?7 = 2 AND rowid IN (SELECT referral FROM offered WHERE connector = ?8)))"
#define LIST_SELECT(index) "SELECT " COLS " FROM referrals INDEXED BY " index " WHERE"
#define LIST_ORDER " ORDER BY last_seq LIMIT ?2"
/* clang-format off */
/* a connector's app without filters: the referrals ever offered to it */
#define LIST_OFFERED \
        "SELECT " COLS " FROM referrals WHERE" \
        " rowid IN (SELECT referral FROM offered WHERE connector = ?8) AND"
#define LIST_ATTENTION " attention > 0 AND"
#define LIST_CONNECTOR " last_connector = ?4 AND last_connector != '' AND"
/* by team: the offers of the team, and the waiting referrals (whose teams
 * are those of their candidates), merged in seq order; the arm that no
 * status asked for can match is left at once */
#define UNION " UNION ALL "
#define LIST_TEAM_OFFERS \
        LIST_SELECT("referrals_team_seq") \
        " last_team = ?5 AND last_team != '' AND status != " WAITLISTED \
        " AND (?3 = 0 OR ?3 & ~(1 << " WAITLISTED ")) AND" LIST_FILTERS
#define LIST_TEAM_WAITING \
        LIST_SELECT("referrals_status_seq") " status = " WAITLISTED \
        " AND (?3 = 0 OR (?3 >> " WAITLISTED ") & 1) AND" LIST_FILTERS
/* one arm per status asked for (?9 .. ?15; -1: none), each by
 * referrals_status_seq, merged in seq order */
#define LIST_STATUS_ARM(n) LIST_SELECT("referrals_status_seq") " status = ?" #n " AND" LIST_FILTERS
#define LIST_STATUS_ARMS \
        LIST_STATUS_ARM(9) UNION LIST_STATUS_ARM(10) UNION LIST_STATUS_ARM(11) UNION \
        LIST_STATUS_ARM(12) UNION LIST_STATUS_ARM(13) UNION LIST_STATUS_ARM(14) UNION \
        LIST_STATUS_ARM(15)
/* clang-format on */

/* The statements on referrals that read a partial index or a status name
 * their index (INDEXED BY): without statistics, the planner may take
 * another index and scan every referral of a status. */
const char *const sq_stmt_sql[S__MAX] = {
        [S_BEGIN] = "BEGIN IMMEDIATE",
        [S_COMMIT] = "COMMIT",
        [S_ROLLBACK] = "ROLLBACK",
        [S_SAVEPOINT] = "SAVEPOINT req",
        [S_RELEASE] = "RELEASE req",
        [S_ROLLBACK_TO] = "ROLLBACK TO req",
        [S_FIND] = "SELECT " COLS " FROM referrals WHERE partner = ?1 AND ref = ?2",
        [S_GET] = "SELECT " COLS " FROM referrals WHERE rowid = ?1",
        [S_CONTENT] = "SELECT content, trace, CASE typeof(rules_file)"
                      "   WHEN 'integer' THEN (SELECT digest FROM routing_in_force"
                      "     WHERE n = rules_file)"
                      "   WHEN 'null' THEN rules_digest ELSE rules_file END"
                      " FROM referrals WHERE rowid = ?1",
        [S_INSERT] = "INSERT INTO referrals (partner, ref, digest, received_ms, content, status,"
                     " urgency, rule, team, connector, start_by_ms, expected_start_ms,"
                     " offered_ms, offer_expires_ms, first_offered_ms, forward_to, reason,"
                     " final_ms, trace, rules_file, candidates, last_seq, attention, wait_teams,"
                     " last_team, last_connector)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?13,"
                     " ?15, ?16, ?17, ?18, " RULES_FILE_19 ", ?20, ?21, ?22, ?23, ?9, ?10)",
        [S_UPDATE] = "UPDATE referrals SET status = ?2, rule = ?3, team = ?4, connector = ?5,"
                     " start_by_ms = ?6, expected_start_ms = ?7, offered_ms = ?8,"
                     " offer_expires_ms = ?9, started_ms = ?10, expected_end_ms = ?11,"
                     " forward_to = ?12, reason = ?13,"
                     " first_offered_ms = CASE WHEN first_offered_ms = 0 THEN ?8"
                     "   ELSE first_offered_ms END,"
                     " at_risk_fired = ?14, missed_fired = ?15, final_ms = ?16, attention = ?17,"
                     " last_connector = CASE WHEN ?5 != '' THEN ?5 ELSE last_connector END,"
                     " last_team = CASE WHEN ?5 != '' THEN ?4 ELSE last_team END"
                     " WHERE rowid = ?1",
        [S_TRACE] = "UPDATE referrals SET trace = ?2, rules_digest = '', rules_file = " RULES_FILE_3
                    " WHERE rowid = ?1",
        [S_EVENT] = "INSERT INTO events (seq, referral, body, ev) VALUES (?1, ?2, '', ?3)",
        [S_LAST_SEQ_OF] = "UPDATE referrals SET last_seq = ?2 WHERE rowid = ?1",
        [S_EVENTS] = EVENT_READ " WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2",
        /* the newest ?2 in order, without a sort: the oldest of them found
         * walking the index back (its entries only), then read forward */
        [S_HISTORY] = EVENT_READ " WHERE e.referral = ?1 AND e.seq >= coalesce("
                                 "  (SELECT seq FROM events WHERE referral = ?1 ORDER BY seq DESC"
                                 "   LIMIT 1 OFFSET ?2 - 1), 0) ORDER BY e.seq",
        [S_HISTORY_COUNT] = "SELECT count(*) FROM events WHERE referral = ?1",
        [S_LIST_SEQ] = LIST_SELECT("referrals_last_seq") LIST_FILTERS LIST_ORDER,
        [S_LIST_OFFERED] = LIST_OFFERED LIST_FILTERS LIST_ORDER,
        [S_LIST_ATTENTION] =
                LIST_SELECT("referrals_attention") LIST_ATTENTION LIST_FILTERS LIST_ORDER,
        [S_LIST_CONNECTOR] =
                LIST_SELECT("referrals_connector_seq") LIST_CONNECTOR LIST_FILTERS LIST_ORDER,
        [S_LIST_TEAM] = LIST_TEAM_OFFERS UNION LIST_TEAM_WAITING LIST_ORDER,
        [S_LIST_STATUS] = LIST_STATUS_ARMS LIST_ORDER,
        [S_EVENTS_PARTNER] = EVENT_READ_ONLY(
                "JOIN") " WHERE e.seq > ?1 AND (r.partner = ?3 OR r.forward_to = ?3)"
                        " ORDER BY e.seq LIMIT ?2",
        [S_EVENTS_CONNECTOR] = EVENT_READ " WHERE e.seq > ?1 AND e.referral IN"
                                          " (SELECT referral FROM offered WHERE connector = ?3)"
                                          " ORDER BY e.seq LIMIT ?2",
        [S_OFFERED_ADD] = "INSERT OR IGNORE INTO offered (connector, referral) VALUES (?1, ?2)",
        [S_OFFERED_HAS] = "SELECT 1 FROM offered WHERE connector = ?1 AND referral = ?2",
        [S_AUDIT_ADD] = "INSERT INTO audit (at_ms, client, role, action, referral)"
                        " VALUES (?1, ?2, ?3, ?4, ?5)",
        [S_AUDIT_LIST] = "SELECT n, at_ms, client, role, action, referral FROM audit"
                         " WHERE n > ?1 AND (?3 = '' OR referral = ?3) ORDER BY n LIMIT ?2",
        /* the audit trail is appended in time order: the entries below the
         * first one inside the retention (a scan in order of n that stops
         * there: it reads the entries it deletes, and one more) */
        [S_AUDIT_PURGE] = "DELETE FROM audit WHERE n < coalesce("
                          "(SELECT n FROM audit WHERE at_ms >= ?1 ORDER BY n LIMIT 1),"
                          " (SELECT max(n) + 1 FROM audit))",
        /* the figures of `stats` (migration 6 -> 7): a figure's tallies
         * are the range of rowids ?1 * 1,000,000 .. + 999,999 (enum
         * sq_figure); S_TALLIES gives those at 0 or below too: a count the
         * triggers took below 0 inside a transaction may have a pending
         * delta (store_sqlite_tally.c) that the reader adds to it */
        [S_TALLIES] =
                "SELECT n % " FIGURE_SPAN ", count FROM tallies WHERE " FIGURE_RANGE " ORDER BY n",
        [S_TALLY_SUM] = "SELECT coalesce(sum(count), 0) FROM tallies WHERE " FIGURE_RANGE,
        /* the tallies of new referrals (store_sqlite_tally.c) */
        [S_TALLY_ADD] = TALLY_ADD,
        [S_TALLY_NUMBER] = TALLY_NUMBER,
        [S_TALLIES_FILL] = TALLIES_FILL,
        [S_OPEN] = "SELECT " COLS " FROM referrals INDEXED BY referrals_status_seq"
                   " WHERE status IN " HELD,
        [S_OFFER] = "INSERT INTO offer_counts (connector, count) VALUES (?1, 1)"
                    " ON CONFLICT (connector) DO UPDATE SET count = count + 1",
        /* the same on a row that is there (nearly always): one seek, where
         * the upsert tries an insert first */
        [S_OFFER_BUMP] = "UPDATE offer_counts SET count = count + 1 WHERE connector = ?1",
        [S_OFFERS] = "SELECT connector, count FROM offer_counts",
        [S_RR_SET] = "INSERT INTO round_robin (rule, connector) VALUES (?1, ?2)"
                     " ON CONFLICT (rule) DO UPDATE SET connector = excluded.connector",
        [S_RR_MOVE] = "UPDATE round_robin SET connector = ?2 WHERE rule = ?1",
        [S_RR_ALL] = "SELECT rule, connector FROM round_robin",
        [S_MAX_SEQ] = "SELECT coalesce(max(seq), 0) FROM events",
        [S_DECLINE_ADD] = "INSERT OR IGNORE INTO declines (referral, connector) VALUES (?1, ?2)",
        [S_DECLINES] = "SELECT connector FROM declines WHERE referral = ?1",
        [S_CANDIDATES_SET] = "UPDATE referrals SET candidates = ?2, wait_teams = ?3, attention = ?4"
                             " WHERE rowid = ?1",
        [S_REASON_ADD] = "INSERT INTO reasons (referral, at_ms, change, connector, reason_code,"
                         " reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        [S_REASONS] = "SELECT at_ms, change, connector, reason_code, reason FROM reasons"
                      " WHERE referral = ?1 AND (reason_code IS NOT NULL OR reason IS NOT NULL)"
                      " ORDER BY n",
        [S_REASONS_ERASE] = "UPDATE reasons SET reason = NULL WHERE referral = ?1"
                            " AND reason IS NOT NULL",
        /* the waitlist in its order, from the head or after a place in it
         * (two statements, so that each is one range of referrals_waiting) */
        [S_WAITING_HEAD] =
                "SELECT " COLS ", candidates FROM referrals INDEXED BY referrals_waiting"
                " WHERE status = " WAITLISTED " ORDER BY urgency DESC, start_by_ms, rowid LIMIT ?1",
        [S_WAITING_SAME] = "SELECT " COLS ", candidates FROM referrals INDEXED BY referrals_waiting"
                           " WHERE status = " WAITLISTED
                           " AND urgency = ?2 AND (start_by_ms, rowid) > (?3, ?4)"
                           " ORDER BY urgency DESC, start_by_ms, rowid LIMIT ?1",
        [S_WAITING_LOWER] =
                "SELECT " COLS ", candidates FROM referrals INDEXED BY referrals_waiting"
                " WHERE status = " WAITLISTED
                " AND urgency < ?2 ORDER BY urgency DESC, start_by_ms, rowid LIMIT ?1",
        [S_WAITING_SETS] = "SELECT candidates, urgency, count, latest_start_by FROM waiting_sets"
                           " WHERE count > 0",
        /* how many of one set and urgency come before a place: at most ?5 */
        [S_WAITING_BEFORE] = "SELECT count(*) FROM (SELECT 1 FROM referrals"
                             " INDEXED BY referrals_waiting_sets WHERE status = " WAITLISTED
                             " AND candidates = ?1 AND urgency = ?2"
                             " AND (start_by_ms, rowid) < (?3, ?4) LIMIT ?5)",
        [S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
        [S_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [S_DUE_OFFER] = "SELECT " COLS " FROM referrals INDEXED BY referrals_offer_due"
                        " WHERE status = " ASSIGNED " AND offer_expires_ms > 0"
                        " AND offer_expires_ms <= ?1 ORDER BY offer_expires_ms LIMIT ?2",
        /* at risk: the range at_risk_fired = 0 of referrals_window_due;
         * missed: both ranges, merged in the order of start_by */
        [S_DUE_AT_RISK] = DUE_WINDOW("0") " ORDER BY start_by_ms LIMIT ?2",
        [S_DUE_MISSED] = DUE_MISSED " ORDER BY start_by_ms, rowid LIMIT ?2",
        [S_NEXT] = "SELECT"
                   " (SELECT min(offer_expires_ms) FROM referrals INDEXED BY referrals_offer_due"
                   "   WHERE status = " ASSIGNED " AND offer_expires_ms > 0),"
                   " " NEXT_AT_RISK ", " NEXT_MISSED ","
                   " (SELECT min(final_ms) FROM referrals INDEXED BY referrals_erase_due"
                   "   WHERE erased_ms = 0 AND final_ms > 0)",
        [S_OFFERS_OPEN] = "SELECT " COLS " FROM referrals INDEXED BY referrals_status_seq"
                          " WHERE status = " ASSIGNED,
        [S_FORWARDS] = "SELECT target, count FROM forward_counts WHERE count > 0"
                       " ORDER BY count DESC, target",
        [S_REASON_COUNTS] = "SELECT change, code, count FROM reason_counts WHERE count > 0"
                            " ORDER BY change, code",
        [S_ERASE] = "UPDATE referrals SET content = ?2, trace = ?3, erased_ms = ?4"
                    " WHERE rowid = ?1",
        [S_DUE_ERASE] = "SELECT " COLS " FROM referrals INDEXED BY referrals_erase_due"
                        " WHERE erased_ms = 0 AND final_ms > 0"
                        " AND final_ms <= ?1 ORDER BY final_ms LIMIT ?2",
        [S_WAIT_OLDEST] = "SELECT coalesce(min(received_ms), 0) FROM referrals"
                          " INDEXED BY referrals_waiting_since WHERE status = " WAITLISTED,
        [S_ROUTING_IN_FORCE] = "SELECT digest FROM routing_in_force WHERE until_ms = 0"
                               " ORDER BY n DESC LIMIT 1",
        [S_ROUTING_END] = "UPDATE routing_in_force SET until_ms = ?1 WHERE until_ms = 0",
        [S_ROUTING_KEEP] = "INSERT INTO routing_files (digest, text) VALUES (?1, ?2)"
                           " ON CONFLICT (digest) DO NOTHING",
        [S_ROUTING_BEGIN] = "INSERT INTO routing_in_force (digest, source, from_ms)"
                            " VALUES (?1, ?2, ?3)",
        [S_ROUTING_HISTORY] = "SELECT n, digest, source, from_ms, until_ms FROM routing_in_force"
                              " ORDER BY n",
        [S_ROUTING_TEXT] = "SELECT text FROM routing_files WHERE digest = ?1",
};
RD_TABLE_COVERS(sq_stmt_sql, S__MAX);
