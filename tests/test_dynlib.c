/* test_dynlib: a library loaded on demand fills its caller's table with
 * functions that work; a library that is not there, or lacks a function,
 * is an error that names the library, who needs it and the package to
 * install (what `kestrel serve` or `kestrel worker` says on a machine
 * without libmicrohttpd or libcurl). */
#include <check.h>
#include <dlfcn.h>
#include <stddef.h>
#include <string.h>

#include "check_main.h"
#include "../src/dynlib.h"

typedef struct {
    double (*cos)(double);
    double (*sqrt)(double);
} math_api;

static const dynlib_sym math_syms[] = {
    {"cos", offsetof(math_api, cos)},
    {"sqrt", offsetof(math_api, sqrt)},
};

START_TEST(loads_a_library_and_its_functions)
{
    void *dl = NULL;
    math_api m = {0};
    kerror err;
    kerror_clear(&err);
    ck_assert_int_eq(dynlib_load(&dl, "libm.so.6", "libm, which a test needs", "libc6", math_syms,
                                 2, &m, &err), KE_OK);
    ck_assert_ptr_nonnull(dl);
    ck_assert(m.cos(0.0) == 1.0);
    ck_assert(m.sqrt(16.0) == 4.0);
    dlclose(dl);
}
END_TEST

START_TEST(a_missing_library_names_its_package)
{
    void *dl = NULL;
    math_api m = {0};
    kerror err;
    kerror_clear(&err);
    ck_assert_int_eq(dynlib_load(&dl, "libkestrel-no-such.so.0", "libnothing, which a test needs",
                                 "libnothing0", math_syms, 2, &m, &err), KE_IO);
    ck_assert_ptr_null(dl);
    ck_assert_ptr_null(m.cos);
    ck_assert_msg(strstr(err.msg, "cannot load libnothing, which a test needs: ") == err.msg, "%s",
                  err.msg);
    ck_assert_msg(strstr(err.msg, "libkestrel-no-such.so.0"), "%s", err.msg);   /* dlerror's */
    ck_assert_msg(strstr(err.msg, "(Debian's package libnothing0)"), "%s", err.msg);
}
END_TEST

START_TEST(a_missing_function_is_named)
{
    static const dynlib_sym syms[] = {
        {"cos", offsetof(math_api, cos)},
        {"kestrel_no_such_function", offsetof(math_api, sqrt)},
    };
    void *dl = NULL;
    math_api m = {0};
    kerror err;
    kerror_clear(&err);
    ck_assert_int_eq(dynlib_load(&dl, "libm.so.6", "libm", "libc6", syms, 2, &m, &err), KE_IO);
    ck_assert_str_eq(err.msg, "libm (libm.so.6) lacks kestrel_no_such_function");
    ck_assert_ptr_nonnull(dl);   /* the caller's to close, as on success */
    dlclose(dl);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("dynlib");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, loads_a_library_and_its_functions);
    tcase_add_test(tc, a_missing_library_names_its_package);
    tcase_add_test(tc, a_missing_function_is_named);
    suite_add_tcase(su, tc);
    return check_run(su);
}
