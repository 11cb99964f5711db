/* load.c: the load of one run: CLIENTS threads, each with its own DEALER
 * socket per endpoint and a window of slots, submit their share of TOTAL
 * referrals and match every reply to its request in flight by its corr
 * (several endpoints: retry.h); then the counts and histograms of all
 * clients are added up. */
#include "bench.h"

#include "client.h"
#include "macro.h"
#include "peers.h"
#include "report.h"
#include "retry.h"
#include "server.h"
#include "submit.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <zmq.h>

#define TIMEOUT_SCAN_NS (10 * NS_PER_MS) /* how often the window is checked */

/* Error codes of protocol.md, "Requests and replies", and a bin for others. */
const char *const error_codes[] = {
        "malformed", "unknown_op",  "invalid",  "forbidden", "not_found",
        "conflict",  "unavailable", "internal", "other",
};
RD_TABLE_COVERS(error_codes, N_CODES);

const char *const statuses[] = {"assigned", "waitlisted", "forwarded", "other"};
RD_TABLE_COVERS(statuses, N_STATUSES);

/* A timeout somewhere: every client stops sending. So does SIGINT or
 * SIGTERM (tool_interrupted); the replies in flight are drained. */
static int abort_run;

bool run_aborted(void)
{
        return __atomic_load_n(&abort_run, __ATOMIC_RELAXED) || tool_interrupted;
}

void run_abort(void)
{
        __atomic_store_n(&abort_run, 1, __ATOMIC_RELAXED);
}

/* ---- replies ------------------------------------------------------------ */

/* Parse a corr "CLIENT.SLOT.SEQ". */
static bool parse_corr(const char *s, long *client, long *slot, uint64_t *seq)
{
        char *end;
        unsigned long long v;

        if (!isdigit((unsigned char)*s))
                return false;
        *client = strtol(s, &end, 10);
        if (*end != '.' || !isdigit((unsigned char)end[1]))
                return false;
        *slot = strtol(end + 1, &end, 10);
        if (*end != '.' || !isdigit((unsigned char)end[1]))
                return false;
        errno = 0;
        v = strtoull(end + 1, &end, 10);
        if (*end || errno)
                return false;
        *seq = v;
        return true;
}

static void note_unmatched(struct client *c, const char *what, const char *data, size_t size)
{
        c->st.unmatched++;
        if (!c->st.first_unmatched[0])
                snprintf(c->st.first_unmatched, sizeof c->st.first_unmatched, "%s: %.*s", what,
                         (int)(size > 100 ? 100 : size), data);
}

/* The index of CODE in error_codes ("other" for any other or none). */
static size_t error_index(const char *code)
{
        size_t i;

        for (i = 0; i + 1 < N_CODES; i++)
                if (code && strcmp(code, error_codes[i]) == 0)
                        break;
        return i;
}

static void count_error(struct client *c, const char *code, const char *message)
{
        c->st.by_code[error_index(code)]++;
        c->st.errors++;
        if (!c->st.first_error[0])
                snprintf(c->st.first_error, sizeof c->st.first_error, "%s: %s",
                         code ? code : "(no code)", message ? message : "(no message)");
}

void release_slot(struct client *c, struct slot *s)
{
        *s = (struct slot){.state = SLOT_FREE};
        c->free_slots[c->n_free++] = (int)(s - c->slots);
}

/* The slot in flight that REPLY (DATA, SIZE as received) answers, or
 * NULL when none: noted as unmatched, or as late for a request that timed
 * out (its slot stays retired) or for a copy of one answered before. */
static struct slot *match_reply(struct client *c, const json_t *reply, const char *data,
                                size_t size)
{
        const char *corr = json_string_value(json_object_get(reply, "corr"));
        long client, slot;
        uint64_t seq;
        struct slot *s;

        if (corr && peers_warm_up_corr(corr))
                return NULL; /* a late answer to a warm-up ping */
        if (!corr || !parse_corr(corr, &client, &slot, &seq) || client != c->index || slot < 0 ||
            slot >= c->opt->window) {
                note_unmatched(c, "a reply whose corr names no request of this client", data, size);
                return NULL;
        }
        s = &c->slots[slot];
        if (s->seq == seq && s->state == SLOT_TIMEDOUT) {
                /* counted as a timeout already; the slot stays retired */
                c->st.late++;
                if (++s->replies >= s->attempts)
                        s->state = SLOT_FREE;
                return NULL;
        }
        if (s->seq != seq || s->state == SLOT_FREE) {
                if (retry_late_copy(c, seq))
                        c->st.late++;
                else
                        note_unmatched(c, "a reply whose corr is not in flight", data, size);
                return NULL;
        }
        return s;
}

/* Count the ok REPLY to S: its status, whether a duplicate (and whether
 * after a retry); into REC (may be NULL) too. */
static void count_ok(struct client *c, const struct slot *s, const json_t *reply,
                     struct req_record *rec)
{
        const char *status = json_string_value(json_object_get(reply, "status"));
        const char *id = json_string_value(json_object_get(reply, "id"));
        bool dup = json_is_true(json_object_get(reply, "duplicate"));
        size_t i;

        c->st.ok++;
        c->st.duplicates += dup;
        c->st.dup_after_retry += dup && s->attempts > 1;
        for (i = 0; i + 1 < N_STATUSES; i++)
                if (strcmp(status, statuses[i]) == 0)
                        break;
        c->st.by_status[i]++;
        if (rec) {
                rec->outcome = REQ_ANSWERED_OK;
                rec->code = (uint8_t)i;
                rec->duplicate = dup;
                snprintf(rec->id, sizeof rec->id, "%s", id);
        }
}

/* Count what REPLY to S says: ok (and its status, and whether a
 * duplicate), or an error (by code), or that it is not a proper reply. */
static void count_reply(struct client *c, const struct slot *s, const json_t *reply)
{
        const json_t *ok = json_object_get(reply, "ok");
        struct req_record *rec = c->records ? &c->records[s->seq] : NULL;

        if (rec) {
                rec->attempts = s->attempts;
                rec->endpoint = (int8_t)s->endpoint;
                rec->outcome = REQ_ANSWERED_ERROR;
        }
        if (json_is_true(ok)) {
                if (!json_is_string(json_object_get(reply, "id")) ||
                    !json_is_string(json_object_get(reply, "status"))) {
                        c->st.bad_replies++;
                        count_error(c, "other", "an ok reply without id or status");
                } else {
                        count_ok(c, s, reply, rec);
                }
        } else if (json_is_false(ok)) {
                const json_t *error = json_object_get(reply, "error");
                count_error(c, json_string_value(json_object_get(error, "code")),
                            json_string_value(json_object_get(error, "message")));
        } else {
                c->st.bad_replies++;
                count_error(c, "other", "a reply without a boolean ok");
        }
        if (rec && rec->outcome == REQ_ANSWERED_ERROR)
                rec->code = (uint8_t)error_index(json_string_value(
                        json_object_get(json_object_get(reply, "error"), "code")));
}

static bool is_unavailable(const json_t *reply)
{
        const char *code =
                json_string_value(json_object_get(json_object_get(reply, "error"), "code"));

        return json_is_false(json_object_get(reply, "ok")) && code && !strcmp(code, "unavailable");
}

/* REPLY from endpoint J answers S at NOW: count it, free the slot. With
 * several endpoints, an `unavailable` does not answer it: the attempt
 * from J (if that is the one in flight) has failed. 0, or -errno. */
static int answered(struct client *c, struct slot *s, int j, const json_t *reply, int64_t now)
{
        if (c->opt->n_endpoints > 1 && is_unavailable(reply)) {
                s->replies++;
                c->st.ep[j].unavailable++;
                if (s->state == SLOT_INFLIGHT && s->endpoint == j)
                        return retry_failed(c, s, now);
                return 0;
        }
        c->st.ep[j].answered++;
        s->endpoint = j;
        hist_record(&c->st.lat, now - s->sent_ns);
        if (c->opt->rate > 0)
                hist_record(&c->st.lat_sched, now - s->due_ns);
        c->st.last_reply_ns = now;
        retry_answered(c, s);
        count_reply(c, s, reply);
        if (json_is_true(json_object_get(reply, "ok")))
                c->current = j; /* it serves: the next requests go there */
        release_slot(c, s);
        return 0;
}

/* One reply frame from endpoint J: match it to its request, check it,
 * count it. 0, or -errno. */
static int handle_reply(struct client *c, int j, const char *data, size_t size, int64_t now)
{
        json_error_t jerr;
        json_t *reply = json_loadb(data, size, 0, &jerr);
        struct slot *s;
        int r = 0;

        if (!reply || !json_is_object(reply)) {
                c->st.bad_replies++;
                note_unmatched(c, "a reply that is not a JSON object", data, size);
        } else if ((s = match_reply(c, reply, data, size)) != NULL) {
                r = answered(c, s, j, reply, now);
        }
        json_decref(reply);
        return r;
}

/* Receive every reply that is ready on endpoint J. Returns 0, or -errno on
 * a socket fault. */
static int drain(struct client *c, int j)
{
        void *sock = c->peers.sock[j];

        for (;;) {
                zmq_msg_t msg;
                int more;

                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) < 0) {
                        int e = errno;
                        zmq_msg_close(&msg);
                        if (e == EAGAIN || e == EINTR)
                                return 0;
                        return -e;
                }
                more = zmq_msg_more(&msg);
                if (more) {
                        /* the protocol has one reply frame: report and skip the rest */
                        note_unmatched(c, "a reply of more than one frame", zmq_msg_data(&msg),
                                       zmq_msg_size(&msg));
                        while (more) {
                                zmq_msg_close(&msg);
                                zmq_msg_init(&msg);
                                if (zmq_msg_recv(&msg, sock, 0) < 0)
                                        break;
                                more = zmq_msg_more(&msg);
                        }
                } else {
                        int r = handle_reply(c, j, zmq_msg_data(&msg), zmq_msg_size(&msg),
                                             tool_mono_ns());
                        if (r < 0) {
                                zmq_msg_close(&msg);
                                return r;
                        }
                }
                zmq_msg_close(&msg);
        }
}

/* ---- one client --------------------------------------------------------- */

static int64_t min64(int64_t a, int64_t b)
{
        return a < b ? a : b;
}

/* What a client sends next: the sequence number and, with --rate, when. */
struct pace {
        uint64_t next_seq;
        int64_t interval, next_due;
};

/* Send what is due (with --rate) and fits in the window, to c->current.
 * *SENDING: whether there is more to send. 0, or -errno. */
static int send_due(struct client *c, struct pace *p, bool *sending)
{
        const struct options *opt = c->opt;
        int64_t now = tool_mono_ns();

        *sending = p->next_seq < c->quota && !run_aborted();
        while (*sending && c->n_free > 0 && (opt->rate <= 0 || p->next_due <= now)) {
                struct slot *s = &c->slots[c->free_slots[--c->n_free]];
                int r;

                s->seq = p->next_seq;
                s->due_ns = opt->rate > 0 ? p->next_due : now;
                now = tool_mono_ns();
                if (opt->rate > 0 && now - p->next_due > c->st.max_send_lag_ns)
                        c->st.max_send_lag_ns = now - p->next_due;
                if ((r = retry_send(c, s, c->current, now)) < 0)
                        return r;
                p->next_seq++;
                p->next_due += p->interval;
                *sending = p->next_seq < c->quota;
        }
        return 0;
}

/* Whether C waits for an answer (a timed-out request waits no more). */
static bool replies_in_flight(const struct client *c)
{
        if (c->n_free == c->opt->window)
                return false;
        for (int i = 0; i < c->opt->window; i++)
                if (c->slots[i].state == SLOT_INFLIGHT || c->slots[i].state == SLOT_WAITING)
                        return true;
        return false;
}

/* Take every reply and every lost connection that is ready, on every
 * endpoint of C. 0, or -errno. */
static int take_input(struct client *c)
{
        int r = 0;

        for (int j = 0; j < c->peers.n && r == 0; j++) {
                int lost = peers_lost(&c->peers, j);

                if ((r = drain(c, j)) == 0 && lost) {
                        c->st.ep[j].lost += (uint64_t)lost;
                        r = retry_lost(c, j, tool_mono_ns());
                }
        }
        return r;
}

/* One client's thread: connect, wait for the others at the barrier, then
 * send its quota and take the replies until none is in flight. */
static void *client_main(void *arg)
{
        struct client *c = arg;
        const struct options *opt = c->opt;
        int r = 0;
        struct pace p = {0};
        int64_t start, next_scan;

        if ((r = peers_open(c)) < 0 || (r = peers_warm_up(c)) < 0)
                c->fault = -r;
        pthread_barrier_wait(c->barrier);
        if (c->fault)
                goto out;

        start = tool_mono_ns();
        c->st.first_send_ns = start;
        c->st.last_reply_ns = start;
        if (opt->rate > 0) {
                /* client k sends at k/R + i*C/R: the clients interleave evenly */
                p.interval = (int64_t)((double)opt->clients * (double)NS_PER_S / opt->rate);
                p.next_due = start + (int64_t)((double)c->index * (double)NS_PER_S / opt->rate);
        }
        next_scan = start + TIMEOUT_SCAN_NS;
        for (;;) {
                int64_t now, deadline;
                bool sending;

                if ((r = send_due(c, &p, &sending)) < 0 || (r = take_input(c)) < 0)
                        break;
                now = tool_mono_ns();
                if (now >= next_scan) {
                        if ((r = retry_scan(c, now)) < 0)
                                break;
                        next_scan = now + TIMEOUT_SCAN_NS;
                }
                if ((p.next_seq >= c->quota || run_aborted()) && !replies_in_flight(c))
                        break; /* all sent and answered */
                deadline = next_scan;
                if (sending && c->n_free > 0)
                        /* room in the window: go round and send (now, or when due) */
                        deadline = opt->rate > 0 ? min64(deadline, p.next_due) : now;
                if ((r = peers_wait(&c->peers, deadline)) < 0)
                        break;
        }
        if (r < 0)
                c->fault = -r;
out:
        peers_close(&c->peers);
        return NULL;
}

/* ---- one run ------------------------------------------------------------ */

/* Client I of OPT's load, its window all free. -1 when out of memory. */
static int client_init(struct client *c, int i, const struct options *opt, void *zctx,
                       pthread_barrier_t *barrier)
{
        c->index = i;
        c->opt = opt;
        c->zctx = zctx;
        c->barrier = barrier;
        c->quota = opt->total / (uint64_t)opt->clients +
                   ((uint64_t)i < opt->total % (uint64_t)opt->clients);
        c->slots = calloc((size_t)opt->window, sizeof *c->slots);
        c->free_slots = calloc((size_t)opt->window, sizeof *c->free_slots);
        c->req = malloc(REQUEST_MAX);
        if (opt->requests_path)
                c->records = calloc(c->quota, sizeof *c->records);
        if (!c->slots || !c->free_slots || !c->req || (opt->requests_path && !c->records))
                return -1;
        for (int s = opt->window - 1; s >= 0; s--)
                c->free_slots[c->n_free++] = s;
        c->prefix_hash = submit_prefix_hash(opt->prefix);
        hist_init(&c->st.lat);
        hist_init(&c->st.lat_sched);
        return 0;
}

static void clients_free(struct client *clients, int n)
{
        for (int i = 0; clients && i < n; i++) {
                free(clients[i].slots);
                free(clients[i].free_slots);
                free(clients[i].req);
                free(clients[i].records);
                retry_free(&clients[i]);
        }
        free(clients);
}

/* Add the counts of S to ALL. */
static void stats_add(struct stats *all, const struct stats *s)
{
        all->sent += s->sent;
        all->ok += s->ok;
        all->duplicates += s->duplicates;
        all->errors += s->errors;
        all->timeouts += s->timeouts;
        all->unmatched += s->unmatched;
        all->late += s->late;
        all->bad_replies += s->bad_replies;
        for (size_t k = 0; k < N_CODES; k++)
                all->by_code[k] += s->by_code[k];
        for (size_t k = 0; k < N_STATUSES; k++)
                all->by_status[k] += s->by_status[k];
        all->retried += s->retried;
        all->resends += s->resends;
        all->dup_after_retry += s->dup_after_retry;
        for (size_t k = 0; k < N_ATTEMPT_BINS; k++)
                all->by_attempts[k] += s->by_attempts[k];
        for (size_t k = 0; k < MAX_ENDPOINTS; k++) {
                all->ep[k].sent += s->ep[k].sent;
                all->ep[k].answered += s->ep[k].answered;
                all->ep[k].unavailable += s->ep[k].unavailable;
                all->ep[k].attempt_timeouts += s->ep[k].attempt_timeouts;
                all->ep[k].lost += s->ep[k].lost;
        }
        hist_merge(&all->lat, &s->lat);
        hist_merge(&all->lat_sched, &s->lat_sched);
        if (!all->first_error[0] && s->first_error[0])
                memcpy(all->first_error, s->first_error, sizeof all->first_error);
        if (!all->first_unmatched[0] && s->first_unmatched[0])
                memcpy(all->first_unmatched, s->first_unmatched, sizeof all->first_unmatched);
}

/* Wait for every client of OPT and add up what they did into RES. */
static void gather(struct result *res, struct client *clients, const struct options *opt)
{
        struct stats *all = &res->all;
        int64_t first = INT64_MAX, last = 0;

        for (int i = 0; i < opt->clients; i++) {
                struct client *c = &clients[i];
                struct stats *s = &c->st;

                pthread_join(c->thread, NULL);
                if (c->fault && !res->fault) {
                        res->fault = c->fault;
                        res->fault_client = i;
                }
                if (!c->fault || s->sent) {
                        if (s->first_send_ns && s->first_send_ns < first)
                                first = s->first_send_ns;
                        if (s->last_reply_ns > last)
                                last = s->last_reply_ns;
                }
                stats_add(all, s);
                if (s->max_send_lag_ns > res->max_lag)
                        res->max_lag = s->max_send_lag_ns;
        }
        res->wall = last > first ? last - first : 0;
        res->answered = all->ok + all->errors;
        res->throughput =
                res->wall > 0 ? (double)res->answered * (double)NS_PER_S / (double)res->wall : 0;
}

/* This process's CPU time so far, user and system, in seconds. */
static double self_cpu_s(void)
{
        struct rusage ru;

        if (getrusage(RUSAGE_SELF, &ru) < 0)
                return 0;
        return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct result *run_load(const struct options *opt)
{
        struct client *clients = calloc((size_t)opt->clients, sizeof *clients);
        struct result *res = calloc(1, sizeof *res);
        const struct stats *all;
        pthread_barrier_t barrier;
        void *zctx = zmq_ctx_new();
        double cpu0 = self_cpu_s();

        if (!clients || !res || !zctx)
                goto oom;
        __atomic_store_n(&abort_run, 0, __ATOMIC_RELAXED);
        res->fault_client = -1;
        hist_init(&res->all.lat);
        hist_init(&res->all.lat_sched);
        for (int i = 0; i < opt->clients; i++)
                if (client_init(&clients[i], i, opt, zctx, &barrier) < 0)
                        goto oom;
        pthread_barrier_init(&barrier, NULL, (unsigned)opt->clients);
        for (int i = 0; i < opt->clients; i++) {
                if (pthread_create(&clients[i].thread, NULL, client_main, &clients[i]) != 0) {
                        /* the clients started wait at the barrier for good; a
                         * server started here gets SIGTERM as this program ends */
                        tool_msg(PROG, "cannot start a client thread");
                        exit(EXIT_FAULT);
                }
        }
        gather(res, clients, opt);
        pthread_barrier_destroy(&barrier);
        zmq_ctx_term(zctx);
        res->client_cpu_s = self_cpu_s() - cpu0;
        if (opt->pid)
                res->rss = read_rss(opt->pid);
        all = &res->all;
        res->failed = res->fault || all->errors || all->timeouts || all->unmatched ||
                      all->bad_replies || all->sent < opt->total || (opt->pid && !res->rss.have);
        if (opt->requests_path && write_requests(opt, clients) < 0)
                res->failed = true;
        clients_free(clients, opt->clients);
        return res;
oom:
        tool_msg(PROG, "out of memory");
        clients_free(clients, opt->clients);
        free(res);
        if (zctx)
                zmq_ctx_term(zctx);
        return NULL;
}
