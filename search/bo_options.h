/* bo_options: the "gp" strategy's options (bo.h lists them with their
 * ranges and defaults), read from a spec's strategy.options: unknown keys
 * and bad values are refused with the path "strategy.options.<key>" and the
 * reason. Knows nothing of the model. */
#ifndef KESTREL_BO_OPTIONS_H
#define KESTREL_BO_OPTIONS_H

#include "acq.h"
#include "strategy.h"

/* How pending points are filled in (the "parallel" option, in its order). */
typedef enum {
    BO_OPTIONS_LIE_WORST,
    BO_OPTIONS_LIE_MEAN_PRED,
    BO_OPTIONS_LIE_BEST
} bo_options_lie;

typedef struct {
    int n_initial, n_cand;
    int lie;                /* bo_options_lie: the value given to pending points */
    int subset;             /* most trials the model is fitted on; 0: all */
    int warp;               /* 1: Box-Cox warp of the values (gp_power_warp) */
    int warp_shift;         /* 1: the warp's shift is fitted too (median or quartile) */
    acq_params acq;         /* as the options say (xi in standard deviations) */
    int trust_region;       /* 1: a local model takes over when stuck */
    double prior_sd;        /* GP prior mean, in sd above the values' mean */
    int input_warp;         /* 1: the GP fits a Kumaraswamy warp per input */
    int noise_prior;        /* 1: exponential prior on the GP's noise variance */
    int wall_redraw;        /* 1: an irrelevant input is not left on a wall */
    double exploit_last;    /* share of max_trials, at its end, spent near
                             * the incumbent; 0: none */
} bo_options;

/* Fills *o with the defaults (n_initial's from dims, the space's unit-cube
 * coordinates) and the options given (options may be NULL). KE_INVALID,
 * with the option's path, for an unknown key or a bad value; *o is then
 * partly filled and not to be used. */
int bo_options_parse(const json_t *options, int dims, bo_options *o, kerror *err);

#endif
