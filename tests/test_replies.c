/* test_replies.c: the replies of the changes that stand (submit, update,
 * erase) are written as text without a tree (docs/performance.md, issue
 * 16, cut 6). They must be byte for byte what the tree of rd_ops_ok,
 * rd_ops_put_decision and the fields of each kind made, dumped compact:
 * the same fields in the same order, corr echoed as sent (U+0000, emoji,
 * what JSON escapes). The tree is built here from the stored referral,
 * with the tree functions ops.c keeps for get. */
#include "faults_fixture.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_priv.h"
#include "timefmt.h"

/* The corr values every change is asked with: none, plain, and what JSON
 * escapes or may (as JSON text). */
static const char *const corrs[] = {
        NULL,
        "\"c-1\"",
        "\"a\\u0000b\"",
        "\"\\u00e9 \\u2028 \\ud83d\\ude00 \\\" \\\\ / \\n\\t\\u001f \\u007f\"",
};

/* The text of the reply to the request FMT... at NOW, in a batch of its
 * own that commits (caller frees). */
static char *reply_text(struct fx *f, int64_t now, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static char *reply_text(struct fx *f, int64_t now, const char *fmt, ...)
{
        struct rd_reply r;
        char buf[8192], *text;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        rd_txn_batch_start(&f->txn);
        rd_txn_answer(&f->txn, buf, strlen(buf), NULL, now, &r);
        assert_int_equal(rd_txn_batch_end(&f->txn), RD_TXN_COMMITTED);
        rd_hub_events_clear(f->hub);
        assert_non_null(r.text);
        if (!r.ok)
                fail_msg("refused: %s", r.text);
        assert_int_equal(strlen(r.text), r.len);
        text = r.text;
        r.text = NULL;
        rd_reply_clear(&r);
        return text;
}

/* The reply as the tree made it: ok, corr (CORR: JSON text, or NULL),
 * the decision fields of referral ID as stored; the caller adds the rest. */
static json_t *tree_reply(struct fx *f, const char *corr, const char *id)
{
        struct rd_stored st;
        json_t *o = json_object();

        json_object_set_new(o, "ok", json_true());
        if (corr)
                json_object_set_new(o, "corr",
                                    json_loads(corr, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL));
        assert_int_equal(rd_store_get(f->store, id, &st), 0);
        rd_ops_put_decision(o, &st);
        return o;
}

/* TEXT is TREE (taken) dumped compactly, byte for byte. */
static void expect_text_of(char *text, json_t *tree, const char *what)
{
        char *want = json_dumps(tree, JSON_COMPACT);

        assert_non_null(want);
        if (strcmp(text, want) != 0)
                fail_msg("%s:\n  %s\n  %s", what, text, want);
        free(want);
        free(text);
        json_decref(tree);
}

/* ", \"corr\": CORR", or "" */
static const char *corr_member(const char *corr, char *buf, size_t size)
{
        if (!corr)
                return "";
        snprintf(buf, size, ", \"corr\": %s", corr);
        return buf;
}

/* The id in the reply TEXT. */
static void id_of(const char *text, char id[RD_RID_MAX])
{
        json_t *j = json_loads(text, JSON_ALLOW_NUL, NULL);

        assert_non_null(j);
        snprintf(id, RD_RID_MAX, "%s", json_string_value(json_object_get(j, "id")));
        json_decref(j);
}

static void a_change_s_reply_is_the_text_its_tree_made(void **state)
{
        struct fx *f = *state;
        int64_t now = T0 + DAY;

        copy_files(f->template, f->path);
        open_at(f, f->path, NULL);

        for (size_t k = 0; k < sizeof corrs / sizeof corrs[0]; k++) {
                char ref[32], id[RD_RID_MAX], fid[RD_RID_MAX], cm[128], *text;
                json_t *tree;

                /* a submit that is assigned or waits, and again: a duplicate */
                snprintf(ref, sizeof ref, "REPLY-%zu", k);
                text = reply_text(f, now, "{\"op\": \"submit\"%s, \"referral\": %s}",
                                  corr_member(corrs[k], cm, sizeof cm),
                                  referral_json(ref, false, false, NULL));
                id_of(text, id);
                tree = tree_reply(f, corrs[k], id);
                json_object_set_new(tree, "duplicate", json_false());
                expect_text_of(text, tree, "submit");
                text = reply_text(f, now + 1, "{\"op\": \"submit\"%s, \"referral\": %s}",
                                  corr_member(corrs[k], cm, sizeof cm),
                                  referral_json(ref, false, false, NULL));
                tree = tree_reply(f, corrs[k], id);
                json_object_set_new(tree, "duplicate", json_true());
                expect_text_of(text, tree, "duplicate submit");

                /* a forward: forward_to and its reason */
                snprintf(ref, sizeof ref, "REPLY-FWD-%zu", k);
                text = reply_text(f, now + 2, "{\"op\": \"submit\"%s, \"referral\": %s}",
                                  corr_member(corrs[k], cm, sizeof cm),
                                  referral_json(ref, false, true, NULL));
                id_of(text, fid);
                tree = tree_reply(f, corrs[k], fid);
                assert_non_null(json_object_get(tree, "forward_to"));
                json_object_set_new(tree, "duplicate", json_false());
                expect_text_of(text, tree, "forwarded submit");

                /* an offer accepted, then started with an expected end */
                text = reply_text(f, now + 3,
                                  "{\"op\": \"update\"%s, \"id\": \"%s\", \"status\": "
                                  "\"accepted\", \"connector\": \"%s\"}",
                                  corr_member(corrs[k], cm, sizeof cm), f->base[2 + k],
                                  f->base_conn[2 + k]);
                expect_text_of(text, tree_reply(f, corrs[k], f->base[2 + k]), "accepted");
                text = reply_text(f, now + 4,
                                  "{\"op\": \"update\"%s, \"id\": \"%s\", \"status\": "
                                  "\"started\", \"connector\": \"%s\", \"expected_end\": "
                                  "\"2027-06-01T00:00:00Z\"}",
                                  corr_member(corrs[k], cm, sizeof cm), f->base[2 + k],
                                  f->base_conn[2 + k]);
                tree = tree_reply(f, corrs[k], f->base[2 + k]);
                {
                        struct rd_stored st;
                        assert_int_equal(rd_store_get(f->store, f->base[2 + k], &st), 0);
                        assert_true(st.started_ms && st.expected_end_ms);
                        rd_ops_set_time(tree, "started", st.started_ms);
                        rd_ops_set_time(tree, "expected_end", st.expected_end_ms);
                }
                expect_text_of(text, tree, "started");

                /* an erase: erased, and not yet wiped */
                text = reply_text(f, now + 5, "{\"op\": \"erase\"%s, \"id\": \"%s\"}",
                                  corr_member(corrs[k], cm, sizeof cm), fid);
                tree = tree_reply(f, corrs[k], fid);
                {
                        struct rd_stored st;
                        assert_int_equal(rd_store_get(f->store, fid, &st), 0);
                        rd_ops_set_time(tree, "erased", st.erased_ms);
                        json_object_set_new(tree, "wiped", json_false());
                }
                expect_text_of(text, tree, "erase");
                now += HOUR;
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(a_change_s_reply_is_the_text_its_tree_made),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
