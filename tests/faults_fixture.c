/* faults_fixture.c: what the tests of store faults share
 * (faults_fixture.h). */
#include "faults_fixture.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault_vfs.h"

/* Two connectors of capacity 3: six offers fill them, so that the batch
 * meets a waitlist, a freed place and a decline. */
static const char routing[] =
        "version: 1\n"
        "defaults: {window: 30d, accept_within: 2d, at_risk: 7d, trajectory: 120d}\n"
        "teams:\n"
        "  - id: genk\n"
        "    postcodes: [\"3600\"]\n"
        "    connectors:\n"
        "      - {id: kelly, capacity: 3, skills: [family_support], languages: [nl]}\n"
        "      - {id: sophie, capacity: 3, skills: [family_support], languages: [nl]}\n"
        "forward_targets:\n"
        "  - {id: caw-limburg, name: \"CAW Limburg\"}\n"
        "rules:\n"
        "  - name: family\n"
        "    when: {kind: family_support, postcode: [\"3600\"]}\n"
        "    assign: {teams: [genk]}\n"
        "  - name: everything-else\n"
        "    forward: {to: caw-limburg, reason: \"outside the target group\"}\n";

struct rd_rules *fx_rules(void)
{
        struct rd_rules *r = NULL;
        struct rd_diag diag = {0};

        if (rd_rules_load_buffer("routing.yaml", routing, sizeof routing - 1, &r, &diag) < 0)
                fail_msg("routing file refused: %s", rd_diag_first_error(&diag));
        rd_diag_clear(&diag);
        return r;
}

void open_at(struct fx *f, const char *path, const char *vfs)
{
        const struct rd_sqlite_options opt = {
                .synchronous_full = true, .vfs = vfs, .cache_pages = 20};
        char errbuf[256];

        if (rd_store_open_sqlite(path, &opt, &f->store, errbuf, sizeof errbuf) < 0)
                fail_msg("cannot open %s: %s", path, errbuf);
        assert_int_equal(rd_hub_new(f->store, fx_rules(), &f->hub), 0);
        memset(&f->ops, 0, sizeof f->ops);
        f->ops.hub = f->hub;
        f->ops.store = f->store;
        f->ops.started_ms = T0;
        rd_txn_init(&f->txn, f->store, f->hub, &f->ops, NULL, NULL);
}

void close_store(struct fx *f)
{
        rd_ops_free(&f->ops);
        rd_hub_free(f->hub);
        rd_store_close(f->store);
        f->hub = NULL;
        f->store = NULL;
}

/* Copy the file SRC to DST (replaced); a missing SRC removes DST. */
void copy_file(const char *src, const char *dst)
{
        char buf[65536];
        FILE *in = fopen(src, "rb"), *out;
        size_t n;

        unlink(dst);
        if (!in) {
                assert_int_equal(errno, ENOENT);
                return;
        }
        out = fopen(dst, "wb");
        assert_non_null(out);
        while ((n = fread(buf, 1, sizeof buf, in)) > 0)
                assert_int_equal(fwrite(buf, 1, n, out), n);
        assert_false(ferror(in));
        fclose(in);
        assert_int_equal(fclose(out), 0);
}

/* Copy the database PATH with its write-ahead log (when there is one) to
 * DST, as the files are now: what a start after kill -9 would find. */
void copy_files(const char *path, const char *dst)
{
        char src[300], to[300];

        copy_file(path, dst);
        snprintf(src, sizeof src, "%s-wal", path);
        snprintf(to, sizeof to, "%s-wal", dst);
        copy_file(src, to);
        snprintf(to, sizeof to, "%s-shm", dst);
        unlink(to);
}

/* ---- the loop's steps, as batch.c and deadlines.c take them -------------------------- */

/* Hand out what the hub holds after a commit (batch.c: rd_server_publish). */
static void publish(struct fx *f)
{
        size_t n;
        const struct rd_event *evs = rd_hub_events(f->hub, &n);

        for (size_t i = 0; i < n; i++) {
                if (f->n_published == f->cap_published) {
                        f->cap_published = f->cap_published ? 2 * f->cap_published : 256;
                        f->published =
                                realloc(f->published, f->cap_published * sizeof *f->published);
                        assert_non_null(f->published);
                }
                f->published[f->n_published++] = evs[i].seq;
        }
        rd_hub_events_clear(f->hub);
}

/* Answer the N requests REQS in one batch at NOW; replies into REPLIES. */
enum rd_txn_end batch(struct fx *f, struct req *reqs, json_t **replies, size_t n, int64_t now)
{
        enum rd_txn_end end;

        rd_txn_batch_start(&f->txn);
        for (size_t i = 0; i < n; i++) {
                const char *t = reqs[i].text;
                struct rd_reply r;
                rd_txn_answer(&f->txn, t, strlen(t), NULL, now, &r);
                /* the text the loop sends, read back (its corr may hold U+0000) */
                assert_non_null(r.text);
                replies[i] = json_loadb(r.text, r.len, JSON_ALLOW_NUL, NULL);
                assert_non_null(replies[i]);
                rd_reply_clear(&r);
        }
        end = rd_txn_batch_end(&f->txn);
        /* what batch.c does with the replies it holds */
        for (size_t i = 0; i < n; i++) {
                json_t *old = replies[i];
                if (!json_is_true(json_object_get(old, "ok")))
                        continue;
                if (end != RD_TXN_COMMITTED) {
                        replies[i] = rd_txn_retracted(end, json_object_get(old, "corr"));
                        json_decref(old);
                } else if (rd_txn_wiped(&f->txn) && json_object_get(old, "wiped")) {
                        json_object_set_new(old, "wiped", json_true());
                }
        }
        if (end == RD_TXN_COMMITTED)
                publish(f);
        return end;
}

/* One request in a batch of its own that must commit; its reply (caller
 * frees). */
json_t *call(struct fx *f, int64_t now, const char *fmt, ...)
{
        struct req r = {0};
        json_t *reply;
        char buf[8192];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        r.text = buf;
        assert_int_equal(batch(f, &r, &reply, 1, now), RD_TXN_COMMITTED);
        return reply;
}

enum rd_txn_end tick(struct fx *f, int64_t now)
{
        size_t done;
        enum rd_txn_end end = rd_txn_tick(&f->txn, now, 256, &done);

        if (end == RD_TXN_COMMITTED)
                publish(f);
        return end;
}

/* ---- requests ------------------------------------------------------------------------------ */

/* A referral's JSON: family support in 3600 (FORWARD: in 2000, which no
 * team serves), with BIG: a note and family data at their limits. */
char *referral_json(const char *ref, bool big, bool forward, const char *note)
{
        static char text[4096];
        char fill[2001];

        memset(fill, 'x', sizeof fill - 1);
        fill[sizeof fill - 1] = '\0';
        if (!note)
                note = big ? fill : "kort";
        snprintf(text, sizeof text,
                 "{\"ref\": \"%s\", \"partner\": \"ocmw-genk\", \"kind\": \"family_support\", "
                 "\"postcode\": \"%s\", \"children\": [{\"age\": 9}], \"language\": \"nl\", "
                 "\"consent\": true, \"family\": {\"name\": \"%.*s\", \"address\": \"%.*s\"}, "
                 "\"note\": \"%s\"}",
                 ref, forward ? "2000" : "3600", big ? 256 : 6, fill, big ? 256 : 6, fill, note);
        return text;
}

/* Base referral I of the template, its note unique to it (to look for in
 * the files); with NOTE another note (a conflict). */
char *base_json(int i, const char *note)
{
        char ref[32], mine[48];

        snprintf(ref, sizeof ref, "BASE-%d", i);
        snprintf(mine, sizeof mine, "private-note-of-base-%d", i);
        return referral_json(ref, false, false, note ? note : mine);
}

/* ---- the template ------------------------------------------------------------------------- */

static void reply_id(json_t *reply, char *id, char *connector)
{
        assert_true(json_is_true(json_object_get(reply, "ok")));
        snprintf(id, RD_RID_MAX, "%s", json_string_value(json_object_get(reply, "id")));
        if (connector)
                snprintf(connector, RD_ID_MAX + 1, "%s",
                         json_string_value(json_object_get(reply, "connector")));
        json_decref(reply);
}

/* Six offers (both connectors full), two waiting, BASE[0] accepted and
 * BASE[1] started; committed at T0, then closed (no write-ahead log). */
static void make_template(struct fx *f)
{
        char ref[32];
        json_t *rep;

        open_at(f, f->template, NULL);
        for (int i = 0; i < N_BASE; i++) {
                rep = call(f, T0 + i, "{\"op\": \"submit\", \"referral\": %s}", base_json(i, NULL));
                reply_id(rep, f->base[i], f->base_conn[i]);
        }
        for (int i = 0; i < 2; i++) {
                snprintf(ref, sizeof ref, "WAIT-%d", i);
                rep = call(f, T0 + 10 + i, "{\"op\": \"submit\", \"referral\": %s}",
                           referral_json(ref, false, false, NULL));
                assert_string_equal(json_string_value(json_object_get(rep, "status")),
                                    "waitlisted");
                reply_id(rep, f->waiting[i], NULL);
        }
        json_decref(call(f, T0 + 20,
                         "{\"op\": \"update\", \"id\": \"%s\", \"status\": \"accepted\", "
                         "\"connector\": \"%s\"}",
                         f->base[0], f->base_conn[0]));
        json_decref(call(f, T0 + 21,
                         "{\"op\": \"update\", \"id\": \"%s\", \"status\": \"started\", "
                         "\"connector\": \"%s\"}",
                         f->base[1], f->base_conn[1]));
        f->base_seq = rd_store_last_seq(f->store);
        close_store(f);
}

int setup(void **state)
{
        struct fx *f = calloc(1, sizeof *f);
        const char *full = getenv("RD_FAULTS_FULL");

        assert_non_null(f);
        assert_int_equal(fault_vfs_register(), SQLITE_OK);
        /* on tmpfs when there is one: thousands of syncs */
        snprintf(f->dir, sizeof f->dir, "%s/rd-test-faults-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->template, sizeof f->template, "%s/template.db", f->dir);
        snprintf(f->path, sizeof f->path, "%s/referrald.db", f->dir);
        snprintf(f->copy, sizeof f->copy, "%s/after-kill.db", f->dir);
        f->big = full && *full && strcmp(full, "0") != 0 ? 150 : 3;
        make_template(f);
        *state = f;
        return 0;
}

int teardown(void **state)
{
        struct fx *f = *state;
        char cmd[300];

        fault_vfs_disarm();
        close_store(f);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f->published);
        free(f);
        return 0;
}

/* Whether NEEDLE is in the database file PATH or in its write-ahead log. */
bool in_files(const char *path, const char *needle)
{
        static const char *const suffix[] = {"", "-wal"};
        bool found = false;

        for (size_t i = 0; i < 2 && !found; i++) {
                char name[300], *buf;
                FILE *fp;
                long size;

                snprintf(name, sizeof name, "%s%s", path, suffix[i]);
                fp = fopen(name, "rb");
                if (!fp)
                        continue;
                fseek(fp, 0, SEEK_END);
                size = ftell(fp);
                rewind(fp);
                buf = malloc((size_t)size + 1);
                assert_non_null(buf);
                assert_int_equal(fread(buf, 1, (size_t)size, fp), (size_t)size);
                fclose(fp);
                found = memmem(buf, (size_t)size, needle, strlen(needle)) != NULL;
                free(buf);
        }
        return found;
}
