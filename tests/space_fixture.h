/* space_fixture: builds search spaces by hand for the search tests (the
 * spec parser is tested on its own). Every string and array is heap-allocated
 * so space_free releases the space as it would one from the spec. */
#ifndef KESTREL_SPACE_FIXTURE_H
#define KESTREL_SPACE_FIXTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../search/space.h"

static inline space_param *fx_add(space *s, const char *name, param_kind kind)
{
    space_param *p = &s->params[s->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->kind = kind;
    p->parent = -1;
    return p;
}

static inline space_param *fx_float(space *s, const char *name, double low, double high, int log)
{
    space_param *p = fx_add(s, name, PARAM_FLOAT);
    p->low = low;
    p->high = high;
    p->log = log;
    return p;
}

static inline space_param *fx_int(space *s, const char *name, double low, double high,
                                  double step, int log)
{
    space_param *p = fx_float(s, name, low, high, log);
    p->kind = PARAM_INT;
    p->step = step;
    return p;
}

/* Text choices, NULL-terminated. */
static inline space_param *fx_cat(space *s, const char *name, ...)
{
    space_param *p = fx_add(s, name, PARAM_CATEGORICAL);
    va_list ap;
    va_start(ap, name);
    for (const char *t; (t = va_arg(ap, const char *));) {
        p->choices = realloc(p->choices, (size_t)(p->n_choices + 1) * sizeof *p->choices);
        p->choices[p->n_choices++] = (param_value){ 1, 0, strdup(t) };
    }
    va_end(ap);
    return p;
}

static inline space_param *fx_cat_num(space *s, const char *name, int n, const double *v)
{
    space_param *p = fx_add(s, name, PARAM_CATEGORICAL);
    p->choices = calloc((size_t)n, sizeof *p->choices);
    for (int i = 0; i < n; i++) p->choices[i] = (param_value){ 0, v[i], NULL };
    p->n_choices = n;
    return p;
}

static inline space_param *fx_fixed(space *s, const char *name, const char *text, double num)
{
    space_param *p = fx_add(s, name, PARAM_FIXED);
    p->fixed = (param_value){ text != NULL, num, text ? strdup(text) : NULL };
    return p;
}

static inline void fx_grid(space_param *p, int n, const double *v)
{
    p->grid = malloc((size_t)n * sizeof *p->grid);
    memcpy(p->grid, v, (size_t)n * sizeof *p->grid);
    p->n_grid = n;
}

/* Makes p conditional on parent taking one of the n choice indices that follow. */
static inline void fx_when(const space *s, space_param *p, const char *parent, int n, ...)
{
    p->parent = space_find(s, parent);
    p->when = malloc((size_t)n * sizeof *p->when);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) p->when[i] = va_arg(ap, int);
    va_end(ap);
    p->n_when = n;
}

#endif
