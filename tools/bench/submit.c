/* submit.c: see submit.h. */
#include "submit.h"

#include "rng.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static unsigned pick(uint64_t *rng, unsigned n)
{
        return (unsigned)(tool_rng_next(rng) % n);
}

#define PICK(rng, arr) ((arr)[pick((rng), sizeof(arr) / sizeof((arr)[0]))])

/* Weighted: mostly the four postcodes the example teams serve, then some
 * that fall to other rules or to none (forwarded). */
static const char *const postcodes[] = {
        "3600", "3600", "3600", "3600", "3630", "3630", "3630", "3640", "3640", "3640",
        "3660", "3660", "3660", "3500", "3510", "3700", "3920", "3000", "2000", "3680",
};
static const struct {
        const char *postcode, *city;
} cities[] = {
        {"3600", "Genk"},    {"3630", "Maasmechelen"}, {"3640", "Kinrooi"},  {"3660", "Oudsbergen"},
        {"3500", "Hasselt"}, {"3510", "Kermt"},        {"3700", "Tongeren"}, {"3920", "Lommel"},
        {"3000", "Leuven"},  {"2000", "Antwerpen"},    {"3680", "Maaseik"},
};
static const char *const first_names[] = {"An",   "Bart",   "Fatma", "Youssef", "Lotte",
                                          "Ilse", "Murat",  "Sofie", "Giulia",  "Kenan",
                                          "Nora", "Pieter", "Elif",  "Jana",    "Tom"};
static const char *const last_names[] = {"Peeters", "Janssens", "Yilmaz", "Maes",
                                         "Claes",   "Rossi",    "Jacobs", "Mertens",
                                         "Kaya",    "Willems",  "Dubois", "Vermeulen"};
static const char *const streets[] = {"Stationsstraat", "Kerkstraat", "Molenweg",   "Hoogstraat",
                                      "Weg naar As",    "Rijksweg",   "Dorpsstraat"};
static const char *const concern_tags[] = {
        "teen_conflict", "parental_conflict", "school_absence", "housing",
        "debt",          "anxiety",           "sleep",          "divorce",
        "bullying",      "language_support"};
static const char *const languages[] = {"nl", "nl", "nl", "nl", "nl", "fr", "en", "tr", "it"};
static const char *const urgencies[] = {"normal", "normal", "normal", "normal", "normal",
                                        "normal", "normal", "high",   "high",   "crisis"};
static const char *const note_sentences[] = {
        "Mother asks for support with the evenings at home, bedtime is a daily struggle.",
        "The eldest has missed school on several days since the holidays.",
        "Father works nights and would like a visit on Wednesday afternoon.",
        "The family moved here last year and has little support nearby.",
        "The school counsellor has been in touch and agrees with this referral.",
        "Arguments between the parents have grown since the separation.",
        "Grandmother helps out twice a week but cannot do more.",
        "Please call before visiting; the doorbell does not work.",
        "The youngest sleeps badly and the parents are exhausted.",
        "The family asked explicitly for a connector who speaks their language.",
};

/* Append to BUF at *LEN (capacity CAP) with printf. Returns -1 on overflow. */
static int appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf + *len, cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= cap - *len)
                return -1;
        *len += (size_t)n;
        return 0;
}

uint64_t submit_prefix_hash(const char *prefix)
{
        uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */

        for (const char *p = prefix; *p; p++)
                h = (h ^ (unsigned char)*p) * UINT64_C(1099511628211);
        return h;
}

int build_submit(const struct options *opt, uint64_t prefix_hash, int client, int slot,
                 uint64_t seq, char *buf, size_t cap)
{
        /* the content depends on the ref alone (prefix, client, seq), so that a
         * rerun with the same --ref-prefix meets its referrals as duplicates */
        uint64_t rng = tool_rng_mix(prefix_hash ^ tool_rng_mix(((uint64_t)client << 40) ^ seq)) | 1;
        const char *pc, *city = "Genk", *first, *last;
        unsigned n_children, n_concerns, note_len;
        size_t len = 0;
        int r = 0;

        pc = PICK(&rng, postcodes);
        first = PICK(&rng, first_names);
        last = PICK(&rng, last_names);
        n_children = 1 + pick(&rng, 3);
        n_concerns = pick(&rng, 4);
        for (size_t i = 0; i < sizeof cities / sizeof cities[0]; i++)
                if (strcmp(cities[i].postcode, pc) == 0)
                        city = cities[i].city;
        r |= appendf(buf, cap, &len,
                     "{\"op\":\"submit\",\"corr\":\"%d.%d.%" PRIu64 "\",\"referral\":{"
                     "\"ref\":\"%s-%d-%" PRIu64 "\",\"partner\":\"%s\","
                     "\"kind\":\"family_support\",\"postcode\":\"%s\",\"children\":[",
                     client, slot, seq, opt->prefix, client, seq, opt->partner, pc);
        for (unsigned i = 0; i < n_children; i++)
                r |= appendf(buf, cap, &len, "%s{\"age\":%u}", i ? "," : "", pick(&rng, 18));
        r |= appendf(buf, cap, &len, "]");
        if (n_concerns) {
                unsigned first_tag = pick(&rng, sizeof concern_tags / sizeof concern_tags[0]);
                r |= appendf(buf, cap, &len, ",\"concerns\":[");
                for (unsigned i = 0; i < n_concerns; i++)
                        r |= appendf(buf, cap, &len, "%s\"%s\"", i ? "," : "",
                                     concern_tags[(first_tag + i) %
                                                  (sizeof concern_tags / sizeof concern_tags[0])]);
                r |= appendf(buf, cap, &len, "]");
        }
        r |= appendf(buf, cap, &len,
                     ",\"language\":\"%s\",\"urgency\":\"%s\",\"consent\":true,"
                     "\"family\":{\"name\":\"%s %s\",\"phone\":\"+32 4%02u %02u %02u %02u\","
                     "\"email\":\"%s.%s@example.be\",\"address\":\"%s %u, %s %s\"},\"note\":\"",
                     PICK(&rng, languages), PICK(&rng, urgencies), first, last, 70 + pick(&rng, 30),
                     pick(&rng, 100), pick(&rng, 100), pick(&rng, 100), first, last,
                     PICK(&rng, streets), 1 + pick(&rng, 180), pc, city);
        /* a note of about 200 bytes: sentences until 170 or more */
        note_len = 0;
        while (note_len < 170 && r == 0) {
                const char *s = PICK(&rng, note_sentences);
                r |= appendf(buf, cap, &len, "%s%s", note_len ? " " : "", s);
                note_len += (unsigned)strlen(s) + (note_len ? 1 : 0);
        }
        r |= appendf(buf, cap, &len, "\"}}");
        return r ? -1 : (int)len;
}
