/* csv: the CSV loader of dataset.h: a header line, then one row per line;
 * numeric features, a label column (classes or a regression target) and
 * categorical columns one-hot encoded (onehot.h). Errors name the file, line
 * and column. Invariant: on any failure the output dataset is left empty. */
#include "csv.h"
#include "dscache.h"
#include "../common/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int read_whole(const char *path, char **out, kerror *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return kerror_set(err, KE_IO, NULL, "%s: cannot open: %s", path, strerror(errno));
    /* fopen opens a directory on Linux, and its size reads as LONG_MAX:
     * the allocation below failed with that number and no word of the cause */
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return kerror_set(err, KE_INVALID, NULL, "%s: is a directory, not a CSV file", path);
    }
    int rc = KE_OK;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = kerror_set(err, KE_IO, NULL, "%s: cannot size: %s", path, strerror(errno));
    } else if (!(*out = malloc((size_t)len + 1))) {
        rc = kerror_set(err, KE_NOMEM, NULL, "%s: cannot allocate %ld bytes", path, len);
    } else if (fread(*out, 1, (size_t)len, f) != (size_t)len) {
        rc = kerror_set(err, KE_IO, NULL, "%s: read failed", path);
    } else {
        (*out)[len] = '\0';
        /* the parser reads C strings: the text would end at a NUL, and the
         * rows after it would be left out without a word */
        const char *nul = memchr(*out, '\0', (size_t)len);
        size_t line = 1;
        for (const char *p = *out; nul && p < nul; p++) line += *p == '\n';
        if (nul)
            rc = kerror_set(err, KE_INVALID, NULL, "%s:%zu: a NUL byte (not a text file)", path,
                            line);
    }
    fclose(f);
    if (rc != KE_OK) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* Cuts the next line off *cur (NUL-terminated, without "\r\n"); NULL at the
 * end of the text. */
static char *next_line(char **cur)
{
    char *s = *cur;
    if (!*s) return NULL;
    char *e = strchr(s, '\n');
    if (e) {
        *e = '\0';
        *cur = e + 1;
    } else {
        *cur = s + strlen(s);
        e = *cur;
    }
    if (e > s && e[-1] == '\r') e[-1] = '\0';
    return s;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

/* Splits line at commas in place (quoted fields may not contain commas);
 * stores at most max trimmed fields and returns how many there were. */
static size_t split_fields(char *line, char **fields, size_t max)
{
    size_t k = 0;
    for (char *s = line;; k++) {
        char *comma = strchr(s, ',');
        if (comma) *comma = '\0';
        if (k < max) fields[k] = trim(s);
        if (!comma) return k + 1;
        s = comma + 1;
    }
}

/* The spellings of a missing value in CSV exports (pandas' na_values). */
static int is_missing(const char *s)
{
    static const char *const na[] = {"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?", "-", NULL};
    for (int i = 0; na[i]; i++)
        if (!strcmp(s, na[i])) return 1;
    return 0;
}

static int is_blank(const char *s)
{
    return s[strspn(s, " \t")] == '\0';
}

/* 1 when s is a number in C's hexadecimal spelling ("0x10", "-0x1p4"):
 * strtod reads it, but a CSV's numbers are decimal (as pandas and Excel
 * read them), so "0x10" would become 16 where every other tool sees text. */
static int hex_number(const char *s)
{
    s += strspn(s, " \t");
    s += *s == '+' || *s == '-';
    if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) return 0;
    char *end;
    strtod(s, &end);
    return end > s + 2 && !*end;
}

#define HEX_HINT " (only decimal numbers are read)"
#define RANGE_HINT " (only finite numbers within +-3.4e38 are read)"
/* A model file keeps the names, labels and categories a CSV gives it as
 * JSON text, which is UTF-8: Latin-1 (a spreadsheet's export) trained, and
 * the checkpoint could then not be written, at the run's end. */
#define UTF8_HINT " that is not UTF-8 text (save the file as UTF-8)"

/* What a field spells: a finite float; a decimal number strtod reads whole
 * that a float cannot hold ("inf", "-Infinity", "1e39"), which is no
 * category or class name but a number out of range; or anything else. */
typedef enum { NUM_FINITE, NUM_RANGE, NUM_NONE } num_kind;

/* s's kind; *out its value when it is NUM_FINITE. */
static num_kind number_kind(const char *s, float *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || hex_number(s)) return NUM_NONE;
    if (!isfinite(v) || fabs(v) > 3.4e38) return NUM_RANGE;
    *out = (float)v;
    return NUM_FINITE;
}

/* A finite float spelled fully by s, in decimal. */
static int parse_float(const char *s, float *out)
{
    return number_kind(s, out) == NUM_FINITE ? 0 : -1;
}

/* what ("value", "target") of column j, a number a float cannot hold */
static int range_error(const char *path, size_t lineno, size_t j, const char *name,
                       const char *what, const char *value, kerror *err)
{
    return kerror_set(err, KE_INVALID, NULL, "%s:%zu: column %zu ('%s'): %s '%s' out of range"
                      RANGE_HINT, path, lineno, j + 1, name, what, value);
}

typedef struct {
    const char *s;
    float v;
    size_t line;   /* of the file, for errors */
} csv_label;

static int label_cmp_num(const void *a, const void *b)
{
    float x = ((const csv_label *)a)->v, y = ((const csv_label *)b)->v;
    return (x > y) - (x < y);
}

static int label_cmp_str(const void *a, const void *b)
{
    return strcmp(((const csv_label *)a)->s, ((const csv_label *)b)->s);
}

/* The k distinct labels (uniq's first k) as the class names of names. */
static int class_names(const csv_label *uniq, size_t k, dsnames *names, kerror *err)
{
    const char **v = malloc(k * sizeof *v);
    if (!v) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < k; i++) v[i] = uniq[i].s;
    int rc = dsnames_set_classes(names, v, k, err);
    free(v);
    return rc;
}

/* Maps the n label strings to 0..k-1 in sorted order (numeric when every
 * label is a number, so "10" sorts after "9") and keeps the k labels, as
 * spelled in the file, as names' classes. */
static int map_labels(csv_label *lab, size_t n, const char *path, dataset *ds, dsnames *names,
                      kerror *err)
{
    int numeric = 1;
    for (size_t i = 0; i < n && numeric; i++)
        numeric = parse_float(lab[i].s, &lab[i].v) == 0;
    int (*cmp)(const void *, const void *) = numeric ? label_cmp_num : label_cmp_str;
    csv_label *uniq = malloc(n * sizeof *uniq);
    if (!uniq)
        return kerror_set(err, KE_NOMEM, NULL, "%s: cannot allocate labels", path);
    memcpy(uniq, lab, n * sizeof *uniq);
    qsort(uniq, n, sizeof *uniq, cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || cmp(&uniq[k - 1], &uniq[i]) != 0)
            uniq[k++] = uniq[i];
    for (size_t i = 0; i < n; i++) {
        const csv_label *hit = bsearch(&lab[i], uniq, k, sizeof *uniq, cmp);
        ds->y[i] = (int32_t)(hit - uniq);
    }
    int rc = k < 2 ? kerror_set(err, KE_INVALID, NULL, "%s: the label column has %zu distinct "
                                "value(s), need >= 2", path, k)
                   : class_names(uniq, k, names, err);
    free(uniq);
    if (!rc) ds->n_classes = k;
    return rc;
}

/* A model's classes (csv_known's names) for looking labels up: class i's
 * label at v[i], with its value when every label is a number, in the order
 * map_labels numbered them (cmp's). */
typedef struct {
    csv_label *v;
    size_t k;
    int (*cmp)(const void *, const void *);
} class_map;

/* The lookup of w's classes (the caller frees cm->v). A class is numeric
 * exactly when training read every label as a number: a class's label is
 * one of the training labels, and a label that is no number is its class's
 * only spelling. KE_INVALID when they are out of that order (a corrupt
 * model file: a binary search would miss). KE_CONFLICT for a hexadecimal
 * label: a model trained before CSV data took decimal numbers only
 * numbered it by its value, which no label of a file can now spell (it
 * read as "corrupt", or its own training file's '0x10' was refused). */
static int class_map_build(const dsnames *w, const char *model, class_map *cm, kerror *err)
{
    cm->k = w->n_classes;
    for (size_t i = 0; i < cm->k; i++)
        if (hex_number(w->classes[i]))
            return kerror_set(err, KE_CONFLICT, "checkpoint", "model '%s': class label '%s' is a "
                              "hexadecimal number, which Kestrel read as %g before it took decimal "
                              "numbers only: train the model again, on labels written in decimal "
                              "or as text", model ? model : "the model", w->classes[i],
                              strtod(w->classes[i], NULL));
    if (!(cm->v = malloc(cm->k * sizeof *cm->v)))
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int numeric = 1;
    for (size_t i = 0; i < cm->k; i++) {
        cm->v[i].s = w->classes[i];
        numeric = numeric && parse_float(cm->v[i].s, &cm->v[i].v) == 0;
    }
    cm->cmp = numeric ? label_cmp_num : label_cmp_str;
    for (size_t i = 1; i < cm->k; i++)
        if (cm->cmp(&cm->v[i - 1], &cm->v[i]) >= 0)
            return kerror_set(err, KE_INVALID, "checkpoint", "the model's class labels are out of "
                              "order (corrupt file)");
    return KE_OK;
}

typedef struct {
    const char *path, *label;
    dataset_task task;
    const char *categorical;   /* csv_load's: "" for none */
    const onehot *known;       /* csv_known's categories: NULL to fit */
    const dsnames *want;       /* csv_known's names when it has features: NULL to take
                                  the columns by position */
    const char *model;         /* csv_known's model file, for errors (may be NULL) */
    int unread_label;          /* csv_known's: an unlabelled task's file has the label
                                  column, to leave out */
} csv_ctx;

/* The header's columns once resolved. */
typedef struct {
    char **names, **fields;         /* ncol each: the header's names, a row's fields */
    size_t ncol, label_col;         /* label_col == ncol: no label column */
    size_t *feat, m;                /* the m feature columns, in the dataset's order */
    const onehot_column **cat;      /* cat[j]: column j's categories when one-hot, else NULL */
} csv_layout;

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* DATASET_AUTO's rule (dataset.h): labels that read as a continuous
 * target. A classifier would make each distinct value a class of its own
 * and report an accuracy near 0 without a word. A number out of float's
 * range counts as a number (to_regression refuses it): as a class name it
 * turned a column of targets into classes. */
static int looks_continuous(const csv_label *lab, size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return 0;
    size_t m = 0;   /* v[0, m): the finite values */
    int fraction = 0;
    for (size_t i = 0; i < n; i++) {
        num_kind kind = number_kind(lab[i].s, &v[m]);
        if (kind == NUM_NONE) {
            free(v);
            return 0;
        }
        if (kind == NUM_FINITE) {
            fraction = fraction || v[m] != floorf(v[m]);
            m++;
        }
    }
    qsort(v, m, sizeof *v, cmp_float);
    size_t k = m > 0;
    for (size_t i = 1; i < m; i++) k += v[i] != v[i - 1];
    free(v);
    return fraction || (k > 100 && 2 * k > n);
}

/* The classification dataset ds, its labels (column j of c's file) read as
 * one regression target; a label out of float's range is refused. */
static int to_regression(const csv_ctx *c, size_t j, const char *name, dataset *ds,
                         const csv_label *lab, kerror *err)
{
    for (size_t i = 0; i < ds->n; i++)
        if (number_kind(lab[i].s, &(float){0}) == NUM_RANGE)
            return range_error(c->path, lab[i].line, j, name, "target", lab[i].s, err);
    dataset r;
    int rc = dataset_alloc(&r, DATASET_REGRESSION, ds->n, ds->d, 1, err);
    if (rc) return rc;
    memcpy(r.x, ds->x, ds->n * ds->d * sizeof *r.x);
    for (size_t i = 0; i < ds->n; i++) number_kind(lab[i].s, &r.targets[i]);
    dataset_free(ds);
    *ds = r;
    return KE_OK;
}

/* 1 when every name reads as a number: the first line of a file without a
 * header, whose row would become the names (and be lost as data). Not
 * pandas' names of unnamed columns, 0, 1, ..., n - 1 (to_csv of a DataFrame
 * made from an array). */
static int numeric_header(char *const *names, size_t n)
{
    int positions = 1;
    for (size_t j = 0; j < n; j++) {
        float v;
        char pos[32];
        if (parse_float(names[j], &v) != 0) return 0;
        snprintf(pos, sizeof pos, "%zu", j);
        positions = positions && !strcmp(names[j], pos);
    }
    return !positions;
}

/* 1 when a name still starts or ends with a quote: trim() strips whole
 * quotes, so this is a quoted name that split_fields cut at its comma. */
static int cut_quote(char *const *names, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        size_t len = strlen(names[j]);
        if (len && (names[j][0] == '"' || names[j][len - 1] == '"')) return 1;
    }
    return 0;
}

/* What may give line (before split_fields cuts it) more fields than the
 * header: a comma ending it, or a quoted comma; "" when neither. */
static const char *surplus_hint(const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
    if (n && line[n - 1] == ',') return " (a comma at the end of the line?)";
    return strchr(line, '"') ? " (a quoted field holding a comma? not supported: it is cut in two)"
                             : "";
}

/* hint: surplus_hint's, said when the line has more fields than the header */
static int field_count_error(const char *path, size_t lineno, size_t k, size_t ncol,
                             const char *hint, kerror *err)
{
    return kerror_set(err, KE_INVALID, NULL, "%s:%zu: %zu fields, the header has %zu%s", path, lineno,
                      k, ncol, k > ncol ? hint : "");
}

static int field_error(const csv_ctx *c, size_t lineno, size_t j, const char *name,
                       const char *value, kerror *err)
{
    float v;
    int na = is_missing(value), hex = hex_number(value);
    if (!na && number_kind(value, &v) == NUM_RANGE)
        return range_error(c->path, lineno, j, name, "value", value, err);
    return kerror_set(err, KE_INVALID, NULL, "%s:%zu: column %zu ('%s'): %s '%s'%s", c->path, lineno,
                      j + 1, name,
                      na ? "missing value" : hex ? "hexadecimal value" : "non-numeric value", value,
                      na    ? " (not imputed: fill or drop the row)"
                      : hex ? HEX_HINT
                            : " (a category? one-hot encode it with categorical=auto or =NAME)");
}

/* Row features f.. of categorical column col: 1 at value's category. */
static int encode(const csv_ctx *c, size_t lineno, size_t j, const onehot_column *col,
                  const char *value, float *xf, kerror *err)
{
    if (is_missing(value)) return field_error(c, lineno, j, col->name, value, err);
    if (!utf8_valid(value))
        return kerror_set(err, KE_INVALID, NULL, "%s:%zu: column %zu ('%s'): a value" UTF8_HINT,
                          c->path, lineno, j + 1, col->name);
    long i = onehot_index(col, value);
    if (i >= 0) {
        xf[i] = 1.0f;
        return KE_OK;
    }
    return kerror_set(err, KE_INVALID, NULL, "%s:%zu: column %zu ('%s'): category '%s' was not "
                      "in the training data (the model knows %zu: '%s'%s)", c->path, lineno, j + 1,
                      col->name, value, col->k, col->values[0], col->k > 1 ? ", ..." : "");
}

/* 'a', 'b', ... : the n names in buf (of size len), cut short with ", ..."
 * when they do not fit. */
static const char *name_list(char *const *names, size_t n, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + at, len - at, "%s'%s'", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= len - at || (i + 1 < n && at + (size_t)w + 6 >= len)) {
            snprintf(buf + at, len - at, ", ...");
            break;
        }
        at += (size_t)w;
    }
    return buf;
}

/* Row row's label field into ds: a model's classes (cm) number it, and a
 * label training never saw is an error; else lab keeps it for map_labels
 * (classification) or it is the regression target. A missing value is an
 * error, as in a feature column: as a label it became a class of its own,
 * trained on and scored without a word (a model file that has such a class
 * still finds it). Nothing without a label column. */
static int read_label(const csv_ctx *c, const csv_layout *L, size_t lineno, size_t row,
                      const class_map *cm, csv_label *lab, dataset *ds, kerror *err)
{
    size_t j = L->label_col;
    if (j == L->ncol || c->unread_label) return KE_OK;
    const char *v = L->fields[j];
    const csv_label *hit = NULL;
    if (cm) {
        csv_label key = {v, 0, lineno};
        int number = cm->cmp != label_cmp_num || parse_float(v, &key.v) == 0;
        hit = number ? bsearch(&key, cm->v, cm->k, sizeof key, cm->cmp) : NULL;
    }
    if (!hit && is_missing(v))
        return kerror_set(err, KE_INVALID, NULL, "%s:%zu: column %zu ('%s'): missing %s '%s' (not "
                          "imputed: fill or drop the row)", c->path, lineno, j + 1, L->names[j],
                          cm || lab ? "label" : "target", v);
    /* as a class name "0x10" would stand beside "16" for the same number */
    if (hex_number(v))
        return kerror_set(err, KE_INVALID, NULL, "%s:%zu: column %zu ('%s'): hexadecimal %s '%s'"
                          HEX_HINT, c->path, lineno, j + 1, L->names[j],
                          cm || lab ? "label" : "target", v);
    if (cm) {
        char list[256];
        if (!hit)
            return kerror_set(err, KE_INVALID, NULL, "%s:%zu: column %zu ('%s'): label '%s' was not "
                              "in the training data (the model knows %zu classes: %s)", c->path,
                              lineno, j + 1, L->names[j], v, cm->k,
                              name_list(c->want->classes, cm->k, list, sizeof list));
        ds->y[row] = (int32_t)(hit - cm->v);
    } else if (lab && !utf8_valid(v)) {
        return kerror_set(err, KE_INVALID, NULL, "%s:%zu: column %zu ('%s'): a label" UTF8_HINT,
                          c->path, lineno, j + 1, L->names[j]);
    } else if (lab) {
        lab[row].s = v;
        lab[row].line = lineno;
    } else if (number_kind(v, &ds->targets[row]) == NUM_RANGE) {
        return range_error(c->path, lineno, j, L->names[j], "target", v, err);
    } else if (parse_float(v, &ds->targets[row]) != 0) {
        return kerror_set(err, KE_INVALID, NULL, "%s:%zu: label column %zu ('%s'): non-numeric "
                          "target '%s'", c->path, lineno, j + 1, L->names[j], v);
    }
    return KE_OK;
}

/* Parses the data rows after the header into ds (allocated for them): L's
 * feature columns in its order, one-hot where L->cat says, and the label
 * (read_label's cm and lab). */
static int csv_rows(char *cur, size_t first_line, const csv_layout *L, const csv_ctx *c,
                    const class_map *cm, csv_label *lab, dataset *ds, kerror *err)
{
    size_t row = 0, lineno = first_line;
    for (char *line; (line = next_line(&cur)); lineno++) {
        if (is_blank(line)) continue;
        const char *hint = surplus_hint(line);
        size_t k = split_fields(line, L->fields, L->ncol);
        if (k != L->ncol) return field_count_error(c->path, lineno, k, L->ncol, hint, err);
        float *xr = ds->x + row * ds->d;
        for (size_t i = 0, f = 0; i < L->m; i++) {
            size_t j = L->feat[i];
            if (L->cat[j]) {
                int rc = encode(c, lineno, j, L->cat[j], L->fields[j], xr + f, err);
                if (rc) return rc;
                f += L->cat[j]->k;
            } else if (parse_float(L->fields[j], &xr[f++]) != 0) {
                return field_error(c, lineno, j, L->names[j], L->fields[j], err);
            }
        }
        int rc = read_label(c, L, lineno, row, cm, lab, ds, err);
        if (rc) return rc;
        row++;
    }
    return KE_OK;
}

/* The option's column names: each a feature column of the header. */
static int check_selection(const csv_ctx *c, char *const *names, size_t ncol, size_t label_col,
                           kerror *err)
{
    for (const char *s = c->categorical; *s;) {
        size_t n = strcspn(s, ","), j = 0;
        while (j < ncol && (strlen(names[j]) != n || strncmp(names[j], s, n))) j++;
        if (j == ncol || j == label_col)
            return kerror_set(err, KE_INVALID, "categorical", "%s: '%.*s' is %s", c->path, (int)n, s,
                              j == ncol ? "no column of the header" : "the label column");
        s += n + (s[n] == ',');
    }
    return KE_OK;
}

/* Pass 1 with the categorical option: the categories of the columns it
 * selects, from every data row of body. It cuts up a copy: csv_rows then
 * parses the original. */
static int fit_categories(const csv_ctx *c, const char *body, size_t rows, char **names,
                          size_t ncol, size_t label_col, onehot *fit, kerror *err)
{
    int any = !strcmp(c->categorical, "auto");
    int rc = any ? KE_OK : check_selection(c, names, ncol, label_col, err);
    if (rc) return rc;
    char *copy = strdup(body);
    char **cells = malloc(rows * ncol * sizeof *cells);
    const char **col = malloc(rows * sizeof *col);
    if (!copy || !cells || !col) rc = kerror_set(err, KE_NOMEM, NULL, "%s: out of memory", c->path);
    size_t r = 0, lineno = 2;
    for (char *cur = copy, *line; !rc && (line = next_line(&cur)); lineno++) {
        if (is_blank(line)) continue;
        const char *hint = surplus_hint(line);
        size_t k = split_fields(line, cells + r * ncol, ncol);
        if (k != ncol) rc = field_count_error(c->path, lineno, k, ncol, hint, err);
        r++;
    }
    for (size_t j = 0; !rc && j < ncol; j++) {
        int pick = j != label_col && (any || onehot_selects(c->categorical, names[j]));
        size_t m = 0, other = 0;
        float v;
        for (size_t i = 0; pick && i < rows; i++)
            if (!is_missing(cells[i * ncol + j])) {
                col[m++] = cells[i * ncol + j];
                other += number_kind(col[m - 1], &v) == NUM_NONE;
            }
        /* auto: a column of numbers (and missing values) stays numeric;
         * all-missing columns are csv_rows' error either way */
        if (pick && m && (!any || other)) rc = onehot_add(fit, names[j], col, m, err);
    }
    free(col);
    free(cells);
    free(copy);
    return rc;
}

/* The feature columns: every column but the label, in the file's order; or,
 * with a model's names (c->want), its feature columns by name, in its order,
 * wherever the file has them; other columns are then ignored. The n-th
 * feature of a name the model lists twice is the file's n-th column of that
 * name. */
static int pick_features(const csv_ctx *c, csv_layout *L, kerror *err)
{
    L->m = 0;
    for (size_t j = 0; !c->want && j < L->ncol; j++)
        if (j != L->label_col) L->feat[L->m++] = j;
    for (size_t i = 0; c->want && i < c->want->n_features; i++) {
        char *const *want = c->want->features;
        size_t before = 0, seen = 0, j = 0;
        for (size_t q = 0; q < i; q++) before += !strcmp(want[q], want[i]);
        for (; j < L->ncol; j++)
            if (j != L->label_col && !strcmp(L->names[j], want[i]) && seen++ == before) break;
        if (j == L->ncol) {
            char list[256];
            return kerror_set(err, KE_INVALID, "data", "%s: no column '%s' (the model takes its "
                              "feature columns by name: %s)", c->path, want[i],
                              name_list(want, c->want->n_features, list, sizeof list));
        }
        L->feat[L->m++] = j;
    }
    return KE_OK;
}

/* Which of L's feature columns are one-hot (L->cat[j], from known or fitted
 * into fit) and the number of features *d they make. */
static int csv_features(const csv_ctx *c, const char *body, size_t rows, csv_layout *L, onehot *fit,
                        size_t *d, kerror *err)
{
    const onehot *o = c->known ? c->known : fit;
    int rc = !c->known && c->categorical[0]
                 ? fit_categories(c, body, rows, L->names, L->ncol, L->label_col, fit, err) : KE_OK;
    for (size_t i = 0; !rc && c->known && i < c->known->n; i++) {
        size_t j = 0;
        while (j < L->ncol && (j == L->label_col || strcmp(L->names[j], c->known->cols[i].name))) j++;
        if (j == L->ncol)
            rc = kerror_set(err, KE_INVALID, "data", "%s: no column '%s' (the model one-hot "
                            "encodes it)", c->path, c->known->cols[i].name);
    }
    *d = 0;
    for (size_t i = 0; !rc && i < L->m; i++) {
        size_t j = L->feat[i];
        L->cat[j] = onehot_find(o, L->names[j]);
        *d += L->cat[j] ? L->cat[j]->k : 1;
    }
    return rc;
}

/* Resolves the header (split into L->names) for rows data rows: the label
 * column (by name, else the last; with a model's names a file may leave it
 * out: *unlabeled), the feature columns and the width *d they make. */
static int csv_layout_resolve(const csv_ctx *c, const char *body, size_t rows, csv_layout *L,
                              int *unlabeled, onehot *fit, size_t *d, kerror *err)
{
    size_t ncol = L->ncol;
    const char *label = c->want ? c->want->label : c->label;
    *unlabeled = c->task == DATASET_UNLABELED;
    /* unread_label: the column is found as a labelled file's, then skipped */
    int has_label = !*unlabeled || c->unread_label;
    L->label_col = has_label ? ncol - 1 : ncol;
    if ((label || c->want) && has_label) {
        L->label_col = 0;
        while (L->label_col < ncol && (!label || strcmp(L->names[L->label_col], label)))
            L->label_col++;
    }
    if (c->want && L->label_col == ncol) *unlabeled = 1;
    if (cut_quote(L->names, ncol))
        return kerror_set(err, KE_INVALID, NULL, "%s:1: a quoted column name holds a comma "
                          "(not supported: it shifts every column); rename it", c->path);
    /* an unnamed last column (a comma ending every line) became the label,
     * and its empty fields were blamed on the first row; an unnamed first
     * one, pandas' index, was a feature that numbers the rows */
    if (!c->want && ncol == 1 && !L->names[0][0])
        return kerror_set(err, KE_INVALID, NULL, "%s:1: the header line is empty (the first "
                          "line must name the columns)", c->path);
    for (size_t j = 0; !c->want && j < ncol; j++)
        if (!utf8_valid(L->names[j]))
            return kerror_set(err, KE_INVALID, NULL, "%s:1: column %zu of the header is not UTF-8 "
                              "text (save the file as UTF-8)", c->path, j + 1);
    for (size_t j = 0; !c->want && j < ncol; j++)
        if (!L->names[j][0])
            return kerror_set(err, KE_INVALID, NULL, "%s:1: column %zu of the header has no "
                              "name%s: name it or remove it", c->path, j + 1,
                              j + 1 == ncol ? " (a comma at the end of the line?)"
                              : j == 0      ? " (pandas' index? to_csv(index=False) leaves it out)"
                                            : "");
    char list[256];
    if (numeric_header(L->names, ncol))
        return kerror_set(err, KE_INVALID, NULL, "%s:1: the header line holds only numbers (%s): "
                          "the first line must name the columns (without one, the first row "
                          "would be taken as the names and lost); add a header line", c->path,
                          name_list(L->names, ncol, list, sizeof list));
    /* a model of version 4 or older (no column names) scoring rows: the
     * user set no label_column; the model's training did */
    if (L->label_col == ncol && (!*unlabeled || c->unread_label) && c->model)
        return kerror_set(err, KE_INVALID, "data", "%s: no column named '%s' in the header: "
                          "model '%s' (a file of version 4 or older) was trained with "
                          "label_column=%s and takes that column by name; name it so (or, "
                          "for kestrel predict, leave it out)", c->path, c->label, c->model,
                          c->label);
    if (L->label_col == ncol && (!*unlabeled || c->unread_label))
        return kerror_set(err, KE_INVALID, "label_column", "%s: no column named '%s' in the header",
                          c->path, c->label);
    if (ncol < 2 && !*unlabeled)
        return kerror_set(err, KE_INVALID, NULL,
                          "%s: need a label column and at least one feature column", c->path);
    if (rows == 0)
        return kerror_set(err, KE_INVALID, NULL, "%s: no data rows after the header", c->path);
    int rc = pick_features(c, L, err);
    return rc ? rc : csv_features(c, body, rows, L, fit, d, err);
}

/* The names ds keeps: L's feature and label columns' and, with a model's
 * classes, those (map_labels sets them for a file's own). */
static int layout_names(const csv_ctx *c, const csv_layout *L, const class_map *cm, dsnames *dn,
                        kerror *err)
{
    const char **v = malloc((L->m ? L->m : 1) * sizeof *v);
    if (!v) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < L->m; i++) v[i] = L->names[L->feat[i]];
    int rc = dsnames_set_columns(dn, v, L->m, L->label_col < L->ncol ? L->names[L->label_col] : NULL,
                                 err);
    free(v);
    if (!rc && cm) rc = dsnames_set_classes(dn, (const char *const *)c->want->classes, cm->k, err);
    return rc;
}

/* Data rows of the text after the header (lines not blank). */
static size_t count_rows(const char *s)
{
    size_t rows = 0;
    while (*s) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (strspn(s, " \t\r") < len) rows++;
        s += len + (e != NULL);
    }
    return rows;
}

static int csv_decode(void *vctx, dataset *ds, kerror *err)
{
    const csv_ctx *c = vctx;
    char *text, *cur, *header;
    int rc = read_whole(c->path, &text, err);
    if (rc != KE_OK) return rc;
    cur = text;
    if (!strncmp(cur, "\xEF\xBB\xBF", 3)) cur += 3;   /* UTF-8 byte order mark */
    if (!(header = next_line(&cur))) {
        free(text);
        return kerror_set(err, KE_INVALID, NULL, "%s: empty file, expected a header line", c->path);
    }
    size_t ncol = 1, rows = count_rows(cur), d = 0;
    for (const char *s = header; (s = strchr(s, ',')); s++)
        ncol++;
    csv_layout L = {.ncol = ncol};
    char **cols = malloc(2 * ncol * sizeof *cols);
    L.feat = malloc(ncol * sizeof *L.feat);
    L.cat = calloc(ncol, sizeof *L.cat);
    csv_label *lab = NULL;
    class_map cm = {0};
    onehot fit = {0};
    dsnames dn = {0};
    int unlabeled = 0;
    if (!cols || !L.feat || !L.cat)
        rc = kerror_set(err, KE_NOMEM, NULL, "%s: cannot allocate %zu columns", c->path, ncol);
    if (rc == KE_OK) {
        L.names = cols;
        L.fields = cols + ncol;
        split_fields(header, L.names, ncol);
        rc = csv_layout_resolve(c, cur, rows, &L, &unlabeled, &fit, &d, err);
    }
    dataset_task read = c->task == DATASET_REGRESSION && !unlabeled ? DATASET_REGRESSION
                                                                    : DATASET_CLASSIFICATION;
    /* a model's classes number the labels as in training */
    int known = read == DATASET_CLASSIFICATION && !unlabeled && c->want && c->want->n_classes;
    if (rc == KE_OK && known) rc = class_map_build(c->want, c->model, &cm, err);
    if (rc == KE_OK)
        rc = dataset_alloc(ds, read, rows, d, 1, err);
    if (rc == KE_OK && read == DATASET_CLASSIFICATION && !unlabeled && !known &&
        !(lab = malloc(rows * sizeof *lab)))
        rc = kerror_set(err, KE_NOMEM, NULL, "%s: cannot allocate labels", c->path);
    if (rc == KE_OK)
        rc = csv_rows(cur, 2, &L, c, known ? &cm : NULL, lab, ds, err);
    if (rc == KE_OK && known) ds->n_classes = cm.k;
    if (rc == KE_OK) rc = layout_names(c, &L, known ? &cm : NULL, &dn, err);
    if (rc == KE_OK && lab)
        rc = c->task == DATASET_AUTO && looks_continuous(lab, rows)
                 ? to_regression(c, L.label_col, L.names[L.label_col], ds, lab, err)
                 : map_labels(lab, rows, c->path, ds, &dn, err);
    free(lab);
    free(cm.v);
    free(L.cat);
    free(L.feat);
    free(cols);
    free(text);
    if (rc != KE_OK) {
        onehot_free(&fit);
        dsnames_free(&dn);
        dataset_free(ds);
    } else {
        ds->categories = fit;
        ds->names = dn;
    }
    return rc;
}

int csv_load(const char *path, const char *label_column, dataset_task task,
             const char *categorical, const csv_known *known, const char *cache_dir, dataset *ds,
             kerror *err)
{
    memset(ds, 0, sizeof *ds);
    if (!path || !*path)
        return kerror_set(err, KE_INVALID, "source", "CSV source needs a path");
    const dsnames *want = known && known->names && known->names->n_features ? known->names : NULL;
    csv_ctx c = {path, label_column, task, categorical ? categorical : "",
                 known ? known->categories : NULL, want, known ? known->model : NULL,
                 known && known->unread_label && task == DATASET_UNLABELED};
    /* the cache keeps features, not the categories they stand for; a model's
     * rows are read once */
    if (known || c.categorical[0]) cache_dir = NULL;
    /* v2: a missing label is refused; a v1 file may hold one as a class.
     * v3: a header of numbers and hexadecimal values are refused; a v2 file
     * may have read them. v4: a number beyond float's range is refused; a
     * v3 file may hold it as a class (a column of targets as classes); and
     * so is text that is not UTF-8, which a v3 file may hold */
    char recipe[512];
    int len = snprintf(recipe, sizeof recipe, "csv v4 task=%d last=%d label=%s", (int)task,
                       label_column == NULL, label_column ? label_column : "");
    if (len < 0 || (size_t)len >= sizeof recipe)
        return kerror_set(err, KE_INVALID, "label_column", "label column name too long");
    const char *paths[1] = {path};
    return dscache_load(cache_dir, paths, 1, recipe, csv_decode, &c, ds, err);
}
