/* commit.c: ending a transaction. Events leave the daemon only here, after
 * the transaction that holds them committed. */
#include <string.h>

#include "event.h"
#include "log.h"
#include "server_priv.h"

int rd_server_commit(struct rd_server *srv, const char *what)
{
        if (rd_store_commit(srv->store) == 0) {
                /* erased bytes must leave the write-ahead log too */
                if (rd_hub_erased(srv->hub) && rd_store_checkpoint(srv->store) < 0)
                        rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR,
                               "cannot checkpoint the write-ahead log after an erase: %s",
                               rd_store_errmsg(srv->store));
                return 1;
        }
        rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR, "commit failed while %s: %s", what,
               rd_store_errmsg(srv->store));
        rd_server_rollback(srv);
        return 0;
}

void rd_server_rollback(struct rd_server *srv)
{
        rd_store_rollback(srv->store);
        rd_hub_rolled_back(srv->hub);
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
