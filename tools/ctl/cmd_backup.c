/* cmd_backup.c: `backup DB OUT`: a consistent copy of a live database in
 * a new file OUT, with SQLite's online backup API (lib/store); offline:
 * it reads the file, not the daemon. A PostgreSQL database (a conninfo) is
 * refused: pg_dump (or a base backup of the server) copies it consistently
 * with its roles and settings, and the operator's backups of PostgreSQL
 * already do. */
#include "commands.h"
#include "options.h"

#include "store.h"

#include <stdio.h>

int cmd_backup(struct ctl *c, int argc, char **argv)
{
        char errbuf[512];
        int r;

        (void)c;
        if (argc != 3) {
                usage_error(argv[0], "needs the database and the file to write: backup DB OUT");
                return EXIT_USAGE;
        }
        if (rd_store_is_conninfo(argv[1])) {
                tool_msg(PROG,
                         "backup: copies a SQLite database; a PostgreSQL database is backed up "
                         "with PostgreSQL's own tools: pg_dump (for example pg_dump -Fc -f OUT "
                         "DBNAME), or a base backup of the whole server");
                return EXIT_USAGE;
        }
        r = rd_store_backup(argv[1], argv[2], errbuf, sizeof errbuf);
        if (r < 0) {
                tool_msg(PROG, "backup: %s", errbuf);
                return EXIT_FAULT;
        }
        printf("%s: a consistent copy of %s (mode 0600; it holds personal data)\n", argv[2],
               argv[1]);
        return EXIT_OK;
}
