/* tool.c: see tool.h. */
#include "tool.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t tool_interrupted;

static void vmsg(const char *prog, const char *fmt, va_list ap)
{
        fprintf(stderr, "%s: ", prog);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
}

void tool_msg(const char *prog, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vmsg(prog, fmt, ap);
        va_end(ap);
}

void tool_usage_error(const char *prog, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vmsg(prog, fmt, ap);
        va_end(ap);
        fprintf(stderr, "Try '%s --help'.\n", prog);
        exit(EXIT_USAGE);
}

long long tool_parse_int(const char *prog, const char *opt, const char *s, long long lo,
                         long long hi)
{
        char *end;
        long long v;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || end == s || *end || v < lo || v > hi)
                tool_usage_error(prog, "%s wants a whole number from %lld to %lld, not '%s'", opt,
                                 lo, hi, s);
        return v;
}

int64_t tool_mono_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

int64_t tool_wall_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / NS_PER_MS;
}

static void on_stop_signal(int sig)
{
        (void)sig;
        tool_interrupted = 1;
}

void tool_catch_stop_signals(void)
{
        struct sigaction sa;

        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop_signal; /* no SA_RESTART: a poll returns EINTR */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
}

int tool_stop_signalfd(void)
{
        sigset_t mask;
        int fd;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        return fd < 0 ? -errno : fd;
}

bool tool_stop_signalled(int fd)
{
        struct signalfd_siginfo si;
        bool stop = false;

        while (read(fd, &si, sizeof si) == sizeof si)
                stop = true;
        return stop;
}
