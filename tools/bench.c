/* referral-bench: a load generator for referrald.
 *
 * CLIENTS threads, each with its own DEALER socket, submit TOTAL valid
 * referrals (protocol.md, "submit") with at most WINDOW requests in flight
 * per client. Every request carries a unique `ref` and a `corr` that names
 * its client, its slot in the window and its sequence number, so that every
 * reply is matched to exactly one request in flight; a reply that matches
 * none is a bug (of the daemon or of this program) and is reported.
 *
 * Latency runs from the send to the reply and goes into a log-linear
 * histogram (128 sub-buckets per power of two: < 0.8% error, 1 ns to
 * ~69 s, no allocation per request). With --rate the load is open loop:
 * request i of a client is due at a fixed time, whatever happened before,
 * and a second histogram measures from that due time (so a stalled daemon
 * is not hidden by the window holding back the sends: "coordinated
 * omission").
 *
 * Exit codes: 0 every request answered ok (or duplicate), 1 an error reply,
 * a timeout (no reply within 10 s), an unmatched reply or a runtime fault,
 * 2 a usage error. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#ifndef RD_VERSION
#define RD_VERSION "0.0.0"
#endif

#define PROG "referral-bench"
#define DEFAULT_ENDPOINT "tcp://127.0.0.1:5570"
#define DEFAULT_CLIENTS 4
#define DEFAULT_WINDOW 64
#define DEFAULT_TOTAL 100000
#define DEFAULT_PARTNER "bench"
#define TIMEOUT_NS (10 * NS_PER_S)
#define TIMEOUT_SCAN_NS (10 * NS_PER_MS) /* how often the window is checked */
#define NS_PER_S INT64_C(1000000000)
#define NS_PER_MS INT64_C(1000000)
#define MAX_CLIENTS 1024
#define MAX_WINDOW 100000
#define REQUEST_MAX 4096
#define PREFIX_MAX 64

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* ---- histogram ---------------------------------------------------------- */

/* Values (ns) below 2^(SUB_BITS+1) have their own bucket; above, each power
 * of two [2^e, 2^(e+1)) is cut into 2^SUB_BITS equal buckets. */
#define SUB_BITS 7
#define SUB_COUNT (1 << SUB_BITS)
#define LINEAR_MAX (2 * SUB_COUNT)
#define TOP_EXP 36 /* 2^36 ns = 68.7 s: covers 60 s */
#define HIST_BUCKETS (LINEAR_MAX + (TOP_EXP - SUB_BITS) * SUB_COUNT)

struct hist {
        uint64_t count[HIST_BUCKETS];
        uint64_t n;
        int64_t min, max;
        double sum;
};

static int hist_index(int64_t v)
{
        int e, idx;

        if (v < 0)
                v = 0;
        if (v < LINEAR_MAX)
                return (int)v;
        e = 63 - __builtin_clzll((unsigned long long)v);
        if (e > TOP_EXP)
                return HIST_BUCKETS - 1;
        idx = LINEAR_MAX + (e - SUB_BITS - 1) * SUB_COUNT +
              (int)((v >> (e - SUB_BITS)) - SUB_COUNT);
        return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* The highest value that falls into bucket IDX. */
static int64_t hist_bucket_high(int idx)
{
        int e, sub;

        if (idx < LINEAR_MAX)
                return idx;
        e = (idx - LINEAR_MAX) / SUB_COUNT + SUB_BITS + 1;
        sub = (idx - LINEAR_MAX) % SUB_COUNT;
        return (((int64_t)SUB_COUNT + sub + 1) << (e - SUB_BITS)) - 1;
}

static void hist_init(struct hist *h)
{
        memset(h, 0, sizeof *h);
        h->min = INT64_MAX;
}

static void hist_record(struct hist *h, int64_t v)
{
        if (v < 0)
                v = 0;
        h->count[hist_index(v)]++;
        h->n++;
        h->sum += (double)v;
        if (v < h->min)
                h->min = v;
        if (v > h->max)
                h->max = v;
}

static void hist_merge(struct hist *into, const struct hist *from)
{
        for (int i = 0; i < HIST_BUCKETS; i++)
                into->count[i] += from->count[i];
        into->n += from->n;
        into->sum += from->sum;
        if (from->min < into->min)
                into->min = from->min;
        if (from->max > into->max)
                into->max = from->max;
}

/* The value at percentile P (0-100]: the top of the bucket that holds the
 * ceil(P% * n)-th value, never above the largest value recorded. */
static int64_t hist_percentile(const struct hist *h, double p)
{
        uint64_t want, seen = 0;

        if (h->n == 0)
                return 0;
        want = (uint64_t)((p / 100.0) * (double)h->n + 0.999999);
        if (want < 1)
                want = 1;
        if (want > h->n)
                want = h->n;
        for (int i = 0; i < HIST_BUCKETS; i++) {
                seen += h->count[i];
                if (seen >= want) {
                        int64_t v = hist_bucket_high(i);
                        return v < h->max ? v : h->max;
                }
        }
        return h->max;
}

/* ---- options and shared state ------------------------------------------- */

struct options {
        const char *endpoint;
        int clients;
        int window;
        uint64_t total;
        double rate; /* requests/s over all clients; 0: as fast as the window allows */
        long pid;    /* 0: none */
        const char *partner;
        char prefix[PREFIX_MAX + 1];
        bool json;
};

/* Error codes of protocol.md, "Requests and replies", and a bin for others. */
static const char *const error_codes[] = {
        "malformed", "unknown_op",  "invalid",  "forbidden", "not_found",
        "conflict",  "unavailable", "internal", "other",
};
#define N_CODES (sizeof error_codes / sizeof error_codes[0])

static const char *const statuses[] = {"assigned", "waitlisted", "forwarded", "other"};
#define N_STATUSES (sizeof statuses / sizeof statuses[0])

struct stats {
        uint64_t sent, ok, duplicates, errors, timeouts, unmatched, late, bad_replies;
        uint64_t by_code[N_CODES];
        uint64_t by_status[N_STATUSES];
        int64_t first_send_ns, last_reply_ns;
        int64_t max_send_lag_ns; /* with --rate: how late a send was against its due time */
        struct hist lat;         /* send -> reply */
        struct hist lat_sched;   /* due time -> reply (with --rate) */
        char first_error[256];   /* the first error reply (code: message), for the report */
        char first_unmatched[160];
};

enum slot_state { SLOT_FREE, SLOT_INFLIGHT, SLOT_TIMEDOUT };

struct slot {
        enum slot_state state;
        uint64_t seq;
        int64_t sent_ns, due_ns;
};

struct client {
        int index;
        const struct options *opt;
        void *zctx;
        pthread_t thread;
        pthread_barrier_t *barrier;
        uint64_t quota; /* requests this client submits */
        struct slot *slots;
        int *free_slots; /* a stack of free slot numbers */
        int n_free;
        uint64_t rng, prefix_hash;
        int fault; /* a setup or socket fault: errno */
        struct stats st;
};

static volatile sig_atomic_t interrupted; /* SIGINT/SIGTERM: stop sending, drain, report */
static int abort_run;                     /* a timeout somewhere: every client stops sending */

static bool run_aborted(void)
{
        return __atomic_load_n(&abort_run, __ATOMIC_RELAXED) || interrupted;
}

static int64_t mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* ---- the requests ------------------------------------------------------- */

static uint64_t rnd(struct client *c)
{
        /* xorshift64* */
        c->rng ^= c->rng >> 12;
        c->rng ^= c->rng << 25;
        c->rng ^= c->rng >> 27;
        return c->rng * UINT64_C(2685821657736338717);
}

/* splitmix64: a well-mixed seed from a counter */
static uint64_t mix64(uint64_t x)
{
        x += UINT64_C(0x9E3779B97F4A7C15);
        x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
        return x ^ (x >> 31);
}

static unsigned pick(struct client *c, unsigned n)
{
        return (unsigned)(rnd(c) % n);
}

#define PICK(c, arr) ((arr)[pick((c), sizeof(arr) / sizeof((arr)[0]))])

/* Weighted: mostly the four postcodes the example teams serve, then some
 * that fall to other rules or to none (forwarded). */
static const char *const postcodes[] = {
        "3600", "3600", "3600", "3600", "3630", "3630", "3630", "3640", "3640", "3640",
        "3660", "3660", "3660", "3500", "3510", "3700", "3920", "3000", "2000", "3680",
};
static const struct {
        const char *postcode, *city;
} cities[] = {
        {"3600", "Genk"},    {"3630", "Maasmechelen"}, {"3640", "Kinrooi"},  {"3660", "Oudsbergen"},
        {"3500", "Hasselt"}, {"3510", "Kermt"},        {"3700", "Tongeren"}, {"3920", "Lommel"},
        {"3000", "Leuven"},  {"2000", "Antwerpen"},    {"3680", "Maaseik"},
};
static const char *const first_names[] = {"An",   "Bart",   "Fatma", "Youssef", "Lotte",
                                          "Ilse", "Murat",  "Sofie", "Giulia",  "Kenan",
                                          "Nora", "Pieter", "Elif",  "Jana",    "Tom"};
static const char *const last_names[] = {"Peeters", "Janssens", "Yilmaz", "Maes",
                                         "Claes",   "Rossi",    "Jacobs", "Mertens",
                                         "Kaya",    "Willems",  "Dubois", "Vermeulen"};
static const char *const streets[] = {"Stationsstraat", "Kerkstraat", "Molenweg",   "Hoogstraat",
                                      "Weg naar As",    "Rijksweg",   "Dorpsstraat"};
static const char *const concern_tags[] = {
        "teen_conflict", "parental_conflict", "school_absence", "housing",
        "debt",          "anxiety",           "sleep",          "divorce",
        "bullying",      "language_support"};
static const char *const languages[] = {"nl", "nl", "nl", "nl", "nl", "fr", "en", "tr", "it"};
static const char *const urgencies[] = {"normal", "normal", "normal", "normal", "normal",
                                        "normal", "normal", "high",   "high",   "crisis"};
static const char *const note_sentences[] = {
        "Mother asks for support with the evenings at home, bedtime is a daily struggle.",
        "The eldest has missed school on several days since the holidays.",
        "Father works nights and would like a visit on Wednesday afternoon.",
        "The family moved here last year and has little support nearby.",
        "The school counsellor has been in touch and agrees with this referral.",
        "Arguments between the parents have grown since the separation.",
        "Grandmother helps out twice a week but cannot do more.",
        "Please call before visiting; the doorbell does not work.",
        "The youngest sleeps badly and the parents are exhausted.",
        "The family asked explicitly for a connector who speaks their language.",
};

/* Append to BUF at *LEN (capacity CAP) with printf. Returns -1 on overflow. */
static int appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf + *len, cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= cap - *len)
                return -1;
        *len += (size_t)n;
        return 0;
}

/* Write the submit request for sequence number SEQ in slot SLOT into BUF.
 * Returns its length, or -1 if it does not fit. All the text pieces are
 * plain ASCII without '"' or '\\', so no escaping is needed; the ref prefix
 * and partner are checked at start. */
static int build_submit(struct client *c, int slot, uint64_t seq, char *buf, size_t cap)
{
        /* the content depends on the ref alone (prefix, client, seq), so that a
         * rerun with the same --ref-prefix meets its referrals as duplicates */
        const char *pc, *city = "Genk", *first, *last;
        unsigned n_children, n_concerns, note_len;
        size_t len = 0;
        int r = 0;

        c->rng = mix64(c->prefix_hash ^ mix64(((uint64_t)c->index << 40) ^ seq)) | 1;
        pc = PICK(c, postcodes);
        first = PICK(c, first_names);
        last = PICK(c, last_names);
        n_children = 1 + pick(c, 3);
        n_concerns = pick(c, 4);
        for (size_t i = 0; i < sizeof cities / sizeof cities[0]; i++)
                if (strcmp(cities[i].postcode, pc) == 0)
                        city = cities[i].city;
        r |= appendf(buf, cap, &len,
                     "{\"op\":\"submit\",\"corr\":\"%d.%d.%" PRIu64 "\",\"referral\":{"
                     "\"ref\":\"%s-%d-%" PRIu64 "\",\"partner\":\"%s\","
                     "\"kind\":\"family_support\",\"postcode\":\"%s\",\"children\":[",
                     c->index, slot, seq, c->opt->prefix, c->index, seq, c->opt->partner, pc);
        for (unsigned i = 0; i < n_children; i++)
                r |= appendf(buf, cap, &len, "%s{\"age\":%u}", i ? "," : "", pick(c, 18));
        r |= appendf(buf, cap, &len, "]");
        if (n_concerns) {
                unsigned first_tag = pick(c, sizeof concern_tags / sizeof concern_tags[0]);
                r |= appendf(buf, cap, &len, ",\"concerns\":[");
                for (unsigned i = 0; i < n_concerns; i++)
                        r |= appendf(buf, cap, &len, "%s\"%s\"", i ? "," : "",
                                     concern_tags[(first_tag + i) %
                                                  (sizeof concern_tags / sizeof concern_tags[0])]);
                r |= appendf(buf, cap, &len, "]");
        }
        r |= appendf(buf, cap, &len,
                     ",\"language\":\"%s\",\"urgency\":\"%s\",\"consent\":true,"
                     "\"family\":{\"name\":\"%s %s\",\"phone\":\"+32 4%02u %02u %02u %02u\","
                     "\"email\":\"%s.%s@example.be\",\"address\":\"%s %u, %s %s\"},\"note\":\"",
                     PICK(c, languages), PICK(c, urgencies), first, last, 70 + pick(c, 30),
                     pick(c, 100), pick(c, 100), pick(c, 100), first, last, PICK(c, streets),
                     1 + pick(c, 180), pc, city);
        /* a note of about 200 bytes: sentences until 170 or more */
        note_len = 0;
        while (note_len < 170 && r == 0) {
                const char *s = PICK(c, note_sentences);
                r |= appendf(buf, cap, &len, "%s%s", note_len ? " " : "", s);
                note_len += (unsigned)strlen(s) + (note_len ? 1 : 0);
        }
        r |= appendf(buf, cap, &len, "\"}}");
        return r ? -1 : (int)len;
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

static void count_error(struct client *c, const char *code, const char *message)
{
        size_t i;

        for (i = 0; i + 1 < N_CODES; i++)
                if (code && strcmp(code, error_codes[i]) == 0)
                        break;
        c->st.by_code[i]++;
        c->st.errors++;
        if (!c->st.first_error[0])
                snprintf(c->st.first_error, sizeof c->st.first_error, "%s: %s",
                         code ? code : "(no code)", message ? message : "(no message)");
}

static void release_slot(struct client *c, long slot)
{
        c->slots[slot].state = SLOT_FREE;
        c->free_slots[c->n_free++] = (int)slot;
}

/* One reply frame: match it to its request, check it, count it. */
static void handle_reply(struct client *c, const char *data, size_t size, int64_t now)
{
        json_error_t jerr;
        json_t *reply = json_loadb(data, size, 0, &jerr);
        const char *corr;
        long client, slot;
        uint64_t seq;
        struct slot *s;
        json_t *ok;

        if (!reply || !json_is_object(reply)) {
                c->st.bad_replies++;
                note_unmatched(c, "a reply that is not a JSON object", data, size);
                json_decref(reply);
                return;
        }
        corr = json_string_value(json_object_get(reply, "corr"));
        if (!corr || !parse_corr(corr, &client, &slot, &seq) || client != c->index || slot < 0 ||
            slot >= c->opt->window) {
                note_unmatched(c, "a reply whose corr names no request of this client", data, size);
                json_decref(reply);
                return;
        }
        s = &c->slots[slot];
        if (s->seq != seq || s->state == SLOT_FREE) {
                note_unmatched(c, "a reply whose corr is not in flight", data, size);
                json_decref(reply);
                return;
        }
        if (s->state == SLOT_TIMEDOUT) {
                /* counted as a timeout already; the slot stays retired */
                c->st.late++;
                s->state = SLOT_FREE;
                json_decref(reply);
                return;
        }
        hist_record(&c->st.lat, now - s->sent_ns);
        if (c->opt->rate > 0)
                hist_record(&c->st.lat_sched, now - s->due_ns);
        c->st.last_reply_ns = now;
        release_slot(c, slot);

        ok = json_object_get(reply, "ok");
        if (json_is_true(ok)) {
                const char *status = json_string_value(json_object_get(reply, "status"));
                size_t i;

                if (!json_is_string(json_object_get(reply, "id")) || !status) {
                        c->st.bad_replies++;
                        count_error(c, "other", "an ok reply without id or status");
                } else {
                        c->st.ok++;
                        if (json_is_true(json_object_get(reply, "duplicate")))
                                c->st.duplicates++;
                        for (i = 0; i + 1 < N_STATUSES; i++)
                                if (strcmp(status, statuses[i]) == 0)
                                        break;
                        c->st.by_status[i]++;
                }
        } else if (json_is_false(ok)) {
                json_t *error = json_object_get(reply, "error");
                count_error(c, json_string_value(json_object_get(error, "code")),
                            json_string_value(json_object_get(error, "message")));
        } else {
                c->st.bad_replies++;
                count_error(c, "other", "a reply without a boolean ok");
        }
        json_decref(reply);
}

/* Receive every reply that is ready. Returns 0, or -errno on a socket fault. */
static int drain(struct client *c, void *sock)
{
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
                        handle_reply(c, zmq_msg_data(&msg), zmq_msg_size(&msg), mono_ns());
                }
                zmq_msg_close(&msg);
        }
}

/* ---- one client --------------------------------------------------------- */

static void *open_socket(struct client *c)
{
        int zero = 0, hwm = c->opt->window * 2 + 1000;
        void *sock = zmq_socket(c->zctx, ZMQ_DEALER);

        if (!sock)
                return NULL;
        zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
        if (zmq_connect(sock, c->opt->endpoint) < 0) {
                int e = errno;
                zmq_close(sock);
                errno = e;
                return NULL;
        }
        return sock;
}

/* Wait on SOCK for readable input up to DEADLINE (monotonic ns), with
 * nanosecond timing (zmq_poll counts in milliseconds). */
static int wait_readable(void *sock, int fd, int64_t deadline)
{
        int events = 0;
        size_t len = sizeof events;
        int64_t now = mono_ns();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        struct timespec ts;

        /* ZMQ_FD is edge-triggered: look at ZMQ_EVENTS before sleeping */
        if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len) < 0)
                return -errno;
        if (events & ZMQ_POLLIN)
                return 1;
        if (deadline <= now)
                return 0;
        ts.tv_sec = (deadline - now) / NS_PER_S;
        ts.tv_nsec = (deadline - now) % NS_PER_S;
        if (ppoll(&pfd, 1, &ts, NULL) < 0 && errno != EINTR)
                return -errno;
        return 0;
}

/* A ping before the run: the connection is up and the daemon answers. */
static int warm_up(struct client *c, void *sock, int fd)
{
        char req[64];
        int64_t deadline = mono_ns() + TIMEOUT_NS;
        int n = snprintf(req, sizeof req, "{\"op\":\"ping\",\"corr\":\"warm-%d\"}", c->index);

        if (zmq_send(sock, req, (size_t)n, 0) < 0)
                return -errno;
        while (mono_ns() < deadline && !interrupted) {
                zmq_msg_t msg;
                int r = wait_readable(sock, fd, deadline);
                if (r < 0)
                        return r;
                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) >= 0) {
                        bool ok = zmq_msg_size(&msg) > 0 &&
                                  memmem(zmq_msg_data(&msg), zmq_msg_size(&msg), "\"ok\":true",
                                         9) != NULL;
                        zmq_msg_close(&msg);
                        return ok ? 0 : -EPROTO;
                }
                zmq_msg_close(&msg);
        }
        return -ETIMEDOUT;
}

static int64_t min64(int64_t a, int64_t b)
{
        return a < b ? a : b;
}

static void *client_main(void *arg)
{
        struct client *c = arg;
        const struct options *opt = c->opt;
        char *req = malloc(REQUEST_MAX);
        void *sock = NULL;
        int fd = -1, r;
        size_t fdlen = sizeof fd;
        uint64_t next_seq = 0;
        int64_t start, interval = 0, next_due = 0, next_scan;

        if (!req) {
                c->fault = ENOMEM;
                pthread_barrier_wait(c->barrier);
                return NULL;
        }
        sock = open_socket(c);
        if (!sock || zmq_getsockopt(sock, ZMQ_FD, &fd, &fdlen) < 0)
                c->fault = errno ? errno : EIO;
        else if ((r = warm_up(c, sock, fd)) < 0)
                c->fault = -r;
        pthread_barrier_wait(c->barrier);
        if (c->fault)
                goto out;

        start = mono_ns();
        c->st.first_send_ns = start;
        c->st.last_reply_ns = start;
        if (opt->rate > 0) {
                /* client k sends at k/R + i*C/R: the clients interleave evenly */
                interval = (int64_t)((double)opt->clients * (double)NS_PER_S / opt->rate);
                next_due = start + (int64_t)((double)c->index * (double)NS_PER_S / opt->rate);
        }
        next_scan = start + TIMEOUT_SCAN_NS;
        for (;;) {
                int64_t now = mono_ns(), deadline;
                bool sending = next_seq < c->quota && !run_aborted();

                /* send what is due and fits in the window */
                while (sending && c->n_free > 0 && (opt->rate <= 0 || next_due <= now)) {
                        int slot = c->free_slots[--c->n_free];
                        struct slot *s = &c->slots[slot];
                        int len = build_submit(c, slot, next_seq, req, REQUEST_MAX);

                        if (len < 0) {
                                c->fault = E2BIG;
                                goto out;
                        }
                        s->state = SLOT_INFLIGHT;
                        s->seq = next_seq;
                        s->due_ns = opt->rate > 0 ? next_due : now;
                        s->sent_ns = mono_ns();
                        if (opt->rate > 0 && s->sent_ns - next_due > c->st.max_send_lag_ns)
                                c->st.max_send_lag_ns = s->sent_ns - next_due;
                        if (zmq_send(sock, req, (size_t)len, 0) < 0) {
                                c->fault = errno;
                                goto out;
                        }
                        c->st.sent++;
                        next_seq++;
                        next_due += interval;
                        sending = next_seq < c->quota;
                        now = s->sent_ns;
                }
                if ((r = drain(c, sock)) < 0) {
                        c->fault = -r;
                        goto out;
                }
                now = mono_ns();
                if (now >= next_scan) {
                        for (int i = 0; i < opt->window; i++) {
                                struct slot *s = &c->slots[i];
                                if (s->state == SLOT_INFLIGHT && now - s->sent_ns >= TIMEOUT_NS) {
                                        s->state = SLOT_TIMEDOUT; /* retired: not reused */
                                        c->st.timeouts++;
                                        __atomic_store_n(&abort_run, 1, __ATOMIC_RELAXED);
                                }
                        }
                        next_scan = now + TIMEOUT_SCAN_NS;
                }
                if (c->n_free == opt->window && (next_seq >= c->quota || run_aborted()))
                        break; /* all sent and answered */
                if (run_aborted() || next_seq >= c->quota) {
                        /* only the replies in flight are left */
                        bool waiting = false;
                        for (int i = 0; i < opt->window; i++)
                                waiting |= c->slots[i].state == SLOT_INFLIGHT;
                        if (!waiting)
                                break;
                }
                deadline = next_scan;
                if (sending && c->n_free > 0 && opt->rate > 0)
                        deadline = min64(deadline, next_due);
                if (sending && c->n_free > 0 && opt->rate <= 0)
                        deadline = now; /* room in the window: go round and send */
                if ((r = wait_readable(sock, fd, deadline)) < 0) {
                        c->fault = -r;
                        goto out;
                }
        }
out:
        if (sock)
                zmq_close(sock);
        free(req);
        return NULL;
}

/* ---- the report --------------------------------------------------------- */

struct rss {
        bool have;
        long hwm_kb, rss_kb;
};

static struct rss read_rss(long pid)
{
        struct rss out = {0};
        char path[64], line[256];
        FILE *f;

        snprintf(path, sizeof path, "/proc/%ld/status", pid);
        f = fopen(path, "r");
        if (!f)
                return out;
        while (fgets(line, sizeof line, f)) {
                if (sscanf(line, "VmHWM: %ld kB", &out.hwm_kb) == 1)
                        out.have = true;
                sscanf(line, "VmRSS: %ld kB", &out.rss_kb);
        }
        fclose(f);
        return out;
}

static double us(int64_t ns)
{
        return (double)ns / 1000.0;
}

static const double pcts[] = {50, 90, 99, 99.9};
static const char *const pct_names[] = {"p50", "p90", "p99", "p99.9"};

static json_t *hist_json(const struct hist *h)
{
        json_t *o = json_object();

        json_object_set_new(o, "count", json_integer((json_int_t)h->n));
        json_object_set_new(o, "min_us", json_real(h->n ? us(h->min) : 0));
        json_object_set_new(o, "mean_us", json_real(h->n ? h->sum / (double)h->n / 1000.0 : 0));
        for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
                char key[32];
                snprintf(key, sizeof key, "%s_us", pct_names[i]);
                json_object_set_new(o, key, json_real(us(hist_percentile(h, pcts[i]))));
        }
        json_object_set_new(o, "max_us", json_real(us(h->max)));
        return o;
}

static void print_ms(const char *label, int64_t ns)
{
        if (ns < 10 * NS_PER_MS)
                printf(" %s %.3f ms", label, (double)ns / 1e6);
        else
                printf(" %s %.1f ms", label, (double)ns / 1e6);
}

static void print_hist(const char *title, const struct hist *h)
{
        printf("  %s (%" PRIu64 "):", title, h->n);
        if (!h->n) {
                printf(" none\n");
                return;
        }
        print_ms("min", h->min);
        for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++)
                print_ms(pct_names[i], hist_percentile(h, pcts[i]));
        print_ms("max", h->max);
        print_ms("mean", (int64_t)(h->sum / (double)h->n));
        printf("\n");
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *to)
{
        fprintf(to,
                "Usage: " PROG " [OPTION]...\n"
                "Submit referrals to referrald as fast as allowed and measure throughput and\n"
                "latency (send to reply).\n"
                "\n"
                "  -e, --endpoint EP    the daemon's intake (default " DEFAULT_ENDPOINT ")\n"
                "  -c, --clients N      DEALER sockets, one thread each (default %d)\n"
                "  -w, --window N       requests in flight per client (default %d)\n"
                "  -n, --total N        referrals to submit over all clients (default %d)\n"
                "      --rate R         offered load in requests/s over all clients, open loop;\n"
                "                       0 = as fast as the window allows (default 0)\n"
                "      --pid PID        report the daemon's peak and current RSS at the end\n"
                "      --partner P      the partner id of the referrals (default " DEFAULT_PARTNER
                ")\n"
                "      --ref-prefix S   prefix of every ref (default: random, so that reruns\n"
                "                       do not meet their earlier referrals as duplicates)\n"
                "      --json           print the results as one JSON object\n"
                "  -h, --help           this help\n"
                "  -V, --version        the version\n"
                "\n"
                "A request unanswered after 10 s is a timeout: sending stops and the run ends.\n"
                "With --rate, latency is also measured from each request's due time, so that\n"
                "a stall of the daemon shows even when the window holds the sends back.\n"
                "\n"
                "Exit status: 0 every request answered ok; 1 an error reply, a timeout, a reply\n"
                "matching no request, or a fault; 2 a usage error.\n",
                DEFAULT_CLIENTS, DEFAULT_WINDOW, DEFAULT_TOTAL);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void usage_error(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, PROG ": ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry '" PROG " --help'.\n");
        exit(EXIT_USAGE);
}

static long long parse_int(const char *opt, const char *s, long long lo, long long hi)
{
        char *end;
        long long v;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || end == s || *end || v < lo || v > hi)
                usage_error("%s wants a whole number from %lld to %lld, not '%s'", opt, lo, hi, s);
        return v;
}

static bool partner_ok(const char *p)
{
        size_t n = strlen(p);

        if (n < 1 || n > 64 || !(islower((unsigned char)p[0]) || isdigit((unsigned char)p[0])))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!(islower((unsigned char)p[i]) || isdigit((unsigned char)p[i]) || p[i] == '_' ||
                      p[i] == '-'))
                        return false;
        return true;
}

static void on_signal(int sig)
{
        (void)sig;
        interrupted = 1;
}

enum { OPT_RATE = 256, OPT_PID, OPT_PARTNER, OPT_PREFIX, OPT_JSON };

static void parse_options(int argc, char **argv, struct options *opt)
{
        static const struct option longopts[] = {
                {"endpoint", required_argument, NULL, 'e'},
                {"clients", required_argument, NULL, 'c'},
                {"window", required_argument, NULL, 'w'},
                {"total", required_argument, NULL, 'n'},
                {"rate", required_argument, NULL, OPT_RATE},
                {"pid", required_argument, NULL, OPT_PID},
                {"partner", required_argument, NULL, OPT_PARTNER},
                {"ref-prefix", required_argument, NULL, OPT_PREFIX},
                {"json", no_argument, NULL, OPT_JSON},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {0},
        };
        bool have_prefix = false;
        int ch;

        opt->endpoint = DEFAULT_ENDPOINT;
        opt->clients = DEFAULT_CLIENTS;
        opt->window = DEFAULT_WINDOW;
        opt->total = DEFAULT_TOTAL;
        opt->partner = DEFAULT_PARTNER;
        while ((ch = getopt_long(argc, argv, "e:c:w:n:hV", longopts, NULL)) != -1) {
                switch (ch) {
                case 'e': opt->endpoint = optarg; break;
                case 'c': opt->clients = (int)parse_int("-c", optarg, 1, MAX_CLIENTS); break;
                case 'w': opt->window = (int)parse_int("-w", optarg, 1, MAX_WINDOW); break;
                case 'n': opt->total = (uint64_t)parse_int("-n", optarg, 1, INT64_MAX); break;
                case OPT_RATE: {
                        char *end;
                        errno = 0;
                        opt->rate = strtod(optarg, &end);
                        if (errno || end == optarg || *end || !(opt->rate >= 0) || opt->rate > 1e8)
                                usage_error("--rate wants requests per second, 0 or more, not "
                                            "'%s'",
                                            optarg);
                        break;
                }
                case OPT_PID: opt->pid = (long)parse_int("--pid", optarg, 1, 1L << 30); break;
                case OPT_PARTNER:
                        if (!partner_ok(optarg))
                                usage_error("--partner wants an id [a-z0-9][a-z0-9_-]{0,63}, "
                                            "not '%s'",
                                            optarg);
                        opt->partner = optarg;
                        break;
                case OPT_PREFIX:
                        /* the ref is printable ASCII without space; keep out '"' and '\\' so
                         * it goes into JSON as is, and leave room for "-CLIENT-SEQ" */
                        if (!*optarg || strlen(optarg) > PREFIX_MAX ||
                            strspn(optarg, "!#$%&'()*+,-./0123456789:;<=>?@"
                                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`"
                                           "abcdefghijklmnopqrstuvwxyz{|}~") != strlen(optarg))
                                usage_error("--ref-prefix wants 1 to %d printable ASCII "
                                            "characters without space, '\"' or '\\', not '%s'",
                                            PREFIX_MAX, optarg);
                        snprintf(opt->prefix, sizeof opt->prefix, "%s", optarg);
                        have_prefix = true;
                        break;
                case OPT_JSON: opt->json = true; break;
                case 'h': usage(stdout); exit(EXIT_OK);
                case 'V': printf(PROG " " RD_VERSION "\n"); exit(EXIT_OK);
                default: fprintf(stderr, "Try '" PROG " --help'.\n"); exit(EXIT_USAGE);
                }
        }
        if (optind < argc)
                usage_error("unexpected argument '%s'", argv[optind]);
        if ((uint64_t)opt->clients > opt->total)
                usage_error("-c %d clients for -n %" PRIu64 " referrals: some would have none",
                            opt->clients, opt->total);
        if (!have_prefix) {
                uint32_t r;
                if (getrandom(&r, sizeof r, 0) != sizeof r)
                        r = (uint32_t)mono_ns() ^ (uint32_t)getpid();
                snprintf(opt->prefix, sizeof opt->prefix, "BENCH-%08" PRIx32, r);
        }
}

int main(int argc, char **argv)
{
        struct options opt = {0};
        struct client *clients;
        struct stats *all;
        pthread_barrier_t barrier;
        struct sigaction sa = {.sa_handler = on_signal};
        int64_t first = INT64_MAX, last = 0, wall, max_lag = 0;
        uint64_t answered;
        struct rss rss = {0};
        double throughput;
        bool failed = false;
        int fault = 0, fault_client = -1;
        void *zctx;

        parse_options(argc, argv, &opt);
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);

        clients = calloc((size_t)opt.clients, sizeof *clients);
        all = calloc(1, sizeof *all);
        zctx = zmq_ctx_new();
        if (!clients || !all || !zctx) {
                fprintf(stderr, PROG ": out of memory\n");
                return EXIT_FAIL;
        }
        hist_init(&all->lat);
        hist_init(&all->lat_sched);
        pthread_barrier_init(&barrier, NULL, (unsigned)opt.clients);
        for (int i = 0; i < opt.clients; i++) {
                struct client *c = &clients[i];
                c->index = i;
                c->opt = &opt;
                c->zctx = zctx;
                c->barrier = &barrier;
                c->quota = opt.total / (uint64_t)opt.clients +
                           ((uint64_t)i < opt.total % (uint64_t)opt.clients);
                c->slots = calloc((size_t)opt.window, sizeof *c->slots);
                c->free_slots = calloc((size_t)opt.window, sizeof *c->free_slots);
                if (!c->slots || !c->free_slots) {
                        fprintf(stderr, PROG ": out of memory\n");
                        return EXIT_FAIL;
                }
                for (int s = opt.window - 1; s >= 0; s--)
                        c->free_slots[c->n_free++] = s;
                c->prefix_hash = UINT64_C(1469598103934665603); /* FNV-1a of the prefix */
                for (const char *p = opt.prefix; *p; p++)
                        c->prefix_hash =
                                (c->prefix_hash ^ (unsigned char)*p) * UINT64_C(1099511628211);
                hist_init(&c->st.lat);
                hist_init(&c->st.lat_sched);
                if (pthread_create(&c->thread, NULL, client_main, c) != 0) {
                        fprintf(stderr, PROG ": cannot start a client thread\n");
                        return EXIT_FAIL;
                }
        }
        for (int i = 0; i < opt.clients; i++) {
                struct client *c = &clients[i];
                struct stats *s = &c->st;

                pthread_join(c->thread, NULL);
                if (c->fault && !fault) {
                        fault = c->fault;
                        fault_client = i;
                }
                if (!c->fault || s->sent) {
                        if (s->first_send_ns && s->first_send_ns < first)
                                first = s->first_send_ns;
                        if (s->last_reply_ns > last)
                                last = s->last_reply_ns;
                }
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
                if (s->max_send_lag_ns > max_lag)
                        max_lag = s->max_send_lag_ns;
                hist_merge(&all->lat, &s->lat);
                hist_merge(&all->lat_sched, &s->lat_sched);
                if (!all->first_error[0] && s->first_error[0])
                        memcpy(all->first_error, s->first_error, sizeof all->first_error);
                if (!all->first_unmatched[0] && s->first_unmatched[0])
                        memcpy(all->first_unmatched, s->first_unmatched,
                               sizeof all->first_unmatched);
        }
        zmq_ctx_term(zctx);
        if (opt.pid)
                rss = read_rss(opt.pid);

        wall = last > first ? last - first : 0;
        answered = all->ok + all->errors;
        throughput = wall > 0 ? (double)answered * (double)NS_PER_S / (double)wall : 0;
        failed = fault || all->errors || all->timeouts || all->unmatched || all->bad_replies ||
                 all->sent < opt.total || (opt.pid && !rss.have);

        if (fault)
                fprintf(stderr, PROG ": client %d: %s\n", fault_client,
                        fault == ETIMEDOUT ? "the daemon did not answer a ping within 10 s"
                        : fault == EPROTO  ? "the daemon answered the ping with an error"
                                           : zmq_strerror(fault));
        if (opt.pid && !rss.have)
                fprintf(stderr, PROG ": cannot read /proc/%ld/status\n", opt.pid);
        if (interrupted)
                fprintf(stderr, PROG ": interrupted; the results cover what was sent\n");
        if (all->timeouts)
                fprintf(stderr,
                        PROG ": %" PRIu64 " requests unanswered after 10 s; the run stopped\n",
                        all->timeouts);
        if (all->unmatched)
                fprintf(stderr,
                        PROG ": BUG: %" PRIu64 " replies matched no request in flight; "
                             "the first: %s\n",
                        all->unmatched, all->first_unmatched);

        if (opt.json) {
                json_t *o = json_object(), *codes = json_object(), *st = json_object();
                char *text;

                json_object_set_new(o, "endpoint", json_string(opt.endpoint));
                json_object_set_new(o, "clients", json_integer(opt.clients));
                json_object_set_new(o, "window", json_integer(opt.window));
                json_object_set_new(o, "total", json_integer((json_int_t)opt.total));
                json_object_set_new(o, "rate", json_real(opt.rate));
                json_object_set_new(o, "ref_prefix", json_string(opt.prefix));
                json_object_set_new(o, "sent", json_integer((json_int_t)all->sent));
                json_object_set_new(o, "wall_s", json_real((double)wall / 1e9));
                json_object_set_new(o, "throughput_rps", json_real(throughput));
                json_object_set_new(o, "ok", json_integer((json_int_t)all->ok));
                json_object_set_new(o, "duplicates", json_integer((json_int_t)all->duplicates));
                for (size_t k = 0; k < N_STATUSES; k++)
                        json_object_set_new(st, statuses[k],
                                            json_integer((json_int_t)all->by_status[k]));
                json_object_set_new(o, "by_status", st);
                json_object_set_new(o, "errors", json_integer((json_int_t)all->errors));
                for (size_t k = 0; k < N_CODES; k++)
                        if (all->by_code[k])
                                json_object_set_new(codes, error_codes[k],
                                                    json_integer((json_int_t)all->by_code[k]));
                json_object_set_new(o, "errors_by_code", codes);
                if (all->first_error[0])
                        json_object_set_new(o, "first_error", json_string(all->first_error));
                json_object_set_new(o, "timeouts", json_integer((json_int_t)all->timeouts));
                json_object_set_new(o, "late_replies", json_integer((json_int_t)all->late));
                json_object_set_new(o, "unmatched_replies",
                                    json_integer((json_int_t)all->unmatched));
                json_object_set_new(o, "latency", hist_json(&all->lat));
                if (opt.rate > 0) {
                        json_object_set_new(o, "latency_from_due", hist_json(&all->lat_sched));
                        json_object_set_new(o, "max_send_lag_us", json_real(us(max_lag)));
                }
                if (opt.pid && rss.have) {
                        json_object_set_new(o, "daemon_peak_rss_kb", json_integer(rss.hwm_kb));
                        json_object_set_new(o, "daemon_rss_kb", json_integer(rss.rss_kb));
                }
                if (fault)
                        json_object_set_new(o, "fault", json_string(zmq_strerror(fault)));
                json_object_set_new(o, "interrupted", json_boolean(interrupted));
                json_object_set_new(o, "exit", json_integer(failed ? EXIT_FAIL : EXIT_OK));
                text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
                if (text)
                        puts(text);
                free(text);
                json_decref(o);
        } else {
                printf(PROG ": %" PRIu64 " submits, %d client%s x window %d, %s\n", opt.total,
                       opt.clients, opt.clients == 1 ? "" : "s", opt.window, opt.endpoint);
                if (opt.rate > 0)
                        printf("  offered %.1f req/s (open loop), latest send %.3f ms after its "
                               "due time\n",
                               opt.rate, (double)max_lag / 1e6);
                printf("  sent %" PRIu64 ", answered %" PRIu64 " in %.3f s: %.1f req/s\n",
                       all->sent, answered, (double)wall / 1e9, throughput);
                printf("  ok %" PRIu64 " (duplicates %" PRIu64 "):", all->ok, all->duplicates);
                for (size_t k = 0; k < N_STATUSES; k++)
                        if (all->by_status[k] || k + 1 < N_STATUSES)
                                printf(" %s %" PRIu64, statuses[k], all->by_status[k]);
                printf("\n  errors %" PRIu64, all->errors);
                for (size_t k = 0; k < N_CODES; k++)
                        if (all->by_code[k])
                                printf(" %s %" PRIu64, error_codes[k], all->by_code[k]);
                if (all->first_error[0])
                        printf(" (first: %s)", all->first_error);
                printf("; timeouts %" PRIu64 "; late replies %" PRIu64
                       "; unmatched replies %" PRIu64 "\n",
                       all->timeouts, all->late, all->unmatched);
                print_hist("latency send->reply", &all->lat);
                if (opt.rate > 0)
                        print_hist("latency due->reply", &all->lat_sched);
                if (opt.pid && rss.have)
                        printf("  daemon pid %ld: peak RSS %.1f MiB, RSS now %.1f MiB\n", opt.pid,
                               (double)rss.hwm_kb / 1024, (double)rss.rss_kb / 1024);
                printf("  ref prefix %s\n", opt.prefix);
        }

        for (int i = 0; i < opt.clients; i++) {
                free(clients[i].slots);
                free(clients[i].free_slots);
        }
        pthread_barrier_destroy(&barrier);
        free(clients);
        free(all);
        return failed ? EXIT_FAIL : EXIT_OK;
}
