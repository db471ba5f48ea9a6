/* Adaptive Metropolis (Haario, Saksman, Tamminen 2001): a random walk whose
 * proposal covariance is the empirical covariance of the chain so far,
 * regularised by epsilon I so it stays positive definite:
 *   xi' = xi + h L z,  L L^T = Cov(xi_0..xi_t) + epsilon I   (t >= t0),
 * with L = I before t0 draws. t0 defaults to 100 N: a covariance learnt from
 * the first few hundred draws of a chain still walking in from its start is
 * nearly singular, its small directions then get tiny proposals and are
 * learnt again only very slowly (in 100 dimensions t0 = 200 left the chain
 * stuck after 1e5 burn-in iterations; 1e4 did not). h starts at Haario's 2.38/sqrt(N) and is tuned
 * toward the target acceptance like every kernel's step. The covariance is
 * learnt only while adaptation is on (burn-in) and frozen after it, so the
 * sampling phase is a fixed random-walk Metropolis chain.
 *
 * Dense N x N: meant for the tens to hundreds of KL coordinates. The running
 * mean and co-moment (Welford) are updated every adaptation step, the
 * Cholesky factor every update_every steps. */
#include "mcmc/mcmc_impl.h"

#include <math.h>
#include <string.h>

typedef struct {
  McDenseProposal dense;
  PetscReal       t0, epsilon, update_every;
  PetscReal       count; /* states in the running moments */
  PetscReal      *mean;  /* N */
  PetscReal      *M2;    /* N x N co-moment sums */
  PetscReal      *C;     /* N x N covariance scratch */
  Vec             xall;  /* the whole state on every rank */
  VecScatter      toall;
} AM;

static PetscErrorCode SetParamAM(McKernel k, const char *name, PetscReal value)
{
  AM *a = k->data;

  PetscFunctionBeginUser;
  if (!strcmp(name, "t0")) {
    PetscCheck(value >= 2, k->target->comm, PETSC_ERR_ARG_OUTOFRANGE, "am: t0 must be >= 2, got %g", (double)value);
    a->t0 = value;
  } else if (!strcmp(name, "epsilon")) {
    PetscCheck(value > 0, k->target->comm, PETSC_ERR_ARG_OUTOFRANGE, "am: epsilon must be > 0, got %g", (double)value);
    a->epsilon = value;
  } else if (!strcmp(name, "update_every")) {
    PetscCheck(value >= 1, k->target->comm, PETSC_ERR_ARG_OUTOFRANGE, "am: update_every must be >= 1, got %g",
               (double)value);
    a->update_every = PetscFloorReal(value);
  } else {
    SETERRQ(k->target->comm, PETSC_ERR_ARG_UNKNOWN_TYPE,
            "kernel 'am' has no parameter '%s' (known: t0, epsilon, update_every)", name);
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode SetUpAM(McKernel k)
{
  AM      *a = k->data;
  PetscInt N = k->target->N;

  PetscFunctionBeginUser;
  PetscCall(McDenseProposalCreate_Private(k, &a->dense));
  PetscCall(McCalloc((size_t)(N) * sizeof(*a->mean), &a->mean));
  PetscCall(McCalloc((size_t)(N * N) * sizeof(*a->M2), &a->M2));
  PetscCall(McCalloc((size_t)(N * N) * sizeof(*a->C), &a->C));
  PetscCall(VecScatterCreateToAll(k->cur.xi, &a->toall, &a->xall));
  PetscFunctionReturn(0);
}

static PetscErrorCode StepAM(McKernel k, McRng rng, McStepStats *stats)
{
  AM       *a = k->data;
  PetscBool ok;

  PetscFunctionBeginUser;
  PetscCall(McDenseProposalDraw_Private(k, &a->dense, rng, McKernelStep_Private(k)));
  PetscCall(McKernelEvaluate_Private(k, &k->prop, &ok));
  PetscCall(McKernelAcceptReject_Private(
    k, rng, ok, (k->cur.phi + 0.5 * k->cur.xi2) - (k->prop.phi + 0.5 * k->prop.xi2), stats));
  PetscFunctionReturn(0);
}

/* After each adaptation step: add the current state to the running moments
 * and refresh the factor now and then. */
static PetscErrorCode AdaptAM(McKernel k)
{
  AM                *a = k->data;
  PetscInt           N = k->target->N;
  const PetscScalar *x;
  PetscBool          ok;

  PetscFunctionBeginUser;
  PetscCall(VecScatterBegin(a->toall, k->cur.xi, a->xall, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(a->toall, k->cur.xi, a->xall, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecGetArrayRead(a->xall, &x));
  a->count += 1;
  for (PetscInt i = 0; i < N; i++) a->dense.z[i] = x[i] - a->mean[i]; /* z as scratch: delta */
  for (PetscInt i = 0; i < N; i++) a->mean[i] += a->dense.z[i] / a->count;
  for (PetscInt i = 0; i < N; i++) { /* lower triangle only: M2 is symmetric */
    PetscReal di = a->dense.z[i];
    for (PetscInt j = 0; j <= i; j++) a->M2[i * N + j] += di * (x[j] - a->mean[j]);
  }
  PetscCall(VecRestoreArrayRead(a->xall, &x));
  if (a->count < a->t0 || fmod(a->count, a->update_every) != 0) PetscFunctionReturn(0);
  for (PetscInt i = 0; i < N; i++)
    for (PetscInt j = 0; j <= i; j++) a->C[i * N + j] = a->C[j * N + i] = a->M2[i * N + j] / (a->count - 1);
  PetscCall(McDenseProposalFactor_Private(&a->dense, a->C, a->epsilon, &ok));
  /* Not positive definite only through rounding with a tiny epsilon: the
   * previous factor stays, which keeps the chain valid. */
  PetscFunctionReturn(0);
}

static PetscErrorCode AdaptSizeAM(McKernel k, PetscInt *n)
{
  PetscInt N = k->target->N;

  PetscFunctionBeginUser;
  *n = 1 + N + 2 * N * N;
  PetscFunctionReturn(0);
}

static PetscErrorCode AdaptSaveAM(McKernel k, PetscReal *buf)
{
  AM      *a = k->data;
  PetscInt N = k->target->N;

  PetscFunctionBeginUser;
  buf[0] = a->count;
  PetscCall(PetscArraycpy(buf + 1, a->mean, N));
  PetscCall(PetscArraycpy(buf + 1 + N, a->M2, N * N));
  PetscCall(PetscArraycpy(buf + 1 + N + N * N, a->dense.L, N * N));
  PetscFunctionReturn(0);
}

static PetscErrorCode AdaptRestoreAM(McKernel k, const PetscReal *buf)
{
  AM      *a = k->data;
  PetscInt N = k->target->N;

  PetscFunctionBeginUser;
  a->count = buf[0];
  PetscCall(PetscArraycpy(a->mean, buf + 1, N));
  PetscCall(PetscArraycpy(a->M2, buf + 1 + N, N * N));
  PetscCall(PetscArraycpy(a->dense.L, buf + 1 + N + N * N, N * N));
  PetscFunctionReturn(0);
}

static PetscErrorCode DestroyAM(McKernel k)
{
  AM *a = k->data;

  PetscFunctionBeginUser;
  PetscCall(McDenseProposalDestroy_Private(&a->dense));
  PetscCall(McFree(&a->mean));
  PetscCall(McFree(&a->M2));
  PetscCall(McFree(&a->C));
  PetscCall(VecScatterDestroy(&a->toall));
  PetscCall(VecDestroy(&a->xall));
  PetscCall(McFree(&k->data));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelCreate_AM(McKernel k)
{
  AM      *a;
  PetscInt N = k->target->N;

  PetscFunctionBeginUser;
  PetscCall(McCalloc(sizeof(*a), &a));
  k->data = a;
  a->t0 = PetscMax(200, 100 * N);
  a->epsilon = 1e-6;
  a->update_every = 10;
  k->ops.setup = SetUpAM;
  k->ops.step = StepAM;
  k->ops.adapt = AdaptAM;
  k->ops.set_param = SetParamAM;
  k->ops.adapt_size = AdaptSizeAM;
  k->ops.adapt_save = AdaptSaveAM;
  k->ops.adapt_restore = AdaptRestoreAM;
  k->ops.destroy = DestroyAM;
  k->log_step = log(2.38 / PetscSqrtReal((PetscReal)N));
  k->target_accept = 0.234;
  PetscFunctionReturn(0);
}
