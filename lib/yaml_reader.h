/* yaml_reader.h: the one way the project reads a YAML file (daemon.md,
 * rev 2): the routing file (lib/rules), the daemon config (daemon/config)
 * and the cases of `referralctl rules test` (lib/cases).
 *
 * HOW a file is read is here; WHAT its keys mean stays with each loader.
 *   - Limits: at most RD_YAML_FILE_MAX bytes; nested at most
 *     RD_YAML_DEPTH_MAX levels, checked on libyaml's event stream before a
 *     document is built (it stops at the first level too deep, so that tens
 *     of thousands of '[' are refused at once); one document only.
 *   - A path that is not a regular file (a FIFO, a device, a folder) is
 *     opened without blocking and refused: "FILE:1:1: not a regular file".
 *   - Every message is "FILE:LINE:COLUMN: message", lines and columns from
 *     1, a column counting characters (code points), not bytes. The reader
 *     collects the messages of a load (its own and the loader's) and hands
 *     them over sorted by position, so that a person reads them top to
 *     bottom and the same fault reads the same in every file.
 *   - Walking: mappings with known keys (a repeated key, an unknown key with
 *     "did you mean", a key that is not a plain value are errors), lists,
 *     single values, one-of-a-few words and durations, with one wording for
 *     a value of the wrong type: "WHAT: expected X, not Y".
 * A reader is used by one thread. No clock, no logging. */
#ifndef RD_YAML_READER_H
#define RD_YAML_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "diag.h"

#define RD_YAML_FILE_MAX (1024 * 1024) /* bytes of a YAML file */
#define RD_YAML_DEPTH_MAX 64           /* lists and mappings inside each other */
#define RD_SUGGEST_MAX 2               /* edit distance of a "did you mean" */

struct rd_yaml;

/* ---- reading ------------------------------------------------------------ */

/* Read the file at PATH (named so in every message): opened with
 * O_NONBLOCK, refused unless a regular file, at most RD_YAML_FILE_MAX
 * bytes, then as rd_yaml_open_buffer. Returns 0 and a new reader in *OUT
 * also when the file cannot be read or is not valid YAML: that fault is
 * already reported in the reader, rd_yaml_loaded() is false and
 * rd_yaml_finish returns it. -ENOMEM or -EINVAL (a NULL argument), with
 * *OUT untouched, otherwise. */
int rd_yaml_open_file(const char *path, struct rd_yaml **out);

/* The same for LEN bytes at BUF (borrowed: they must outlive the reader),
 * named NAME in messages (copied). */
int rd_yaml_open_buffer(const char *name, const char *buf, size_t len, struct rd_yaml **out);

/* Hand every message of the load to DIAG (may be NULL), sorted by position
 * (in the order reported where two share one), and free Y. Returns the
 * negative errno of a file that could not be read (-ENOENT, -EACCES,
 * -EFBIG, -EINVAL for one that is not a regular file, ...), else -ENOMEM
 * when memory ran out, else -EINVAL when there was an error, else 0
 * (warnings allowed). Y may be NULL (returns 0). */
int rd_yaml_finish(struct rd_yaml *y, struct rd_diag *diag);

/* true when the file was read and its document built: walk it. */
bool rd_yaml_loaded(const struct rd_yaml *y);

/* The document's root, or NULL when there is nothing to walk: the file
 * holds no document, an empty one or only a null ("~"), or was not
 * loaded. Borrowed from Y. */
yaml_node_t *rd_yaml_root(struct rd_yaml *y);

/* The node with index ID (from a pair or an item), or NULL. Borrowed. */
yaml_node_t *rd_yaml_node(struct rd_yaml *y, int id);

/* The bytes read (*LEN of them) and the name of the file. Borrowed. */
const char *rd_yaml_bytes(const struct rd_yaml *y, size_t *len);
const char *rd_yaml_name(const struct rd_yaml *y);

/* How many errors were reported so far. */
size_t rd_yaml_errors(const struct rd_yaml *y);

/* Note that the loader ran out of memory: rd_yaml_finish returns -ENOMEM. */
void rd_yaml_nomem(struct rd_yaml *y);

/* ---- messages ----------------------------------------------------------- */

struct rd_yaml_pos {
        size_t line, column; /* from 1; the column in characters */
};

/* Where node N starts. */
struct rd_yaml_pos rd_yaml_pos(const yaml_node_t *n);

/* Report at POS, or at node N. Never fails: out of memory is noted. */
void rd_yaml_report(struct rd_yaml *y, enum rd_diag_severity sev, struct rd_yaml_pos pos,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void rd_yaml_error(struct rd_yaml *y, const yaml_node_t *n, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* ---- values ------------------------------------------------------------- */

/* A plain empty value: nothing, "~" or "null" (also Null, NULL). */
bool rd_yaml_is_null(const yaml_node_t *n);

/* The text of scalar N, or NULL when N is not a scalar. Never reports. */
const char *rd_yaml_str(const yaml_node_t *n);

/* What N is, for a message: "an empty value", "a single value", "a list"
 * or "a mapping". */
const char *rd_yaml_kind(const yaml_node_t *n);

/* Report "WHAT: expected EXPECTED, not KIND" at N. Returns false. */
bool rd_yaml_expected(struct rd_yaml *y, const yaml_node_t *n, const char *what,
                      const char *expected);

/* The text of N when it is a single value that is not empty and holds no
 * NUL character; else NULL, reported ("WHAT: expected a value, not an
 * empty value", "...: expected a single value, not a list", "WHAT: a NUL
 * character is not allowed"). Borrowed from Y. */
const char *rd_yaml_text(struct rd_yaml *y, const yaml_node_t *n, const char *what);

/* One of the N_NAMES words at NAMES: true and its index in *OUT, or false
 * after "WHAT: unknown value 'V'; did you mean 'W'?" or "WHAT: unknown
 * value 'V': use 'a', 'b' or 'c'". */
bool rd_yaml_enum(struct rd_yaml *y, const yaml_node_t *n, const char *what,
                  const char *const *names, size_t n_names, int *out);

/* A duration as routing.md writes it (rd_duration_parse: "30d"): true and
 * the seconds in *OUT, or false after "WHAT: bad duration 'V': use ...". */
bool rd_yaml_duration(struct rd_yaml *y, const yaml_node_t *n, const char *what, int64_t *out);

/* ---- lists -------------------------------------------------------------- */

/* The number of items of list N (0 when N is not a list). */
size_t rd_yaml_count(const yaml_node_t *n);

/* Item I of list N, or NULL. Borrowed. */
yaml_node_t *rd_yaml_item(struct rd_yaml *y, const yaml_node_t *n, size_t i);

/* ---- mappings ----------------------------------------------------------- */

struct rd_yaml_pair {
        const char *key; /* the key's text */
        yaml_node_t *k, *v;
};

/* The pairs of mapping MAP in file order, less those whose key is not a
 * single value ("a key must be a single value, not a list") or repeats an
 * earlier key ("duplicate key 'K' (first at line L)"): both reported. A
 * new array of *N pairs (free it), or NULL when there are none (or memory
 * ran out: noted). MAP must be a mapping. */
struct rd_yaml_pair *rd_yaml_pairs(struct rd_yaml *y, const yaml_node_t *map, size_t *n);

/* Look the keys of MAP up in KEYS (N_KEYS of them): VALUES[i] and, when
 * not NULL, KEYNODES[i] receive the value and key nodes of KEYS[i] (NULL
 * when absent). Repeated keys and keys that are not single values as
 * rd_yaml_pairs; an unknown key is an error: "unknown key 'K'; did you
 * mean 'X'?", or without a near one "unknown key 'K'; the known keys are
 * a, b, c". Returns false, after "WHAT: expected a mapping (a, b, c), not
 * KIND", when MAP is not a mapping. */
bool rd_yaml_fields(struct rd_yaml *y, const yaml_node_t *map, const char *what,
                    const char *const *keys, size_t n_keys, yaml_node_t **keynodes,
                    yaml_node_t **values);

/* ---- "did you mean" ----------------------------------------------------- */

/* The closest candidate to a word: fill with rd_suggest_try, read best. */
struct rd_suggest {
        const char *best; /* NULL: none within RD_SUGGEST_MAX */
        size_t dist;
};

/* Consider CAND (may be NULL or empty: ignored) for WORD: kept when it is
 * another word at most RD_SUGGEST_MAX edits away (insert, delete, replace,
 * swap two neighbours) and closer than the best so far. */
void rd_suggest_try(struct rd_suggest *s, const char *word, const char *cand);

/* The closest of the N words at CANDS to WORD, or NULL. */
const char *rd_suggest(const char *word, const char *const *cands, size_t n);

#endif
