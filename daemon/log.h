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
        RD_MSG__MAX
};

/* Decide where lines go: the journal if its socket is there, else stderr.
 * FORCE_STDERR (for tests) always picks stderr. */
void rd_log_init(int force_stderr);

/* Write out buffered event lines (stderr only; the journal is unbuffered). */
void rd_log_flush(void);

/* Log an operational message at PRIORITY (LOG_ERR, LOG_WARNING, ...). */
void rd_log(int priority, enum rd_msg msg, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Write one event (already committed) to the journal with the fields of
 * protocol.md "Journal", or a line to stderr. */
void rd_log_event(const struct rd_event *ev);

#endif
