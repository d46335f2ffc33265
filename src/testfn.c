/* testfn: the standard optimization test functions, with their usual domains
 * and known global minima. Formulas and constants follow S. Surjanovic and
 * D. Bingham, "Virtual Library of Simulation Experiments: Test Functions and
 * Datasets", https://www.sfu.ca/~ssurjano/optimization.html (retrieved 2024).
 * Invariant: f(x) >= minimum for every x in [low, high]; the table below is
 * the only place a function's domain and minimum are stated. */
#include "testfn.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* Branin-Hoo (ssurjano/branin.html): a (x2 - b x1^2 + c x1 - r)^2
 * + s (1 - t) cos(x1) + s, a=1, b=5.1/(4 pi^2), c=5/pi, r=6, s=10,
 * t=1/(8 pi). Three minimizers: (-pi, 12.275), (pi, 2.275), (9.42478, 2.475). */
static double branin(const double *x)
{
    const double b = 5.1 / (4.0 * M_PI * M_PI), c = 5.0 / M_PI, t = 1.0 / (8.0 * M_PI);
    double q = x[1] - b * x[0] * x[0] + c * x[0] - 6.0;
    return q * q + 10.0 * (1.0 - t) * cos(x[0]) + 10.0;
}

/* Hartmann, 4 terms (ssurjano/hart3.html, hart6.html):
 * f(x) = -sum_i alpha_i exp(-sum_j A_ij (x_j - P_ij)^2).
 * A and P are 4 x d, row-major. */
static const double hartmann_alpha[4] = { 1.0, 1.2, 3.0, 3.2 };

static double hartmann(const double *x, int d, const double *A, const double *P)
{
    double sum = 0.0;
    for (int i = 0; i < 4; i++) {
        double inner = 0.0;
        for (int j = 0; j < d; j++) {
            double dx = x[j] - P[i * d + j];
            inner += A[i * d + j] * dx * dx;
        }
        sum += hartmann_alpha[i] * exp(-inner);
    }
    return -sum;
}

/* Minimizer (0.114614, 0.555649, 0.852547). */
static double hartmann3(const double *x)
{
    static const double A[12] = {
        3.0, 10, 30,
        0.1, 10, 35,
        3.0, 10, 30,
        0.1, 10, 35,
    };
    static const double P[12] = {
        0.3689, 0.1170, 0.2673,
        0.4699, 0.4387, 0.7470,
        0.1091, 0.8732, 0.5547,
        0.0381, 0.5743, 0.8828,
    };
    return hartmann(x, 3, A, P);
}

/* Minimizer (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573). */
static double hartmann6(const double *x)
{
    static const double A[24] = {
        10.0, 3.0, 17.0, 3.5, 1.7, 8.0,
        0.05, 10.0, 17.0, 0.1, 8.0, 14.0,
        3.0, 3.5, 1.7, 10.0, 17.0, 8.0,
        17.0, 8.0, 0.05, 10.0, 0.1, 14.0,
    };
    static const double P[24] = {
        0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886,
        0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991,
        0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650,
        0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381,
    };
    return hartmann(x, 6, A, P);
}

/* Goldstein-Price (ssurjano/goldpr.html); minimizer (0, -1). */
static double goldstein_price(const double *x)
{
    double a = x[0], b = x[1];
    double s = a + b + 1.0, d = 2.0 * a - 3.0 * b;
    double t1 = 1.0 + s * s * (19.0 - 14.0 * a + 3.0 * a * a - 14.0 * b + 6.0 * a * b + 3.0 * b * b);
    double t2 = 30.0 + d * d * (18.0 - 32.0 * a + 12.0 * a * a + 48.0 * b - 36.0 * a * b + 27.0 * b * b);
    return t1 * t2;
}

/* Six-hump camel (ssurjano/camel6.html); minimizers +-(0.0898, -0.7126). */
static double six_hump_camel(const double *x)
{
    double a = x[0], b = x[1], a2 = a * a, b2 = b * b;
    return (4.0 - 2.1 * a2 + a2 * a2 / 3.0) * a2 + a * b + (-4.0 + 4.0 * b2) * b2;
}

/* Rosenbrock, d = 4 (ssurjano/rosen.html):
 * sum_{i<d} 100 (x_{i+1} - x_i^2)^2 + (x_i - 1)^2; minimizer (1, ..., 1). */
static double rosenbrock4(const double *x)
{
    double sum = 0.0;
    for (int i = 0; i < 3; i++) {
        double u = x[i + 1] - x[i] * x[i], v = x[i] - 1.0;
        sum += 100.0 * u * u + v * v;
    }
    return sum;
}

/* Ackley, d = 5, a = 20, b = 0.2, c = 2 pi (ssurjano/ackley.html):
 * -a exp(-b sqrt(mean x^2)) - exp(mean cos(c x)) + a + e; minimizer 0. */
static double ackley5(const double *x)
{
    double sq = 0.0, cs = 0.0;
    for (int i = 0; i < 5; i++) {
        sq += x[i] * x[i];
        cs += cos(2.0 * M_PI * x[i]);
    }
    return -20.0 * exp(-0.2 * sqrt(sq / 5.0)) - exp(cs / 5.0) + 20.0 + M_E;
}

/* Levy, d = 4 (ssurjano/levy.html), w_i = 1 + (x_i - 1)/4:
 * sin^2(pi w_1) + sum_{i<d} (w_i - 1)^2 (1 + 10 sin^2(pi w_i + 1))
 * + (w_d - 1)^2 (1 + sin^2(2 pi w_d)); minimizer (1, ..., 1). */
static double levy4(const double *x)
{
    double w[4];
    for (int i = 0; i < 4; i++)
        w[i] = 1.0 + (x[i] - 1.0) / 4.0;
    double s = sin(M_PI * w[0]);
    double sum = s * s;
    for (int i = 0; i < 3; i++) {
        double si = sin(M_PI * w[i] + 1.0);
        sum += (w[i] - 1.0) * (w[i] - 1.0) * (1.0 + 10.0 * si * si);
    }
    double sd = sin(2.0 * M_PI * w[3]);
    return sum + (w[3] - 1.0) * (w[3] - 1.0) * (1.0 + sd * sd);
}

static const testfn functions[] = {
    { "branin", 2, { -5, 0 }, { 10, 15 }, 0.397887357729738, branin },
    { "hartmann3", 3, { 0, 0, 0 }, { 1, 1, 1 }, -3.86278214782076, hartmann3 },
    { "hartmann6", 6, { 0, 0, 0, 0, 0, 0 }, { 1, 1, 1, 1, 1, 1 }, -3.32236801141551, hartmann6 },
    { "goldstein_price", 2, { -2, -2 }, { 2, 2 }, 3.0, goldstein_price },
    { "six_hump_camel", 2, { -3, -2 }, { 3, 2 }, -1.03162845348988, six_hump_camel },
    { "rosenbrock4", 4, { -5, -5, -5, -5 }, { 10, 10, 10, 10 }, 0.0, rosenbrock4 },
    { "ackley5", 5, { -32.768, -32.768, -32.768, -32.768, -32.768 },
      { 32.768, 32.768, 32.768, 32.768, 32.768 }, 0.0, ackley5 },
    { "levy4", 4, { -10, -10, -10, -10 }, { 10, 10, 10, 10 }, 0.0, levy4 },
};

#define N_FUNCTIONS (sizeof functions / sizeof functions[0])

static const testfn *const function_list[N_FUNCTIONS + 1] = {
    &functions[0], &functions[1], &functions[2], &functions[3],
    &functions[4], &functions[5], &functions[6], &functions[7], NULL,
};

_Static_assert(N_FUNCTIONS == 8, "function_list must list every entry of functions[]");

const testfn *testfn_find(const char *name)
{
    for (size_t i = 0; i < N_FUNCTIONS; i++)
        if (!strcmp(functions[i].name, name))
            return &functions[i];
    return NULL;
}

const testfn *const *testfn_all(void)
{
    return function_list;
}
