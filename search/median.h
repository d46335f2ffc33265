/* median: the "median" pruner, the median stopping rule of Google Vizier
 * (Golovin, Solnik, Moitra, Kochanski, Karro & Sculley 2017, Sec. 3.2.2):
 * stop a trial at step s when its best value so far is worse than the median
 * of the other trials' running averages at step s. Options (unknown keys
 * rejected as "pruner.options.<key>"):
 *   warmup_steps int >= 0  no trial is stopped at a step <= warmup_steps (default 0)
 *   min_trials   int >= 1  other trials that must have reported step s   (default 5)
 *   interval     int >= 1  check at the first report in each window of this
 *                          many steps after the warm-up                 (default 1) */
#ifndef KESTREL_MEDIAN_H
#define KESTREL_MEDIAN_H

#include "pruner.h"

extern const pruner_ops median_pruner;

#endif
