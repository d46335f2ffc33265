/* fleet_req: the checks of fleet_req.h. Invariant: every refusal is
 * KE_INVALID with the JSON path of the field (field.h's readers), and a
 * value handed out has the type and range the document gives it, so the
 * fleet reads it without a second look. */
#include "fleet_req.h"

#include <limits.h>

#include "field.h"

static int bool_field(const json_t *obj, const char *path, const char *key, int required,
                      int *out, kerror *err)
{
    json_t *v;
    int rc = field_get(obj, path, key, FIELD_BOOL, required, &v, err);
    if (rc > 0) *out = json_is_true(v);
    return rc < 0 ? rc : KE_OK;
}

static int key_field(const json_t *req, kerror *err)
{
    json_t *v;
    int rc = field_get(req, "", "key", FIELD_STRING, 1, &v, err);
    return rc < 0 ? rc : KE_OK;
}

int fleet_req_lease(const json_t *req, long long *gpus_free, kerror *err)
{
    *gpus_free = 0;
    int rc = key_field(req, err);
    return rc == KE_OK ? field_get_int_in(req, "", "gpus_free", 0, 0, INT_MAX, gpus_free, err) : rc;
}

int fleet_req_lease_call(const json_t *req, kerror *err)
{
    long long worker;
    json_t *lines, *v;
    int rc = field_get_int_in(req, "", "worker", 1, 1, LLONG_MAX, &worker, err);
    if (rc == KE_OK) rc = key_field(req, err);
    if (rc == KE_OK) rc = field_get(req, "", "lines", FIELD_ARRAY, 0, &lines, err);
    if (rc <= 0) return rc;
    size_t i;
    json_array_foreach(lines, i, v) {
        char p[KERROR_PATH_MAX];
        field_join_index(p, "lines", i);
        if (!json_is_string(v)) return kerror_set(err, KE_INVALID, p, "must be a string");
    }
    return KE_OK;
}

int fleet_req_exit(const json_t *ex, runner_event *ev, kerror *err)
{
    static const char *const allowed[] = {"exited", "exit_code", "signaled", "signal", "timed_out",
                                          "terminated", "exec_failed", "seconds", NULL};
    *ev = (runner_event){.kind = RUNNER_EXIT};
    long long code = 0, sig = 0;
    int rc = field_check_keys(ex, "exit", allowed, NULL, NULL, err);
    if (rc == KE_OK) rc = bool_field(ex, "exit", "exited", 0, &ev->exited, err);
    if (rc == KE_OK) rc = bool_field(ex, "exit", "signaled", 0, &ev->signaled, err);
    if (rc == KE_OK && ev->exited == ev->signaled)
        rc = kerror_set(err, KE_INVALID, ev->exited ? "exit.signaled" : "exit.exited",
                        "exactly one of exit.exited and exit.signaled must be true");
    /* the code of an exit, the number of a signal: the one that says how it
     * ended is required (kestrel worker sends the other as 0) */
    if (rc == KE_OK) rc = field_get_int_in(ex, "exit", "exit_code", ev->exited, 0, 255, &code, err);
    if (rc == KE_OK)
        rc = field_get_int_in(ex, "exit", "signal", ev->signaled, ev->signaled, 64, &sig, err);
    if (rc == KE_OK) rc = bool_field(ex, "exit", "timed_out", 0, &ev->timed_out, err);
    if (rc == KE_OK) rc = bool_field(ex, "exit", "terminated", 0, &ev->terminated, err);
    if (rc == KE_OK) rc = bool_field(ex, "exit", "exec_failed", 0, &ev->exec_failed, err);
    if (rc == KE_OK) rc = field_get_nonneg(ex, "exit", "seconds", 0, &ev->seconds, err);
    ev->exit_code = (int)code;
    ev->signal = (int)sig;
    return rc;
}
