/* format: table/JSON/CSV row writer; see format.h. Tables use fixed column
 * widths (a float at %.6g, the column's name, or what the caller widened it
 * to) instead of measuring every row, the price of streaming; longer cells
 * simply push the line out. */
#include "format.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define TABLE_WIDTH 12

int format_parse(const char *name)
{
    if (!name) return -1;
    if (strcmp(name, "table") == 0) return FORMAT_TABLE;
    if (strcmp(name, "json") == 0) return FORMAT_JSON;
    if (strcmp(name, "csv") == 0) return FORMAT_CSV;
    return -1;
}

/* The digits a real may need: a double's shortest form has at most 17 and
 * any of 15 or fewer is found by rounding to 15 (%g drops trailing zeros,
 * so 15 digits already give "0.1"); a float's, at most 9 and from 6. */
typedef struct {
    int lo, hi;
    int is_float;       /* reads back through strtof */
} precision;

static const precision DOUBLE_DIGITS = {15, 17, 0}, FLOAT_DIGITS = {6, 9, 1};

static int reads_back(const char *s, double v, const precision *pr)
{
    return pr->is_float ? strtof(s, NULL) == (float)v : strtod(s, NULL) == v;
}

/* The %.*g loop, for what the digit path below leaves to printf: only the
 * values that need more digits to read back the same get them. */
static void number_by_printf(double v, const precision *pr, char *buf, size_t n)
{
    for (int digits = pr->lo; digits <= pr->hi; digits++) {
        snprintf(buf, n, "%.*g", digits, v);
        if (reads_back(buf, v, pr)) return;
    }
}

/* v's 17 significant digits (d, '0'-padded) and the decimal exponent of the
 * first, read from its %.17g text s (len chars); 0 when s has no nonzero
 * digit or more than 17. */
static int read_digits(const char *s, size_t len, char d[17], int *x)
{
    int nd = 0, before_point = 0, lead = 0, point = 0;
    size_t i = s[0] == '-';
    for (; i < len && s[i] != 'e' && s[i] != 'E'; i++) {
        if (s[i] == '.') {
            point = 1;
            continue;
        }
        if (!point) before_point++;
        if (nd == 0 && s[i] == '0') lead++;
        else if (nd == 17) return 0;
        else d[nd++] = s[i];
    }
    if (nd == 0) return 0;
    memset(d + nd, '0', (size_t)(17 - nd));
    *x = before_point - 1 - lead + (i < len ? atoi(s + i + 1) : 0);
    return 1;
}

/* Writes d rounded to p digits (exponent x) as printf's %.{p}g would; 0
 * when the 17 digits do not decide the rounding (the dropped ones are
 * exactly 5, 50, ...: the exact binary value may lie on either side). */
static int write_g(const char d[17], int x, int p, int negative, char *out)
{
    char r[17];
    memcpy(r, d, (size_t)p);
    int tie = d[p] == '5';
    for (int i = p + 1; i < 17 && tie; i++) tie = d[i] == '0';
    if (tie) return 0;
    int up = d[p] >= '5';
    for (int i = p - 1; up && i >= 0; i--) {
        up = r[i] == '9';
        r[i] = up ? '0' : (char)(r[i] + 1);
    }
    if (up) {   /* 99..9 rounded to 100..0 */
        r[0] = '1';
        x++;
    }
    int nd = p;
    while (nd > 1 && r[nd - 1] == '0') nd--;
    char *w = out;
    if (negative) *w++ = '-';
    if (x < -4 || x >= p) {
        *w++ = r[0];
        if (nd > 1) {
            *w++ = '.';
            memcpy(w, r + 1, (size_t)(nd - 1));
            w += nd - 1;
        }
        sprintf(w, "e%c%02d", x < 0 ? '-' : '+', abs(x));
        return 1;
    }
    if (x < 0) {
        *w++ = '0';
        *w++ = '.';
        for (int i = -1; i > x; i--) *w++ = '0';
        memcpy(w, r, (size_t)nd);
        w += nd;
    } else {
        for (int i = 0; i <= x; i++) *w++ = i < nd ? r[i] : '0';
        if (nd > x + 1) {
            *w++ = '.';
            memcpy(w, r + x + 1, (size_t)(nd - x - 1));
            w += nd - x - 1;
        }
    }
    *w = '\0';
    return 1;
}

/* format_number's answer for v from its %.17g text s (len chars, the one
 * printf call): the shorter forms are rounded from its digits, so a real
 * costs one printf and a strtod or two instead of up to three of each (the
 * dashboard's 10,000-trial pages hold some 60,000 reals). A float's 17
 * digits decide its rounding to 9 or fewer as well.
 *
 * The search goes down from hi - 1 digits and stops at the first form that
 * does not read back: the reals that read back the same form a range
 * around v, and the p-digit rounding lies no farther from v than the
 * (p-1)-digit one, so a form that reads back has every longer one do so.
 * A real that needs all hi digits (half of a study's, drawn at random)
 * then costs one strtod, and its form is s itself. Except at a power of
 * two, whose range below v is half that above: a rounding down may fail
 * where a shorter one up reads back, so it is searched upwards. */
static void shortest_of(double v, const precision *pr, const char *s, size_t len, char *buf,
                        size_t n)
{
    char d[17], out[40], found[40] = "";
    int x, e;
    if (n < sizeof out || !isfinite(v) || !read_digits(s, len, d, &x)) {
        number_by_printf(v, pr, buf, n);
        return;
    }
    int up = fabs(frexp(v, &e)) == 0.5;
    for (int k = 0; k < pr->hi - pr->lo; k++) {
        int p = up ? pr->lo + k : pr->hi - 1 - k;
        if (!write_g(d, x, p, s[0] == '-', out)) snprintf(out, sizeof out, "%.*g", p, v);
        int ok = reads_back(out, v, pr);
        if (ok) memcpy(found, out, strlen(out) + 1);
        if (ok == up) break;
    }
    if (found[0]) memcpy(buf, found, strlen(found) + 1);
    else if (pr->hi == 17 && len < n) memcpy(buf, s, len + 1);
    else snprintf(buf, n, "%.*g", pr->hi, v);
}

static void shortest(double v, const precision *pr, char *buf, size_t n)
{
    char s[40];
    int len = snprintf(s, sizeof s, "%.17g", v);
    shortest_of(v, pr, s, (size_t)len, buf, n);
}

void format_number(double v, char *buf, size_t n)
{
    shortest(v, &DOUBLE_DIGITS, buf, n);
}

void format_float(float v, char *buf, size_t n)
{
    shortest(v, &FLOAT_DIGITS, buf, n);
}

/* Rewrites in place each real of JSON text written with 16 or 17 digits in
 * its shortest form (never longer, so the text only shrinks). An integral
 * real's shortest form may lack a point and an exponent ("1e16 + 2" is
 * "10000000000000002"); it keeps Jansson's ".0" then, or a reader would
 * take it back as an integer (it still fits: Jansson wrote the digits of
 * the 17-digit form and ".0"). */
void format_shorten_reals(char *text)
{
    char *w = text;
    const char *r = text;
    int in_string = 0;
    while (*r) {
        if (in_string || *r == '"' || !(*r == '-' || (*r >= '0' && *r <= '9'))) {
            if (in_string && *r == '\\' && r[1]) *w++ = *r++;
            else if (*r == '"') in_string = !in_string;
            *w++ = *r++;
            continue;
        }
        size_t len = strspn(r, "0123456789+-.eE"), digits = 0;
        for (size_t i = 0; i < len && r[i] != 'e' && r[i] != 'E'; i++) digits += r[i] >= '0' && r[i] <= '9';
        char num[40], out[40];
        if (digits >= 16 && len < sizeof num && strcspn(r, ".eE") < len) {
            memcpy(num, r, len);
            num[len] = '\0';
            shortest_of(strtod(num, NULL), &DOUBLE_DIGITS, num, len, out, sizeof out);
            if (!out[strcspn(out, ".eE")]) strcat(out, ".0");
            if (strlen(out) <= len) {
                memcpy(w, out, strlen(out));
                w += strlen(out);
                r += len;
                continue;
            }
        }
        memmove(w, r, len);
        w += len;
        r += len;
    }
    *w = '\0';
}

char *format_json(const json_t *v, size_t flags)
{
    char *text = json_dumps(v, flags);
    if (text) format_shorten_reals(text);
    return text;
}

/* s in buf of n bytes, cut before the first character that does not fit
 * whole: a cut at n - 1 bytes could split a UTF-8 sequence and write a
 * broken character to the terminal. A byte that starts no sequence counts
 * as a character of its own, as table_cell counts it. */
static void whole_chars(const char *s, char *buf, size_t n)
{
    size_t len = 0;
    for (int k; s[len]; len += (size_t)k) {
        k = utf8_seq_len(s + len);
        if (!k) k = 1;
        if (len + (size_t)k >= n) break;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
}

static void cell_text(const format_cell *c, char *buf, size_t n)
{
    switch (c->kind) {
    case CELL_NULL: buf[0] = '\0'; break;
    case CELL_INT: snprintf(buf, n, "%.0f", c->num); break;
    case CELL_NUM: snprintf(buf, n, "%.6g", c->num); break;
    case CELL_TEXT: whole_chars(c->text ? c->text : "", buf, n); break;
    }
}

/* A table cell on one line: its first line, then " ..." when more text
 * follows; other control characters (tabs) become spaces. A note or an
 * error message of several lines would otherwise break the rows' alignment
 * (CSV and JSON keep the whole text). */
static void one_line(char *buf, size_t n)
{
    size_t cut = strcspn(buf, "\r\n");
    int more = buf[cut] && buf[cut + strspn(buf + cut, "\r\n \t")];
    buf[cut] = '\0';
    for (char *s = buf; *s; s++)
        if ((unsigned char)*s < 0x20) *s = ' ';
    if (more && cut + 5 <= n) memcpy(buf + cut, " ...", 5);
}

/* A JSON string; a byte that starts no UTF-8 sequence is written U+FFFD. */
void format_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (int n; *s; s += n ? n : 1) {
        unsigned char ch = (unsigned char)*s;
        n = utf8_seq_len(s);
        if (!n) fputs(UTF8_REPLACEMENT, out);
        else if (ch == '"' || ch == '\\') fprintf(out, "\\%c", ch);
        else if (ch == '\n') fputs("\\n", out);
        else if (ch == '\t') fputs("\\t", out);
        else if (ch == '\r') fputs("\\r", out);
        else if (ch < 0x20) fprintf(out, "\\u%04x", ch);
        else fwrite(s, 1, (size_t)n, out);
    }
    fputc('"', out);
}

void format_csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

/* A table cell padded to width characters, then the column gap; a UTF-8
 * sequence counts as one, so a cell like "ünï" does not push its row's
 * later columns out of line. The last column gets no padding. */
static void table_cell(FILE *out, const char *s, int width, int last)
{
    fputs(s, out);
    if (last) return;
    int chars = 0;
    for (int n; *s; s += n ? n : 1, chars++) n = utf8_seq_len(s);
    fprintf(out, "%*s", (chars < width ? width - chars : 0) + 1, "");
}

/* Keeps the errno of the first write to w->out that failed: the stream
 * drops its buffer then, so a later flush cannot say why. */
static void note_error(format_writer *w)
{
    if (!w->write_errno && ferror(w->out)) w->write_errno = errno ? errno : EIO;
}

/* A column's width before any widening: its name's, at least TABLE_WIDTH. */
static int name_width(const format_writer *w, int col)
{
    int n = (int)strlen(w->cols[col]);
    return n > TABLE_WIDTH ? n : TABLE_WIDTH;
}

static int col_width(const format_writer *w, int col)
{
    return w->width ? w->width[col] : name_width(w, col);
}

void format_begin(format_writer *w, format_kind kind, FILE *out, const char *const *cols, int ncols)
{
    w->kind = kind;
    w->out = out;
    w->cols = cols;
    w->ncols = ncols;
    w->rows = 0;
    w->started = 0;
    w->write_errno = 0;
    /* a fixed array of 160 dropped the columns past it: a study's trials
     * may report any number of metrics */
    w->width = kind == FORMAT_TABLE && ncols > 0 ? calloc((size_t)ncols, sizeof *w->width) : NULL;
    for (int i = 0; w->width && i < w->ncols; i++) w->width[i] = name_width(w, i);
}

void format_widen(format_writer *w, int col, int width)
{
    if (w->width && col >= 0 && col < w->ncols && width > w->width[col]) w->width[col] = width;
}

/* The header (or JSON's "["), written before the first row or at the end. */
static void start(format_writer *w)
{
    if (w->started++) return;
    FILE *out = w->out;
    if (w->kind == FORMAT_JSON) {
        fputs("[", out);
        return;
    }
    for (int i = 0; i < w->ncols; i++) {
        if (w->kind == FORMAT_CSV) {
            if (i) fputc(',', out);
            format_csv_field(out, w->cols[i]);
        } else {
            /* a metric's name is a trial's to choose: one with a newline
             * broke the header in two, and an ESC reached the terminal */
            char name[1024];
            snprintf(name, sizeof name, "%s", w->cols[i]);
            one_line(name, sizeof name);
            table_cell(out, name, col_width(w, i), i + 1 == w->ncols);
        }
    }
    fputc('\n', out);
}

/* A number cell of CSV or JSON: an integral value that a double holds
 * exactly in plain digits, as the API's JSON writes it (api_number), else
 * its shortest form. The shortest form of an int parameter of 16 digits
 * ending in 0 was "7.83832677973169e+15": not an int to a reader (Python's
 * int(), a JSON decoder), and not the API's 7838326779731690. */
static void cell_number(double v, char *buf, size_t n)
{
    if (v == floor(v) && fabs(v) < 9007199254740992.0) snprintf(buf, n, "%.0f", v);
    else format_number(v, buf, n);
}

void format_row(format_writer *w, const format_cell *cells)
{
    char buf[1024];
    errno = 0;
    FILE *out = w->out;
    start(w);
    if (w->kind == FORMAT_JSON) {
        fputs(w->rows ? ",\n {" : "\n {", out);
        for (int i = 0; i < w->ncols; i++) {
            if (i) fputs(", ", out);
            format_json_string(out, w->cols[i]);
            fputs(": ", out);
            const format_cell *c = &cells[i];
            if (c->kind == CELL_NULL || (c->kind != CELL_TEXT && !isfinite(c->num)))
                fputs("null", out);
            else if (c->kind == CELL_TEXT)
                format_json_string(out, c->text ? c->text : "");
            else if (c->kind == CELL_INT)
                fprintf(out, "%.0f", c->num);
            else {
                cell_number(c->num, buf, sizeof buf);
                fputs(buf, out);
            }
        }
        fputc('}', out);
    } else {
        for (int i = 0; i < w->ncols; i++) {
            const format_cell *c = &cells[i];
            if (w->kind == FORMAT_CSV && c->kind == CELL_NUM) cell_number(c->num, buf, sizeof buf);
            else cell_text(c, buf, sizeof buf);
            if (w->kind == FORMAT_CSV) {
                if (i) fputc(',', out);
                /* a text whole, not buf's first 1023 bytes: a note, a
                 * failure or a 1024-byte choice lost its end (the table
                 * shows a cell's first line and may cut it) */
                format_csv_field(out, c->kind == CELL_TEXT && c->text ? c->text : buf);
            } else {
                one_line(buf, sizeof buf);
                table_cell(out, buf, col_width(w, i), i + 1 == w->ncols);
            }
        }
        fputc('\n', out);
    }
    note_error(w);
    w->rows++;
}

static int write_failed(int e, kerror *err)
{
    return kerror_set(err, KE_IO, NULL, "cannot write the output: %s", strerror(e));
}

int format_flush(FILE *out, kerror *err)
{
    errno = 0;
    if (fflush(out) == 0 && !ferror(out)) return KE_OK;
    return write_failed(errno ? errno : EIO, err);
}

int format_status(format_writer *w, kerror *err)
{
    if (fflush(w->out) != 0 || ferror(w->out)) note_error(w);
    return w->write_errno ? write_failed(w->write_errno, err) : KE_OK;
}

void format_abandon(format_writer *w)
{
    errno = 0;
    if (fflush(w->out) != 0) note_error(w);
    free(w->width);
    w->width = NULL;
}

void format_end(format_writer *w)
{
    start(w);
    if (w->kind == FORMAT_JSON) fputs(w->rows ? "\n]\n" : "]\n", w->out);
    format_abandon(w);
}
