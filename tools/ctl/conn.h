/* conn.h: referralctl's connection to the daemons: a DEALER socket on
 * each intake endpoint a request is sent to, opened on the first request
 * sent there (a CURVE client when keys are given, curve.h), a unique
 * `corr` per request, ZMQ_LINGER 0, every wait bounded by c->timeout_ms;
 * the socket monitor that tells why a handshake failed and, with several
 * endpoints, when a connection cannot be made.
 *
 * Several endpoints (daemon.md, "Several machines": one daemon active,
 * the others standby): a request goes to c->current (the first endpoint,
 * then the one that answered last); on `unavailable`, no reply within its
 * share of the timeout (c->timeout_ms divided by the number of
 * endpoints), or no connection, the same text (same corr) goes to the
 * next, round the list, with a pause of 100 ms (doubling to 1 s) after a
 * round without a timeout, until an answer that is not `unavailable` or
 * the end of c->timeout_ms. Each endpoint that was sent a copy may still
 * answer it: its late reply is taken too. Every operation may be sent
 * again: a submit is idempotent, a repeated update changes nothing, the
 * others only read. */
#ifndef RD_CTL_CONN_H
#define RD_CTL_CONN_H

#include "ctl.h"

#include <jansson.h>
#include <stdint.h>
#include <zmq.h>

enum req_result { REQ_OK, REQ_ERROR_REPLY, REQ_FAULT, REQ_TIMEOUT, REQ_REFUSED };

/* Send REQ (a JSON object; `corr` is set here) round the endpoints (see
 * above) and wait for the reply with the same corr, at most
 * c->timeout_ms. Steals nothing: REQ stays the caller's. *REPLY is set
 * (owned by the caller) for REQ_OK and REQ_ERROR_REPLY (with several
 * endpoints, also the last `unavailable` when the time ran out), else
 * NULL. When the time runs out the DEALERs are closed, so that a late
 * reply can never be taken for the answer to a later request; the next
 * request opens new ones. Only faults of this program are printed (and,
 * with -v, every failover and which endpoint answered); the caller
 * decides about the rest (request_failed()). An interrupt
 * (tool_interrupted) is a quiet REQ_FAULT. */
enum req_result request(struct ctl *c, json_t *req, json_t **reply);

/* Say what RES (not REQ_OK) means, for a person: an error reply on stderr
 * (with --json also as is on stdout, for scripts), a timeout with what to
 * check, a refused handshake; a fault was printed already. Frees REPLY
 * (may be NULL). Returns the exit status: EXIT_FAULT (EXIT_OK for REQ_OK). */
int request_failed(const struct ctl *c, enum req_result res, json_t *reply);

/* request() that prints what went wrong. Returns 0 with *REPLY (ok: true,
 * owned by the caller) or EXIT_FAULT with the error printed
 * (request_failed()). Takes ownership of REQ. */
int call(struct ctl *c, json_t *req, json_t **reply);

/* call() and print the reply: as it came with --json, else with HUMAN.
 * Takes ownership of REQ. Returns the exit status. */
int call_and_print(struct ctl *c, json_t *req, void (*human)(const json_t *reply));

/* Whether REPLY is an error reply `unavailable`. */
bool is_unavailable(const json_t *reply);

/* Close every DEALER (and its monitor) that is open. */
void close_dealers(struct ctl *c);

/* The endpoints of L for a message, "A", "A or B", "A, B or C", into BUF
 * (CAP bytes, cut short if need be). */
void endpoints_text(const struct opt_list *l, char *buf, size_t cap);

/* Receive all frames of one message from SOCK; return the last non-empty
 * frame as parsed JSON (owned by the caller; a REQ-style empty delimiter
 * is skipped), or NULL with *BAD set when it is not a JSON object. */
json_t *recv_reply(void *sock, bool *bad);

/* ---- deadlines: monotonic milliseconds, -1 = none ---------------------- */

/* The deadline TIMEOUT_MS from now (0: none). */
int64_t deadline_after(int timeout_ms);

/* Milliseconds left until DEADLINE for zmq_poll: -1 = no limit. */
long left_ms(int64_t deadline);

/* ---- handshakes ----------------------------------------------------------- */

#define HANDSHAKE_FAILURES                                                                         \
        (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                   \
         ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)

/* Watch SOCK's handshakes: a PAIR socket (owned by the caller: give it to
 * unwatch_socket) that receives its monitor events (MASK), or NULL when
 * that cannot be set up (we then rely on timeouts). */
void *watch_socket(struct ctl *c, void *sock, int mask);

/* Stop watching SOCK and close *MON (may be NULL); *MON becomes NULL. */
void unwatch_socket(void *sock, void **mon);

/* Read one monitor event: its number and value (the ZAP status code, or
 * a protocol error code) and, when ADDR is not NULL, the endpoint it
 * concerns into ADDR (CAP bytes; "?" when not told). Returns false when
 * none could be read. */
bool read_monitor_event(void *mon, uint16_t *event, uint32_t *value, char *addr, size_t cap);

#endif
