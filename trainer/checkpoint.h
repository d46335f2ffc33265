/* checkpoint: saves and restores the full training state in one versioned
 * binary file: the config (JSON), the model's parameter arena (BN running
 * stats included), the optimizer arena and step count, the loop position
 * (epoch, optimizer step), the dropout RNG and the early-stopping state. The
 * loader needs nothing saved: its batches are a function of (seed, epoch).
 * Invariant: a file on disk is either a complete, checksummed checkpoint or
 * absent: checkpoint_save writes a temporary file in the same directory,
 * fsyncs it and renames it over the target.
 *
 * Format (version 5, host byte order; the endian word rejects foreign files;
 * version 1 files, which end after the optimizer floats and have a 144-byte
 * header, version 2 files, whose header ends before the plateau state
 * (208 bytes), version 3 files, whose header ends before categories_len
 * (232 bytes) and which hold no categories, and version 4 files, whose
 * header ends before columns_len (240 bytes) and which hold no column
 * names, are still read):
 *   checkpoint_header (CHECKPOINT_HEADER_SIZE bytes)
 *   config JSON      (config_len bytes, no NUL)
 *   model floats     (n_state float32: mlp_params(), running stats last)
 *   optimizer floats (optim_n_state float32)
 *   best floats      (n_best = 0 or n_state float32: the best epoch's
 *                     parameters, kept with early_stopping_patience and
 *                     restore_best; the model the run ends on)
 *   scaler floats    (n_scaler = 0 or 2 * n_in float32: the feature
 *                     scaler fitted on the training part, shift then scale)
 *   categories JSON  (categories_len bytes, no NUL; 0 without categorical
 *                     columns: onehot_to_json's form)
 *   columns JSON     (columns_len bytes, no NUL; 0 for data without names
 *                     (IDX, synthetic): dsnames_to_json's form, the CSV's
 *                     feature and label columns' names and class labels)
 *   CRC-32 (zlib)    (uint32 of every byte before it)
 * The model floats are where training continues (resume); a user of the
 * trained model reads checkpoint_restore_final's weights and scales its rows
 * with checkpoint_scaler's scaler. docs/model.md describes the file. */
#ifndef KESTREL_CHECKPOINT_H
#define KESTREL_CHECKPOINT_H

#include <stdint.h>

#include "../common/kerror.h"
#include "train_config.h"
#include "mlp.h"
#include "optim.h"
#include "split.h"
#include "onehot.h"
#include "dsnames.h"

#define CHECKPOINT_MAGIC "KSTRLCKP"
#define CHECKPOINT_VERSION 5u
#define CHECKPOINT_HEADER_SIZE 248

/* Where the loop stands after a completed epoch. */
typedef struct {
    int64_t epoch;           /* epochs completed */
    int64_t step;            /* optimizer steps done (the schedule's position) */
    double best_val_loss;    /* INFINITY before the first evaluation */
    double best_val_accuracy;/* classification: val_accuracy at best_epoch */
    int64_t best_epoch;      /* 1-based epoch of best_val_loss, 0 = none */
    int64_t bad_epochs;      /* epochs since best_val_loss improved (patience) */
    int64_t stopped;         /* 1 once early stopping ended the run */
    int64_t plateau_cuts;    /* reduce-on-plateau: times the rate was cut */
    int64_t plateau_wait;    /* epochs without gain since the last cut or gain */
    int64_t plateau_cooldown;/* epochs of cooldown left */
    uint64_t dropout_rng[MLP_RNG_WORDS];
} checkpoint_state;

typedef struct checkpoint checkpoint;   /* a file read into memory */

/* What a file holds for a user of the trained model; each may be NULL. */
typedef struct {
    const float *best;             /* mlp_n_state floats: the best epoch's parameters */
    const split_scaler *scaler;    /* the fitted feature scaler */
    int regression;                /* 1: the outputs are regression targets */
    const onehot *categories;      /* the data's categorical columns (may be empty) */
    const dsnames *names;          /* the data's column names and class labels (may be empty) */
} checkpoint_extra;

/* Writes cfg, m (mlp_n_state floats), o (may be NULL: a model-only file), st
 * and x (may be NULL) to path atomically. Errors: KE_IO (message names the
 * file), KE_NOMEM. */
int checkpoint_save(const char *path, const train_config *cfg, mlp *m, const optim *o,
                    const checkpoint_state *st, const checkpoint_extra *x, kerror *err);

/* Whether checkpoint_save could write path: not a directory, and a file
 * can be made in its folder (one is made and removed). A run checks before
 * its first epoch, so a save at its end does not fail after all of it.
 * Errors: KE_INVALID (path "checkpoint": a directory), KE_IO (the message
 * names the file), KE_NOMEM. */
int checkpoint_check_writable(const char *path, kerror *err);

/* Reads and verifies a whole file (magic, version, sizes, checksum). On
 * success *out is owned by the caller (checkpoint_free). Errors: KE_IO,
 * KE_INVALID (not a checkpoint, other version, corrupt), KE_NOMEM. */
int checkpoint_read(checkpoint **out, const char *path, kerror *err);
void checkpoint_free(checkpoint *ck);   /* NULL allowed */

/* The stored config applied over defaults into *cfg. */
int checkpoint_config(const checkpoint *ck, train_config *cfg, kerror *err);
const checkpoint_state *checkpoint_get_state(const checkpoint *ck);

/* Copies the stored parameters into m and restores its dropout RNG.
 * KE_CONFLICT when the parameter count differs from m's. */
int checkpoint_restore_model(const checkpoint *ck, mlp *m, kerror *err);
/* The model the run ended on: the best epoch's parameters when the file
 * keeps them, else the stored ones. Errors as checkpoint_restore_model. */
int checkpoint_restore_final(const checkpoint *ck, mlp *m, kerror *err);
/* The model's input and output widths and task. KE_CONFLICT for a
 * version 1 file, which does not record them. */
int checkpoint_shape(const checkpoint *ck, int *n_in, int *n_out, int *regression, kerror *err);
/* The best epoch's parameters (mlp_n_state floats, owned by ck), or NULL
 * when the file keeps none. */
const float *checkpoint_best(const checkpoint *ck);
/* The stored feature scaler into *sc (the caller frees it with
 * split_scaler_free). KE_CONFLICT when the file has none (version 1). */
int checkpoint_scaler(const checkpoint *ck, split_scaler *sc, kerror *err);
/* The stored categories into *o (empty for a file without any; the caller
 * frees it with onehot_free). Errors: those of onehot_from_json. */
int checkpoint_categories(const checkpoint *ck, onehot *o, kerror *err);
/* The stored column names and class labels into *o (empty for a file
 * without any: version 4 or older, or data without names; the caller frees
 * it with dsnames_free). Errors: those of dsnames_from_json. */
int checkpoint_names(const checkpoint *ck, dsnames *o, kerror *err);
/* Copies the stored optimizer state and step count into o. KE_CONFLICT when
 * the file has none, or another optimizer or size. */
int checkpoint_restore_optim(const checkpoint *ck, optim *o, kerror *err);

/* KE_CONFLICT (path = the option) when cfg differs from the stored config in
 * an option that shapes the training trajectory; options that only limit or
 * place the run or say what it saves and reports (budget, threads, paths,
 * report_every, checkpoint_every, evaluate_test, device) may differ. */
int checkpoint_check_config(const checkpoint *ck, const train_config *cfg, kerror *err);

#endif
