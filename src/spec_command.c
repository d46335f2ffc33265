/* spec_command: a study's command template, expanded for one trial:
 * {name} placeholders (a parameter, {trial}, {study}), {{ and }} for literal
 * braces, values shell-quoted inside a shell string. spec.c validates each
 * template at parse time through spec_command_check, so expanding a parsed
 * spec fails only when memory runs out.
 * Invariant: validation and expansion run the same code (expand), so a
 * template that passed validation expands for every point. */
#include "spec_command.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nearest.h"

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf;

static int sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *grown = realloc(b->buf, cap);
        if (!grown) return -1;
        b->buf = grown;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return 0;
}

/* POSIX sh single quotes: nothing inside is special except the quote
 * itself, written '\''. */
static int sb_put_quoted(sbuf *b, const char *s)
{
    if (sb_put(b, "'", 1)) return -1;
    for (; *s; s++)
        if (*s == '\'' ? sb_put(b, "'\\''", 4) : sb_put(b, s, 1)) return -1;
    return sb_put(b, "'", 1);
}

/* Writes the value of placeholder {name} (n bytes at name) into val; without
 * a point (validation only) parameters expand to "". */
static int placeholder_value(const spec_study *s, const char *name, size_t n,
                             const space_point *pt, int trial, char *val, size_t cap)
{
    val[0] = '\0';
    if (n == 5 && !strncmp(name, "trial", 5)) {
        snprintf(val, cap, "%d", trial);
        return KE_OK;
    }
    if (n == 5 && !strncmp(name, "study", 5)) {
        snprintf(val, cap, "%s", s->name);
        return KE_OK;
    }
    char key[SPACE_NAME_MAX];
    if (n >= sizeof key) return KE_NOTFOUND;
    memcpy(key, name, n);
    key[n] = '\0';
    int i = space_find(&s->space, key);
    if (i < 0) return KE_NOTFOUND;
    if (pt && pt->active[i]) space_format_value(&s->space, pt, i, val, cap);
    return KE_OK;
}

/* 1 when placeholder {name} (n bytes) can stand for text: a categorical
 * with a string choice or a fixed string ({study} is a safe name). */
static int takes_text(const spec_study *s, const char *name, size_t n)
{
    char key[SPACE_NAME_MAX];
    if (n >= sizeof key) return 0;
    memcpy(key, name, n);
    key[n] = '\0';
    int i = space_find(&s->space, key);
    if (i < 0) return 0;
    const space_param *p = &s->space.params[i];
    if (p->kind == PARAM_FIXED) return p->fixed.is_text;
    for (int c = 0; p->kind == PARAM_CATEGORICAL && c < p->n_choices; c++)
        if (p->choices[c].is_text) return 1;
    return 0;
}

/* Where the text so far leaves the next character of a shell string, as far
 * as quoting goes: Kestrel's single quotes keep a value one inert word only
 * where the shell reads a plain word. */
typedef struct {
    char quote;     /* 0, '\'' or '"' */
    int escaped;    /* a backslash ends the text: it takes the next character */
    int backquote;  /* inside `...` */
    int comment;    /* after a # that starts a word, to the line's end */
    int heredoc;    /* 1: a << on this line; 2: here-document lines follow */
    char prev;      /* the last character outside quotes, 0 at the start */
} shell_ctx;

/* Moves sh past the text t (n bytes), as /bin/sh reads it. */
static void track_shell(const char *t, size_t n, shell_ctx *sh)
{
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        if (sh->escaped) sh->escaped = 0;
        else if (sh->comment) sh->comment = ch != '\n';
        else if (sh->quote == '\'') sh->quote = ch == '\'' ? 0 : '\'';
        else if (ch == '\\') sh->escaped = 1;
        else if (sh->quote == '"') {
            if (ch == '"') sh->quote = 0;
            else if (ch == '`') sh->backquote = !sh->backquote;
        } else if (ch == '\'' || ch == '"') sh->quote = ch;
        else if (ch == '`') sh->backquote = !sh->backquote;
        else if (ch == '#' && (!sh->prev || strchr(" \t\n;&|()<>", sh->prev))) sh->comment = 1;
        else if (ch == '<' && sh->prev == '<' && !sh->heredoc) sh->heredoc = 1;
        if (ch == '\n' && !sh->quote && sh->heredoc == 1) sh->heredoc = 2;
        if (!sh->quote) sh->prev = ch;
    }
}

/* Why placeholder {name} (n bytes) cannot stand where sh is in a shell
 * string, or NULL. A backslash would take Kestrel's opening quote and leave
 * the value bare (and every later quote paired wrongly); a text value could
 * run as code inside the user's own quotes (its quotes close theirs, and
 * "..." runs $(...)), inside backquotes (a ` in it ends them), in a comment
 * or a here-document (a newline in it starts a command line). */
static const char *unsafe_spot(const spec_study *s, const char *name, size_t n,
                               const shell_ctx *sh)
{
    if (sh->escaped) return "after a backslash: it would escape the quote Kestrel puts "
                            "around the value; remove the backslash";
    if (!takes_text(s, name, n)) return NULL;
    if (sh->backquote) return "inside backquotes: a ` in a value would end them and run the "
                              "rest; write $(...) instead";
    if (sh->quote == '"') return "inside double quotes: Kestrel quotes its text itself, and "
                                 "inside yours a value like $(cmd) would run; remove the quotes "
                                 "around it";
    if (sh->quote) return "inside single quotes: Kestrel quotes its text itself, and inside yours "
                          "a value like $(cmd) would run; remove the quotes around it";
    if (sh->comment) return "in a comment: a newline in a value would end the comment and run "
                            "the next line; remove the placeholder or the #";
    if (sh->heredoc == 2) return "after a here-document (<<): a line of a value could end the "
                                 "document and run; read the value from $KESTREL_PARAMS or use a "
                                 "script";
    return NULL;
}

/* Refuses {name} (n bytes), no placeholder, saying what would be: a brace
 * of the command's own (awk's '{print $1}', JSON text) read as a
 * placeholder was refused with no word of {{, and a mistyped parameter
 * with no word of the one meant. */
static int unknown_placeholder(const spec_study *s, const char *name, size_t n, const char *path,
                               kerror *err)
{
    const char *names[SPACE_MAX_PARAMS + 3];
    int k = 0;
    for (int i = 0; i < s->space.n; i++) names[k++] = s->space.params[i].name;
    names[k++] = "trial";
    names[k++] = "study";
    names[k] = NULL;
    char word[SPACE_NAME_MAX];
    const char *near = NULL;
    if (n < sizeof word) {
        memcpy(word, name, n);
        word[n] = '\0';
        near = nearest_name(word, names);
    }
    int shown = n > 64 ? 64 : (int)n;
    if (near)
        return kerror_set(err, KE_INVALID, path, "unknown placeholder {%.*s} (did you mean {%s}?)",
                          shown, name, near);
    return kerror_set(err, KE_INVALID, path, "unknown placeholder {%.*s}: not a parameter of the "
                      "space, {trial} or {study}; write {{ and }} for literal braces",
                      shown, name);
}

/* Expands template tmpl into *out (malloc'd): {name} placeholders, shell
 * quoted when quote is set, and {{ / }} as literal braces. In a shell string
 * a placeholder must stand where its quoted value stays one inert word
 * (unsafe_spot); the text written so far, values included, tells where. */
static int expand(const spec_study *s, const char *tmpl, const space_point *pt, int trial,
                  int quote, const char *path, char **out, kerror *err)
{
    sbuf b = { 0 };
    char val[SPEC_TEXT_VALUE_MAX + 64];
    int rc = KE_OK;
    shell_ctx sh = { 0 };
    const char *c = tmpl;
    if (sb_put(&b, "", 0)) goto nomem;
    while (*c) {
        size_t lit = strcspn(c, "{}");
        if (sb_put(&b, c, lit)) goto nomem;
        track_shell(c, lit, &sh);
        c += lit;
        if (!*c) break;
        if (c[1] == c[0]) {
            if (sb_put(&b, c, 1)) goto nomem;
            track_shell(c, 1, &sh);
            c += 2;
            continue;
        }
        const char *end = *c == '{' ? strchr(c, '}') : NULL;
        if (!end) {
            rc = kerror_set(err, KE_INVALID, path, "%s",
                            *c == '}' ? "unmatched '}' (write }} for a literal brace)"
                                      : "unterminated placeholder (write {{ for a literal brace)");
            break;
        }
        size_t n = (size_t)(end - c - 1);
        if (placeholder_value(s, c + 1, n, pt, trial, val, sizeof val) < 0) {
            rc = unknown_placeholder(s, c + 1, n, path, err);
            break;
        }
        const char *why = quote ? unsafe_spot(s, c + 1, n, &sh) : NULL;
        if (why) {
            rc = kerror_set(err, KE_INVALID, path, "placeholder {%.*s} %s", (int)n, c + 1, why);
            break;
        }
        size_t at = b.len;
        if (quote ? sb_put_quoted(&b, val) : sb_put(&b, val, strlen(val))) goto nomem;
        track_shell(b.buf + at, b.len - at, &sh);
        c = end + 1;
    }
    if (rc < 0) {
        free(b.buf);
        return rc;
    }
    *out = b.buf;
    return KE_OK;
nomem:
    free(b.buf);
    return kerror_set(err, KE_NOMEM, NULL, "out of memory");
}

int spec_command_check(const spec_study *s, const char *tmpl, int quote,
                       const char *path, kerror *err)
{
    char *probe = NULL;
    int rc = expand(s, tmpl, NULL, 0, quote, path, &probe, err);
    free(probe);
    return rc;
}

int spec_command_argv(const spec_study *s, const space_point *p, int trial_number,
                      char ***argv, kerror *err)
{
    *argv = NULL;
    if (s->run.kind != RUN_COMMAND) return kerror_set(err, KE_INVALID, "run", "not a command");
    size_t n = 0;
    if (!s->run.shell)
        while (s->run.argv[n]) n++;
    char **out = calloc((s->run.shell ? 3 : n) + 1, sizeof *out);
    if (!out) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int rc = KE_OK;
    if (s->run.shell) {
        if (!(out[0] = strdup("/bin/sh")) || !(out[1] = strdup("-c")))
            rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
        else
            rc = expand(s, s->run.shell, p, trial_number, 1, "run.command", &out[2], err);
    }
    for (size_t i = 0; i < n && rc == KE_OK; i++)
        rc = expand(s, s->run.argv[i], p, trial_number, 0, "run.command", &out[i], err);
    if (rc < 0) {
        spec_argv_free(out);
        return rc;
    }
    *argv = out;
    return KE_OK;
}
