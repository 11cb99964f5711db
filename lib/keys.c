#include "keys.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

bool rd_key_valid(const char *s)
{
        uint8_t raw[32];
        bool ok = s && strlen(s) == RD_KEY_Z85_LEN && zmq_z85_decode(raw, s) != NULL;
        explicit_bzero(raw, sizeof raw);
        return ok;
}

int rd_secret_file_read(const char *path, const char *what, char *buf, size_t size, unsigned *mode,
                        char *errbuf, size_t errsize)
{
        struct stat sb;
        ssize_t n;
        size_t len = 0, max = size - 1 < RD_KEY_FILE_MAX ? size - 1 : RD_KEY_FILE_MAX;
        int fd, r = 0;

        /* O_NONBLOCK: a FIFO must not hang the open; refused just below */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = -errno;
                snprintf(errbuf, errsize, "cannot read the %s %s: %s", what, path, strerror(-r));
                return r;
        }
        if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
                close(fd);
                snprintf(errbuf, errsize, "the %s %s is not a regular file", what, path);
                return -EINVAL;
        }
        while (len < max && (n = read(fd, buf + len, max - len)) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                len += (size_t)n;
        }
        close(fd);
        buf[len] = '\0';
        if (r < 0) {
                snprintf(errbuf, errsize, "cannot read the %s %s: %s", what, path, strerror(-r));
                return r;
        }
        if (mode)
                *mode = (unsigned)(sb.st_mode & 07777);
        return 0;
}

int rd_key_read_file(const char *path, char out[RD_KEY_Z85_LEN + 1], unsigned *mode, char *errbuf,
                     size_t errsize)
{
        char buf[RD_KEY_FILE_MAX + 1];
        char *p, *end;
        unsigned m;
        int r = rd_secret_file_read(path, "key file", buf, sizeof buf, &m, errbuf, errsize);

        if (r < 0)
                goto out;
        for (p = buf; *p && isspace((unsigned char)*p); p++)
                ;
        for (end = p + strlen(p); end > p && isspace((unsigned char)end[-1]); end--)
                ;
        *end = '\0';
        if (!rd_key_valid(p)) {
                r = -EINVAL;
                snprintf(errbuf, errsize,
                         "the key file %s must hold one Z85 key of %d characters (as "
                         "`referralctl keygen` writes it)%s",
                         path, RD_KEY_Z85_LEN,
                         strlen(p) == RD_KEY_Z85_LEN ? "; this one is not valid Z85" : "");
                goto out;
        }
        memcpy(out, p, RD_KEY_Z85_LEN + 1);
        if (mode)
                *mode = m;
out:
        explicit_bzero(buf, sizeof buf);
        return r;
}

int rd_key_from_arg(const char *value, char out[RD_KEY_Z85_LEN + 1], char *errbuf, size_t errsize)
{
        if (rd_key_valid(value)) {
                memcpy(out, value, RD_KEY_Z85_LEN + 1);
                return 0;
        }
        if (value && value[0] == '@' && value[1])
                return rd_key_read_file(value + 1, out, NULL, errbuf, errsize);
        snprintf(errbuf, errsize,
                 "a key must be 40 Z85 characters (as `referralctl keygen` writes it), or "
                 "@FILE for a file that holds one");
        return -EINVAL;
}
