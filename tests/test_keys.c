/* test_keys.c: lib/keys, the one reader of CURVE keys in files and options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "keys.h"

static char folder[64];

static int setup(void **state)
{
        (void)state;
        snprintf(folder, sizeof folder, "/tmp/rd-keys-XXXXXX");
        return mkdtemp(folder) ? 0 : -1;
}

static int teardown(void **state)
{
        char cmd[128];
        (void)state;
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", folder);
        return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        chmod(path, mode);
}

/* A public key whose Z85 text begins with '@': about one in 85 does. */
static void key_beginning_with_at(char pub[41])
{
        char sec[41];
        for (int i = 0; i < 100000; i++) {
                assert_int_equal(zmq_curve_keypair(pub, sec), 0);
                if (pub[0] == '@')
                        return;
        }
        fail_msg("no key beginning with '@' in 100000 tries");
}

static void test_a_key_that_begins_with_at_is_taken_as_a_key_not_a_file(void **state)
{
        char pub[41], out[41], err[256];
        (void)state;
        key_beginning_with_at(pub);
        assert_true(rd_key_valid(pub));
        assert_int_equal(rd_key_from_arg(pub, out, err, sizeof err), 0);
        assert_string_equal(out, pub);
}

static void test_at_file_reads_the_key_from_the_file(void **state)
{
        char pub[41], sec[41], out[41], err[256], path[128], arg[130], text[64];
        (void)state;
        assert_int_equal(zmq_curve_keypair(pub, sec), 0);
        snprintf(path, sizeof path, "%s/server.pub", folder);
        snprintf(text, sizeof text, "  %s\n", pub);
        write_file(path, text, 0644);
        snprintf(arg, sizeof arg, "@%s", path);
        assert_int_equal(rd_key_from_arg(arg, out, err, sizeof err), 0);
        assert_string_equal(out, pub);
}

static void test_a_value_that_is_neither_is_refused_with_a_sentence(void **state)
{
        char out[41] = "", err[256] = "";
        (void)state;
        assert_int_equal(rd_key_from_arg("not-a-key", out, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "40 Z85 characters"));
        assert_null(strstr(err, "not-a-key")); /* a value is never quoted */
}

static void test_a_key_file_reports_its_mode_and_refuses_garbage(void **state)
{
        char pub[41], sec[41], out[41], err[256], path[128];
        unsigned mode = 0;
        (void)state;
        assert_int_equal(zmq_curve_keypair(pub, sec), 0);
        snprintf(path, sizeof path, "%s/client.key", folder);
        write_file(path, sec, 0640);
        assert_int_equal(rd_key_read_file(path, out, &mode, err, sizeof err), 0);
        assert_string_equal(out, sec);
        assert_int_equal(mode, 0640);
        write_file(path, "0123456789012345678901234567890123456789 and more", 0600);
        assert_int_equal(rd_key_read_file(path, out, NULL, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, path));
}

static void test_a_fifo_is_refused_at_once_instead_of_blocking(void **state)
{
        char out[41], err[256], path[128];
        (void)state;
        snprintf(path, sizeof path, "%s/fifo", folder);
        assert_int_equal(mkfifo(path, 0600), 0);
        /* no writer: a blocking open would hang this test */
        assert_int_equal(rd_key_read_file(path, out, NULL, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "not a regular file"));
}

static void test_a_missing_file_names_the_path_and_the_cause(void **state)
{
        char out[41], err[256];
        (void)state;
        assert_int_equal(rd_key_read_file("/nonexistent/k.key", out, NULL, err, sizeof err),
                         -ENOENT);
        assert_non_null(strstr(err, "/nonexistent/k.key"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_a_key_that_begins_with_at_is_taken_as_a_key_not_a_file),
                cmocka_unit_test(test_at_file_reads_the_key_from_the_file),
                cmocka_unit_test(test_a_value_that_is_neither_is_refused_with_a_sentence),
                cmocka_unit_test(test_a_key_file_reports_its_mode_and_refuses_garbage),
                cmocka_unit_test(test_a_fifo_is_refused_at_once_instead_of_blocking),
                cmocka_unit_test(test_a_missing_file_names_the_path_and_the_cause),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
