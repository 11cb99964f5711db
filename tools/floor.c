/* referral-floor: the least a server must do to answer referral-bench.
 *
 * The floor under referrald's throughput (referral-bench --floor and
 * --compare): the same transport and the same durability, and nothing else.
 * A ROUTER socket with the daemon's options (daemon/server.c: mandatory
 * routing, reply high-water mark, message size limit, linger); a SQLite file
 * with the daemon's pragmas (RD_SQLITE_PRAGMAS_FULL of lib/sqlite_pragmas.h,
 * the one definition the store's SQLite driver uses too: WAL,
 * synchronous=FULL, foreign_keys, secure_delete, temp_store in memory); one
 * table, one prepared insert. The loop is the daemon's: wait
 * until the socket is readable, drain up to 512 requests without blocking
 * (RD_BATCH_MAX), BEGIN IMMEDIATE at the first, one insert per submit, COMMIT,
 * then send every reply. No reply goes out before its row is committed.
 *
 * What "cannot be avoided" means here: the request is parsed with jansson
 * (json_loadb, duplicate keys rejected), as the daemon must parse JSON too to
 * know what it stores, and `ref` and `corr` are taken from the result; the
 * referral's other fields are neither checked nor routed, and the request
 * frame is stored as it came. The reply is written by hand (corr escaped):
 *
 *     {"ok":true,"corr":"...","id":"R<rowid>","status":"received","duplicate":false}
 *
 * A ref already stored answers the same with "duplicate":true (its content is
 * not compared). `ping` answers {"ok":true,"version":...}; any other op is
 * unknown_op, a frame that is not a JSON object is malformed. No routing,
 * events, audit trail, connectors' state, publishing or logging per request.
 *
 * The bare floor (--bare, referral-bench --bare): the same program without
 * the parsing, so that the difference of the two is the parsing alone (a
 * second binary would differ in more than that). Every frame is one row
 * (`frames`: a rowid and the frame as it came, no unique key, so no
 * duplicates are found), answered
 *
 *     {"ok":true,"corr":"...","id":"R<rowid>","status":"received","duplicate":false}
 *
 * where the corr is the text of the first `"corr":"` in the frame up to its
 * closing quote, copied as it stands (referral-bench writes it there
 * without escapes): no JSON is read. A frame that begins {"op":"ping" is a
 * ping, answered and not stored. It trusts its client: it is a measuring
 * instrument, never a server for anybody else.
 *
 * --pipeline (a prototype, docs/performance.md "A second thread"): the
 * floor with two threads, the loop receiving and parsing the next batch
 * while a writer thread inserts and commits the one before; the loop sends
 * a batch's replies once the writer says it committed. It measures what
 * decoding while the previous batch commits is worth on this machine.
 *
 * Usage: referral-floor [--bare | --pipeline] -e ENDPOINT -d DBFILE. Stops
 * on SIGTERM or SIGINT. Exit codes: 0 stopped by a signal, 1 a runtime
 * fault, 2 a usage error. */
#include "floor.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sqlite_pragmas.h"

/* ---- the database ------------------------------------------------------- */

static int prepare(struct floor *f, const char *sql, sqlite3_stmt **out)
{
        if (sqlite3_prepare_v3(f->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK) {
                tool_msg(PROG, "cannot prepare '%s': %s", sql, sqlite3_errmsg(f->db));
                return -1;
        }
        return 0;
}

/* The floor's table and its two statements: a referral by its ref, or
 * (bare) a frame by its rowid alone. */
static const char *const schema[2] = {
        "CREATE TABLE IF NOT EXISTS referrals ("
        " id INTEGER PRIMARY KEY, ref TEXT NOT NULL UNIQUE, body TEXT NOT NULL);",
        "CREATE TABLE IF NOT EXISTS frames (id INTEGER PRIMARY KEY, body BLOB NOT NULL);",
};
static const char *const insert_sql[2] = {
        "INSERT INTO referrals (ref, body) VALUES (?1, ?2)",
        "INSERT INTO frames (body) VALUES (?1)",
};

static int open_db(struct floor *f, const char *path)
{
        char *err = NULL;
        char sql[512];
        int rc;

        rc = sqlite3_open_v2(path, &f->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
        if (rc != SQLITE_OK) {
                tool_msg(PROG, "cannot open the database %s: %s", path,
                         f->db ? sqlite3_errmsg(f->db) : sqlite3_errstr(rc));
                return -1;
        }
        sqlite3_extended_result_codes(f->db, 0);
        sqlite3_busy_timeout(f->db, RD_SQLITE_BUSY_TIMEOUT_MS);
        /* exactly the store's pragmas, durable as the daemon is */
        snprintf(sql, sizeof sql, "%s%s", RD_SQLITE_PRAGMAS_FULL, schema[f->bare]);
        rc = sqlite3_exec(f->db, sql, NULL, NULL, &err);
        if (rc != SQLITE_OK) {
                tool_msg(PROG, "cannot set up the database %s: %s", path,
                         err ? err : sqlite3_errstr(rc));
                sqlite3_free(err);
                return -1;
        }
        if (prepare(f, insert_sql[f->bare], &f->insert) < 0 ||
            (!f->bare && prepare(f, "SELECT id FROM referrals WHERE ref = ?1", &f->lookup) < 0) ||
            prepare(f, "BEGIN IMMEDIATE", &f->begin) < 0 || prepare(f, "COMMIT", &f->commit) < 0 ||
            prepare(f, "ROLLBACK", &f->rollback) < 0)
                return -1;
        return 0;
}

/* Run a statement without result rows. Returns 0 or -1. */
static int run(sqlite3_stmt *st)
{
        int rc = sqlite3_step(st);

        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : -1;
}

/* Store one referral. Returns its rowid (> 0), with *DUPLICATE set when the
 * ref was stored before, or -1 on a database fault. */
static sqlite3_int64 store(struct floor *f, const char *ref, const void *body, size_t size,
                           bool *duplicate)
{
        sqlite3_int64 id = -1;
        int rc;

        *duplicate = false;
        sqlite3_bind_text(f->insert, 1, ref, -1, SQLITE_STATIC);
        sqlite3_bind_text(f->insert, 2, body, (int)size, SQLITE_STATIC);
        rc = sqlite3_step(f->insert);
        sqlite3_reset(f->insert);
        sqlite3_clear_bindings(f->insert);
        if (rc == SQLITE_DONE)
                return sqlite3_last_insert_rowid(f->db);
        if (rc != SQLITE_CONSTRAINT)
                return -1;
        /* the ref is there already: answer with its id */
        sqlite3_bind_text(f->lookup, 1, ref, -1, SQLITE_STATIC);
        if (sqlite3_step(f->lookup) == SQLITE_ROW) {
                id = sqlite3_column_int64(f->lookup, 0);
                *duplicate = true;
        }
        sqlite3_reset(f->lookup);
        sqlite3_clear_bindings(f->lookup);
        return id;
}

/* ---- replies ------------------------------------------------------------ */

/* Write `"corr":"...",` (escaped for JSON) into OUT, or nothing when CORR
 * is NULL. Returns the length written, or -1 if it does not fit. */
static int corr_field(char *out, size_t cap, const char *corr)
{
        static const char hex[] = "0123456789abcdef";
        size_t len = 0;

        if (!corr)
                return 0;
        if (cap < 12)
                return -1;
        memcpy(out, "\"corr\":\"", 8);
        len = 8;
        for (const unsigned char *p = (const unsigned char *)corr; *p; p++) {
                if (len + 8 > cap)
                        return -1;
                if (*p == '"' || *p == '\\') {
                        out[len++] = '\\';
                        out[len++] = (char)*p;
                } else if (*p < 0x20) {
                        memcpy(out + len, "\\u00", 4);
                        out[len + 4] = hex[*p >> 4];
                        out[len + 5] = hex[*p & 15];
                        len += 6;
                } else {
                        out[len++] = (char)*p; /* UTF-8 as jansson checked it */
                }
        }
        out[len++] = '"';
        out[len++] = ',';
        out[len] = '\0';
        return (int)len;
}

/* Start RQ's reply with `{"ok":true,` or `{"ok":false,` and its corr field;
 * returns the length. The rest is printed after it. */
static size_t reply_start(struct request *rq, bool ok)
{
        size_t n = ok ? 11 : 12, c = strlen(rq->corr);

        memcpy(rq->reply, ok ? "{\"ok\":true," : "{\"ok\":false,", n);
        memcpy(rq->reply + n, rq->corr, c + 1); /* REPLY_MAX leaves room for both */
        return n + c;
}

/* An error reply; CODE and MESSAGE are literals without '"' or '\\'. */
static void set_error(struct request *rq, const char *code, const char *message)
{
        size_t n = reply_start(rq, false);

        snprintf(rq->reply + n, sizeof rq->reply - n,
                 "\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
        rq->submit_ok = false;
}

/* Store the submit RQ of ref REF, the frame DATA (SIZE bytes), and write
 * its reply, which waits for the commit. *BEGAN: 1 no transaction yet, 0
 * open, -1 BEGIN failed. */
void store_submit(struct floor *f, struct request *rq, const char *ref, const void *data,
                  size_t size, int *began)
{
        sqlite3_int64 id;
        bool duplicate;
        size_t n;

        if (*began == 1)
                *began = run(f->begin);
        if (*began < 0) {
                set_error(rq, "unavailable",
                          "the database is not available; nothing was stored; retry later");
                return;
        }
        id = store(f, ref, data, size, &duplicate);
        if (id < 0) {
                set_error(rq, "internal", "the database could not store the referral");
                return;
        }
        n = reply_start(rq, true);
        snprintf(rq->reply + n, sizeof rq->reply - n,
                 "\"id\":\"R%lld\",\"status\":\"received\",\"duplicate\":%s}", (long long)id,
                 duplicate ? "true" : "false");
        rq->submit_ok = true;
}

/* Answer one request body into RQ->reply; an ok submit waits for the
 * commit (with --pipeline it is left to the writer: rq->deferred). *BEGAN:
 * 1 no transaction yet, 0 open, -1 BEGIN failed. */
static void handle(struct floor *f, struct request *rq, const void *data, size_t size, int *began)
{
        json_error_t jerr;
        json_t *req = NULL, *corr;
        const char *op, *ref;
        size_t n;

        if (size > RD_REQUEST_MAX) {
                set_error(rq, "malformed", "the request is over 64 KiB");
                return;
        }
        req = json_loadb(data, size, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(req)) {
                set_error(rq, "malformed", "a request is one JSON object");
                goto out;
        }
        corr = json_object_get(req, "corr");
        if (corr && (!json_is_string(corr) || json_string_length(corr) > RD_CORR_MAX * 4 ||
                     corr_field(rq->corr, sizeof rq->corr, json_string_value(corr)) < 0)) {
                rq->corr[0] = '\0';
                set_error(rq, "invalid", "corr must be a string of at most 128 characters");
                goto out;
        }
        op = json_string_value(json_object_get(req, "op"));
        if (op && strcmp(op, "ping") == 0) {
                n = reply_start(rq, true);
                snprintf(rq->reply + n, sizeof rq->reply - n,
                         "\"version\":\"" RD_VERSION "\",\"floor\":true}");
                goto out;
        }
        if (!op || strcmp(op, "submit") != 0) {
                set_error(rq, "unknown_op", "the floor answers submit and ping only");
                goto out;
        }
        ref = json_string_value(json_object_get(json_object_get(req, "referral"), "ref"));
        if (!ref || !*ref) {
                set_error(rq, "invalid", "referral.ref must be a string");
                goto out;
        }
        if (f->pipeline) { /* the writer stores it */
                rq->deferred = true;
                rq->req = req;
                rq->ref = ref;
                return;
        }
        store_submit(f, rq, ref, data, size, began);
out:
        json_decref(req);
}

/* The text between the quotes of the first `"corr":"` in DATA (SIZE
 * bytes), as it stands, into RQ as `"corr":"...",`; nothing when there is
 * none or it does not fit. No JSON is read: see the top of this file. */
static void bare_corr(struct request *rq, const char *data, size_t size)
{
        static const char key[] = "\"corr\":\"";
        const char *start = memmem(data, size, key, sizeof key - 1), *end;
        size_t len = 0;

        rq->corr[0] = '\0';
        if (!start)
                return;
        start += sizeof key - 1;
        end = data + size;
        while (start + len < end && start[len] != '"')
                len += start[len] == '\\' ? 2 : 1;
        if (start + len >= end || len + 12 > sizeof rq->corr)
                return;
        memcpy(rq->corr, "\"corr\":\"", 8);
        memcpy(rq->corr + 8, start, len);
        memcpy(rq->corr + 8 + len, "\",", 3);
}

/* The bare floor's answer to one frame (see the top of this file). */
static void handle_bare(struct floor *f, struct request *rq, const void *data, size_t size,
                        int *began)
{
        static const char ping[] = "{\"op\":\"ping\"";
        sqlite3_int64 id;
        size_t n;

        bare_corr(rq, data, size);
        if (size > RD_REQUEST_MAX) {
                set_error(rq, "malformed", "the request is over 64 KiB");
                return;
        }
        if (size >= sizeof ping - 1 && memcmp(data, ping, sizeof ping - 1) == 0) {
                n = reply_start(rq, true);
                snprintf(rq->reply + n, sizeof rq->reply - n,
                         "\"version\":\"" RD_VERSION "\",\"floor\":\"bare\"}");
                return;
        }
        if (*began == 1)
                *began = run(f->begin);
        if (*began < 0) {
                set_error(rq, "unavailable",
                          "the database is not available; nothing was stored; retry later");
                return;
        }
        sqlite3_bind_blob(f->insert, 1, data, (int)size, SQLITE_STATIC);
        id = run(f->insert) == 0 ? sqlite3_last_insert_rowid(f->db) : -1;
        sqlite3_clear_bindings(f->insert);
        if (id < 0) {
                set_error(rq, "internal", "the database could not store the frame");
                return;
        }
        n = reply_start(rq, true);
        snprintf(rq->reply + n, sizeof rq->reply - n,
                 "\"id\":\"R%lld\",\"status\":\"received\",\"duplicate\":false}", (long long)id);
        rq->submit_ok = true;
}

void send_reply(struct floor *f, struct request *rq)
{
        bool ok = true;

        /* ZMQ_ROUTER_MANDATORY: a reply that cannot be queued fails here; as
         * the daemon does, count it and go on */
        for (int i = 0; ok && i < rq->n_envelope; i++)
                ok = zmq_msg_send(&rq->envelope[i], f->intake, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0;
        if (ok)
                ok = zmq_send(f->intake, rq->reply, strlen(rq->reply), ZMQ_DONTWAIT) >= 0;
        if (!ok)
                f->dropped_replies++;
        for (int i = 0; i < rq->n_envelope; i++)
                zmq_msg_close(&rq->envelope[i]);
        rq->n_envelope = 0;
}

/* ---- the loop ----------------------------------------------------------- */

/* Receive one whole message into RQ's envelope and answer it. Returns 1 when
 * a message was read, 0 when none is ready, -errno on a socket fault. */
int take_request(struct floor *f, struct request *rq, int *began)
{
        zmq_msg_t part, body;
        int more, n_body = 0, first = 1;

        rq->n_envelope = 0;
        rq->submit_ok = rq->deferred = false;
        rq->corr[0] = '\0';
        zmq_msg_init(&body);
        do {
                zmq_msg_init(&part);
                if (zmq_msg_recv(&part, f->intake, first ? ZMQ_DONTWAIT : 0) < 0) {
                        int e = errno;
                        zmq_msg_close(&part);
                        zmq_msg_close(&body);
                        for (int i = 0; i < rq->n_envelope; i++)
                                zmq_msg_close(&rq->envelope[i]);
                        rq->n_envelope = 0;
                        return first && e == EAGAIN ? 0 : -e;
                }
                more = zmq_msg_more(&part);
                if (first) {
                        zmq_msg_init(&rq->envelope[0]);
                        zmq_msg_move(&rq->envelope[0], &part);
                        rq->n_envelope = 1;
                        first = 0;
                } else if (rq->n_envelope == 1 && n_body == 0 && zmq_msg_size(&part) == 0 && more) {
                        zmq_msg_init(&rq->envelope[1]); /* a REQ client's delimiter */
                        zmq_msg_move(&rq->envelope[1], &part);
                        rq->n_envelope = 2;
                } else if (n_body++ == 0) {
                        zmq_msg_move(&body, &part);
                }
                zmq_msg_close(&part);
        } while (more);
        if (n_body != 1)
                set_error(rq, "malformed", "a request is one frame holding one JSON object");
        else if (f->bare)
                handle_bare(f, rq, zmq_msg_data(&body), zmq_msg_size(&body), began);
        else
                handle(f, rq, zmq_msg_data(&body), zmq_msg_size(&body), began);
        if (rq->deferred) {
                zmq_msg_init(&rq->body);
                zmq_msg_move(&rq->body, &body);
        }
        zmq_msg_close(&body);
        return 1;
}

/* Commit the N requests of BATCH when a transaction is open (BEGAN 0); if
 * that fails, their ok replies become errors. */
void commit_batch(struct floor *f, struct request *batch, int n, int began)
{
        if (began != 0 || run(f->commit) == 0)
                return;
        tool_msg(PROG, "commit failed: %s", sqlite3_errmsg(f->db));
        run(f->rollback);
        for (int i = 0; i < n; i++)
                if (batch[i].submit_ok)
                        set_error(&batch[i], "internal",
                                  "the database could not commit; nothing was stored; retry later");
}

/* Receive into BATCH every request that is ready, at most RD_BATCH_MAX,
 * into *N. *BEGAN as for handle(). Returns 0, or -errno on a socket fault. */
static int take_batch(struct floor *f, struct request *batch, int *n, int *began)
{
        int r = 0;

        *n = 0;
        while (*n < RD_BATCH_MAX && (r = take_request(f, &batch[*n], began)) > 0)
                (*n)++;
        return r < 0 && r != -EINTR ? r : 0;
}

/* Take every request that is ready (at most RD_BATCH_MAX), commit, reply.
 * Returns the number taken, or -errno on a socket fault. */
static int serve_batch(struct floor *f)
{
        int began = 1, r = take_batch(f, f->batch, &f->n_batch, &began);

        commit_batch(f, f->batch, f->n_batch, began);
        for (int i = 0; i < f->n_batch; i++)
                send_reply(f, &f->batch[i]);
        return r < 0 ? r : f->n_batch;
}

static int serve(struct floor *f)
{
        zmq_pollitem_t items[3] = {
                {.socket = f->intake, .events = ZMQ_POLLIN},
                {.fd = f->sigfd, .events = ZMQ_POLLIN},
                {.fd = f->w.efd, .events = ZMQ_POLLIN},
        };

        for (;;) {
                if (zmq_poll(items, f->pipeline ? 3 : 2, -1) < 0 && errno != EINTR) {
                        tool_msg(PROG, "poll failed: %s", zmq_strerror(errno));
                        return -1;
                }
                if (f->pipeline)
                        floor_writer_woken(f);
                /* ZMQ_POLLIN is edge-like: drain while anything is ready,
                 * looking at signals between batches */
                for (;;) {
                        int n;
                        if (tool_stop_signalled(f->sigfd))
                                return 0;
                        n = f->pipeline ? floor_serve_pipelined(f) : serve_batch(f);
                        if (n < 0) {
                                tool_msg(PROG, "receiving a request: %s", zmq_strerror(-n));
                                return -1;
                        }
                        if (n == 0)
                                break;
                }
        }
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *to)
{
        fprintf(to,
                "Usage: " PROG " [--bare | --pipeline] -e ENDPOINT -d DBFILE\n"
                "The floor under referrald: receive, parse the JSON, one SQLite insert per\n"
                "submit with the daemon's durability, a commit per drained batch, reply.\n"
                "Nothing else. referral-bench --floor, --bare and --compare start it; see\n"
                "referral-bench --help.\n"
                "\n"
                "  -e, --endpoint EP    the ROUTER endpoint to bind (e.g. tcp://127.0.0.1:5580)\n"
                "  -d, --database FILE  the SQLite file (created when missing)\n"
                "      --bare           the bare floor: no parsing; every frame is stored as\n"
                "                       it came and answered with the corr found in its text\n"
                "      --pipeline       a prototype: a writer thread inserts and commits a\n"
                "                       batch while the loop receives and parses the next\n"
                "  -h, --help           this help\n"
                "  -V, --version        the version\n"
                "\n"
                "Stops on SIGTERM or SIGINT. Exit status: 0 stopped, 1 a fault, 2 a usage "
                "error.\n");
}

static void floor_close(struct floor *f)
{
        if (f->intake)
                zmq_close(f->intake);
        if (f->zctx)
                zmq_ctx_term(f->zctx);
        sqlite3_finalize(f->insert);
        sqlite3_finalize(f->lookup);
        sqlite3_finalize(f->begin);
        sqlite3_finalize(f->commit);
        sqlite3_finalize(f->rollback);
        if (f->db && sqlite3_close(f->db) != SQLITE_OK)
                tool_msg(PROG, "cannot close the database: %s", sqlite3_errmsg(f->db));
        if (f->sigfd >= 0)
                close(f->sigfd);
        if (f->w.efd >= 0)
                close(f->w.efd);
}

/* The command line into *ENDPOINT, *DBFILE, *BARE and *PIPELINE; --help and --version exit
 * 0, a usage error exits 2. */
static void parse_args(int argc, char **argv, const char **endpoint, const char **dbfile,
                       bool *bare, bool *pipeline)
{
        enum { OPT_BARE = 256, OPT_PIPELINE };
        static const struct option longopts[] = {
                {"endpoint", required_argument, NULL, 'e'},
                {"database", required_argument, NULL, 'd'},
                {"bare", no_argument, NULL, OPT_BARE},
                {"pipeline", no_argument, NULL, OPT_PIPELINE},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {0},
        };
        int ch;

        while ((ch = getopt_long(argc, argv, "e:d:hV", longopts, NULL)) != -1) {
                switch (ch) {
                case 'e': *endpoint = optarg; break;
                case 'd': *dbfile = optarg; break;
                case OPT_BARE: *bare = true; break;
                case OPT_PIPELINE: *pipeline = true; break;
                case 'h': usage(stdout); exit(EXIT_OK);
                case 'V': printf(PROG " " RD_VERSION "\n"); exit(EXIT_OK);
                default: fprintf(stderr, "Try '" PROG " --help'.\n"); exit(EXIT_USAGE);
                }
        }
        if (optind < argc)
                tool_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
        if (!*endpoint || !**endpoint)
                tool_usage_error(PROG, "-e ENDPOINT is required");
        if (!*dbfile || !**dbfile)
                tool_usage_error(PROG, "-d DBFILE is required");
        if (*bare && *pipeline)
                tool_usage_error(PROG, "--bare and --pipeline: one or the other");
}

/* The ROUTER socket with the daemon's options (daemon/server.c,
 * open_intake: the same bounds of lib/bounds.h, so that the floor holds
 * no more requests unread than the daemon would), bound to ENDPOINT. 0,
 * or -1 (printed). */
static int open_intake(struct floor *f, const char *endpoint)
{
        int one = 1, linger = RD_LINGER_MS, sndhwm = RD_REPLY_HWM, rcvhwm = RD_REQUEST_HWM;
        int64_t maxmsg = RD_SOCKET_MSG_MAX;

        f->zctx = zmq_ctx_new();
        f->intake = f->zctx ? zmq_socket(f->zctx, ZMQ_ROUTER) : NULL;
        if (!f->intake) {
                tool_msg(PROG, "cannot make the ROUTER socket: %s", zmq_strerror(errno));
                return -1;
        }
        zmq_setsockopt(f->intake, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        zmq_setsockopt(f->intake, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm);
        zmq_setsockopt(f->intake, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
        zmq_setsockopt(f->intake, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        zmq_setsockopt(f->intake, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_bind(f->intake, endpoint) < 0) {
                tool_msg(PROG, "cannot bind %s: %s", endpoint, zmq_strerror(errno));
                return -1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        const char *endpoint = NULL, *dbfile = NULL;
        int r = EXIT_FAULT;
        struct floor *f;
        bool bare = false, pipeline = false;

        parse_args(argc, argv, &endpoint, &dbfile, &bare, &pipeline);
        f = calloc(1, sizeof *f);
        if (!f) {
                tool_msg(PROG, "out of memory");
                return EXIT_FAULT;
        }
        f->bare = bare;
        f->pipeline = pipeline;
        f->w.efd = -1;
        /* signals come through a signalfd, as in the daemon */
        f->sigfd = tool_stop_signalfd();
        if (f->sigfd < 0) {
                tool_msg(PROG, "signalfd: %s", strerror(-f->sigfd));
                goto out;
        }
        if (open_db(f, dbfile) < 0 || open_intake(f, endpoint) < 0 ||
            (f->pipeline && floor_writer_start(f) < 0))
                goto out;
        if (serve(f) == 0)
                r = EXIT_OK;
        if (f->pipeline)
                floor_writer_stop(f); /* its last batch's replies go out */
        if (f->dropped_replies)
                tool_msg(PROG, "%lld replies could not be delivered", f->dropped_replies);
out:
        floor_close(f);
        free(f);
        return r;
}
