/* csv: loads a CSV file (a header line, then rows) into a dataset (the
 * "csv:PATH" source of dataset_load, and predict's rows), with the label
 * column read as classes or a regression target and categorical columns
 * one-hot encoded. */
#ifndef KESTREL_TRAINER_CSV_H
#define KESTREL_TRAINER_CSV_H

#include "../common/kerror.h"
#include "dataset.h"
#include "dsnames.h"
#include "onehot.h"

/* What a trained model fixes about the files it scores (predict). */
typedef struct {
    const onehot *categories;   /* its categorical columns (NULL or empty: none) */
    const dsnames *names;       /* its columns and classes (NULL or without
                                   features: a model file of version 4 or
                                   older, which takes columns by position) */
    const char *model;          /* the model file, named in errors about its
                                   classes (NULL: "the model") */
    int unread_label;           /* DATASET_UNLABELED rows of a file that has
                                   the label column (label_column's, else the
                                   last), which is left out unread: a model
                                   of version 4 or older scoring labelled rows */
} csv_known;

/* Loads a CSV file with a header line. label_column names the label (NULL:
 * last column); all other columns are numeric features, except categorical
 * ones. Classification labels may be any strings (integers included): the
 * distinct values are sorted (numerically when all are numbers, else
 * bytewise) and mapped to 0..k-1. Regression: the label column is one float
 * target (t = 1). ds->names receives the feature columns' names (in feature
 * order), the label column's and the classes' labels (class i's as the file
 * spells it).
 * Categorical columns: categorical (NULL or "": none) is "auto" (every
 * feature column holding a value that is neither a number nor a missing
 * value) or comma-separated column names; each such column's distinct values
 * over every row become ds->categories and the column k one-hot features in
 * its place (onehot.h). known (predict: what a model stores) instead fixes
 * the columns and their categories, and a value outside them is an error;
 * then categorical is unused and ds->categories stays empty. With
 * known->names, columns are taken by name: its features, in its order,
 * wherever the header has them (a missing one is an error; other columns
 * are ignored), and its label column (label_column unused) when the header
 * has it, else the rows load unlabelled (classification with n_classes 0);
 * classification labels are numbered by its classes, and a label outside
 * them is an error naming the line. Either way the file is decoded without
 * the cache (cache_dir is unused).
 * cache_dir may be NULL. Errors name the file, line and column. */
int csv_load(const char *path, const char *label_column, dataset_task task,
             const char *categorical, const csv_known *known, const char *cache_dir, dataset *ds,
             kerror *err);

#endif
