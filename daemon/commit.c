/* commit.c: ending a transaction (txn.c does it, free of sockets) and
 * publishing. Events leave the daemon only here, after the transaction
 * that holds them committed. */
#include <string.h>

#include "event.h"
#include "log.h"
#include "server_priv.h"

int rd_server_commit(struct rd_server *srv, const char *what)
{
        return rd_txn_commit(&srv->txn, what) == RD_TXN_COMMITTED;
}

void rd_server_rollback(struct rd_server *srv)
{
        rd_txn_rollback(&srv->txn);
}

/* Send one committed event (its stored JSON TEXT) to subscribers and to the
 * journal. */
static void publish(struct rd_server *srv, const struct rd_event *ev, const char *text)
{
        const char *topic = rd_event_type_name(ev->type);
        enum rd_journal_events je = srv->config->journal_events;

        if (text) {
                /* PUB never blocks: a slow subscriber loses messages at its
                 * high-water mark and catches up with `events`. */
                zmq_send(srv->pub, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT);
                zmq_send(srv->pub, text, strlen(text), ZMQ_DONTWAIT);
        }
        if (je == RD_JOURNAL_ALL || (je == RD_JOURNAL_DECISIONS && rd_event_is_decision(ev->type)))
                rd_log_event(ev);
}

void rd_server_publish(struct rd_server *srv)
{
        size_t n;
        const struct rd_event *evs = rd_hub_events(srv->hub, &n);
        for (size_t i = 0; i < n; i++)
                publish(srv, &evs[i], rd_hub_event_text(srv->hub, i));
        rd_hub_events_clear(srv->hub);
        rd_log_flush();
}
