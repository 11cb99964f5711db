/* cmd_keygen.c: `keygen [--out BASENAME [--force]]`: a CURVE key pair
 * (protocol.md, "Security"): BASENAME.key (the secret, 0600) and
 * BASENAME.pub, or both on stdout. */
#include "commands.h"
#include "options.h"
#include "print.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

enum { OPT_OUT = 360, OPT_FORCE };

/* Write TEXT to PATH with MODE (whatever the umask), through a temporary
 * file in the same folder: renamed over PATH with FORCE, else linked,
 * which fails when PATH exists. 0, or -1 (printed). */
static int write_key_file(const char *path, const char *text, mode_t mode, bool force)
{
        size_t len = strlen(path) + 16, n = strlen(text);
        char *tmp = malloc(len);
        int fd, r = -1;

        if (!tmp) {
                fault("out of memory");
                return -1;
        }
        snprintf(tmp, len, "%s.tmpXXXXXX", path);
        fd = mkstemp(tmp); /* 0600 */
        if (fd < 0) {
                fault("cannot create %s: %s", tmp, strerror(errno));
                free(tmp);
                return -1;
        }
        if (fchmod(fd, mode) != 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) != 0) {
                fault("cannot write %s: %s", tmp, strerror(errno));
                close(fd);
                goto out;
        }
        if (close(fd) != 0) {
                fault("cannot write %s: %s", tmp, strerror(errno));
                goto out;
        }
        if (force ? rename(tmp, path) : link(tmp, path)) {
                if (errno == EEXIST)
                        fault("%s exists; not overwritten (use --force to replace it)", path);
                else
                        fault("cannot create %s: %s", path, strerror(errno));
                goto out;
        }
        r = 0;
out:
        if (r != 0 || !force)
                unlink(tmp);
        free(tmp);
        return r;
}

/* Parse keygen's options: *BASE (NULL: print the pair), *FORCE. true to
 * go on, or false with the exit status in *STATUS (printed). */
static bool keygen_options(struct ctl *c, int argc, char **argv, const char **base, bool *force,
                           int *status)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"out", required_argument, NULL, OPT_OUT},
                                             {"force", no_argument, NULL, OPT_FORCE},
                                             {0}};
        const struct opt_value values[] = {
                {OPT_OUT, .text = base}, {OPT_FORCE, .flag = force}, {0}};

        if (!parse_options(c, argc, argv, GLOBAL_SHORT, opts, values, status))
                return false;
        *status = EXIT_USAGE;
        if (optind != argc) {
                usage_error(argv[0], "unexpected argument '%s' (the files are named with --out)",
                            argv[optind]);
                return false;
        }
        if (*base && !**base) {
                usage_error(argv[0], "--out needs a BASENAME, e.g. --out ocmw-genk");
                return false;
        }
        if (*force && !*base) {
                usage_error(argv[0], "--force is for --out");
                return false;
        }
        return true;
}

/* Write the pair PUB, SEC to BASE.key (0600) and BASE.pub (0644): both or
 * neither; an existing file only with FORCE. Prints the public key (with
 * --json the pair's files too). 0 or the exit status (printed). */
static int write_key_pair(const struct ctl *c, const char *base, bool force, const char *pub,
                          const char *sec)
{
        char *key_path = NULL, *pub_path = NULL, text[64];
        int r = EXIT_FAULT;

        if (asprintf(&key_path, "%s.key", base) < 0 || asprintf(&pub_path, "%s.pub", base) < 0) {
                fault("out of memory");
                goto out;
        }
        if (!force) { /* refuse before writing either file */
                struct stat sb;
                const char *exists = lstat(key_path, &sb) == 0   ? key_path
                                     : lstat(pub_path, &sb) == 0 ? pub_path
                                                                 : NULL;
                if (exists) {
                        fault("%s exists; not overwritten (use --force to replace it)", exists);
                        goto out;
                }
        }
        snprintf(text, sizeof text, "%s\n", sec);
        if (write_key_file(key_path, text, 0600, force) != 0)
                goto out;
        snprintf(text, sizeof text, "%s\n", pub);
        if (write_key_file(pub_path, text, 0644, force) != 0) {
                if (!force)
                        unlink(key_path); /* no secret without its public half */
                goto out;
        }
        if (c->json) {
                json_t *o = json_pack("{s:s, s:s, s:s}", "public_key", pub, "secret_key_file",
                                      key_path, "public_key_file", pub_path);
                print_json_line(o);
                json_decref(o);
        } else {
                printf("%s\n", pub);
        }
        r = EXIT_OK;
out:
        explicit_bzero(text, sizeof text);
        free(key_path);
        free(pub_path);
        return r;
}

int cmd_keygen(struct ctl *c, int argc, char **argv)
{
        const char *base = NULL;
        bool force = false;
        char pub[41], sec[41];
        int r;

        if (!keygen_options(c, argc, argv, &base, &force, &r))
                return r;
        if (zmq_curve_keypair(pub, sec) != 0) {
                fault("cannot make a CURVE key pair: %s%s", zmq_strerror(zmq_errno()),
                      zmq_errno() == ENOTSUP ? " (this libzmq was built without CURVE)" : "");
                return EXIT_FAULT;
        }
        if (base) {
                r = write_key_pair(c, base, force, pub, sec);
        } else if (c->json) {
                json_t *o = json_pack("{s:s, s:s}", "public_key", pub, "secret_key", sec);
                print_json_line(o);
                json_decref(o);
                r = EXIT_OK;
        } else {
                printf("public: %s\nsecret: %s\n", pub, sec);
                r = EXIT_OK;
        }
        explicit_bzero(sec, sizeof sec);
        return r;
}
