/* space: a study's search space (typed parameters, conditions) and points in
 * it. A point stores one double per parameter: the value itself for float and
 * int parameters, the choice index for categoricals, 0 for fixed ones; and an
 * active flag, false for a conditional parameter whose condition is unmet.
 * Strategies work in the unit cube: one coordinate per non-fixed parameter,
 * mapped to values by space_unit_to_point (log scale, integer steps and
 * categorical buckets handled there). The space owns every string it holds. */
#ifndef KESTREL_SPACE_H
#define KESTREL_SPACE_H

#include <stddef.h>
#include <jansson.h>

#include "../common/kerror.h"

#define SPACE_MAX_PARAMS 64
#define SPACE_NAME_MAX 64

typedef enum { PARAM_FLOAT, PARAM_INT, PARAM_CATEGORICAL, PARAM_FIXED } param_kind;

typedef struct {          /* a categorical choice, a fixed value, a condition value */
    int is_text;
    double num;
    char *text;           /* owned; NULL unless is_text */
} param_value;

typedef struct {
    char name[SPACE_NAME_MAX];
    param_kind kind;
    int log;                  /* float/int: sampled uniformly in log space */
    double low, high;         /* float/int: inclusive bounds */
    double step;              /* int: value = low + k*step (>= 1); float: 0 */
    int n_choices;            /* categorical */
    param_value *choices;     /* owned array */
    param_value fixed;        /* fixed */
    int grid_points;          /* float grid: evenly spaced count (0 = unset) */
    int n_grid;               /* float/int grid: explicit values */
    double *grid;             /* owned array */
    int parent;               /* index of controlling categorical, -1 = always active */
    int n_when;               /* parent values (choice indices) that activate it */
    int *when;                /* owned array of choice indices into parent */
} space_param;

typedef struct {
    int n;                    /* parameters, parents before their children */
    space_param params[SPACE_MAX_PARAMS];
} space;

typedef struct {
    double x[SPACE_MAX_PARAMS];
    unsigned char active[SPACE_MAX_PARAMS];
} space_point;

/* Frees what the params own; leaves an empty space. */
void space_free(space *s);

/* Index of the parameter called name, or -1. */
int space_find(const space *s, const char *name);

/* Number of unit-cube dimensions: parameters that are not fixed. */
int space_dims(const space *s);

/* u has space_dims(s) coordinates in [0,1]; fills every parameter of p,
 * rounding ints to their step and resolving which parameters are active. */
void space_unit_to_point(const space *s, const double *u, space_point *p);

/* Inverse of space_unit_to_point for active parameters (the centre of the
 * value's bucket for ints and categoricals); inactive ones get 0.5. */
void space_point_to_unit(const space *s, const space_point *p, double *u);

/* Recomputes p->active from the parents' values (after setting x by hand). */
void space_point_resolve(const space *s, space_point *p);

/* Writes parameter i's value of p as text ("0.01", "128", "adam"). */
void space_format_value(const space *s, const space_point *p, int i, char *buf, size_t n);

/* New JSON object {name: value} of the active and fixed parameters. */
json_t *space_point_to_json(const space *s, const space_point *p);

/* Sets parameter `name` of p from a stored value (number or text); checks it
 * is a legal value of that parameter. Call space_point_resolve after all. */
int space_point_set(const space *s, space_point *p, const char *name, int is_text,
                    double num, const char *text, kerror *err);

/* Fills p from obj, a JSON object {name: value} (a configuration a person
 * gives: every active parameter a legal value of its JSON type, never
 * converted as stored text is; fixed ones may be left out), and resolves
 * which are active. Errors name "path.name": an unknown parameter (with the
 * closest name when one is near), a value of the wrong JSON type ("4" for an
 * int, "3" for the choice 3, true for a float), a value out of range, a
 * missing active parameter, a value given to an inactive one. */
int space_point_from_json(const space *s, const json_t *obj, const char *path, space_point *p,
                          kerror *err);

/* Grid: number of points of the full Cartesian product over the declared
 * values (conditional children multiply only under their activating choices).
 * Fails, naming the parameter, when a float has neither grid values nor
 * grid_points. */
int space_grid_size(const space *s, long *count, kerror *err);
/* The index-th grid point, 0 <= index < count, in a fixed order. */
void space_grid_point(const space *s, long index, space_point *p);
/* Moves each active float of p given by grid_points onto its nearest grid
 * value when it lies within 1e-12 (relative) of it. Older builds computed
 * log grid points by exp/log, a few ulps off today's: a grid study resumed
 * across that change must find its trials on the points they ran. */
void space_grid_snap(const space *s, space_point *p);

/* 1 when two points have the same active values. */
int space_point_equal(const space *s, const space_point *a, const space_point *b);

#endif
