/* outbox.h: the bytes of the replies the daemon holds for each connection
 * of the intake (protocol.md, "Transport": whatever a connection sends and
 * whether or not it reads, the daemon holds at most 64 MiB for it).
 *
 * A reply is charged to its connection (its ROUTER routing id) from the
 * moment it is built until ZeroMQ is done with it: written to the socket,
 * or dropped with the connection. It travels as a zero-copy message whose
 * free function gives the bytes back; that function runs on ZeroMQ's I/O
 * thread, so the count is atomic. Everything else here runs on the loop's
 * thread. A reply that would take a connection over its budget is not
 * queued: the caller drops it (and counts it in the log). */
#ifndef RD_OUTBOX_H
#define RD_OUTBOX_H

#include <stddef.h>
#include <zmq.h>

struct rd_outbox;
struct rd_outbox_conn;

/* A new outbox that holds at most BUDGET bytes per connection. 0 and *OUT,
 * or -ENOMEM. */
int rd_outbox_new(size_t budget, struct rd_outbox **out);

/* Free BOX and what it knows of connections. Only once no message made by
 * rd_outbox_msg lives any more (after zmq_ctx_term). BOX may be NULL. */
void rd_outbox_free(struct rd_outbox *box);

/* The connection whose routing id is ID[LEN] (found, or added with nothing
 * held), or NULL when out of memory. Borrowed: valid until the next
 * rd_outbox_sweep. */
struct rd_outbox_conn *rd_outbox_conn(struct rd_outbox *box, const void *id, size_t len);

/* Bytes held for CONN now. */
size_t rd_outbox_held(const struct rd_outbox_conn *conn);

/* 1 when CONN holds its whole budget already, or a reply to it did not
 * fit and it has not yet read half of what it holds: a reply to it would
 * be dropped, so its request need not be run. */
int rd_outbox_full(struct rd_outbox_conn *conn);

/* Make *MSG a message of TEXT[LEN] (taken: freed once ZeroMQ is done with
 * the message, or here on failure), charged to CONN with its overhead
 * (RD_REPLY_OVERHEAD). Returns 0, -ENOBUFS when CONN cannot hold it, or
 * -ENOMEM; on failure TEXT is freed and *MSG untouched. Closing *MSG
 * without sending it gives the bytes back. */
int rd_outbox_msg(struct rd_outbox_conn *conn, char *text, size_t len, zmq_msg_t *msg);

/* Forget the connections that hold nothing (closed, or idle): at most
 * once a second. */
void rd_outbox_sweep(struct rd_outbox *box);

#endif
