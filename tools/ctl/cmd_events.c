/* cmd_events.c: `events [--since N] [--follow]`: the events after seq N,
 * page by page; with --follow, then the live ones from the PUB endpoints
 * (one SUB socket connected to every daemon's: the active one publishes),
 * without gaps or doubles: de-duplicated by seq, a gap filled with
 * `events` from whichever daemon answers (conn.h). */
#include "commands.h"
#include "conn.h"
#include "curve.h"
#include "options.h"
#include "print.h"

#include "bounds.h"

#include <stdio.h>
#include <string.h>
#include <zmq.h>

#define EVENTS_PAGE RD_EVENTS_LIMIT_DEFAULT
/* With --follow: how long the live stream may stay silent before we ask
 * the daemon whether we missed the tail (a PUB drops what a subscriber
 * that is not yet connected would have received). */
#define FOLLOW_RECHECK_MS 2000

/* Replay state: everything with seq <= cursor has been printed. */
struct replay {
        json_int_t cursor;
};

/* Print the events after r->cursor, page by page, until caught up with
 * the `last` the daemon reports (or an empty page: a client that may not
 * see every referral gets gaps in seq). The cursor only ever moves to a
 * seq actually received, so an event committed while we page is never
 * skipped. Returns REQ_OK, or the failure (with *REPLY set to an error
 * reply for REQ_ERROR_REPLY). */
static enum req_result replay(struct ctl *c, struct replay *st, json_t **err_reply)
{
        *err_reply = NULL;
        for (;;) {
                json_t *req = json_pack("{s:s, s:I, s:i}", "op", "events", "since",
                                        (json_int_t)st->cursor, "limit", EVENTS_PAGE);
                json_t *reply, *events, *ev;
                json_int_t last = 0, before = st->cursor;
                enum req_result res = request(c, req, &reply);
                size_t i;

                json_decref(req);
                if (res != REQ_OK) {
                        *err_reply = reply;
                        return res;
                }
                events = json_object_get(reply, "events");
                jint(reply, "last", &last);
                json_array_foreach(events, i, ev)
                {
                        json_int_t seq;

                        if (!jint(ev, "seq", &seq) || seq <= st->cursor)
                                continue;
                        emit_event(c, ev);
                        st->cursor = seq;
                }
                i = json_array_size(events);
                json_decref(reply);
                if (i == 0 || st->cursor >= last || st->cursor == before)
                        return REQ_OK;
        }
}

/* Connect SUB to every events endpoint, each with its CURVE key. 0, or
 * -1 (printed). */
static int connect_events(struct ctl *c, void *sub)
{
        for (size_t i = 0; i < c->events_endpoints.n; i++) {
                const char *ep = c->events_endpoints.v[i];

                if (curve_apply(c, sub, i, &c->events_endpoints, "--events-endpoint") != 0)
                        return -1;
                if (zmq_connect(sub, ep) != 0) {
                        fault("cannot connect to %s: %s", ep, zmq_strerror(zmq_errno()));
                        return -1;
                }
        }
        return 0;
}

/* Wait until the SUB socket has completed its handshake with a PUB (one of
 * the daemons': the others may be down, and a standby publishes nothing
 * anyway), so that the subscription is in place before the replay starts.
 * Returns 0 when subscribed, 1 when a daemon refused the subscription
 * (CURVE: the client's role may not subscribe; c->refusal says so), -1 on
 * a failure (printed). */
static int wait_subscribed(struct ctl *c, void *sub)
{
        void *mon;
        int64_t deadline = deadline_after(c->timeout_ms);
        int rc = -1;
        char where[1024];

        c->refusal[0] = '\0';
        mon = watch_socket(c, sub, ZMQ_EVENT_HANDSHAKE_SUCCEEDED | HANDSHAKE_FAILURES);
        if (connect_events(c, sub) != 0) {
                unwatch_socket(sub, &mon);
                return -1;
        }
        if (!mon)
                return 0; /* cannot watch: carry on, the gap checks cover us */
        while (!tool_interrupted) {
                zmq_pollitem_t item = {.socket = mon, .events = ZMQ_POLLIN};
                uint16_t event = 0;
                uint32_t value = 0;
                char addr[256];
                int n = zmq_poll(&item, 1, left_ms(deadline));

                if (n < 0 && zmq_errno() == EINTR)
                        continue;
                if (n <= 0) {
                        endpoints_text(&c->events_endpoints, where, sizeof where);
                        fault("no connection to the event endpoint %s within %d ms (see "
                              "--events-endpoint%s)%s%s",
                              where, c->timeout_ms,
                              c->curve_state == 1 ? "; CURVE is on: check --server-key and "
                                                    "--key"
                                                  : "",
                              c->refusal[0] ? ": " : "", c->refusal);
                        break;
                }
                if (!read_monitor_event(mon, &event, &value, addr, sizeof addr))
                        continue;
                if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
                        rc = 0;
                        break;
                }
                if (explain_handshake_failure(c, addr, event, value, true)) {
                        rc = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? 1 : -1;
                        if (rc < 0)
                                fault("%s", c->refusal);
                        break;
                }
        }
        unwatch_socket(sub, &mon);
        return rc;
}

/* Receive one published event (topic frame, JSON frame). NULL if the
 * message is not an event object. */
static json_t *recv_event(void *sub)
{
        bool bad;
        json_t *ev = recv_reply(sub, &bad); /* the last frame is the JSON */

        return bad ? NULL : ev;
}

/* Step 1 of --follow: set SUB up and wait until it is subscribed
 * (wait_subscribed()). 0 when subscribed, 1 when the daemon refused the
 * subscription (c->refusal says why), -1 on a failure (printed). */
static int subscribe(struct ctl *c, void *sub)
{
        int linger = 0;

        zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
        return wait_subscribed(c, sub);
}

/* Wait for the next live event on SUB (NULL: no subscription, a plain
 * wait) that is newer than the cursor. Returns 1 with it in *EV (the
 * caller's) and its seq in *SEQ, or with *EV NULL after a silence (*SEQ
 * the next seq: ask whether we missed it); 0 to wait again; -1 after a
 * failure (printed). */
static int wait_live_event(void *sub, const struct replay *st, json_t **ev, json_int_t *seq)
{
        zmq_pollitem_t item = {.socket = sub, .events = ZMQ_POLLIN};
        int n = zmq_poll(sub ? &item : NULL, sub ? 1 : 0, FOLLOW_RECHECK_MS);

        *ev = NULL;
        if (n < 0 && zmq_errno() == EINTR)
                return 0;
        if (n < 0) {
                fault("poll: %s", zmq_strerror(zmq_errno()));
                return -1;
        }
        if (n == 0) {
                *seq = st->cursor + 1; /* maybe missed: look */
                return 1;
        }
        *ev = recv_event(sub);
        if (*ev && jint(*ev, "seq", seq) && *seq > st->cursor)
                return 1;
        json_decref(*ev); /* not an event, or printed by the replay already */
        *ev = NULL;
        return 0;
}

/* Whether a replay that came to RES (ERR_REPLY: the error reply, freed
 * here when so) is one to ride out: no reply in time, or `unavailable`
 * (the daemon may be restarting, or a standby taking over). Says so on
 * stderr once (*WARNED) until a replay succeeds. */
static bool still_following(struct ctl *c, enum req_result res, json_t *err_reply, bool *warned)
{
        char where[1024];

        if (res == REQ_OK)
                *warned = false;
        if (res != REQ_TIMEOUT && !(res == REQ_ERROR_REPLY && is_unavailable(err_reply)))
                return false;
        if (!*warned) {
                const char *msg = jstr(json_object_get(err_reply, "error"), "message");

                endpoints_text(&c->endpoints, where, sizeof where);
                if (res == REQ_TIMEOUT)
                        fprintf(stderr, "warning: no reply from %s within %d ms; still following\n",
                                where, c->timeout_ms);
                else
                        fprintf(stderr, "warning: %s: unavailable (%s); still following\n", where,
                                msg ? msg : "no message");
        }
        *warned = true;
        json_decref(err_reply);
        return true;
}

/* Step 3 of --follow: print what is newer than the cursor; a gap is
 * filled from the replay before the event that revealed it; a silence
 * makes us ask for what we may have missed. Returns EXIT_OK once
 * interrupted, or EXIT_FAULT after a failure (printed). */
static int follow_stream(struct ctl *c, struct replay *st, void *sub)
{
        bool warned = false;

        while (!tool_interrupted) {
                json_t *ev, *err_reply;
                json_int_t seq;
                enum req_result res;
                int n = wait_live_event(sub, st, &ev, &seq);

                if (n <= 0) {
                        if (n < 0)
                                return EXIT_FAULT;
                        continue;
                }
                if (seq > st->cursor + 1 || !ev) {
                        res = replay(c, st, &err_reply);
                        if (still_following(c, res, err_reply, &warned)) {
                                /* The event is not printed out of order; the next
                                 * replay brings it. */
                                json_decref(ev);
                                continue;
                        }
                        if (res != REQ_OK) {
                                json_decref(ev);
                                return request_failed(c, res, err_reply);
                        }
                        warned = false;
                }
                if (ev && seq > st->cursor) {
                        emit_event(c, ev);
                        st->cursor = seq;
                }
                json_decref(ev);
        }
        return EXIT_OK;
}

static int follow(struct ctl *c, struct replay *st)
{
        json_t *err_reply;
        enum req_result res;
        int r = EXIT_FAULT;
        void *sub;

        tool_catch_stop_signals(); /* zmq_poll returns EINTR */
        setvbuf(stdout, NULL, _IOLBF, 0);

        /* 1. Subscribe first: what is published from now on is queued. */
        sub = zmq_socket(c->zctx, ZMQ_SUB);
        if (!sub) {
                fault("cannot create a socket: %s", zmq_strerror(zmq_errno()));
                return EXIT_FAULT;
        }
        switch (subscribe(c, sub)) {
        case 0: break;
        case 1:
                /* Not allowed to subscribe (a partner or a connector): follow
                 * by asking for what is new, as protocol.md tells them to. */
                fprintf(stderr, "note: %s; following by polling every %d ms instead\n", c->refusal,
                        FOLLOW_RECHECK_MS);
                zmq_close(sub);
                sub = NULL;
                break;
        default: goto out;
        }

        /* 2. Replay what was before, up to the daemon's last seq; 3. live. */
        res = replay(c, st, &err_reply);
        if (res != REQ_OK)
                request_failed(c, res, err_reply);
        else
                r = follow_stream(c, st, sub);
out:
        if (sub)
                zmq_close(sub);
        return tool_interrupted ? EXIT_OK : r;
}

int cmd_events(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"since", required_argument, NULL, OPT_SINCE},
                                             {"follow", no_argument, NULL, OPT_FOLLOW},
                                             {0}};
        long long since = 0;
        bool follow_live = false;
        const struct opt_value values[] = {
                {OPT_SINCE, .count = &since, .bad = "--since needs a seq (0 or more), not '%s'"},
                {OPT_FOLLOW, .flag = &follow_live},
                {'f', .flag = &follow_live},
                {0}};
        struct replay st;
        json_t *err_reply;
        enum req_result res;
        int r;

        if (!parse_options_only(c, argc, argv, GLOBAL_SHORT "f", opts, values, &r))
                return r;
        st.cursor = since;
        if (follow_live)
                return follow(c, &st);
        res = replay(c, &st, &err_reply);
        return request_failed(c, res, err_reply);
}
