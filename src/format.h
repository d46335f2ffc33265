/* format: writes rows of typed cells as an aligned text table, a JSON array
 * of objects or RFC 4180 CSV, streaming (one row at a time, nothing kept), so
 * listing a study of any size runs in constant memory. */
#ifndef KESTREL_FORMAT_H
#define KESTREL_FORMAT_H

#include <stdio.h>

#include <jansson.h>

#include "kerror.h"

typedef enum { FORMAT_TABLE, FORMAT_JSON, FORMAT_CSV } format_kind;
typedef enum { CELL_NULL, CELL_INT, CELL_NUM, CELL_TEXT } cell_kind;

typedef struct {
    cell_kind kind;
    double num;           /* CELL_INT and CELL_NUM */
    const char *text;     /* CELL_TEXT; borrowed */
} format_cell;

typedef struct {
    format_kind kind;
    FILE *out;
    int ncols;                  /* any number (a study's metrics are its trials' to name) */
    int *width;                 /* a table's: a column's width, at least its name's; NULL
                                 * (out of memory) makes each its name's or TABLE_WIDTH */
    int started;
    const char *const *cols;    /* borrowed for the writer's life */
    int rows;
    int write_errno;            /* the first failed write's errno, or 0 */
} format_writer;

/* The shortest decimal text of v that reads back as v ("0.1", not
 * "0.10000000000000001"): what CSV and JSON cells hold. */
void format_number(double v, char *buf, size_t n);
/* The same for a float32: the shortest text that strtof reads back as v
 * ("0.1" for 0.1f, where %.9g writes "0.100000001"). */
void format_float(float v, char *buf, size_t n);
/* json_dumps(v, flags) with every real in its shortest round-trip form:
 * Jansson writes reals with "%.17g" (JSON_REAL_PRECISION only sets one
 * precision for all), so 0.1 would read "0.10000000000000001". Integers and
 * strings are left as they are. A new string (free it), or NULL when out of
 * memory. */
char *format_json(const json_t *v, size_t flags);
/* format_json's rewrite of JSON text that Jansson wrote with
 * JSON_REAL_PRECISION(17) (the trainer's report lines), in place: the text
 * only shrinks. */
void format_shorten_reals(char *text);
/* One text value as a JSON string (a byte that starts no UTF-8 sequence is
 * written U+FFFD), or as an RFC 4180 CSV field (quoted when it holds a comma,
 * a quote or a line break): what the writers below write for a text cell. */
void format_json_string(FILE *out, const char *s);
void format_csv_field(FILE *out, const char *s);
/* "table", "json" or "csv" -> kind; -1 for anything else. */
int format_parse(const char *name);
void format_begin(format_writer *w, format_kind kind, FILE *out, const char *const *cols, int ncols);
/* Makes table column col at least width wide (before the first row: a
 * caller that knows its longest cell, like a study's name, aligns the table). */
void format_widen(format_writer *w, int col, int width);
void format_row(format_writer *w, const format_cell *cells);
/* Closes the document (the header or the JSON's "]" when no row came),
 * flushes and frees what format_begin allocated. */
void format_end(format_writer *w);
/* KE_OK when everything written to out has reached it (flushed), else
 * KE_IO with the reason: a full disk under `kestrel trials > out.csv` left
 * the file cut, and the command said nothing and exited 0. format_status
 * is the same for what w wrote (after format_end or format_abandon). */
int format_flush(FILE *out, kerror *err);
int format_status(format_writer *w, kerror *err);
/* Flushes and frees, leaving the document unclosed: a listing cut by an
 * error (a reader refuses a JSON array without its "]"). */
void format_abandon(format_writer *w);

#endif
