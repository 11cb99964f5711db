/* state.c: see state.h. */
#include "state.h"

#include "print.h"

#include <string.h>

const char *state_name(const char *where)
{
        return rd_store_is_conninfo(where) ? "the PostgreSQL database" : where;
}

int state_open(const char *where, struct rd_store **out)
{
        struct rd_store_target t = {.kind = RD_STORE_SQLITE, .path = where, .copy = true};
        char errbuf[512];
        int r;

        if (rd_store_is_conninfo(where)) {
                t.kind = RD_STORE_POSTGRESQL;
                t.conninfo = where;
        }
        r = rd_store_open_target(&t, out, errbuf, sizeof errbuf);
        if (r < 0) {
                fault("%s: %s", state_name(where), errbuf[0] ? errbuf : strerror(-r));
                return EXIT_FAULT;
        }
        return 0;
}
