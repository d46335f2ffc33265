/* cmd_study: commands that edit what a person keeps on a study beside its
 * trials: `kestrel enqueue STUDY` (configurations to try first, as POST
 * /api/v1/studies/NAME/enqueue) and `kestrel note STUDY` (its free-text
 * note, as PUT .../note). Both write the history directly, so they work
 * while kestrel run or kestrel serve runs the study: its scheduler reads
 * the pending configurations each time a slot frees. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "enqueue.h"
#include "format.h"
#include "spec.h"
#include "storage.h"
#include "../search/strategy.h"

static const char enqueue_help[] =
    "Usage: kestrel enqueue STUDY [--db FILE] (--set NAME=VALUE ... | --file FILE)\n"
    "Give a study configurations to run before its strategy's own suggestions\n"
    "(Optuna's enqueue_trial). Each is checked against the study's space: every\n"
    "active parameter needs a legal value (fixed ones may be left out). They run\n"
    "in order the next time the study runs, once each, and count in\n"
    "budget.max_trials; a trial that ran one shows \"enqueued\": true. Without\n"
    "--set or --file, prints the pending ones as JSON. Those that no longer fit\n"
    "the space since a forced kestrel run changed it are not pending and do\n"
    "not run; a warning on stderr counts them.\n"
    "\n"
    "Options:\n"
    "  --set NAME=VALUE  one parameter of one configuration (repeat it; VALUE is\n"
    "                    read as JSON when it parses, else as text: a text choice\n"
    "                    that reads as a number needs its quotes, NAME='\"3\"')\n"
    "  --file FILE       a JSON object {name: value} or an array of them ('-': stdin)\n"
    "  --db FILE         history database (default: $KESTREL_DB, else ./kestrel.db)\n"
    "\n"
    "Exit status: 0 done, 1 --file or the history cannot be read, 2 a configuration\n"
    "does not fit the space (or --file is not JSON), 5 no such study.\n";

static const char note_help[] =
    "Usage: kestrel note STUDY [TEXT | --clear] [--db FILE]\n"
    "Show a study's note, or set it to TEXT (--clear removes it). The note shows\n"
    "in kestrel studies, the study's JSON and the dashboard's study page.\n";

/* Adds NAME=VALUE to the configuration obj. */
static int set_param(json_t *obj, const char *arg, kerror *err)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return kerror_set(err, KE_INVALID, "--set", "expected NAME=VALUE, not '%s'", arg);
    /* a longer NAME was cut to its first 63 bytes: a configuration for
     * another parameter, or a refusal naming one the user never gave */
    if (eq - arg >= SPACE_NAME_MAX)
        return kerror_set(err, KE_INVALID, "--set", "parameter name '%.20s...' is %d bytes long: "
                          "no parameter's name is longer than %d", arg, (int)(eq - arg),
                          SPACE_NAME_MAX - 1);
    char name[SPACE_NAME_MAX];
    snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
    if (json_object_get(obj, name))   /* which one was meant? */
        return kerror_set(err, KE_INVALID, "--set", "'%s' given twice", name);
    json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
    if (!v || json_is_object(v) || json_is_array(v)) {
        json_decref(v);
        v = json_string(eq + 1);
    }
    if (!v || json_object_set_new(obj, name, v) != 0)
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    return KE_OK;
}

/* The JSON document in path ('-': stdin). One that cannot be opened or read
 * (a folder reads as an empty file to jansson) is an I/O error, as kestrel
 * run's spec is; text that is not JSON is invalid input naming where. */
static int load_file(const char *path, json_t **out, kerror *err)
{
    const char *shown = strcmp(path, "-") ? path : "standard input";
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f) return kerror_set(err, KE_IO, "--file", "cannot read %s: %s", shown, strerror(errno));
    json_error_t je;
    errno = 0;
    *out = json_loadf(f, JSON_REJECT_DUPLICATES, &je);   /* as --set twice */
    int read_errno = ferror(f) ? (errno ? errno : EIO) : 0;
    if (f != stdin) fclose(f);
    if (read_errno) {
        json_decref(*out);
        *out = NULL;
        return kerror_set(err, KE_IO, "--file", "cannot read %s: %s", shown, strerror(read_errno));
    }
    if (*out) return KE_OK;
    return kerror_set(err, KE_INVALID, "--file", "%s: invalid JSON at line %d, column %d: %s",
                      shown, je.line, je.column, je.text);
}

/* Adds configs (NULL: lists the pending ones) to the study name. */
static int enqueue_to(storage *st, const char *name, const json_t *configs, kerror *err)
{
    storage_study row;
    int rc = storage_study_get(st, name, &row, err);
    if (rc != KE_OK) return rc;
    spec_study spec;
    int added = 0;
    const char *when = "they run once its budget.max_trials is raised";
    int parsed = (rc = spec_parse(&spec, row.spec_json, err)) == KE_OK;
    if (configs && parsed) {
        rc = enqueue_add(st, row.id, &spec.space, configs, "", "cli", &added, err);
        /* a study that completed with fresh trials to spare is done (a grid
         * that ran every point, Hyperband after its last round) and runs
         * them the next time it runs, Hyperband's at its full budget; ASHA
         * completes only with its trials spent; one that reached its goal
         * starts nothing */
        const strategy_ops *ops = strategy_find(spec.strategy);
        int budgets = ops && ops->gives_budgets;
        if (spec.has_goal && row.has_best &&
            (spec.maximize ? row.best_value >= spec.goal : row.best_value <= spec.goal))
            when = "its objective.goal is reached, so no trial starts";
        else if (row.n_configs < spec.budget.max_trials)
            when = budgets ? "they run the next time it runs, at its full budget (max_resource)"
                           : "they run the next time it runs";
        else if (budgets)
            when = "they run once its budget.max_trials is raised, each in the place of a fresh "
                   "configuration (at the full budget once Hyperband's last round has ended: "
                   "docs/spec.md)";
    }
    json_t *pending = NULL;
    int unfit = 0;
    if (rc == KE_OK) rc = enqueue_list_json(st, row.id, &spec.space, &pending, &unfit, err);
    if (parsed) spec_free(&spec);
    if (rc == KE_OK && unfit)
        fprintf(stderr, "kestrel enqueue: warning: %d configuration%s enqueued into study '%s' "
                "no longer fit%s its space (changed by kestrel run --force): not pending, %s "
                "run only if a spec's space fits %s again\n", unfit, unfit == 1 ? "" : "s", name,
                unfit == 1 ? "s" : "", unfit == 1 ? "it" : "they", unfit == 1 ? "it" : "them");
    if (rc == KE_OK && configs)
        printf("enqueued %d configuration%s for study '%s' (%zu pending)\n", added,
               added == 1 ? "" : "s", name, json_array_size(pending));
    /* the listing is for a call without configurations alone: after the
     * line above, it put every pending one's JSON after a text line on
     * stdout, which no reader of either takes */
    if (rc == KE_OK && configs && added && row.state == STUDY_COMPLETE)
        fprintf(stderr, "kestrel enqueue: study '%s' is complete: %s\n", name, when);
    /* reals in their shortest form, as every other listing writes them:
     * json_dumpf's %.17g made --set x=0.1 read 0.10000000000000001 */
    char *text = rc == KE_OK && !configs ? format_json(pending, JSON_INDENT(2)) : NULL;
    if (text) puts(text);
    else if (rc == KE_OK && !configs) rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (rc == KE_OK) rc = format_flush(stdout, err);
    free(text);
    json_decref(pending);
    storage_study_free(&row);
    return rc;
}

int cmd_enqueue_main(int argc, char **argv, const cli_ctx *ctx)
{
    (void)ctx;
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'}, {"set", required_argument, 0, 's'},
        {"file", required_argument, 0, 'f'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *db_opt = NULL, *file = NULL;
    json_t *set = json_object();
    kerror err;
    kerror_clear(&err);
    int c, rc = set ? KE_OK : kerror_set(&err, KE_NOMEM, NULL, "out of memory");
    while (rc == KE_OK && (c = cli_getopt(argc, argv, "h", opts)) != -1) {
        switch (c) {
        case 'd': db_opt = optarg; break;
        case 's': rc = set_param(set, optarg, &err); break;
        case 'f': file = optarg; break;
        case 'h': json_decref(set); fputs(enqueue_help, stdout); return CLI_OK;
        default: json_decref(set); return cli_bad_option("enqueue", argv, opts);
        }
    }
    json_t *configs = NULL;
    if (rc == KE_OK && file && json_object_size(set))
        rc = kerror_set(&err, KE_INVALID, "--file", "give --set or --file, not both");
    else if (rc == KE_OK && file)
        rc = load_file(file, &configs, &err);
    else if (rc == KE_OK && json_object_size(set))
        configs = json_incref(set);
    json_decref(set);
    if (rc != KE_OK) return cli_fail("enqueue", &err);
    if (optind != argc - 1) {
        json_decref(configs);
        return cli_usage("enqueue", "expected one STUDY argument");
    }
    storage *st;
    const char *db;
    int code = cli_db_path("enqueue", db_opt, &db);
    if (code != CLI_OK) {
        json_decref(configs);
        return code;
    }
    code = cli_open_history("enqueue", db, &st);
    if (code == CLI_OK) {
        if (enqueue_to(st, argv[optind], configs, &err) != KE_OK) code = cli_fail("enqueue", &err);
        storage_close(st);
    }
    json_decref(configs);
    return code;
}

/* Prints the note of study name, or sets it (clear: removes it). */
static int note_of(storage *st, const char *name, const char *text, int clear, kerror *err)
{
    storage_study row;
    int rc = storage_study_get(st, name, &row, err);
    if (rc != KE_OK) return rc;
    if (text || clear) rc = storage_study_set_note(st, row.id, clear ? NULL : text, err);
    else if (row.note) puts(row.note);
    storage_study_free(&row);
    return rc;
}

int cmd_note_main(int argc, char **argv, const cli_ctx *ctx)
{
    (void)ctx;
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'}, {"clear", no_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'},     {0, 0, 0, 0}};
    const char *db_opt = NULL;
    int c, clear = 0;
    while ((c = cli_getopt(argc, argv, "h", opts)) != -1) {
        switch (c) {
        case 'd': db_opt = optarg; break;
        case 'c': clear = 1; break;
        case 'h': fputs(note_help, stdout); return CLI_OK;
        default: return cli_bad_option("note", argv, opts);
        }
    }
    int n = argc - optind;
    if (n < 1 || n > 2 || (clear && n == 2))
        return cli_usage("note", "expected STUDY and an optional TEXT (or --clear)");
    storage *st;
    kerror err;
    const char *db;
    int code = cli_db_path("note", db_opt, &db);
    if (code != CLI_OK) return code;
    code = cli_open_history("note", db, &st);
    if (code == CLI_OK) {
        if (note_of(st, argv[optind], n == 2 ? argv[optind + 1] : NULL, clear, &err) != KE_OK)
            code = cli_fail("note", &err);
        storage_close(st);
    }
    return code;
}
