/* csv: loads a CSV file (a header line, then rows) into a dataset (the
 * "csv:PATH" source of dataset_load, and predict's rows), with the label
 * column read as classes or a regression target and categorical columns
 * one-hot encoded. */
#ifndef KESTREL_TRAINER_CSV_H
#define KESTREL_TRAINER_CSV_H

#include "../common/kerror.h"
#include "dataset.h"
#include "onehot.h"

/* Loads a CSV file with a header line. label_column names the label (NULL:
 * last column); all other columns are numeric features, except categorical
 * ones. Classification labels may be any strings (integers included): the
 * distinct values are sorted (numerically when all are numbers, else
 * bytewise) and mapped to 0..k-1. Regression: the label column is one float
 * target (t = 1).
 * Categorical columns: categorical (NULL or "": none) is "auto" (every
 * feature column holding a value that is neither a number nor a missing
 * value) or comma-separated column names; each such column's distinct values
 * over every row become ds->categories and the column k one-hot features in
 * its place (onehot.h). known (predict: a model's categories) instead fixes
 * the columns and their categories, and a value outside them is an error;
 * then categorical is unused and ds->categories stays empty. Either way the
 * file is decoded without the cache (cache_dir is unused).
 * cache_dir may be NULL. Errors name the file, line and column. */
int csv_load(const char *path, const char *label_column, dataset_task task,
             const char *categorical, const onehot *known, const char *cache_dir, dataset *ds,
             kerror *err);

#endif
