/* sched_ckpt: which finished trials of a built-in trainer study keep their
 * checkpoint. A checkpoint is read by a promotion (Hyperband, ASHA) and by a
 * user who wants the best model; every other one is only disk (2.4 MB for
 * the bench MLP with Adam, 10,000 trials a study). The best trial's is kept;
 * with a strategy that never promotes, every other one is removed as soon as
 * its trial ends; with one that promotes, when the study completes.
 * Invariant: only the trainer's checkpoint file is removed, and only from
 * folders Kestrel made (SCHED_DIR_MARK): nothing a user put there. */
#ifndef KESTREL_SCHED_CKPT_H
#define KESTREL_SCHED_CKPT_H

#include "kerror.h"
#include "sched_dir.h"

/* The built-in trainer's checkpoint in a trial folder (kestrel train
 * writes it to KESTREL_CHECKPOINT_DIR). */
#define SCHED_CKPT_FILE "checkpoint.kck"

/* Retention state of one study run: the trial whose checkpoint is kept. */
typedef struct {
    const char *work_dir;   /* borrowed: "<work_dir>/<study>/<k>" */
    const char *study;      /* borrowed */
    int keep_all;           /* the spec asks to keep every checkpoint */
    int kept;               /* the best trial so far, -1 none */
} sched_ckpt;

void sched_ckpt_init(sched_ckpt *c, const char *work_dir, const char *study, int keep_all,
                     int best);

/* Trial `number` ended; best is the study's best COMPLETE trial now (-1
 * none); promotes: the strategy continues finished trials (their
 * checkpoints wait for the study's end). Otherwise removes the checkpoint of
 * whichever of the ended trial and the former best is not the best. A
 * removal that fails leaves the file: disk, never a lost result. */
void sched_ckpt_ended(sched_ckpt *c, int number, int best, int promotes);

/* The study completed: removes every checkpoint of trials [0, n) but the
 * best's. */
void sched_ckpt_completed(sched_ckpt *c, int n, int best);

#endif
