#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "macro.h"
#include "timefmt.h"

static int use_journal;

/* One fixed 128-bit id per operational message and per event type. */
static const char *const msg_ids[] = {
        [RD_MSG_GENERIC] = "",
        [RD_MSG_STARTED] = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e01",
        [RD_MSG_STOPPED] = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e02",
        [RD_MSG_RELOADED] = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e03",
        [RD_MSG_RELOAD_REFUSED] = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e04",
        [RD_MSG_DATABASE_ERROR] = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e05",
        [RD_MSG_CONFIG_ERROR] = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e06",
        [RD_MSG_REPLY_DROPPED] = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e07",
        [RD_MSG_AUTH_REFUSED] = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e08",
        [RD_MSG_ACCEPT_FAILED] = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e09",
        [RD_MSG_LEAD_TAKEN] = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e0a",
        [RD_MSG_LEAD_LOST] = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e0b",
};
RD_TABLE_COVERS(msg_ids, RD_MSG__MAX);

static const char *const event_ids[] = {
        [RD_EV_RECEIVED] = "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b10",
        [RD_EV_ASSIGNED] = "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b11",
        [RD_EV_ACCEPTED] = "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b12",
        [RD_EV_DECLINED] = "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b13",
        [RD_EV_OFFER_EXPIRED] = "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b14",
        [RD_EV_STARTED] = "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b15",
        [RD_EV_CLOSED] = "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b16",
        [RD_EV_WITHDRAWN] = "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b17",
        [RD_EV_WAITLISTED] = "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b18",
        [RD_EV_FORWARDED] = "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b19",
        [RD_EV_WINDOW_AT_RISK] = "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b1a",
        [RD_EV_WINDOW_MISSED] = "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b1b",
        [RD_EV_ERASED] = "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b1c",
        [RD_EV_CONFIG_RELOADED] = "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b1d",
        [RD_EV_CONFIG_REJECTED] = "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b1e",
        [RD_EV_NEEDS_ATTENTION] = "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b1f",
};
RD_TABLE_COVERS(event_ids, RD_EV__MAX);

static const char *const target_names[] = {
        [RD_LOG_AUTO] = "auto",
        [RD_LOG_CONSOLE] = "console",
};
RD_TABLE_COVERS(target_names, RD_LOG_TARGET__MAX);

int rd_log_target_parse(const char *text, enum rd_log_target *target)
{
        if (!text || !text[0]) {
                *target = RD_LOG_AUTO;
                return 0;
        }
        for (size_t i = 0; i < RD_LOG_TARGET__MAX; i++)
                if (!strcmp(text, target_names[i])) {
                        *target = (enum rd_log_target)i;
                        return 0;
                }
        return -EINVAL;
}

void rd_log_init(enum rd_log_target target)
{
        /* designated initialisers leave a gap NULL: every type has its id */
        for (size_t i = 0; i < RD_EV__MAX; i++)
                if (!event_ids[i] || strlen(event_ids[i]) != 32)
                        abort();
        for (size_t i = 1; i < RD_MSG__MAX; i++)
                if (!msg_ids[i] || strlen(msg_ids[i]) != 32)
                        abort();
        use_journal = target == RD_LOG_AUTO && access("/run/systemd/journal/socket", W_OK) == 0;
        /* event lines are many: buffer them, flush per batch (rd_log_flush) */
        if (!use_journal)
                setvbuf(stderr, NULL, _IOFBF, 1 << 16);
}

void rd_log_flush(void)
{
        fflush(stderr);
}

static const char *prio_name(int priority)
{
        switch (priority) {
        case LOG_EMERG:
        case LOG_ALERT:
        case LOG_CRIT: return "critical";
        case LOG_ERR: return "error";
        case LOG_WARNING: return "warning";
        case LOG_NOTICE: return "notice";
        case LOG_INFO: return "info";
        default: return "debug";
        }
}

void rd_log(int priority, enum rd_msg msg, const char *fmt, ...)
{
        char text[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        if (use_journal) {
                int r;
                if (msg_ids[msg][0])
                        r = sd_journal_send("MESSAGE=%s", text, "PRIORITY=%d", priority,
                                            "MESSAGE_ID=%s", msg_ids[msg],
                                            "SYSLOG_IDENTIFIER=referrald", NULL);
                else
                        r = sd_journal_send("MESSAGE=%s", text, "PRIORITY=%d", priority,
                                            "SYSLOG_IDENTIFIER=referrald", NULL);
                if (r >= 0)
                        return;
        }
        fprintf(stderr, "referrald: %s: %s\n", prio_name(priority), text);
        fflush(stderr);
}

/* A line being written into a buffer of SIZE bytes: what does not fit is
 * cut, as snprintf cuts (the event lines are many: printf's cost per
 * event was a fifth of the publishing, docs/performance.md). */
struct line {
        char *buf;
        size_t size, len;
};

static void put(struct line *l, const char *s)
{
        size_t n = strlen(s);

        if (n > l->size - 1 - l->len)
                n = l->size - 1 - l->len;
        memcpy(l->buf + l->len, s, n);
        l->len += n;
        l->buf[l->len] = '\0';
}

/* The words of W, NULL-terminated, one after the other. */
static void put_all(struct line *l, const char *const *w)
{
        for (; *w; w++)
                put(l, *w);
}

static void put_int(struct line *l, int64_t v)
{
        char d[24];

        *rd_put_int(d, v) = '\0';
        put(l, d);
}

/* A sentence about EV, from public fields only, into L. */
static void event_sentence(const struct rd_event *ev, struct line *l)
{
        char t[RD_TIME_STR];

        switch (ev->type) {
        case RD_EV_RECEIVED:
                put_all(l, (const char *const[]){"Referral ", ev->id, " received from ",
                                                 ev->partner, ".", NULL});
                break;
        case RD_EV_ASSIGNED:
                put_all(l, (const char *const[]){"Referral ", ev->id, " offered to ", ev->connector,
                                                 " of team ", ev->team, " by rule ", ev->rule,
                                                 "; start by ", rd_time_format(ev->start_by_ms, t),
                                                 ".", NULL});
                break;
        case RD_EV_WAITLISTED:
                put_all(l, (const char *const[]){"Referral ", ev->id, " waitlisted by rule ",
                                                 ev->rule, "; start by ",
                                                 rd_time_format(ev->start_by_ms, t), ".", NULL});
                break;
        case RD_EV_FORWARDED:
                put_all(l, (const char *const[]){"Referral ", ev->id, " forwarded to ",
                                                 ev->forward_to, " by rule ",
                                                 ev->rule[0] ? ev->rule : "(manual)", ".", NULL});
                break;
        case RD_EV_CONFIG_RELOADED:
                put(l, "Routing rules reloaded: ");
                put_int(l, ev->rules);
                put_all(l, (const char *const[]){" rules, digest ", ev->digest, ".", NULL});
                break;
        case RD_EV_CONFIG_REJECTED:
                put(l, "Routing rules refused (");
                put_int(l, ev->errors);
                put_all(l,
                        (const char *const[]){" errors), the old rules stay: ", ev->error, NULL});
                break;
        case RD_EV_NEEDS_ATTENTION:
                put_all(l, (const char *const[]){"Referral ", ev->id, " waits by rule ", ev->rule,
                                                 " but no connector can take it (",
                                                 rd_attention_name(ev->attention),
                                                 "): a coordinator must act before ",
                                                 rd_time_format(ev->start_by_ms, t), ".", NULL});
                break;
        default:
                put_all(l, (const char *const[]){"Referral ", ev->id, ": ",
                                                 rd_event_type_name(ev->type), ", now ",
                                                 rd_status_name(ev->status), NULL});
                if (ev->reason_code[0])
                        put_all(l, (const char *const[]){" (reason code ", ev->reason_code, ")",
                                                         NULL});
                put(l, ".");
                break;
        }
}

static int event_priority(enum rd_event_type type)
{
        switch (type) {
        case RD_EV_WINDOW_MISSED:
        case RD_EV_CONFIG_REJECTED:
        case RD_EV_NEEDS_ATTENTION:
        case RD_EV_WINDOW_AT_RISK: return LOG_WARNING;
        default: return LOG_INFO;
        }
}

void rd_log_event(const struct rd_event *ev)
{
        char msg[768], out[1024];
        struct line m = {msg, sizeof msg, 0}, o = {out, sizeof out, 0};

        msg[0] = '\0';
        event_sentence(ev, &m);
        if (use_journal) {
                /* Only the fields that apply to this event. */
                char buf[18][RD_REASON_MAX + 32];
                struct iovec iov[18];
                int n = 0;
#define ADD(...)                                                                                   \
        do {                                                                                       \
                iov[n].iov_base = buf[n];                                                          \
                iov[n].iov_len = (size_t)snprintf(buf[n], sizeof buf[n], __VA_ARGS__);             \
                if (iov[n].iov_len >= sizeof buf[n])                                               \
                        iov[n].iov_len = sizeof buf[n] - 1;                                        \
                n++;                                                                               \
        } while (0)
#define ADD_SET(key, val)                                                                          \
        do {                                                                                       \
                if ((val)[0])                                                                      \
                        ADD("%s=%s", key, val);                                                    \
        } while (0)
                ADD("MESSAGE=%s", msg);
                ADD("MESSAGE_ID=%s", event_ids[ev->type]);
                ADD("PRIORITY=%d", event_priority(ev->type));
                ADD("SYSLOG_IDENTIFIER=referrald");
                ADD("EVENT_SEQ=%lld", (long long)ev->seq);
                ADD("EVENT_TYPE=%s", rd_event_type_name(ev->type));
                ADD_SET("REFERRAL_ID", ev->id);
                ADD_SET("PARTNER", ev->partner);
                ADD_SET("REF", ev->ref);
                if (ev->id[0])
                        ADD("STATUS=%s", rd_status_name(ev->status));
                ADD_SET("RULE", ev->rule);
                ADD_SET("TEAM", ev->team);
                ADD_SET("CONNECTOR", ev->connector);
                ADD_SET("FORWARD_TO", ev->forward_to);
                ADD_SET("REASON_CODE", ev->reason_code);
                ADD_SET("ATTENTION", rd_attention_name(ev->attention));
#undef ADD_SET
#undef ADD
                if (sd_journal_sendv(iov, n) >= 0)
                        return;
        }
        put(&o, "referrald: event ");
        put_int(&o, ev->seq);
        put_all(&o,
                (const char *const[]){" ", rd_event_type_name(ev->type), ": ", msg, "\n", NULL});
        fwrite(out, 1, o.len, stderr);
}
