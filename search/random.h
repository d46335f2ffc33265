/* random: uniform sampling of the unit cube, mapped through the space.
 * Suggestion k of a study is a function of (seed, k) alone, so a resumed
 * study continues the same sequence. No options. */
#ifndef KESTREL_RANDOM_H
#define KESTREL_RANDOM_H

#include "strategy.h"

/* The space passed to create must outlive the strategy. */
extern const strategy_ops random_strategy;

#endif
