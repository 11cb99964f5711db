/* replay_view.c: a replay's result as a person reads it (replay.h): the
 * figures of both sides row by row, the connectors of either side, a
 * first decision in words. The text of `referralctl replay` and its HTML
 * page are made from these, so that both say the same. */
#include "replay.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "html.h"
#include "macro.h"

/* The figures, in tools.md's order. */
enum figure {
        F_REFERRALS,
        F_ASSIGNED,
        F_WAITLISTED,
        F_FORWARDED,
        F_STARTED,
        F_IN_TIME,
        F_MISSED,
        F_P50,
        F_P75,
        F_P90,
        F_FORWARDED_SHARE,
        F_TRAJ_STARTED,
        F_TRAJ_CLOSED,
        F_MEAN_OPEN,
        F_MEAN_LENGTH,
        F_WAIT_PEAK,
        F_WAIT_MEAN,
        F__MAX
};

static const char *const labels[] = {
        [F_REFERRALS] = "referrals",
        [F_ASSIGNED] = "first decision: assigned",
        [F_WAITLISTED] = "first decision: waitlisted",
        [F_FORWARDED] = "first decision: forwarded",
        [F_STARTED] = "window: started",
        [F_IN_TIME] = "window: started in time",
        [F_MISSED] = "window: missed",
        [F_P50] = "time to start: p50",
        [F_P75] = "time to start: p75",
        [F_P90] = "time to start: p90",
        [F_FORWARDED_SHARE] = "forwarded by any decision",
        [F_TRAJ_STARTED] = "trajectories started",
        [F_TRAJ_CLOSED] = "trajectories closed",
        [F_MEAN_OPEN] = "trajectories open (mean)",
        [F_MEAN_LENGTH] = "trajectory length (mean)",
        [F_WAIT_PEAK] = "waitlist: peak",
        [F_WAIT_MEAN] = "waitlist: mean",
};
RD_TABLE_COVERS(labels, F__MAX);

static void count(char *buf, uint64_t n)
{
        snprintf(buf, RD_REPLAY_TEXT, "%" PRIu64, n);
}

/* A duration in seconds, "-" (an em dash) when DEFINED is false. */
static void duration(char *buf, double s, bool defined)
{
        rd_html_fmt_duration(defined ? s : NAN, buf);
}

/* Every figure of S as text, V[i] for figure i. */
static void values(const struct rd_figures_summary *s, char v[F__MAX][RD_REPLAY_TEXT])
{
        bool started = s->window_started > 0;

        count(v[F_REFERRALS], s->referrals);
        count(v[F_ASSIGNED], s->assigned);
        count(v[F_WAITLISTED], s->waitlisted);
        count(v[F_FORWARDED], s->forwarded);
        count(v[F_STARTED], s->window_started);
        count(v[F_IN_TIME], s->window_in_time);
        count(v[F_MISSED], s->window_missed);
        duration(v[F_P50], (double)s->p50_s, started);
        duration(v[F_P75], (double)s->p75_s, started);
        duration(v[F_P90], (double)s->p90_s, started);
        rd_html_fmt_num(s->referrals ? 100 * s->forwarded_share : NAN, 1, v[F_FORWARDED_SHARE]);
        if (s->referrals)
                strcat(v[F_FORWARDED_SHARE], " %");
        count(v[F_TRAJ_STARTED], s->trajectories_started);
        count(v[F_TRAJ_CLOSED], s->trajectories_closed);
        rd_html_fmt_num(s->mean_open, 1, v[F_MEAN_OPEN]);
        duration(v[F_MEAN_LENGTH], s->mean_length_s, s->trajectories_started > 0);
        count(v[F_WAIT_PEAK], s->waitlist_peak);
        rd_html_fmt_num(s->waitlist_mean, 1, v[F_WAIT_MEAN]);
}

size_t rd_replay_rows(const struct rd_replay_result *r, struct rd_replay_row *rows, size_t max)
{
        char b[F__MAX][RD_REPLAY_TEXT], c[F__MAX][RD_REPLAY_TEXT];
        struct rd_figures_summary sb, sc;

        if (rd_figures_summary(r->baseline.figures, &sb) < 0 ||
            rd_figures_summary(r->candidate.figures, &sc) < 0)
                return 0;
        values(&sb, b);
        values(&sc, c);
        for (size_t i = 0; i < F__MAX && i < max; i++) {
                rows[i].label = labels[i];
                memcpy(rows[i].baseline, b[i], RD_REPLAY_TEXT);
                memcpy(rows[i].candidate, c[i], RD_REPLAY_TEXT);
        }
        return F__MAX;
}

/* Connector ID in F into *OUT: true, or false when F has none of that id. */
static bool find_connector(const struct rd_figures_acc *f, const char *id,
                           struct rd_figures_connector_view *out)
{
        for (size_t i = 0; i < rd_figures_n_connectors(f); i++)
                if (rd_figures_connector_view(f, i, out) == 0 && !strcmp(out->id, id))
                        return true;
        return false;
}

/* Connector ID of either side into ROW. */
static void connector_row(const struct rd_replay_result *r, const char *id,
                          struct rd_replay_connector *row)
{
        memset(row, 0, sizeof *row);
        row->in_baseline = find_connector(r->baseline.figures, id, &row->baseline);
        row->in_candidate = find_connector(r->candidate.figures, id, &row->candidate);
        row->id = row->in_candidate ? row->candidate.id : row->baseline.id;
        row->team = row->in_candidate ? row->candidate.team : row->baseline.team;
        row->capacity = row->in_candidate ? row->candidate.capacity : row->baseline.capacity;
}

size_t rd_replay_connectors(const struct rd_replay_result *r, struct rd_replay_connector *rows,
                            size_t max)
{
        struct rd_figures_connector_view v, other;
        size_t n = 0;

        for (size_t i = 0; i < rd_figures_n_connectors(r->baseline.figures); i++)
                if (rd_figures_connector_view(r->baseline.figures, i, &v) == 0 && n++ < max)
                        connector_row(r, v.id, &rows[n - 1]);
        for (size_t i = 0; i < rd_figures_n_connectors(r->candidate.figures); i++)
                if (rd_figures_connector_view(r->candidate.figures, i, &v) == 0 &&
                    !find_connector(r->baseline.figures, v.id, &other) && n++ < max)
                        connector_row(r, v.id, &rows[n - 1]);
        return n;
}

void rd_replay_decision_text(const json_t *d, char buf[RD_REPLAY_DECISION])
{
        const char *status = json_string_value(json_object_get(d, "status"));
        const char *conn = json_string_value(json_object_get(d, "connector"));
        const char *team = json_string_value(json_object_get(d, "team"));
        const char *to = json_string_value(json_object_get(d, "forward_to"));

        if (!status || !strcmp(status, "received"))
                snprintf(buf, RD_REPLAY_DECISION, "not decided");
        else if (conn)
                snprintf(buf, RD_REPLAY_DECISION, "%s to %s (%s)", status, conn, team ? team : "");
        else if (to)
                snprintf(buf, RD_REPLAY_DECISION, "%s to %s", status, to);
        else
                snprintf(buf, RD_REPLAY_DECISION, "%s", status);
}

char *rd_replay_capacity_text(const struct rd_replay_connector *c, char buf[RD_REPLAY_TEXT])
{
        if (c->in_baseline && c->in_candidate && c->baseline.capacity != c->candidate.capacity)
                snprintf(buf, RD_REPLAY_TEXT, "%u \xe2\x86\x92 %u", c->baseline.capacity,
                         c->candidate.capacity);
        else
                snprintf(buf, RD_REPLAY_TEXT, "%u", c->capacity);
        return buf;
}
