/* test_config: the option table's defaults, every input form (--set text,
 * JSON values, files), every kind of rejection with the option it names, the
 * cross-option checks and the JSON round trip checkpoints rely on. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "../trainer/train_config.h"
#include "../trainer/optim.h"
#include "../trainer/schedule.h"

static train_config c;
static kerror err;

static void setup(void)
{
    train_config_defaults(&c);
    kerror_clear(&err);
}

START_TEST(defaults)
{
    ck_assert_str_eq(c.data, "fashion-mnist");
    ck_assert_double_eq(c.lr, 0.001);
    ck_assert_int_eq(c.optimizer, OPTIM_ADAM);
    ck_assert_int_eq(c.schedule, SCHEDULE_CONSTANT);
    ck_assert_int_eq(c.hidden.n, 1);
    ck_assert_int_eq(c.hidden.v[0], 128);
    ck_assert_int_eq(c.milestones.n, 0);
    ck_assert_int_eq(c.batch_size, 64);
    ck_assert_int_eq(c.batchnorm, 0);
    ck_assert_int_eq(c.device, CONFIG_DEVICE_CPU);
    ck_assert_int_eq(train_config_validate(&c, &err), KE_OK);
    /* Every table default goes through the same checks as user input. */
    for (int i = 0; i < train_config_n_options; i++) {
        const train_config_option *o = &train_config_options[i];
        ck_assert_msg(train_config_set(&c, o->name, o->def, &err) == KE_OK, "%s: %s", o->name, err.msg);
    }
}
END_TEST

START_TEST(enum_order_matches_modules)
{
    static const char *const optims[] = {"sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                         "adam", "adamw"};
    static const int kinds[] = {OPTIM_SGD, OPTIM_MOMENTUM, OPTIM_NESTEROV, OPTIM_ADAGRAD,
                                OPTIM_RMSPROP, OPTIM_ADAM, OPTIM_ADAMW};
    for (int i = 0; i < 7; i++) {
        ck_assert_int_eq(train_config_set(&c, "optimizer", optims[i], &err), KE_OK);
        ck_assert_int_eq(c.optimizer, kinds[i]);
        ck_assert_str_eq(train_config_enum_name("optimizer", c.optimizer), optims[i]);
    }
    ck_assert_int_eq(train_config_set(&c, "schedule", "cosine", &err), KE_OK);
    ck_assert_int_eq(c.schedule, SCHEDULE_COSINE);
    ck_assert_int_eq(train_config_set(&c, "schedule", "inverse_time", &err), KE_OK);
    ck_assert_int_eq(c.schedule, SCHEDULE_INVERSE_TIME);
    ck_assert_int_eq(train_config_set(&c, "activation", "gelu", &err), KE_OK);
    ck_assert_int_eq(c.activation, LAYERS_ACT_GELU);
    ck_assert_int_eq(train_config_set(&c, "init", "xavier_normal", &err), KE_OK);
    ck_assert_int_eq(c.init, MLP_INIT_XAVIER_NORMAL);
}
END_TEST

START_TEST(set_text_forms)
{
    ck_assert_int_eq(train_config_set_kv(&c, "lr=0.05", &err), KE_OK);
    ck_assert_double_eq(c.lr, 0.05);
    ck_assert_int_eq(train_config_set_kv(&c, "hidden=256,128", &err), KE_OK);
    ck_assert_int_eq(c.hidden.n, 2);
    ck_assert_int_eq(c.hidden.v[1], 128);
    ck_assert_int_eq(train_config_set_kv(&c, "hidden=[64, 32, 16]", &err), KE_OK);
    ck_assert_int_eq(c.hidden.n, 3);
    ck_assert_int_eq(train_config_set_kv(&c, "hidden=", &err), KE_OK);   /* a linear model */
    ck_assert_int_eq(c.hidden.n, 0);
    ck_assert_int_eq(train_config_set_kv(&c, "hidden= [ 8 , 4 ] ", &err), KE_OK);
    ck_assert(c.hidden.n == 2 && c.hidden.v[0] == 8 && c.hidden.v[1] == 4);
    ck_assert_int_eq(train_config_set_kv(&c, "hidden=[ ]", &err), KE_OK);
    ck_assert_int_eq(c.hidden.n, 0);
    ck_assert_int_eq(train_config_set_kv(&c, "batchnorm=true", &err), KE_OK);
    ck_assert_int_eq(c.batchnorm, 1);
    ck_assert_int_eq(train_config_set_kv(&c, "batchnorm=0", &err), KE_OK);
    ck_assert_int_eq(c.batchnorm, 0);
    ck_assert_int_eq(train_config_set_kv(&c, "batch_size=128", &err), KE_OK);
    ck_assert_int_eq(c.batch_size, 128);
    ck_assert_int_eq(train_config_set_kv(&c, "batch_size=32.0", &err), KE_OK);
    ck_assert_int_eq(c.batch_size, 32);
    ck_assert_int_eq(train_config_set_kv(&c, "data=csv:/tmp/x.csv", &err), KE_OK);
    ck_assert_str_eq(c.data, "csv:/tmp/x.csv");
    ck_assert_int_eq(train_config_set_kv(&c, "teacher=a=b.kck", &err), KE_OK);   /* first '=' splits */
    ck_assert_str_eq(c.teacher, "a=b.kck");
}
END_TEST

static void rejects(const char *kv, const char *path, const char *needle)
{
    train_config before = c;
    ck_assert_int_eq(train_config_set_kv(&c, kv, &err), KE_INVALID);
    ck_assert_str_eq(err.path, path);
    ck_assert_msg(strstr(err.msg, needle), "'%s': message '%s' lacks '%s'", kv, err.msg, needle);
    ck_assert_msg(memcmp(&before, &c, sizeof c) == 0, "'%s' changed the config", kv);
}

START_TEST(set_rejections)
{
    rejects("lrr=0.1", "lrr", "unknown option (did you mean 'lr'?)");
    rejects("zzzzzz=1", "zzzzzz", "unknown option");
    /* a name of 128 characters or more: "option name too long", naming
     * neither which --set nor the limit */
    char kv[160];
    memset(kv, 'a', 130);
    snprintf(kv + 130, sizeof kv - 130, "=1");
    rejects(kv, "", "option name too long: 'aaaaaaaaaaaaaaaaaaaa...' has 130 characters, an "
            "option's at most 127");
    rejects("lr=0", "lr", "(0, 1e+30]");
    rejects("lr=abc", "lr", "not a number");
    rejects("lr=inf", "lr", "finite");
    /* strtod reads C's hexadecimal: lr=0x10 trained at 16, where a CSV's
     * 0x10 is refused and every other tool reads text */
    rejects("lr=0x10", "lr", "hexadecimal value '0x10' (only decimal numbers are read)");
    rejects("lr=-0x1p-3", "lr", "hexadecimal value '-0x1p-3'");
    rejects("epochs=0X10", "epochs", "hexadecimal value '0X10'");
    rejects("hidden=8, 0x10", "hidden", "hexadecimal value '0x10' in '8, 0x10'");
    rejects("milestones=[0x2]", "milestones", "hexadecimal value '0x2' in '[0x2]'");
    /* beyond a double: "not a number: '1e400'" said nothing of what was
     * wrong with a number */
    rejects("lr=1e400", "lr", "must be in (0, 1e+30], got 1e400");
    rejects("epochs=-1e400", "epochs", "must be in [1, 1000000], got -1e400");
    rejects("hidden=8,1e400", "hidden", "must be in [1, 65536], got 1e400 in '8,1e400'");
    rejects("weight_decay=1e-400", "weight_decay",
            "'1e-400' is too close to 0 for a number to hold (a double holds down to 2.2e-308)");
    rejects("lr=nan", "lr", "finite");
    rejects("lr=-infinity", "lr", "finite");
    ck_assert_int_eq(train_config_set_kv(&c, "lr=1E-3", &err), KE_OK);
    ck_assert_double_eq(c.lr, 0.001);
    rejects("dropout=0.99", "dropout", "[0, 0.95]");
    rejects("batch_size=0", "batch_size", "[1, 65536]");
    rejects("batch_size=3.5", "batch_size", "integer");
    /* the value as given, not at %g's 6 digits: 'must be in [0, 0.95], got
     * 0.95' refused a value it seemed to allow, and 'got 2.14748e+09' was
     * no number the user typed */
    rejects("dropout=0.9500001", "dropout", "must be in [0, 0.95], got 0.9500001");
    rejects("seed=2147483648", "seed", "must be in [0, 2147483647], got 2147483648");
    rejects("epochs=2.0000001", "epochs", "must be an integer, got 2.0000001");
    rejects("optimizer=lion", "optimizer", "sgd|momentum|nesterov|adagrad|rmsprop|adam|adamw");
    rejects("batchnorm=maybe", "batchnorm", "true or false");
    rejects("hidden=64,x", "hidden", "not a list of integers");
    rejects("hidden=64,0", "hidden", "[1, 65536]");
    /* strtok took an empty entry and a ']' inside for separators: "hidden=,"
     * trained a linear model, "256,,128" two layers and "256]128" one */
    rejects("hidden=,", "hidden", "an empty entry in ','");
    rejects("hidden=256,,128", "hidden", "an empty entry in '256,,128'");
    rejects("hidden=256,", "hidden", "an empty entry in '256,'");
    rejects("hidden=[256,]", "hidden", "an empty entry in '[256,]'");
    rejects("hidden=256]128", "hidden", "not a list of integers: '256]128'");
    rejects("hidden=[256", "hidden", "not a list of integers: '[256'");
    rejects("milestones=3 5", "milestones", "not a list of integers: '3 5'");
    rejects("hidden=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,"
            "29,30,31,32,33", "hidden", "at most 32");
    /* refused as it is set, as a value out of range is: a study's spec is
     * checked against the set (spec_trainer), and ran trials that failed */
    rejects("kfold=1", "kfold", "must be 0 (off) or >= 2, got 1");
    ck_assert_int_eq(train_config_set_kv(&c, "kfold=2", &err), KE_OK);
    ck_assert_int_eq(train_config_set_kv(&c, "kfold=0", &err), KE_OK);
    rejects("data=imagenet", "data", "csv:PATH");
    rejects("data=csv:", "data", "csv:PATH");
    ck_assert_int_eq(train_config_set_kv(&c, "nokey", &err), KE_INVALID);
    ck_assert_int_eq(train_config_set_kv(&c, "=1", &err), KE_INVALID);
    char big[CONFIG_STR_MAX + 20] = "cache_dir=";
    memset(big + 10, 'a', CONFIG_STR_MAX + 5);
    big[sizeof big - 1] = '\0';
    rejects(big, "cache_dir", "longer than");
}
END_TEST

static int apply(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    ck_assert_ptr_nonnull(j);
    int rc = train_config_apply_json(&c, j, &err);
    json_decref(j);
    return rc;
}

START_TEST(json_values)
{
    ck_assert_int_eq(apply("{\"lr\": 0.01, \"hidden\": [256, 128], \"batchnorm\": true,"
                           " \"optimizer\": \"sgd\", \"epochs\": 20.0, \"milestones\": \"3,6\","
                           " \"momentum\": \"0.8\", \"dropout\": 0}"), KE_OK);
    ck_assert_double_eq(c.lr, 0.01);
    ck_assert_int_eq(c.hidden.n, 2);
    ck_assert_int_eq(c.hidden.v[0], 256);
    ck_assert_int_eq(c.batchnorm, 1);
    ck_assert_int_eq(c.optimizer, OPTIM_SGD);
    ck_assert_int_eq(c.epochs, 20);
    ck_assert_int_eq(c.milestones.n, 2);
    ck_assert_double_eq(c.momentum, 0.8);
    ck_assert_int_eq(apply("{\"hidden\": 64}"), KE_OK);   /* one width as a number */
    ck_assert_int_eq(c.hidden.n, 1);
    ck_assert_int_eq(c.hidden.v[0], 64);
}
END_TEST

START_TEST(json_rejections)
{
    ck_assert_int_eq(apply("{\"lrr\": 0.1}"), KE_INVALID);
    ck_assert_str_eq(err.path, "lrr");
    ck_assert_str_eq(err.msg, "unknown option (did you mean 'lr'?)");
    ck_assert_int_eq(apply("{\"lr\": 20e30}"), KE_INVALID);
    ck_assert_str_eq(err.path, "lr");
    ck_assert_int_eq(apply("{\"lr\": true}"), KE_INVALID);
    ck_assert_str_eq(err.msg, "must be a number");
    ck_assert_int_eq(apply("{\"optimizer\": 3}"), KE_INVALID);
    ck_assert_str_eq(err.path, "optimizer");
    ck_assert_int_eq(apply("{\"hidden\": [64, \"a\"]}"), KE_INVALID);
    ck_assert_str_eq(err.path, "hidden");
    ck_assert_int_eq(apply("{\"epochs\": 2.5}"), KE_INVALID);
    ck_assert_int_eq(apply("{\"lr\": \"0x10\"}"), KE_INVALID);
    ck_assert_str_eq(err.msg, "hexadecimal value '0x10' (only decimal numbers are read)");
    ck_assert_int_eq(apply("{\"kfold\": 1}"), KE_INVALID);
    ck_assert_str_eq(err.msg, "must be 0 (off) or >= 2, got 1");
    ck_assert_int_eq(apply("{\"seed\": null}"), KE_INVALID);
    ck_assert_int_eq(apply("[1, 2]"), KE_INVALID);
    ck_assert_str_eq(err.path, "");
}
END_TEST

START_TEST(files)
{
    char dir[] = "/tmp/test_config.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char good[64], bad[64], missing[64];
    snprintf(good, sizeof good, "%s/good.json", dir);
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    snprintf(missing, sizeof missing, "%s/missing.json", dir);
    FILE *f = fopen(good, "w");
    fputs("{\"lr\": 0.2, \"schedule\": \"cosine\"}\n", f);
    fclose(f);
    f = fopen(bad, "w");
    fputs("{\"lr\": 0.2,\n \"schedule\" }\n", f);
    fclose(f);
    char twice[64];   /* a key given twice was read as its last value */
    snprintf(twice, sizeof twice, "%s/twice.json", dir);
    f = fopen(twice, "w");
    fputs("{\"lr\": 0.2,\n \"lr\": 0.5}\n", f);
    fclose(f);
    ck_assert_int_eq(train_config_load_file(&c, twice, &err), KE_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "duplicate"));
    unlink(twice);
    ck_assert_int_eq(train_config_load_file(&c, good, &err), KE_OK);
    ck_assert_double_eq(c.lr, 0.2);
    ck_assert_int_eq(c.schedule, SCHEDULE_COSINE);
    ck_assert_int_eq(train_config_load_file(&c, bad, &err), KE_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "line 2"));
    ck_assert_int_eq(train_config_load_file(&c, missing, &err), KE_IO);
    ck_assert_str_eq(err.path, "config");
    ck_assert_ptr_null(strstr(err.msg, "line -1"));
    ck_assert_ptr_nonnull(strstr(err.msg, "missing.json"));
    /* a folder read as an empty file: "'[' or '{' expected near end of
     * file (line 1, column 0)" */
    ck_assert_int_eq(train_config_load_file(&c, dir, &err), KE_IO);
    ck_assert_str_eq(err.path, "config");
    ck_assert_msg(strstr(err.msg, ": is a directory, not a JSON file"), "%s", err.msg);
    /* "config must be a JSON object" named neither file nor what it held */
    char list[64];
    snprintf(list, sizeof list, "%s/list.json", dir);
    f = fopen(list, "w");
    fputs("[{\"lr\": 0.2}]\n", f);
    fclose(f);
    ck_assert_int_eq(train_config_load_file(&c, list, &err), KE_INVALID);
    ck_assert_str_eq(err.path, list);
    ck_assert_str_eq(err.msg, "must be a JSON object of options ({\"lr\": 0.01, ...}), not an array");
    unlink(list);
    /* an option's error named the key alone ("lr2: unknown option"), not
     * the file: with two --config files, which one? */
    snprintf(list, sizeof list, "%s/typo.json", dir);
    f = fopen(list, "w");
    fputs("{\"lr2\": 0.2}\n", f);
    fclose(f);
    ck_assert_int_eq(train_config_load_file(&c, list, &err), KE_INVALID);
    ck_assert_str_eq(err.path, list);
    ck_assert_str_eq(err.msg, "lr2: unknown option (did you mean 'lr'?)");
    f = fopen(list, "w");
    fputs("{\"lr\": 0}\n", f);
    fclose(f);
    ck_assert_int_eq(train_config_load_file(&c, list, &err), KE_INVALID);
    ck_assert_str_eq(err.path, list);
    ck_assert_msg(!strncmp(err.msg, "lr: must be in (0, 1e+30]", 25), "%s", err.msg);
    unlink(list);
    unlink(good);
    unlink(bad);
    rmdir(dir);
}
END_TEST

static void invalid(const char *kv, const char *path)
{
    train_config_defaults(&c);
    ck_assert_int_eq(train_config_set_kv(&c, kv, &err), KE_OK);
    ck_assert_int_eq(train_config_validate(&c, &err), KE_INVALID);
    ck_assert_str_eq(err.path, path);
}

/* kv1 and kv2 together are refused at path. */
static void invalid_pair(const char *kv1, const char *kv2, const char *path)
{
    train_config_defaults(&c);
    ck_assert_int_eq(train_config_set_kv(&c, kv1, &err), KE_OK);
    ck_assert_int_eq(train_config_set_kv(&c, kv2, &err), KE_OK);
    ck_assert_int_eq(train_config_validate(&c, &err), KE_INVALID);
    ck_assert_str_eq(err.path, path);
}

START_TEST(cross_checks)
{
    train_config_set_kv(&c, "data=synthetic-regression", &err);
    ck_assert_int_eq(train_config_validate(&c, &err), KE_OK);   /* loss auto -> mse */
    train_config_set_kv(&c, "loss=cross_entropy", &err);
    ck_assert_int_eq(train_config_validate(&c, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "loss");
    /* found at the data load, a failure of the run (kestrel train's exit 1,
     * not an option's 2) */
    invalid("data=mnist", "data_dir");
    ck_assert_msg(strstr(err.msg, "data=mnist needs data_dir, the folder of its IDX files"), "%s",
                  err.msg);
    invalid("categorical=auto", "categorical");   /* one-hot is for csv: data */
    /* and so is a label column: it was dropped without a word */
    invalid("label_column=y", "label_column");
    ck_assert_str_eq(err.msg, "names a CSV column: needs data=csv:PATH");
    invalid("val_ratio=0", "val_ratio");
    invalid("budget=11", "budget");   /* epochs is 10 */
    invalid("milestones=5,3", "milestones");
    invalid("hidden=8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8", "hidden");   /* 17 layers */
    /* what would run is not what was asked: plain sgd, a rising rate, no
     * batch statistics, a split by classes that do not exist */
    invalid_pair("optimizer=nesterov", "momentum=0", "momentum");
    /* the heavy-ball rule with momentum 0 is plain sgd too, and ran as such */
    invalid_pair("optimizer=momentum", "momentum=0", "momentum");
    ck_assert_str_eq(err.msg, "momentum needs momentum > 0 (with 0 it is plain sgd)");
    invalid_pair("schedule=cosine", "min_lr=0.01", "min_lr");   /* lr is 0.001 */
    invalid_pair("schedule=linear", "min_lr=0.01", "min_lr");
    invalid_pair("batchnorm=true", "batch_size=1", "batchnorm");
    invalid_pair("data=synthetic-regression", "stratify=true", "stratify");
    /* label smoothing is of the cross-entropy's targets: the other losses
     * dropped it without a word */
    const char *plain[] = {"loss=mse", "loss=huber", "loss=bce"};
    for (int i = 0; i < 3; i++) {
        invalid_pair("label_smoothing=0.1", plain[i], "label_smoothing");
        ck_assert_ptr_nonnull(strstr(err.msg, plain[i]));
    }
    train_config_defaults(&c);
    train_config_set_kv(&c, "label_smoothing=0.1", &err);
    ck_assert_int_eq(train_config_validate(&c, &err), KE_OK);   /* loss auto: cross_entropy */
    /* a resume or teacher file that is not there fails before the data load */
    train_config_defaults(&c);
    train_config_set_kv(&c, "resume=/nonexistent/kestrel.kck", &err);
    ck_assert_int_eq(train_config_validate(&c, &err), KE_IO);
    ck_assert_str_eq(err.path, "resume");
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/kestrel.kck"));
    train_config_defaults(&c);
    train_config_set_kv(&c, "teacher=/nonexistent/t.kck", &err);
    ck_assert_int_eq(train_config_validate(&c, &err), KE_IO);
    ck_assert_str_eq(err.path, "teacher");
    /* distillation is a term of the cross-entropy: other losses would drop
     * the teacher without a word */
    const char *losses[] = {"loss=mse", "loss=huber", "loss=bce"};
    for (int i = 0; i < 3; i++) {
        train_config_defaults(&c);
        train_config_set_kv(&c, "teacher=/tmp/t.kck", &err);
        train_config_set_kv(&c, losses[i], &err);
        ck_assert_int_eq(train_config_validate(&c, &err), KE_INVALID);
        ck_assert_str_eq(err.path, "teacher");
        ck_assert_ptr_nonnull(strstr(err.msg, losses[i]));
    }
    train_config_defaults(&c);
    train_config_set_kv(&c, "kfold=3", &err);
    train_config_set_kv(&c, "checkpoint=/tmp/x.kck", &err);
    ck_assert_int_eq(train_config_validate(&c, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "kfold");
}
END_TEST

/* Which runs split batches across threads: parallel=data or the default
 * auto, with or without batch norm, with more than one thread; never blas. */
/* warn_inert's output for the configuration of the --set pairs in kvs
 * (space-separated), into buf. */
static const char *inert_lines(const char *kvs, char *buf, size_t n)
{
    train_config_defaults(&c);
    char copy[512];
    snprintf(copy, sizeof copy, "%s", kvs);
    for (char *kv = strtok(copy, " "); kv; kv = strtok(NULL, " "))
        ck_assert_msg(train_config_set_kv(&c, kv, &err) == KE_OK, "%s: %s", kv, err.msg);
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    int lines = train_config_warn_inert(&c, f, "kestrel train");
    rewind(f);
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = '\0';
    fclose(f);
    int nl = 0;
    for (const char *p = buf; *p; p++) nl += *p == '\n';
    ck_assert_int_eq(lines, nl);
    return buf;
}

/* Every option whose value the configuration never reads is named, once,
 * with what would read it; the same value where it is read, or the default
 * where it is not, says nothing. */
START_TEST(inert_options_warn)
{
    static const char *const cases[][2] = {
        {"bn_momentum=0.2", "bn_momentum: has no effect: only batchnorm=true uses it"},
        {"hidden= bn_momentum=0.2", "bn_momentum: has no effect: the linear model (hidden "
         "empty) has no hidden layer to normalize"},
        {"leaky_slope=0.2", "leaky_slope: has no effect: only activation=leaky_relu uses it, "
         "not activation=relu"},
        {"hidden= activation=leaky_relu leaky_slope=0.2", "leaky_slope: has no effect: the "
         "linear model (hidden empty) has no hidden activation"},
        {"huber_delta=2", "huber_delta: has no effect: only loss=huber uses it, not loss=auto"},
        {"distill_temperature=2", "distill_temperature: has no effect: only distillation "
         "(teacher set) uses it"},
        {"distill_alpha=0.9", "distill_alpha: has no effect: only distillation (teacher set) "
         "uses it"},
        {"optimizer=sgd beta1=0.5", "beta1: has no effect: only optimizer=adam and adamw use "
         "it, not optimizer=sgd"},
        {"optimizer=rmsprop beta2=0.9", "beta2: has no effect: only optimizer=adam and adamw "
         "use it, not optimizer=rmsprop"},
        {"optimizer=momentum eps=1e-6", "eps: has no effect: only optimizer=adagrad, rmsprop, "
         "adam and adamw use it, not optimizer=momentum"},
        {"rho=0.5", "rho: has no effect: only optimizer=rmsprop uses it, not optimizer=adam"},
        {"step_size=3", "step_size: has no effect: only schedule=step uses it, not "
         "schedule=constant"},
        {"schedule=cosine gamma=0.5", "gamma: has no effect: only schedule=step, multistep and "
         "exponential use it, not schedule=cosine"},
        {"schedule=step milestones=2,4", "milestones: has no effect: only schedule=multistep "
         "uses it, not schedule=step"},
        {"decay=0.5", "decay: has no effect: only schedule=inverse_time uses it, not "
         "schedule=constant"},
        {"schedule=step min_lr=1e-5", "min_lr: has no effect: only schedule=linear, cosine and "
         "cosine_restarts and reduce on plateau (plateau_patience > 0) use it, not "
         "schedule=step"},
        {"pct_start=0.5", "pct_start: has no effect: only schedule=one_cycle uses it, not "
         "schedule=constant"},
        {"div_factor=10", "div_factor: has no effect: only schedule=one_cycle uses it, not "
         "schedule=constant"},
        {"final_div_factor=10", "final_div_factor: has no effect: only schedule=one_cycle uses "
         "it, not schedule=constant"},
        {"restart_period=3", "restart_period: has no effect: only schedule=cosine_restarts uses "
         "it, not schedule=constant"},
        {"restart_mult=2", "restart_mult: has no effect: only schedule=cosine_restarts uses it, "
         "not schedule=constant"},
        {"warmup_start=0.5", "warmup_start: has no effect: only a warm-up (warmup_steps > 0) "
         "uses it"},
        {"plateau_factor=0.5", "plateau_factor: has no effect: only reduce on plateau "
         "(plateau_patience > 0) uses it"},
        {"plateau_cooldown=2", "plateau_cooldown: has no effect: only reduce on plateau "
         "(plateau_patience > 0) uses it"},
        {"restore_best=false", "restore_best: has no effect: only early stopping "
         "(early_stopping_patience > 0) uses it"},
        /* a CSV is read from its own path: the folder was dropped without a word */
        {"data=csv:x.csv data_dir=/tmp", "data_dir: has no effect: only data=fashion-mnist and "
         "mnist are read from a folder (a CSV from its own path)"},
        {"data=synthetic-classification data_dir=/tmp", "data_dir: has no effect: only "
         "data=fashion-mnist and mnist are read from a folder (a CSV from its own path)"},
        {"synthetic_samples=500", "synthetic_samples: has no effect: only synthetic data uses it"},
        {"data=csv:x.csv synthetic_features=3", "synthetic_features: has no effect: only "
         "synthetic data uses it"},
        {"data=synthetic-regression synthetic_classes=3", "synthetic_classes: has no effect: "
         "only data=synthetic-classification uses it"},
        {"data=synthetic-classification synthetic_targets=2", "synthetic_targets: has no "
         "effect: only data=synthetic-regression uses it"},
        {"data=synthetic-classification synthetic_noise=0.5", "synthetic_noise: has no "
         "effect: only data=synthetic-regression uses it"},
    };
    char buf[2048], want[512];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(want, sizeof want, "kestrel train: warning: %s\n", cases[i][1]);
        ck_assert_str_eq(inert_lines(cases[i][0], buf, sizeof buf), want);
    }
    static const char *const used[] = {
        "batchnorm=true bn_momentum=0.2",
        "activation=leaky_relu leaky_slope=0.2",
        "loss=huber huber_delta=2",
        "teacher=t.kck distill_temperature=2 distill_alpha=0.9",
        "beta1=0.5 beta2=0.9 eps=1e-6",
        "optimizer=adagrad eps=1e-6",
        "optimizer=rmsprop rho=0.5 eps=1e-6",
        "schedule=step step_size=3 gamma=0.5",
        "schedule=multistep milestones=2,4 gamma=0.5",
        "schedule=exponential gamma=0.5",
        "schedule=inverse_time decay=0.5",
        "schedule=linear min_lr=1e-5",
        "plateau_patience=2 min_lr=1e-5 plateau_factor=0.5 plateau_cooldown=2",
        "schedule=one_cycle pct_start=0.5 div_factor=10 final_div_factor=10",
        "schedule=cosine_restarts restart_period=3 restart_mult=2 min_lr=1e-5",
        "warmup_steps=10 warmup_start=0.5",
        "early_stopping_patience=2 restore_best=false",
        "data=synthetic-classification synthetic_samples=500 synthetic_features=3 "
        "synthetic_classes=3",
        "data=synthetic-regression synthetic_samples=500 synthetic_targets=2 synthetic_noise=0.5",
        "data=mnist data_dir=/tmp", "data_dir=/tmp",
        /* the defaults, set by hand where nothing reads them */
        "optimizer=sgd momentum=0.9 beta1=0.9 beta2=0.999 eps=1e-8 rho=0.9 gamma=0.1 "
        "huber_delta=1 bn_momentum=0.1 leaky_slope=0.01 distill_alpha=0.5 min_lr=0",
    };
    for (size_t i = 0; i < sizeof used / sizeof *used; i++)
        ck_assert_msg(!*inert_lines(used[i], buf, sizeof buf), "%s: %s", used[i], buf);
}
END_TEST

START_TEST(data_parallel_choice)
{
    ck_assert_int_eq(c.parallel, CONFIG_PARALLEL_AUTO);
    ck_assert_int_eq(train_config_data_parallel(&c), 0);   /* threads 1 */
    train_config_set_kv(&c, "threads=2", &err);
    ck_assert_int_eq(train_config_data_parallel(&c), 1);
    train_config_set_kv(&c, "batchnorm=true", &err);
    ck_assert_int_eq(train_config_data_parallel(&c), 1);
    ck_assert_int_eq(train_config_validate(&c, &err), KE_OK);
    train_config_set_kv(&c, "batchnorm=false", &err);
    train_config_set_kv(&c, "threads=1", &err);
    train_config_set_kv(&c, "parallel=data", &err);
    ck_assert_int_eq(train_config_data_parallel(&c), 0);   /* threads 1 */
    train_config_set_kv(&c, "threads=2", &err);
    ck_assert_int_eq(train_config_data_parallel(&c), 1);
    train_config_set_kv(&c, "parallel=blas", &err);
    ck_assert_int_eq(train_config_data_parallel(&c), 0);
    train_config_set_kv(&c, "batchnorm=true", &err);
    ck_assert_int_eq(train_config_validate(&c, &err), KE_OK);
    train_config_set_kv(&c, "parallel=data", &err);
    ck_assert_int_eq(train_config_validate(&c, &err), KE_OK);
    ck_assert_int_eq(train_config_data_parallel(&c), 1);
}
END_TEST

START_TEST(json_round_trip)
{
    train_config_set_kv(&c, "hidden=300,200,100", &err);
    train_config_set_kv(&c, "lr=0.0123456789012345", &err);
    train_config_set_kv(&c, "milestones=4,8", &err);
    train_config_set_kv(&c, "teacher=/tmp/t.kck", &err);
    train_config_set_kv(&c, "optimizer=nesterov", &err);
    train_config_set_kv(&c, "augment_flip=0.5", &err);
    json_t *j = train_config_to_json(&c);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq((int)json_object_size(j), train_config_n_options);
    ck_assert_str_eq(json_string_value(json_object_get(j, "optimizer")), "nesterov");
    char *text = json_dumps(j, 0);
    json_decref(j);
    train_config back;
    train_config_defaults(&back);
    train_config_set_kv(&back, "hidden=1", &err);
    json_t *k = json_loads(text, 0, NULL);
    ck_assert_int_eq(train_config_apply_json(&back, k, &err), KE_OK);
    json_decref(k);
    free(text);
    ck_assert(memcmp(&back, &c, sizeof c) == 0);
}
END_TEST

START_TEST(help_lists_every_option)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    train_config_print_help(f);
    fclose(f);
    for (int i = 0; i < train_config_n_options; i++) {
        char key[64];
        snprintf(key, sizeof key, "  %s ", train_config_options[i].name);
        ck_assert_msg(strstr(buf, key), "help lacks %s", train_config_options[i].name);
    }
    ck_assert_ptr_nonnull(strstr(buf, "(0, 1e+30]"));
    ck_assert_ptr_nonnull(strstr(buf, "constant|step|multistep"));
    /* integer ranges in whole digits, not 2.14748e+09 */
    ck_assert_ptr_nonnull(strstr(buf, "[0, 2147483647]"));
    ck_assert_ptr_null(strstr(buf, "e+09"));
    free(buf);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, enum_order_matches_modules);
    tcase_add_test(tc, set_text_forms);
    tcase_add_test(tc, set_rejections);
    tcase_add_test(tc, json_values);
    tcase_add_test(tc, json_rejections);
    tcase_add_test(tc, files);
    tcase_add_test(tc, cross_checks);
    tcase_add_test(tc, inert_options_warn);
    tcase_add_test(tc, data_parallel_choice);
    tcase_add_test(tc, json_round_trip);
    tcase_add_test(tc, help_lists_every_option);
    suite_add_tcase(s, tc);
    return check_run(s);
}
