/* clock.h: the daemon's two clocks, in milliseconds. lib/ never reads a
 * clock: the daemon passes the time in. */
#ifndef RD_CLOCK_H
#define RD_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Wall-clock time since the epoch: what is stored and compared with
 * deadlines. */
static inline int64_t rd_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic time: for intervals (rate limits, the watchdog, timeouts). */
static inline int64_t rd_mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
