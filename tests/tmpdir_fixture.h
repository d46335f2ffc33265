/* tmpdir_fixture: a fresh folder per test for the loaders' tests
 * (test_dataset, test_csv), which write real files: tmpdir_setup makes it,
 * tmpdir_teardown removes it with what is in it (the Check fixture), and
 * tpath names a file in it. */
#ifndef KESTREL_TMPDIR_FIXTURE_H
#define KESTREL_TMPDIR_FIXTURE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[64];

static inline void tmpdir_setup(void)
{
    strcpy(tmpdir, "/tmp/kestrel-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static inline void tmpdir_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* tmpdir/name in one of 8 rotating buffers: copy a path that must outlive
 * 8 further calls. */
static inline const char *tpath(const char *name)
{
    static char buf[8][256];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 256, "%s/%s", tmpdir, name);
    return b;
}

#endif
