/* bo: the "gp" strategy (see bo.h, docs/gp.md): Sobol design, then a GP fitted
 * on COMPLETE trials (FAILED ones as the worst value, but those a retry
 * re-ran; at most `subset` of them), pending points filled in by a liar (the
 * model's mean by default), and
 * the acquisition maximized by a seeded random screen plus Nelder-Mead
 * refinement, redone with a local model when the global one is stuck on the
 * wall of the box; a coordinate of an input the model deems irrelevant is
 * not left on a wall; in the last share of the study's max_trials the
 * acquisition is maximized in a box around the incumbent. Invariant: every
 * suggestion of one call differs from every trial in the history and from the
 * call's earlier suggestions, unless the space has no untried point left near
 * the optimum of the acquisition. */
#include "bo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_multimin.h>

#include "acq.h"
#include "bo_options.h"
#include "gp.h"
#include "sobol.h"

#define FIT_ITER_COLD 50    /* BFGS iterations per start, first fit */
#define FIT_ITER_WARM 10    /* ... later fits, from the previous optimum */
#define WARM_RESTART_ROWS 64 /* above it warm fits skip the random restart */
#define REFINE_STARTS 3     /* best screened candidates refined locally */
#define REFINE_ITER 40      /* Nelder-Mead iterations per refinement */
#define DUP_TRIES 64        /* distinct points tried before accepting a repeat */
/* The local model: at least this many rows; a candidate box around the
 * incumbent at least LOCAL_MIN_RADIUS and at most LOCAL_MAX_RADIUS wide (a
 * wider one is the whole cube again, whose corners its neutral mean favours);
 * candidates at least LOCAL_WALL_MARGIN inside the walls, since it is called
 * when the global model is stuck on one. */
#define LOCAL_MIN_ROWS(b) (2 * (b)->enc + 2)
#define LOCAL_MIN_RADIUS 0.02
#define LOCAL_MAX_RADIUS 0.2
#define LOCAL_WALL_MARGIN 0.01
#define NOISE_RATE 20.0     /* "noise_prior": its rate, noise variance 0.1 costs 2 nats */
#define STUCK_DIST 1e-3     /* a suggestion this close to a trial is "stuck" */
/* "wall_redraw": an input whose length scale is at least this (unit-cube
 * units: Matern-5/2 correlation >= 0.9 across the whole range) is one the
 * model deems irrelevant. */
#define IRRELEVANT_LS 5.0
/* Half-width (unit cube) of the box around the incumbent that the
 * suggestions of the exploitation phase stay in. */
#define EXPLOIT_RADIUS 0.05

struct strategy {
    const space *sp;        /* borrowed */
    uint64_t seed;
    int dims;               /* unit-cube coordinates */
    int enc;                /* GP inputs: dims with categoricals one-hot */
    bo_options o;           /* the spec's options, defaults filled in */
    acq_params cur;         /* for the current fit: best set, xi in model units */
    gp models[2];           /* global and local; live across calls: warm starts */
    gp *m;                  /* the one the current suggestion uses */
    double radius;          /* half-width of the candidate box around the
                             * incumbent (1 for the global model) */
    double margin;          /* candidates lie in [margin, 1 - margin] */
    double worst;           /* highest modelled value (model units): the liar's */
    double u_best[SPACE_MAX_PARAMS];  /* incumbent in the unit cube */
    /* the design's Sobol points, kept between calls so that design point k
     * costs one draw, not a walk from the sequence's start; NULL when the
     * space has no coordinate or more than SOBOL_MAX_DIMS */
    sobol_cursor *sobol;
    int dirty;              /* rows appended since the last factorization */
    /* One allocation: screen (n_cand, dims) and (n_cand, enc), mu, var and
     * score (n_cand), one encoded point (enc). */
    double *buf, *cand_u, *cand_z, *mu, *var, *score, *z;
};

static void bo_destroy(strategy *b)
{
    if (!b) return;
    if (b->dims > 0) {
        gp_free(&b->models[0]);
        gp_free(&b->models[1]);
    }
    sobol_cursor_free(b->sobol);
    free(b->buf);
    free(b);
}

static int bo_create(strategy **out, const space *sp, const json_t *options,
                     uint64_t seed, kerror *err)
{
    struct strategy *b = calloc(1, sizeof *b);
    if (!b) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    b->sp = sp;
    b->seed = seed;
    b->dims = space_dims(sp);
    int rc = bo_options_parse(options, b->dims, &b->o, err);
    if (rc) {
        free(b);
        return rc;
    }
    for (int i = 0; i < sp->n; i++) {
        const space_param *q = &sp->params[i];
        if (q->kind != PARAM_FIXED) b->enc += q->kind == PARAM_CATEGORICAL ? q->n_choices : 1;
    }
    if (b->dims > 0) {
        size_t m = (size_t)b->o.n_cand, e = (size_t)b->enc;
        b->buf = malloc((m * (size_t)b->dims + m * e + 3 * m + e) * sizeof *b->buf);
        if (!b->buf) {
            free(b);
            return kerror_set(err, KE_NOMEM, NULL, "out of memory");
        }
        b->cand_u = b->buf;
        b->cand_z = b->cand_u + m * (size_t)b->dims;
        b->mu = b->cand_z + m * e;
        b->var = b->mu + m;
        b->score = b->var + m;
        b->z = b->score + m;
        if ((rc = gp_init(&b->models[0], b->enc, err)) ||
            (rc = gp_init(&b->models[1], b->enc, err))) {
            gp_free(&b->models[0]);
            free(b->buf);
            free(b);
            return rc;
        }
        if (b->dims <= SOBOL_MAX_DIMS &&
            (rc = sobol_cursor_new(&b->sobol, seed, b->dims, err))) {
            bo_destroy(b);
            return rc;
        }
        /* The local model is there to look inside a neighbourhood the global
         * one has flattened: a pessimistic mean would make its unexplored
         * inside look worse, the trap itself (Branin's seed 12 stayed on
         * the wall x1 = 10 with it), so it keeps the neutral mean. */
        b->models[0].prior_sd = b->o.prior_sd;
        b->models[0].warp_inputs = b->models[1].warp_inputs = b->o.input_warp;
        b->models[0].noise_rate = b->models[1].noise_rate = b->o.noise_prior ? NOISE_RATE : 0.0;
    }
    *out = b;
    return KE_OK;
}

/* GP input of a point: numeric coordinates from u (for candidates the raw
 * coordinate, so integers are relaxed to a continuum), categoricals one-hot,
 * and every coordinate of an inactive parameter 0.5. Inactive points all share
 * that value, so the kernel sees no distance along dimensions they lack. */
static void encode(const struct strategy *b, const space_point *p, const double *u, double *z)
{
    const space *sp = b->sp;
    int c = 0, o = 0;
    for (int i = 0; i < sp->n; i++) {
        const space_param *q = &sp->params[i];
        if (q->kind == PARAM_FIXED) continue;
        if (q->kind == PARAM_CATEGORICAL) {
            for (int j = 0; j < q->n_choices; j++)
                z[o + j] = !p->active[i] ? 0.5 : j == (int)p->x[i] ? 1.0 : 0.0;
            o += q->n_choices;
        } else {
            z[o++] = p->active[i] ? u[c] : 0.5;
        }
        c++;
    }
}

static void encode_point(const struct strategy *b, const space_point *p, double *z)
{
    double u[SPACE_MAX_PARAMS];
    space_point_to_unit(b->sp, p, u);
    encode(b, p, u, z);
}

/* The k-th point of the initial design: Sobol where GSL has direction numbers,
 * uniform from the k-th seed beyond that. */
static void design_point(struct strategy *b, long k, space_point *p)
{
    double u[SPACE_MAX_PARAMS + 1];
    sobol_design_unit(b->sobol, b->seed, k, b->dims, u);
    space_unit_to_point(b->sp, u, p);
}

static int observed(const strategy_obs *o)
{
    return o->state == TRIAL_COMPLETE && o->has_value && isfinite(o->value);
}

/* Trials that become rows of the model: observed ones, and failed ones (or
 * complete ones without a usable value) as the worst value, but a failed
 * one that was retried (retried: by trial number, or NULL), whose retry
 * stands for its configuration: an interrupted trial (a stop, a dead
 * runner: not its configuration's fault) is always retried, and its
 * retry's result would sit beside the worst value at the same point. */
static int modelled(const strategy_obs *o, const unsigned char *retried)
{
    if (retried && retried[o->number] && !observed(o)) return 0;
    return o->state == TRIAL_COMPLETE || o->state == TRIAL_FAILED;
}

/* Adds a pending point with its lie (Ginsbourger et al. 2010): the model's
 * own mean (kriging believer), the worst observed value (the pessimistic
 * "CL-max", which pushes the next suggestion away from it, and from the
 * incumbent's neighbourhood too when a pending point sits there) or the best
 * one ("CL-min"). */
static int add_pending(struct strategy *b, const space_point *p, kerror *err)
{
    double lie = b->o.lie == BO_OPTIONS_LIE_BEST ? b->cur.best : b->worst, var;
    int rc;
    encode_point(b, p, b->z);
    if (b->o.lie == BO_OPTIONS_LIE_MEAN_PRED) {
        if (b->dirty && (rc = gp_condition(b->m, err))) return rc;
        b->dirty = 0;
        if ((rc = gp_predict(b->m, b->z, 1, &lie, &var, err))) return rc;
        /* The fantasy joins the data, so it can be the incumbent: otherwise EI
         * would still credit the believed point with its predicted gain. */
        if (lie < b->cur.best) b->cur.best = lie;
    }
    b->dirty = 1;
    return gp_append(b->m, b->z, lie, err);
}

typedef struct {
    double d2;              /* squared distance to the incumbent */
    int row;
} near_row;

static int cmp_near(const void *a, const void *b)
{
    const near_row *x = a, *y = b;
    if (x->d2 != y->d2) return x->d2 < y->d2 ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

/* Keeps `keep` of the rows of Z (rows, enc) and y, compacted in place in
 * their original order: the `near` nearest to the incumbent row rbest (a local
 * model where the next suggestions will mostly go) and a seeded uniform sample
 * of the others (the global shape, so EI still sees where it has not looked).
 * Returns the rows kept; *rbest follows its row; *reach gets the distance of
 * the farthest near row. */
static int keep_subset(const struct strategy *b, double *Z, double *y, int rows, int keep,
                       int near, int *rbest, double *reach, uint64_t seed, kerror *err)
{
    int e = b->enc;
    near_row *nr = malloc((size_t)rows * (sizeof *nr + 1));
    if (!nr) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    unsigned char *mark = (unsigned char *)(nr + rows);
    const double *zb = Z + (size_t)*rbest * e;
    for (int r = 0; r < rows; r++) {
        double d2 = 0.0;
        for (int c = 0; c < e; c++) d2 += (Z[(size_t)r * e + c] - zb[c]) * (Z[(size_t)r * e + c] - zb[c]);
        nr[r] = (near_row){ r == *rbest ? -1.0 : d2, r };
        mark[r] = 0;
    }
    qsort(nr, (size_t)rows, sizeof *nr, cmp_near);
    for (int i = 0; i < near; i++) mark[nr[i].row] = 1;
    *reach = sqrt(nr[near - 1].d2 > 0.0 ? nr[near - 1].d2 : 0.0);
    /* Partial Fisher-Yates over the rest (nr[near ..]). */
    uint64_t st = seed;
    for (int i = near; i < keep; i++) {
        int j = i + (int)(strategy_rng_uniform(&st) * (rows - i));
        if (j >= rows) j = rows - 1;
        near_row t = nr[i];
        nr[i] = nr[j];
        nr[j] = t;
        mark[nr[i].row] = 1;
    }
    int w = 0;
    for (int r = 0; r < rows; r++) {
        if (!mark[r]) continue;
        if (r == *rbest) *rbest = w;
        memmove(Z + (size_t)w * e, Z + (size_t)r * e, (size_t)e * sizeof *Z);
        y[w++] = y[r];
    }
    free(nr);
    return w;
}

/* Fits the GP on the history (COMPLETE trials; FAILED ones, and COMPLETE ones
 * without a finite value, at the worst observed value so the model steers
 * away from them; at most b->o.subset of them, see keep_subset) and adds
 * RUNNING trials and batch[0..nb) as pending. With the "power" transform the
 * model, the incumbent, the liar's value and xi all live in warped units
 * (gp_power_warp is monotone, so the incumbent is the same trial). */
static int fit_model(struct strategy *b, const strategy_history *h,
                     const strategy_suggestion *batch, int nb, long k, int local, kerror *err)
{
    int rows = 0, ibest = -1, rbest = -1, rc;
    double worst = -INFINITY;
    unsigned char *retried;
    if ((rc = strategy_history_retried(h, &retried, err))) return rc;
    for (int i = 0; i < h->n_obs; i++) {
        const strategy_obs *o = &h->obs[i];
        if (observed(o)) {
            if (ibest < 0 || o->value < h->obs[ibest].value) {
                ibest = i;
                rbest = rows;
            }
            if (o->value > worst) worst = o->value;
        }
        rows += modelled(o, retried);
    }
    /* Z (rows, enc), then y (rows) and the warp's scratch (rows). */
    double *Z = malloc((size_t)rows * ((size_t)b->enc + 2) * sizeof *Z);
    if (!Z) {
        free(retried);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    double *y = Z + (size_t)rows * b->enc, *scratch = y + rows;
    int r = 0;
    for (int i = 0; i < h->n_obs; i++) {
        const strategy_obs *o = &h->obs[i];
        if (!modelled(o, retried)) continue;
        encode_point(b, &o->point, Z + (size_t)r * b->enc);
        y[r++] = observed(o) ? o->value : worst;
    }
    free(retried);
    /* Warped over every value, so the subset does not change the scale. */
    if (b->o.warp) gp_power_warp(y, rows, b->o.warp_shift, scratch);
    /* gp_set_data squares them: raw values near 1e308 ("transform": "none") overflow */
    gp_scale_targets(y, rows);
    uint64_t seed = strategy_seed_for(b->seed, (uint64_t)k);
    int keep = rows, near = 0;
    if (local) {
        keep = near = rows / 2 > LOCAL_MIN_ROWS(b) ? rows / 2 : LOCAL_MIN_ROWS(b);
        if (keep > rows) keep = near = rows;
        if (b->o.subset > 0 && keep > b->o.subset) keep = near = b->o.subset;
    } else if (b->o.subset > 0 && rows > b->o.subset) {
        keep = b->o.subset;
        near = keep / 2;
    }
    double reach = 1.0;
    b->m = &b->models[local];
    if (keep < rows &&
        (rows = keep_subset(b, Z, y, rows, keep, near, &rbest, &reach, seed ^ 0x73756273u, err)) < 0) {
        free(Z);
        return rows;
    }
    b->radius = !local                  ? 1.0
                : reach < LOCAL_MIN_RADIUS ? LOCAL_MIN_RADIUS
                : reach > LOCAL_MAX_RADIUS ? LOCAL_MAX_RADIUS
                                           : reach;
    b->margin = local ? LOCAL_WALL_MARGIN : 0.0;
    b->worst = -INFINITY;
    for (r = 0; r < rows; r++)
        if (y[r] > b->worst) b->worst = y[r];
    b->cur = b->o.acq;
    b->cur.best = y[rbest];
    rc = gp_set_data(b->m, Z, y, rows, err);
    free(Z);
    if (rc) return rc;
    int cold = !b->m->fitted;
    int n_random = cold ? 2 : rows <= WARM_RESTART_ROWS ? 1 : 0;
    /* The salt keeps the restart stream apart from the candidate stream,
     * which starts from the same per-suggestion seed. */
    rc = gp_fit(b->m, cold ? FIT_ITER_COLD : FIT_ITER_WARM, n_random, seed ^ 0x6770u, err);
    if (rc) return rc;
    b->dirty = 0;
    b->cur.xi = b->o.acq.xi * b->m->y_std;
    space_point_to_unit(b->sp, &h->obs[ibest].point, b->u_best);
    for (int i = 0; i < h->n_obs && !rc; i++)
        if (h->obs[i].state == TRIAL_RUNNING) rc = add_pending(b, &h->obs[i].point, err);
    for (int j = 0; j < nb && !rc; j++) rc = add_pending(b, &batch[j].point, err);
    return rc;
}

static double clamp_unit(const struct strategy *b, double x)
{
    return x < b->margin ? b->margin : x > 1.0 - b->margin ? 1.0 - b->margin : x;
}

/* Acquisition score of the unit-cube point u, clamped into the cube, or for
 * the local model into its box around the incumbent and the cube's inside:
 * the refinement must not leave the trust region the screen stayed in (it
 * did, and the local model's neutral mean drew it to the cube's corners). */
static double score_at(struct strategy *b, double *u)
{
    space_point p;
    double mu, var;
    for (int d = 0; d < b->dims; d++) {
        double lo = b->u_best[d] - b->radius, hi = b->u_best[d] + b->radius;
        u[d] = clamp_unit(b, u[d] < lo ? lo : u[d] > hi ? hi : u[d]);
    }
    space_unit_to_point(b->sp, u, &p);
    encode(b, &p, u, b->z);
    if (gp_predict(b->m, b->z, 1, &mu, &var, NULL)) return -INFINITY;
    return acq_score(&b->cur, mu, sqrt(var));
}

typedef struct {
    struct strategy *b;
    double u[SPACE_MAX_PARAMS];
} refine_ctx;

static double neg_score(const gsl_vector *x, void *p)
{
    refine_ctx *c = p;
    memcpy(c->u, x->data, (size_t)c->b->dims * sizeof *c->u);
    return -score_at(c->b, c->u);
}

/* Nelder-Mead (GSL nmsimplex2) from u, in place; returns the score there. The
 * score is piecewise constant along integer and categorical coordinates, so a
 * derivative-free method is the honest choice. */
static double refine(struct strategy *b, gsl_multimin_fminimizer *nm, double *u)
{
    refine_ctx c = { .b = b };
    gsl_multimin_function F = { neg_score, (size_t)b->dims, &c };
    gsl_vector_view x = gsl_vector_view_array(u, (size_t)b->dims);
    double step[SPACE_MAX_PARAMS];
    for (int d = 0; d < b->dims; d++) step[d] = 0.05;
    gsl_vector_view s = gsl_vector_view_array(step, (size_t)b->dims);
    if (gsl_multimin_fminimizer_set(nm, &F, &x.vector, &s.vector) != GSL_SUCCESS)
        return score_at(b, u);
    for (int it = 0; it < REFINE_ITER; it++)
        if (gsl_multimin_fminimizer_iterate(nm) != GSL_SUCCESS) break;
    memcpy(u, nm->x->data, (size_t)b->dims * sizeof *u);
    return score_at(b, u);
}

/* 1 when p equals a trial of the history or one of batch[0..nb). */
static int taken(const struct strategy *b, const strategy_history *h,
                 const strategy_suggestion *batch, int nb, const space_point *p)
{
    for (int i = 0; i < h->n_obs; i++)
        if (space_point_equal(b->sp, &h->obs[i].point, p)) return 1;
    for (int j = 0; j < nb; j++)
        if (space_point_equal(b->sp, &batch[j].point, p)) return 1;
    return 0;
}

/* Design point k, or, where it repeats a trial or an earlier member of the
 * batch, the first of DUP_TRIES uniform draws from k's seed that does not
 * (the Sobol point when none does): in a space of few points (ints,
 * categoricals) the net does not stratify the buckets, and a design of 6 on
 * 2 x 3 choices repeated a point with 3 never tried. */
static void design_fresh(struct strategy *b, const strategy_history *h,
                         const strategy_suggestion *batch, int nb, long k, space_point *p)
{
    design_point(b, k, p);
    if (!taken(b, h, batch, nb, p)) return;
    uint64_t st = strategy_seed_for(b->seed ^ 0x64657369u, (uint64_t)k);
    double u[SPACE_MAX_PARAMS];
    space_point q;
    for (int t = 0; t < DUP_TRIES; t++) {
        for (int d = 0; d < b->dims; d++) u[d] = strategy_rng_uniform(&st);
        space_unit_to_point(b->sp, u, &q);
        if (!taken(b, h, batch, nb, &q)) {
            *p = q;
            break;
        }
    }
}

/* Marks used (-inf) every screened candidate that maps to p. In a space of
 * few points (ints, categoricals) hundreds of candidates share each point:
 * without this the copies of a taken one used up all DUP_TRIES, and a study
 * of 6 points re-measured its incumbent with a point never tried. */
static void drop_copies(struct strategy *b, const space_point *p)
{
    space_point q;
    for (int j = 0; j < b->o.n_cand; j++) {
        if (!(b->score[j] > -INFINITY)) continue;
        space_unit_to_point(b->sp, b->cand_u + (size_t)j * b->dims, &q);
        if (space_point_equal(b->sp, &q, p)) b->score[j] = -INFINITY;
    }
}

/* Screens n_cand candidates (a quarter in shrinking boxes around the
 * incumbent, the rest uniform in the cube, or for the local model in the box
 * of half-width b->radius around the incumbent), all scored in one batched
 * prediction. */
static int screen(struct strategy *b, uint64_t *st, kerror *err)
{
    static const double box[3] = { 0.2, 0.05, 0.01 };
    int m = b->o.n_cand, dims = b->dims;
    double shrink = b->radius < 0.2 ? b->radius / 0.2 : 1.0;
    for (int j = 0; j < m; j++) {
        double *u = b->cand_u + (size_t)j * dims;
        space_point p;
        for (int d = 0; d < dims; d++) {
            double r = strategy_rng_uniform(st);
            u[d] = j < m / 4      ? b->u_best[d] + shrink * box[j % 3] * (2.0 * r - 1.0)
                   : b->radius < 1.0 ? b->u_best[d] + b->radius * (2.0 * r - 1.0)
                                     : r;
            u[d] = clamp_unit(b, u[d]);
        }
        space_unit_to_point(b->sp, u, &p);
        encode(b, &p, u, b->cand_z + (size_t)j * b->enc);
    }
    int rc = gp_predict(b->m, b->cand_z, m, b->mu, b->var, err);
    for (int j = 0; j < m && !rc; j++) b->score[j] = acq_score(&b->cur, b->mu[j], sqrt(b->var[j]));
    return rc;
}

/* Index of the best screened candidate not yet used (marked -inf), or -1. */
static int next_best(const struct strategy *b)
{
    int best = -1;
    for (int j = 0; j < b->o.n_cand; j++)
        if (b->score[j] > -INFINITY && (best < 0 || b->score[j] > b->score[best])) best = j;
    return best;
}

/* The suggestion maximizing the acquisition that no trial or earlier batch
 * member already holds: refined candidates first, then the screen in order,
 * DUP_TRIES distinct points at most. */
static int maximize(struct strategy *b, const strategy_history *h,
                    const strategy_suggestion *batch, int nb, long k,
                    space_point *out, kerror *err)
{
    int dims = b->dims, rc;
    if (b->dirty && (rc = gp_condition(b->m, err))) return rc;
    b->dirty = 0;
    uint64_t st = strategy_seed_for(b->seed, (uint64_t)k);
    if ((rc = screen(b, &st, err))) return rc;
    gsl_multimin_fminimizer *nm =
        gsl_multimin_fminimizer_alloc(gsl_multimin_fminimizer_nmsimplex2, (size_t)dims);
    if (!nm) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    double ref[REFINE_STARTS][SPACE_MAX_PARAMS], ref_score[REFINE_STARTS];
    int n_ref = 0;
    for (; n_ref < REFINE_STARTS; n_ref++) {
        int j = next_best(b);
        if (j < 0) break;
        memcpy(ref[n_ref], b->cand_u + (size_t)j * dims, (size_t)dims * sizeof **ref);
        b->score[j] = -INFINITY;
        ref_score[n_ref] = refine(b, nm, ref[n_ref]);
    }
    gsl_multimin_fminimizer_free(nm);
    int top = 0;
    for (int i = 1; i < n_ref; i++)
        if (ref_score[i] > ref_score[top]) top = i;
    for (int t = 0; t < DUP_TRIES; t++) {
        const double *u;
        int r = -1;
        for (int i = 0; i < n_ref; i++)
            if (ref_score[i] > -INFINITY && (r < 0 || ref_score[i] > ref_score[r])) r = i;
        if (r >= 0) {
            u = ref[r];
            ref_score[r] = -INFINITY;
        } else {
            int j = next_best(b);
            if (j < 0) break;
            u = b->cand_u + (size_t)j * dims;
            b->score[j] = -INFINITY;
        }
        space_unit_to_point(b->sp, u, out);
        if (!taken(b, h, batch, nb, out)) return KE_OK;
        drop_copies(b, out);
    }
    /* Every candidate tried is taken: the space is (nearly) exhausted around
     * the optimum, and repeating the best refined point is the least bad.
     * None was refined when no score was above -inf: then the screen's first
     * candidate (ref[0] would be whatever the stack held). */
    space_unit_to_point(b->sp, n_ref > 0 ? ref[top] : b->cand_u, out);
    return KE_OK;
}

/* Redraws, uniformly from the suggestion's seed, every numeric coordinate of
 * p that lies on a wall of the box (0 or 1 in the unit cube) although the
 * global model deems its input irrelevant (length scale >= IRRELEVANT_LS).
 * Such a coordinate is where the optimizer's clamping left it: the
 * acquisition is flat along it, and the incumbent's neighbourhood, half of
 * whose candidates are clamped onto the incumbent's wall, keeps it there,
 * so the model never sees the input vary near the incumbent and keeps
 * deeming it irrelevant (Rosenbrock-4's seed 22: x4 = -5 from trial 14 on,
 * length scale 20, regret 2500). A uniform value costs nothing if the input
 * is irrelevant and shows its effect if it is not. */
static void redraw_walls(const struct strategy *b, long k, space_point *p)
{
    const space *sp = b->sp;
    const gp *g = &b->models[0];
    double u[SPACE_MAX_PARAMS];
    space_point_to_unit(sp, p, u);
    uint64_t st = strategy_seed_for(b->seed, (uint64_t)k) ^ 0x77616c6cu;
    int c = 0, o = 0, moved = 0;
    for (int i = 0; i < sp->n; i++) {
        const space_param *q = &sp->params[i];
        if (q->kind == PARAM_FIXED) continue;
        if (q->kind == PARAM_CATEGORICAL) {
            o += q->n_choices;
        } else {
            if ((u[c] <= 0.0 || u[c] >= 1.0) && exp(g->theta[o]) >= IRRELEVANT_LS) {
                u[c] = strategy_rng_uniform(&st);
                moved = 1;
            }
            o++;
        }
        c++;
    }
    if (moved) space_unit_to_point(sp, u, p);
}

/* 1 when p lies within STUCK_DIST (max-norm in the unit cube) of a trial of
 * the history or of batch[0..nb): the global model has nothing better than
 * re-measuring a known point, typically the incumbent on the boundary of the
 * box, because at its length scales the surroundings look flat or worse. */
static int stuck(const struct strategy *b, const strategy_history *h,
                 const strategy_suggestion *batch, int nb, const space_point *p)
{
    double u[SPACE_MAX_PARAMS], v[SPACE_MAX_PARAMS];
    space_point_to_unit(b->sp, p, u);
    int wall = 0;
    for (int d = 0; d < b->dims; d++) wall |= u[d] <= 0.0 || u[d] >= 1.0;
    if (!wall) return 0;
    for (int i = 0; i < h->n_obs + nb; i++) {
        space_point_to_unit(b->sp, i < h->n_obs ? &h->obs[i].point : &batch[i - h->n_obs].point, v);
        double dist = 0.0;
        for (int d = 0; d < b->dims; d++)
            if (fabs(u[d] - v[d]) > dist) dist = fabs(u[d] - v[d]);
        if (dist < STUCK_DIST) return 1;
    }
    return 0;
}

/* Redoes suggestion nb of the call with the local model (the trials nearest
 * the incumbent, standardized on their own so its neighbourhood's structure is
 * not flattened by the global range; candidates in the box they span; a
 * TuRBO-like trust region, Eriksson et al. 2019), then makes the global model
 * current again, with its incumbent and liar's value, for the batch's rest. */
static int local_retry(struct strategy *b, const strategy_history *h,
                       strategy_suggestion *batch, int nb, long k, kerror *err)
{
    acq_params cur = b->cur;
    double worst = b->worst;
    int rc = fit_model(b, h, batch, nb, k, 1, err);
    if (!rc) rc = maximize(b, h, batch, nb, k, &batch[nb].point, err);
    b->m = &b->models[0];
    b->radius = 1.0;
    b->margin = 0.0;
    b->cur = cur;
    b->worst = worst;
    b->dirty = 0;   /* the global model was conditioned by its maximize() */
    return rc;
}

/* 1 when fresh trial k falls in the last b->o.exploit_last of the study's
 * max_trials (docs/gp.md, "exploit_last"): its suggestion is sought in the
 * box of half-width EXPLOIT_RADIUS around the incumbent. A study that ends
 * soon gains nothing from a new basin it has no trials left to refine;
 * without the box its last trials alternate between refining and far
 * looks, or between equal minima (Branin's three). */
static int exploiting(const struct strategy *b, const strategy_history *h, long k)
{
    return b->o.exploit_last > 0.0 && h->max_trials > 0 &&
           k >= h->max_trials - lround(b->o.exploit_last * h->max_trials);
}

static int bo_suggest(strategy *b, const strategy_history *h,
                      strategy_suggestion *out, int n, kerror *err)
{
    static const strategy_history empty = { NULL, 0, 0, NULL };
    if (!h) h = &empty;
    int fresh = strategy_history_fresh(h), n_obs = 0, fitted = 0, rc = KE_OK;
    for (int i = 0; i < h->n_obs; i++) n_obs += observed(&h->obs[i]);
    /* a batch the scheduler dropped is asked for again from `fresh`: the
     * cursor rewinds to the mark, not to the sequence's start */
    if (b->sobol && (fresh < b->o.n_initial || n_obs < 2) &&
        (rc = sobol_cursor_mark(b->sobol, fresh, err)))
        return rc;
    for (int i = 0; i < n && !rc; i++) {
        long k = (long)fresh + i;
        out[i].budget = 0;
        out[i].resume_from = -1;
        if (b->dims == 0) {
            double none[1] = { 0.0 };
            space_unit_to_point(b->sp, none, &out[i].point);
        } else if (k < b->o.n_initial || n_obs < 2) {
            /* The model needs two values to standardize; until then the
             * design simply continues. */
            design_fresh(b, h, out, i, k, &out[i].point);
        } else {
            if (!fitted && (rc = fit_model(b, h, out, i, k, 0, err))) break;
            fitted = 1;
            if (exploiting(b, h, k)) b->radius = EXPLOIT_RADIUS;
            rc = maximize(b, h, out, i, k, &out[i].point, err);
            b->radius = 1.0;
            if (!rc && b->o.wall_redraw) redraw_walls(b, k, &out[i].point);
            if (!rc && b->o.trust_region && stuck(b, h, out, i, &out[i].point))
                rc = local_retry(b, h, out, i, k, err);
            if (!rc && i + 1 < n) rc = add_pending(b, &out[i].point, err);
        }
    }
    return rc ? rc : n;
}

/* The model never runs out of places to look; the trial budget ends a study. */
long bo_design_draws(const strategy *b)
{
    return b->sobol ? sobol_cursor_cost(b->sobol) : 0;
}

static int bo_done(strategy *b, const strategy_history *h)
{
    (void)b;
    (void)h;
    return 0;
}

const strategy_ops gp_strategy = {
    .name = "gp",
    .create = bo_create,
    .suggest = bo_suggest,
    .done = bo_done,
    .destroy = bo_destroy,
};
