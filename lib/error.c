#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"

static const char *const code_names[] = {
        [RD_OK] = "ok",
        [RD_MALFORMED] = "malformed",
        [RD_UNKNOWN_OP] = "unknown_op",
        [RD_INVALID] = "invalid",
        [RD_FORBIDDEN] = "forbidden",
        [RD_NOT_FOUND] = "not_found",
        [RD_CONFLICT] = "conflict",
        [RD_UNAVAILABLE] = "unavailable",
        [RD_INTERNAL] = "internal",
};
RD_TABLE_COVERS(code_names, RD_CODE__MAX);

const char *rd_code_name(enum rd_code code)
{
        if ((unsigned)code >= RD_CODE__MAX)
                return "internal";
        return code_names[code];
}

static int code_errno(enum rd_code code)
{
        switch (code) {
        case RD_OK: return 0;
        case RD_MALFORMED: return -EBADMSG;
        case RD_UNKNOWN_OP: return -EOPNOTSUPP;
        case RD_INVALID: return -EINVAL;
        case RD_FORBIDDEN: return -EPERM;
        case RD_NOT_FOUND: return -ENOENT;
        case RD_CONFLICT: return -EEXIST;
        case RD_UNAVAILABLE: return -EAGAIN;
        case RD_INTERNAL:
        case RD_CODE__MAX: return -EIO;
        }
        return -EIO;
}

int rd_error_set(struct rd_error *err, enum rd_code code, const char *field, const char *fmt, ...)
{
        if (err) {
                va_list ap;
                err->code = code;
                snprintf(err->field, sizeof err->field, "%s", field ? field : "");
                va_start(ap, fmt);
                vsnprintf(err->message, sizeof err->message, fmt, ap);
                va_end(ap);
        }
        return code_errno(code);
}

void rd_error_clear(struct rd_error *err)
{
        if (!err)
                return;
        err->code = RD_OK;
        err->field[0] = '\0';
        err->message[0] = '\0';
}
