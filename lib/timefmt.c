#include "timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *rd_time_format(int64_t ms, char buf[RD_TIME_STR])
{
        time_t secs = (time_t)(ms / 1000);
        int frac = (int)(ms % 1000);
        struct tm tm;

        if (frac < 0) {
                frac += 1000;
                secs -= 1;
        }
        if (!gmtime_r(&secs, &tm)) {
                /* beyond what struct tm holds: never leave BUF unset */
                snprintf(buf, RD_TIME_STR, "%s",
                         ms < 0 ? "0000-01-01T00:00:00.000Z" : "9999-12-31T23:59:59.999Z");
                return buf;
        }
        snprintf(buf, RD_TIME_STR, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
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
