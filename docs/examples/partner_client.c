/* partner_client.c: a minimal referrald partner client (libzmq + jansson).
 *
 *   partner_client submit REFERRAL.json   submit one referral, retrying safely
 *   partner_client follow SINCE [COUNT]   print the events after seq SINCE,
 *                                         then live ones (COUNT: stop after
 *                                         that many; 0 or none: never stop)
 *
 * Environment: REFERRALD_ENDPOINT (default tcp://127.0.0.1:5570),
 * REFERRALD_EVENTS (default tcp://127.0.0.1:5571), REFERRALD_TIMEOUT_MS
 * (default 5000).
 *
 * Build: cc -o partner_client partner_client.c $(pkg-config --cflags --libs libzmq jansson)
 * Exit status: 0 done, 1 an error reply or no reply after all retries, 2 usage. */
#define _POSIX_C_SOURCE 200809L /* nanosleep, getpid */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_ATTEMPTS 5
#define PAGE 1000
#define RECHECK_MS 2000 /* ask for missed events after this much silence */

static void *ctx;
static const char *intake, *events_ep;
static int timeout_ms;

static const char *env_or(const char *name, const char *dflt)
{
        const char *v = getenv(name);
        return v && *v ? v : dflt;
}

static void *open_dealer(void)
{
        void *s = zmq_socket(ctx, ZMQ_DEALER);
        int linger = 0;

        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
        zmq_connect(s, intake);
        return s;
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

/* Send BODY on S and wait at most timeout_ms for the reply with CORR.
 * Returns the reply object, or NULL on timeout. */
static json_t *request(void *s, const char *body, const char *corr)
{
        zmq_send(s, body, strlen(body), 0);
        for (;;) {
                zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
                const char *rcorr;
                json_t *rep;

                if (zmq_poll(&it, 1, timeout_ms) <= 0)
                        return NULL;
                rep = recv_json(s);
                rcorr = json_string_value(json_object_get(rep, "corr"));
                if (rcorr && !strcmp(rcorr, corr))
                        return rep;
                json_decref(rep); /* not ours: a late reply to something older */
        }
}

static void print_error(const json_t *rep)
{
        const json_t *e = json_object_get(rep, "error");
        const char *field = json_string_value(json_object_get(e, "field"));

        fprintf(stderr, "error: %s%s%s: %s\n", json_string_value(json_object_get(e, "code")),
                field ? ": " : "", field ? field : "",
                json_string_value(json_object_get(e, "message")));
}

/* Submit the referral in FILE. After a timeout the daemon may or may not
 * have stored it, so we send the SAME referral again (same ref, same
 * content) on a NEW socket: `duplicate: true` then means it was stored the
 * first time. `unavailable` and `internal` stored nothing: retry later.
 * Any other error needs a person (or a code fix): do not retry. */
static int submit(const char *file)
{
        json_error_t jerr;
        json_t *referral = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
        json_t *req;
        char corr[64], *body;
        int attempt, rc = 1;
        unsigned backoff_ms = 500;

        if (!json_is_object(referral)) {
                fprintf(stderr, "%s: %s\n", file, referral ? "not a JSON object" : jerr.text);
                return 1;
        }
        snprintf(corr, sizeof corr, "submit-%ld", (long)getpid());
        req = json_pack("{s:s, s:s, s:o}", "op", "submit", "corr", corr, "referral", referral);
        body = json_dumps(req, JSON_COMPACT);
        json_decref(req);

        for (attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
                void *s = open_dealer();
                json_t *rep = request(s, body, corr);
                const char *code;

                zmq_close(s); /* a late reply to this attempt dies with it */
                if (!rep) {
                        fprintf(stderr, "no reply within %d ms (attempt %d of %d)%s\n", timeout_ms,
                                attempt, MAX_ATTEMPTS,
                                attempt < MAX_ATTEMPTS ? "; resending the same referral" : "");
                } else if (json_is_true(json_object_get(rep, "ok"))) {
                        printf("%s %s duplicate=%s\n",
                               json_string_value(json_object_get(rep, "id")),
                               json_string_value(json_object_get(rep, "status")),
                               json_is_true(json_object_get(rep, "duplicate")) ? "true" : "false");
                        json_decref(rep);
                        rc = 0;
                        break;
                } else {
                        code = json_string_value(
                                json_object_get(json_object_get(rep, "error"), "code"));
                        print_error(rep);
                        if (!code || (strcmp(code, "unavailable") && strcmp(code, "internal"))) {
                                json_decref(rep);
                                break; /* invalid, conflict, forbidden...: do not retry */
                        }
                        json_decref(rep);
                }
                if (attempt < MAX_ATTEMPTS) {
                        struct timespec ts = {backoff_ms / 1000, (backoff_ms % 1000) * 1000000L};

                        nanosleep(&ts, NULL);
                        backoff_ms *= 2;
                }
        }
        free(body);
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
 * with `last`. Returns 0, or -1 (no reply or an error reply). */
static int replay(void *dealer)
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
                rep = request(dealer, body, corr);
                free(body);
                if (!rep || !json_is_true(json_object_get(rep, "ok"))) {
                        if (rep)
                                print_error(rep);
                        else
                                fprintf(stderr, "no reply within %d ms\n", timeout_ms);
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

/* Follow the events after SINCE without gaps or doubles: subscribe FIRST
 * (so nothing published from now on is lost), then replay what came
 * before, then print live events newer than the cursor. A gap in seq (or
 * a silence, in case the subscription was not yet in place) is filled
 * from the replay. */
static int follow(long long since)
{
        void *sub = zmq_socket(ctx, ZMQ_SUB), *dealer = open_dealer();
        int linger = 0, rc = 1;

        cursor = since;
        zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
        zmq_connect(sub, events_ep);
        if (replay(dealer) != 0)
                goto out;
        while (!done()) {
                zmq_pollitem_t it = {.socket = sub, .events = ZMQ_POLLIN};
                json_t *ev;
                long long seq;

                if (zmq_poll(&it, 1, RECHECK_MS) == 0) {
                        if (replay(dealer) != 0)
                                goto out;
                        continue;
                }
                ev = recv_json(sub); /* frames: the type, then the event */
                seq = json_integer_value(json_object_get(ev, "seq"));
                if (ev && seq > cursor + 1 && replay(dealer) != 0) {
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
        zmq_close(dealer);
        return rc;
}

int main(int argc, char **argv)
{
        int rc;

        intake = env_or("REFERRALD_ENDPOINT", "tcp://127.0.0.1:5570");
        events_ep = env_or("REFERRALD_EVENTS", "tcp://127.0.0.1:5571");
        timeout_ms = atoi(env_or("REFERRALD_TIMEOUT_MS", "5000"));
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
        return rc;
}
