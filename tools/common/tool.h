/* tool.h: what the tools (referralctl, referral-bench, referral-floor,
 * referral-route-bench) share that lib/ has no place for: the exit
 * statuses, messages with the program's name, the monotonic clock, and
 * the two ways a tool stops on SIGINT or SIGTERM (a flag for a client, a
 * signalfd for a server, as the daemon has). Nothing of lib/. */
#ifndef RD_TOOL_H
#define RD_TOOL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#ifndef RD_VERSION
#define RD_VERSION "0.0.0"
#endif

#define NS_PER_S INT64_C(1000000000)
#define NS_PER_MS INT64_C(1000000)

/* Exit statuses of every tool (daemon.md): 0 done, 1 a fault, 2 a usage
 * error. referralctl adds 78 for an invalid routing file. */
enum { EXIT_OK = 0, EXIT_FAULT = 1, EXIT_USAGE = 2 };

/* "PROG: MESSAGE\n" on stderr. */
void tool_msg(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "PROG: MESSAGE\nTry 'PROG --help'.\n" on stderr, then exit(EXIT_USAGE). */
_Noreturn void tool_usage_error(const char *prog, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* S as a whole number from LO to HI, the value of option OPT (for the
 * message); anything else is a usage error of PROG (exits 2). */
long long tool_parse_int(const char *prog, const char *opt, const char *s, long long lo,
                         long long hi);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t tool_mono_ns(void);

/* CLOCK_REALTIME in milliseconds since the epoch (lib/'s time). */
int64_t tool_wall_ms(void);

/* Set by SIGINT and SIGTERM once tool_catch_stop_signals() is called. */
extern volatile sig_atomic_t tool_interrupted;

/* Catch SIGINT and SIGTERM: set tool_interrupted and return, without
 * SA_RESTART, so that a blocking poll returns EINTR and the tool looks at
 * the flag. */
void tool_catch_stop_signals(void);

/* As the daemon: block SIGINT and SIGTERM, ignore SIGPIPE, and return a
 * non-blocking signalfd for the two (the caller closes it), or a negative
 * errno. */
int tool_stop_signalfd(void);

/* Read every signal pending on FD (from tool_stop_signalfd): true when
 * there was at least one. */
bool tool_stop_signalled(int fd);

#endif
