/* sgemm_rate: OpenBLAS's own SGEMM throughput on the exact GEMM calls one
 * training step of an MLP makes (forward, weight gradient, input gradient),
 * so bench/train_bench.py can state the trainer's GEMM efficiency against
 * the library's ceiling. Run by hand through bench/train_bench.sh.
 * Invariant: the calls, transposes and shapes are those of
 * trainer/layers.c, so the rate is the one the trainer could reach.
 *
 * Usage: sgemm_rate THREADS BATCH SECONDS WIDTH0 WIDTH1 ... (input first,
 * output last), e.g. sgemm_rate 2 128 2 784 256 128 10. Prints one JSON
 * line per GEMM shape and a final {"total_gflops": ...} line: the flops of
 * one whole step divided by the time of one whole step of GEMMs.
 * THREADS may also be SxT: S concurrent streams (the trainer's data-parallel
 * threads, trainer/dp.c), each running the step's GEMMs on BATCH/S rows with
 * a T-thread OpenBLAS; the total is the whole batch's flops over the time the
 * streams take together. */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/monotime.h"

#define MAX_LAYERS 32

typedef struct {
    const char *what;
    CBLAS_TRANSPOSE ta, tb;
    int m, n, k, lda, ldb, ldc;
    const float *a, *b;
    float *c;
    float beta;
} gemm;

static void run(const gemm *g)
{
    cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->m, g->n, g->k, 1.0f, g->a, g->lda, g->b,
                g->ldb, g->beta, g->c, g->ldc);
}

/* Seconds per call of the n gemms run back to back, best of 5 rounds of
 * about `seconds`/5 each. */
static double time_calls(const gemm *g, int n, double seconds)
{
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        long reps = 0;
        double t0 = monotime_s(), t;
        do {
            for (int i = 0; i < n; i++) run(&g[i]);
            reps++;
        } while ((t = monotime_s() - t0) < seconds / 5);
        if (t / (double)reps < best) best = t / (double)reps;
    }
    return best;
}

static float *filled(size_t n)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "sgemm_rate: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

/* The GEMM calls of one step on B rows into g; returns how many, *flops
 * their flop count. */
static int step_calls(gemm *g, int B, const int *w, int L, double *flops)
{
    int n = 0;
    *flops = 0;
    for (int l = 0; l < L; l++) {
        int k = w[l], o = w[l + 1];
        float *x = filled((size_t)B * k), *W = filled((size_t)o * k), *y = filled((size_t)B * o);
        float *dW = filled((size_t)o * k), *dx = filled((size_t)B * k);
        /* the three calls of layers_dense_forward / layers_dense_backward */
        g[n++] = (gemm){"forward", CblasNoTrans, CblasTrans, B, o, k, k, k, o, x, W, y, 0.0f};
        g[n++] = (gemm){"grad_W", CblasTrans, CblasNoTrans, o, k, B, o, k, k, y, x, dW, 0.0f};
        *flops += 4.0 * B * k * o;
        if (l > 0) {
            g[n++] = (gemm){"grad_x", CblasNoTrans, CblasNoTrans, B, k, o, o, k, k, y, W, dx, 0.0f};
            *flops += 2.0 * B * k * o;
        }
    }
    return n;
}

typedef struct {
    gemm g[3 * MAX_LAYERS];
    int n;
    long reps;
} stream;

static void *stream_run(void *arg)
{
    stream *s = arg;
    for (long r = 0; r < s->reps; r++)
        for (int i = 0; i < s->n; i++) run(&s->g[i]);
    return NULL;
}

/* S streams of the step on B/S rows each, concurrently: whole-batch GFLOP/s. */
static int streams(int S, int B, double seconds, const int *w, int L)
{
    stream *st = calloc((size_t)S, sizeof *st);
    pthread_t th[64];
    double flops = 0, f;
    if (!st || S > 64) return 1;
    for (int s = 0; s < S; s++) {
        int rows = B * (s + 1) / S - B * s / S;
        st[s].n = step_calls(st[s].g, rows, w, L, &f);
        flops += f;
    }
    /* calibrate the repetitions on one stream, then time all together, best of 5 */
    double one = time_calls(st[0].g, st[0].n, seconds / 5);
    long reps = (long)(seconds / 5 / one) + 1;
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        double t0 = monotime_s();
        for (int s = 0; s < S; s++) {
            st[s].reps = reps;
            pthread_create(&th[s], NULL, stream_run, &st[s]);
        }
        for (int s = 0; s < S; s++) pthread_join(th[s], NULL);
        double t = (monotime_s() - t0) / (double)reps;
        if (t < best) best = t;
    }
    printf("{\"total_gflops\": %.2f, \"step_flops\": %.0f, \"step_seconds\": %.6g, "
           "\"streams\": %d}\n", flops / best * 1e-9, flops, best, S);
    free(st);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc - 4 > MAX_LAYERS) {
        fprintf(stderr, "usage: sgemm_rate THREADS|STREAMSxTHREADS BATCH SECONDS W0 W1 [W2 ...]\n");
        return 2;
    }
    int threads = atoi(argv[1]), B = atoi(argv[2]), L = argc - 5;
    double seconds = atof(argv[3]);
    int w[MAX_LAYERS + 1];
    for (int i = 0; i <= L; i++) w[i] = atoi(argv[4 + i]);
    const char *x = strchr(argv[1], 'x');
    if (x) {
        openblas_set_num_threads(atoi(x + 1));
        return streams(threads, B, seconds, w, L);
    }
    openblas_set_num_threads(threads);
    gemm g[3 * MAX_LAYERS];
    double flops;
    int n = step_calls(g, B, w, L, &flops);
    for (int i = 0; i < n; i++) {
        double t = time_calls(&g[i], 1, seconds / n);
        double f = 2.0 * g[i].m * g[i].n * g[i].k;
        printf("{\"gemm\": \"%s\", \"m\": %d, \"n\": %d, \"k\": %d, \"gflops\": %.2f}\n",
               g[i].what, g[i].m, g[i].n, g[i].k, f / t * 1e-9);
    }
    double t = time_calls(g, n, seconds);
    printf("{\"total_gflops\": %.2f, \"step_flops\": %.0f, \"step_seconds\": %.6g}\n",
           flops / t * 1e-9, flops, t);
    return 0;
}
