/* test_storage_keys: the workers' keys are in the history as their SHA-256
 * alone, on real files in a temp dir: a new worker's row, and a history of
 * schema version 12 (made here with this binary's migrations 001 to 012, as
 * kestrel 12 made it), whose plain keys migration 013 turns into hashes
 * with nothing of them left in the file, its kept lease still kept. Before
 * 013 whoever could read the history read the keys, with which they could
 * end a worker's trials. */
#define _GNU_SOURCE
#include <sys/stat.h>

#include "check_main.h"
#include "storage_fixture.h"

/* two keys as kestrel serve made them (32 hex digits), and their SHA-256 */
#define KEY_1 "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
#define KEY_1_SHA256 "a1bf4dc2c0cea821798c38e16fcc1667d6f0504afa821b181672035fc5967890"
#define KEY_2 "a5a5a5a5c3c3c3c39696969612345678"
#define KEY_2_SHA256 "e55aba3f24fbfd4d31b250f3886ee12e3018181f01d6ed13c48704c3123034fc"

/* Whether the bytes of text are anywhere in the file at path (a missing
 * file holds nothing). */
static int file_holds(const char *path, const char *text)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    struct stat sb;
    ck_assert_int_eq(fstat(fileno(f), &sb), 0);
    char *bytes = malloc((size_t)sb.st_size + 1);
    ck_assert_ptr_nonnull(bytes);
    size_t n = fread(bytes, 1, (size_t)sb.st_size, f);
    fclose(f);
    int found = memmem(bytes, n, text, strlen(text)) != NULL;
    free(bytes);
    return found;
}

static int history_holds(const char *text)
{
    char wal[200];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    return file_holds(db_path, text) || file_holds(wal, text);
}

START_TEST(a_new_workers_key_is_stored_as_its_hash)
{
    open_db();
    unsigned char digest[SHA256_BYTES];
    sha256(KEY_1, strlen(KEY_1), digest);
    int64_t w;
    ck_assert_int_eq(storage_worker_add(st, "h:1", "{\"slots\": 1}", digest, &w, &err), KE_OK);
    assert_sql("SELECT key_sha256 FROM workers", KEY_1_SHA256);
    assert_sql("SELECT count(*) FROM pragma_table_info('workers') WHERE name = 'key'", "0");
}
END_TEST

/* A version-12 history: a RUNNING study whose trial 0 runs on a lease of
 * worker 1 (KEY_1), a worker 2 with KEY_2 and no lease, and a worker 3
 * registered before 012 (no key). */
static void make_version_12_history(void)
{
    ck_assert_str_eq(storage_migrations_names[11], "012_kept_leases.sql");
    sqlite3 *db = old_history(12);
    static const char rows[] =
        "INSERT INTO studies (name, spec, spec_hash, metric, direction, state, created_at,"
        " updated_at) VALUES ('s', '{\"name\":\"s\"}', 'h', 'loss', 'minimize', 'RUNNING', 1, 1);"
        "INSERT INTO trials (study_id, number, state, started_at, worker, spec_hash, last_step,"
        " budget) VALUES (1, 0, 'RUNNING', 2, 'h:1', 'h', -1, 0);"
        "INSERT INTO workers (name, info, registered_at, key) VALUES"
        " ('h:1', '{\"host\":\"h\",\"slots\":1}', 1.5, '" KEY_1 "'),"
        " ('h:2', '{\"host\":\"h\",\"slots\":1}', 1.6, '" KEY_2 "'),"
        " ('h:3', '{\"host\":\"h\",\"slots\":1}', 1.7, NULL);"
        "INSERT INTO leases (worker_id, study_id, trial_number, started_at) VALUES (1, 1, 0, 2);";
    ck_assert_msg(sqlite3_exec(db, rows, NULL, NULL, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
}

START_TEST(version_12_keys_become_their_hashes)
{
    make_version_12_history();
    ck_assert(history_holds(KEY_1) && history_holds(KEY_2));
    open_db();
    ck_assert_int_ge(storage_schema_version(st), 13);
    assert_sql("SELECT group_concat(coalesce(key_sha256, 'NULL'), ' ') FROM "
               "(SELECT key_sha256 FROM workers ORDER BY id)",
               KEY_1_SHA256 " " KEY_2_SHA256 " NULL");
    assert_sql("SELECT count(*) FROM pragma_table_info('workers') WHERE name = 'key'", "0");
    /* the plain keys gone from the file's pages and its log alike */
    ck_assert_msg(!history_holds(KEY_1) && !history_holds(KEY_2), "a plain key is in %s",
                  db_path);
    /* the lease is kept, its worker known by the hash */
    storage_lease *kept;
    int n;
    ck_assert_int_eq(storage_lease_kept(st, &kept, &n, &err), KE_OK);
    ck_assert_int_eq(n, 1);
    ck_assert(kept[0].worker_id == 1 && kept[0].number == 0);
    ck_assert_str_eq(kept[0].key_sha256, KEY_1_SHA256);
    storage_leases_free(kept, n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("storage_keys");
    TCase *tc = tcase_create("keys");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_new_workers_key_is_stored_as_its_hash);
    tcase_add_test(tc, version_12_keys_become_their_hashes);
    suite_add_tcase(s, tc);
    return check_run(s);
}
