#include "auth.h"
#include "keys.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93 /* a draft option in 4.3 that Debian's libzmq honours */
#endif

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define FAIL_LOG_INTERVAL_MS 1000

struct rd_auth {
        void *zap;
        char secret[41]; /* Z85 */
        struct rd_client *clients;
        size_t n_clients;
        int64_t refused;        /* connections refused so far */
        int64_t refused_logged; /* when the last line was written */
};

static int read_key(const char *path, char key[41], char *errbuf, size_t errsize)
{
        char err[480];
        int r = rd_key_read_file(path, key, NULL, err, sizeof err);
        if (r < 0)
                snprintf(errbuf, errsize, "the secret key: %s", err);
        return r;
}

int rd_auth_check_key(const char *path, char *errbuf, size_t errsize)
{
        char key[41];
        int r = read_key(path, key, errbuf, errsize);
        explicit_bzero(key, sizeof key);
        return r;
}

int rd_auth_new(void *zctx, const struct rd_config *config, struct rd_auth **out, char *errbuf,
                size_t errsize)
{
        struct rd_auth *a = calloc(1, sizeof *a);
        int r, zero = 0;

        if (!a)
                return -ENOMEM;
        r = read_key(config->secret_key_file, a->secret, errbuf, errsize);
        if (r < 0)
                goto fail;
        r = rd_auth_set_clients(a, config->clients, config->n_clients);
        if (r < 0)
                goto fail;
        a->zap = zmq_socket(zctx, ZMQ_REP);
        if (!a->zap) {
                r = -errno;
                goto fail;
        }
        zmq_setsockopt(a->zap, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_bind(a->zap, ZAP_ENDPOINT) < 0) {
                r = -errno;
                snprintf(errbuf, errsize, "cannot bind the ZAP handler: %s", zmq_strerror(-r));
                goto fail;
        }
        *out = a;
        return 0;
fail:
        rd_auth_free(a);
        return r;
}

void rd_auth_free(struct rd_auth *a)
{
        if (!a)
                return;
        if (a->zap)
                zmq_close(a->zap);
        free(a->clients);
        explicit_bzero(a->secret, sizeof a->secret);
        free(a);
}

int rd_auth_server_socket(struct rd_auth *a, void *sock, const char *domain)
{
        int one = 1;
        if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) < 0 ||
            zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, a->secret, 40) < 0 ||
            zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) < 0 ||
            zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) < 0)
                return -errno;
        return 0;
}

void *rd_auth_zap_socket(struct rd_auth *a)
{
        return a->zap;
}

struct rd_client *rd_auth_copy_clients(const struct rd_client *clients, size_t n)
{
        struct rd_client *copy = calloc(n ? n : 1, sizeof *copy);
        if (copy && n)
                memcpy(copy, clients, n * sizeof *copy);
        return copy;
}

void rd_auth_swap_clients(struct rd_auth *a, struct rd_client *copy, size_t n)
{
        free(a->clients);
        a->clients = copy;
        a->n_clients = n;
}

int rd_auth_set_clients(struct rd_auth *a, const struct rd_client *clients, size_t n)
{
        struct rd_client *copy = rd_auth_copy_clients(clients, n);
        if (!copy)
                return -ENOMEM;
        rd_auth_swap_clients(a, copy, n);
        return 0;
}

const struct rd_client *rd_auth_lookup(const struct rd_auth *a, const char *id)
{
        if (!a || !id)
                return NULL;
        for (size_t i = 0; i < a->n_clients; i++)
                if (strcmp(a->clients[i].id, id) == 0)
                        return &a->clients[i];
        return NULL;
}

const char *rd_auth_user(const struct rd_auth *a, const char *user_id, const char *key)
{
        const struct rd_client *c = rd_auth_lookup(a, user_id);

        if (!c || !key || strcmp(c->public_key, key) != 0)
                return "";
        return user_id;
}

static const struct rd_client *by_key(const struct rd_auth *a, const char *z85)
{
        for (size_t i = 0; i < a->n_clients; i++)
                if (strcmp(a->clients[i].public_key, z85) == 0)
                        return &a->clients[i];
        return NULL;
}

/* Copy frame I of the ZAP request into BUF as a string. */
static void frame_str(zmq_msg_t *f, char *buf, size_t size)
{
        size_t n = zmq_msg_size(f) < size - 1 ? zmq_msg_size(f) : size - 1;
        memcpy(buf, zmq_msg_data(f), n);
        buf[n] = '\0';
}

static void refused(struct rd_auth *a, const char *address, const char *domain, const char *why)
{
        int64_t t = rd_mono_ms();
        a->refused++;
        if (t - a->refused_logged < FAIL_LOG_INTERVAL_MS)
                return;
        a->refused_logged = t;
        rd_log(LOG_WARNING, RD_MSG_AUTH_REFUSED,
               "connection from %s to %s refused: %s (%lld refused so far)", address,
               strcmp(domain, RD_ZAP_DOMAIN_EVENTS) == 0 ? "the events socket" : "the intake", why,
               (long long)a->refused);
}

/* The metadata frame of a ZAP reply: the property RD_ZAP_KEY (the client's
 * public key, Z85) in ZMTP's form (a byte of name length, the name, four
 * bytes of value length, the value), or nothing when KEY is empty. libzmq
 * hands it on with every message of the connection (zmq_msg_gets). */
static void send_key_metadata(void *zap, const char *key)
{
        unsigned char meta[1 + sizeof RD_ZAP_KEY + 4 + 40];
        size_t name = strlen(RD_ZAP_KEY), len = strlen(key), n = 0;

        if (len == 0 || len > 40) {
                zmq_send(zap, "", 0, 0);
                return;
        }
        meta[n++] = (unsigned char)name;
        memcpy(meta + n, RD_ZAP_KEY, name);
        n += name;
        meta[n++] = 0;
        meta[n++] = 0;
        meta[n++] = 0;
        meta[n++] = (unsigned char)len;
        memcpy(meta + n, key, len);
        zmq_send(zap, meta, n + len, 0);
}

/* RFC 27 (ZAP): version, request id, domain, address, identity, mechanism,
 * credentials; answer version, request id, status code, status text,
 * user id, metadata. */
int rd_auth_handle(struct rd_auth *a)
{
        zmq_msg_t f[8];
        int n = 0, more = 1;
        char version[8] = "", domain[64] = "", address[128] = "", mechanism[16] = "";
        char z85[41] = "";
        const struct rd_client *c = NULL;
        const char *code = "400", *text = "not allowed", *user = "";

        while (more) {
                zmq_msg_t part;
                zmq_msg_init(&part);
                if (zmq_msg_recv(&part, a->zap, ZMQ_DONTWAIT) < 0) {
                        zmq_msg_close(&part);
                        if (n == 0)
                                return 0;
                        break;
                }
                more = zmq_msg_more(&part);
                if (n < 8) {
                        zmq_msg_init(&f[n]);
                        zmq_msg_move(&f[n], &part);
                        n++;
                }
                zmq_msg_close(&part);
        }
        if (n >= 7) {
                frame_str(&f[0], version, sizeof version);
                frame_str(&f[2], domain, sizeof domain);
                frame_str(&f[3], address, sizeof address);
                frame_str(&f[5], mechanism, sizeof mechanism);
                if (strcmp(mechanism, "CURVE") == 0 && zmq_msg_size(&f[6]) == 32)
                        zmq_z85_encode(z85, zmq_msg_data(&f[6]), 32);
        }
        if (strcmp(version, "1.0") != 0 || n < 7) {
                text = "malformed ZAP request";
        } else if (strcmp(mechanism, "CURVE") != 0) {
                refused(a, address, domain, "CURVE is required");
                text = "CURVE is required";
        } else if (!(c = by_key(a, z85))) {
                refused(a, address, domain, "the public key is not listed in security.clients");
                text = "unknown key";
        } else if (strcmp(domain, RD_ZAP_DOMAIN_EVENTS) == 0 && c->role != RD_ROLE_MONITOR &&
                   c->role != RD_ROLE_COORDINATOR) {
                refused(a, address, domain, "only monitors and coordinators may subscribe");
                text = "role may not subscribe";
        } else if (strcmp(domain, RD_ZAP_DOMAIN_EVENTS) != 0 &&
                   strcmp(domain, RD_ZAP_DOMAIN_INTAKE) != 0) {
                text = "unknown domain";
        } else {
                code = "200";
                text = "OK";
                user = c->id;
        }
        /* the reply: version, request id (echoed), status, text, user, metadata */
        zmq_send(a->zap, "1.0", 3, ZMQ_SNDMORE);
        if (n >= 2)
                zmq_send(a->zap, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
        else
                zmq_send(a->zap, "", 0, ZMQ_SNDMORE);
        zmq_send(a->zap, code, 3, ZMQ_SNDMORE);
        zmq_send(a->zap, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(a->zap, user, strlen(user), ZMQ_SNDMORE);
        send_key_metadata(a->zap, *user ? z85 : "");
        for (int i = 0; i < n; i++)
                zmq_msg_close(&f[i]);
        return 1;
}

int rd_auth_loses_subscriber(const struct rd_auth *a, const struct rd_client *clients, size_t n)
{
        for (size_t i = 0; i < a->n_clients; i++) {
                const struct rd_client *old = &a->clients[i];
                bool kept = false;
                if (old->role != RD_ROLE_MONITOR && old->role != RD_ROLE_COORDINATOR)
                        continue;
                for (size_t j = 0; j < n && !kept; j++)
                        kept = strcmp(clients[j].id, old->id) == 0 &&
                               strcmp(clients[j].public_key, old->public_key) == 0 &&
                               clients[j].role == old->role;
                if (!kept)
                        return 1;
        }
        return 0;
}
