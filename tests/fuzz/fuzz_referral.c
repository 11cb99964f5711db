/* fuzz_referral: rd_referral_from_json on any JSON value, without the
 * request parser in front; and the same value as a submit's referral
 * through both request decoders (tests/old_decoder.h), which must agree.
 *
 * The input is JSON text for the value of "referral" itself (seeds are
 * readable referral objects, so the fuzzer spends its time in validation
 * rather than in finding the envelope). It is decoded with jansson's
 * JSON_DECODE_ANY | JSON_ALLOW_NUL, so the value may be a scalar and its
 * strings may hold U+0000, which rd_json_parse_request would refuse but a
 * json_t built in code may contain ("strings with an embedded NUL are
 * invalid", referral.c). Input jansson refuses is skipped. The invariants
 * are those of fuzz_common.h. */
#include "fuzz_common.h"
#include "old_decoder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_error_t jerr;
        json_t *v;

        static const char head[] = "{\"op\":\"submit\",\"referral\":";
        char *frame, why[OLD_WHY];
        bool accepted;

        if (size > RD_REQUEST_MAX)
                return 0;
        /* the value in a submit, through both decoders: rd_request_decode
         * decodes it without a tree */
        frame = malloc(sizeof head + size + 1);
        FUZZ_CHECK(frame);
        memcpy(frame, head, sizeof head - 1);
        memcpy(frame + sizeof head - 1, data, size);
        frame[sizeof head - 1 + size] = '}';
        if (!old_decoders_agree(frame, sizeof head + size, &accepted, why)) {
                fprintf(stderr, "the decoders disagree: %s\n", why);
                abort();
        }
        free(frame);

        v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!v)
                return 0;
        fuzz_check_referral(v);
        json_decref(v);
        return 0;
}
