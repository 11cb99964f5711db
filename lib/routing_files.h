/* routing_files.h: the routing files that have been in force, as the
 * daemon records them and the tools read them back (daemon.md rev 2: the
 * database keeps the text of every routing file that has been in force).
 *
 * The daemon loads a routing file with the bytes it was loaded from
 * (rd_routing_load_file), and records those bytes wherever it puts the
 * file in force (rd_routing_record: at start and in a reload's
 * transaction). The tools read the file in force back from a database
 * (rd_routing_in_force) to compare a new file with it or to reload over
 * it. No clock, no logging: times are parameters. */
#ifndef RD_ROUTING_FILES_H
#define RD_ROUTING_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "rules.h"
#include "store.h"

/* Load the routing file at PATH exactly as rd_rules_load_file does (the
 * same reader, limits, messages in DIAG and return values), and keep the
 * bytes it was loaded from: on success *RULES (rd_rules_free), *TEXT
 * (malloc'ed, a NUL after the *LEN bytes; free) and *LEN; on failure all
 * three untouched. */
int rd_routing_load_file(const char *path, struct rd_rules **rules, char **text, size_t *len,
                         struct rd_diag *diag);

/* Record in STORE, inside the caller's transaction, that RULES, loaded
 * from the LEN bytes at TEXT, are in force from NOW_MS
 * (rd_store_routing_record: nothing changes when they are in force
 * already). 0 or a negative errno. */
int rd_routing_record(struct rd_store *store, const struct rd_rules *rules, const char *text,
                      size_t len, int64_t now_ms);

/* The routing file in force in a database, loaded again from its kept
 * bytes. */
struct rd_routing_current {
        struct rd_rules *rules; /* named as it was loaded (its source) */
        char *source;           /* that name, kept when the rules are handed on */
        char digest[65];
        int64_t from_ms; /* in force since */
        size_t periods;  /* how many periods had begun by then */
};

/* Read the routing file in force in STORE at AT_MS (the last period that
 * began before AT_MS; INT64_MAX: the one in force now) into *OUT (the
 * caller frees it with rd_routing_current_clear). Returns 0; -ENOENT when
 * the database recorded none by then (a database no daemon has run on
 * since it was made); -EBADMSG when the kept bytes no longer load (their
 * messages in DIAG, may be NULL); or a negative errno of the store. */
int rd_routing_at(struct rd_store *store, int64_t at_ms, struct rd_routing_current *out,
                  struct rd_diag *diag);

/* rd_routing_at the file in force now. */
int rd_routing_in_force(struct rd_store *store, struct rd_routing_current *out,
                        struct rd_diag *diag);

/* Free what CUR holds and zero it. CUR may be zeroed already. */
void rd_routing_current_clear(struct rd_routing_current *cur);

#endif
