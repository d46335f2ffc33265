/* train_fixture: the training run test_train and test_cuda start from: a
 * temp folder per test (dir) and a small synthetic classification config (c)
 * that learns in about a second, with set() to change one option of it.
 * train_setup/train_teardown are the Check fixture. */
#ifndef KESTREL_TRAIN_FIXTURE_H
#define KESTREL_TRAIN_FIXTURE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "../trainer/train.h"

static char dir[64];
static train_config c;
static kerror err;

/* Sets one option ("key=value") of c; a rejected one fails the test. */
static inline void set(const char *kv)
{
    ck_assert_msg(train_config_set_kv(&c, kv, &err) == KE_OK, "%s: %s", kv, err.msg);
}

/* out = the fixture's directory / name. */
static inline void path_in_dir(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static inline void train_setup(void)
{
    kerror_clear(&err);
    snprintf(dir, sizeof dir, "/tmp/kestrel-train-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    train_config_defaults(&c);
    set("data=synthetic-classification");
    set("synthetic_samples=1200");
    set("synthetic_features=8");
    set("synthetic_classes=3");
    set("hidden=32");
    set("epochs=5");
    set("batch_size=32");
    set("lr=0.01");
}

static inline void train_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

#endif
