/* test_yaml.c: lib/yaml_reader and lib/diag against daemon.md (rev 2):
 * "Every YAML file the project reads (daemon config, routing file, `rules
 * test` cases) is read the same way: the same limits, the same messages and
 * columns for the same fault, duplicate keys refused everywhere."
 *
 * The reader alone first; then the same faulty files fed to the three
 * loaders (rd_config_load, rd_rules_load_file, rd_cases_load_file), which
 * must report each fault at the same LINE:COLUMN with the same message.
 * daemon/config.c is compiled into this test, as in test_config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cases.h"
#include "config.h"
#include "diag.h"
#include "rules.h"
#include "yaml_reader.h"

#define NAME "t.yaml"

static void print_diag(const struct rd_diag *d)
{
        for (size_t i = 0; i < d->n; i++)
                print_message("  got: %s\n", d->items[i].text);
}

/* Open LEN bytes at BUF, let FN walk the reader (may be NULL), finish into
 * D. Returns what rd_yaml_finish returns. */
static int read_buffer(const char *buf, size_t len, void (*fn)(struct rd_yaml *), struct rd_diag *d)
{
        struct rd_yaml *y = NULL;

        assert_int_equal(rd_yaml_open_buffer(NAME, buf, len, &y), 0);
        assert_non_null(y);
        if (fn)
                fn(y);
        return rd_yaml_finish(y, d);
}

/* The one diagnostic of reading TEXT (walked by FN), which must fail. */
static void assert_one_error(const char *text, void (*fn)(struct rd_yaml *), const char *want)
{
        struct rd_diag d = {0};
        int rc = read_buffer(text, strlen(text), fn, &d);

        print_diag(&d);
        assert_int_equal(rc, -EINVAL);
        assert_int_equal(d.n, 1);
        assert_string_equal(d.items[0].text, want);
        rd_diag_clear(&d);
}

/* ---- lib/diag ------------------------------------------------------------ */

static void test_diag_add_formats_position_and_warning(void **st)
{
        struct rd_diag d = {0};

        (void)st;
        assert_int_equal(rd_diag_add(&d, RD_DIAG_WARNING, "f.yaml", 3, 7, "x %d", 1), 0);
        assert_int_equal(rd_diag_add(&d, RD_DIAG_ERROR, "f.yaml", 4, 1, "y"), 0);
        assert_int_equal(d.n, 2);
        assert_int_equal(d.n_errors, 1);
        assert_int_equal(d.n_warnings, 1);
        assert_string_equal(d.items[0].text, "f.yaml:3:7: warning: x 1");
        assert_string_equal(d.items[1].text, "f.yaml:4:1: y");
        assert_string_equal(rd_diag_first_error(&d), "f.yaml:4:1: y");
        rd_diag_clear(&d);
        assert_int_equal(d.n, 0);
        assert_null(rd_diag_first_error(&d));
}

static void test_diag_of_the_whole_file_is_at_its_start_and_one_line(void **st)
{
        struct rd_diag d = {0};

        (void)st;
        assert_int_equal(rd_diag_add(&d, RD_DIAG_ERROR, "f.yaml", 0, 0, "a\nb\x1b[2K"), 0);
        assert_string_equal(d.items[0].text, "f.yaml:1:1: a?b?[2K");
        assert_int_equal(rd_diag_add(NULL, RD_DIAG_ERROR, "f.yaml", 1, 1, "kept nowhere"), 0);
        rd_diag_clear(&d);
        rd_diag_clear(NULL);
}

/* ---- reading ------------------------------------------------------------- */

static void test_a_document_is_loaded_with_its_root(void **st)
{
        static const char text[] = "a: 1\nb: [x, y]\n";
        struct rd_yaml *y = NULL;
        yaml_node_t *root, *b;
        size_t len;

        (void)st;
        assert_int_equal(rd_yaml_open_buffer(NAME, text, sizeof text - 1, &y), 0);
        assert_true(rd_yaml_loaded(y));
        root = rd_yaml_root(y);
        assert_non_null(root);
        assert_int_equal(root->type, YAML_MAPPING_NODE);
        assert_ptr_equal(rd_yaml_bytes(y, &len), text);
        assert_int_equal(len, sizeof text - 1);
        assert_string_equal(rd_yaml_name(y), NAME);
        b = rd_yaml_node(y, root->data.mapping.pairs.start[1].value);
        assert_int_equal(rd_yaml_count(b), 2);
        assert_string_equal(rd_yaml_str(rd_yaml_item(y, b, 1)), "y");
        assert_null(rd_yaml_item(y, b, 2));
        assert_int_equal(rd_yaml_pos(b).line, 2);
        assert_int_equal(rd_yaml_pos(b).column, 4);
        assert_int_equal(rd_yaml_errors(y), 0);
        assert_int_equal(rd_yaml_finish(y, NULL), 0);
        assert_int_equal(rd_yaml_finish(NULL, NULL), 0);
}

static void test_an_empty_file_or_a_null_has_no_root(void **st)
{
        static const char *const texts[] = {"", "# nothing\n", "---\n", "~\n", "null\n"};

        (void)st;
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
                struct rd_yaml *y = NULL;

                assert_int_equal(rd_yaml_open_buffer(NAME, texts[i], strlen(texts[i]), &y), 0);
                assert_true(rd_yaml_loaded(y));
                assert_null(rd_yaml_root(y));
                assert_int_equal(rd_yaml_finish(y, NULL), 0);
        }
}

static void test_a_syntax_error_is_at_libyamls_problem_mark(void **st)
{
        (void)st;
        assert_one_error("a: {b: 1\n", NULL,
                         NAME ":2:1: syntax error: did not find expected ',' or '}' while parsing "
                              "a flow mapping");
        assert_one_error("a:\n\tb: 1\n", NULL,
                         NAME ":2:1: syntax error: found character that cannot start any token "
                              "while scanning for the next token");
}

static void test_columns_count_characters_not_bytes(void **st)
{
        (void)st;
        /* libyaml's own marks: the second ':' is the 7th character, the
         * 10th byte */
        assert_one_error("\xc3\xa9\xc3\xa9\xc3\xa9: a: b\n", NULL,
                         NAME ":1:7: syntax error: mapping values are not allowed in this "
                              "context");
        /* a fault of libyaml's reader has only a byte offset: the bad byte
         * is the 5th character, the 6th byte */
        assert_one_error("ab: \xc3\xa9\xff\n", NULL,
                         NAME ":1:6: syntax error: invalid leading UTF-8 octet");
        assert_one_error("x: 1\n\xc3\xa9\xc3\xa9\xff\n", NULL,
                         NAME ":2:3: syntax error: invalid leading UTF-8 octet");
}

static void test_a_second_document_is_an_error_at_its_start(void **st)
{
        static const char text[] = "a: 1\n---\nb: 2\n";
        struct rd_yaml *y = NULL;
        struct rd_diag d = {0};

        (void)st;
        assert_int_equal(rd_yaml_open_buffer(NAME, text, sizeof text - 1, &y), 0);
        assert_true(rd_yaml_loaded(y)); /* the first is still walked */
        assert_non_null(rd_yaml_root(y));
        assert_int_equal(rd_yaml_finish(y, &d), -EINVAL);
        assert_int_equal(d.n, 1);
        assert_string_equal(d.items[0].text,
                            NAME ":2:1: a second YAML document: the file must hold one document "
                                 "only");
        rd_diag_clear(&d);
        assert_one_error("a: 1\n...\n---\n", NULL,
                         NAME ":3:1: a second YAML document: the file must hold one document "
                              "only");
}

/* N opening brackets (not closed). */
static char *brackets(size_t n)
{
        char *s = malloc(n + 1);

        assert_non_null(s);
        memset(s, '[', n);
        s[n] = '\0';
        return s;
}

static void test_nesting_up_to_64_levels_is_read(void **st)
{
        char text[2 * 64 + 2];
        struct rd_diag d = {0};

        (void)st;
        memset(text, '[', 64);
        memset(text + 64, ']', 64);
        strcpy(text + 128, "\n");
        assert_int_equal(read_buffer(text, strlen(text), NULL, &d), 0);
        assert_int_equal(d.n, 0);
}

static void test_nesting_deeper_than_64_levels_is_refused_where_it_gets_too_deep(void **st)
{
        char text[2 * 65 + 2], mixed[256];
        size_t n;

        (void)st;
        memset(text, '[', 65);
        memset(text + 65, ']', 65);
        strcpy(text + 130, "\n");
        assert_one_error(text, NULL,
                         NAME ":1:65: nested deeper than 64 levels of lists and mappings");
        /* blocks and flows count alike: 6 levels of blocks, 3 of [[{, the
         * 56th '[' after "x: " is the 65th level, in column 15 + 56 */
        n = (size_t)snprintf(mixed, sizeof mixed, "a:\n - b:\n    - c:\n       - [[{x: ");
        memset(mixed + n, '[', 60);
        mixed[n + 60] = '\0';
        assert_one_error(mixed, NULL,
                         NAME ":4:71: nested deeper than 64 levels of lists and mappings");
}

static void test_a_hundred_thousand_brackets_are_refused_by_depth(void **st)
{
        char *text = brackets(100000);

        (void)st;
        /* libyaml alone takes seconds on this (quadratic in the depth) */
        assert_one_error(text, NULL,
                         NAME ":1:65: nested deeper than 64 levels of lists and mappings");
        free(text);
}

static void test_a_buffer_over_the_size_limit_is_refused(void **st)
{
        size_t len = RD_YAML_FILE_MAX + 1;
        char *text = malloc(len);

        (void)st;
        assert_non_null(text);
        memset(text, '#', len);
        struct rd_diag d = {0};

        assert_int_equal(read_buffer(text, len, NULL, &d), -EINVAL);
        assert_int_equal(d.n, 1);
        assert_string_equal(d.items[0].text, NAME ":1:1: the file is larger than 1048576 bytes");
        rd_diag_clear(&d);
        free(text);
}

/* ---- files --------------------------------------------------------------- */

struct dir {
        char path[64];
        char file[128];
};

static int dir_setup(void **state)
{
        struct dir *f = calloc(1, sizeof *f);

        if (!f)
                return -1;
        snprintf(f->path, sizeof f->path, "/tmp/rd-test-yaml-XXXXXX");
        if (!mkdtemp(f->path)) {
                free(f);
                return -1;
        }
        snprintf(f->file, sizeof f->file, "%s/f.yaml", f->path);
        unsetenv("STATE_DIRECTORY");
        unsetenv("CREDENTIALS_DIRECTORY");
        *state = f;
        return 0;
}

static int dir_teardown(void **state)
{
        struct dir *f = *state;

        unlink(f->file);
        rmdir(f->file);
        rmdir(f->path);
        free(f);
        return 0;
}

static void write_file(const char *path, const char *text, size_t len)
{
        FILE *fp = fopen(path, "w");

        assert_non_null(fp);
        assert_int_equal(fwrite(text, 1, len, fp), len);
        assert_int_equal(fclose(fp), 0);
}

/* Read PATH with the reader alone: its rd_yaml_finish, with D filled. */
static int read_path(const char *path, struct rd_diag *d)
{
        struct rd_yaml *y = NULL;

        assert_int_equal(rd_yaml_open_file(path, &y), 0);
        return rd_yaml_finish(y, d);
}

static void test_a_file_is_read_and_named_as_given(void **st)
{
        struct dir *f = *st;
        struct rd_yaml *y = NULL;
        size_t len;

        write_file(f->file, "a: 1\n", 5);
        assert_int_equal(rd_yaml_open_file(f->file, &y), 0);
        assert_true(rd_yaml_loaded(y));
        assert_string_equal(rd_yaml_name(y), f->file);
        assert_memory_equal(rd_yaml_bytes(y, &len), "a: 1\n", 5);
        assert_int_equal(len, 5);
        assert_int_equal(rd_yaml_finish(y, NULL), 0);
}

static void assert_file_refused(const char *path, int rc, const char *message)
{
        struct rd_diag d = {0};
        char want[256];

        assert_int_equal(read_path(path, &d), rc);
        snprintf(want, sizeof want, "%s:1:1: %s", path, message);
        assert_int_equal(d.n, 1);
        assert_string_equal(d.items[0].text, want);
        rd_diag_clear(&d);
}

static void test_what_is_not_a_regular_file_is_refused_at_once(void **st)
{
        struct dir *f = *st;

        /* a FIFO without a writer: a plain open would wait for one */
        assert_int_equal(mkfifo(f->file, 0600), 0);
        assert_file_refused(f->file, -EINVAL, "not a regular file");
        unlink(f->file);
        assert_file_refused(f->path, -EINVAL, "not a regular file");
        assert_file_refused("/dev/null", -EINVAL, "not a regular file");
}

static void test_a_missing_file_cannot_be_read(void **st)
{
        struct dir *f = *st;

        assert_file_refused(f->file, -ENOENT, "cannot read: No such file or directory");
}

static void test_a_file_over_the_size_limit_is_refused(void **st)
{
        struct dir *f = *st;
        size_t len = RD_YAML_FILE_MAX + 1;
        char *text = malloc(len);

        assert_non_null(text);
        memset(text, '#', len);
        write_file(f->file, text, len);
        free(text);
        assert_file_refused(f->file, -EFBIG, "the file is larger than 1048576 bytes");
        /* at the limit it is read */
        assert_int_equal(truncate(f->file, RD_YAML_FILE_MAX), 0);
        assert_int_equal(read_path(f->file, NULL), 0);
}

/* ---- walking ------------------------------------------------------------- */

static const char *const keys[] = {"name", "window", "teams"};

static void walk_fields(struct rd_yaml *y)
{
        yaml_node_t *v[3], *k[3];

        rd_yaml_fields(y, rd_yaml_root(y), "the file", keys, 3, k, v);
}

static void test_unknown_keys_get_a_near_one_or_the_known_keys(void **st)
{
        (void)st;
        assert_one_error("name: a\nwindw: 1d\n", walk_fields,
                         NAME ":2:1: unknown key 'windw'; did you mean 'window'?");
        assert_one_error("teasm: [a]\n", walk_fields,
                         NAME ":1:1: unknown key 'teasm'; did you mean 'teams'?");
        assert_one_error("colour: red\n", walk_fields,
                         NAME ":1:1: unknown key 'colour'; the known keys are name, window, teams");
}

static void test_a_repeated_key_is_an_error_and_the_first_is_kept(void **st)
{
        static const char text[] = "name: a\nteams: x\nname: b\nname: c\n";
        struct rd_yaml *y = NULL;
        struct rd_diag d = {0};
        yaml_node_t *v[3], *k[3];

        (void)st;
        assert_int_equal(rd_yaml_open_buffer(NAME, text, sizeof text - 1, &y), 0);
        assert_true(rd_yaml_fields(y, rd_yaml_root(y), "the file", keys, 3, k, v));
        assert_string_equal(rd_yaml_str(v[0]), "a");
        assert_int_equal(rd_yaml_pos(k[0]).line, 1);
        assert_null(v[1]);
        assert_string_equal(rd_yaml_str(v[2]), "x");
        assert_int_equal(rd_yaml_finish(y, &d), -EINVAL);
        print_diag(&d);
        assert_int_equal(d.n, 2);
        assert_string_equal(d.items[0].text, NAME ":3:1: duplicate key 'name' (first at line 1)");
        assert_string_equal(d.items[1].text, NAME ":4:1: duplicate key 'name' (first at line 1)");
        rd_diag_clear(&d);
}

static void test_pairs_of_any_mapping_refuse_repeats(void **st)
{
        static const char text[] = "{b: 1, a: 2, b: 3, c: 4, a: 5, [x]: 6}\n";
        struct rd_yaml *y = NULL;
        struct rd_diag d = {0};
        struct rd_yaml_pair *p;
        size_t n;

        (void)st;
        assert_int_equal(rd_yaml_open_buffer(NAME, text, sizeof text - 1, &y), 0);
        p = rd_yaml_pairs(y, rd_yaml_root(y), &n);
        assert_int_equal(n, 3);
        assert_string_equal(p[0].key, "b");
        assert_string_equal(rd_yaml_str(p[0].v), "1");
        assert_string_equal(p[1].key, "a");
        assert_string_equal(p[2].key, "c");
        free(p);
        assert_int_equal(rd_yaml_finish(y, &d), -EINVAL);
        print_diag(&d);
        assert_int_equal(d.n, 3);
        assert_string_equal(d.items[0].text, NAME ":1:14: duplicate key 'b' (first at line 1)");
        assert_string_equal(d.items[1].text, NAME ":1:26: duplicate key 'a' (first at line 1)");
        assert_string_equal(d.items[2].text,
                            NAME ":1:32: a key must be a single value, not a list");
        rd_diag_clear(&d);
}

static void test_a_mapping_of_many_keys_is_checked_quickly(void **st)
{
        /* 100,000 distinct keys and one repeat: sorted, not compared in
         * pairs (that would be 5e9 comparisons) */
        size_t n = 100000, len = 0;
        char *text = malloc(n * 12 + 32);
        struct rd_yaml *y = NULL;
        struct rd_diag d = {0};
        struct rd_yaml_pair *p;
        size_t np;

        (void)st;
        assert_non_null(text);
        for (size_t i = 0; i < n; i++)
                len += (size_t)sprintf(text + len, "k%zu: 1\n", i);
        len += (size_t)sprintf(text + len, "k7: 2\n");
        assert_int_equal(rd_yaml_open_buffer(NAME, text, len, &y), 0);
        p = rd_yaml_pairs(y, rd_yaml_root(y), &np);
        assert_int_equal(np, n);
        free(p);
        assert_int_equal(rd_yaml_finish(y, &d), -EINVAL);
        assert_int_equal(d.n, 1);
        assert_string_equal(d.items[0].text,
                            NAME ":100001:1: duplicate key 'k7' (first at line 8)");
        rd_diag_clear(&d);
        free(text);
}

static void walk_not_a_mapping(struct rd_yaml *y)
{
        yaml_node_t *v[3];

        assert_false(rd_yaml_fields(y, rd_yaml_root(y), "the file", keys, 3, NULL, v));
        assert_null(v[0]);
}

static void test_a_mapping_of_the_wrong_type_names_its_keys(void **st)
{
        (void)st;
        assert_one_error("- a\n", walk_not_a_mapping,
                         NAME ":1:1: the file: expected a mapping (name, window, teams), not a "
                              "list");
}

static void walk_texts(struct rd_yaml *y)
{
        yaml_node_t *root = rd_yaml_root(y);

        for (size_t i = 0; i < rd_yaml_count(root); i++) {
                yaml_node_t *x = rd_yaml_item(y, root, i);
                const char *s = rd_yaml_text(y, x, "item");

                if (i == 0)
                        assert_string_equal(s, "fine");
                else
                        assert_null(s);
        }
}

static void test_a_text_must_be_one_non_empty_value_without_nul(void **st)
{
        static const char text[] = "- fine\n- [a]\n- {a: 1}\n- ~\n- \"\"\n- \"a\\0b\"\n-\n";
        static const char *const want[] = {
                NAME ":2:3: item: expected a single value, not a list",
                NAME ":3:3: item: expected a single value, not a mapping",
                NAME ":4:3: item: expected a value, not an empty value",
                NAME ":5:3: item: expected a value, not an empty value",
                NAME ":6:3: item: a NUL character is not allowed",
                NAME ":7:2: item: expected a value, not an empty value",
        };
        struct rd_diag d = {0};

        (void)st;
        assert_int_equal(read_buffer(text, sizeof text - 1, walk_texts, &d), -EINVAL);
        print_diag(&d);
        assert_int_equal(d.n, sizeof want / sizeof want[0]);
        for (size_t i = 0; i < d.n; i++)
                assert_string_equal(d.items[i].text, want[i]);
        rd_diag_clear(&d);
}

static const char *const picks[] = {"least_loaded", "round_robin", "random_pick"};

static void walk_enums(struct rd_yaml *y)
{
        yaml_node_t *root = rd_yaml_root(y);
        int e = -1;

        assert_true(rd_yaml_enum(y, rd_yaml_item(y, root, 0), "pick", picks, 3, &e));
        assert_int_equal(e, 1);
        for (size_t i = 1; i < rd_yaml_count(root); i++)
                assert_false(rd_yaml_enum(y, rd_yaml_item(y, root, i), "pick", picks, 3, &e));
        assert_int_equal(e, 1);
}

static void test_one_of_a_few_words_suggests_or_lists_them(void **st)
{
        static const char text[] = "[round_robin, round_robni, first, [a], ~]\n";
        static const char *const want[] = {
                NAME ":1:15: pick: unknown value 'round_robni'; did you mean 'round_robin'?",
                NAME ":1:28: pick: unknown value 'first': use 'least_loaded', 'round_robin' or "
                     "'random_pick'",
                NAME ":1:35: pick: expected 'least_loaded', 'round_robin' or 'random_pick', not a "
                     "list",
                NAME ":1:40: pick: expected 'least_loaded', 'round_robin' or 'random_pick', not "
                     "an empty value",
        };
        struct rd_diag d = {0};

        (void)st;
        assert_int_equal(read_buffer(text, sizeof text - 1, walk_enums, &d), -EINVAL);
        print_diag(&d);
        assert_int_equal(d.n, sizeof want / sizeof want[0]);
        for (size_t i = 0; i < d.n; i++)
                assert_string_equal(d.items[i].text, want[i]);
        rd_diag_clear(&d);
}

static void walk_durations(struct rd_yaml *y)
{
        yaml_node_t *root = rd_yaml_root(y);
        int64_t s = 0;

        assert_true(rd_yaml_duration(y, rd_yaml_item(y, root, 0), "window", &s));
        assert_int_equal(s, 36 * 3600);
        assert_false(rd_yaml_duration(y, rd_yaml_item(y, root, 1), "window", &s));
        assert_false(rd_yaml_duration(y, rd_yaml_item(y, root, 2), "window", &s));
        assert_int_equal(s, 36 * 3600);
}

static void test_a_duration_is_read_as_routing_md_writes_it(void **st)
{
        static const char text[] = "[36h, 4w, [1d]]\n";
        struct rd_diag d = {0};

        (void)st;
        assert_int_equal(read_buffer(text, sizeof text - 1, walk_durations, &d), -EINVAL);
        print_diag(&d);
        assert_int_equal(d.n, 2);
        assert_string_equal(d.items[0].text,
                            NAME ":1:7: window: bad duration '4w': use a whole number above 0 and "
                                 "a unit s, m, h or d, like 30d");
        assert_string_equal(d.items[1].text,
                            NAME ":1:11: window: bad duration: use a whole number above 0 and a "
                                 "unit s, m, h or d, like 30d");
        rd_diag_clear(&d);
}

static void walk_report_backwards(struct rd_yaml *y)
{
        rd_yaml_report(y, RD_DIAG_WARNING, (struct rd_yaml_pos){3, 2}, "third");
        rd_yaml_report(y, RD_DIAG_ERROR, (struct rd_yaml_pos){1, 5}, "second");
        rd_yaml_report(y, RD_DIAG_ERROR, (struct rd_yaml_pos){1, 1}, "first");
        rd_yaml_report(y, RD_DIAG_ERROR, (struct rd_yaml_pos){1, 5}, "second, reported later");
        assert_int_equal(rd_yaml_errors(y), 3);
}

static void test_messages_are_handed_over_in_file_order(void **st)
{
        struct rd_diag d = {0};

        (void)st;
        assert_int_equal(read_buffer("a: 1\n", 5, walk_report_backwards, &d), -EINVAL);
        assert_int_equal(d.n, 4);
        assert_int_equal(d.n_errors, 3);
        assert_string_equal(d.items[0].text, NAME ":1:1: first");
        assert_string_equal(d.items[1].text, NAME ":1:5: second");
        assert_string_equal(d.items[2].text, NAME ":1:5: second, reported later");
        assert_string_equal(d.items[3].text, NAME ":3:2: warning: third");
        rd_diag_clear(&d);
}

static void walk_nomem(struct rd_yaml *y)
{
        rd_yaml_nomem(y);
}

static void test_a_loader_out_of_memory_fails_the_load(void **st)
{
        (void)st;
        assert_int_equal(read_buffer("a: 1\n", 5, walk_nomem, NULL), -ENOMEM);
}

static void test_did_you_mean_is_within_two_edits(void **st)
{
        static const char *const words[] = {"window", "accept_within", "at_risk"};
        struct rd_suggest s = {NULL, 0};

        (void)st;
        assert_string_equal(rd_suggest("windw", words, 3), "window");   /* delete */
        assert_string_equal(rd_suggest("windoow", words, 3), "window"); /* insert */
        assert_string_equal(rd_suggest("wimdow", words, 3), "window");  /* replace */
        assert_string_equal(rd_suggest("wnidow", words, 3), "window");  /* swap */
        assert_string_equal(rd_suggest("at_rsik", words, 3), "at_risk");
        assert_string_equal(rd_suggest("wndw", words, 3), "window"); /* two */
        assert_null(rd_suggest("wnd", words, 3));                    /* three */
        assert_null(rd_suggest("window", words, 3));                 /* itself is no suggestion */
        assert_null(rd_suggest("colour", words, 3));
        rd_suggest_try(&s, "tems", "teams");
        rd_suggest_try(&s, "tems", "terms");
        rd_suggest_try(&s, "tems", NULL);
        rd_suggest_try(&s, "tems", "");
        assert_string_equal(s.best, "teams");
        assert_int_equal(s.dist, 1);
}

/* ---- the three loaders --------------------------------------------------- */

/* A routing file for the cases loader to look connectors up in. */
static const char routing[] =
        "version: 1\n"
        "teams:\n"
        "  - id: genk\n"
        "    connectors: [{id: kelly, capacity: 2, skills: [family_support]}]\n"
        "rules:\n"
        "  - name: all\n"
        "    assign: {teams: [genk]}\n";

enum loader { CONFIG, RULES, CASES, LOADERS };
static const char *const loader_names[] = {"rd_config_load", "rd_rules_load_file",
                                           "rd_cases_load_file"};

/* Load PATH with loader L; its return value, with D filled. */
static int load_with(enum loader l, const char *path, struct rd_diag *d)
{
        struct rd_config *cfg = NULL;
        struct rd_rules *rules = NULL, *base = NULL;
        struct rd_cases *cases = NULL;
        int rc = -1;

        switch (l) {
        case CONFIG:
                rc = rd_config_load(path, &cfg, d);
                rd_config_free(cfg);
                break;
        case RULES:
                rc = rd_rules_load_file(path, &rules, d);
                rd_rules_free(rules);
                break;
        case CASES:
                assert_int_equal(
                        rd_rules_load_buffer("r.yaml", routing, sizeof routing - 1, &base, NULL),
                        0);
                rc = rd_cases_load_file(path, base, &cases, d);
                rd_cases_free(cases);
                rd_rules_free(base);
                break;
        case LOADERS: break;
        }
        return rc;
}

/* Does D hold the error PATH:WANT? */
static bool has_error(const struct rd_diag *d, const char *path, const char *want)
{
        size_t n = strlen(path);

        for (size_t i = 0; i < d->n; i++)
                if (d->items[i].severity == RD_DIAG_ERROR && !strncmp(d->items[i].text, path, n) &&
                    d->items[i].text[n] == ':' && !strcmp(d->items[i].text + n + 1, want))
                        return true;
        return false;
}

struct fault {
        const char *name;
        const char *text[LOADERS]; /* the file for each loader; NULL: text[0] */
        const char *want;          /* "LINE:COLUMN: message" in every loader */
        const char *tail[LOADERS]; /* after WANT, the loader's own words, or NULL */
        bool alone;                /* the only error: the loader never walks the file */
};

static const struct fault faults[] = {
        {"a syntax error",
         {"x: {a: 1\n"},
         "2:1: syntax error: did not find expected ',' or '}' while parsing a flow mapping",
         {NULL},
         true},
        {"a syntax error after characters of two bytes",
         {"\xc3\xa9\xc3\xa9\xc3\xa9: a: b\n"},
         "1:7: syntax error: mapping values are not allowed in this context",
         {NULL},
         true},
        {"a byte that is not UTF-8",
         {"ab: \xc3\xa9\xff\n"},
         "1:6: syntax error: invalid leading UTF-8 octet",
         {NULL},
         true},
        {"a tab used for indentation",
         {"x:\n\t- a\n"},
         "2:1: syntax error: found character that cannot start any token while scanning for the "
         "next token",
         {NULL},
         true},
        {"a duplicate key",
         {"security:\n  qqqq: 1\n  qqqq: 2\n", "defaults:\n  qqqq: 1\n  qqqq: 2\n",
          "- name: a\n  qqqq: 1\n  qqqq: 2\n"},
         "3:3: duplicate key 'qqqq' (first at line 2)",
         {NULL},
         false},
        {"an unknown key with no near match",
         {"security:\n  qqqq: 1\n", "defaults:\n  qqqq: 1\n", "- name: a\n  qqqq: 1\n"},
         "2:3: unknown key 'qqqq'; the known keys are ",
         {"secret_key_file, clients", "window, accept_within, at_risk, trajectory",
          "name, referral, expect, at, loads, declined"},
         false},
        {"a key that is not a single value",
         {"security:\n  [a]: 1\n", "defaults:\n  [a]: 1\n", "- name: a\n  [a]: 1\n"},
         "2:3: a key must be a single value, not a list",
         {NULL},
         false},
        {"a second document",
         {"---\nx: 1\n---\nx: 2\n"},
         "3:1: a second YAML document: the file must hold one document only",
         {NULL},
         false},
};

/* Write FAULT's file for loader L to PATH. */
static void write_fault(const struct fault *ft, enum loader l, const char *path)
{
        const char *text = ft->text[l] ? ft->text[l] : ft->text[0];

        write_file(path, text, strlen(text));
}

static void test_the_same_fault_reads_the_same_in_every_loader(void **st)
{
        struct dir *f = *st;
        size_t failed = 0;

        for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
                const struct fault *ft = &faults[i];

                for (enum loader l = 0; l < LOADERS; l++) {
                        struct rd_diag d = {0};
                        char want[512];
                        int rc;

                        write_fault(ft, l, f->file);
                        snprintf(want, sizeof want, "%s%s", ft->want,
                                 ft->tail[l] ? ft->tail[l] : "");
                        rc = load_with(l, f->file, &d);
                        if (rc != -EINVAL || !has_error(&d, f->file, want) ||
                            (ft->alone && d.n_errors != 1)) {
                                print_message("%s, %s (rc %d): want %s:%s\n", ft->name,
                                              loader_names[l], rc, f->file, want);
                                print_diag(&d);
                                failed++;
                        }
                        rd_diag_clear(&d);
                }
        }
        assert_int_equal(failed, 0);
}

static void test_every_loader_refuses_deep_nesting_quickly_and_alike(void **st)
{
        struct dir *f = *st;
        char *text = brackets(100000);

        write_file(f->file, text, 100000);
        free(text);
        for (enum loader l = 0; l < LOADERS; l++) {
                struct rd_diag d = {0};

                print_message("%s\n", loader_names[l]);
                assert_int_equal(load_with(l, f->file, &d), -EINVAL);
                print_diag(&d);
                assert_int_equal(d.n, 1);
                assert_true(has_error(&d, f->file,
                                      "1:65: nested deeper than 64 levels of lists and mappings"));
                rd_diag_clear(&d);
        }
}

static void test_every_loader_refuses_a_fifo_at_once(void **st)
{
        struct dir *f = *st;

        assert_int_equal(mkfifo(f->file, 0600), 0);
        for (enum loader l = 0; l < LOADERS; l++) {
                struct rd_diag d = {0};

                print_message("%s\n", loader_names[l]);
                assert_int_equal(load_with(l, f->file, &d), -EINVAL);
                print_diag(&d);
                assert_int_equal(d.n, 1);
                assert_true(has_error(&d, f->file, "1:1: not a regular file"));
                rd_diag_clear(&d);
        }
}

static void test_every_loader_refuses_a_file_over_the_size_limit(void **st)
{
        struct dir *f = *st;
        size_t len = RD_YAML_FILE_MAX + 1;
        char *text = malloc(len);

        assert_non_null(text);
        memset(text, '#', len);
        write_file(f->file, text, len);
        free(text);
        for (enum loader l = 0; l < LOADERS; l++) {
                struct rd_diag d = {0};

                print_message("%s\n", loader_names[l]);
                assert_int_equal(load_with(l, f->file, &d), -EFBIG);
                assert_int_equal(d.n, 1);
                assert_true(has_error(&d, f->file, "1:1: the file is larger than 1048576 bytes"));
                rd_diag_clear(&d);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_diag_add_formats_position_and_warning),
                cmocka_unit_test(test_diag_of_the_whole_file_is_at_its_start_and_one_line),
                cmocka_unit_test(test_a_document_is_loaded_with_its_root),
                cmocka_unit_test(test_an_empty_file_or_a_null_has_no_root),
                cmocka_unit_test(test_a_syntax_error_is_at_libyamls_problem_mark),
                cmocka_unit_test(test_columns_count_characters_not_bytes),
                cmocka_unit_test(test_a_second_document_is_an_error_at_its_start),
                cmocka_unit_test(test_nesting_up_to_64_levels_is_read),
                cmocka_unit_test(
                        test_nesting_deeper_than_64_levels_is_refused_where_it_gets_too_deep),
                cmocka_unit_test(test_a_hundred_thousand_brackets_are_refused_by_depth),
                cmocka_unit_test(test_a_buffer_over_the_size_limit_is_refused),
                cmocka_unit_test_setup_teardown(test_a_file_is_read_and_named_as_given, dir_setup,
                                                dir_teardown),
                cmocka_unit_test_setup_teardown(test_what_is_not_a_regular_file_is_refused_at_once,
                                                dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_a_missing_file_cannot_be_read, dir_setup,
                                                dir_teardown),
                cmocka_unit_test_setup_teardown(test_a_file_over_the_size_limit_is_refused,
                                                dir_setup, dir_teardown),
                cmocka_unit_test(test_unknown_keys_get_a_near_one_or_the_known_keys),
                cmocka_unit_test(test_a_repeated_key_is_an_error_and_the_first_is_kept),
                cmocka_unit_test(test_pairs_of_any_mapping_refuse_repeats),
                cmocka_unit_test(test_a_mapping_of_many_keys_is_checked_quickly),
                cmocka_unit_test(test_a_mapping_of_the_wrong_type_names_its_keys),
                cmocka_unit_test(test_a_text_must_be_one_non_empty_value_without_nul),
                cmocka_unit_test(test_one_of_a_few_words_suggests_or_lists_them),
                cmocka_unit_test(test_a_duration_is_read_as_routing_md_writes_it),
                cmocka_unit_test(test_messages_are_handed_over_in_file_order),
                cmocka_unit_test(test_a_loader_out_of_memory_fails_the_load),
                cmocka_unit_test(test_did_you_mean_is_within_two_edits),
                cmocka_unit_test_setup_teardown(test_the_same_fault_reads_the_same_in_every_loader,
                                                dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(
                        test_every_loader_refuses_deep_nesting_quickly_and_alike, dir_setup,
                        dir_teardown),
                cmocka_unit_test_setup_teardown(test_every_loader_refuses_a_fifo_at_once, dir_setup,
                                                dir_teardown),
                cmocka_unit_test_setup_teardown(
                        test_every_loader_refuses_a_file_over_the_size_limit, dir_setup,
                        dir_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
