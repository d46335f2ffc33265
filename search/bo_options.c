/* bo_options: the "gp" strategy's options; see bo_options.h and bo.h for
 * their list. Invariant: what bo_options_parse fills in is every default
 * with each option the spec gives checked and put in its place, so the
 * strategy reads no option from the JSON itself. */
#include "bo_options.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define SUBSET_DEFAULT 200  /* model rows beyond which a subset is fitted */
#define SUBSET_MIN 20       /* least non-zero "subset" option */
#define SUBSET_MAX 1000000  /* largest "subset" option */
#define PRIOR_SD_DEFAULT 1.0 /* "prior_mean" */
/* "prior_mean"'s bound: 1.5 already lost benchmarks (docs/gp.md); far beyond
 * 10 the standardized values all lie near -prior_mean, the model is flat, and
 * at 1e300 they are no longer finite numbers of any meaning. */
#define PRIOR_SD_MAX 10.0
/* "ucb_beta" and "xi"'s bounds, in standard deviations of the (warped)
 * values: beyond 100 the mean no longer counts beside the deviation, and an
 * improvement 10 deviations past the best is as good as impossible
 * (Phi(-10) = 8e-24, EI zero but for its log); at 1e300 the scores are -inf
 * or NaN everywhere and the suggestions arbitrary. */
#define UCB_BETA_MAX 100.0
#define XI_MAX 10.0
#define INPUT_WARP_DEFAULT 0 /* "input_warp" */
#define WARP_SHIFT_DEFAULT 1 /* "warp_shift" */
#define EXPLOIT_LAST_DEFAULT 0.2 /* "exploit_last" */

static void opt_path(char *path, const char *key)
{
    snprintf(path, KERROR_PATH_MAX, "strategy.options.%s", key);
}

static int opt_int(const json_t *o, const char *key, long lo, long hi, int *out, kerror *err)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    if (!v) return KE_OK;
    char path[KERROR_PATH_MAX];
    opt_path(path, key);
    long long i;
    if (!strategy_option_int(v, lo, hi, &i))
        return kerror_set(err, KE_INVALID, path, "must be an integer in [%ld, %ld]", lo, hi);
    *out = (int)i;
    return KE_OK;
}

/* A number in [0, hi] (hi finite). */
static int opt_number(const json_t *o, const char *key, double hi, double *out, kerror *err)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    if (!v) return KE_OK;
    char path[KERROR_PATH_MAX];
    opt_path(path, key);
    double x = json_is_number(v) ? json_number_value(v) : NAN;
    if (!(x >= 0.0 && x <= hi))
        return kerror_set(err, KE_INVALID, path, "must be a number in [0, %g]", hi);
    *out = x;
    return KE_OK;
}

static int opt_bool(const json_t *o, const char *key, int *out, kerror *err)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    if (!v) return KE_OK;
    char path[KERROR_PATH_MAX];
    opt_path(path, key);
    if (!json_is_boolean(v)) return kerror_set(err, KE_INVALID, path, "must be true or false");
    *out = json_is_true(v);
    return KE_OK;
}

/* "subset": 0 (every trial) or [SUBSET_MIN, SUBSET_MAX], one message for
 * every refusal so that none names a range a refused value is in. */
static int opt_subset(const json_t *o, int *out, kerror *err)
{
    json_t *v = o ? json_object_get(o, "subset") : NULL;
    if (!v) return KE_OK;
    long long i;
    if (!strategy_option_int(v, 0, SUBSET_MAX, &i) || (i > 0 && i < SUBSET_MIN))
        return kerror_set(err, KE_INVALID, "strategy.options.subset",
                          "must be 0 (every trial) or an integer in [%d, %d]", SUBSET_MIN,
                          SUBSET_MAX);
    *out = (int)i;
    return KE_OK;
}

/* names is NULL-terminated; *out becomes the index of the matching name. */
static int opt_choice(const json_t *o, const char *key, const char *const *names,
                      int *out, kerror *err)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    if (!v) return KE_OK;
    char path[KERROR_PATH_MAX];
    opt_path(path, key);
    for (int i = 0; names[i] && json_is_string(v); i++)
        if (strcmp(names[i], json_string_value(v)) == 0) {
            *out = i;
            return KE_OK;
        }
    char list[256] = "";
    for (int i = 0; names[i]; i++) {
        size_t at = strlen(list);
        snprintf(list + at, sizeof list - at, "%s\"%s\"", i ? ", " : "", names[i]);
    }
    return kerror_set(err, KE_INVALID, path, "must be one of %s", list);
}

int bo_options_parse(const json_t *options, int dims, bo_options *o, kerror *err)
{
    static const char *const known[] = { "n_initial", "acquisition", "ucb_beta", "xi",
                                         "candidates", "parallel", "transform", "subset",
                                         "trust_region", "prior_mean", "input_warp",
                                         "noise_prior", "wall_redraw", "warp_shift",
                                         "exploit_last", NULL };
    static const char *const acq_names[] = { "ei", "ucb", "pi", NULL }; /* acq_kind order */
    static const char *const par_names[] = { "constant_liar", "kriging_believer",
                                             "constant_liar_min", NULL }; /* bo_options_lie order */
    static const char *const warp_names[] = { "none", "power", NULL };
    int kind = ACQ_EI, rc;
    o->warp = 1;
    o->n_initial = 2 * dims > 5 ? 2 * dims : 5;
    o->n_cand = 2000;
    o->lie = BO_OPTIONS_LIE_MEAN_PRED;
    o->subset = SUBSET_DEFAULT;
    o->trust_region = 1;
    o->prior_sd = PRIOR_SD_DEFAULT;
    o->input_warp = INPUT_WARP_DEFAULT;
    o->noise_prior = 1;
    o->wall_redraw = 1;
    o->warp_shift = WARP_SHIFT_DEFAULT;
    o->exploit_last = EXPLOIT_LAST_DEFAULT;
    o->acq.beta = 2.0;
    o->acq.xi = 0.0;
    if ((rc = strategy_options_check(options, STRATEGY_OPTIONS, known, err)) ||
        (rc = opt_int(options, "n_initial", 1, 1000000, &o->n_initial, err)) ||
        (rc = opt_choice(options, "acquisition", acq_names, &kind, err)) ||
        (rc = opt_number(options, "ucb_beta", UCB_BETA_MAX, &o->acq.beta, err)) ||
        (rc = opt_number(options, "xi", XI_MAX, &o->acq.xi, err)) ||
        (rc = opt_int(options, "candidates", 10, 100000, &o->n_cand, err)) ||
        (rc = opt_choice(options, "parallel", par_names, &o->lie, err)) ||
        (rc = opt_choice(options, "transform", warp_names, &o->warp, err)) ||
        (rc = opt_subset(options, &o->subset, err)) ||
        (rc = opt_bool(options, "trust_region", &o->trust_region, err)) ||
        (rc = opt_number(options, "prior_mean", PRIOR_SD_MAX, &o->prior_sd, err)) ||
        (rc = opt_bool(options, "input_warp", &o->input_warp, err)) ||
        (rc = opt_bool(options, "noise_prior", &o->noise_prior, err)) ||
        (rc = opt_bool(options, "wall_redraw", &o->wall_redraw, err)) ||
        (rc = opt_bool(options, "warp_shift", &o->warp_shift, err)) ||
        (rc = opt_number(options, "exploit_last", 1.0, &o->exploit_last, err)))
        return rc;
    o->acq.kind = (acq_kind)kind;
    return KE_OK;
}
