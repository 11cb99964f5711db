/* retry.h: a request's attempts round a client's endpoints (several -e):
 * after an attempt that did not answer it (`unavailable` from where it
 * went, no reply within --attempt-timeout, a lost connection) the same
 * request (rebuilt byte for byte: submit.h) goes to the next endpoint,
 * at once within a round and after a pause (100 ms doubling to 1 s) when
 * a round is done; the timeouts; and, once a request is answered, the
 * copies of it still out, so that their late replies are known for what
 * they are. */
#ifndef RD_BENCH_RETRY_H
#define RD_BENCH_RETRY_H

#include "client.h"

/* Send slot S's request to endpoint J of C (its first copy, or one more)
 * at NOW and count it. 0, or -errno (-E2BIG: it does not fit). */
int retry_send(struct client *c, struct slot *s, int j, int64_t now);

/* The attempt of S in flight ended at NOW without an answer: the next
 * endpoint gets it now, or after a pause at the end of a round (S waits).
 * New requests of C go to that endpoint too when S's was C's current.
 * 0, or -errno. */
int retry_failed(struct client *c, struct slot *s, int64_t now);

/* Endpoint J of C lost its connection (or could not make one): every
 * attempt in flight there has failed. 0, or -errno. */
int retry_lost(struct client *c, int j, int64_t now);

/* Look at the window of C at NOW: a request unanswered --timeout after
 * its first send is a timeout (the whole run stops sending); an attempt
 * unanswered after --attempt-timeout has failed; a request whose pause is
 * over goes round again. 0, or -errno. */
int retry_scan(struct client *c, int64_t now);

/* S is answered (from endpoint J): count its attempts, and remember the
 * copies of it still out in c->stale. */
void retry_answered(struct client *c, const struct slot *s);

/* Whether a reply to request SEQ (not in flight) is a copy still out of
 * one answered before (then one fewer is out). */
bool retry_late_copy(struct client *c, uint64_t seq);

/* Free C's stale set. */
void retry_free(struct client *c);

#endif
