/* sched_ckpt: checkpoint retention of finished trainer trials; see
 * sched_ckpt.h. Removals are single unlinks, one or two per ended trial, so
 * a 10,000-trial study never scans its work folder while it runs. */
#include "sched_ckpt.h"

#include <stdio.h>
#include <unistd.h>

void sched_ckpt_init(sched_ckpt *c, const char *work_dir, const char *study, int keep_all,
                     int best)
{
    c->work_dir = work_dir;
    c->study = study;
    c->keep_all = keep_all;
    c->kept = best;
}

/* Removes trial k's checkpoint if its folder is Kestrel's. */
static void drop(const sched_ckpt *c, int k)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%d/%s", c->work_dir, c->study, k, SCHED_DIR_MARK);
    if (access(path, F_OK) != 0) return;
    snprintf(path, sizeof path, "%s/%s/%d/%s", c->work_dir, c->study, k, SCHED_CKPT_FILE);
    unlink(path);
}

void sched_ckpt_ended(sched_ckpt *c, int number, int best, int promotes)
{
    if (c->keep_all || promotes) return;
    if (best != c->kept && c->kept >= 0) drop(c, c->kept);
    if (number != best) drop(c, number);
    c->kept = best;
}

void sched_ckpt_completed(sched_ckpt *c, int n, int best)
{
    if (c->keep_all) return;
    for (int k = 0; k < n; k++)
        if (k != best) drop(c, k);
    c->kept = best;
}
