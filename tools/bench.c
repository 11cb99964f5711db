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
 * The server is either one already running (-e ENDPOINT, --pid PID) or one
 * this program starts and stops itself, each in a fresh temporary directory
 * (mkdtemp under $TMPDIR or /tmp) that is removed afterwards (unless
 * --keep): --spawn starts referrald with a generated config (intake and
 * events on free loopback ports, the database in that directory, the
 * embedded routing rules, its log in referrald.log there); --floor starts
 * referral-floor (tools/floor.c), the least a server must do for this load
 * with the daemon's durability: receive, one insert per submit, one commit
 * per drained batch, reply. --compare (or --spawn and --floor together)
 * runs the identical load against both, one after the other, and prints
 * the ratio of their throughputs: what the daemon costs above that floor.
 * Both binaries are taken from the directory of this one unless given. A
 * started server is ready when it answers a ping; its peak RSS is read
 * before it gets SIGTERM, the size of its database (file and write-ahead
 * log) before and after it stops; it must exit 0.
 *
 * Exit codes: 0 every request answered ok (or duplicate) and every server
 * started here stopped cleanly, 1 an error reply, a timeout (no reply
 * within 10 s), an unmatched reply, a server that did not start or stop
 * cleanly, or a runtime fault, 2 a usage error. */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
#define DAEMON_NAME "referrald"
#define FLOOR_NAME "referral-floor"
#define START_TIMEOUT_NS (20 * NS_PER_S) /* a started server must answer a ping by then */
#define STOP_TIMEOUT_NS (30 * NS_PER_S)  /* and exit after SIGTERM by then, or get SIGKILL */

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
        bool spawn_daemon, spawn_floor; /* --spawn, --floor; both: --compare */
        const char *daemon_path;        /* --spawn=PATH; NULL: beside this program */
        const char *floor_path;         /* --floor=PATH; NULL: beside this program */
        bool keep;                      /* --keep: leave the temporary directories */
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

/* ---- servers started here (--spawn, --floor) ----------------------------- */

enum server_kind { SERVER_DAEMON, SERVER_FLOOR };

struct server {
        enum server_kind kind;
        char path[PATH_MAX];
        char dir[PATH_MAX]; /* the temporary directory; "" none */
        char config[PATH_MAX + 32], db[PATH_MAX + 32], log[PATH_MAX + 32];
        char endpoint[64];
        pid_t pid;                             /* running: > 0 */
        long ran_pid;                          /* for the report */
        long long db_bytes, wal_bytes;         /* after the load, still serving */
        long long db_bytes_end, wal_bytes_end; /* after it stopped */
        int status;                            /* its wait status, once it exited */
        bool exited, failed;                   /* failed: did not start or stop cleanly */
};

extern char **environ;

static const char *server_name(const struct server *srv)
{
        return srv->kind == SERVER_DAEMON ? "daemon" : "floor";
}

/* The binary of SRV: GIVEN (--spawn=PATH) or, by default, the one in the
 * directory of this program (for an installed referrald also ../sbin). */
static int locate(struct server *srv, const char *given)
{
        const char *name = srv->kind == SERVER_DAEMON ? DAEMON_NAME : FLOOR_NAME;
        const char *option = srv->kind == SERVER_DAEMON ? "--spawn" : "--floor";
        char self[PATH_MAX - 64], *slash; /* room for "/../sbin/NAME" */
        ssize_t n;

        if (given) {
                if (!realpath(given, srv->path) || access(srv->path, X_OK) < 0) {
                        fprintf(stderr, PROG ": %s=%s: %s\n", option, given, strerror(errno));
                        return -1;
                }
                return 0;
        }
        n = readlink("/proc/self/exe", self, sizeof self);
        if (n <= 0 || (size_t)n >= sizeof self) {
                fprintf(stderr, PROG ": cannot find the directory of this program: %s\n",
                        n < 0 ? strerror(errno) : "its path is too long");
                return -1;
        }
        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash)
                *slash = '\0';
        snprintf(srv->path, sizeof srv->path, "%s/%s", self, name);
        if (access(srv->path, X_OK) == 0)
                return 0;
        if (srv->kind == SERVER_DAEMON) {
                char sbin[PATH_MAX];
                snprintf(sbin, sizeof sbin, "%s/../sbin/%s", self, name);
                if (realpath(sbin, srv->path) && access(srv->path, X_OK) == 0)
                        return 0;
        }
        fprintf(stderr, PROG ": no %s in %s; name it with %s=PATH\n", name, self, option);
        return -1;
}

/* Free TCP ports on the loopback: bound to port 0 and let go again (the
 * server binds them a moment later). N is at most 2. */
static int free_ports(int *ports, int n)
{
        int fds[2] = {-1, -1}, r = 0;

        for (int i = 0; i < n && r == 0; i++) {
                struct sockaddr_in a = {.sin_family = AF_INET,
                                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
                socklen_t len = sizeof a;

                fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof a) < 0 ||
                    getsockname(fds[i], (struct sockaddr *)&a, &len) < 0)
                        r = -errno;
                else
                        ports[i] = ntohs(a.sin_port);
        }
        for (int i = 0; i < n; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        return r;
}

/* The daemon's config (daemon.md, config/referrald.yaml): the endpoints and
 * the database; the rest as by default, the routing rules the embedded ones,
 * journal_events `all` (the event lines go to the log, as they go to the
 * journal under systemd). */
static int write_config(const struct server *srv, int events_port)
{
        int fd = open(srv->config, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

        if (!f) {
                fprintf(stderr, PROG ": cannot write %s: %s\n", srv->config, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        fprintf(f,
                "# written by " PROG " --spawn for one run\n"
                "intake: %s\n"
                "events: tcp://127.0.0.1:%d\n"
                "database: '",
                srv->endpoint, events_port);
        for (const char *p = srv->db; *p; p++) {
                if (*p == '\'')
                        fputc('\'', f); /* YAML single quotes: '' is one ' */
                fputc(*p, f);
        }
        fputs("'\n", f);
        if (fclose(f) != 0) {
                fprintf(stderr, PROG ": cannot write %s: %s\n", srv->config, strerror(errno));
                return -1;
        }
        return 0;
}

/* This environment without what would let the child talk to the service
 * manager of this program. Points into environ; free the array only. */
static char **child_env(void)
{
        static const char *const drop[] = {"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=",
                                           "LISTEN_FDS=",    "LISTEN_PID=",    "LISTEN_FDNAMES="};
        size_t n = 0, k = 0;
        char **env;

        while (environ[n])
                n++;
        env = calloc(n + 1, sizeof *env);
        if (!env)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                bool skip = false;
                for (size_t d = 0; d < sizeof drop / sizeof drop[0]; d++)
                        skip |= strncmp(environ[i], drop[d], strlen(drop[d])) == 0;
                if (!skip)
                        env[k++] = environ[i];
        }
        return env;
}

static void describe_status(int status, char *buf, size_t cap)
{
        if (WIFEXITED(status))
                snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status),
                         strsignal(WTERMSIG(status)));
        else
                snprintf(buf, cap, "wait status %d", status);
}

/* The end of the server's log on stderr: why it did not start or stop. */
static void show_log(const struct server *srv)
{
        char buf[4096];
        FILE *f = fopen(srv->log, "r");
        size_t n;
        const char *text = buf;

        if (!f)
                return;
        if (fseek(f, -(long)(sizeof buf - 1), SEEK_END) < 0)
                rewind(f);
        else
                text = NULL; /* mid-line: start at the next line */
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        if (!text) {
                text = strchr(buf, '\n');
                text = text ? text + 1 : buf;
        }
        if (*text)
                fprintf(stderr, PROG ": the end of the %s's log %s:\n%s%s", server_name(srv),
                        srv->log, text, text[strlen(text) - 1] == '\n' ? "" : "\n");
}

/* Note that the server exited with STATUS. */
static void reaped(struct server *srv, int status)
{
        srv->pid = 0;
        srv->exited = true;
        srv->status = status;
}

/* Wait until the server answers a ping, or it exits, or the deadline. */
static int wait_ready(struct server *srv)
{
        static const char ping[] = "{\"op\":\"ping\",\"corr\":\"ready\"}";
        int64_t deadline = mono_ns() + START_TIMEOUT_NS;
        void *zctx = zmq_ctx_new(), *sock = zctx ? zmq_socket(zctx, ZMQ_DEALER) : NULL;
        int zero = 0, r = -1;

        if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) < 0 ||
            zmq_connect(sock, srv->endpoint) < 0 || zmq_send(sock, ping, sizeof ping - 1, 0) < 0) {
                fprintf(stderr, PROG ": cannot ping the %s at %s: %s\n", server_name(srv),
                        srv->endpoint, zmq_strerror(errno));
                goto out;
        }
        /* the ping waits in the socket until the server has bound its port */
        for (;;) {
                zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
                char what[96];
                int status;

                if (zmq_poll(&it, 1, 20) > 0) {
                        zmq_msg_t msg;
                        zmq_msg_init(&msg);
                        if (zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) >= 0) {
                                bool ok = memmem(zmq_msg_data(&msg), zmq_msg_size(&msg),
                                                 "\"ok\":true", 9) != NULL;
                                zmq_msg_close(&msg);
                                if (ok)
                                        r = 0;
                                else
                                        fprintf(stderr,
                                                PROG ": the %s answered the ping with an error\n",
                                                server_name(srv));
                                break;
                        }
                        zmq_msg_close(&msg);
                }
                if (waitpid(srv->pid, &status, WNOHANG) == srv->pid) {
                        reaped(srv, status);
                        describe_status(status, what, sizeof what);
                        fprintf(stderr, PROG ": the %s %s exited before it answered a ping: %s\n",
                                server_name(srv), srv->path, what);
                        show_log(srv);
                        break;
                }
                if (interrupted) {
                        fprintf(stderr, PROG ": interrupted while the %s started\n",
                                server_name(srv));
                        break;
                }
                if (mono_ns() >= deadline) {
                        fprintf(stderr, PROG ": the %s did not answer a ping within %d s\n",
                                server_name(srv), (int)(START_TIMEOUT_NS / NS_PER_S));
                        show_log(srv);
                        break;
                }
        }
out:
        if (sock)
                zmq_close(sock);
        if (zctx)
                zmq_ctx_term(zctx);
        return r;
}

static int server_stop(struct server *srv);

/* Make the temporary directory, the config, start the server in it and
 * wait until it answers. On failure the server is stopped again. */
static int server_start(struct server *srv)
{
        const char *tmp = getenv("TMPDIR");
        const char *base = srv->kind == SERVER_DAEMON ? DAEMON_NAME : "floor";
        char *argv[6], **env;
        int ports[2], logfd, nullfd, r;
        pid_t parent = getpid(), pid;

        if (!tmp || !*tmp)
                tmp = "/tmp";
        if (snprintf(srv->dir, sizeof srv->dir, "%s/" PROG ".XXXXXX", tmp) >=
                    (int)sizeof srv->dir ||
            !mkdtemp(srv->dir)) {
                fprintf(stderr, PROG ": cannot make a temporary directory in %s: %s\n", tmp,
                        strerror(errno));
                srv->dir[0] = '\0';
                return -1;
        }
        snprintf(srv->db, sizeof srv->db, "%s/%s.db", srv->dir, base);
        snprintf(srv->log, sizeof srv->log, "%s/%s.log", srv->dir, base);
        snprintf(srv->config, sizeof srv->config, "%s/%s.yaml", srv->dir, base);
        r = free_ports(ports, srv->kind == SERVER_DAEMON ? 2 : 1);
        if (r < 0) {
                fprintf(stderr, PROG ": cannot find a free port on 127.0.0.1: %s\n", strerror(-r));
                return -1;
        }
        snprintf(srv->endpoint, sizeof srv->endpoint, "tcp://127.0.0.1:%d", ports[0]);
        if (srv->kind == SERVER_DAEMON) {
                if (write_config(srv, ports[1]) < 0)
                        return -1;
                argv[0] = srv->path;
                argv[1] = "-c";
                argv[2] = srv->config;
                argv[3] = NULL;
        } else {
                argv[0] = srv->path;
                argv[1] = "-e";
                argv[2] = srv->endpoint;
                argv[3] = "-d";
                argv[4] = srv->db;
                argv[5] = NULL;
        }
        logfd = open(srv->log, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        env = child_env();
        if (logfd < 0 || nullfd < 0 || !env) {
                fprintf(stderr, PROG ": cannot set up the %s: %s\n", server_name(srv),
                        strerror(errno));
                goto fail_fds;
        }
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid == 0) {
                /* the child: only async-signal-safe calls up to the exec */
                static const char msg[] = PROG ": cannot execute the server\n";
                sigset_t none;

                if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0 ||
                    chdir(srv->dir) < 0)
                        _exit(127);
                /* its own process group: a Ctrl-C reaches this program alone,
                 * which lets the replies in flight come back, then stops it */
                setpgid(0, 0);
                /* and should this program die, the server stops too */
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() != parent)
                        _exit(127);
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                execve(srv->path, argv, env);
                if (write(2, msg, sizeof msg - 1) < 0)
                        _exit(127);
                _exit(127);
        }
        if (pid < 0) {
                fprintf(stderr, PROG ": cannot start the %s: %s\n", server_name(srv),
                        strerror(errno));
                goto fail_fds;
        }
        close(logfd);
        close(nullfd);
        free(env);
        srv->pid = pid;
        srv->ran_pid = (long)pid;
        if (wait_ready(srv) < 0) {
                if (srv->pid > 0)
                        server_stop(srv);
                srv->failed = true;
                return -1;
        }
        return 0;
fail_fds:
        if (logfd >= 0)
                close(logfd);
        if (nullfd >= 0)
                close(nullfd);
        free(env);
        return -1;
}

/* The size of PATH in bytes; 0 when it does not exist. */
static long long file_size(const char *path)
{
        struct stat st;

        return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

static void db_sizes(const struct server *srv, long long *db, long long *wal)
{
        char wal_path[sizeof srv->db + 8];

        snprintf(wal_path, sizeof wal_path, "%s-wal", srv->db);
        *db = file_size(srv->db);
        *wal = file_size(wal_path);
}

/* SIGTERM, and wait for the exit; SIGKILL when it takes too long. Returns
 * 0 when the server exited 0 in time. */
static int server_stop(struct server *srv)
{
        int64_t deadline = mono_ns() + STOP_TIMEOUT_NS;
        char what[96];
        int status = 0;

        if (srv->pid > 0) {
                db_sizes(srv, &srv->db_bytes, &srv->wal_bytes);
                kill(srv->pid, SIGTERM);
                for (;;) {
                        /* a short poll with a deadline: a daemon checkpoints its
                         * write-ahead log as it closes the database */
                        struct timespec ts = {.tv_nsec = 5 * NS_PER_MS};
                        pid_t r = waitpid(srv->pid, &status, WNOHANG);

                        if (r == srv->pid)
                                break;
                        if (r < 0 && errno != EINTR) {
                                fprintf(stderr, PROG ": waiting for the %s: %s\n", server_name(srv),
                                        strerror(errno));
                                srv->pid = 0;
                                srv->failed = true;
                                return -1;
                        }
                        if (mono_ns() >= deadline) {
                                fprintf(stderr,
                                        PROG ": the %s did not stop within %d s of SIGTERM; "
                                             "SIGKILL\n",
                                        server_name(srv), (int)(STOP_TIMEOUT_NS / NS_PER_S));
                                kill(srv->pid, SIGKILL);
                                waitpid(srv->pid, &status, 0);
                                break;
                        }
                        nanosleep(&ts, NULL);
                }
                reaped(srv, status);
        }
        db_sizes(srv, &srv->db_bytes_end, &srv->wal_bytes_end);
        if (!srv->exited || !WIFEXITED(srv->status) || WEXITSTATUS(srv->status) != 0) {
                describe_status(srv->status, what, sizeof what);
                fprintf(stderr, PROG ": the %s %s stopped with %s\n", server_name(srv), srv->path,
                        what);
                show_log(srv);
                srv->failed = true;
                return -1;
        }
        return 0;
}

/* Remove the temporary directory and what the server left in it. */
static void server_cleanup(struct server *srv, bool keep)
{
        DIR *d;

        if (!srv->dir[0] || keep)
                return;
        d = opendir(srv->dir);
        if (d) {
                struct dirent *e;
                while ((e = readdir(d)) != NULL)
                        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                                unlinkat(dirfd(d), e->d_name, 0);
                closedir(d);
        }
        if (rmdir(srv->dir) < 0)
                fprintf(stderr, PROG ": cannot remove %s: %s\n", srv->dir, strerror(errno));
        srv->dir[0] = '\0';
}

/* ---- one run ------------------------------------------------------------ */

struct result {
        struct stats all;
        int64_t wall, max_lag;
        uint64_t answered;
        double throughput;
        struct rss rss;
        int fault, fault_client;
        bool failed;
};

/* Run the load of OPT against OPT->endpoint, read the RSS of OPT->pid if
 * set, and gather the results. NULL when out of memory. */
static struct result *run_load(const struct options *opt)
{
        struct client *clients = calloc((size_t)opt->clients, sizeof *clients);
        struct result *res = calloc(1, sizeof *res);
        struct stats *all;
        pthread_barrier_t barrier;
        int64_t first = INT64_MAX, last = 0;
        void *zctx = zmq_ctx_new();

        if (!clients || !res || !zctx)
                goto oom;
        __atomic_store_n(&abort_run, 0, __ATOMIC_RELAXED);
        all = &res->all;
        res->fault_client = -1;
        hist_init(&all->lat);
        hist_init(&all->lat_sched);
        for (int i = 0; i < opt->clients; i++) {
                struct client *c = &clients[i];
                c->index = i;
                c->opt = opt;
                c->zctx = zctx;
                c->barrier = &barrier;
                c->quota = opt->total / (uint64_t)opt->clients +
                           ((uint64_t)i < opt->total % (uint64_t)opt->clients);
                c->slots = calloc((size_t)opt->window, sizeof *c->slots);
                c->free_slots = calloc((size_t)opt->window, sizeof *c->free_slots);
                if (!c->slots || !c->free_slots)
                        goto oom;
                for (int s = opt->window - 1; s >= 0; s--)
                        c->free_slots[c->n_free++] = s;
                c->prefix_hash = UINT64_C(1469598103934665603); /* FNV-1a of the prefix */
                for (const char *p = opt->prefix; *p; p++)
                        c->prefix_hash =
                                (c->prefix_hash ^ (unsigned char)*p) * UINT64_C(1099511628211);
                hist_init(&c->st.lat);
                hist_init(&c->st.lat_sched);
        }
        pthread_barrier_init(&barrier, NULL, (unsigned)opt->clients);
        for (int i = 0; i < opt->clients; i++) {
                if (pthread_create(&clients[i].thread, NULL, client_main, &clients[i]) != 0) {
                        /* the clients started wait at the barrier for good; a
                         * server started here gets SIGTERM as this program ends */
                        fprintf(stderr, PROG ": cannot start a client thread\n");
                        exit(EXIT_FAIL);
                }
        }
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
                if (s->max_send_lag_ns > res->max_lag)
                        res->max_lag = s->max_send_lag_ns;
                hist_merge(&all->lat, &s->lat);
                hist_merge(&all->lat_sched, &s->lat_sched);
                if (!all->first_error[0] && s->first_error[0])
                        memcpy(all->first_error, s->first_error, sizeof all->first_error);
                if (!all->first_unmatched[0] && s->first_unmatched[0])
                        memcpy(all->first_unmatched, s->first_unmatched,
                               sizeof all->first_unmatched);
        }
        pthread_barrier_destroy(&barrier);
        zmq_ctx_term(zctx);
        if (opt->pid)
                res->rss = read_rss(opt->pid);

        res->wall = last > first ? last - first : 0;
        res->answered = all->ok + all->errors;
        res->throughput =
                res->wall > 0 ? (double)res->answered * (double)NS_PER_S / (double)res->wall : 0;
        res->failed = res->fault || all->errors || all->timeouts || all->unmatched ||
                      all->bad_replies || all->sent < opt->total || (opt->pid && !res->rss.have);
        for (int i = 0; i < opt->clients; i++) {
                free(clients[i].slots);
                free(clients[i].free_slots);
        }
        free(clients);
        return res;
oom:
        fprintf(stderr, PROG ": out of memory\n");
        if (clients)
                for (int i = 0; i < opt->clients; i++) {
                        free(clients[i].slots);
                        free(clients[i].free_slots);
                }
        free(clients);
        free(res);
        if (zctx)
                zmq_ctx_term(zctx);
        return NULL;
}

/* ---- the results -------------------------------------------------------- */

/* What went wrong in the run, on stderr. */
static void print_problems(const struct options *opt, const struct result *res)
{
        const struct stats *all = &res->all;

        if (res->fault)
                fprintf(stderr, PROG ": client %d: %s\n", res->fault_client,
                        res->fault == ETIMEDOUT ? "the daemon did not answer a ping within 10 s"
                        : res->fault == EPROTO  ? "the daemon answered the ping with an error"
                                                : zmq_strerror(res->fault));
        if (opt->pid && !res->rss.have)
                fprintf(stderr, PROG ": cannot read /proc/%ld/status\n", opt->pid);
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
}

static bool run_failed(const struct result *res, const struct server *srv)
{
        return res->failed || (srv && srv->failed);
}

/* The run as one JSON object; with SRV, the server started for it. */
static json_t *result_json(const struct options *opt, const struct result *res,
                           const struct server *srv)
{
        const struct stats *all = &res->all;
        json_t *o = json_object(), *codes = json_object(), *st = json_object();

        json_object_set_new(o, "endpoint", json_string(opt->endpoint));
        json_object_set_new(o, "clients", json_integer(opt->clients));
        json_object_set_new(o, "window", json_integer(opt->window));
        json_object_set_new(o, "total", json_integer((json_int_t)opt->total));
        json_object_set_new(o, "rate", json_real(opt->rate));
        json_object_set_new(o, "ref_prefix", json_string(opt->prefix));
        json_object_set_new(o, "sent", json_integer((json_int_t)all->sent));
        json_object_set_new(o, "wall_s", json_real((double)res->wall / 1e9));
        json_object_set_new(o, "throughput_rps", json_real(res->throughput));
        json_object_set_new(o, "ok", json_integer((json_int_t)all->ok));
        json_object_set_new(o, "duplicates", json_integer((json_int_t)all->duplicates));
        for (size_t k = 0; k < N_STATUSES; k++)
                json_object_set_new(st, statuses[k], json_integer((json_int_t)all->by_status[k]));
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
        json_object_set_new(o, "unmatched_replies", json_integer((json_int_t)all->unmatched));
        json_object_set_new(o, "latency", hist_json(&all->lat));
        if (opt->rate > 0) {
                json_object_set_new(o, "latency_from_due", hist_json(&all->lat_sched));
                json_object_set_new(o, "max_send_lag_us", json_real(us(res->max_lag)));
        }
        /* the keys say daemon also for the floor: "server" says which it was */
        if (opt->pid && res->rss.have) {
                json_object_set_new(o, "daemon_peak_rss_kb", json_integer(res->rss.hwm_kb));
                json_object_set_new(o, "daemon_rss_kb", json_integer(res->rss.rss_kb));
        }
        if (srv) {
                json_t *so = json_object();
                json_object_set_new(so, "kind", json_string(server_name(srv)));
                json_object_set_new(so, "path", json_string(srv->path));
                json_object_set_new(so, "pid", json_integer(srv->ran_pid));
                if (opt->keep)
                        json_object_set_new(so, "dir", json_string(srv->dir));
                json_object_set_new(so, "db_bytes", json_integer(srv->db_bytes));
                json_object_set_new(so, "wal_bytes", json_integer(srv->wal_bytes));
                json_object_set_new(so, "db_bytes_after_stop", json_integer(srv->db_bytes_end));
                json_object_set_new(so, "wal_bytes_after_stop", json_integer(srv->wal_bytes_end));
                json_object_set_new(so, "stopped_cleanly", json_boolean(!srv->failed));
                json_object_set_new(o, "server", so);
        }
        if (res->fault)
                json_object_set_new(o, "fault", json_string(zmq_strerror(res->fault)));
        json_object_set_new(o, "interrupted", json_boolean(interrupted));
        json_object_set_new(o, "exit", json_integer(run_failed(res, srv) ? EXIT_FAIL : EXIT_OK));
        return o;
}

/* BYTES for people: "812 KiB", "14.3 MiB". */
static const char *size_text(long long bytes, char *buf, size_t cap)
{
        if (bytes < 1024 * 1024)
                snprintf(buf, cap, "%.0f KiB", (double)bytes / 1024.0);
        else
                snprintf(buf, cap, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
        return buf;
}

/* The run as text; with SRV, the server started for it. */
static void print_result(const struct options *opt, const struct result *res,
                         const struct server *srv)
{
        const struct stats *all = &res->all;

        if (srv && srv->kind == SERVER_DAEMON)
                printf("== the daemon: %s ==\n", srv->path);
        else if (srv)
                printf("== the FLOOR, not the daemon: %s (receive, one insert per submit, a "
                       "commit per batch, reply) ==\n",
                       srv->path);
        printf(PROG ": %" PRIu64 " submits, %d client%s x window %d, %s\n", opt->total,
               opt->clients, opt->clients == 1 ? "" : "s", opt->window, opt->endpoint);
        if (opt->rate > 0)
                printf("  offered %.1f req/s (open loop), latest send %.3f ms after its "
                       "due time\n",
                       opt->rate, (double)res->max_lag / 1e6);
        printf("  sent %" PRIu64 ", answered %" PRIu64 " in %.3f s: %.1f req/s\n", all->sent,
               res->answered, (double)res->wall / 1e9, res->throughput);
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
        printf("; timeouts %" PRIu64 "; late replies %" PRIu64 "; unmatched replies %" PRIu64 "\n",
               all->timeouts, all->late, all->unmatched);
        print_hist("latency send->reply", &all->lat);
        if (opt->rate > 0)
                print_hist("latency due->reply", &all->lat_sched);
        if (opt->pid && res->rss.have)
                printf("  %s pid %ld: peak RSS %.1f MiB, RSS now %.1f MiB\n",
                       srv ? server_name(srv) : "daemon", opt->pid, (double)res->rss.hwm_kb / 1024,
                       (double)res->rss.rss_kb / 1024);
        if (srv) {
                uint64_t stored = all->ok - all->duplicates;
                long long end = srv->db_bytes_end + srv->wal_bytes_end;

                char t[3][32], e[32];

                printf("  database after the run %s (file %s + write-ahead log %s); after the "
                       "stop %s",
                       size_text(srv->db_bytes + srv->wal_bytes, t[0], sizeof t[0]),
                       size_text(srv->db_bytes, t[1], sizeof t[1]),
                       size_text(srv->wal_bytes, t[2], sizeof t[2]), size_text(end, e, sizeof e));
                if (stored)
                        printf(", %.0f bytes per referral", (double)end / (double)stored);
                printf("\n");
                if (opt->keep)
                        printf("  kept %s (config, database, log)\n", srv->dir);
        }
        printf("  ref prefix %s\n", opt->prefix);
}

/* V rounded, with a comma between thousands: 131,000. */
static const char *thousands(double v, char *buf, size_t cap)
{
        char digits[32];
        int n = snprintf(digits, sizeof digits, "%.0f", v < 0 ? 0 : v), lead;
        size_t o = 0;

        lead = n % 3 ? n % 3 : 3;
        for (int i = 0; i < n && o + 2 < cap; i++) {
                if (i >= lead && (i - lead) % 3 == 0)
                        buf[o++] = ',';
                buf[o++] = digits[i];
        }
        buf[o] = '\0';
        return buf;
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *to)
{
        fprintf(to,
                "Usage: " PROG " [OPTION]...\n"
                "Submit referrals to referrald as fast as allowed and measure throughput and\n"
                "latency (send to reply): of a daemon already running (-e), of one started\n"
                "here (--spawn), of the floor under it (--floor), or of both (--compare).\n"
                "\n"
                "  -e, --endpoint EP    the running daemon's intake (default " DEFAULT_ENDPOINT
                ")\n"
                "  -c, --clients N      DEALER sockets, one thread each (default %d)\n"
                "  -w, --window N       requests in flight per client (default %d)\n"
                "  -n, --total N        referrals to submit over all clients (default %d)\n"
                "      --rate R         offered load in requests/s over all clients, open loop;\n"
                "                       0 = as fast as the window allows (default 0)\n"
                "      --pid PID        report the running daemon's peak and current RSS\n"
                "      --spawn[=PATH]   start referrald (default: the one in the directory of\n"
                "                       this program) in a new temporary directory, on free\n"
                "                       loopback ports with a new database; load it, report\n"
                "                       its peak RSS and database size, stop it (SIGTERM)\n"
                "      --floor[=PATH]   the same with " FLOOR_NAME ", the floor under the\n"
                "                       daemon: receive, one insert per submit with the same\n"
                "                       durability, a commit per batch, reply; nothing else\n"
                "      --compare        --spawn, then --floor, with the identical load, and\n"
                "                       the ratio of their throughputs (the daemon's overhead)\n"
                "      --keep           leave the temporary directories (config, database, log)\n"
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
                "A server started here must answer a ping within 20 s and exit 0 within 30 s\n"
                "of SIGTERM. $TMPDIR (default /tmp) holds the temporary directories.\n"
                "\n"
                "Exit status: 0 every request answered ok and every server started here\n"
                "stopped cleanly; 1 an error reply, a timeout, a reply matching no request,\n"
                "a server that did not start or stop cleanly, or a fault; 2 a usage error.\n",
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

enum {
        OPT_RATE = 256,
        OPT_PID,
        OPT_PARTNER,
        OPT_PREFIX,
        OPT_JSON,
        OPT_SPAWN,
        OPT_FLOOR,
        OPT_COMPARE,
        OPT_KEEP
};

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
                {"spawn", optional_argument, NULL, OPT_SPAWN},
                {"floor", optional_argument, NULL, OPT_FLOOR},
                {"compare", no_argument, NULL, OPT_COMPARE},
                {"keep", no_argument, NULL, OPT_KEEP},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {0},
        };
        bool have_prefix = false, have_endpoint = false;
        int ch;

        opt->endpoint = DEFAULT_ENDPOINT;
        opt->clients = DEFAULT_CLIENTS;
        opt->window = DEFAULT_WINDOW;
        opt->total = DEFAULT_TOTAL;
        opt->partner = DEFAULT_PARTNER;
        while ((ch = getopt_long(argc, argv, "e:c:w:n:hV", longopts, NULL)) != -1) {
                switch (ch) {
                case 'e':
                        opt->endpoint = optarg;
                        have_endpoint = true;
                        break;
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
                case OPT_SPAWN:
                case OPT_FLOOR:
                        if (optarg && !*optarg)
                                usage_error("%s= wants the path of the program to start",
                                            ch == OPT_SPAWN ? "--spawn" : "--floor");
                        if (ch == OPT_SPAWN) {
                                opt->spawn_daemon = true;
                                opt->daemon_path = optarg;
                        } else {
                                opt->spawn_floor = true;
                                opt->floor_path = optarg;
                        }
                        break;
                case OPT_COMPARE: opt->spawn_daemon = opt->spawn_floor = true; break;
                case OPT_KEEP: opt->keep = true; break;
                case 'h': usage(stdout); exit(EXIT_OK);
                case 'V': printf(PROG " " RD_VERSION "\n"); exit(EXIT_OK);
                default: fprintf(stderr, "Try '" PROG " --help'.\n"); exit(EXIT_USAGE);
                }
        }
        if (optind < argc)
                usage_error("unexpected argument '%s'", argv[optind]);
        if ((opt->spawn_daemon || opt->spawn_floor) && have_endpoint)
                usage_error("-e names a daemon already running; --spawn, --floor and "
                            "--compare start their own");
        if ((opt->spawn_daemon || opt->spawn_floor) && opt->pid)
                usage_error("--pid names a daemon already running; --spawn, --floor and "
                            "--compare report the RSS of the server they start");
        if (opt->keep && !opt->spawn_daemon && !opt->spawn_floor)
                usage_error("--keep goes with --spawn, --floor or --compare");
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
        struct sigaction sa = {.sa_handler = on_signal};
        struct server servers[2];
        double throughput[2] = {0, 0};
        bool ok[2] = {false, false}, failed = false;
        json_t *both = NULL;
        int n_servers = 0;

        parse_options(argc, argv, &opt);
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);

        if (!opt.spawn_daemon && !opt.spawn_floor) {
                /* a daemon already running (-e, --pid) */
                struct result *res = run_load(&opt);
                if (!res)
                        return EXIT_FAIL;
                print_problems(&opt, res);
                if (opt.json) {
                        json_t *o = result_json(&opt, res, NULL);
                        char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
                        if (text)
                                puts(text);
                        free(text);
                        json_decref(o);
                } else {
                        print_result(&opt, res, NULL);
                }
                failed = res->failed;
                free(res);
                return failed ? EXIT_FAIL : EXIT_OK;
        }

        /* servers started here: the daemon first, then the floor */
        memset(servers, 0, sizeof servers);
        if (opt.spawn_daemon)
                servers[n_servers++].kind = SERVER_DAEMON;
        if (opt.spawn_floor)
                servers[n_servers++].kind = SERVER_FLOOR;
        for (int i = 0; i < n_servers; i++)
                if (locate(&servers[i],
                           servers[i].kind == SERVER_DAEMON ? opt.daemon_path : opt.floor_path) < 0)
                        return EXIT_FAIL;
        if (opt.json && n_servers > 1)
                both = json_object();
        for (int i = 0; i < n_servers && !interrupted; i++) {
                struct server *srv = &servers[i];
                struct options ro = opt;
                struct result *res;

                if (server_start(srv) < 0) {
                        server_cleanup(srv, opt.keep);
                        failed = true;
                        break;
                }
                ro.endpoint = srv->endpoint;
                ro.pid = (long)srv->pid;
                res = run_load(&ro);
                server_stop(srv);
                if (!res) {
                        server_cleanup(srv, opt.keep);
                        failed = true;
                        break;
                }
                print_problems(&ro, res);
                if (both) {
                        json_object_set_new(both, server_name(srv), result_json(&ro, res, srv));
                } else if (opt.json) {
                        json_t *o = result_json(&ro, res, srv);
                        char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
                        if (text)
                                puts(text);
                        free(text);
                        json_decref(o);
                } else {
                        if (i > 0)
                                printf("\n");
                        print_result(&ro, res, srv);
                        fflush(stdout);
                }
                ok[i] = !run_failed(res, srv);
                throughput[i] = res->throughput;
                failed |= !ok[i];
                server_cleanup(srv, opt.keep);
                free(res);
        }
        if (n_servers == 2) {
                /* servers[0] is the daemon, servers[1] the floor */
                bool have = ok[0] && ok[1] && throughput[1] > 0;
                double ratio = have ? throughput[0] / throughput[1] : 0;
                char d[32], f[32];

                if (both) {
                        char *text;
                        json_object_set_new(both, "ratio", have ? json_real(ratio) : json_null());
                        json_object_set_new(both, "exit",
                                            json_integer(failed ? EXIT_FAIL : EXIT_OK));
                        text = json_dumps(both, JSON_COMPACT | JSON_REAL_PRECISION(10));
                        if (text)
                                puts(text);
                        free(text);
                        json_decref(both);
                } else if (have) {
                        printf("\ndaemon/floor ratio: %.3f (daemon %s/s, floor %s/s)\n", ratio,
                               thousands(throughput[0], d, sizeof d),
                               thousands(throughput[1], f, sizeof f));
                } else {
                        fprintf(stderr, PROG ": no daemon/floor ratio: %s\n",
                                interrupted ? "interrupted"
                                            : "the two runs did not both complete cleanly");
                }
        }
        return failed ? EXIT_FAIL : EXIT_OK;
}
