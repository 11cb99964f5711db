#include "timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The civil date (proleptic Gregorian) of DAYS since 1970-01-01: Howard
 * Hinnant's days_from_civil inverted, exact over the whole int64 range the
 * milliseconds give (eras of 400 years, floor division). */
static void civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
        int64_t z = days + 719468;
        int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        int64_t doe = z - era * 146097;                                      /* [0, 146096] */
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
        int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */

        *d = (int)(doy - (153 * mp + 2) / 5 + 1);
        *m = (int)(mp < 10 ? mp + 3 : mp - 9);
        *y = yoe + era * 400 + (*m <= 2);
}

/* "00" to "99", one after the other. */
static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";

char *rd_put_digits(char *p, uint64_t u, int width)
{
        uint64_t ten = 10;
        int n = 1;
        char *end, *q;

        /* the digits counted first, then written from the last one back,
         * two at a time: no copy of a reversed buffer (TEN stops at 10^19,
         * the largest power of ten a uint64_t holds) */
        for (; n < 20 && u >= ten; ten *= 10)
                n++;
        end = p + (n < width ? width : n);
        for (q = end; q - p >= 2; u /= 100) {
                q -= 2;
                memcpy(q, pairs + 2 * (u % 100), 2);
        }
        if (q > p)
                *--q = (char)('0' + u % 10);
        return end;
}

char *rd_put_int(char *p, int64_t v)
{
        if (v < 0)
                *p++ = '-';
        return rd_put_digits(p, v < 0 ? -(uint64_t)v : (uint64_t)v, 1);
}

/* V (0 <= V < 100) as two digits at P, then SEP. Returns the end. */
static char *put2(char *p, int v, char sep)
{
        memcpy(p, pairs + 2 * v, 2);
        p[2] = sep;
        return p + 3;
}

/* The text of the last time this thread formatted between the years 1000
 * and 9999: a time is most often formatted again soon after (an event's
 * time in both events of a submit, a window in the event, the reply and
 * the log line). A copy costs a tenth of the arithmetic. */
#define RD_TIME_LEN 24 /* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
static _Thread_local struct {
        bool set;
        int64_t ms;
        char text[RD_TIME_LEN + 1];
} last;

/* What printf's "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" wrote, without the
 * cost of printf: a year below 0 as '-' and at least three digits. */
char *rd_time_format(int64_t ms, char buf[RD_TIME_STR])
{
        int64_t secs = ms / 1000, days, sod, y;
        int frac = (int)(ms % 1000), m, d;
        char *p = buf;

        if (last.set && last.ms == ms) {
                memcpy(buf, last.text, sizeof last.text);
                return buf;
        }

        if (frac < 0) {
                frac += 1000;
                secs -= 1;
        }
        days = secs / 86400;
        sod = secs % 86400;
        if (sod < 0) {
                sod += 86400;
                days -= 1;
        }
        civil_from_days(days, &y, &m, &d);
        if (y >= 1000 && y <= 9999) { /* all but the far past and future */
                memcpy(p, pairs + 2 * (y / 100), 2);
                memcpy(p + 2, pairs + 2 * (y % 100), 2);
                p += 4;
        } else {
                if (y < 0)
                        *p++ = '-';
                p = rd_put_digits(p, y < 0 ? -y : y, y < 0 ? 3 : 4);
        }
        *p++ = '-';
        p = put2(p, m, '-');
        p = put2(p, d, 'T');
        p = put2(p, (int)(sod / 3600), ':');
        p = put2(p, (int)(sod / 60 % 60), ':');
        p = put2(p, (int)(sod % 60), '.');
        p[0] = (char)('0' + frac / 100);
        memcpy(p + 1, pairs + 2 * (frac % 100), 2);
        p[3] = 'Z';
        p[4] = '\0';
        if (p + 4 - buf == RD_TIME_LEN) {
                memcpy(last.text, buf, sizeof last.text);
                last.ms = ms;
                last.set = true;
        }
        return buf;
}

static int digits(const char **p, int n, int *out)
{
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (!isdigit((unsigned char)**p))
                        return -EINVAL;
                v = v * 10 + (**p - '0');
                (*p)++;
        }
        *out = v;
        return 0;
}

static int days_in_month(int y, int mo)
{
        static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return mo == 2 && leap ? 29 : days[mo - 1];
}

static int expect(const char **p, char c)
{
        if (**p != c)
                return -EINVAL;
        (*p)++;
        return 0;
}

int rd_time_parse(const char *s, int64_t *ms)
{
        int y, mo, d, h, mi, sec, frac_ms = 0;
        const char *p = s;
        struct tm tm = {0};
        int64_t offset_s = 0;
        time_t t;

        if (!s || digits(&p, 4, &y) || expect(&p, '-') || digits(&p, 2, &mo) || expect(&p, '-') ||
            digits(&p, 2, &d))
                return -EINVAL;
        if (*p != 'T' && *p != 't')
                return -EINVAL;
        p++;
        if (digits(&p, 2, &h) || expect(&p, ':') || digits(&p, 2, &mi) || expect(&p, ':') ||
            digits(&p, 2, &sec))
                return -EINVAL;
        if (*p == '.') {
                int scale = 100, n = 0;
                p++;
                while (isdigit((unsigned char)*p)) {
                        frac_ms += (*p - '0') * scale;
                        scale /= 10;
                        p++;
                        n++;
                }
                if (n == 0)
                        return -EINVAL;
        }
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if (*p == '+' || *p == '-') {
                int sign = *p == '-' ? -1 : 1, oh, om;
                p++;
                if (digits(&p, 2, &oh) || expect(&p, ':') || digits(&p, 2, &om) || oh > 23 ||
                    om > 59)
                        return -EINVAL;
                offset_s = sign * (oh * 3600 + om * 60);
        } else {
                return -EINVAL;
        }
        if (*p != '\0')
                return -EINVAL;
        if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
                return -EINVAL;
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = sec;
        /* A leap second (:60) is folded into the next second by timegm. The
         * day was checked against the month above: checking tm_mday after
         * timegm would refuse 23:59:60, which rolls over to the next day. */
        t = timegm(&tm);
        *ms = ((int64_t)t - offset_s) * 1000 + frac_ms;
        return 0;
}

/* Midnight at the start of day Y-MO-D in the zone TZ names now, into *T:
 * 0, or -ENOENT when that zone is not the one asked for (its data missing:
 * the C library then falls back to UTC silently, which a day in January
 * of Brussels, UTC+1, shows). */
static int local_midnight(int y, int mo, int d, time_t *t)
{
        struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_isdst = -1};
        struct tm probe = {.tm_year = 121, .tm_mon = 0, .tm_mday = 1, .tm_isdst = -1};
        struct tm probe_utc = probe;

        if (timegm(&probe_utc) - mktime(&probe) != 3600)
                return -ENOENT;
        *t = mktime(&tm);
        return *t == (time_t)-1 ? -EINVAL : 0;
}

int rd_date_parse(const char *s, int64_t *ms)
{
        const char *p = s, *old;
        char *saved = NULL;
        int y, mo, d, r;
        time_t t = 0;

        if (!s || digits(&p, 4, &y) || expect(&p, '-') || digits(&p, 2, &mo) || expect(&p, '-') ||
            digits(&p, 2, &d))
                return -EINVAL;
        if (*p != '\0')
                return rd_time_parse(s, ms);
        if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
                return -EINVAL;
        old = getenv("TZ");
        if (old && !(saved = strdup(old)))
                return -ENOMEM;
        r = setenv("TZ", RD_DATE_ZONE, 1) < 0 ? -errno : 0;
        if (r == 0) {
                tzset();
                r = local_midnight(y, mo, d, &t);
        }
        if (saved)
                setenv("TZ", saved, 1);
        else
                unsetenv("TZ");
        tzset();
        free(saved);
        if (r == 0)
                *ms = (int64_t)t * 1000;
        return r;
}
