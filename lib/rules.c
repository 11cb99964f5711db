/* rules.c: a loaded rule set (rules.h): look-ups, free, durations, the
 * string lists the other parts share. Loading is rules_load.c, the checks
 * across parts rules_check.c. */
#include "rules_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DURATION_MAX_S (36500LL * 86400) /* 100 years */

/* ---- durations -------------------------------------------------------- */

int rd_duration_parse(const char *s, int64_t *seconds)
{
        int64_t v = 0, unit;
        size_t i = 0;

        if (!s || !seconds)
                return -EINVAL;
        for (; s[i] >= '0' && s[i] <= '9'; i++) {
                if (i >= 12)
                        return -EINVAL;
                v = v * 10 + (s[i] - '0');
        }
        if (i == 0 || s[i] == '\0' || s[i + 1] != '\0')
                return -EINVAL;
        switch (s[i]) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        default: return -EINVAL;
        }
        if (v <= 0 || v > DURATION_MAX_S / unit)
                return -EINVAL;
        *seconds = v * unit;
        return 0;
}

char *rd_duration_format(int64_t seconds, char buf[RD_DURATION_STR])
{
        static const struct {
                int64_t s;
                char unit;
        } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
        size_t i = 0;

        if (seconds <= 0) {
                snprintf(buf, RD_DURATION_STR, "0s");
                return buf;
        }
        while (seconds % units[i].s)
                i++;
        snprintf(buf, RD_DURATION_STR, "%" PRId64 "%c", seconds / units[i].s, units[i].unit);
        return buf;
}

/* ---- string lists ------------------------------------------------------ */

void rules_strlist_free(struct rd_strlist *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        l->v = NULL;
        l->n = 0;
}

bool rules_strlist_has(const struct rd_strlist *l, const char *s)
{
        for (size_t i = 0; i < l->n; i++)
                if (!strcmp(l->v[i], s))
                        return true;
        return false;
}

/* ---- the rule set ------------------------------------------------------- */

static void when_free(struct rd_when *w)
{
        rules_strlist_free(&w->partners);
        free(w->postcodes);
        rules_strlist_free(&w->languages);
        rules_strlist_free(&w->concerns_any);
        rules_strlist_free(&w->concerns_all);
        rules_strlist_free(&w->concerns_none);
}

void rd_rules_free(struct rd_rules *rules)
{
        if (!rules)
                return;
        for (size_t i = 0; i < rules->n_teams; i++) {
                free(rules->teams[i].postcodes);
                free(rules->teams[i].connectors);
        }
        free(rules->teams);
        for (size_t i = 0; i < rules->n_connectors; i++) {
                rules_strlist_free(&rules->connectors[i].skills);
                rules_strlist_free(&rules->connectors[i].languages);
        }
        free(rules->connectors);
        for (size_t i = 0; i < rules->n_targets; i++)
                free(rules->targets[i].name);
        free(rules->targets);
        for (size_t i = 0; i < rules->n_rules; i++) {
                struct rd_rule *r = &rules->rules[i];

                when_free(&r->when);
                free(r->forward_reason);
                free(r->teams);
                free(r->overflow);
                free(r->skill);
                free(r->otherwise_reason);
        }
        free(rules->rules);
        free(rules->source);
        free(rules);
}

ssize_t rd_rules_connector_index(const struct rd_rules *rules, const char *id)
{
        if (!rules || !id)
                return -1;
        for (size_t i = 0; i < rules->n_connectors; i++)
                if (!strcmp(rules->connectors[i].id, id))
                        return (ssize_t)i;
        return -1;
}

ssize_t rd_rules_team_index(const struct rd_rules *rules, const char *id)
{
        if (!rules || !id)
                return -1;
        for (size_t i = 0; i < rules->n_teams; i++)
                if (!strcmp(rules->teams[i].id, id))
                        return (ssize_t)i;
        return -1;
}

ssize_t rd_rules_target_index(const struct rd_rules *rules, const char *id)
{
        if (!rules || !id)
                return -1;
        for (size_t i = 0; i < rules->n_targets; i++)
                if (!strcmp(rules->targets[i].id, id))
                        return (ssize_t)i;
        return -1;
}

ssize_t rd_rules_rule_index(const struct rd_rules *rules, const char *name)
{
        if (!rules || !name)
                return -1;
        for (size_t i = 0; i < rules->n_rules; i++)
                if (!strcmp(rules->rules[i].name, name))
                        return (ssize_t)i;
        return -1;
}
