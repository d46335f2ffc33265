/* nearest: see nearest.h. Optimal string alignment distance (Levenshtein
 * plus adjacent transpositions), computed in three rows of a bounded size:
 * names longer than NEAREST_MAX are never suggested. */
#include "nearest.h"

#include <string.h>

#define NEAREST_MAX 64

static int min3(int a, int b, int c)
{
    int m = a < b ? a : b;
    return m < c ? m : c;
}

static int distance(const char *a, const char *b)
{
    int n = (int)strlen(a), m = (int)strlen(b);
    int rows[3][NEAREST_MAX + 1];
    int *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (int j = 0; j <= m; j++) prev[j] = j;
    for (int i = 1; i <= n; i++) {
        cur[0] = i;
        for (int j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < cur[j])
                cur[j] = prev2[j - 2] + 1;
        }
        int *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[m];
}

const char *nearest_name(const char *word, const char *const *names)
{
    size_t wl = strlen(word);
    if (wl > NEAREST_MAX) return NULL;
    const char *best = NULL;
    int best_d = 0;
    for (; *names; names++) {
        size_t nl = strlen(*names);
        if (nl > NEAREST_MAX) continue;
        int d = distance(word, *names);
        int longer = (int)(wl > nl ? wl : nl);
        int limit = longer / 3 > 1 ? longer / 3 : 1;
        if (d > 0 && d <= limit && (!best || d < best_d)) {
            best = *names;
            best_d = d;
        }
    }
    return best;
}
