/* error.h: the one error value that lib/ hands back and daemon/ prints.
 *
 * Convention (see docs/architecture.md): functions return 0 on success or
 * a negative errno. Where the caller needs to tell a client *what* was
 * wrong, the function also fills a struct rd_error that the caller owns.
 * lib/ never logs; the error travels as a value to the one place that
 * handles it. Messages never contain personal data. */
#ifndef RD_ERROR_H
#define RD_ERROR_H

#include <stddef.h>

/* Error codes of protocol.md, "Requests and replies". */
enum rd_code {
        RD_OK = 0,
        RD_MALFORMED,
        RD_UNKNOWN_OP,
        RD_INVALID,
        RD_FORBIDDEN,
        RD_NOT_FOUND,
        RD_CONFLICT,
        RD_UNAVAILABLE,
        RD_INTERNAL,
        RD_CODE__MAX
};

#define RD_FIELD_MAX 192
#define RD_MESSAGE_MAX 320

struct rd_error {
        enum rd_code code;
        char field[RD_FIELD_MAX];     /* JSON path, "" when no one field is at fault */
        char message[RD_MESSAGE_MAX]; /* a sentence a person can act on */
};

/* The wire name of CODE ("malformed", ...). Static string, never NULL. */
const char *rd_code_name(enum rd_code code);

/* Fill ERR (if not NULL) with CODE, FIELD (may be NULL) and a formatted
 * message (truncated to fit). Returns the negative errno that matches
 * CODE (-EBADMSG, -EINVAL, -EPERM, -ENOENT, -EEXIST, -EAGAIN, -EIO), so a
 * function can `return rd_error_set(...)`. */
int rd_error_set(struct rd_error *err, enum rd_code code, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Reset ERR to RD_OK with empty field and message. */
void rd_error_clear(struct rd_error *err);

#endif
