/* train_resume: the bit-exact resume check test_train and test_cuda share:
 * a run straight to its end against the same run cut by budget, checkpointed
 * and resumed, compared bit for bit (metrics, parameters, optimizer and loop
 * state, best weights). Include after train_fixture.h. */
#ifndef KESTREL_TRAIN_RESUME_H
#define KESTREL_TRAIN_RESUME_H

#include <string.h>

#include "../trainer/checkpoint.h"
#include "../trainer/mlp.h"
#include "../trainer/optim.h"

/* The model parameters and optimizer state a checkpoint file holds. */
static inline void load_state(const char *path, float **params, size_t *np, float **opt, size_t *no,
                       checkpoint_state *st)
{
    checkpoint *ck;
    ck_assert_int_eq(checkpoint_read(&ck, path, &err), KE_OK);
    train_config tc;
    ck_assert_int_eq(checkpoint_config(ck, &tc, &err), KE_OK);
    mlp_config mc;
    mlp_config_default(&mc);
    int regression;
    ck_assert_int_eq(checkpoint_shape(ck, &mc.n_in, &mc.n_out, &regression, &err), KE_OK);
    mc.n_layers = tc.hidden.n;
    mc.widths = tc.hidden.v;
    mc.batchnorm = tc.batchnorm;
    mc.max_batch = tc.batch_size;
    mlp *m;
    ck_assert_int_eq(mlp_create(&m, &mc, &err), KE_OK);
    ck_assert_int_eq(checkpoint_restore_model(ck, m, &err), KE_OK);
    *np = mlp_n_state(m);
    *params = malloc(*np * sizeof(float));
    memcpy(*params, mlp_params(m), *np * sizeof(float));
    optim_config oc;
    optim_config_default(&oc);
    oc.kind = (optim_kind)tc.optimizer;
    int nt;
    const mlp_tensor *t = mlp_tensors(m, &nt);
    optim o;
    ck_assert_int_eq(optim_init(&o, &oc, mlp_n_params(m), t, nt, &err), KE_OK);
    ck_assert_int_eq(checkpoint_restore_optim(ck, &o, &err), KE_OK);
    *no = o.n_state;
    *opt = malloc(*no * sizeof(float));
    if (*no) memcpy(*opt, o.state, *no * sizeof(float));   /* SGD has no state: o.state is NULL */
    *st = *checkpoint_get_state(ck);
    optim_free(&o);
    mlp_free(m);
    checkpoint_free(ck);
}

/* The checkpoint files a and b hold the same bits: parameters, optimizer
 * state and loop state; *sa gets a's loop state. Returns the count of
 * parameter floats. */
static inline size_t expect_same_state(const char *a, const char *b, checkpoint_state *sa)
{
    float *p1, *p2, *o1, *o2;
    size_t n1, n2, m1, m2;
    checkpoint_state s2;
    load_state(a, &p1, &n1, &o1, &m1, sa);
    load_state(b, &p2, &n2, &o2, &m2, &s2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_uint_eq(m1, m2);
    ck_assert(memcmp(p1, p2, n1 * sizeof(float)) == 0);
    ck_assert(memcmp(o1, o2, m1 * sizeof(float)) == 0);
    ck_assert(memcmp(sa, &s2, sizeof s2) == 0);
    free(p1);
    free(p2);
    free(o1);
    free(o2);
    return n1;
}

/* Runs c straight to its end and, separately, to budget `half` and then
 * resumed from that checkpoint; both ends must be the same bits: final
 * metrics, parameters, optimizer state, loop state and best weights.
 * *resumed gets the resumed run's result. */
static inline void expect_exact_resume(const char *half, train_result *resumed)
{
    char a[96], b[96], r[96];
    path_in_dir(a, sizeof a, "straight.kck");
    path_in_dir(b, sizeof b, "half.kck");
    path_in_dir(r, sizeof r, "resumed.kck");
    train_result straight, cut;
    train_config s = c, h = c, rs = c;
    train_config_set(&s, "checkpoint", a, NULL);
    ck_assert_int_eq(train_run(&s, NULL, NULL, &straight, &err), KE_OK);
    train_config_set(&h, "checkpoint", b, NULL);
    train_config_set(&h, "budget", half, NULL);
    ck_assert_int_eq(train_run(&h, NULL, NULL, &cut, &err), KE_OK);
    ck_assert_int_eq(cut.epochs, atoi(half));
    train_config_set(&rs, "resume", b, NULL);
    train_config_set(&rs, "checkpoint", r, NULL);
    ck_assert_int_eq(train_run(&rs, NULL, NULL, resumed, &err), KE_OK);

    ck_assert_int_eq(resumed->epochs, straight.epochs);
    ck_assert(memcmp(&straight.val_loss, &resumed->val_loss, sizeof(double)) == 0);
    ck_assert(memcmp(&straight.val_accuracy, &resumed->val_accuracy, sizeof(double)) == 0);
    ck_assert(memcmp(&straight.test_loss, &resumed->test_loss, sizeof(double)) == 0);
    ck_assert(memcmp(&straight.test_accuracy, &resumed->test_accuracy, sizeof(double)) == 0);
    ck_assert(memcmp(&straight.best_val_loss, &resumed->best_val_loss, sizeof(double)) == 0);

    checkpoint_state s1;
    size_t n1 = expect_same_state(a, r, &s1);
    checkpoint *k1, *k2;
    ck_assert_int_eq(checkpoint_read(&k1, a, &err), KE_OK);
    ck_assert_int_eq(checkpoint_read(&k2, r, &err), KE_OK);
    ck_assert(!checkpoint_best(k1) == !checkpoint_best(k2));
    ck_assert(!checkpoint_best(k1) ||
              memcmp(checkpoint_best(k1), checkpoint_best(k2), n1 * sizeof(float)) == 0);
    checkpoint_free(k1);
    checkpoint_free(k2);
}

/* Everything with state or randomness (batch norm's running statistics
 * aside, which not every variant has): dropout, noise augmentation, a
 * per-step schedule with warm-up, accumulation; 4 epochs. */
static inline void set_stateful_run(void)
{
    set("dropout=0.2");
    set("augment_noise=0.05");
    set("schedule=cosine");
    set("warmup_steps=5");
    set("accumulate=2");
    set("epochs=4");
}

#endif
