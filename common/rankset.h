/* rankset: a multiset of doubles that answers "how many are below x" and
 * "the k-th smallest" in O(log n) expected time, so an order statistic
 * (a median, a quantile) of a set that changes one value at a time costs
 * no sort and no scan. Keys must not be NaN. The set owns its arrays. */
#ifndef KESTREL_RANKSET_H
#define KESTREL_RANKSET_H

#include <stdint.h>

typedef struct {
    struct rankset_node *node;  /* node[0] is the empty tree's sentinel */
    int cap, used;              /* node slots allocated, slots ever used */
    int root, free_list;        /* 0: none */
    uint64_t rng;               /* treap priorities: reproducible */
} rankset;                      /* zeroed: an empty set */

/* Adds one copy of x; KE_NOMEM when it cannot grow (the set unchanged). */
int rankset_add(rankset *s, double x);
/* Takes one copy of x out; 0 when x is not in the set. */
int rankset_remove(rankset *s, double x);
int rankset_size(const rankset *s);
/* How many elements are < x. */
int rankset_rank(const rankset *s, double x);
/* The k-th smallest (0-based), 0 <= k < size. */
double rankset_kth(const rankset *s, int k);
void rankset_free(rankset *s);

#endif
