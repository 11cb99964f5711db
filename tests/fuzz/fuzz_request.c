/* fuzz_request: one request frame, as the daemon receives it from a client.
 *
 * bytes -> rd_request_decode (yajl, no tree), and the decoder it replaced
 * (tests/old_decoder.h: jansson's tree, then rd_referral_from_json): both
 * give the same verdict, code and field, the same request, and for its
 * referral the same verdict, code, field and message, or the same
 * referral. When the frame is accepted and has a "referral",
 * rd_referral_from_json, rd_referral_to_json and rd_referral_digest with
 * the invariants of fuzz_common.h. For the decoder itself: an accepted
 * frame is at most 64 KiB, has no NUL byte, is valid UTF-8, nests at most
 * 32 deep and is an object; a refused one has the code malformed (or
 * internal), no field, and a message from a small set. */
#include "fuzz_common.h"
#include "old_decoder.h"

/* 1 if S[0..LEN) is UTF-8 as RFC 3629 has it (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t len)
{
        size_t i = 0;

        while (i < len) {
                unsigned char c = s[i];
                size_t n;
                uint32_t cp;

                if (c < 0x80) {
                        i++;
                        continue;
                } else if (c >= 0xC2 && c <= 0xDF) {
                        n = 1;
                        cp = c & 0x1F;
                } else if (c >= 0xE0 && c <= 0xEF) {
                        n = 2;
                        cp = c & 0x0F;
                } else if (c >= 0xF0 && c <= 0xF4) {
                        n = 3;
                        cp = c & 0x07;
                } else {
                        return 0;
                }
                if (len - i - 1 < n)
                        return 0;
                for (size_t k = 1; k <= n; k++) {
                        if ((s[i + k] & 0xC0) != 0x80)
                                return 0;
                        cp = (cp << 6) | (s[i + k] & 0x3F);
                }
                if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
                    (cp >= 0xD800 && cp <= 0xDFFF))
                        return 0;
                i += n + 1;
        }
        return 1;
}

/* Nesting of V: a scalar is 0, an object or array one more than its
 * deepest member. */
static int depth(const json_t *v)
{
        int d = 0;

        if (json_is_object(v)) {
                const char *key;
                json_t *m;
                json_object_foreach((json_t *)v, key, m)
                {
                        int k = depth(m);
                        (void)key;
                        if (k > d)
                                d = k;
                }
                return d + 1;
        }
        if (json_is_array(v)) {
                size_t i;
                json_t *m;
                json_array_foreach(v, i, m)
                {
                        int k = depth(m);
                        if (k > d)
                                d = k;
                }
                return d + 1;
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct rd_request rq;
        struct rd_error err;
        char why[OLD_WHY];
        bool accepted;
        json_t *root = NULL;
        int rc;

        if (!old_decoders_agree((const char *)data, size, &accepted, why)) {
                fprintf(stderr, "the decoders disagree: %s\n", why);
                abort();
        }
        memset(&err, 0, sizeof err);
        memset(&rq, 0xA5, sizeof rq);
        rc = rd_request_decode((const char *)data, size, &rq, &err);
        if (rc != 0) {
                FUZZ_CHECK(rc < 0);
                FUZZ_CHECK(fuzz_error_ok(&err));
                FUZZ_CHECK(err.code == RD_MALFORMED || err.code == RD_INTERNAL);
                FUZZ_CHECK(err.field[0] == '\0');
                fuzz_note_message(err.message);
                return 0;
        }
        FUZZ_CHECK(rq.top && json_is_object(rq.top));
        FUZZ_CHECK(size > 0 && size <= RD_REQUEST_MAX);
        FUZZ_CHECK(memchr(data, '\0', size) == NULL);
        FUZZ_CHECK(utf8_valid(data, size));
        FUZZ_CHECK(depth(rq.top) >= 1 && depth(rq.top) <= RD_JSON_DEPTH_MAX);
        FUZZ_CHECK(rq.has_referral == (json_object_get(rq.top, "referral") != NULL));
        rd_request_clear(&rq);

        /* the referral's checks, on the tree the old decoder makes of it */
        if (old_parse_request((const char *)data, size, &root, &err) == 0) {
                if (json_object_get(root, "referral"))
                        fuzz_check_referral(json_object_get(root, "referral"));
                json_decref(root);
        }
        return 0;
}
