/* partner_client.c: a minimal referrald partner client (libzmq + jansson).
 *
 *   partner_client submit REFERRAL.json   submit one referral, retrying safely
 *   partner_client follow SINCE [COUNT]   print the events after seq SINCE,
 *                                         then live ones (COUNT: stop after
 *                                         that many; 0 or none: never stop)
 *
 * Environment: REFERRALD_ENDPOINT (default tcp://127.0.0.1:5570),
 * REFERRALD_EVENTS (default tcp://127.0.0.1:5571): with several daemons,
 * their endpoints separated by commas; REFERRALD_TIMEOUT_MS (default
 * 5000): how long one attempt waits for a reply.
 *
 * Build: cc -o partner_client partner_client.c $(pkg-config --cflags --libs libzmq jansson)
 * Exit status: 0 done, 1 an error reply or no reply after all retries, 2 usage. */
#define _POSIX_C_SOURCE 200809L /* nanosleep, getpid, strtok_r, strdup */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_ROUNDS 5 /* rounds of all the endpoints, with pauses of 0.5, 1, 2 and 4 s */
#define MAX_ENDPOINTS 8
#define PAGE 1000
#define RECHECK_MS 2000 /* ask for missed events after this much silence */

struct endpoints {
        char *copy; /* the list as given, cut at its commas */
        const char *v[MAX_ENDPOINTS];
        int n;
};

static void *ctx;
static struct endpoints intake, events_eps;
static int current; /* the endpoint that answered last: the next request goes there first */
static int timeout_ms;

/* The endpoints in the environment variable NAME (separated by commas),
 * else DFLT. */
static void endpoints_from_env(struct endpoints *e, const char *name, const char *dflt)
{
        const char *v = getenv(name);
        char *item, *save = NULL;

        e->copy = strdup(v && *v ? v : dflt);
        e->n = 0;
        for (item = strtok_r(e->copy, ",", &save); item && e->n < MAX_ENDPOINTS;
             item = strtok_r(NULL, ",", &save))
                e->v[e->n++] = item;
}

/* Receive one message from S and decode its last frame (a reply is one
 * frame; an event is two: the type, then the JSON). NULL if not JSON. */
static json_t *recv_json(void *s)
{
        json_t *v = NULL;
        int more = 1;
        size_t len = sizeof more;

        while (more) {
                zmq_msg_t m;

                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, s, 0) < 0) {
                        zmq_msg_close(&m);
                        break;
                }
                json_decref(v);
                v = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, NULL);
                zmq_msg_close(&m);
                zmq_getsockopt(s, ZMQ_RCVMORE, &more, &len);
        }
        return v;
}

/* Send BODY to ENDPOINT on a NEW socket and wait at most timeout_ms for
 * the reply with CORR. Returns the reply object, or NULL on timeout. The
 * socket is closed after: a late reply to this attempt dies with it. */
static json_t *request(const char *endpoint, const char *body, const char *corr)
{
        void *s = zmq_socket(ctx, ZMQ_DEALER);
        int linger = 0;
        json_t *rep = NULL;

        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
        zmq_connect(s, endpoint);
        zmq_send(s, body, strlen(body), 0);
        for (;;) {
                zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
                const char *rcorr;

                if (zmq_poll(&it, 1, timeout_ms) <= 0)
                        break;
                rep = recv_json(s);
                rcorr = json_string_value(json_object_get(rep, "corr"));
                if (rcorr && !strcmp(rcorr, corr))
                        break;
                json_decref(rep); /* not ours: a late reply to something older */
                rep = NULL;
        }
        zmq_close(s);
        return rep;
}

static const char *error_field(const json_t *rep, const char *key)
{
        return json_string_value(json_object_get(json_object_get(rep, "error"), key));
}

static void print_error(const json_t *rep)
{
        const char *field = error_field(rep, "field");

        fprintf(stderr, "error: %s%s%s: %s\n", error_field(rep, "code"), field ? ": " : "",
                field ? field : "", error_field(rep, "message"));
}

/* Nothing was stored (or, with "outcome": "unknown", maybe it was): the
 * same request again is safe, to the next daemon. */
static int worth_retrying(const json_t *rep)
{
        const char *code = error_field(rep, "code");

        return !json_is_true(json_object_get(rep, "ok")) && code &&
               (!strcmp(code, "unavailable") || !strcmp(code, "internal"));
}

/* Send BODY (its corr: CORR) until a daemon answers it, and return that
 * answer (ok, or an error that no retry can fix), or NULL after
 * MAX_ROUNDS rounds.
 *
 * Several daemons: one is active, the others are standby and answer
 * `unavailable`. So on no reply, on `unavailable` or `internal`, and on
 * "outcome": "unknown", send the SAME request (same corr, same content) to
 * the next endpoint, round the list, starting with the one that answered
 * last; after each round, a pause. That is safe: a submit of a referral
 * that is already stored answers `"duplicate": true` with that referral
 * (the one you already sent), and the other requests a partner sends only
 * read, or change nothing when repeated. */
static json_t *ask(const char *body, const char *corr)
{
        unsigned pause_ms = 500;

        for (int round = 1; round <= MAX_ROUNDS; round++) {
                for (int k = 0; k < intake.n; k++) {
                        int i = (current + k) % intake.n;
                        json_t *rep = request(intake.v[i], body, corr);

                        if (!rep) {
                                fprintf(stderr, "no reply from %s within %d ms\n", intake.v[i],
                                        timeout_ms);
                                continue;
                        }
                        if (!worth_retrying(rep)) {
                                current = i;
                                return rep;
                        }
                        fprintf(stderr, "%s answered %s: %s%s\n", intake.v[i],
                                error_field(rep, "code"), error_field(rep, "message"),
                                error_field(rep, "outcome") ? " (the outcome is unknown: the "
                                                              "same request again tells)"
                                                            : "");
                        json_decref(rep);
                }
                if (round < MAX_ROUNDS) {
                        struct timespec ts = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};

                        fprintf(stderr,
                                "round %d of %d without an answer; the same request again in "
                                "%.1f s\n",
                                round, MAX_ROUNDS, pause_ms / 1000.0);
                        nanosleep(&ts, NULL);
                        pause_ms *= 2;
                }
        }
        return NULL;
}

/* Submit the referral in FILE. The request is built once and sent as it
 * is until a daemon answers: `duplicate: true` then means that an earlier
 * attempt had stored it. Any error but those worth retrying needs a
 * person (or a code fix): do not retry. */
static int submit(const char *file)
{
        json_error_t jerr;
        json_t *referral = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
        json_t *req, *rep;
        char corr[64], *body;
        int rc = 1;

        if (!json_is_object(referral)) {
                fprintf(stderr, "%s: %s\n", file, referral ? "not a JSON object" : jerr.text);
                return 1;
        }
        snprintf(corr, sizeof corr, "submit-%ld", (long)getpid());
        req = json_pack("{s:s, s:s, s:o}", "op", "submit", "corr", corr, "referral", referral);
        body = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        rep = ask(body, corr);
        free(body);
        if (!rep) {
                fprintf(stderr,
                        "no answer after %d rounds: keep the referral and submit it again later "
                        "(the same ref, the same content)\n",
                        MAX_ROUNDS);
        } else if (json_is_true(json_object_get(rep, "ok"))) {
                printf("%s %s duplicate=%s\n", json_string_value(json_object_get(rep, "id")),
                       json_string_value(json_object_get(rep, "status")),
                       json_is_true(json_object_get(rep, "duplicate")) ? "true" : "false");
                rc = 0;
        } else {
                print_error(rep); /* invalid, conflict, forbidden...: do not retry */
        }
        json_decref(rep);
        return rc;
}

/* Everything with seq <= cursor has been printed. */
static long long cursor;
static long long printed, wanted;

static void print_event(const json_t *ev)
{
        const char *id = json_string_value(json_object_get(ev, "id"));

        printf("%lld %s %s\n", (long long)json_integer_value(json_object_get(ev, "seq")),
               json_string_value(json_object_get(ev, "type")), id ? id : "-");
        fflush(stdout);
        cursor = json_integer_value(json_object_get(ev, "seq"));
        printed++;
}

static int done(void)
{
        return wanted > 0 && printed >= wanted;
}

/* Replay: print the events after cursor, page by page, until caught up
 * with `last`. Returns 0, or -1 (no answer or an error reply). */
static int replay(void)
{
        static unsigned long n;

        while (!done()) {
                char corr[64], *body;
                json_t *rep, *evs, *ev;
                size_t i;
                long long last;
                int more;

                snprintf(corr, sizeof corr, "events-%lu", ++n);
                rep = json_pack("{s:s, s:s, s:I, s:i}", "op", "events", "corr", corr, "since",
                                (json_int_t)cursor, "limit", PAGE);
                body = json_dumps(rep, JSON_COMPACT);
                json_decref(rep);
                rep = ask(body, corr);
                free(body);
                if (!rep || !json_is_true(json_object_get(rep, "ok"))) {
                        if (rep)
                                print_error(rep);
                        else
                                fprintf(stderr, "no answer after %d rounds\n", MAX_ROUNDS);
                        json_decref(rep);
                        return -1;
                }
                evs = json_object_get(rep, "events");
                last = json_integer_value(json_object_get(rep, "last"));
                json_array_foreach(evs, i, ev)
                {
                        if (json_integer_value(json_object_get(ev, "seq")) > cursor && !done())
                                print_event(ev);
                }
                i = json_array_size(evs);
                more = json_is_true(json_object_get(rep, "more"));
                json_decref(rep);
                /* "more": the page was cut at 1 MiB; ask again from the cursor */
                if (!more && (i == 0 || cursor >= last))
                        return 0;
        }
        return 0;
}

/* Follow the events after SINCE without gaps or doubles: subscribe FIRST,
 * to every daemon (only the active one publishes; after a takeover, the
 * next one), so nothing published from now on is lost; then replay what
 * came before; then print live events newer than the cursor. A gap in seq
 * (or a silence, in case the subscription was not yet in place, or a
 * daemon took over) is filled from the replay. An event that two daemons
 * published is printed once: seq <= cursor is skipped. */
static int follow(long long since)
{
        void *sub = zmq_socket(ctx, ZMQ_SUB);
        int linger = 0, rc = 1;

        cursor = since;
        zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
        for (int i = 0; i < events_eps.n; i++)
                zmq_connect(sub, events_eps.v[i]);
        if (replay() != 0)
                goto out;
        while (!done()) {
                zmq_pollitem_t it = {.socket = sub, .events = ZMQ_POLLIN};
                json_t *ev;
                long long seq;

                if (zmq_poll(&it, 1, RECHECK_MS) == 0) {
                        if (replay() != 0)
                                goto out;
                        continue;
                }
                ev = recv_json(sub); /* frames: the type, then the event */
                seq = json_integer_value(json_object_get(ev, "seq"));
                if (ev && seq > cursor + 1 && replay() != 0) {
                        json_decref(ev);
                        goto out;
                }
                if (ev && seq == cursor + 1 && !done())
                        print_event(ev);
                json_decref(ev); /* seq <= cursor: printed already */
        }
        rc = 0;
out:
        zmq_close(sub);
        return rc;
}

int main(int argc, char **argv)
{
        const char *t = getenv("REFERRALD_TIMEOUT_MS");
        int rc;

        endpoints_from_env(&intake, "REFERRALD_ENDPOINT", "tcp://127.0.0.1:5570");
        endpoints_from_env(&events_eps, "REFERRALD_EVENTS", "tcp://127.0.0.1:5571");
        timeout_ms = t && *t ? atoi(t) : 5000;
        ctx = zmq_ctx_new();
        if (argc == 3 && !strcmp(argv[1], "submit")) {
                rc = submit(argv[2]);
        } else if ((argc == 3 || argc == 4) && !strcmp(argv[1], "follow")) {
                wanted = argc == 4 ? atoll(argv[3]) : 0;
                rc = follow(atoll(argv[2]));
        } else {
                fprintf(stderr, "usage: %s submit REFERRAL.json | follow SINCE [COUNT]\n", argv[0]);
                rc = 2;
        }
        zmq_ctx_term(ctx);
        free(intake.copy);
        free(events_eps.copy);
        return rc;
}
