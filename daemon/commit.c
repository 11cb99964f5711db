/* commit.c: ending a transaction (txn.c does it, free of sockets), the
 * database file it commits into, and publishing. Events leave the daemon
 * only here, after the transaction that holds them committed; and nothing
 * is committed into a file that is no longer the database (daemon.md:
 * removed or replaced while the daemon runs). */
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "dbfile.h"
#include "event.h"
#include "log.h"
#include "server_priv.h"

#define DB_CHECK_MS 1000     /* daemon.md: noticed within 2 s */
#define DB_GONE_LOG_MS 60000 /* and said at most once a minute */

/* Say that the database file is gone (WHY: how), at most once a minute. */
static void say_db_gone(struct rd_server *srv, const char *why)
{
        const char *path = rd_dbfile_path(srv->dbfile);
        int64_t t = rd_mono_ms();

        if (srv->db_gone_logged && t - srv->db_gone_logged < DB_GONE_LOG_MS)
                return;
        srv->db_gone_logged = t;
        rd_log(LOG_CRIT, RD_MSG_DATABASE_ERROR,
               "the database file %s %s while referrald runs: every request that would write is "
               "answered unavailable and nothing is stored until referrald is restarted. What "
               "was acknowledged is in the file referrald still holds open: copy it now, with "
               "cp /proc/%ld/fd/%d %s.recovered, before you stop referrald (docs/operations.md)",
               path, why, (long)getpid(), rd_dbfile_fd(srv->dbfile), path);
}

int rd_server_db_gone(struct rd_server *srv, bool now)
{
        char why[160];
        int64_t t = rd_mono_ms();

        if (!srv->dbfile)
                return 0;
        if (srv->ops.db_lost) {
                say_db_gone(srv, srv->db_gone_why);
                return 1;
        }
        if (!now && t - srv->db_checked < DB_CHECK_MS)
                return 0;
        srv->db_checked = t;
        if (rd_dbfile_check(srv->dbfile, why, sizeof why) == 0)
                return 0;
        srv->ops.db_lost = true;
        snprintf(srv->db_gone_why, sizeof srv->db_gone_why, "%s", why);
        say_db_gone(srv, why);
        return 1;
}

void rd_server_db_keep(struct rd_server *srv)
{
        if (!srv->ops.db_lost || srv->db_kept)
                return;
        srv->db_kept = true;
        /* everything committed into the file still held open, the log
         * emptied: the copy from /proc is whole, and the log can never be
         * replayed into whatever file now has the database's name */
        if (rd_store_checkpoint(srv->store) < 0)
                rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR,
                       "cannot checkpoint the write-ahead log into the removed database file: "
                       "%s; copy %s-wal beside the recovered file as well",
                       rd_store_errmsg(srv->store), rd_dbfile_path(srv->dbfile));
}

bool rd_server_file_gone(void *srv)
{
        return rd_server_db_gone(srv, true) != 0;
}

int rd_server_commit(struct rd_server *srv, const char *what, bool wrote)
{
        return rd_txn_commit(&srv->txn, what, wrote) == RD_TXN_COMMITTED;
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
