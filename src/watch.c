/* watch: see watch.h. Invariant: the snapshot holds, for each study of the
 * history at the last poll, its id, name, state and counts, so a difference
 * is reported once. */
#define _GNU_SOURCE
#include "watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    int64_t id;     /* a study made again under its name has another (sql/011) */
    study_state state;
    int counts[6];
} seen;

struct watch {
    int64_t version;
    seen *studies;
    int n;
};

static void counts_of(const storage_study *s, int c[6])
{
    int v[6] = {s->n_trials, s->n_running, s->n_complete, s->n_pruned, s->n_failed,
                s->n_interrupted};
    memcpy(c, v, sizeof v);
}

static void free_seen(seen *a, int n)
{
    for (int i = 0; i < n; i++) free(a[i].name);
    free(a);
}

/* The snapshot of list; calls fn for what differs from w's (when fn). */
static int compare(watch *w, const storage_study *list, int n, watch_fn fn, void *ctx,
                   kerror *err)
{
    seen *now = calloc(n ? n : 1, sizeof *now);
    if (!now) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (int i = 0; i < n; i++) {
        if (!(now[i].name = strdup(list[i].name))) {
            free_seen(now, i);
            return kerror_set(err, KE_NOMEM, NULL, "out of memory");
        }
        now[i].id = list[i].id;
        now[i].state = list[i].state;
        counts_of(&list[i], now[i].counts);
        const seen *old = NULL;
        for (int j = 0; j < w->n && !old; j++)
            if (!strcmp(w->studies[j].name, list[i].name)) old = &w->studies[j];
        /* deleted and made again between two looks: the old one went */
        if (fn && old && old->id != now[i].id) {
            fn(NULL, list[i].name, ctx);
            old = NULL;
        }
        if (fn && (!old || old->state != now[i].state ||
                   memcmp(old->counts, now[i].counts, sizeof old->counts)))
            fn(&list[i], list[i].name, ctx);
    }
    for (int j = 0; fn && j < w->n; j++) {
        int kept = 0;
        for (int i = 0; i < n && !kept; i++) kept = !strcmp(now[i].name, w->studies[j].name);
        if (!kept) fn(NULL, w->studies[j].name, ctx);
    }
    free_seen(w->studies, w->n);
    w->studies = now;
    w->n = n;
    return KE_OK;
}

static int look(watch *w, storage *st, watch_fn fn, void *ctx, kerror *err)
{
    storage_study *list;
    int n;
    int rc = storage_study_list(st, &list, &n, err);
    if (rc != KE_OK) return rc;
    rc = compare(w, list, n, fn, ctx, err);
    storage_study_list_free(list, n);
    return rc;
}

int watch_open(watch **out, storage *st, kerror *err)
{
    watch *w = calloc(1, sizeof *w);
    if (!w) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int rc = storage_data_version(st, &w->version, err);
    if (rc == KE_OK) rc = look(w, st, NULL, NULL, err);
    if (rc != KE_OK) {
        watch_close(w);
        return rc;
    }
    *out = w;
    return KE_OK;
}

int watch_poll(watch *w, storage *st, watch_fn fn, void *ctx, kerror *err)
{
    int64_t v;
    int rc = storage_data_version(st, &v, err);
    if (rc != KE_OK || v == w->version) return rc;
    w->version = v;
    return look(w, st, fn, ctx, err);
}

void watch_close(watch *w)
{
    if (!w) return;
    free_seen(w->studies, w->n);
    free(w);
}
