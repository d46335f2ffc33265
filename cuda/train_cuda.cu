/* train_cuda: the CUDA backend of train.h. train_session.c builds and resumes
 * the run, train.c reports and checkpoints it (train_session.h); this file
 * mirrors train.c's two model loops, train_epoch and eval_loader, on the
 * device: the dataset is uploaded once (when it fits and no augmentation
 * needs the host loader's pixels), each batch moves only its row indices (or,
 * streamed, its features) to the device through pinned double-buffered
 * staging, and the whole training step (gather, teacher, forward, loss,
 * backward, optimizer) is captured once per batch shape into a CUDA graph and
 * replayed. The host reads device memory once per epoch (the loss sums) and
 * at checkpoints (sync).
 * Invariant: batches, their order, the learning rate per optimizer step and
 * the accumulation groups are those of the CPU loop: the loaders are the
 * CPU's (or views of the same rows), and every per-step value a captured
 * graph needs is read from device memory that the host refreshes before
 * each launch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "loss_cuda.h"
#include "mlp_cuda.h"
#include "optim_cuda.h"

extern "C" {
#include "../trainer/train_session.h"
}

#define MAX_GRAPHS 8   /* (batch size, accumulate, step) shapes kept captured */

/* Per-batch values the captured step reads from device memory. */
typedef struct {
    float lr;        /* this step's learning rate */
    float div;       /* batches accumulated into this step */
    uint64_t seed;   /* dropout seed of this batch's forward */
} step_args;

/* A pinned slot a batch's inputs pass through on their way to the device;
 * two slots let the host fill one while the other's copy is in flight. */
typedef struct {
    step_args *args;
    size_t *rows;          /* (bs) dataset rows */
    float *x;              /* (bs, d) streamed features, not resident only */
    cudaEvent_t copied;    /* the slot's last copies are done */
} stage_slot;

typedef struct {
    int B, accumulate, step;
    cudaGraphExec_t exec;
} step_graph;

typedef struct {
    cudev *d;
    mlp_cuda *m, *teacher;
    optim_cuda opt;
    int resident;                      /* the dataset's x is on the device */
    dataset view;                      /* s->ds seen as 1 feature: rows-only loaders */
    loader *train_l, *val_l, *test_l;  /* where batches come from */
    int own_loaders;                   /* the three are views over `view`, owned here */
    size_t bs, d_in, ny;
    float *data_x;                     /* (n, d) resident only */
    void *data_y;                      /* (n, ny) int32 labels or float targets */
    size_t *rows;                      /* (bs) */
    float *x;                          /* (bs, d) the batch's features */
    void *y;                           /* (bs, ny) the batch's labels or targets */
    float *onehot;                     /* (bs, n_out) MSE targets for class labels */
    float *tprobs;                     /* (bs, n_out) teacher softmax(z/T) */
    step_args *args;
    double *acc;                       /* [train loss sum, train rows counted, eval loss sum, eval correct] */
    double *acc_host;                  /* pinned copy of acc */
    float *outs_host;                  /* pinned (max(n_val, n_test if tested), n_out): an evaluation
                                        * pass's logits, copied to s->outs at its end */
    stage_slot slot[2];
    unsigned n_staged;
    step_graph graphs[MAX_GRAPHS];
    int n_graphs, graphs_off;
} cuda_state;

/* Row-wise kernels run blocks of ROW_THREADS lanes over a row's columns by
 * ROW_LINES rows, so an element's row and column come from thread indices,
 * not from a 64-bit division per element. */
#define ROW_THREADS 32
#define ROW_LINES 8

static dim3 row_grid(int B) { return dim3(1, (unsigned)((B + ROW_LINES - 1) / ROW_LINES)); }

/* dst (B, width) = rows of src (n, width), 4-byte elements. */
__global__ void gather_kernel(uint32_t *dst, const uint32_t *src, const size_t *rows, int B, size_t width)
{
    int r = blockIdx.y * ROW_LINES + threadIdx.y;
    if (r >= B) return;
    const uint32_t *from = src + rows[r] * width;
    uint32_t *to = dst + (size_t)r * width;
    for (size_t c = threadIdx.x; c < width; c += ROW_THREADS) to[c] = from[c];
}

/* x (n, d) = (x - shift[j]) * scale[j] per feature j: split_scaler_row's
 * arithmetic, so resident rows hold the bits the CPU loader gathers. */
__global__ void scale_kernel(float *x, const float *shift, const float *scale, size_t n, size_t d)
{
    size_t N = n * d;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x)
        x[i] = (x[i] - shift[i % d]) * scale[i % d];
}

/* out (B, C) = one-hot rows of labels (B). */
__global__ void onehot_kernel(float *out, const int *labels, int B, int C)
{
    int r = blockIdx.y * ROW_LINES + threadIdx.y;
    if (r >= B) return;
    for (int c = threadIdx.x; c < C; c += ROW_THREADS) out[(size_t)r * C + c] = c == labels[r] ? 1.0f : 0.0f;
}

static void gather(cuda_state *g, void *dst, const void *src, int B, size_t width)
{
    gather_kernel<<<row_grid(B), dim3(ROW_THREADS, ROW_LINES), 0, cudev_stream(g->d)>>>(
        (uint32_t *)dst, (const uint32_t *)src, g->rows, B, width);
}

/* The loss target of the staged batch (train.c's batch_target): labels or
 * targets gathered by row, one-hot rows for MSE on classes, and with
 * with_teacher the teacher's softmax(z/T). */
static int batch_target(session *s, cuda_state *g, int B, int with_teacher, mlp_target *t, kerror *err)
{
    memset(t, 0, sizeof *t);
    if (g->resident) gather(g, g->x, g->data_x, B, g->d_in);
    gather(g, g->y, g->data_y, B, g->ny);
    if (s->classification) t->labels = (const int *)g->y;
    else t->targets = (const float *)g->y;
    if (g->onehot) {
        onehot_kernel<<<row_grid(B), dim3(ROW_THREADS, ROW_LINES), 0, cudev_stream(g->d)>>>(g->onehot, t->labels,
                                                                                            B, s->n_out);
        t->targets = g->onehot;
    }
    if (with_teacher && g->teacher) {
        int rc = mlp_cuda_forward(g->teacher, g->x, B, 0, NULL, err);
        if (rc) return rc;
        mlp_cuda_softmax(g->d, g->tprobs, mlp_cuda_logits(g->teacher), B, s->n_out,
                         (float)s->cfg->distill_temperature);
        t->teacher_probs = g->tprobs;
    }
    return KE_OK;
}

/* Copies batch b's rows (and, streamed, features) and a's step values (a
 * may be NULL) to the device through the next staging slot. */
static int stage(cuda_state *g, const loader_batch *b, const step_args *a, kerror *err)
{
    stage_slot *sl = &g->slot[g->n_staged++ % 2];
    cudaStream_t st = cudev_stream(g->d);
    if (cudev_note(g->d, cudaEventSynchronize(sl->copied), "staging") != cudaSuccess)
        return cudev_check(g->d, err);
    memcpy(sl->rows, b->rows, b->size * sizeof(size_t));
    cudev_note(g->d, cudaMemcpyAsync(g->rows, sl->rows, b->size * sizeof(size_t), cudaMemcpyHostToDevice, st),
               "staging rows");
    if (!g->resident) {
        size_t bytes = b->size * g->d_in * sizeof(float);
        memcpy(sl->x, b->x, bytes);
        cudev_note(g->d, cudaMemcpyAsync(g->x, sl->x, bytes, cudaMemcpyHostToDevice, st), "staging features");
    }
    if (a) {
        *sl->args = *a;
        cudev_note(g->d, cudaMemcpyAsync(g->args, sl->args, sizeof *a, cudaMemcpyHostToDevice, st),
                   "staging step values");
    }
    cudev_note(g->d, cudaEventRecord(sl->copied, st), "staging event");
    return cudev_check(g->d, err);
}

/* Enqueues one training step on the staged batch: the body of train.c's
 * train_epoch loop plus apply_step when step is set. */
static int enqueue_step(session *s, cuda_state *g, int B, int accumulate, int step, kerror *err)
{
    mlp_target t;
    int rc = batch_target(s, g, B, 1, &t, err);
    if (!rc) rc = mlp_cuda_forward(g->m, g->x, B, 1, &g->args->seed, err);
    if (rc) return rc;
    mlp_cuda_loss_forward_backward(g->m, &t, B, optim_cuda_loss_scale(&g->opt));
    loss_cuda_accumulate_train(g->d, g->acc, mlp_cuda_row_loss(g->m), B, optim_cuda_found_inf(&g->opt));
    mlp_cuda_backward(g->m, g->x, B, accumulate);
    if (step)
        optim_cuda_step(&g->opt, mlp_cuda_params(g->m), mlp_cuda_grads(g->m), &g->args->lr, &g->args->div);
    return KE_OK;
}

/* Captures enqueue_step for one shape; NULL (graphs then stay off for the
 * run, steps run eagerly) when the capture or instantiation fails, with the
 * failing call and CUDA's reason in why. */
static step_graph *capture(session *s, cuda_state *g, int B, int accumulate, int step, char *why, size_t n)
{
    cudaStream_t st = cudev_stream(g->d);
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    const char *call = "cudaStreamBeginCapture";
    cudaError_t e = cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal);
    if (e == cudaSuccess) {
        int rc = enqueue_step(s, g, B, accumulate, step, NULL);
        call = "cudaStreamEndCapture";
        e = cudaStreamEndCapture(st, &graph);
        if (e == cudaSuccess && (rc != KE_OK || cudev_check(g->d, NULL) != KE_OK)) {
            call = "a kernel launch while capturing";
            e = cudaErrorStreamCaptureInvalidated;
        }
        if (e == cudaSuccess) call = "cudaGraphInstantiate", e = cudaGraphInstantiate(&exec, graph, 0);
    }
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    cudev_check(g->d, NULL);   /* a failed capture only turns graphs off */
    if (e != cudaSuccess) {
        if (exec) cudaGraphExecDestroy(exec);
        g->graphs_off = 1;
        snprintf(why, n, "%s: %s", call, cudaGetErrorString(e));
        return NULL;
    }
    step_graph *sg = &g->graphs[g->n_graphs++];
    sg->B = B;
    sg->accumulate = accumulate;
    sg->step = step;
    sg->exec = exec;
    return sg;
}

static int run_step(session *s, cuda_state *g, int B, int accumulate, int step, kerror *err)
{
    step_graph *sg = NULL;
    for (int i = 0; i < g->n_graphs && !sg; i++)
        if (g->graphs[i].B == B && g->graphs[i].accumulate == accumulate && g->graphs[i].step == step)
            sg = &g->graphs[i];
    if (!sg && !g->graphs_off && g->n_graphs < MAX_GRAPHS) {
        char why[160];
        sg = capture(s, g, B, accumulate, step, why, sizeof why);
        if (!sg && s->cfg->cuda_graphs == CONFIG_GRAPHS_ON)
            return kerror_set(err, KE_INVALID, "cuda_graphs",
                              "on, but capturing the training step of a batch of %d failed: %s", B, why);
    }
    if (!sg) return enqueue_step(s, g, B, accumulate, step, err);
    cudev_note(g->d, cudaGraphLaunch(sg->exec, cudev_stream(g->d)), "cudaGraphLaunch");
    return KE_OK;
}

/* Copies acc[first..first+n) to the host and waits for the stream. */
static int read_sums(cuda_state *g, int first, int n, kerror *err)
{
    cudev_note(g->d, cudaMemcpyAsync(g->acc_host + first, g->acc + first, (size_t)n * sizeof(double),
                                     cudaMemcpyDeviceToHost, cudev_stream(g->d)), "reading sums");
    return cudev_sync(g->d, err);
}

static void zero_sums(cuda_state *g, int first, int n)
{
    cudev_note(g->d, cudaMemsetAsync(g->acc + first, 0, (size_t)n * sizeof(double), cudev_stream(g->d)),
               "zeroing sums");
}

/* train.c's train_epoch: same batches and accumulation groups; the loss is
 * summed on the device and checked once, at the end of the epoch. */
static int cuda_train_epoch(session *s, long epoch, double *mean_loss, kerror *err)
{
    cuda_state *g = (cuda_state *)s->dev_state;
    const train_config *c = s->cfg;
    int dropout = mlp_cuda_get_config(g->m)->dropout > 0.0f;
    size_t n_batches = loader_batches(g->train_l);
    int k = 0, rc;
    zero_sums(g, 0, 2);
    loader_batch b;
    loader_epoch_begin(g->train_l, (uint64_t)epoch);
    while (loader_next(g->train_l, &b)) {
        int B = (int)b.size;
        int step = k + 1 == c->accumulate || b.index + 1 == n_batches;
        step_args a;
        memset(&a, 0, sizeof a);
        a.div = (float)(k + 1);
        a.lr = step ? (float)train_lr(s, s->st.step) : 0.0f;
        a.seed = dropout ? mlp_cuda_draw_seed(g->m) : 0;
        if ((rc = stage(g, &b, &a, err)) || (rc = run_step(s, g, B, k > 0, step, err))) return rc;
        if (step) {
            s->st.step++;
            k = 0;
        } else {
            k++;
        }
    }
    if ((rc = read_sums(g, 0, 2, err))) return rc;
    /* over the batches whose loss counted: fp16 leaves out those whose
     * forward overflowed (their steps were skipped); none counted is 0/0 */
    double mean = g->acc_host[0] / g->acc_host[1];
    if (!isfinite(mean)) return train_diverged(s, 0, mean, epoch, err);
    *mean_loss = mean;
    return KE_OK;
}

/* train.c's eval_loader over the device copy of the loader's rows. */
static int cuda_eval(session *s, loader *l, eval_result *r, kerror *err)
{
    cuda_state *g = (cuda_state *)s->dev_state;
    loader *L = l == s->val_l ? g->val_l : l == s->test_l ? g->test_l : NULL;
    if (!L) return kerror_set(err, KE_INTERNAL, NULL, "cuda: evaluation of an unknown loader");
    long n = 0;
    int rc;
    zero_sums(g, 2, 2);
    loader_batch b;
    loader_epoch_begin(L, 0);
    while (loader_next(L, &b)) {
        mlp_target t;
        int B = (int)b.size;
        if ((rc = stage(g, &b, NULL, err)) || (rc = batch_target(s, g, B, 0, &t, err)) ||
            (rc = mlp_cuda_eval_batch(g->m, g->x, &t, B, g->acc + 2, err)))
            return rc;
        size_t C = (size_t)s->n_out;
        /* stream-ordered: no wait here, read_sums' synchronization covers it */
        cudev_note(g->d, cudaMemcpyAsync(g->outs_host + (size_t)n * C, mlp_cuda_logits(g->m),
                                         (size_t)B * C * sizeof(float), cudaMemcpyDeviceToHost,
                                         cudev_stream(g->d)), "reading outputs");
        n += B;
    }
    if ((rc = read_sums(g, 2, 2, err))) return rc;
    memcpy(s->outs, g->outs_host, (size_t)n * (size_t)s->n_out * sizeof(float));
    r->loss = g->acc_host[2] / (double)n;
    r->accuracy = s->classification ? g->acc_host[3] / (double)n : 0;
    return KE_OK;
}

/* Scales the resident features on the device: the host dataset is a
 * read-only mapping that the CPU loaders scale row by row as they gather. */
static int scale_resident(session *s, cuda_state *g, kerror *err)
{
    const split_scaler *sc = &s->sc;
    if (sc->kind == SPLIT_SCALE_NONE) return KE_OK;
    float *stats = NULL;
    int rc = cudev_alloc(g->d, (void **)&stats, 2 * sc->d * sizeof(float), "feature scaler", err);
    if (!rc) rc = cudev_upload(g->d, stats, sc->shift, sc->d * sizeof(float), err);
    if (!rc) rc = cudev_upload(g->d, stats + sc->d, sc->scale, sc->d * sizeof(float), err);
    if (!rc) {
        size_t N = s->ds.n * sc->d;
        scale_kernel<<<cudev_blocks(N, 256), 256, 0, cudev_stream(g->d)>>>(g->data_x, stats, stats + sc->d,
                                                                          s->ds.n, sc->d);
        rc = cudev_sync(g->d, err);
    }
    cudev_release(stats);
    return rc;
}

/* Labels or targets always go to the device (small); the features too when
 * they fit in free memory and no augmentation needs the host loader's
 * pixels. A failed upload of the features only means streaming them. */
static int upload_data(session *s, cuda_state *g, kerror *err)
{
    const dataset *ds = &s->ds;
    const train_config *c = s->cfg;
    g->d_in = ds->d;
    g->ny = s->classification ? 1 : ds->t;
    size_t ybytes = ds->n * g->ny * 4;
    int rc = cudev_alloc(g->d, &g->data_y, ybytes, "dataset labels", err);
    if (!rc) rc = cudev_upload(g->d, g->data_y, s->classification ? (const void *)ds->y : ds->targets, ybytes, err);
    if (rc) return rc;
    int image = ds->h && ds->w && ds->c && ds->h * ds->w * ds->c == ds->d;
    int augment = c->augment_noise > 0 || (image && (c->augment_shift > 0 || c->augment_flip > 0));
    size_t xbytes = ds->n * ds->d * sizeof(float), free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    cudaGetLastError();
    if (augment || xbytes > free_b / 10 * 9) return KE_OK;
    if (cudev_alloc(g->d, (void **)&g->data_x, xbytes, "dataset features", NULL) != KE_OK) return KE_OK;
    if ((rc = cudev_upload(g->d, g->data_x, ds->x, xbytes, err))) return rc;
    g->resident = 1;
    return scale_resident(s, g, err);
}

/* Resident: loaders over a one-feature view of the same rows, seeds and
 * batch size as train_session.c's, so they yield the same rows without
 * copying features; a test loader only when train_session.c made one
 * (evaluate_test), as cuda_eval is asked for no other. Streamed:
 * train_session.c's own loaders. */
static int make_loaders(session *s, cuda_state *g, kerror *err)
{
    if (!g->resident) {
        g->train_l = s->train_l;
        g->val_l = s->val_l;
        g->test_l = s->test_l;
        return KE_OK;
    }
    g->view = s->ds;
    g->view.d = 1;
    g->view.h = g->view.w = g->view.c = 0;
    g->own_loaders = 1;
    size_t bs = (size_t)s->cfg->batch_size;
    uint64_t seed = (uint64_t)s->cfg->seed;
    int rc = loader_create(&g->train_l, &g->view, s->sp.train, s->sp.n_train, bs, seed, 1, NULL, NULL, 1, err);
    if (!rc) rc = loader_create(&g->val_l, &g->view, s->sp.val, s->sp.n_val, bs, seed, 0, NULL, NULL, 1, err);
    if (!rc && s->test_l)
        rc = loader_create(&g->test_l, &g->view, s->sp.test, s->sp.n_test, bs, seed, 0, NULL, NULL, 1, err);
    return rc;
}

static int alloc_buffers(session *s, cuda_state *g, kerror *err)
{
    size_t bs = (size_t)s->cfg->batch_size, C = (size_t)s->n_out;
    g->bs = bs;
    int rc = cudev_alloc(g->d, (void **)&g->rows, bs * sizeof(size_t), "batch rows", err);
    if (!rc) rc = cudev_alloc(g->d, (void **)&g->x, bs * g->d_in * sizeof(float), "batch features", err);
    if (!rc) rc = cudev_alloc(g->d, &g->y, bs * g->ny * 4, "batch labels", err);
    if (!rc && s->classification && s->mse)
        rc = cudev_alloc(g->d, (void **)&g->onehot, bs * C * sizeof(float), "one-hot targets", err);
    if (!rc && g->teacher)
        rc = cudev_alloc(g->d, (void **)&g->tprobs, bs * C * sizeof(float), "teacher probabilities", err);
    if (!rc) rc = cudev_alloc(g->d, (void **)&g->args, sizeof(step_args), "step values", err);
    if (!rc) rc = cudev_alloc(g->d, (void **)&g->acc, 4 * sizeof(double), "loss sums", err);
    if (!rc) rc = cudev_host_alloc((void **)&g->acc_host, 4 * sizeof(double), "loss sums", err);
    size_t rows = s->test_l && s->sp.n_test > s->sp.n_val ? s->sp.n_test : s->sp.n_val;
    if (!rc) rc = cudev_host_alloc((void **)&g->outs_host, rows * C * sizeof(float), "outputs", err);
    for (int i = 0; i < 2 && !rc; i++) {
        stage_slot *sl = &g->slot[i];
        rc = cudev_host_alloc((void **)&sl->args, sizeof(step_args), "staging", err);
        if (!rc) rc = cudev_host_alloc((void **)&sl->rows, bs * sizeof(size_t), "staging", err);
        if (!rc && !g->resident)
            rc = cudev_host_alloc((void **)&sl->x, bs * g->d_in * sizeof(float), "staging", err);
        if (!rc && cudaEventCreateWithFlags(&sl->copied, cudaEventDisableTiming | cudaEventBlockingSync) != cudaSuccess) {
            sl->copied = NULL;
            rc = kerror_set(err, KE_INTERNAL, "device", "cannot create a CUDA event");
        }
    }
    return rc;
}

static void cuda_close(session *s)
{
    cuda_state *g = (cuda_state *)s->dev_state;
    if (!g) return;
    if (g->d) cudev_sync(g->d, NULL);
    for (int i = 0; i < g->n_graphs; i++) cudaGraphExecDestroy(g->graphs[i].exec);
    for (int i = 0; i < 2; i++) {
        if (g->slot[i].copied) cudaEventDestroy(g->slot[i].copied);
        cudev_host_release(g->slot[i].args);
        cudev_host_release(g->slot[i].rows);
        cudev_host_release(g->slot[i].x);
    }
    cudev_host_release(g->acc_host);
    cudev_host_release(g->outs_host);
    void *dev[] = {g->data_x, g->data_y, g->rows, g->x, g->y, g->onehot, g->tprobs, g->args, g->acc};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) cudev_release(dev[i]);
    if (g->own_loaders) {
        loader_free(g->train_l);
        loader_free(g->val_l);
        loader_free(g->test_l);
    }
    optim_cuda_free(&g->opt);
    mlp_cuda_free(g->m);
    mlp_cuda_free(g->teacher);
    cudev_free(g->d);
    free(g);
    s->dev_state = NULL;
}

static int cuda_open(session *s, kerror *err)
{
    if (s->class_weight)
        return kerror_set(err, KE_INVALID, "class_weight", "not supported by device=cuda (use device=cpu)");
    cuda_state *g = (cuda_state *)calloc(1, sizeof *g);
    if (!g) return kerror_set(err, KE_NOMEM, NULL, "cuda: out of memory");
    s->dev_state = g;
    g->graphs_off = s->cfg->cuda_graphs == CONFIG_GRAPHS_OFF;
    int rc = cudev_create(&g->d, (cudev_precision)s->cfg->precision, err);
    if (!rc) rc = mlp_cuda_create(&g->m, g->d, s->m, err);
    if (!rc && s->teacher) rc = mlp_cuda_create(&g->teacher, g->d, s->teacher, err);
    if (!rc) rc = optim_cuda_init(&g->opt, g->d, &s->opt, err);
    if (!rc) rc = upload_data(s, g, err);
    if (!rc) rc = make_loaders(s, g, err);
    if (!rc) rc = alloc_buffers(s, g, err);
    return rc;
}

/* Device parameters -> the host model (the best epoch's, for restore_best). */
static int cuda_get_model(session *s, kerror *err)
{
    return mlp_cuda_download(((cuda_state *)s->dev_state)->m, s->m, err);
}

/* The host model -> the device (the restored best epoch). */
static int cuda_set_model(session *s, kerror *err)
{
    return mlp_cuda_upload(((cuda_state *)s->dev_state)->m, s->m, err);
}

/* Device state -> the host model and optimizer, for checkpoints. */
static int cuda_sync(session *s, kerror *err)
{
    cuda_state *g = (cuda_state *)s->dev_state;
    int rc = cuda_get_model(s, err);
    if (!rc) rc = optim_cuda_sync(&g->opt, &s->opt, err);
    return rc;
}

static const train_device_ops cuda_ops = {cuda_open, cuda_train_epoch, cuda_eval, cuda_sync,
                                          cuda_get_model, cuda_set_model, cuda_close};

extern "C" int train_cuda_devices(char *why, size_t n) { return cudev_count(why, n); }

extern "C" int train_run_cuda(const train_config *cfg, train_report_fn report, void *ctx,
                              train_result *res, kerror *err)
{
    char why[256];
    if (cudev_count(why, sizeof why) <= 0)
        return kerror_set(err, KE_INVALID, "device", "cuda was requested but there is no usable CUDA device: %s",
                          why);
    return train_run_device(cfg, &cuda_ops, report, ctx, res, err);
}
