/* keys.h: CURVE keys as referrald's files and options hold them: 40 Z85
 * characters (libzmq's zmq_z85_decode says whether they decode). One
 * reader for the daemon's secret key, referralctl's key files and every
 * public key in a config or on a command line. */
#ifndef RD_KEYS_H
#define RD_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define RD_KEY_Z85_LEN 40
#define RD_KEY_FILE_MAX 4096 /* bytes read from a key file at most */

/* true if S is exactly one CURVE key: 40 Z85 characters that decode. */
bool rd_key_valid(const char *s);

/* Read the key file at PATH: after surrounding white space, exactly one
 * key. A path that is not a regular file is refused without blocking on
 * it. Returns 0 with the key in OUT (41 bytes, NUL-terminated) and, when
 * MODE is not NULL, the file's permission bits in *MODE (for a warning
 * when a secret key is readable by others); or a negative errno with a
 * sentence naming PATH in ERRBUF. Every buffer that held the file's bytes
 * is wiped before return; the caller wipes OUT when it is done with a
 * secret key (explicit_bzero). */
int rd_key_read_file(const char *path, char out[RD_KEY_Z85_LEN + 1], unsigned *mode, char *errbuf,
                     size_t errsize);

/* Read the small secret file at PATH (a key file, a password file) into
 * BUF (SIZE bytes; at most RD_KEY_FILE_MAX are read), NUL-terminated as it
 * is. A path that is not a regular file is refused without blocking on it.
 * Returns 0 and, when MODE is not NULL, the file's permission bits in
 * *MODE; or a negative errno with a sentence that names the WHAT ("key
 * file") PATH in ERRBUF. The caller wipes BUF when it is done with it. */
int rd_secret_file_read(const char *path, const char *what, char *buf, size_t size, unsigned *mode,
                        char *errbuf, size_t errsize);

/* A key given on a command line or in the environment: the key itself
 * when VALUE is one (whatever its first character: '@' is a Z85
 * character), else "@FILE" for a key file. 0 and the key in OUT, or a
 * negative errno with a sentence in ERRBUF. */
int rd_key_from_arg(const char *value, char out[RD_KEY_Z85_LEN + 1], char *errbuf, size_t errsize);

#endif
