/* curve.c: see curve.h. */
#include "curve.h"

#include "keys.h"
#include "options.h"
#include "print.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* Read one key from PATH into OUT (lib/keys). WHAT names the option in
 * messages; SECRET warns when others can read the file. 0, or -1 with the
 * reason printed. */
static int read_key_file(const char *path, const char *what, char out[RD_KEY_Z85_LEN + 1],
                         bool secret)
{
        char err[512];
        unsigned mode = 0;

        if (rd_key_read_file(path, out, &mode, err, sizeof err) < 0) {
                fault("%s: %s", what, err);
                return -1;
        }
        if (secret && (mode & 077))
                fprintf(stderr,
                        "warning: the secret key file %s can be read by others (mode %04o); "
                        "run: chmod 600 %s\n",
                        path, mode, path);
        return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);

        return n >= m && !strcmp(s + n - m, suffix);
}

/* The daemons' public keys of C->server_key_args into C->server_keys. 0,
 * or -1 (printed). */
static int read_server_keys(struct ctl *c)
{
        char err[512];

        for (size_t i = 0; i < c->server_key_args.n; i++) {
                /* by what the value is: '@' is also a Z85 character */
                if (rd_key_from_arg(c->server_key_args.v[i], c->server_keys[i], err, sizeof err) <
                    0) {
                        fault("--server-key: %s", err);
                        return -1;
                }
        }
        c->n_server_keys = c->server_key_args.n;
        return 0;
}

/* Whether a server key is this client's own public key (printed). */
static bool own_key_as_server_key(const struct ctl *c)
{
        for (size_t i = 0; i < c->n_server_keys; i++) {
                if (!strcmp(c->server_keys[i], c->public_key)) {
                        fault("--server-key %s is this client's own public key; give the "
                              "daemon's public key (the one that belongs to its "
                              "security.secret_key_file)",
                              c->server_key_args.v[i]);
                        return true;
                }
        }
        return false;
}

/* Load the keys once, from the options or the environment. Returns 1 when
 * CURVE is on, 0 when off, -1 after an error (printed; exit status 2). */
static int curve_setup(struct ctl *c)
{
        const char *env;

        if (c->curve_state == 1 || c->curve_state == -1)
                return c->curve_state == 1;
        if (c->curve_state == -2)
                return -1;
        c->curve_state = -2;
        if (!c->server_key_args.n &&
            env_list(c, "REFERRALD_SERVER_KEY", ENV_SERVER_KEY, &c->server_key_args) != 0)
                return -1;
        if (!c->key_file && (env = getenv("REFERRALD_KEY")) && *env)
                c->key_file = env;
        if (!c->server_key_args.n && !c->key_file) {
                c->curve_state = -1;
                return 0;
        }
        if (!c->server_key_args.n || !c->key_file) {
                fault("CURVE needs both the daemon's public key (--server-key or "
                      "$REFERRALD_SERVER_KEY) and this client's secret key file (--key or "
                      "$REFERRALD_KEY); only %s was given",
                      c->key_file ? "the secret key file" : "the server key");
                return -1;
        }
        if (!zmq_has("curve")) {
                fault("this libzmq was built without CURVE; cannot connect securely");
                return -1;
        }
        if (read_server_keys(c))
                return -1;
        if (has_suffix(c->key_file, ".pub")) {
                fault("--key %s: that looks like a public key file; --key needs this client's "
                      "secret key file (BASENAME.key from `%s keygen --out BASENAME`)",
                      c->key_file, PROG);
                return -1;
        }
        if (read_key_file(c->key_file, "--key", c->secret_key, true))
                return -1;
        if (zmq_curve_public(c->public_key, c->secret_key) != 0) {
                fault("--key %s: cannot derive the public key: %s", c->key_file,
                      zmq_strerror(zmq_errno()));
                return -1;
        }
        if (own_key_as_server_key(c))
                return -1;
        c->curve_state = 1;
        return 1;
}

int curve_apply(struct ctl *c, void *sock, size_t index, const struct opt_list *endpoints,
                const char *option)
{
        int r = curve_setup(c);
        const char *key;

        if (r <= 0)
                return r;
        if (c->n_server_keys > 1 && c->n_server_keys != endpoints->n) {
                fault("%zu server keys (--server-key or $REFERRALD_SERVER_KEY) for %zu endpoints "
                      "(%s): give one key for all the daemons, or one per endpoint, in the "
                      "order of the endpoints",
                      c->n_server_keys, endpoints->n, option);
                c->curve_state = -2;
                return -1;
        }
        key = c->server_keys[c->n_server_keys > 1 ? index : 0];
        if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, key, RD_KEY_Z85_LEN) != 0 ||
            zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, c->public_key, RD_KEY_Z85_LEN) != 0 ||
            zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, c->secret_key, RD_KEY_Z85_LEN) != 0) {
                fault("cannot set the CURVE keys: %s", zmq_strerror(zmq_errno()));
                return -1;
        }
        return 0;
}

bool explain_handshake_failure(struct ctl *c, const char *endpoint, uint16_t event, uint32_t value,
                               bool events_socket)
{
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
                if (events_socket)
                        snprintf(c->refusal, sizeof c->refusal,
                                 "the daemon at %s refused the subscription (ZAP status %u): "
                                 "only monitors and coordinators listed in its security.clients "
                                 "may subscribe; partners and connectors follow their referrals "
                                 "with `events` or `list`",
                                 endpoint, (unsigned)value);
                else
                        snprintf(c->refusal, sizeof c->refusal,
                                 "the daemon at %s refused this client (ZAP status %u): the "
                                 "public key %s (derived from --key) is not listed in its "
                                 "security.clients",
                                 endpoint, (unsigned)value,
                                 c->curve_state == 1 ? c->public_key : "?");
                return true;
        }
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
            value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
                snprintf(c->refusal, sizeof c->refusal,
                         c->curve_state == 1
                                 ? "the daemon at %s does not use CURVE (no security block in "
                                   "its config?); leave out --server-key and --key"
                                 : "the daemon at %s requires CURVE: give --server-key (its "
                                   "public key) and --key (this client's secret key file), or "
                                   "set $REFERRALD_SERVER_KEY and $REFERRALD_KEY",
                         endpoint);
                return true;
        }
        snprintf(c->refusal, sizeof c->refusal,
                 "the CURVE handshake with %s failed (%s 0x%x): check that --server-key is the "
                 "daemon's public key",
                 endpoint,
                 event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error" : "no detail",
                 (unsigned)value);
        return false; /* may be transient; the timeout message says the rest */
}
