/* peers.h: a client's endpoints (client.h, struct peers): a DEALER on each
 * (ZMQ_LINGER 0, high-water marks for the window), with several endpoints
 * a socket monitor on each that tells when a connection is refused or
 * lost; waiting on all of them at once; and the warm-up ping that finds
 * the endpoint to start with. */
#ifndef RD_BENCH_PEERS_H
#define RD_BENCH_PEERS_H

#include "client.h"

/* Open C's DEALERs (and monitors) and connect them to OPT's endpoints.
 * 0, or -errno (what was opened is closed by peers_close). */
int peers_open(struct client *c);

/* Close what peers_open opened (also after a failure). */
void peers_close(struct peers *p);

/* Wait until a DEALER or monitor of P is readable or until DEADLINE
 * (monotonic ns), with nanosecond timing (zmq_poll counts in
 * milliseconds). 1 when readable, 0 when not, -errno. */
int peers_wait(const struct peers *p, int64_t deadline);

/* The connections of endpoint J that were refused or lost since the last
 * call (the monitor's events read). 0 with one endpoint. */
int peers_lost(const struct peers *p, int j);

/* A ping to each endpoint in turn until one answers ok (with several:
 * and not "role": "standby"), round the list within OPT's timeout; its
 * index into c->current. 0, -ETIMEDOUT (none answered so), -EPROTO (one
 * endpoint, and it answered an error), -errno. */
int peers_warm_up(struct client *c);

/* Whether CORR is a warm-up ping's (a late reply to one is no bug). */
bool peers_warm_up_corr(const char *corr);

#endif
