/* log.h: the daemon's one voice: the systemd journal when one is reachable,
 * readable lines on standard error otherwise. Callers never pass personal
 * data: event lines are built from struct rd_event, which has none. */
#ifndef RD_LOG_H
#define RD_LOG_H

#include <syslog.h>

#include "event.h"

/* Operational messages, each with a fixed MESSAGE_ID (systemd/referrald.catalog). */
enum rd_msg {
        RD_MSG_GENERIC = 0,
        RD_MSG_STARTED,
        RD_MSG_STOPPED,
        RD_MSG_RELOADED,
        RD_MSG_RELOAD_REFUSED,
        RD_MSG_DATABASE_ERROR,
        RD_MSG_CONFIG_ERROR,
        RD_MSG_REPLY_DROPPED,
        RD_MSG_AUTH_REFUSED,
        RD_MSG_ACCEPT_FAILED,
        RD_MSG_LEAD_TAKEN, /* (rev 2) this daemon became the active one */
        RD_MSG_LEAD_LOST,  /* (rev 2) this daemon became a standby */
        RD_MSG__MAX
};

/* Where the lines go: the environment variable REFERRALD_LOG_TARGET names
 * it (docs/configuration.md, "Environment"), as SYSTEMD_LOG_TARGET does for
 * systemd's own programs. */
enum rd_log_target {
        RD_LOG_AUTO,    /* the journal when its socket is there, else stderr */
        RD_LOG_CONSOLE, /* standard error, always (tests, debugging, -t) */
        RD_LOG_TARGET__MAX
};

/* The target named TEXT: "auto" or "console"; NULL or "" is auto.
 * Returns 0 and *TARGET, or -EINVAL (*TARGET untouched). */
int rd_log_target_parse(const char *text, enum rd_log_target *target);

/* Decide where lines go, as TARGET says. */
void rd_log_init(enum rd_log_target target);

/* Write out buffered event lines (stderr only; the journal is unbuffered). */
void rd_log_flush(void);

/* Log an operational message at PRIORITY (LOG_ERR, LOG_WARNING, ...). */
void rd_log(int priority, enum rd_msg msg, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Write one event (already committed) to the journal with the fields of
 * protocol.md "Journal", or a line to stderr. */
void rd_log_event(const struct rd_event *ev);

#endif
