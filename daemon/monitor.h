/* monitor.h: what libzmq tells about the connections of one server socket
 * (its socket monitor), with or without security:
 *
 *   - an accept that failed: at the limit of open files libzmq's I/O
 *     thread retries at once, for ever, a core at 100%; the caller closes
 *     the endpoint for a while (server.c);
 *   - with security, a CURVE handshake that failed before the ZAP handler
 *     was asked (a client without CURVE, or with another server key):
 *     counted and logged here, at most one line a second. libzmq 4.3 names
 *     only the daemon's own endpoint for these, never the peer, so the line
 *     names none; refusals by the ZAP handler name the peer (auth.c). */
#ifndef RD_MONITOR_H
#define RD_MONITOR_H

#include <stdbool.h>

enum rd_monitor_event {
        RD_MON_NONE,          /* nothing was ready */
        RD_MON_ACCEPT_FAILED, /* *ERR holds accept(2)'s errno */
        RD_MON_OTHER,         /* handled here */
};

struct rd_monitor;

/* Watch SOCK (of context ZCTX; NAME, e.g. "intake", in the log): its
 * failed accepts, and with HANDSHAKES its failed handshakes. Before SOCK
 * is bound. Returns 0 and *OUT, or a negative errno. */
int rd_monitor_new(void *zctx, void *sock, const char *name, bool handshakes,
                   struct rd_monitor **out);

/* Stop reading the monitor. Before SOCK is closed. M may be NULL. */
void rd_monitor_free(struct rd_monitor *m);

/* The socket to poll for M's events. */
void *rd_monitor_socket(struct rd_monitor *m);

/* Read one event of M if one is ready; a failed accept is for the caller
 * (*ERR: its errno), the rest is handled here. */
enum rd_monitor_event rd_monitor_read(struct rd_monitor *m, int *err);

#endif
