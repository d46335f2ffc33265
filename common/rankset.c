/* rankset: an order-statistic multiset; see rankset.h. A treap (Seidel &
 * Aragon 1996) over an array of nodes linked by index, each node keeping
 * its subtree's size. Invariant: for every node, keys in its left subtree
 * are <= its key <= keys in its right subtree, and priorities form a
 * max-heap, so the expected depth is O(log n). */
#include "rankset.h"

#include <stdlib.h>

#include "kerror.h"

struct rankset_node {
    double key;
    uint32_t prio;
    int left, right, size;
};

static uint32_t next_prio(rankset *s)
{
    /* splitmix64 */
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static void fix_size(rankset *s, int t)
{
    struct rankset_node *n = &s->node[t];
    n->size = 1 + s->node[n->left].size + s->node[n->right].size;
}

/* Splits tree t into keys < x (*l) and keys >= x (*r). */
static void split(rankset *s, int t, double x, int *l, int *r)
{
    if (!t) {
        *l = *r = 0;
        return;
    }
    if (s->node[t].key < x) {
        split(s, s->node[t].right, x, &s->node[t].right, r);
        *l = t;
    } else {
        split(s, s->node[t].left, x, l, &s->node[t].left);
        *r = t;
    }
    fix_size(s, t);
}

/* Joins l and r, every key of l <= every key of r. */
static int merge(rankset *s, int l, int r)
{
    if (!l || !r) return l ? l : r;
    if (s->node[l].prio > s->node[r].prio) {
        s->node[l].right = merge(s, s->node[l].right, r);
        fix_size(s, l);
        return l;
    }
    s->node[r].left = merge(s, l, s->node[r].left);
    fix_size(s, r);
    return r;
}

static int new_node(rankset *s, double x)
{
    int t = s->free_list;
    if (t) {
        s->free_list = s->node[t].left;
    } else {
        if (s->used + 1 >= s->cap) {
            int cap = s->cap ? s->cap * 2 : 16;
            struct rankset_node *n = realloc(s->node, (size_t)cap * sizeof *n);
            if (!n) return 0;
            if (!s->node) n[0] = (struct rankset_node){0};   /* the sentinel: size 0 */
            s->node = n;
            s->cap = cap;
        }
        t = ++s->used;
    }
    s->node[t] = (struct rankset_node){.key = x, .prio = next_prio(s), .size = 1};
    return t;
}

int rankset_add(rankset *s, double x)
{
    int t = new_node(s, x);
    if (!t) return KE_NOMEM;
    int l, r;
    split(s, s->root, x, &l, &r);
    s->root = merge(s, merge(s, l, t), r);
    return KE_OK;
}

/* Takes one node of key x out of tree *t; 0 when there is none. */
static int remove_from(rankset *s, int *t, double x)
{
    if (!*t) return 0;
    struct rankset_node *n = &s->node[*t];
    int found;
    if (x < n->key) {
        found = remove_from(s, &n->left, x);
    } else if (x > n->key) {
        found = remove_from(s, &n->right, x);
    } else {
        int gone = *t;
        *t = merge(s, n->left, n->right);
        s->node[gone].left = s->free_list;
        s->free_list = gone;
        return 1;
    }
    if (found) fix_size(s, *t);
    return found;
}

int rankset_remove(rankset *s, double x)
{
    return remove_from(s, &s->root, x);
}

int rankset_size(const rankset *s)
{
    return s->root ? s->node[s->root].size : 0;
}

int rankset_rank(const rankset *s, double x)
{
    int below = 0;
    for (int t = s->root; t;) {
        const struct rankset_node *n = &s->node[t];
        if (n->key < x) {
            below += s->node[n->left].size + 1;
            t = n->right;
        } else {
            t = n->left;
        }
    }
    return below;
}

double rankset_kth(const rankset *s, int k)
{
    int t = s->root;
    for (;;) {
        const struct rankset_node *n = &s->node[t];
        int l = s->node[n->left].size;
        if (k < l) {
            t = n->left;
        } else if (k == l) {
            return n->key;
        } else {
            k -= l + 1;
            t = n->right;
        }
    }
}

void rankset_free(rankset *s)
{
    free(s->node);
    *s = (rankset){0};
}
