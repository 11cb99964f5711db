/* print.c: see print.h. */
#include "print.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fault(const char *fmt, ...)
{
        va_list ap;

        fputs("error: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

void print_error_reply(const json_t *reply)
{
        const json_t *err = json_object_get(reply, "error");
        const char *code = jstr(err, "code");
        const char *field = jstr(err, "field");
        const char *msg = jstr(err, "message");

        fprintf(stderr, "error: %s", code ? code : "unknown");
        if (field && *field)
                fprintf(stderr, ": %s", field);
        fprintf(stderr, ": %s\n", msg && *msg ? msg : "(no message)");
}

void print_decision(const json_t *o)
{
        const char *id = jstr(o, "id");
        const char *status = jstr(o, "status");
        const char *conn = jstr(o, "connector");
        const char *team = jstr(o, "team");
        const char *rule = jstr(o, "rule");
        const char *start_by = jstr(o, "start_by");
        const char *expected_start = jstr(o, "expected_start");
        const char *expected_end = jstr(o, "expected_end");
        const char *fwd = jstr(o, "forward_to");
        const char *reason = jstr(o, "reason");
        const char *attention = jstr(o, "attention");
        bool open;
        int n = 0;

        if (!status)
                status = "?";
        printf("%s %s", id ? id : "?", status);
        if (!strcmp(status, "assigned") && conn)
                printf(" to %s", conn);
        else if ((!strcmp(status, "accepted") || !strcmp(status, "started")) && conn)
                printf(" by %s", conn);
        else if (!strcmp(status, "forwarded") && fwd)
                printf(" to %s", fwd);
        else if (conn)
                printf(" (connector %s)", conn);

        if (team || rule) {
                printf(" (");
                if (team)
                        printf("%steam %s", n++ ? ", " : "", team);
                if (rule)
                        printf("%srule %s", n++ ? ", " : "", rule);
                printf(")");
        }
        open = !strcmp(status, "assigned") || !strcmp(status, "accepted") ||
               !strcmp(status, "started") || !strcmp(status, "waitlisted");
        if (start_by && open)
                printf(", start by %s", start_by);
        if (expected_start && !strcmp(status, "waitlisted"))
                printf(", expected start %s", expected_start);
        if (expected_end && !strcmp(status, "started"))
                printf(", expected end %s", expected_end);
        if (reason && *reason)
                printf(": %s", reason);
        if (attention)
                printf("; needs a coordinator: %s", attention_words(attention));
}

const char *attention_words(const char *attention)
{
        if (!strcmp(attention, "all_declined"))
                return "every candidate declined it or let the offer lapse (all_declined)";
        if (!strcmp(attention, "no_candidate"))
                return "its rule has no connector who may take it (no_candidate)";
        return attention;
}

void print_reasons(const json_t *reasons)
{
        const json_t *why;
        size_t i;

        if (!json_array_size(reasons))
                return;
        printf("reasons:\n");
        json_array_foreach(reasons, i, why)
        {
                const char *conn = jstr(why, "connector"), *code = jstr(why, "reason_code");
                const char *text = jstr(why, "reason");

                printf("  %s %s", jstr(why, "at") ? jstr(why, "at") : "-",
                       jstr(why, "status") ? jstr(why, "status") : "?");
                if (conn)
                        printf(" (connector %s)", conn);
                printf(": %s", code ? code : "no code");
                if (text)
                        printf(": %s", text);
                putchar('\n');
        }
}

void print_decision_line(const json_t *o)
{
        print_decision(o);
        if (json_is_true(json_object_get(o, "duplicate")))
                printf(" (duplicate: already submitted, nothing changed)");
        putchar('\n');
}

void print_event(const json_t *ev)
{
        static const char *const fixed[] = {"seq", "at", "type", "id", "partner", "ref"};
        json_int_t seq = 0;
        const char *type = jstr(ev, "type");
        const char *at = jstr(ev, "at");
        const char *id = jstr(ev, "id");
        const char *partner = jstr(ev, "partner");
        const char *ref = jstr(ev, "ref");
        const char *key;
        json_t *v;

        jint(ev, "seq", &seq);
        printf("%" JSON_INTEGER_FORMAT " %s %s", seq, at ? at : "-", type ? type : "?");
        if (id)
                printf(" %s", id);
        if (partner || ref)
                printf(" %s/%s", partner ? partner : "?", ref ? ref : "?");
        json_object_foreach((json_t *)ev, key, v)
        {
                size_t i;
                bool skip = false;
                char *s;

                for (i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
                        skip = skip || !strcmp(key, fixed[i]);
                if (skip)
                        continue;
                s = value_text(v);
                printf(" %s=%s", key, s ? s : "?");
                free(s);
        }
        putchar('\n');
}

void emit_event(const struct ctl *c, const json_t *ev)
{
        if (c->json)
                print_json_line(ev);
        else
                print_event(ev);
}

void print_diag(const struct rd_diag *diag)
{
        for (size_t i = 0; i < diag->n; i++)
                fprintf(stderr, "%s\n", diag->items[i].text);
}
