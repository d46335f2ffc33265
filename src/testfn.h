/* testfn: standard optimization test functions (Branin, Hartmann-6, ...) with
 * their domains and known global minima, for testing and benchmarking the
 * search. A study runs one as `kestrel fn NAME --set x1=...`. */
#ifndef KESTREL_TESTFN_H
#define KESTREL_TESTFN_H

#define TESTFN_MAX_DIM 16

typedef struct {
    const char *name;         /* "branin", "hartmann6", ... */
    int dim;                  /* parameters are named x1..x<dim> */
    double low[TESTFN_MAX_DIM], high[TESTFN_MAX_DIM];
    double minimum;           /* known global minimum value */
    double (*f)(const double *x);
} testfn;

/* The function called name, or NULL. */
const testfn *testfn_find(const char *name);
/* All functions, NULL-terminated. */
const testfn *const *testfn_all(void);

#endif
