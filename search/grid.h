/* grid: the exhaustive strategy. Suggests every point of the space's grid
 * (space_grid_point) once, in index order or in a seeded shuffled order,
 * passing over the points that a fresh trial of the history (not an enqueued
 * one) already holds, and then reports done. Option: {"shuffle": bool}
 * (default false). */
#ifndef KESTREL_GRID_H
#define KESTREL_GRID_H

#include "strategy.h"

/* The space passed to create must outlive the strategy. */
extern const strategy_ops grid_strategy;

#endif
