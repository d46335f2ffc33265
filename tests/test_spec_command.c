/* test_spec_command: expanding a study's command for one trial
 * (spec_command_argv): placeholders in a shell string are quoted for /bin/sh,
 * in an argv array they are substituted as they are; both are run for real
 * and their output compared. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_main.h"
#include "../src/spec.h"
#include "../src/spec_command.h"

static const char *const ARGV_SPEC =
    "{\"name\": \"argv-test\", \"objective\": {\"metric\": \"m\"},"
    " \"space\": {"
    "  \"lr\": {\"type\": \"float\", \"low\": 0, \"high\": 1},"
    "  \"msg\": {\"type\": \"categorical\", \"choices\": [\"it's a \\\"b\\\" $HOME\", \"plain\"]},"
    "  \"mom\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"msg\": \"plain\"}},"
    "  \"n\": {\"type\": \"int\", \"low\": 1, \"high\": 9}"
    " },"
    " \"strategy\": {\"name\": \"random\"}, \"budget\": {\"max_trials\": 1},"
    " \"run\": {\"command\": %s}}";

static void parse_argv_spec(spec_study *s, const char *command_json)
{
    char text[2048];
    kerror err;
    snprintf(text, sizeof text, ARGV_SPEC, command_json);
    ck_assert_int_eq(spec_parse(s, text, &err), KE_OK);
}

static void make_point(const spec_study *s, space_point *pt, const char *msg)
{
    kerror err;
    memset(pt, 0, sizeof *pt);
    ck_assert_int_eq(space_point_set(&s->space, pt, "lr", 0, 0.25, NULL, &err), KE_OK);
    ck_assert_int_eq(space_point_set(&s->space, pt, "msg", 1, 0, msg, &err), KE_OK);
    ck_assert_int_eq(space_point_set(&s->space, pt, "mom", 0, 0.5, NULL, &err), KE_OK);
    ck_assert_int_eq(space_point_set(&s->space, pt, "n", 0, 3, NULL, &err), KE_OK);
    space_point_resolve(&s->space, pt);
}

/* Runs argv (no PATH search) and returns what it wrote on stdout. */
static void run_capture(char **argv, char *out, size_t n)
{
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < n && (r = read(fd[0], out + len, n - 1 - len)) > 0) len += (size_t)r;
    out[len] = '\0';
    close(fd[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

START_TEST(test_argv_shell)
{
    spec_study s;
    space_point pt;
    kerror err;
    char **argv;
    parse_argv_spec(&s, "\"printf '%s|' {msg} {mom} {lr} n={n} t{trial} {study} {{x}}\"");
    make_point(&s, &pt, "it's a \"b\" $HOME");
    ck_assert_int_eq(spec_command_argv(&s, &pt, 7, &argv, &err), KE_OK);
    ck_assert_str_eq(argv[0], "/bin/sh");
    ck_assert_str_eq(argv[1], "-c");
    ck_assert_str_eq(argv[2], "printf '%s|' 'it'\\''s a \"b\" $HOME' '' '0.25' n='3' t'7' 'argv-test' {x}");
    ck_assert_ptr_null(argv[3]);
    char out[512];
    run_capture(argv, out, sizeof out);
    ck_assert_str_eq(out, "it's a \"b\" $HOME||0.25|n=3|t7|argv-test|{x}|");
    spec_argv_free(argv);

    make_point(&s, &pt, "plain");
    ck_assert_int_eq(spec_command_argv(&s, &pt, 0, &argv, &err), KE_OK);
    run_capture(argv, out, sizeof out);
    ck_assert_str_eq(out, "plain|0.5|0.25|n=3|t0|argv-test|{x}|");
    spec_argv_free(argv);
    spec_free(&s);
}
END_TEST

START_TEST(test_argv_array)
{
    spec_study s;
    space_point pt;
    kerror err;
    char **argv;
    parse_argv_spec(&s, "[\"/usr/bin/printf\", \"%s|\", \"--lr={lr}\", \"{msg}\", \"{mom}\","
                        " \"{trial}\", \"{study}\", \"{{lit}}\", \"{n}{n}\"]");
    make_point(&s, &pt, "it's a \"b\" $HOME");
    ck_assert_int_eq(spec_command_argv(&s, &pt, 12, &argv, &err), KE_OK);
    static const char *const want[] = {
        "/usr/bin/printf", "%s|", "--lr=0.25", "it's a \"b\" $HOME", "", "12", "argv-test", "{lit}", "33",
    };
    for (int i = 0; i < 9; i++) ck_assert_str_eq(argv[i], want[i]);
    ck_assert_ptr_null(argv[9]);
    if (access("/usr/bin/printf", X_OK) == 0) {
        char out[512];
        run_capture(argv, out, sizeof out);
        ck_assert_str_eq(out, "--lr=0.25|it's a \"b\" $HOME||12|argv-test|{lit}|33|");
    }
    spec_argv_free(argv);
    spec_free(&s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("spec_command");
    TCase *tc = tcase_create("argv");
    tcase_add_test(tc, test_argv_shell);
    tcase_add_test(tc, test_argv_array);
    suite_add_tcase(su, tc);
    return check_run(su);
}
