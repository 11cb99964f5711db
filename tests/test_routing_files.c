/* test_routing_files.c: the routing files kept in the database
 * (rd_store_routing_*, lib/routing_files), the scratch copy the tools read
 * a database through (rd_store_open_copy), what differs between two files
 * (lib/rules_diff) and what a reload would do (lib/reload_preview),
 * which must be what the reload does. */
#include "hub_fixture.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "reload_preview.h"
#include "routing_files.h"
#include "rules_diff.h"

/* ---- helpers --------------------------------------------------------------------- */

static const char file_a[] =
        "version: 1\n"
        "teams:\n"
        "  - id: genk\n"
        "    connectors: [{id: kelly, capacity: 2, skills: [family_support]}]\n"
        "forward_targets: [{id: caw, name: CAW}]\n"
        "rules:\n"
        "  - name: family\n"
        "    when: {kind: family_support}\n"
        "    assign: {teams: [genk]}\n"
        "  - name: rest\n"
        "    forward: {to: caw, reason: outside}\n";

static struct rd_rules *rules_of(const char *name, const char *text)
{
        struct rd_rules *r = NULL;
        struct rd_diag diag = {0};

        if (rd_rules_load_buffer(name, text, strlen(text), &r, &diag) < 0)
                fail_msg("%s refused: %s", name, rd_diag_first_error(&diag));
        rd_diag_clear(&diag);
        return r;
}

/* Record TEXT (named NAME) in force at AT in F's store, committed. */
static void put_in_force(struct fx *f, const char *name, const char *text, int64_t at)
{
        struct rd_rules *r = rules_of(name, text);

        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(rd_routing_record(f->store, r, text, strlen(text), at), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        rd_rules_free(r);
}

struct history {
        char digest[8][65], source[8][64];
        int64_t from[8], until[8];
        size_t n;
};

static int keep(void *ctx, const struct rd_routing_period *p)
{
        struct history *h = ctx;

        assert_true(h->n < 8);
        snprintf(h->digest[h->n], 65, "%s", p->digest);
        snprintf(h->source[h->n], 64, "%s", p->source);
        h->from[h->n] = p->from_ms;
        h->until[h->n] = p->until_ms;
        h->n++;
        return 0;
}

static char *file_text(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        char *buf = calloc(1, 1 << 20);
        size_t n;

        assert_non_null(f);
        assert_non_null(buf);
        n = fread(buf, 1, (1 << 20) - 1, f);
        fclose(f);
        if (len)
                *len = n;
        return buf;
}

static bool exists(const char *path)
{
        struct stat sb;
        return stat(path, &sb) == 0;
}

/* ---- the record of the files in force ------------------------------------------------ */

static void each_file_put_in_force_is_kept_with_its_period(void **state)
{
        struct fx *f = *state;
        char file_b[sizeof file_a + 16], *text = NULL;
        struct history h = {0};
        struct rd_rules *a = rules_of("a.yaml", file_a);
        size_t len = 0;

        snprintf(file_b, sizeof file_b, "%s", file_a);
        file_b[strstr(file_b, "capacity: 2") - file_b + 10] = '3';
        put_in_force(f, "a.yaml", file_a, T0);
        put_in_force(f, "a.yaml", file_a, T0 + HOUR); /* a restart: nothing changes */
        put_in_force(f, "b.yaml", file_b, T0 + DAY);
        put_in_force(f, "a.yaml", file_a, T0 + 2 * DAY); /* back to A */
        assert_int_equal(rd_store_each_routing(f->store, keep, &h), 0);
        assert_int_equal(h.n, 3);
        assert_string_equal(h.digest[0], a->digest);
        assert_string_equal(h.source[0], "a.yaml");
        assert_true(h.from[0] == T0 && h.until[0] == T0 + DAY);
        assert_string_equal(h.source[1], "b.yaml");
        assert_true(h.from[1] == T0 + DAY && h.until[1] == T0 + 2 * DAY);
        assert_string_equal(h.digest[2], a->digest);
        assert_true(h.from[2] == T0 + 2 * DAY && h.until[2] == 0);
        /* the bytes, exactly, by digest */
        assert_int_equal(rd_store_routing_text(f->store, a->digest, &text, &len), 0);
        assert_int_equal(len, strlen(file_a));
        assert_memory_equal(text, file_a, len);
        free(text);
        assert_int_equal(rd_store_routing_text(f->store, "00", &text, &len), -ENOENT);
        rd_rules_free(a);
}

static void the_file_in_force_at_a_moment_is_read_back_from_its_kept_bytes(void **state)
{
        struct fx *f = *state;
        struct rd_routing_current cur = {0};
        char file_b[sizeof file_a + 16];

        assert_int_equal(rd_routing_in_force(f->store, &cur, NULL), -ENOENT);
        snprintf(file_b, sizeof file_b, "%s", file_a);
        file_b[strstr(file_b, "capacity: 2") - file_b + 10] = '3';
        put_in_force(f, "a.yaml", file_a, T0);
        put_in_force(f, "b.yaml", file_b, T0 + DAY);
        assert_int_equal(rd_routing_in_force(f->store, &cur, NULL), 0);
        assert_string_equal(cur.source, "b.yaml");
        assert_string_equal(cur.rules->source, "b.yaml");
        assert_int_equal(cur.rules->connectors[0].capacity, 3);
        assert_true(cur.from_ms == T0 + DAY && cur.periods == 2);
        rd_routing_current_clear(&cur);
        assert_int_equal(rd_routing_at(f->store, T0 + DAY, &cur, NULL), 0); /* began before */
        assert_string_equal(cur.source, "a.yaml");
        assert_int_equal(cur.rules->connectors[0].capacity, 2);
        rd_routing_current_clear(&cur);
        assert_int_equal(rd_routing_at(f->store, T0, &cur, NULL), -ENOENT);
        assert_null(cur.rules);
}

static void a_reload_records_its_file_in_its_own_transaction(void **state)
{
        struct fx *f = *state;
        struct history h = {0};
        struct rd_rules *r = rules_of("a.yaml", file_a);

        /* rolled back with the reload: as if it never happened */
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(rd_routing_record(f->store, r, file_a, strlen(file_a), T0), 0);
        rd_store_rollback(f->store);
        assert_int_equal(rd_store_each_routing(f->store, keep, &h), 0);
        assert_int_equal(h.n, 0);
        rd_rules_free(r);
}

static void a_file_loaded_with_its_bytes_loads_as_rd_rules_load_file(void **state)
{
        struct fx *f = *state;
        char path[400], fifo[400], *text = NULL, *kept = NULL;
        struct rd_rules *r1 = NULL, *r2 = NULL;
        struct rd_diag d1 = {0}, d2 = {0};
        size_t len = 0, n;
        FILE *out;

        snprintf(path, sizeof path, "%s/routing.yaml", f->dir);
        out = fopen(path, "w");
        assert_non_null(out);
        fputs(file_a, out);
        fputs("# a comment the digest covers\n", out);
        fclose(out);
        assert_int_equal(rd_routing_load_file(path, &r1, &text, &len, &d1), 0);
        assert_int_equal(rd_rules_load_file(path, &r2, &d2), 0);
        assert_string_equal(r1->digest, r2->digest);
        assert_string_equal(r1->source, path);
        kept = file_text(path, &n);
        assert_int_equal(len, n);
        assert_memory_equal(text, kept, n);
        free(kept);
        free(text);
        rd_rules_free(r1);
        rd_rules_free(r2);
        /* a bad file: the same messages and return value, nothing handed out */
        out = fopen(path, "w");
        fputs("version: 1\nteams: [{id: genk, colour: red}]\n", out);
        fclose(out);
        text = NULL;
        r1 = NULL;
        assert_int_equal(rd_routing_load_file(path, &r1, &text, &len, &d1),
                         rd_rules_load_file(path, &r2, &d2));
        assert_null(r1);
        assert_null(text);
        assert_int_equal(d1.n, d2.n);
        for (size_t i = 0; i < d1.n; i++)
                assert_string_equal(d1.items[i].text, d2.items[i].text);
        rd_diag_clear(&d1);
        rd_diag_clear(&d2);
        /* not YAML at all: the same too */
        out = fopen(path, "w");
        fputs("version: [1\n", out);
        fclose(out);
        assert_int_equal(rd_routing_load_file(path, &r1, &text, &len, &d1),
                         rd_rules_load_file(path, &r2, &d2));
        assert_null(r1);
        assert_true(d1.n > 0 && d1.n == d2.n);
        assert_string_equal(d1.items[0].text, d2.items[0].text);
        rd_diag_clear(&d1);
        rd_diag_clear(&d2);
        /* a FIFO is refused at once, as every YAML file that is not regular */
        snprintf(fifo, sizeof fifo, "%s/fifo.yaml", f->dir);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_int_equal(rd_routing_load_file(fifo, &r1, &text, &len, &d1), -EINVAL);
        if (!strstr(rd_diag_first_error(&d1), "not a regular file"))
                fail_msg("%s", rd_diag_first_error(&d1));
        rd_diag_clear(&d1);
}

/* ---- the scratch copy ------------------------------------------------------------------ */

static void a_copy_holds_the_database_and_never_writes_it(void **state)
{
        struct fx *f = *state;
        struct rd_store *copy = NULL;
        struct rd_stored st;
        char errbuf[256], wal[320], *before, *after, *wal_before, *wal_after;
        char r[4][RD_RID_MAX];
        size_t n1, n2, w1, w2;

        fill_family(f, r); /* F's store stays open: the database is live */
        snprintf(wal, sizeof wal, "%s-wal", f->path);
        before = file_text(f->path, &n1);
        wal_before = file_text(wal, &w1);
        assert_int_equal(rd_store_open_copy(f->path, &copy, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_store_get(copy, r[3], &st), 0);
        assert_string_equal(st.connector, "sophie");
        /* the hub writes to the copy: none of it reaches the file */
        st.status = RD_STATUS_WITHDRAWN;
        assert_int_equal(rd_store_begin(copy), 0);
        assert_int_equal(rd_store_change(copy, &(struct rd_store_change){.st = &st, .row = true}),
                         0);
        assert_int_equal(rd_store_commit(copy), 0);
        rd_store_close(copy);
        after = file_text(f->path, &n2);
        wal_after = file_text(wal, &w2);
        assert_int_equal(n1, n2);
        assert_memory_equal(before, after, n1);
        assert_int_equal(w1, w2);
        assert_memory_equal(wal_before, wal_after, w1);
        assert_int_equal(get(f, r[3]).status, RD_STATUS_ASSIGNED);
        free(before);
        free(after);
        free(wal_before);
        free(wal_after);
}

static void a_database_nobody_has_open_gets_nothing_beside_it(void **state)
{
        struct fx *f = *state;
        struct rd_store *copy = NULL;
        char errbuf[256], wal[320], shm[320], path[400];
        char r[4][RD_RID_MAX];

        fill_family(f, r);
        rd_hub_free(f->hub);
        f->hub = NULL;
        rd_store_close(f->store); /* the last connection: SQLite removes the -wal */
        f->store = NULL;
        snprintf(wal, sizeof wal, "%s-wal", f->path);
        snprintf(shm, sizeof shm, "%s-shm", f->path);
        assert_false(exists(wal));
        assert_int_equal(rd_store_open_copy(f->path, &copy, errbuf, sizeof errbuf), 0);
        rd_store_close(copy);
        assert_false(exists(wal));
        assert_false(exists(shm));
        /* a name with the characters of a URI in it */
        snprintf(path, sizeof path, "%s/a %%20?b#c.db", f->dir);
        assert_int_equal(rename(f->path, path), 0);
        assert_int_equal(rd_store_open_copy(path, &copy, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_store_last_seq(copy), 8);
        rd_store_close(copy);
        assert_int_equal(rename(path, f->path), 0);
        assert_int_equal(rd_store_open(f->path, false, &f->store, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_hub_new(f->store, load_rules(NULL), &f->hub), 0);
}

static void a_copy_refuses_what_it_cannot_read_as_this_build(void **state)
{
        struct fx *f = *state;
        struct rd_store *copy = NULL;
        char errbuf[256], missing[320], empty[320];
        sqlite3 *db;
        int fd;

        snprintf(missing, sizeof missing, "%s/no-such.db", f->dir);
        assert_int_equal(rd_store_open_copy(missing, &copy, errbuf, sizeof errbuf), -ENOENT);
        assert_false(exists(missing)); /* never created */
        snprintf(empty, sizeof empty, "%s/empty.db", f->dir);
        fd = open(empty, O_CREAT | O_WRONLY, 0600);
        close(fd);
        assert_int_equal(rd_store_open_copy(empty, &copy, errbuf, sizeof errbuf), -EPROTO);
        assert_non_null(strstr(errbuf, "not a referrald database"));
        /* another schema version: refused, and left as it was */
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(rd_store_open_copy(f->path, &copy, errbuf, sizeof errbuf), -EPROTO);
        assert_non_null(strstr(errbuf, "schema version 2"));
        assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(rd_store_open_copy(f->path, &copy, errbuf, sizeof errbuf), -EPROTO);
        assert_non_null(strstr(errbuf, "newer"));
        assert_null(copy);
        sqlite3_close(db);
}

/* ---- what differs ---------------------------------------------------------------------- */

/* The item of DIFF about KIND ID, or NULL. */
static json_t *item(json_t *diff, const char *kind, const char *id)
{
        json_t *it;
        size_t i;

        json_array_foreach(
                diff, i,
                it) if (!strcmp(json_string_value(json_object_get(it, "kind")), kind) &&
                        !strcmp(json_string_value(json_object_get(it, "id")), id)) return it;
        return NULL;
}

static void the_diff_names_what_changed_with_before_and_after(void **state)
{
        struct rd_rules *old = load_rules(NULL);
        struct rd_rules *new_rules = load_rules(
                "      - {id: jan, capacity: 1, skills: [family_support], languages: [nl]}\n");
        json_t *d = rd_rules_diff(old, new_rules), *it, *w;

        (void)state;
        assert_non_null(d);
        assert_int_equal(json_array_size(d), 2);
        it = item(d, "connector", "jan");
        assert_non_null(it);
        assert_string_equal(json_string_value(json_object_get(it, "change")), "added");
        it = item(d, "team", "genk");
        assert_non_null(it);
        w = json_array_get(json_object_get(it, "what"), 0);
        assert_string_equal(json_string_value(json_object_get(w, "key")), "connectors");
        assert_int_equal(json_array_size(json_object_get(w, "before")), 2);
        assert_int_equal(json_array_size(json_object_get(w, "after")), 3);
        json_decref(d);
        /* the other way round: removed */
        d = rd_rules_diff(new_rules, old);
        assert_string_equal(
                json_string_value(json_object_get(item(d, "connector", "jan"), "change")),
                "removed");
        json_decref(d);
        /* the same routing: nothing */
        d = rd_rules_diff(old, old);
        assert_int_equal(json_array_size(d), 0);
        json_decref(d);
        rd_rules_free(old);
        rd_rules_free(new_rules);
}

static void the_same_routing_written_otherwise_does_not_differ(void **state)
{
        static const char b[] = "version: 1\n"
                                "defaults: {window: 720h}\n" /* 30d, the default */
                                "teams:\n"
                                "  - id: genk\n"
                                "    connectors:\n"
                                "      - id: kelly\n"
                                "        capacity: 2\n"
                                "        skills: family_support\n"
                                "forward_targets: [{id: caw, name: CAW}]\n"
                                "rules:\n"
                                "  - name: family\n"
                                "    when: {kind: [family_support]}\n"
                                "    assign: {teams: genk}\n"
                                "  - name: rest\n"
                                "    forward: {to: caw, reason: outside}\n";
        struct rd_rules *x = rules_of("a.yaml", file_a), *y = rules_of("b.yaml", b);
        json_t *d = rd_rules_diff(x, y);

        (void)state;
        assert_int_equal(json_array_size(d), 0);
        json_decref(d);
        rd_rules_free(x);
        rd_rules_free(y);
}

static void a_changed_rule_and_a_new_order_are_named(void **state)
{
        static const char b[] = "version: 1\n"
                                "teams:\n"
                                "  - id: genk\n"
                                "    connectors: [{id: kelly, capacity: 2, skills: "
                                "[family_support]}]\n"
                                "forward_targets: [{id: caw, name: CAW}]\n"
                                "rules:\n"
                                "  - name: crisis\n"
                                "    when: {urgency: crisis}\n"
                                "    forward: {to: caw, reason: crisis}\n"
                                "  - name: family\n"
                                "    when: {kind: family_support, postcode: [\"3600-3610\"]}\n"
                                "    assign: {teams: [genk], window: 10d}\n"
                                "  - name: rest\n"
                                "    forward: {to: caw, reason: outside}\n";
        struct rd_rules *x = rules_of("a.yaml", file_a), *y = rules_of("b.yaml", b);
        json_t *d = rd_rules_diff(x, y), *what, *w;
        const char *keys[2];
        size_t i;

        (void)state;
        assert_string_equal(json_string_value(json_object_get(item(d, "rule", "crisis"), "change")),
                            "added");
        what = json_object_get(item(d, "rule", "family"), "what");
        assert_int_equal(json_array_size(what), 2);
        json_array_foreach(what, i, w) keys[i] = json_string_value(json_object_get(w, "key"));
        assert_string_equal(keys[0], "when.postcode");
        assert_string_equal(keys[1], "window");
        w = json_array_get(what, 1);
        assert_string_equal(json_string_value(json_object_get(w, "before")), "30d");
        assert_string_equal(json_string_value(json_object_get(w, "after")), "10d");
        assert_true(json_is_null(json_object_get(json_array_get(what, 0), "before")));
        assert_null(item(d, "order", "rules")); /* family, rest: the same order */
        json_decref(d);
        rd_rules_free(x);
        rd_rules_free(y);
}

static void overflow_teams_are_compared_as_any_setting(void **state)
{
        static const char b[] = "version: 1\n"
                                "teams:\n"
                                "  - id: genk\n"
                                "    connectors: [{id: kelly, capacity: 2, skills: "
                                "[family_support]}]\n"
                                "  - id: maas\n"
                                "    connectors: [{id: lien, capacity: 2, skills: "
                                "[family_support]}]\n"
                                "forward_targets: [{id: caw, name: CAW}]\n"
                                "rules:\n"
                                "  - name: family\n"
                                "    when: {kind: family_support}\n"
                                "    assign: {teams: [genk], overflow: [maas]}\n"
                                "  - name: rest\n"
                                "    forward: {to: caw, reason: outside}\n";
        struct rd_rules *x = rules_of("a.yaml", file_a), *y = rules_of("b.yaml", b);
        json_t *d = rd_rules_diff(x, y), *w;

        (void)state;
        w = json_array_get(json_object_get(item(d, "rule", "family"), "what"), 0);
        assert_non_null(w);
        assert_string_equal(json_string_value(json_object_get(w, "key")), "assign.overflow");
        assert_int_equal(json_array_size(json_object_get(w, "before")), 0);
        assert_string_equal(json_string_value(json_array_get(json_object_get(w, "after"), 0)),
                            "maas");
        assert_non_null(item(d, "team", "maas"));
        assert_non_null(item(d, "connector", "lien"));
        json_decref(d);
        rd_rules_free(x);
        rd_rules_free(y);
}

/* ---- what a reload would do ------------------------------------------------------------- */

static const char *jstr_of(const json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

static void the_preview_of_a_reload_is_what_the_reload_does(void **state)
{
        struct fx *f = *state;
        static const char jan[] =
                "      - {id: jan, capacity: 1, skills: [family_support], languages: [nl]}\n";
        struct rd_store *copy = NULL;
        struct rd_hub *hub = NULL;
        struct rd_preview p;
        char r[4][RD_RID_MAX], w[RD_RID_MAX], errbuf[256];
        const json_t *c;
        size_t i;

        one_waiting(f, r, w);
        assert_int_equal(rd_store_open_copy(f->path, &copy, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_hub_new(copy, load_rules(NULL), &hub), 0);
        assert_int_equal(rd_preview_reload(hub, copy, load_rules(jan), true, T0 + DAY, &p), 0);
        assert_int_equal(json_array_size(p.served), 1);
        assert_string_equal(jstr_of(json_array_get(p.served, 0), "id"), w);
        assert_string_equal(jstr_of(json_array_get(p.served, 0), "connector"), "jan");
        assert_string_equal(jstr_of(json_array_get(p.served, 0), "team"), "genk");
        assert_int_equal(json_array_size(p.attention), 0);
        json_array_foreach(p.connectors, i, c) if (!strcmp(jstr_of(c, "id"), "jan"))
        {
                assert_int_equal(json_integer_value(json_object_get(c, "load_before")), 0);
                assert_int_equal(json_integer_value(json_object_get(c, "load_after")), 1);
                assert_true(json_is_true(json_object_get(c, "added")));
        }
        assert_string_equal(jstr_of(json_array_get(p.events, 1), "type"), "config.reloaded");
        /* the live store did not move; the reload there does the same */
        assert_int_equal(get(f, w).status, RD_STATUS_WAITLISTED);
        reload(f, load_rules(jan), T0 + DAY);
        EXPECT(f, ASSIGNED(w, "jan"), {RD_EV_CONFIG_RELOADED, NULL, 0, NULL});
        assert_int_equal(f->ev[0].seq,
                         json_integer_value(json_object_get(json_array_get(p.events, 0), "seq")));
        rd_preview_clear(&p);
        rd_hub_free(hub);
        rd_store_close(copy);
}

static void what_is_due_right_after_the_reload_follows_it_as_in_the_daemon(void **state)
{
        struct fx *f = *state;
        struct rd_store *copy = NULL;
        struct rd_hub *hub = NULL;
        struct rd_preview p;
        char r[4][RD_RID_MAX], errbuf[256];
        int64_t later = T0 + 3 * DAY; /* the four offers (2d to accept) have lapsed */
        size_t n, k = 0;

        fill_family(f, r);
        assert_int_equal(rd_store_open_copy(f->path, &copy, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_hub_new(copy, load_rules(NULL), &hub), 0);
        assert_int_equal(rd_preview_reload(hub, copy, load_rules(NULL), true, later, &p), 0);
        n = json_array_size(p.events);
        assert_string_equal(jstr_of(json_array_get(p.events, 0), "type"), "config.reloaded");
        /* the daemon: the reload, then its loop ticks what is due */
        reload(f, load_rules(NULL), later);
        assert_int_equal(f->n_ev, 1);
        while (deadline(f) && deadline(f) <= later && tick(f, later) > 0)
                for (size_t i = 0; i < f->n_ev; i++, k++) {
                        const json_t *ev = json_array_get(p.events, k + 1);
                        assert_true(k + 1 < n);
                        assert_string_equal(jstr_of(ev, "type"), rd_event_type_name(f->ev[i].type));
                        assert_string_equal(jstr_of(ev, "id"), f->ev[i].id);
                }
        assert_int_equal(k + 1, n);
        assert_string_equal(jstr_of(json_array_get(p.events, 1), "type"), "referral.offer_expired");
        rd_preview_clear(&p);
        rd_hub_free(hub);
        rd_store_close(copy);
}

static void a_removed_connector_keeps_its_referrals_in_the_preview(void **state)
{
        struct fx *f = *state;
        struct rd_store *copy = NULL;
        struct rd_hub *hub = NULL;
        struct rd_preview p;
        char r[4][RD_RID_MAX], errbuf[256];
        const json_t *c, *sophie = NULL;
        struct rd_rules *without;
        size_t i;

        /* a file without sophie: genk has kelly alone */
        static const char text[] = "version: 1\n"
                                   "teams:\n"
                                   "  - id: genk\n"
                                   "    postcodes: [\"3600\"]\n"
                                   "    connectors:\n"
                                   "      - {id: kelly, capacity: 2, skills: [family_support]}\n"
                                   "forward_targets: [{id: caw-limburg, name: CAW}]\n"
                                   "rules:\n"
                                   "  - name: family\n"
                                   "    when: {kind: family_support}\n"
                                   "    assign: {teams: [genk]}\n"
                                   "  - name: rest\n"
                                   "    forward: {to: caw-limburg, reason: outside}\n";

        fill_family(f, r);
        without = rules_of("without.yaml", text);
        assert_int_equal(rd_store_open_copy(f->path, &copy, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_hub_new(copy, load_rules(NULL), &hub), 0);
        assert_int_equal(rd_preview_reload(hub, copy, without, true, T0 + DAY, &p), 0);
        json_array_foreach(p.connectors, i, c) if (!strcmp(jstr_of(c, "id"), "sophie")) sophie = c;
        assert_non_null(sophie);
        assert_true(json_is_true(json_object_get(sophie, "removed")));
        assert_int_equal(json_integer_value(json_object_get(sophie, "load_before")), 2);
        assert_int_equal(json_integer_value(json_object_get(sophie, "load_after")), 2);
        rd_preview_clear(&p);
        rd_hub_free(hub);
        rd_store_close(copy);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(each_file_put_in_force_is_kept_with_its_period),
                T(the_file_in_force_at_a_moment_is_read_back_from_its_kept_bytes),
                T(a_reload_records_its_file_in_its_own_transaction),
                T(a_file_loaded_with_its_bytes_loads_as_rd_rules_load_file),
                T(a_copy_holds_the_database_and_never_writes_it),
                T(a_database_nobody_has_open_gets_nothing_beside_it),
                T(a_copy_refuses_what_it_cannot_read_as_this_build),
                cmocka_unit_test(the_diff_names_what_changed_with_before_and_after),
                cmocka_unit_test(the_same_routing_written_otherwise_does_not_differ),
                cmocka_unit_test(a_changed_rule_and_a_new_order_are_named),
                cmocka_unit_test(overflow_teams_are_compared_as_any_setting),
                T(the_preview_of_a_reload_is_what_the_reload_does),
                T(what_is_due_right_after_the_reload_follows_it_as_in_the_daemon),
                T(a_removed_connector_keeps_its_referrals_in_the_preview),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
