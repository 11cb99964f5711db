/* test_referral.c: lib/referral against protocol.md ("Requests and
 * replies", "submit").
 *
 * The submit table is tested table-driven: one valid referral as the base
 * and a table of mutations (set a path to a value, or delete it), each with
 * the expected code and field. Every failing case also proves that the
 * message quotes no personal value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "old_decoder.h"
#include "referral.h"
#include "request.h"

static const char base_json[] =
        "{\"ref\": \"OCMW-GENK-2026-0042\", \"partner\": \"ocmw-genk\", "
        "\"kind\": \"family_support\", \"postcode\": \"3600\", "
        "\"children\": [{\"age\": 14}, {\"age\": 9}], "
        "\"concerns\": [\"teen_conflict\", \"parental_conflict\"], "
        "\"language\": \"nl\", \"urgency\": \"normal\", \"consent\": true, "
        "\"family\": {\"name\": \"Janssens\", \"phone\": \"+32470123456\", "
        "\"email\": \"an.janssens@example.be\", \"address\": \"Kerkstraat 1, Genk\"}, "
        "\"note\": \"Moeder belt na 17u\"}";

/* Personal values of the base: no message may ever contain them. */
static const char *const personal[] = {"Janssens", "+32470123456", "an.janssens", "Kerkstraat",
                                       "Moeder belt"};

static json_t *load(const char *text)
{
        json_error_t e;
        json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
        assert_non_null(j);
        return j;
}

/* A JSON string of UNIT repeated N times. */
static json_t *repeat_string(const char *unit, size_t n)
{
        size_t u = strlen(unit);
        char *s = malloc(u * n + 1);
        json_t *j;
        assert_non_null(s);
        for (size_t i = 0; i < n; i++)
                memcpy(s + i * u, unit, u);
        s[u * n] = '\0';
        j = json_string(s);
        free(s);
        assert_non_null(j);
        return j;
}

/* A value from a table entry:
 *   "@str:N:UNIT"  a string of UNIT repeated N times
 *   "@arr:N:JSON"  an array of N copies of JSON
 *   "@tags:N"      an array of N distinct valid tags
 *   anything else  JSON text */
static json_t *make_value(const char *spec)
{
        size_t n;
        int used = 0;

        if (sscanf(spec, "@str:%zu:%n", &n, &used) == 1 && used > 0)
                return repeat_string(spec + used, n);
        if (sscanf(spec, "@arr:%zu:%n", &n, &used) == 1 && used > 0) {
                json_t *a = json_array(), *item = load(spec + used);
                for (size_t i = 0; i < n; i++)
                        json_array_append(a, item);
                json_decref(item);
                return a;
        }
        if (sscanf(spec, "@tags:%zu", &n) == 1) {
                json_t *a = json_array();
                for (size_t i = 0; i < n; i++) {
                        char tag[32];
                        snprintf(tag, sizeof tag, "tag_%zu", i);
                        json_array_append_new(a, json_string(tag));
                }
                return a;
        }
        return load(spec);
}

/* Set (VALUE non-NULL) or delete the member at PATH ("a.b", "a[1].b") of
 * ROOT. */
static void mutate(json_t *root, const char *path, const char *value)
{
        char buf[256], *p = buf;
        json_t *cur = root;

        snprintf(buf, sizeof buf, "%s", path);
        for (;;) {
                char *dot = strpbrk(p, ".[");
                char key[128];
                size_t klen = dot ? (size_t)(dot - p) : strlen(p);

                memcpy(key, p, klen);
                key[klen] = '\0';
                if (!dot) {
                        if (value)
                                json_object_set_new(cur, key, make_value(value));
                        else
                                json_object_del(cur, key);
                        return;
                }
                if (klen > 0)
                        cur = json_object_get(cur, key);
                if (*dot == '[') {
                        char *end;
                        size_t idx = strtoul(dot + 1, &end, 10);
                        assert_true(*end == ']');
                        if (end[1] == '\0') {
                                if (value)
                                        json_array_set_new(cur, idx, make_value(value));
                                else
                                        json_array_remove(cur, idx);
                                return;
                        }
                        cur = json_array_get(cur, idx);
                        p = end + 2; /* skip "]." */
                } else {
                        p = dot + 1;
                }
                assert_non_null(cur);
        }
}

static void assert_no_personal(const struct rd_error *err, const char *also)
{
        for (size_t i = 0; i < sizeof personal / sizeof personal[0]; i++) {
                if (strstr(err->message, personal[i]) || strstr(err->field, personal[i]))
                        fail_msg("error text quotes personal value '%s': %s", personal[i],
                                 err->message);
        }
        /* "true" is part of the consent rule itself */
        if (also && strlen(also) >= 4 && strcmp(also, "true") != 0 && strstr(err->message, also))
                fail_msg("message quotes the input value '%s': %s", also, err->message);
}

struct mutation_case {
        const char *name;  /* what it proves */
        const char *path;  /* below "referral", NULL for the base as is */
        const char *value; /* JSON text or @-spec, NULL to delete */
        enum rd_code code;
        const char *field; /* expected field when code != RD_OK */
        bool add_unknown;  /* also add an unknown key "zzz" */
};

#define OK_CASE(n, p, v)                                                                           \
        {                                                                                          \
                n, p, v, RD_OK, "", false                                                          \
        }
#define BAD(n, p, v, f)                                                                            \
        {                                                                                          \
                n, p, v, RD_INVALID, f, false                                                      \
        }

static const struct mutation_case cases[] = {
        OK_CASE("base referral is valid", NULL, NULL),
        /* unknown keys */
        BAD("unknown key is invalid", "foo", "1", "referral.foo"),
        BAD("unknown key holding personal data is invalid", "birthdate", "\"2012-01-01\"",
            "referral.birthdate"),
        {"unknown key is reported before a missing ref", "ref", NULL, RD_INVALID, "referral.zzz",
         true},
        /* ref */
        BAD("ref missing", "ref", NULL, "referral.ref"),
        BAD("ref a number", "ref", "42", "referral.ref"),
        BAD("ref empty", "ref", "\"\"", "referral.ref"),
        OK_CASE("ref of 1 character", "ref", "\"x\""),
        OK_CASE("ref of 128 characters", "ref", "@str:128:A"),
        BAD("ref of 129 characters", "ref", "@str:129:A", "referral.ref"),
        BAD("ref with a space", "ref", "\"OCMW 0042\"", "referral.ref"),
        BAD("ref with non-ASCII", "ref", "\"OCMW-\xc3\xa9\"", "referral.ref"),
        OK_CASE("ref with edge printable characters", "ref", "\"!~\""),
        BAD("ref null", "ref", "null", "referral.ref"),
        /* partner */
        OK_CASE("partner absent", "partner", NULL),
        BAD("partner a number", "partner", "7", "referral.partner"),
        BAD("partner with uppercase", "partner", "\"OCMW-Genk\"", "referral.partner"),
        BAD("partner starting with dash", "partner", "\"-ocmw\"", "referral.partner"),
        BAD("partner empty", "partner", "\"\"", "referral.partner"),
        OK_CASE("partner of 64 characters", "partner", "@str:64:a"),
        BAD("partner of 65 characters", "partner", "@str:65:a", "referral.partner"),
        /* kind */
        BAD("kind missing", "kind", NULL, "referral.kind"),
        BAD("kind unknown", "kind", "\"familysupport\"", "referral.kind"),
        BAD("kind a number", "kind", "1", "referral.kind"),
        OK_CASE("kind first_line_psychology", "kind", "\"first_line_psychology\""),
        /* postcode */
        BAD("postcode missing", "postcode", NULL, "referral.postcode"),
        BAD("postcode a number", "postcode", "3600", "referral.postcode"),
        BAD("postcode with a letter", "postcode", "\"12a4\"", "referral.postcode"),
        BAD("postcode below 1000", "postcode", "\"0999\"", "referral.postcode"),
        BAD("postcode of 5 digits", "postcode", "\"36000\"", "referral.postcode"),
        BAD("postcode of 3 digits", "postcode", "\"360\"", "referral.postcode"),
        OK_CASE("postcode 1000", "postcode", "\"1000\""),
        OK_CASE("postcode 9999", "postcode", "\"9999\""),
        /* children */
        BAD("children missing", "children", NULL, "referral.children"),
        BAD("children not a list", "children", "{\"age\": 3}", "referral.children"),
        BAD("children empty", "children", "[]", "referral.children"),
        OK_CASE("20 children", "children", "@arr:20:{\"age\": 3}"),
        BAD("21 children", "children", "@arr:21:{\"age\": 3}", "referral.children"),
        BAD("child not an object", "children[0]", "14", "referral.children[0]"),
        BAD("child without age", "children[0]", "{}", "referral.children[0].age"),
        BAD("child with another key", "children[1]", "{\"age\": 3, \"name\": \"Janssens\"}",
            "referral.children[1].name"),
        OK_CASE("age 0", "children[0].age", "0"),
        OK_CASE("age 25", "children[0].age", "25"),
        BAD("age 26", "children[0].age", "26", "referral.children[0].age"),
        BAD("age -1", "children[1].age", "-1", "referral.children[1].age"),
        BAD("age 14.0 is not an integer", "children[0].age", "14.0", "referral.children[0].age"),
        BAD("age as a string", "children[0].age", "\"14\"", "referral.children[0].age"),
        BAD("age huge", "children[0].age", "9223372036854775807", "referral.children[0].age"),
        BAD("age null", "children[0].age", "null", "referral.children[0].age"),
        /* concerns */
        OK_CASE("concerns absent", "concerns", NULL),
        OK_CASE("concerns empty", "concerns", "[]"),
        OK_CASE("16 concerns", "concerns", "@tags:16"),
        BAD("17 concerns", "concerns", "@tags:17", "referral.concerns"),
        BAD("concerns not a list", "concerns", "\"teen_conflict\"", "referral.concerns"),
        BAD("concern with uppercase", "concerns[1]", "\"Teen_Conflict\"", "referral.concerns[1]"),
        BAD("concern empty", "concerns[0]", "\"\"", "referral.concerns[0]"),
        BAD("concern a number", "concerns[0]", "3", "referral.concerns[0]"),
        OK_CASE("concern of 64 characters", "concerns[0]", "@str:64:x"),
        BAD("concern of 65 characters", "concerns[0]", "@str:65:x", "referral.concerns[0]"),
        OK_CASE("duplicate concerns are allowed", "concerns", "[\"a\", \"a\"]"),
        /* language */
        OK_CASE("language absent", "language", NULL),
        OK_CASE("language of 3 letters", "language", "\"nld\""),
        BAD("language of 1 letter", "language", "\"n\"", "referral.language"),
        BAD("language of 4 letters", "language", "\"nlbe\"", "referral.language"),
        BAD("language uppercase", "language", "\"NL\"", "referral.language"),
        BAD("language region tag", "language", "\"nl-BE\"", "referral.language"),
        BAD("language a number", "language", "31", "referral.language"),
        /* urgency */
        OK_CASE("urgency absent", "urgency", NULL),
        OK_CASE("urgency high", "urgency", "\"high\""),
        OK_CASE("urgency crisis", "urgency", "\"crisis\""),
        BAD("urgency unknown", "urgency", "\"urgent\"", "referral.urgency"),
        BAD("urgency null", "urgency", "null", "referral.urgency"),
        /* consent */
        BAD("consent missing", "consent", NULL, "referral.consent"),
        BAD("consent false", "consent", "false", "referral.consent"),
        BAD("consent as a string", "consent", "\"agreed\"", "referral.consent"),
        BAD("consent as the string true", "consent", "\"true\"", "referral.consent"),
        BAD("consent as 1", "consent", "1", "referral.consent"),
        /* family */
        OK_CASE("family absent", "family", NULL),
        OK_CASE("family empty", "family", "{}"),
        OK_CASE("family with only a phone", "family", "{\"phone\": \"011 22 33 44\"}"),
        BAD("family not an object", "family", "\"Janssens\"", "referral.family"),
        BAD("family with an unknown key", "family.birthdate", "\"2012-01-01\"",
            "referral.family.birthdate"),
        BAD("family phone a number", "family.phone", "32470123456", "referral.family.phone"),
        OK_CASE("family name of 256 multibyte characters", "family.name", "@str:256:\xc3\xa9"),
        OK_CASE("family name of 256 ASCII characters", "family.name", "@str:256:a"),
        BAD("family name of 257 characters", "family.name", "@str:257:\xc3\xa9",
            "referral.family.name"),
        OK_CASE("family address of 256 4-byte characters", "family.address",
                "@str:256:\xf0\x9f\x98\x80"),
        BAD("family email of 257 characters", "family.email", "@str:257:e",
            "referral.family.email"),
        /* note */
        OK_CASE("note absent", "note", NULL),
        OK_CASE("note empty", "note", "\"\""),
        OK_CASE("note of 2000 multibyte characters", "note", "@str:2000:\xe2\x82\xac"),
        BAD("note of 2001 characters", "note", "@str:2001:\xe2\x82\xac", "referral.note"),
        OK_CASE("note of 2000 ASCII characters", "note", "@str:2000:a"),
        BAD("note of 2001 ASCII characters", "note", "@str:2001:a", "referral.note"),
        BAD("note a number", "note", "3", "referral.note"),
        BAD("note an object", "note", "{\"text\": \"Moeder belt\"}", "referral.note"),
};

static void test_submit_table(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                const struct mutation_case *c = &cases[i];
                json_t *root = load(base_json);
                struct rd_referral r;
                struct rd_error err;
                int rc;

                rd_error_clear(&err);
                if (c->add_unknown)
                        mutate(root, "zzz", "1");
                if (c->path)
                        mutate(root, c->path, c->value);
                memset(&r, 0xAB, sizeof r);
                rc = rd_referral_from_json(root, &r, &err);
                if (c->code == RD_OK) {
                        if (rc != 0)
                                fail_msg("case '%s': expected ok, got %s at %s: %s", c->name,
                                         rd_code_name(err.code), err.field, err.message);
                        rd_referral_clear(&r);
                } else {
                        const char *expect_field = c->field;
                        if (rc == 0)
                                fail_msg("case '%s': expected %s at %s, got ok", c->name,
                                         rd_code_name(c->code), expect_field);
                        if (rc != -EINVAL || err.code != c->code ||
                            strcmp(err.field, expect_field) != 0)
                                fail_msg("case '%s': expected %s at %s, got %s (%d) at %s: %s",
                                         c->name, rd_code_name(c->code), expect_field,
                                         rd_code_name(err.code), rc, err.field, err.message);
                        if (err.message[0] == '\0')
                                fail_msg("case '%s': empty message", c->name);
                        /* out is zeroed on failure */
                        struct rd_referral zero;
                        memset(&zero, 0, sizeof zero);
                        if (memcmp(&r, &zero, sizeof r) != 0)
                                fail_msg("case '%s': out not zeroed on failure", c->name);
                        /* the message never quotes the value sent */
                        json_t *v = c->value && c->value[0] != '@' ? load(c->value) : NULL;
                        assert_no_personal(&err, json_is_string(v) ? json_string_value(v) : NULL);
                        json_decref(v);
                }
                json_decref(root);
        }
}

static void test_referral_not_an_object_is_invalid_field_referral(void **state)
{
        const char *inputs[] = {"[]", "\"x\"", "null", "3"};
        (void)state;
        for (size_t i = 0; i < 4; i++) {
                json_t *j = load(inputs[i]);
                struct rd_referral r;
                struct rd_error err;
                assert_int_equal(rd_referral_from_json(j, &r, &err), -EINVAL);
                assert_int_equal(err.code, RD_INVALID);
                assert_string_equal(err.field, "referral");
                json_decref(j);
        }
}

static void test_decoded_fields_match_input(void **state)
{
        json_t *root = load(base_json);
        struct rd_referral r;
        struct rd_error err;
        (void)state;

        json_object_del(root, "urgency");
        assert_int_equal(rd_referral_from_json(root, &r, &err), 0);
        assert_string_equal(r.ref, "OCMW-GENK-2026-0042");
        assert_string_equal(r.partner, "ocmw-genk");
        assert_int_equal(r.kind, RD_KIND_FAMILY_SUPPORT);
        assert_string_equal(r.postcode, "3600");
        assert_int_equal(r.n_children, 2);
        assert_int_equal(r.ages[0], 14);
        assert_int_equal(r.ages[1], 9);
        assert_int_equal(r.n_concerns, 2);
        assert_string_equal(r.concerns[1], "parental_conflict");
        assert_string_equal(r.language, "nl");
        assert_int_equal(r.urgency, RD_URGENCY_NORMAL);
        assert_string_equal(r.family[RD_FAMILY_NAME], "Janssens");
        assert_string_equal(r.family[RD_FAMILY_ADDRESS], "Kerkstraat 1, Genk");
        assert_string_equal(r.note, "Moeder belt na 17u");
        rd_referral_clear(&r);
        assert_null(r.note);
        assert_false(rd_referral_has_family(&r));
        rd_referral_clear(NULL);
        json_decref(root);
}

static void test_missing_fields_are_reported_in_table_order(void **state)
{
        /* ref, partner, kind, postcode, children, ..., consent, family, note */
        json_t *root = load("{}");
        struct rd_referral r;
        struct rd_error err;
        (void)state;

        assert_int_equal(rd_referral_from_json(root, &r, &err), -EINVAL);
        assert_string_equal(err.field, "referral.ref");
        json_object_set_new(root, "ref", json_string("x"));
        json_object_set_new(root, "partner", json_integer(1));
        rd_referral_from_json(root, &r, &err);
        assert_string_equal(err.field, "referral.partner");
        json_object_del(root, "partner");
        rd_referral_from_json(root, &r, &err);
        assert_string_equal(err.field, "referral.kind");
        json_object_set_new(root, "kind", json_string("family_support"));
        rd_referral_from_json(root, &r, &err);
        assert_string_equal(err.field, "referral.postcode");
        json_object_set_new(root, "postcode", json_string("3600"));
        rd_referral_from_json(root, &r, &err);
        assert_string_equal(err.field, "referral.children");
        json_object_set_new(root, "children", load("[{\"age\": 1}]"));
        json_object_set_new(root, "note", json_integer(1));
        rd_referral_from_json(root, &r, &err);
        assert_string_equal(err.field, "referral.consent");
        json_object_set_new(root, "consent", json_true());
        rd_referral_from_json(root, &r, &err);
        assert_string_equal(err.field, "referral.note");
        json_object_del(root, "note");
        assert_int_equal(rd_referral_from_json(root, &r, &err), 0);
        assert_string_equal(r.partner, "");
        rd_referral_clear(&r);
        json_decref(root);
}

static void test_consent_false_message_says_family_consents(void **state)
{
        json_t *root = load(base_json);
        struct rd_referral r;
        struct rd_error err;
        (void)state;
        json_object_set_new(root, "consent", json_false());
        assert_int_equal(rd_referral_from_json(root, &r, &err), -EINVAL);
        assert_non_null(strstr(err.message, "together with the family"));
        assert_non_null(strstr(err.message, "true"));
        json_decref(root);
}

static void test_bad_postcode_is_not_quoted(void **state)
{
        json_t *root = load(base_json);
        struct rd_referral r;
        struct rd_error err;
        (void)state;
        json_object_set_new(root, "postcode", json_string("12a4"));
        assert_int_equal(rd_referral_from_json(root, &r, &err), -EINVAL);
        assert_null(strstr(err.message, "12a4"));
        assert_null(strstr(err.field, "12a4"));
        assert_string_equal(err.message, "referral.postcode must be a Belgian postcode: 4 "
                                         "digits from 1000 to 9999, as a string");
        json_decref(root);
}

/* ---- rd_request_decode: the frame -------------------------------------- */

static void expect_malformed(const char *buf, size_t len, const char *must_not_quote)
{
        struct rd_request out, untouched;
        struct rd_error err;
        int rc;

        rd_error_clear(&err);
        memset(&out, 0xA5, sizeof out);
        memset(&untouched, 0xA5, sizeof untouched);
        rc = rd_request_decode(buf, len, &out, &err);
        if (rc == 0)
                fail_msg("input of %zu bytes was accepted", len);
        assert_int_equal(rc, -EBADMSG);
        assert_int_equal(err.code, RD_MALFORMED);
        assert_true(err.message[0] != '\0');
        assert_memory_equal(&out, &untouched, sizeof out); /* untouched */
        if (must_not_quote)
                assert_null(strstr(err.message, must_not_quote));
}

static void expect_ok(const char *buf, size_t len)
{
        struct rd_request out;
        struct rd_error err;
        int rc = rd_request_decode(buf, len, &out, &err);
        if (rc != 0)
                fail_msg("rejected: %s", err.message);
        assert_true(json_is_object(out.top));
        rd_request_clear(&out);
}

#define S(lit) lit, sizeof(lit) - 1

static void test_parse_accepts_an_object(void **state)
{
        (void)state;
        expect_ok(S("{\"op\": \"ping\"}"));
        expect_ok(S(" {}\r\n\t "));
        expect_ok(S("{\"a\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[\"}"));
}

static void test_parse_rejects_not_json(void **state)
{
        (void)state;
        expect_malformed(S("Janssens"), "Janssens");
        expect_malformed(S("{\"Janssens\" x}"), "Janssens");
        expect_malformed(S("{'a': 1}"), NULL);
        expect_malformed(S(""), NULL);
        expect_malformed(NULL, 0, NULL);
        expect_malformed(S("{\"op\": \"ping\""), NULL);
}

static void test_parse_rejects_trailing_text(void **state)
{
        (void)state;
        expect_malformed(S("{} Janssens"), "Janssens");
        expect_malformed(S("{}{}"), NULL);
}

static void test_parse_rejects_top_level_that_is_not_an_object(void **state)
{
        (void)state;
        expect_malformed(S("[{\"op\": \"ping\"}]"), NULL);
        expect_malformed(S("\"ping\""), NULL);
        expect_malformed(S("42"), NULL);
        expect_malformed(S("null"), NULL);
}

static void test_parse_rejects_duplicate_keys(void **state)
{
        (void)state;
        expect_malformed(S("{\"op\": \"ping\", \"op\": \"stats\"}"), "stats");
        expect_malformed(S("{\"r\": {\"Janssens\": 1, \"Janssens\": 2}}"), "Janssens");
}

static void test_parse_rejects_nul_bytes_but_decodes_escaped_u0000(void **state)
{
        (void)state;
        expect_malformed(S("{\"op\": \"ping\"}\0"), NULL);
        expect_malformed(S("{\"op\": \"pi\0ng\"}"), NULL);
        /* valid JSON (RFC 8259): decoded; the fields that cannot hold it say so */
        expect_ok(S("{\"corr\": \"pi\\u0000ng\"}"));
        expect_malformed(S("{\"pi\\u0000ng\": 1}"), NULL); /* not in a key */
}

static void test_parse_rejects_invalid_utf8(void **state)
{
        (void)state;
        expect_malformed(S("{\"note\": \"Janssens \xff\"}"), "Janssens");
        expect_malformed(S("{\"note\": \"\xc0\xaf\"}"), NULL);     /* overlong */
        expect_malformed(S("{\"note\": \"\xed\xa0\x80\"}"), NULL); /* surrogate */
        expect_malformed(S("{\"note\": \"\xc3\"}"), NULL);         /* truncated */
        expect_malformed(S("{\"n\xe9\": 1}"), NULL);               /* Latin-1 key */
        expect_malformed(S("\xef\xbb\xbf{}"), NULL);               /* BOM */
}

static void test_parse_rejects_numbers_that_overflow(void **state)
{
        (void)state;
        expect_malformed(S("{\"n\": 1e400}"), NULL);
        expect_malformed(S("{\"n\": -1e400}"), NULL);
        expect_malformed(S("{\"n\": 99999999999999999999999}"), "9999999");
        expect_malformed(S("{\"n\": 9223372036854775808}"), NULL);
        expect_ok(S("{\"n\": 9223372036854775807}"));
        expect_ok(S("{\"n\": 1e300}"));
}

static void test_parse_size_limit_is_64_kib(void **state)
{
        char *buf = malloc(RD_REQUEST_MAX + 2);
        size_t n;
        (void)state;
        assert_non_null(buf);
        /* {"a":"xxx...x"} of exactly RD_REQUEST_MAX bytes */
        n = RD_REQUEST_MAX;
        memcpy(buf, "{\"a\":\"", 6);
        memset(buf + 6, 'x', n - 8);
        memcpy(buf + n - 2, "\"}", 2);
        expect_ok(buf, n);
        /* one byte more */
        memset(buf + 6, 'x', n - 7);
        memcpy(buf + n - 1, "\"}", 2);
        expect_malformed(buf, n + 1, NULL);
        free(buf);
}

/* An object at depth 1 holding DEPTH - 1 nested arrays. */
static char *nested(int depth, size_t *len)
{
        char *s = malloc((size_t)depth * 2 + 16);
        size_t n = 0;
        assert_non_null(s);
        n += (size_t)sprintf(s, "{\"a\":");
        for (int i = 1; i < depth; i++)
                s[n++] = '[';
        for (int i = 1; i < depth; i++)
                s[n++] = ']';
        s[n++] = '}';
        s[n] = '\0';
        *len = n;
        return s;
}

static void test_parse_depth_32_ok_33_malformed(void **state)
{
        size_t len;
        char *s;
        (void)state;

        s = nested(32, &len);
        expect_ok(s, len);
        free(s);
        s = nested(33, &len);
        expect_malformed(s, len, NULL);
        free(s);
        s = nested(5000, &len); /* beyond jansson's own limit: never reaches it */
        expect_malformed(s, len, NULL);
        free(s);
}

/* A xorshift step: the tests' random numbers, the same from run to run. */
static uint64_t rnd(uint64_t *x)
{
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        return *x;
}

/* ---- the new decoder against the old one -------------------------------- */

/* The frame BUF[LEN] gets the same verdict, code and field from both
 * decoders, and the same request, and its referral the same verdict, code,
 * field and message (old_decoder.h). Returns whether it was accepted. */
static bool expect_same_verdict(const char *buf, size_t len, const char *what)
{
        char why[OLD_WHY];
        bool accepted;

        if (!old_decoders_agree(buf, len, &accepted, why))
                fail_msg("%s: %s", what, why);
        return accepted;
}

/* A submit request around REFERRAL (JSON text). */
static char *submit_around(const char *referral, size_t len, size_t *out_len)
{
        static const char head[] = "{\"op\": \"submit\", \"corr\": \"c-1\", \"referral\": ";
        char *buf = malloc(sizeof head + len + 2);

        assert_non_null(buf);
        memcpy(buf, head, sizeof head - 1);
        memcpy(buf + sizeof head - 1, referral, len);
        buf[sizeof head - 1 + len] = '}';
        *out_len = sizeof head + len;
        buf[*out_len] = '\0';
        return buf;
}

static void test_decoders_agree_on_every_case_of_the_submit_table(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                json_t *root = load(base_json);
                char *text, *req;
                size_t len;

                if (cases[i].add_unknown)
                        mutate(root, "zzz", "1");
                if (cases[i].path)
                        mutate(root, cases[i].path, cases[i].value);
                text = json_dumps(root, JSON_COMPACT);
                req = submit_around(text, strlen(text), &len);
                assert_true(expect_same_verdict(req, len, cases[i].name));
                free(req);
                free(text);
                json_decref(root);
        }
}

/* Frames the parser tests above and the requests of protocol.md make. */
static const char *const frames[] = {
        "{\"op\": \"ping\"}",
        " {}\r\n\t ",
        "{\"a\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[\"}",
        "Janssens",
        "{\"Janssens\" x}",
        "{'a': 1}",
        "{\"op\": \"ping\"",
        "{} Janssens",
        "{}{}",
        "[{\"op\": \"ping\"}]",
        "\"ping\"",
        "42",
        "null",
        "{\"op\": \"ping\", \"op\": \"stats\"}",
        "{\"r\": {\"Janssens\": 1, \"Janssens\": 2}}",
        "{\"r\": [{\"a\": 1}, {\"a\": 2}], \"s\": {\"a\": {\"a\": 1}}}",
        "{\"corr\": \"pi\\u0000ng\"}",
        "{\"pi\\u0000ng\": 1}",
        "{\"note\": \"Janssens \xff\"}",
        "{\"note\": \"\xc0\xaf\"}",
        "{\"note\": \"\xed\xa0\x80\"}",
        "{\"note\": \"\xc3\"}",
        "{\"n\xe9\": 1}",
        "\xef\xbb\xbf{}",
        "{\"s\": \"\\ud83d\\ude00 \\u00e9 \\u2028 \\/ \\\" \\\\ \\b\\f\\n\\r\\t\"}",
        "{\"s\": \"\\ud800\"}",
        "{\"s\": \"\\udc00\"}",
        "{\"s\": \"\\ud800\\u0041\"}",
        "{\"s\": \"\\ud800\\\\u0041\"}",
        "{\"s\": \"\\uD83D\\uDE00\", \"\\ud83d\\ude00\": 1}",
        "{\"s\": \"\\x41\"}",
        "{\"s\": \"\\u12\"}",
        "{\"s\": \"a\x01\"}",
        "{\"s\": \"\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"}",
        "{\"s\": \"\xe0\x9f\xbf\"}",
        "{\"s\": \"\xf0\x8f\xbf\xbf\"}",
        "{\"s\": \"\xf4\x90\x80\x80\"}",
        "{\"s\": \"\xf5\x80\x80\x80\"}",
        "{\"s\": \"\x80\"}",
        "{\"a\": 1}\xff",
        "{\"n\": 1e400}",
        "{\"n\": -1e400}",
        "{\"n\": 1e-400}",
        "{\"n\": 99999999999999999999999}",
        "{\"n\": 9223372036854775808}",
        "{\"n\": -9223372036854775808}",
        "{\"n\": -9223372036854775809}",
        "{\"n\": 9223372036854775807}",
        "{\"n\": 1e300, \"m\": -0, \"o\": -0.0, \"p\": 1E2, \"q\": 0.5e-3}",
        "{\"n\": 01}",
        "{\"n\": 1.}",
        "{\"n\": .5}",
        "{\"n\": +1}",
        "{\"n\": -}",
        "{\"n\": [1, 2.5, true, false, null, \"x\", {}, []]}",
        "{\"n\": tru}",
        "{\"n\": 1 /* comment */}",
        "{\"a\":1,}",
        "{\"a\":[1,]}",
        "{,}",
        "{\"a\" : 1 , \"b\" :\t2\n}",
        "   ",
        "{",
        "}",
        "{\"op\": \"submit\", \"referral\": \"x\\u0000\"}",
        "{\"op\": \"submit\", \"referral\": [1, {\"a\": 2}]}",
        "{\"op\": \"submit\", \"referral\": null}",
        "{\"op\": \"submit\", \"referral\": {}}",
        "{\"op\": \"submit\", \"referral\": {\"ref\": \"a\", \"ref\": \"b\"}}",
        "{\"op\": \"submit\", \"referral\": {\"children\": [{\"age\": 1, \"age\": 2}]}}",
        "{\"op\": \"submit\", \"referral\": {\"family\": {\"name\": \"a\", \"name\": \"b\"}}}",
        "{\"op\": \"submit\", \"referral\": {\"x\": {\"y\": 1, \"y\": 2}}}",
        "{\"op\": \"submit\", \"referral\": {\"ref\": \"a\\u0000b\"}}",
        "{\"op\": \"submit\", \"referral\": {\"note\": \"a\\u0000b\", \"ref\": \"x\"}}",
        "{\"op\": \"submit\", \"referral\": {\"ref\": \"x\", \"referral\": 1}, \"referral2\": 2}",
        "{\"op\": \"submit\", \"referral\": {\"ref\\u0000\": \"x\"}}",
        "{\"op\": \"submit\", \"referral\": {\"r\\u0065f\": \"x\", \"ki\\u006ed\": 1}}",
        "{\"op\": \"submit\", \"referral\": {\"children\": [1, {\"age\": 1}, {\"x\": 1, \"age\": "
        "\"a\"}]}}",
        "{\"op\": \"submit\", \"referral\": {\"ref\": \"x\", \"kind\": \"family_support\", "
        "\"postcode\": \"3600\", \"children\": [{\"age\": 3, \"Janssens family\": 1}], "
        "\"consent\": true}}",
        "{\"op\": \"submit\", \"referral\": {\"ref\": \"x\", \"kind\": \"family_support\", "
        "\"postcode\": \"3600\", \"children\": [{\"age\": 3}], \"consent\": true, \"family\": "
        "{\"name\": \"A\", \"Janssens family\": 1}}}",
        "{\"op\": \"submit\", \"referral\": {\"ref\": \"x\", \"kind\": \"family_support\", "
        "\"postcode\": \"3600\", \"children\": [{\"age\": 3.0}], \"consent\": true}}",
        "{\"op\": \"submit\", \"referral\": {\"ref\": \"x\", \"kind\": \"family_support\", "
        "\"postcode\": \"3600\", \"children\": [{\"age\": 3e0}], \"consent\": true}}",
        "{\"op\": \"submit\", \"referral\": {\"ref\": \"x\", \"kind\": \"family_support\", "
        "\"postcode\": \"3600\", \"children\": [{\"age\": -0}], \"consent\": true, \"family\": "
        "{}, \"concerns\": [], \"note\": \"\\u00e9\\n\\\"\"}}",
        "{\"referral\": {\"ref\": \"x\"}, \"op\": \"update\", \"id\": \"R000001\", \"status\": "
        "\"started\"}",
        "{\"op\": \"list\", \"status\": [\"waitlisted\", \"assigned\"], \"limit\": 10, \"since\": "
        "0}",
        "{\"op\": \"events\", \"since\": 12, \"limit\": 1000, \"types\": [\"referral.assigned\"]}",
};

static void test_decoders_agree_on_the_parser_s_cases(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++)
                expect_same_verdict(frames[i], strlen(frames[i]), frames[i]);
}

static void test_decoders_agree_on_nesting_and_size(void **state)
{
        char *buf = malloc(RD_REQUEST_MAX + 2);
        size_t len;
        char *s;
        (void)state;

        for (int depth = 30; depth <= 34; depth++) {
                s = nested(depth, &len);
                expect_same_verdict(s, len, "nested");
                free(s);
        }
        s = nested(5000, &len);
        expect_same_verdict(s, len, "nested 5000");
        free(s);
        assert_non_null(buf);
        memcpy(buf, "{\"a\":\"", 6);
        memset(buf + 6, 'x', RD_REQUEST_MAX - 8);
        memcpy(buf + RD_REQUEST_MAX - 2, "\"}", 2);
        assert_true(expect_same_verdict(buf, RD_REQUEST_MAX, "64 KiB"));
        memset(buf + 6, 'x', RD_REQUEST_MAX - 7);
        memcpy(buf + RD_REQUEST_MAX - 1, "\"}", 2);
        expect_same_verdict(buf, RD_REQUEST_MAX + 1, "64 KiB and one byte");
        expect_same_verdict(NULL, 0, "no frame");
        expect_same_verdict(S("{\"op\": \"ping\"}\0"), "a NUL byte");
        free(buf);
}

/* The files of the fuzz corpus DIR (each into *OUT, *N of them). */
static size_t read_corpus(const char *dir, char ***names, char ***texts, size_t **lens)
{
        char cmd[512];
        char path[1024];
        size_t n = 0;
        FILE *ls;

        snprintf(cmd, sizeof cmd, "ls %s", dir);
        ls = popen(cmd, "r");
        assert_non_null(ls);
        *names = NULL;
        *texts = NULL;
        *lens = NULL;
        while (fgets(path, sizeof path, ls)) {
                char full[1600];
                FILE *f;
                long size;

                path[strcspn(path, "\n")] = '\0';
                snprintf(full, sizeof full, "%s/%s", dir, path);
                f = fopen(full, "rb");
                assert_non_null(f);
                fseek(f, 0, SEEK_END);
                size = ftell(f);
                fseek(f, 0, SEEK_SET);
                *names = realloc(*names, (n + 1) * sizeof **names);
                *texts = realloc(*texts, (n + 1) * sizeof **texts);
                *lens = realloc(*lens, (n + 1) * sizeof **lens);
                assert_non_null(*names);
                (*names)[n] = strdup(path);
                (*texts)[n] = malloc((size_t)size + 1);
                assert_true(fread((*texts)[n], 1, (size_t)size, f) == (size_t)size);
                (*texts)[n][size] = '\0';
                (*lens)[n] = (size_t)size;
                fclose(f);
                n++;
        }
        pclose(ls);
        assert_true(n > 0);
        return n;
}

static void free_corpus(size_t n, char **names, char **texts, size_t *lens)
{
        for (size_t i = 0; i < n; i++) {
                free(names[i]);
                free(texts[i]);
        }
        free(names);
        free(texts);
        free(lens);
}

static void test_decoders_agree_on_the_fuzz_corpus(void **state)
{
        char **names, **texts;
        size_t *lens, n;
        (void)state;

        n = read_corpus(RD_SOURCE_DIR "/tests/fuzz/corpus/request", &names, &texts, &lens);
        for (size_t i = 0; i < n; i++)
                expect_same_verdict(texts[i], lens[i], names[i]);
        free_corpus(n, names, texts, lens);
        n = read_corpus(RD_SOURCE_DIR "/tests/fuzz/corpus/referral", &names, &texts, &lens);
        for (size_t i = 0; i < n; i++) {
                size_t len;
                char *req = submit_around(texts[i], lens[i], &len);
                expect_same_verdict(req, len, names[i]);
                free(req);
        }
        free_corpus(n, names, texts, lens);
}

/* Pieces a mutation puts in: what JSON, UTF-8 and the referral's checks
 * turn on. */
static const char *const splices[] = {"\"",
                                      "\\",
                                      "{",
                                      "}",
                                      "[",
                                      "]",
                                      ",",
                                      ":",
                                      " ",
                                      "0",
                                      "-1",
                                      "1e400",
                                      "2.5",
                                      "1E2",
                                      "99999999999999999999",
                                      "true",
                                      "null",
                                      "\"\"",
                                      "\"a\"",
                                      "\\u0000",
                                      "\\ud800",
                                      "\\udc00",
                                      "\\ud83d\\ude00",
                                      "\\u00e9",
                                      "\xc3\xa9",
                                      "\xc0\x80",
                                      "\xed\xa0\x80",
                                      "\xff",
                                      "\xf0\x9f\x98\x80",
                                      "\xe2\x80\xa8",
                                      "\x01",
                                      "\"age\":",
                                      "\"ref\":",
                                      "\"children\":",
                                      "\"family\":",
                                      "\"note\":",
                                      "\"concerns\":",
                                      "\"consent\":",
                                      "\"corr\":",
                                      "\"referral\":",
                                      "{\"age\":3}",
                                      "[{\"age\":3}]",
                                      "\"name\":\"x\","};

/* BUF[*LEN] (room for CAP bytes) changed at random: a byte replaced or
 * deleted, a splice put in, or a piece of the frame repeated. */
static void mutate_frame(uint64_t *x, char *buf, size_t *len, size_t cap)
{
        size_t at = *len ? rnd(x) % *len : 0;

        switch (rnd(x) % 4) {
        case 0:
                if (*len)
                        buf[at] = (char)(rnd(x) % 256 ? rnd(x) % 256 : 'x');
                break;
        case 1:
                if (*len) {
                        memmove(buf + at, buf + at + 1, *len - at - 1);
                        (*len)--;
                }
                break;
        case 2: {
                const char *sp = splices[rnd(x) % (sizeof splices / sizeof splices[0])];
                size_t k = strlen(sp);
                if (*len + k <= cap) {
                        memmove(buf + at + k, buf + at, *len - at);
                        memcpy(buf + at, sp, k);
                        *len += k;
                }
                break;
        }
        default: {
                size_t from = *len ? rnd(x) % *len : 0, k = *len ? rnd(x) % 32 : 0;
                if (from + k > *len)
                        k = *len - from;
                if (*len + k <= cap) {
                        char piece[32];
                        memcpy(piece, buf + from, k);
                        memmove(buf + at + k, buf + at, *len - at);
                        memcpy(buf + at, piece, k);
                        *len += k;
                }
                break;
        }
        }
}

static void test_decoders_agree_on_mutated_requests(void **state)
{
        char **names, **texts, buf[8192], what[64];
        size_t *lens, n, accepted = 0;
        uint64_t x = 0xD1B54A32D192ED03u;
        (void)state;

        n = read_corpus(RD_SOURCE_DIR "/tests/fuzz/corpus/request", &names, &texts, &lens);
        for (int i = 0; i < 100000; i++) {
                size_t k = rnd(&x) % (n + 1), len;
                const char *seed = k < n ? texts[k] : base_json;
                char *req = NULL;

                if (k < n) {
                        len = lens[k] < sizeof buf ? lens[k] : sizeof buf;
                        memcpy(buf, seed, len);
                } else { /* the base referral in a submit */
                        req = submit_around(base_json, strlen(base_json), &len);
                        memcpy(buf, req, len);
                        free(req);
                }
                for (uint64_t m = rnd(&x) % 4 ? 1 : 3; m > 0; m--)
                        mutate_frame(&x, buf, &len, sizeof buf);
                snprintf(what, sizeof what, "mutation %d", i);
                accepted += expect_same_verdict(buf, len, what);
        }
        /* the mutations reach the referral's checks, not only the parser's */
        assert_true(accepted > 10000);
        free_corpus(n, names, texts, lens);
}

/* ---- rd_json_scan_corr ---------------------------------------------------- */

/* The corr rd_json_scan_corr reads from BUF[LEN]: WANT (WANT_LEN bytes),
 * or none when WANT is NULL. */
static void expect_corr(const char *buf, size_t len, const char *want, size_t want_len)
{
        json_t *corr = (json_t *)0x1;
        int found = rd_json_scan_corr(buf, len, &corr);

        if (!want) {
                assert_int_equal(found, 0);
                assert_ptr_equal(corr, (json_t *)0x1); /* untouched */
                return;
        }
        assert_int_equal(found, 1);
        assert_true(json_is_string(corr));
        assert_int_equal(json_string_length(corr), want_len);
        assert_memory_equal(json_string_value(corr), want, want_len);
        json_decref(corr);
}

static void test_corr_is_read_from_requests_the_parser_refuses(void **state)
{
        (void)state;
        expect_corr(S("{\"op\": \"ping\", \"corr\": \"c-1\", \"x\": [[[[[[[[[[}"), S("c-1"));
        expect_corr(S("{\"a\": [[[[\"]]]\"]]]], \"corr\": \"after\"} trailing"), S("after"));
        expect_corr(S("{\"note\": \"\xff\", \"corr\": \"c\xc3\xa9\"}"), S("c\xc3\xa9"));
        expect_corr(S("{\"op\": \"ping\", \"op\": \"ping\", \"corr\": \"dup-op\"}"), S("dup-op"));
        expect_corr(S("{\"n\": 1e400, \"c\\u006frr\": \"esc\\u0000aped\"}"), S("esc\0aped"));
        expect_corr(S(" {\"corr\":\"first\", \"truncated\": \"tex"), S("first"));
}

static void test_corr_over_the_request_limit_is_read(void **state)
{
        size_t n = RD_REQUEST_MAX + 100;
        char *buf = malloc(n);
        (void)state;
        assert_non_null(buf);
        memcpy(buf, "{\"corr\":\"big\",\"a\":\"", 19);
        memset(buf + 19, 'x', n - 21);
        memcpy(buf + n - 2, "\"}", 2);
        expect_corr(buf, n, S("big"));
        free(buf);
}

static void test_no_corr_when_it_is_not_readable(void **state)
{
        char long_corr[200];
        (void)state;
        expect_corr(S("{\"op\": \"ping\"}"), NULL, 0);
        expect_corr(S("[{\"corr\": \"in-an-array\"}]"), NULL, 0);
        expect_corr(S("{\"corr\": 5}"), NULL, 0);
        expect_corr(S("{\"corr\": \"\xff\"}"), NULL, 0);
        expect_corr(S("{\"corr\": \"a\", \"corr\": \"b\"}"), NULL, 0);
        expect_corr(S("{\"x\": {\"corr\": \"nested\"}}"), NULL, 0);
        expect_corr(S("{\"x\" 1, \"corr\": \"after-a-fault\"}"), NULL, 0);
        expect_corr(S("{\"corr\": \"unterminated"), NULL, 0);
        expect_corr(NULL, 0, NULL, 0);
        snprintf(long_corr, sizeof long_corr, "{\"corr\": \"%0129d\"}", 0);
        expect_corr(long_corr, strlen(long_corr), NULL, 0);
}

/* ---- canonical form and digest ------------------------------------------ */

static void digest_of(const char *text, char hex[65])
{
        json_t *j = load(text);
        struct rd_referral r;
        struct rd_error err;
        if (rd_referral_from_json(j, &r, &err))
                fail_msg("invalid: %s: %s", err.field, err.message);
        assert_int_equal(rd_referral_digest(&r, hex), 0);
        rd_referral_clear(&r);
        json_decref(j);
}

static void digest_mutated(const char *path, const char *value, char hex[65])
{
        json_t *j = load(base_json);
        char *text;
        mutate(j, path, value);
        text = json_dumps(j, JSON_COMPACT);
        digest_of(text, hex);
        free(text);
        json_decref(j);
}

static void test_digest_is_64_lowercase_hex(void **state)
{
        char hex[65];
        (void)state;
        digest_of(base_json, hex);
        assert_int_equal(strlen(hex), 64);
        for (int i = 0; i < 64; i++)
                assert_true((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'));
}

/* FIPS 180-2's examples, and a referral's digest is that of its canonical
 * text: one SHA-256 for the whole project. */
static void test_a_digest_is_the_sha256_of_the_bytes_in_lowercase_hex(void **state)
{
        json_t *j = load(base_json);
        struct rd_referral r;
        struct rd_error err;
        char hex[65], again[65], *text = NULL;
        (void)state;
        assert_int_equal(rd_sha256_hex("abc", 3, hex), 0);
        assert_string_equal(hex,
                            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_int_equal(rd_sha256_hex("", 0, hex), 0);
        assert_string_equal(hex,
                            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_int_equal(rd_referral_from_json(j, &r, &err), 0);
        assert_int_equal(rd_referral_canonical(&r, &text, hex), 0);
        assert_int_equal(rd_sha256_hex(text, strlen(text), again), 0);
        assert_string_equal(hex, again);
        free(text);
        rd_referral_clear(&r);
        json_decref(j);
}

static void test_digest_same_when_urgency_defaulted(void **state)
{
        char a[65], b[65];
        (void)state;
        digest_mutated("urgency", NULL, a);
        digest_mutated("urgency", "\"normal\"", b);
        assert_string_equal(a, b);
        digest_of(base_json, b);
        assert_string_equal(a, b);
}

static void test_digest_same_for_other_key_order(void **state)
{
        char a[65], b[65];
        (void)state;
        digest_of(base_json, a);
        digest_of("{\"note\": \"Moeder belt na 17u\", \"consent\": true, "
                  "\"family\": {\"address\": \"Kerkstraat 1, Genk\", "
                  "\"email\": \"an.janssens@example.be\", \"phone\": \"+32470123456\", "
                  "\"name\": \"Janssens\"}, "
                  "\"children\": [{\"age\": 14}, {\"age\": 9}], \"language\": \"nl\", "
                  "\"concerns\": [\"teen_conflict\", \"parental_conflict\"], "
                  "\"postcode\": \"3600\", \"kind\": \"family_support\", "
                  "\"partner\": \"ocmw-genk\", \"ref\": \"OCMW-GENK-2026-0042\"}",
                  b);
        assert_string_equal(a, b);
}

static void test_digest_same_for_empty_concerns_and_family(void **state)
{
        char a[65], b[65];
        (void)state;
        digest_mutated("concerns", NULL, a);
        digest_mutated("concerns", "[]", b);
        assert_string_equal(a, b);
        digest_mutated("family", NULL, a);
        digest_mutated("family", "{}", b);
        assert_string_equal(a, b);
}

static void test_digest_differs_for_any_content_change(void **state)
{
        static const struct {
                const char *path, *value;
        } changes[] = {
                {"ref", "\"OCMW-GENK-2026-0043\""},
                {"partner", NULL},
                {"kind", "\"first_line_psychology\""},
                {"postcode", "\"3601\""},
                {"children[0].age", "13"},
                {"children", "[{\"age\": 9}, {\"age\": 14}]"},
                {"concerns", "[\"teen_conflict\"]"},
                {"language", NULL},
                {"urgency", "\"high\""},
                {"family.name", "\"Janssen\""},
                {"family.phone", NULL},
                {"note", "\"Moeder belt na 18u\""},
                {"note", NULL},
                {"note", "\"\""},
        };
        char base[65], other[65];
        (void)state;
        digest_of(base_json, base);
        for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
                digest_mutated(changes[i].path, changes[i].value, other);
                if (strcmp(base, other) == 0)
                        fail_msg("change %zu (%s) kept the digest", i, changes[i].path);
        }
}

static void test_to_json_canonical_order_and_defaults(void **state)
{
        json_t *j = load(base_json), *out;
        struct rd_referral r;
        struct rd_error err;
        char *text;
        (void)state;

        json_object_del(j, "urgency");
        json_object_del(j, "language");
        json_object_set_new(j, "concerns", json_array());
        assert_int_equal(rd_referral_from_json(j, &r, &err), 0);
        out = rd_referral_to_json(&r, true);
        text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
        assert_string_equal(text, "{\"ref\":\"OCMW-GENK-2026-0042\",\"partner\":\"ocmw-genk\","
                                  "\"kind\":\"family_support\",\"postcode\":\"3600\","
                                  "\"children\":[{\"age\":14},{\"age\":9}],"
                                  "\"urgency\":\"normal\",\"consent\":true,"
                                  "\"family\":{\"name\":\"Janssens\",\"phone\":\"+32470123456\","
                                  "\"email\":\"an.janssens@example.be\","
                                  "\"address\":\"Kerkstraat 1, Genk\"},"
                                  "\"note\":\"Moeder belt na 17u\"}");
        free(text);
        json_decref(out);

        out = rd_referral_to_json(&r, false);
        assert_null(json_object_get(out, "family"));
        assert_null(json_object_get(out, "note"));
        assert_non_null(json_object_get(out, "postcode"));
        json_decref(out);

        /* erased: no postcode, no children */
        r.postcode[0] = '\0';
        r.n_children = 0;
        out = rd_referral_to_json(&r, true);
        assert_null(json_object_get(out, "postcode"));
        assert_null(json_object_get(out, "children"));
        json_decref(out);

        rd_referral_clear(&r);
        json_decref(j);
}

static void test_to_json_round_trips_to_same_digest(void **state)
{
        json_t *j = load(base_json), *out;
        struct rd_referral r, r2;
        struct rd_error err;
        char a[65], b[65];
        (void)state;

        assert_int_equal(rd_referral_from_json(j, &r, &err), 0);
        out = rd_referral_to_json(&r, true);
        assert_int_equal(rd_referral_from_json(out, &r2, &err), 0);
        assert_int_equal(rd_referral_digest(&r, a), 0);
        assert_int_equal(rd_referral_digest(&r2, b), 0);
        assert_string_equal(a, b);
        rd_referral_clear(&r);
        rd_referral_clear(&r2);
        json_decref(out);
        json_decref(j);
}

/* ---- the canonical form: written without a tree, as jansson wrote it ---- */

/* The canonical text as it was made until issue 16: the tree of
 * rd_referral_to_json dumped by jansson. */
static char *canonical_by_jansson(const struct rd_referral *r)
{
        json_t *j = rd_referral_to_json(r, true);
        char *t;

        assert_non_null(j);
        t = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
        assert_non_null(t);
        return t;
}

/* R's canonical text and digest are those jansson's tree gave. */
static void expect_canonical_as_jansson(const struct rd_referral *r, const char *what)
{
        char *want = canonical_by_jansson(r), *got = NULL, hex[65], hex_want[65];
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;

        assert_int_equal(rd_referral_canonical(r, &got, hex), 0);
        if (strcmp(got, want) != 0)
                fail_msg("%s: the canonical text differs:\n  %s\n  %s", what, got, want);
        assert_true(EVP_Digest(want, strlen(want), md, &md_len, EVP_sha256(), NULL));
        for (unsigned i = 0; i < 32; i++)
                snprintf(hex_want + 2 * i, 3, "%02x", md[i]);
        assert_string_equal(hex, hex_want);
        free(got);
        free(want);
}

static void test_canonical_text_of_every_valid_case_is_jansson_s(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                struct rd_referral r;
                struct rd_error err;
                json_t *root;

                if (cases[i].code != RD_OK)
                        continue;
                root = load(base_json);
                if (cases[i].path)
                        mutate(root, cases[i].path, cases[i].value);
                assert_int_equal(rd_referral_from_json(root, &r, &err), 0);
                expect_canonical_as_jansson(&r, cases[i].name);
                rd_referral_clear(&r);
                json_decref(root);
        }
}

/* One writer reused over every valid case, longest and shortest mixed:
 * each text and digest is a fresh writer's, nothing left of the one before. */
static void test_a_reused_canonical_writer_gives_each_referral_its_own_text(void **state)
{
        struct rd_canonical c;
        (void)state;

        assert_int_equal(rd_canonical_init(&c), 0);
        for (size_t i = 0; i < 2 * (sizeof cases / sizeof cases[0]); i++) {
                size_t k = i % 2 ? sizeof cases / sizeof cases[0] - 1 - i / 2 : i / 2;
                struct rd_referral r;
                struct rd_error err;
                char *want = NULL, hex_want[65], hex[65];
                const char *got;
                size_t len = 0;
                json_t *root;

                if (cases[k].code != RD_OK)
                        continue;
                root = load(base_json);
                if (cases[k].path)
                        mutate(root, cases[k].path, cases[k].value);
                assert_int_equal(rd_referral_from_json(root, &r, &err), 0);
                assert_int_equal(rd_referral_canonical(&r, &want, hex_want), 0);
                got = rd_canonical_write(&c, &r, &len, hex);
                assert_non_null(got);
                assert_string_equal(got, want);
                assert_int_equal(len, strlen(want));
                assert_string_equal(hex, hex_want);
                free(want);
                rd_referral_clear(&r);
                json_decref(root);
        }
        rd_canonical_free(&c);
        rd_canonical_free(NULL);
}

/* Append code point CP to P as UTF-8; returns the end. */
static char *put_utf8(char *p, uint32_t cp)
{
        if (cp < 0x80) {
                *p++ = (char)cp;
        } else if (cp < 0x800) {
                *p++ = (char)(0xC0 | cp >> 6);
                *p++ = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
                *p++ = (char)(0xE0 | cp >> 12);
                *p++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *p++ = (char)(0x80 | (cp & 0x3F));
        } else {
                *p++ = (char)(0xF0 | cp >> 18);
                *p++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                *p++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *p++ = (char)(0x80 | (cp & 0x3F));
        }
        return p;
}

/* A random string of at most MAX code points (none U+0000), the
 * characters JSON escapes or might among them, into BUF. */
static char *random_text(uint64_t *x, size_t max, char *buf)
{
        static const uint32_t awkward[] = {'"',     '\\',     '/',    0x01,   0x08,   0x09,
                                           0x0A,    0x0C,     0x0D,   0x1F,   0x7F,   0x80,
                                           0xE9,    0x2028,   0x2029, 0xFEFF, 0xFFFD, 0xFFFF,
                                           0x1F600, 0x10FFFF, 0x20AC, ' ',    '<',    '&'};
        size_t n = rnd(x) % (max + 1);
        char *p = buf;

        for (size_t i = 0; i < n; i++) {
                uint64_t k = rnd(x) % 4;
                uint32_t cp = k == 0   ? awkward[rnd(x) % (sizeof awkward / sizeof awkward[0])]
                              : k == 1 ? (uint32_t)(1 + rnd(x) % 0x7F)
                              : k == 2 ? (uint32_t)(0x80 + rnd(x) % 0xD780)
                                       : (uint32_t)(0x20 + rnd(x) % 0x5F);
                p = put_utf8(p, cp);
        }
        *p = '\0';
        return buf;
}

/* A random referral as a validated one may be, and as erase leaves one. */
static void random_referral(uint64_t *x, struct rd_referral *r)
{
        char text[4 * RD_NOTE_MAX + 1];

        memset(r, 0, sizeof *r);
        for (size_t i = 0, n = 1 + rnd(x) % RD_REF_MAX; i < n; i++)
                r->ref[i] = (char)('!' + rnd(x) % 94); /* '"' and '\\' among them */
        if (rnd(x) % 2)
                snprintf(r->partner, sizeof r->partner, "p%llu", (unsigned long long)rnd(x));
        r->kind = (enum rd_kind)(rnd(x) % RD_KIND__MAX);
        if (rnd(x) % 8) { /* else erased */
                snprintf(r->postcode, sizeof r->postcode, "%04u", (unsigned)(1000 + rnd(x) % 9000));
                r->n_children = 1 + (unsigned)(rnd(x) % RD_CHILDREN_MAX);
                for (unsigned i = 0; i < r->n_children; i++)
                        r->ages[i] = (uint8_t)(rnd(x) % (RD_AGE_MAX + 1));
        }
        r->n_concerns = (unsigned)(rnd(x) % (RD_CONCERNS_MAX + 1));
        for (unsigned i = 0; i < r->n_concerns; i++)
                snprintf(r->concerns[i], sizeof r->concerns[i], "tag_%u",
                         (unsigned)(rnd(x) % 1000));
        if (rnd(x) % 2)
                snprintf(r->language, sizeof r->language, "%s", rnd(x) % 2 ? "nl" : "fra");
        r->urgency = (enum rd_urgency)(rnd(x) % RD_URGENCY__MAX);
        if (rnd(x) % 4)
                for (size_t i = 0; i < RD_FAMILY__MAX; i++)
                        if (rnd(x) % 3)
                                r->family[i] = strdup(random_text(x, RD_FAMILY_FIELD_MAX, text));
        if (rnd(x) % 4)
                r->note = strdup(random_text(x, rnd(x) % 8 ? 200 : RD_NOTE_MAX, text));
}

static void test_canonical_text_of_random_referrals_is_jansson_s(void **state)
{
        uint64_t x = 0x2545F4914F6CDD1Du;
        (void)state;
        for (int i = 0; i < 5000; i++) {
                struct rd_referral r;
                char what[32];

                random_referral(&x, &r);
                snprintf(what, sizeof what, "random referral %d", i);
                expect_canonical_as_jansson(&r, what);
                rd_referral_clear(&r);
        }
}

/* ---- names and small helpers -------------------------------------------- */

static void test_status_names_round_trip(void **state)
{
        static const char *const names[] = {"received", "assigned", "waitlisted", "forwarded",
                                            "accepted", "started",  "closed",     "withdrawn"};
        (void)state;
        for (int i = 0; i < RD_STATUS__MAX; i++) {
                enum rd_status s;
                assert_string_equal(rd_status_name((enum rd_status)i), names[i]);
                assert_int_equal(rd_status_parse(names[i], &s), 0);
                assert_int_equal(s, i);
        }
        enum rd_status s = RD_STATUS_CLOSED;
        assert_int_equal(rd_status_parse("declined", &s), -EINVAL);
        assert_int_equal(rd_status_parse("Assigned", &s), -EINVAL);
        assert_int_equal(rd_status_parse(NULL, &s), -EINVAL);
        assert_int_equal(s, RD_STATUS_CLOSED);
}

static void test_open_statuses_are_waitlisted_assigned_accepted_started(void **state)
{
        (void)state;
        assert_false(rd_status_is_open(RD_STATUS_RECEIVED));
        assert_true(rd_status_is_open(RD_STATUS_ASSIGNED));
        assert_true(rd_status_is_open(RD_STATUS_WAITLISTED));
        assert_false(rd_status_is_open(RD_STATUS_FORWARDED));
        assert_true(rd_status_is_open(RD_STATUS_ACCEPTED));
        assert_true(rd_status_is_open(RD_STATUS_STARTED));
        assert_false(rd_status_is_open(RD_STATUS_CLOSED));
        assert_false(rd_status_is_open(RD_STATUS_WITHDRAWN));
}

static void test_kind_and_urgency_names_round_trip(void **state)
{
        enum rd_kind k = RD_KIND_FAMILY_SUPPORT;
        enum rd_urgency u = RD_URGENCY_NORMAL;
        (void)state;
        assert_string_equal(rd_kind_name(RD_KIND_FIRST_LINE_PSYCHOLOGY), "first_line_psychology");
        assert_int_equal(rd_kind_parse("first_line_psychology", &k), 0);
        assert_int_equal(k, RD_KIND_FIRST_LINE_PSYCHOLOGY);
        assert_int_equal(rd_kind_parse("other", &k), -EINVAL);
        assert_int_equal(k, RD_KIND_FIRST_LINE_PSYCHOLOGY);
        assert_string_equal(rd_urgency_name(RD_URGENCY_CRISIS), "crisis");
        assert_int_equal(rd_urgency_parse("high", &u), 0);
        assert_int_equal(u, RD_URGENCY_HIGH);
        assert_int_equal(rd_urgency_parse("HIGH", &u), -EINVAL);
        assert_int_equal(u, RD_URGENCY_HIGH);
}

static void test_utf8_length_counts_code_points(void **state)
{
        (void)state;
        assert_int_equal(rd_utf8_length(""), 0);
        assert_int_equal(rd_utf8_length("abc"), 3);
        assert_int_equal(rd_utf8_length("\xc3\xa9t\xc3\xa9"), 3); /* été */
        assert_int_equal(rd_utf8_length("\xe2\x82\xac"), 1);      /* € */
        assert_int_equal(rd_utf8_length("\xf0\x9f\x98\x80!"), 2); /* 😀! */
}

static void test_id_valid_matches_pattern(void **state)
{
        char s[80];
        (void)state;
        assert_true(rd_id_valid("ocmw-genk"));
        assert_true(rd_id_valid("a"));
        assert_true(rd_id_valid("0_a-b"));
        assert_false(rd_id_valid(""));
        assert_false(rd_id_valid(NULL));
        assert_false(rd_id_valid("_a"));
        assert_false(rd_id_valid("-a"));
        assert_false(rd_id_valid("Kelly"));
        assert_false(rd_id_valid("a b"));
        assert_false(rd_id_valid("a.b"));
        memset(s, 'a', 64);
        s[64] = '\0';
        assert_true(rd_id_valid(s));
        s[64] = 'a';
        s[65] = '\0';
        assert_false(rd_id_valid(s));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_submit_table),
                cmocka_unit_test(test_referral_not_an_object_is_invalid_field_referral),
                cmocka_unit_test(test_decoded_fields_match_input),
                cmocka_unit_test(test_missing_fields_are_reported_in_table_order),
                cmocka_unit_test(test_consent_false_message_says_family_consents),
                cmocka_unit_test(test_bad_postcode_is_not_quoted),
                cmocka_unit_test(test_parse_accepts_an_object),
                cmocka_unit_test(test_parse_rejects_not_json),
                cmocka_unit_test(test_parse_rejects_trailing_text),
                cmocka_unit_test(test_parse_rejects_top_level_that_is_not_an_object),
                cmocka_unit_test(test_parse_rejects_duplicate_keys),
                cmocka_unit_test(test_parse_rejects_nul_bytes_but_decodes_escaped_u0000),
                cmocka_unit_test(test_parse_rejects_invalid_utf8),
                cmocka_unit_test(test_parse_rejects_numbers_that_overflow),
                cmocka_unit_test(test_parse_size_limit_is_64_kib),
                cmocka_unit_test(test_parse_depth_32_ok_33_malformed),
                cmocka_unit_test(test_decoders_agree_on_every_case_of_the_submit_table),
                cmocka_unit_test(test_decoders_agree_on_the_parser_s_cases),
                cmocka_unit_test(test_decoders_agree_on_nesting_and_size),
                cmocka_unit_test(test_decoders_agree_on_the_fuzz_corpus),
                cmocka_unit_test(test_decoders_agree_on_mutated_requests),
                cmocka_unit_test(test_corr_is_read_from_requests_the_parser_refuses),
                cmocka_unit_test(test_corr_over_the_request_limit_is_read),
                cmocka_unit_test(test_no_corr_when_it_is_not_readable),
                cmocka_unit_test(test_digest_is_64_lowercase_hex),
                cmocka_unit_test(test_a_digest_is_the_sha256_of_the_bytes_in_lowercase_hex),
                cmocka_unit_test(test_digest_same_when_urgency_defaulted),
                cmocka_unit_test(test_digest_same_for_other_key_order),
                cmocka_unit_test(test_digest_same_for_empty_concerns_and_family),
                cmocka_unit_test(test_digest_differs_for_any_content_change),
                cmocka_unit_test(test_to_json_canonical_order_and_defaults),
                cmocka_unit_test(test_to_json_round_trips_to_same_digest),
                cmocka_unit_test(test_canonical_text_of_every_valid_case_is_jansson_s),
                cmocka_unit_test(test_a_reused_canonical_writer_gives_each_referral_its_own_text),
                cmocka_unit_test(test_canonical_text_of_random_referrals_is_jansson_s),
                cmocka_unit_test(test_status_names_round_trip),
                cmocka_unit_test(test_open_statuses_are_waitlisted_assigned_accepted_started),
                cmocka_unit_test(test_kind_and_urgency_names_round_trip),
                cmocka_unit_test(test_utf8_length_counts_code_points),
                cmocka_unit_test(test_id_valid_matches_pattern),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
