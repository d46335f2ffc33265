/* fleet_req: the checks of fleet_req.h. Invariant: every refusal is
 * KE_INVALID with the JSON path of the field (field.h's readers), and a
 * value handed out has the type and range the document gives it, so the
 * fleet reads it without a second look. */
#include "fleet_req.h"

#include <limits.h>
#include <string.h>

#include "field.h"

/* 1 when s is 1 to max bytes of printable ASCII without spaces: a host
 * or a job goes into the server's log and a trial's worker field
 * ("host:pid slurm:JOB"), where a newline forged a log line. */
static int printable_word(const char *s, size_t max)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~') return 0;
    return n > 0 && n <= max;
}

static int word_field(const json_t *req, const char *key, int required, size_t max,
                      const char **out, kerror *err)
{
    json_t *v;
    int rc = field_get(req, "", key, FIELD_STRING, required, &v, err);
    if (rc <= 0) return rc;
    if (!printable_word(json_string_value(v), max))
        return kerror_set(err, KE_INVALID, key, "expected 1 to %zu printable ASCII characters "
                          "without spaces", max);
    *out = json_string_value(v);
    return KE_OK;
}

/* gpus: device ids, each listed once (a trial is given one of its own). */
static int gpus_field(const json_t *req, const json_t **out, kerror *err)
{
    json_t *arr, *v;
    int rc = field_get(req, "", "gpus", FIELD_ARRAY, 0, &arr, err);
    if (rc <= 0) return rc;
    unsigned char seen[FLEET_REQ_GPU_MAX + 1] = {0};
    size_t i;
    json_array_foreach(arr, i, v) {
        char p[KERROR_PATH_MAX];
        field_join_index(p, "gpus", i);
        json_int_t id = json_integer_value(v);
        if (!json_is_integer(v) || id < 0 || id > FLEET_REQ_GPU_MAX)
            return kerror_set(err, KE_INVALID, p, "expected a device id from 0 to %d",
                              FLEET_REQ_GPU_MAX);
        if (seen[id]++) return kerror_set(err, KE_INVALID, p, "device %lld is listed twice",
                                          (long long)id);
    }
    *out = arr;
    return KE_OK;
}

static int labels_field(const json_t *req, const json_t **out, kerror *err)
{
    json_t *obj, *v;
    int rc = field_get(req, "", "labels", FIELD_OBJECT, 0, &obj, err);
    if (rc <= 0) return rc;
    const char *key;
    json_object_foreach(obj, key, v) {
        char p[KERROR_PATH_MAX];
        field_join(p, "labels", key);
        if (!json_is_string(v)) return kerror_set(err, KE_INVALID, p, "must be a string");
    }
    *out = obj;
    return KE_OK;
}

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

int fleet_req_register(const json_t *req, fleet_req_reg *out, kerror *err)
{
    static const char *const allowed[] = {"host", "pid", "slots", "gpus", "labels", "slurm_job",
                                          "lease", "gpus_free", NULL};
    memset(out, 0, sizeof *out);
    int rc = field_check_keys(req, "", allowed, NULL, NULL, err);
    if (rc == KE_OK) rc = word_field(req, "host", 1, FLEET_REQ_HOST_MAX, &out->host, err);
    if (rc == KE_OK) rc = field_get_int_in(req, "", "pid", 0, 1, INT_MAX, &out->pid, err);
    if (rc == KE_OK) rc = field_get_int_in(req, "", "slots", 1, 1, 4096, &out->slots, err);
    if (rc == KE_OK) rc = gpus_field(req, &out->gpus, err);
    if (rc == KE_OK) rc = labels_field(req, &out->labels, err);
    /* null: not in a Slurm job, as kestrel worker says it */
    if (rc == KE_OK && !json_is_null(json_object_get(req, "slurm_job")))
        rc = word_field(req, "slurm_job", 0, FLEET_REQ_JOB_MAX, &out->slurm_job, err);
    if (rc == KE_OK) rc = bool_field(req, "", "lease", 0, &out->lease, err);
    /* a worker claiming GPUs it did not register would be given trials
     * that need more devices than it can hand them */
    if (rc == KE_OK)
        rc = field_get_int_in(req, "", "gpus_free", 0, 0,
                              out->gpus ? (long long)json_array_size(out->gpus) : 0,
                              &out->gpus_free, err);
    return rc;
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
