/* format: writes rows of typed cells as an aligned text table, a JSON array
 * of objects or RFC 4180 CSV, streaming (one row at a time, nothing kept), so
 * listing a study of any size runs in constant memory. */
#ifndef KESTREL_FORMAT_H
#define KESTREL_FORMAT_H

#include <stdio.h>

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
    int ncols;
    const char *const *cols;    /* borrowed for the writer's life */
    int rows;
} format_writer;

/* "table", "json" or "csv" -> kind; -1 for anything else. */
int format_parse(const char *name);
void format_begin(format_writer *w, format_kind kind, FILE *out, const char *const *cols, int ncols);
void format_row(format_writer *w, const format_cell *cells);
void format_end(format_writer *w);

#endif
