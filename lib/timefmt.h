/* timefmt.h: RFC 3339 UTC times. Time in lib/ is always a parameter:
 * int64 milliseconds since the epoch, passed in by the daemon. */
#ifndef RD_TIMEFMT_H
#define RD_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define RD_TIME_STR 80

/* Write MS as "YYYY-MM-DDTHH:MM:SS.mmmZ" into BUF (at least RD_TIME_STR
 * bytes; the proleptic Gregorian calendar, UTC; a year past 9999 with more
 * digits, one before 0 as "-YYY"), whatever MS is. Returns BUF. */
char *rd_time_format(int64_t ms, char buf[RD_TIME_STR]);

/* V as at least WIDTH decimal digits (at most 20), zeros in front,
 * written at P without a NUL (printf's "%0*llu", without its cost).
 * Returns the end. */
char *rd_put_digits(char *p, uint64_t v, int width);

/* V in decimal, '-' in front when below 0, written at P without a NUL
 * (printf's "%lld"; at most 20 bytes). Returns the end. */
char *rd_put_int(char *p, int64_t v);

/* Parse an RFC 3339 time ("2026-12-23T10:00:00Z", optional fraction,
 * "Z" or "+hh:mm"/"-hh:mm"). Returns 0 and writes *MS, or -EINVAL. */
int rd_time_parse(const char *s, int64_t *ms);

/* The zone of a DATE without a time (tools.md). */
#define RD_DATE_ZONE "Europe/Brussels"

/* A DATE as the coordinators' tools take it (tools.md): an RFC 3339 time
 * (rd_time_parse), or a date "YYYY-MM-DD", meaning midnight at its start
 * in Europe/Brussels, by the C library's time zone data (the process's TZ
 * is set to RD_DATE_ZONE for the conversion and put back: not for threaded
 * callers). Returns 0 and writes *MS; -EINVAL for anything else; -ENOENT
 * when the zone's data is not installed (Debian: tzdata). */
int rd_date_parse(const char *s, int64_t *ms);

#endif
