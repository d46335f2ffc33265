/* cmd_train: the `kestrel train` subcommand, the child process a study runs
 * for each trial: builds a train_config from defaults, --config files and
 * --set options (later wins) and the scheduler's environment, then runs the
 * trainer, writing report lines to the report fd. */
#ifndef KESTREL_CMD_TRAIN_H
#define KESTREL_CMD_TRAIN_H

/* argv[0] is the subcommand name ("train"); options follow:
 *   --config FILE.json   apply a JSON object of options
 *   --set key=value      set one option (repeatable)
 *   --help               print every option with its default and range
 * Environment (applied after the options):
 *   KESTREL_REPORT_FD       report lines go to this fd if it is open, else stdout
 *   KESTREL_BUDGET          epochs this run may reach (the budget option)
 *   KESTREL_CHECKPOINT_DIR  save DIR/checkpoint.kck after every epoch
 *   KESTREL_RESUME_FROM     resume from DIR/checkpoint.kck
 * Returns 0 on success, 1 when training failed (diverged, I/O), 2 on a usage
 * or option error; messages go to stderr as "kestrel train: <option>: <reason>". */
int cmd_train_main(int argc, char **argv);

#endif
