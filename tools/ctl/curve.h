/* curve.h: referralctl as a CURVE client (protocol.md, "Security"). With
 * --server-key and --key (or $REFERRALD_SERVER_KEY, $REFERRALD_KEY) every
 * socket is a CURVE client (one server key for all the daemons, or one per
 * endpoint); `keygen` makes the key pairs. A daemon that
 * refuses a key (ZAP) answers nothing: the socket monitor tells us so
 * where libzmq reports it (conn.h), and a timeout says to check the keys. */
#ifndef RD_CTL_CURVE_H
#define RD_CTL_CURVE_H

#include "ctl.h"

#include <stdint.h>

/* Make SOCK a CURVE client of the daemon at ENDPOINTS->v[INDEX] when keys
 * are given (read once, from the options or the environment, with
 * lib/keys; c->curve_state says what came of it, -2 for bad keys: exit
 * status 2). The daemons may share one server key, or have one each: then
 * as many keys as ENDPOINTS (OPTION names them in the message), and key
 * INDEX is this one's. libzmq takes the keys at zmq_connect(), so a socket
 * connected to several endpoints gets each its key when set before each
 * connect. 0, or -1 (printed). */
int curve_apply(struct ctl *c, void *sock, size_t index, const struct opt_list *endpoints,
                const char *option);

/* Put into c->refusal what a failed handshake (monitor EVENT, VALUE) with
 * ENDPOINT means, for a person; EVENTS_SOCKET: the subscription of
 * `events --follow`. Returns true when the failure is final (no point in
 * waiting). */
bool explain_handshake_failure(struct ctl *c, const char *endpoint, uint16_t event, uint32_t value,
                               bool events_socket);

#endif
