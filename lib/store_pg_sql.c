/* store_pg_sql.c: the SQL of the PostgreSQL driver, all of it: the schema
 * migrations and every statement the driver prepares on a connection. The
 * tables are those of the SQLite driver (docs/architecture.md, "The
 * store"), in PostgreSQL's types, plus two of this driver's own: rd_schema
 * (the schema version) and rd_counter (the newest seq and row id). */
#include "macro.h"
#include "store_pg.h"

/* Schema migrations: PG_MIGRATIONS[i] takes rd_schema.version from i to
 * i + 1 (store_pg_conn.c runs each in its own transaction and sets the
 * version). Never edit a released step; append a new one. Released steps
 * spell status numbers out; the static assertion below holds them to enum
 * rd_status. */
const char *const pg_migrations[] = {
        /* 0 -> 1 */
        "CREATE TABLE rd_schema (version integer NOT NULL);"
        "INSERT INTO rd_schema VALUES (0);"
        /* the newest seq and referral row id: advanced in the transaction
         * that uses them, and checked at its begin (P_FENCE), so that seq
         * stays gap-free and in commit order whoever writes; and the epoch
         * of leadership (daemon.md rev 2, "Several daemons"), advanced by
         * each daemon that takes the lead and checked by the same fence */
        "CREATE TABLE rd_counter (seq bigint NOT NULL, last_rowid bigint NOT NULL,"
        "  epoch bigint NOT NULL DEFAULT 0);"
        "INSERT INTO rd_counter VALUES (0, 0, 0);"
        "CREATE TABLE referrals ("
        "  rowid bigint PRIMARY KEY,"
        "  partner text NOT NULL,"
        "  ref text NOT NULL,"
        "  digest text NOT NULL,"
        "  received_ms bigint NOT NULL,"
        "  content text," /* the referral as JSON, personal data included */
        "  status integer NOT NULL,"
        "  rule text NOT NULL DEFAULT '',"
        "  team text NOT NULL DEFAULT '',"
        "  connector text NOT NULL DEFAULT '',"
        "  start_by_ms bigint NOT NULL DEFAULT 0,"
        "  expected_start_ms bigint NOT NULL DEFAULT 0,"
        "  offered_ms bigint NOT NULL DEFAULT 0,"
        "  offer_expires_ms bigint NOT NULL DEFAULT 0,"
        "  started_ms bigint NOT NULL DEFAULT 0,"
        "  expected_end_ms bigint NOT NULL DEFAULT 0,"
        "  forward_to text NOT NULL DEFAULT '',"
        "  reason text NOT NULL DEFAULT '',"
        "  trace text,"
        "  rules_digest text NOT NULL DEFAULT '',"
        "  last_seq bigint NOT NULL DEFAULT 0,"
        "  urgency integer NOT NULL DEFAULT 0,"
        "  first_offered_ms bigint NOT NULL DEFAULT 0,"
        "  at_risk_fired integer NOT NULL DEFAULT 0,"
        "  missed_fired integer NOT NULL DEFAULT 0,"
        "  candidates text NOT NULL DEFAULT ''," /* waitlisted: who may take it */
        "  final_ms bigint NOT NULL DEFAULT 0,"  /* when it reached a final status */
        "  erased_ms bigint NOT NULL DEFAULT 0,"
        /* a waiting referral's attention (1 all_declined, 2 no_candidate)
         * and the teams of its first-rank candidates; the connector and team
         * of the current or last offer (list by connector and team) */
        "  attention integer NOT NULL DEFAULT 0,"
        "  wait_teams text NOT NULL DEFAULT '',"
        "  last_connector text NOT NULL DEFAULT '',"
        "  last_team text NOT NULL DEFAULT '',"
        "  UNIQUE (partner, ref));"
        "CREATE INDEX referrals_last_seq ON referrals (last_seq);"
        "CREATE INDEX referrals_open ON referrals (status) WHERE status IN (1, 2, 4, 5);"
        /* deadlines: the loop asks for the earliest of each kind */
        "CREATE INDEX referrals_offer_due ON referrals (offer_expires_ms, rowid)"
        "  WHERE status = 1 AND offer_expires_ms > 0;"
        "CREATE INDEX referrals_at_risk_due ON referrals (start_by_ms, rowid)"
        "  WHERE status IN (1, 2, 4) AND at_risk_fired = 0 AND start_by_ms > 0;"
        "CREATE INDEX referrals_missed_due ON referrals (start_by_ms, rowid)"
        "  WHERE status IN (1, 2, 4) AND missed_fired = 0 AND start_by_ms > 0;"
        "CREATE INDEX referrals_erase_due ON referrals (final_ms, rowid)"
        "  WHERE erased_ms = 0 AND final_ms > 0;"
        /* the waitlist in its order (the hub reads its head from it) */
        "CREATE INDEX referrals_waiting ON referrals (urgency DESC, start_by_ms, rowid)"
        "  WHERE status = 2;"
        /* the columns `stats` counts */
        "CREATE INDEX referrals_figures ON referrals (status, forward_to, received_ms,"
        "  first_offered_ms, started_ms, start_by_ms);"
        /* an index per list filter, each in the order of the latest event */
        "CREATE INDEX referrals_status_seq ON referrals (status, last_seq);"
        "CREATE INDEX referrals_connector_seq ON referrals (last_connector, last_seq)"
        "  WHERE last_connector <> '';"
        "CREATE INDEX referrals_team_seq ON referrals (last_team, last_seq) WHERE last_team <> '';"
        "CREATE INDEX referrals_attention ON referrals (last_seq) WHERE attention > 0;"
        "CREATE INDEX referrals_missed ON referrals (start_by_ms) WHERE missed_fired = 1;"
        "CREATE TABLE offered (" /* every connector ever offered a referral */
        "  connector text NOT NULL,"
        "  referral bigint NOT NULL,"
        "  PRIMARY KEY (connector, referral));"
        "CREATE TABLE audit (" /* who read personal data or changed what; never the data */
        "  n bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        "  at_ms bigint NOT NULL,"
        "  client text NOT NULL,"
        "  role text NOT NULL,"
        "  action text NOT NULL,"
        "  referral text NOT NULL DEFAULT '');"
        "CREATE INDEX audit_at ON audit (at_ms);"
        "CREATE TABLE declines (" /* who declined or let an offer lapse */
        "  referral bigint NOT NULL,"
        "  connector text NOT NULL,"
        "  PRIMARY KEY (referral, connector));"
        "CREATE TABLE events ("
        "  seq bigint PRIMARY KEY,"
        "  referral bigint,"
        "  body text NOT NULL);"
        "CREATE INDEX events_referral ON events (referral) WHERE referral IS NOT NULL;"
        "CREATE TABLE offer_counts (connector text PRIMARY KEY, count bigint NOT NULL);"
        "CREATE TABLE round_robin (rule text PRIMARY KEY, connector text NOT NULL);"
        /* the waiting referrals counted by candidates and urgency (the
         * forecast of a new referral: those of a higher urgency come before
         * it, of a lower one after it), each set with the latest start_by
         * it has had since it was last empty, kept by a trigger so that it
         * cannot drift; and an index to count those of one set before a
         * place in the list */
        "CREATE TABLE waiting_sets ("
        "  candidates text NOT NULL,"
        "  urgency integer NOT NULL,"
        "  count bigint NOT NULL,"
        "  latest_start_by bigint NOT NULL,"
        "  PRIMARY KEY (candidates, urgency));"
        "CREATE FUNCTION waiting_sets_follow() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN"
        "  IF TG_OP <> 'INSERT' AND OLD.status = 2 THEN"
        "   UPDATE waiting_sets SET count = count - 1"
        "    WHERE candidates = OLD.candidates AND urgency = OLD.urgency;"
        "   DELETE FROM waiting_sets"
        "    WHERE candidates = OLD.candidates AND urgency = OLD.urgency AND count <= 0;"
        "  END IF;"
        "  IF TG_OP <> 'DELETE' AND NEW.status = 2 THEN"
        "   INSERT INTO waiting_sets VALUES (NEW.candidates, NEW.urgency, 1, NEW.start_by_ms)"
        "    ON CONFLICT (candidates, urgency) DO UPDATE SET count = waiting_sets.count + 1,"
        "    latest_start_by = greatest(waiting_sets.latest_start_by,"
        "     excluded.latest_start_by);"
        "  END IF;"
        "  RETURN NULL;"
        " END $$;"
        "CREATE TRIGGER waiting_in AFTER INSERT ON referrals FOR EACH ROW"
        "  WHEN (NEW.status = 2) EXECUTE FUNCTION waiting_sets_follow();"
        "CREATE TRIGGER waiting_change AFTER UPDATE OF status, candidates, urgency, start_by_ms"
        "  ON referrals FOR EACH ROW WHEN (OLD.status = 2 OR NEW.status = 2)"
        "  EXECUTE FUNCTION waiting_sets_follow();"
        "CREATE TRIGGER waiting_out AFTER DELETE ON referrals FOR EACH ROW"
        "  WHEN (OLD.status = 2) EXECUTE FUNCTION waiting_sets_follow();"
        "CREATE INDEX referrals_waiting_sets ON referrals (candidates, urgency, start_by_ms, rowid)"
        "  WHERE status = 2;"
        /* facts about the whole database, such as the routing file every
         * waiting referral's candidates were worked out with */
        "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);"
        /* a client's reasons for a change: the code, and free text that is
         * personal data (NULL once erased) */
        "CREATE TABLE reasons ("
        "  n bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        "  referral bigint NOT NULL,"
        "  at_ms bigint NOT NULL,"
        "  change text NOT NULL,"
        "  connector text NOT NULL DEFAULT '',"
        "  reason_code text,"
        "  reason text);"
        "CREATE INDEX reasons_referral ON reasons (referral);"
        "CREATE INDEX reasons_code ON reasons (change, reason_code);"
        /* the routing files that have been in force (daemon.md rev 2): each
         * text once, under its digest (libyaml reads UTF-8 without NUL
         * only: text holds it), and the periods in force, the one in force
         * with until_ms 0 */
        "CREATE TABLE routing_files (digest text PRIMARY KEY, text text NOT NULL);"
        "CREATE TABLE routing_in_force ("
        "  n bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        "  digest text NOT NULL REFERENCES routing_files (digest),"
        "  source text NOT NULL,"
        "  from_ms bigint NOT NULL,"
        "  until_ms bigint NOT NULL DEFAULT 0);",
        /* 1 -> 2: `stats` in constant time, as the SQLite driver's schema 7
         * keeps it (store.h, rd_store_figures): the figures as counts, kept
         * by triggers in the transaction of every change, so that they
         * cannot drift; filled here from the rows. tallies: a count per
         * figure and key:
         *   1 status     KEY: the status; referrals in it
         *   2 to_offer   KEY: the bucket in ms (rd_duration_bucket, as
         *                store.h's rd_store_duration_bucket) of receipt to
         *                first offer; referrals offered
         *   3 to_start   the same, receipt to start; referrals started
         *   4 in_time    KEY 0: started no later than their start_by
         *   5 missed     KEY 0: referral.window_missed fired
         *   6 attention  KEY 0: referrals with an attention
         * forward_counts: referrals now forwarded (status 3), by target;
         * reason_counts: the reasons kept, by change and code ('': none).
         * Counts that fall to 0 stay as rows (the readers skip them). A
         * change of a referral does not update its tallies in place: its
         * trigger appends to tally_deltas, which the driver folds into
         * tallies before each commit (P_FOLD), and the readers add what is
         * not folded yet. (One row updated many times in one transaction
         * keeps every version until it ends, and each update walks them
         * all: a start that serves 20,000 waiting referrals took minutes.)
         * And
         * the indexes as the SQLite driver's schemas 8 and 9 have them:
         * the waiting referrals by receipt (the oldest), one index for
         * both windows (a window whose missed event fired is watched no
         * more), and none that only `stats` read or that nothing reads. */
        "CREATE FUNCTION rd_duration_bucket(ms bigint) RETURNS bigint LANGUAGE sql IMMUTABLE"
        "  RETURN CASE WHEN ms <= 0 THEN 0"
        "   ELSE ms - ms % (10::numeric ^ greatest(length(ms::text) - 3, 0))::bigint END;"
        "CREATE TABLE tallies (figure integer NOT NULL, key bigint NOT NULL,"
        "  count bigint NOT NULL, PRIMARY KEY (figure, key));"
        "CREATE TABLE tally_deltas (figure integer NOT NULL, key bigint NOT NULL, d bigint NOT "
        "NULL);"
        "CREATE TABLE forward_counts (target text PRIMARY KEY, count bigint NOT NULL);"
        "CREATE TABLE reason_counts (change text NOT NULL, code text NOT NULL,"
        "  count bigint NOT NULL, PRIMARY KEY (change, code));"
        /* what the row R counts for, each by SIGN */
        "CREATE FUNCTION tallies_of(r referrals, sign bigint)"
        "  RETURNS TABLE (figure integer, key bigint, d bigint) LANGUAGE sql IMMUTABLE AS $$"
        "  SELECT 1, r.status::bigint, sign"
        "  UNION ALL SELECT 2, rd_duration_bucket(r.first_offered_ms - r.received_ms), sign"
        "   WHERE r.first_offered_ms > 0"
        "  UNION ALL SELECT 3, rd_duration_bucket(r.started_ms - r.received_ms), sign"
        "   WHERE r.started_ms > 0"
        "  UNION ALL SELECT 4, 0, sign WHERE r.started_ms > 0 AND r.started_ms <= r.start_by_ms"
        "  UNION ALL SELECT 5, 0, sign WHERE r.missed_fired = 1"
        "  UNION ALL SELECT 6, 0, sign WHERE r.attention > 0 $$;"
        "INSERT INTO tallies SELECT t.figure, t.key, sum(t.d) FROM referrals r, tallies_of(r, 1) t"
        "  GROUP BY 1, 2;"
        "INSERT INTO forward_counts SELECT forward_to, count(*) FROM referrals WHERE status = 3"
        "  GROUP BY forward_to;"
        "INSERT INTO reason_counts SELECT change, coalesce(reason_code, ''), count(*)"
        "  FROM reasons GROUP BY 1, 2;"
        /* a change of a row: the old row's counts out, the new row's in */
        "CREATE FUNCTION tallies_follow() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN"
        "  INSERT INTO tally_deltas"
        "   SELECT * FROM tallies_of(OLD, -1) WHERE TG_OP <> 'INSERT'"
        "   UNION ALL SELECT * FROM tallies_of(NEW, 1) WHERE TG_OP <> 'DELETE';"
        "  RETURN NULL;"
        " END $$;"
        "CREATE TRIGGER tallies_in_out AFTER INSERT OR DELETE ON referrals FOR EACH ROW"
        "  EXECUTE FUNCTION tallies_follow();"
        "CREATE TRIGGER tallies_change AFTER UPDATE ON referrals FOR EACH ROW"
        "  WHEN (OLD.status <> NEW.status OR OLD.received_ms <> NEW.received_ms"
        "   OR OLD.first_offered_ms <> NEW.first_offered_ms OR OLD.started_ms <> NEW.started_ms"
        "   OR OLD.start_by_ms <> NEW.start_by_ms OR OLD.missed_fired <> NEW.missed_fired"
        "   OR OLD.attention <> NEW.attention)"
        "  EXECUTE FUNCTION tallies_follow();"
        "CREATE FUNCTION forwards_follow() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN"
        "  INSERT INTO forward_counts"
        "   SELECT x.t, sum(x.d) FROM ("
        "    SELECT OLD.forward_to, -1 WHERE TG_OP <> 'INSERT' AND OLD.status = 3"
        "    UNION ALL SELECT NEW.forward_to, 1 WHERE TG_OP <> 'DELETE' AND NEW.status = 3)"
        "    x (t, d)"
        "   GROUP BY x.t HAVING sum(x.d) <> 0"
        "  ON CONFLICT (target) DO UPDATE SET count = forward_counts.count + excluded.count;"
        "  RETURN NULL;"
        " END $$;"
        "CREATE TRIGGER forwards_in AFTER INSERT ON referrals FOR EACH ROW"
        "  WHEN (NEW.status = 3) EXECUTE FUNCTION forwards_follow();"
        "CREATE TRIGGER forwards_out AFTER DELETE ON referrals FOR EACH ROW"
        "  WHEN (OLD.status = 3) EXECUTE FUNCTION forwards_follow();"
        "CREATE TRIGGER forwards_change AFTER UPDATE OF status, forward_to ON referrals"
        "  FOR EACH ROW WHEN ((OLD.status = 3 OR NEW.status = 3)"
        "   AND (OLD.status <> NEW.status OR OLD.forward_to <> NEW.forward_to))"
        "  EXECUTE FUNCTION forwards_follow();"
        "CREATE FUNCTION reasons_follow() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN"
        "  INSERT INTO reason_counts"
        "   SELECT x.c, x.k, sum(x.d) FROM ("
        "    SELECT OLD.change, coalesce(OLD.reason_code, ''), -1 WHERE TG_OP <> 'INSERT'"
        "    UNION ALL SELECT NEW.change, coalesce(NEW.reason_code, ''), 1"
        "     WHERE TG_OP <> 'DELETE') x (c, k, d)"
        "   GROUP BY x.c, x.k HAVING sum(x.d) <> 0"
        "  ON CONFLICT (change, code) DO UPDATE SET count = reason_counts.count + excluded.count;"
        "  RETURN NULL;"
        " END $$;"
        "CREATE TRIGGER reasons_follow AFTER INSERT OR DELETE OR UPDATE OF change, reason_code"
        "  ON reasons FOR EACH ROW EXECUTE FUNCTION reasons_follow();"
        "CREATE INDEX referrals_waiting_since ON referrals (received_ms) WHERE status = 2;"
        "DROP INDEX referrals_at_risk_due;"
        "DROP INDEX referrals_missed_due;"
        "CREATE INDEX referrals_window_due ON referrals (at_risk_fired, start_by_ms, rowid)"
        "  WHERE status IN (1, 2, 4) AND missed_fired = 0 AND start_by_ms > 0;"
        "DROP INDEX referrals_open;"
        "DROP INDEX referrals_figures;"
        "DROP INDEX referrals_missed;"
        "DROP INDEX audit_at;"
        /* a referral's events in seq order, as SQLite's index on referral
         * gives them (its rowid is seq): get reads the newest of a long
         * history without a sort */
        "DROP INDEX events_referral;"
        "CREATE INDEX events_referral ON events (referral, seq) WHERE referral IS NOT NULL;",
};
const size_t pg_n_migrations = RD_ELEMENTSOF(pg_migrations);

/* Status numbers in the database are enum rd_status: statements name them
 * through these, never by number. */
#define PG_STR_(x) #x
#define PG_STR(x) PG_STR_(x)
#define N_ASSIGNED 1
#define N_WAITLISTED 2
#define N_FORWARDED 3
#define N_ACCEPTED 4
#define N_STARTED 5
_Static_assert(N_ASSIGNED == RD_STATUS_ASSIGNED && N_WAITLISTED == RD_STATUS_WAITLISTED &&
                       N_FORWARDED == RD_STATUS_FORWARDED && N_ACCEPTED == RD_STATUS_ACCEPTED &&
                       N_STARTED == RD_STATUS_STARTED,
               "status numbers are stored: the statements and the released migrations "
               "(referrals_open, the deadline indexes, the waitlist trigger) use them");
#define ASSIGNED PG_STR(N_ASSIGNED)
#define WAITLISTED PG_STR(N_WAITLISTED)
#define ACCEPTED PG_STR(N_ACCEPTED)
#define STARTED PG_STR(N_STARTED)
/* held by a connector: what counts towards its load */
#define HELD "(" ASSIGNED ", " ACCEPTED ", " STARTED ")"
/* open and not started: a window to watch (as referrals_window_due says it) */
#define WATCHED "(" ASSIGNED ", " WAITLISTED ", " ACCEPTED ")"

/* WHAT of the referrals whose window is watched (referrals_window_due,
 * migration 1 -> 2) and whose at-risk event has fired (AT_RISK "1") or
 * not ("0"); the missed event has not */
/* clang-format off */
#define WINDOW_DUE(what, at_risk) \
        "SELECT " what " FROM referrals WHERE status IN " WATCHED \
        " AND missed_fired = 0 AND start_by_ms > 0 AND at_risk_fired = " at_risk
/* those due by $1, earliest first, at most $2 */
#define DUE_WINDOW(at_risk) \
        "(" WINDOW_DUE(COLS, at_risk) " AND start_by_ms <= $1 ORDER BY start_by_ms, rowid LIMIT $2)"
/* the first start_by of those not at risk yet (each the first entry of
 * its range: min() without statistics makes the planner read them all) */
#define NEXT_WINDOW(at_risk) \
        "(" WINDOW_DUE("start_by_ms", at_risk) " ORDER BY start_by_ms LIMIT 1)"
/* those due by $1 whose missed event has not fired, at risk or not:
 * both ranges, merged in the order of start_by */
#define DUE_MISSED \
        DUE_WINDOW("0") " UNION ALL " DUE_WINDOW("1") " ORDER BY start_by_ms, rowid LIMIT $2"
/* the first start_by of those not at risk yet, and of those not missed yet */
#define NEXT_AT_RISK NEXT_WINDOW("0")
#define NEXT_MISSED "least(" NEXT_WINDOW("0") ", " NEXT_WINDOW("1") ")"
/* clang-format on */

/* The figures of `stats` in the table tallies (migration 1 -> 2): the
 * number of each, as the released step spells it. */
#define FIG_STATUS "1"
#define FIG_TO_START "3"
#define FIG_IN_TIME "4"
#define FIG_MISSED "5"
#define FIG_ATTENTION "6"
_Static_assert(PG_FIG_STATUS == 1 && PG_FIG_TO_OFFER == 2 && PG_FIG_TO_START == 3 &&
                       PG_FIG_IN_TIME == 4 && PG_FIG_MISSED == 5 && PG_FIG_ATTENTION == 6,
               "the figures' numbers are stored (migration 1 -> 2)");
/* The counts of figure F by key (a row source named k): those folded into
 * tallies and those not yet (tally_deltas: the open transaction's) */
#define FIGURE(f)                                                                                  \
        "(SELECT key, sum(count) AS count FROM (SELECT key, count FROM tallies WHERE figure = " f  \
        " UNION ALL SELECT key, d FROM tally_deltas WHERE figure = " f ") u GROUP BY key) k"
/* the sum of the counts of figure F */
#define FIG_SUM(f) "(SELECT coalesce(sum(count), 0) FROM " FIGURE(f) ")"

#define COLS                                                                                       \
        "rowid, partner, ref, digest, received_ms, status, rule, team, connector, start_by_ms, "   \
        "expected_start_ms, offered_ms, offer_expires_ms, started_ms, expected_end_ms, "           \
        "forward_to, reason, last_seq, urgency, first_offered_ms, at_risk_fired, missed_fired, "   \
        "final_ms, erased_ms, attention"

_Static_assert(RD_ATTENTION_NONE == 0, "attention > 0 is stored for a waiting referral that needs "
                                       "a coordinator (the index referrals_attention)");

/* `list` (rd_store_list): every filter, with its parameters: $1 since, $3
 * the statuses (a bit per status; 0: any), $4 connector, $5 team (NULL:
 * any), $6 attention (1: only those), $7 the viewer (0 all, 1 a partner, 2
 * a connector) and $8 its id. Each list statement leads with the filter of
 * its own index, in the order of the latest event, as the SQLite driver's
 * do, and checks the others on the rows it yields; $2 is the limit. */
#define LIST_FILTERS                                                                               \
        " last_seq > $1 AND ($3::integer = 0 OR (($3::integer >> status) & 1) = 1)"                \
        " AND ($4::text IS NULL OR last_connector = $4::text)"                                     \
        " AND ($5::text IS NULL OR CASE WHEN status = " WAITLISTED                                 \
        "   THEN position(' ' || $5::text || ' ' IN ' ' || wait_teams || ' ') > 0"                 \
        "   ELSE last_team = $5::text END)"                                                        \
        " AND ($6::integer = 0 OR attention > 0)"                                                  \
        " AND ($7::integer = 0 OR ($7::integer = 1 AND (partner = $8::text OR forward_to = "       \
        "$8::text))"                                                                               \
        "   OR ($7::integer = 2 AND rowid IN (SELECT referral FROM offered"                        \
        "     WHERE connector = $8::text)))"
#define LIST_SELECT "SELECT " COLS " FROM referrals WHERE"
#define LIST_ORDER " ORDER BY last_seq LIMIT $2"
/* clang-format off */
#define LIST_OFFERED \
        LIST_SELECT " rowid IN (SELECT referral FROM offered WHERE connector = $8::text) AND"
#define LIST_ATTENTION LIST_SELECT " attention > 0 AND"
#define LIST_CONNECTOR LIST_SELECT " last_connector = $4::text AND last_connector <> '' AND"
/* by team: the offers of the team, and the waiting referrals (whose teams
 * are those of their candidates), merged in seq order */
#define LIST_TEAM_OFFERS \
        "(" LIST_SELECT " last_team = $5::text AND last_team <> '' AND status <> " WAITLISTED \
        " AND ($3::integer = 0 OR ($3::integer & ~(1 << " WAITLISTED ")) <> 0) AND" LIST_FILTERS \
        LIST_ORDER ")"
#define LIST_TEAM_WAITING \
        "(" LIST_SELECT " status = " WAITLISTED \
        " AND ($3::integer = 0 OR (($3::integer >> " WAITLISTED ") & 1) = 1) AND" LIST_FILTERS \
        LIST_ORDER ")"
/* one arm per status asked for ($9 .. $15; -1: none), merged in seq order */
#define LIST_STATUS_ARM(n) "(" LIST_SELECT " status = $" #n "::integer AND" LIST_FILTERS LIST_ORDER ")"
#define UNION " UNION ALL "
#define LIST_STATUS_ARMS \
        LIST_STATUS_ARM(9) UNION LIST_STATUS_ARM(10) UNION LIST_STATUS_ARM(11) UNION \
        LIST_STATUS_ARM(12) UNION LIST_STATUS_ARM(13) UNION LIST_STATUS_ARM(14) UNION \
        LIST_STATUS_ARM(15)
/* clang-format on */

/* A new referral, $1 to $24 (P_INSERT, P_INSERT2). */
#define INSERT_REFERRAL                                                                            \
        "INSERT INTO referrals (rowid, partner, ref, digest, received_ms, content, status,"        \
        " urgency, rule, team, connector, start_by_ms, expected_start_ms, offered_ms,"             \
        " offer_expires_ms, first_offered_ms, forward_to, reason, final_ms, trace, rules_digest,"  \
        " candidates, last_seq, attention, wait_teams, last_team, last_connector)"                 \
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $14, $16,"     \
        " $17, $18, $19, $20, $21, $22, $23, $24, $10, $11)"

/* Parameters are sent as text: each is cast where the server could not
 * tell its type from where it stands. Every statement of several rows has
 * an order (ties broken by rowid, text in bytes: COLLATE "C"), the one the
 * SQLite driver's indexes give: the hub emits events in the order it reads
 * rows, and the same requests must make the same events on either store. */
const char *const pg_stmt_sql[P__MAX] = {
        [P_BEGIN] = "BEGIN",
        [P_COMMIT] = "COMMIT",
        [P_ROLLBACK] = "ROLLBACK",
        [P_COUNTERS] = "SELECT seq, last_rowid, epoch FROM rd_counter",
        /* Take the lead (store_pg_lead.c): the session's advisory lock,
         * never on a server in recovery (locks are not replicated: a lock
         * taken there would still be held after a promotion), and, when it
         * was taken, the next epoch: whether it was, and the counters (as
         * the update left them, or as committed when another session holds
         * the lock). The lock's key is the constant $1 in its high half and
         * the oid of this schema's rd_counter in its low half: daemons of
         * different schemas of one database never compete. */
        [P_LEAD] = "WITH l AS (SELECT CASE WHEN pg_is_in_recovery() THEN false"
                   " ELSE pg_try_advisory_lock(($1::bigint << 32)"
                   " | 'rd_counter'::regclass::oid::bigint) END AS got),"
                   " u AS (UPDATE rd_counter SET epoch = epoch + 1 FROM l WHERE l.got"
                   " RETURNING seq, last_rowid, epoch)"
                   " SELECT l.got, coalesce(u.seq, c.seq), coalesce(u.last_rowid, c.last_rowid),"
                   " coalesce(u.epoch, c.epoch) FROM l CROSS JOIN rd_counter c LEFT JOIN u ON true",
        /* the tools' copy (store_pg_copy.c): one snapshot, every table the
         * SQLite driver's schema has too, its columns by the same names
         * (waiting_sets: its triggers keep it there) */
        [P_BEGIN_SNAPSHOT] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        [P_COPY_REFERRALS] =
                "SELECT " COLS ", content, trace, rules_digest, candidates, wait_teams,"
                " last_connector, last_team FROM referrals",
        [P_COPY_EVENTS] = "SELECT seq, referral, body FROM events",
        [P_COPY_OFFERED] = "SELECT connector, referral FROM offered",
        [P_COPY_DECLINES] = "SELECT referral, connector FROM declines",
        [P_COPY_OFFER_COUNTS] = "SELECT connector, count FROM offer_counts",
        [P_COPY_ROUND_ROBIN] = "SELECT rule, connector FROM round_robin",
        [P_COPY_META] = "SELECT key, value FROM meta",
        [P_COPY_AUDIT] = "SELECT n, at_ms, client, role, action, referral FROM audit",
        [P_COPY_REASONS] = "SELECT n, referral, at_ms, change, connector, reason_code, reason"
                           " FROM reasons",
        [P_COPY_ROUTING_FILES] = "SELECT digest, text FROM routing_files",
        [P_COPY_ROUTING_IN_FORCE] = "SELECT n, digest, source, from_ms, until_ms"
                                    " FROM routing_in_force",
        /* The first statement of every writing transaction: it locks the
         * counter row until the commit (another writer waits here), and
         * fails (seq may not be NULL) unless the counters are what this
         * connection last committed or read, and the epoch is the one this
         * connection took the lead in (or read, when it never led): a
         * daemon that lost its lead can never commit. */
        [P_FENCE] = "UPDATE rd_counter SET seq = CASE WHEN seq = $1::bigint"
                    " AND last_rowid = $2::bigint AND epoch = $3::bigint THEN seq END",
        /* Before COMMIT: the transaction's tally_deltas folded into tallies
         * (migration 1 -> 2), one update per figure and key */
        [P_FOLD] =
                "WITH d AS (DELETE FROM tally_deltas RETURNING figure, key, d)"
                " INSERT INTO tallies SELECT figure, key, sum(d) FROM d GROUP BY 1, 2"
                " HAVING sum(d) <> 0"
                " ON CONFLICT (figure, key) DO UPDATE SET count = tallies.count + excluded.count",
        /* The last before COMMIT: the counters as the transaction leaves them. */
        [P_ADVANCE] = "UPDATE rd_counter SET seq = $1::bigint, last_rowid = $2::bigint",
        [P_FIND] = "SELECT " COLS " FROM referrals WHERE partner = $1 AND ref = $2",
        [P_GET] = "SELECT " COLS " FROM referrals WHERE rowid = $1",
        [P_CONTENT] = "SELECT content, trace, rules_digest FROM referrals WHERE rowid = $1",
        [P_INSERT] = INSERT_REFERRAL,
        /* a new referral and its two events (received, the decision): one
         * statement instead of three */
        [P_INSERT2] = "WITH r AS (" INSERT_REFERRAL ")"
                      " INSERT INTO events (seq, referral, body)"
                      " VALUES ($25, $1, $26), ($27, $1, $28)",
        [P_UPDATE] = "UPDATE referrals SET status = $2, rule = $3, team = $4, connector = $5,"
                     " start_by_ms = $6, expected_start_ms = $7, offered_ms = $8,"
                     " offer_expires_ms = $9, started_ms = $10, expected_end_ms = $11,"
                     " forward_to = $12, reason = $13,"
                     " first_offered_ms = CASE WHEN first_offered_ms = 0 THEN $8"
                     "   ELSE first_offered_ms END,"
                     " at_risk_fired = $14, missed_fired = $15, final_ms = $16, attention = $17,"
                     " last_connector = CASE WHEN $5 <> '' THEN $5 ELSE last_connector END,"
                     " last_team = CASE WHEN $5 <> '' THEN $4 ELSE last_team END"
                     " WHERE rowid = $1",
        [P_TRACE] = "UPDATE referrals SET trace = $2, rules_digest = $3 WHERE rowid = $1",
        [P_EVENT] = "INSERT INTO events (seq, referral, body) VALUES ($1, $2, $3)",
        [P_LAST_SEQ_OF] = "UPDATE referrals SET last_seq = $2 WHERE rowid = $1",
        [P_EVENTS] = "SELECT body FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
        /* the newest $2 in order: read back from the end of the referral's
         * range of events_referral, then turned */
        [P_HISTORY] = "SELECT body FROM (SELECT seq, body FROM events WHERE referral = $1"
                      "  ORDER BY seq DESC LIMIT $2) t ORDER BY seq",
        [P_HISTORY_COUNT] = "SELECT count(*) FROM events WHERE referral = $1",
        [P_LIST_SEQ] = LIST_SELECT LIST_FILTERS LIST_ORDER,
        [P_LIST_OFFERED] = LIST_OFFERED LIST_FILTERS LIST_ORDER,
        [P_LIST_ATTENTION] = LIST_ATTENTION LIST_FILTERS LIST_ORDER,
        [P_LIST_CONNECTOR] = LIST_CONNECTOR LIST_FILTERS LIST_ORDER,
        [P_LIST_TEAM] = LIST_TEAM_OFFERS UNION LIST_TEAM_WAITING LIST_ORDER,
        [P_LIST_STATUS] = LIST_STATUS_ARMS LIST_ORDER,
        [P_EVENTS_PARTNER] = "SELECT e.body FROM events e JOIN referrals r ON r.rowid = e.referral"
                             " WHERE e.seq > $1 AND (r.partner = $3 OR r.forward_to = $3)"
                             " ORDER BY e.seq LIMIT $2",
        [P_EVENTS_CONNECTOR] = "SELECT body FROM events WHERE seq > $1 AND referral IN"
                               " (SELECT referral FROM offered WHERE connector = $3)"
                               " ORDER BY seq LIMIT $2",
        [P_OFFERED_ADD] = "INSERT INTO offered (connector, referral) VALUES ($1, $2)"
                          " ON CONFLICT DO NOTHING",
        [P_OFFERED_HAS] = "SELECT 1 FROM offered WHERE connector = $1 AND referral = $2",
        [P_AUDIT_ADD] = "INSERT INTO audit (at_ms, client, role, action, referral)"
                        " VALUES ($1, $2, $3, $4, $5)",
        [P_AUDIT_LIST] = "SELECT n, at_ms, client, role, action, referral FROM audit"
                         " WHERE n > $1 AND ($3::text = '' OR referral = $3::text)"
                         " ORDER BY n LIMIT $2",
        /* the audit trail is appended in time order: the entries below the
         * first one inside the retention (store.h, rd_store_audit_purge) */
        [P_AUDIT_PURGE] = "DELETE FROM audit WHERE n < coalesce("
                          "(SELECT n FROM audit WHERE at_ms >= $1 ORDER BY n LIMIT 1),"
                          " (SELECT max(n) + 1 FROM audit))",
        /* the figures of `stats`: counts (migration 1 -> 2) */
        [P_COUNTS] = "SELECT key, count FROM " FIGURE(FIG_STATUS) " WHERE count > 0",
        [P_WINDOW] =
                "SELECT " FIG_SUM(FIG_TO_START) ", " FIG_SUM(FIG_IN_TIME) ", " FIG_SUM(FIG_MISSED),
        [P_OPEN] = "SELECT " COLS " FROM referrals WHERE status IN " HELD " ORDER BY rowid",
        [P_OFFER] = "INSERT INTO offer_counts (connector, count) VALUES ($1, 1)"
                    " ON CONFLICT (connector) DO UPDATE SET count = offer_counts.count + 1",
        [P_OFFERS] = "SELECT connector, count FROM offer_counts ORDER BY connector COLLATE \"C\"",
        [P_RR_SET] = "INSERT INTO round_robin (rule, connector) VALUES ($1, $2)"
                     " ON CONFLICT (rule) DO UPDATE SET connector = excluded.connector",
        [P_RR_ALL] = "SELECT rule, connector FROM round_robin ORDER BY rule COLLATE \"C\"",
        [P_DECLINE_ADD] = "INSERT INTO declines (referral, connector) VALUES ($1, $2)"
                          " ON CONFLICT DO NOTHING",
        [P_DECLINES] = "SELECT connector FROM declines WHERE referral = $1"
                       " ORDER BY connector COLLATE \"C\"",
        [P_CANDIDATES_SET] = "UPDATE referrals SET candidates = $2, wait_teams = $3, attention = $4"
                             " WHERE rowid = $1",
        [P_REASON_ADD] = "INSERT INTO reasons (referral, at_ms, change, connector, reason_code,"
                         " reason) VALUES ($1, $2, $3, $4, $5, $6)",
        [P_REASONS] = "SELECT at_ms, change, connector, reason_code, reason FROM reasons"
                      " WHERE referral = $1 AND (reason_code IS NOT NULL OR reason IS NOT NULL)"
                      " ORDER BY n",
        [P_REASONS_ERASE] = "UPDATE reasons SET reason = NULL WHERE referral = $1"
                            " AND reason IS NOT NULL",
        [P_REASON_COUNTS] = "SELECT change, code, count FROM reason_counts WHERE count > 0"
                            " ORDER BY change COLLATE \"C\", code COLLATE \"C\" LIMIT $1",
        /* the waitlist in its order, from the head or after a place in it
         * (two statements, so that each is one range of referrals_waiting) */
        [P_WAITING_HEAD] = "SELECT " COLS ", candidates FROM referrals WHERE status = " WAITLISTED
                           " ORDER BY urgency DESC, start_by_ms, rowid LIMIT $1",
        [P_WAITING_SAME] = "SELECT " COLS ", candidates FROM referrals WHERE status = " WAITLISTED
                           " AND urgency = $2 AND (start_by_ms, rowid) > ($3::bigint, $4::bigint)"
                           " ORDER BY urgency DESC, start_by_ms, rowid LIMIT $1",
        [P_WAITING_LOWER] = "SELECT " COLS ", candidates FROM referrals WHERE status = " WAITLISTED
                            " AND urgency < $2 ORDER BY urgency DESC, start_by_ms, rowid LIMIT $1",
        [P_WAITING_SETS] = "SELECT candidates, urgency, count, latest_start_by FROM waiting_sets"
                           " WHERE count > 0 ORDER BY candidates COLLATE \"C\", urgency",
        /* how many of one set and urgency come before a place: at most $5 */
        [P_WAITING_BEFORE] =
                "SELECT count(*) FROM (SELECT 1 FROM referrals WHERE status = " WAITLISTED
                " AND candidates = $1 AND urgency = $2"
                " AND (start_by_ms, rowid) < ($3::bigint, $4::bigint) LIMIT $5) t",
        [P_META_GET] = "SELECT value FROM meta WHERE key = $1",
        [P_META_SET] = "INSERT INTO meta (key, value) VALUES ($1, $2)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [P_DUE_OFFER] = "SELECT " COLS " FROM referrals WHERE status = " ASSIGNED
                        " AND offer_expires_ms > 0 AND offer_expires_ms <= $1"
                        " ORDER BY offer_expires_ms, rowid LIMIT $2",
        /* at risk: the range at_risk_fired = 0 of referrals_window_due;
         * missed: both ranges */
        [P_DUE_AT_RISK] = DUE_WINDOW("0"),
        [P_DUE_MISSED] = DUE_MISSED,
        [P_DUE_ERASE] = "SELECT " COLS " FROM referrals WHERE erased_ms = 0 AND final_ms > 0"
                        " AND final_ms <= $1 ORDER BY final_ms, rowid LIMIT $2",
        /* each the first entry of its partial index (ORDER BY ... LIMIT 1:
         * min() without statistics makes the planner read them all) */
        [P_NEXT] = "SELECT"
                   " (SELECT offer_expires_ms FROM referrals WHERE status = " ASSIGNED
                   "   AND offer_expires_ms > 0 ORDER BY offer_expires_ms LIMIT 1),"
                   " " NEXT_AT_RISK ", " NEXT_MISSED ","
                   " (SELECT final_ms FROM referrals WHERE erased_ms = 0 AND final_ms > 0"
                   "   ORDER BY final_ms LIMIT 1)",
        [P_OFFERS_OPEN] =
                "SELECT " COLS " FROM referrals WHERE status = " ASSIGNED " ORDER BY rowid",
        /* the durations of figure $1: how many, and the nearest-rank 50th
         * and 90th percentiles of their buckets (store.h, struct
         * rd_durations): the first bucket whose running count reaches the
         * rank ceil(count * P / 100), that is count * P / 100 */
        [P_DURATIONS] =
                "WITH b AS (SELECT key, sum(count) OVER (ORDER BY key) AS so_far"
                "  FROM " FIGURE(
                        "$1::integer") " WHERE count > 0),"
                                       " n AS (SELECT coalesce(max(so_far), 0) AS total FROM b)"
                                       " SELECT total,"
                                       "  coalesce((SELECT min(key) FROM b WHERE so_far * 100 >= "
                                       "total * 50), 0),"
                                       "  coalesce((SELECT min(key) FROM b WHERE so_far * 100 >= "
                                       "total * 90), 0)"
                                       " FROM n",
        [P_FORWARDS] = "SELECT target, count FROM forward_counts WHERE count > 0"
                       " ORDER BY count DESC, target COLLATE \"C\" LIMIT $1",
        /* the waiting referrals, the receipt of the oldest (by
         * referrals_waiting_since), those with an attention */
        [P_WAIT_OLDEST] = "SELECT (SELECT coalesce(sum(count), 0) FROM " FIGURE(
                FIG_STATUS) "   WHERE key = " WAITLISTED "),"
                            " coalesce((SELECT received_ms FROM referrals WHERE status "
                            "= " WAITLISTED
                            "   ORDER BY received_ms LIMIT 1), 0), " FIG_SUM(FIG_ATTENTION),
        [P_ROUTING_IN_FORCE] = "SELECT digest FROM routing_in_force WHERE until_ms = 0"
                               " ORDER BY n DESC LIMIT 1",
        [P_ROUTING_END] = "UPDATE routing_in_force SET until_ms = $1 WHERE until_ms = 0",
        [P_ROUTING_KEEP] = "INSERT INTO routing_files (digest, text) VALUES ($1, $2)"
                           " ON CONFLICT (digest) DO NOTHING",
        [P_ROUTING_BEGIN] = "INSERT INTO routing_in_force (digest, source, from_ms)"
                            " VALUES ($1, $2, $3)",
        [P_ROUTING_HISTORY] = "SELECT n, digest, source, from_ms, until_ms FROM routing_in_force"
                              " ORDER BY n",
        [P_ROUTING_TEXT] = "SELECT text FROM routing_files WHERE digest = $1",
        [P_ERASE] = "UPDATE referrals SET content = $2, trace = $3, erased_ms = $4"
                    " WHERE rowid = $1",
};
RD_TABLE_COVERS(pg_stmt_sql, P__MAX);
