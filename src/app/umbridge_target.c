/* The sampler's target when the model is a UM-Bridge server: Phi(xi), the
 * sampler's potential relative to its N(0, I) reference, from what the
 * model's output means ([model] output):
 *   logdensity     F(xi) = log density:     Phi = -F - |xi|^2/2
 *   loglikelihood  F(xi) = log-likelihood:  Phi = -F
 *   observations   F(xi) = predicted data:  Phi = |(F - d)/sigma|^2 / 2
 * and grad Phi from the model's Gradient (J^T sens with sens = 1, or the
 * weighted residual (F - d)/sigma^2 for observations).
 *
 * The one idea: a fault of the server (retries used up) is a PETSc error
 * with the client's reason, not a rejected proposal: the step is abandoned
 * before anything is recorded, so the draws on disk are exactly the
 * uninterrupted chain's first ones and the run stops (exit code 2). */
#include "app/umbridge_impl.h"

#include <math.h>

typedef struct {
  McUmbClient c; /* borrowed from the problem */
  McUmbOutput output;
  PetscInt    nin, nout;
  PetscReal  *f;    /* nout outputs of the last evaluation */
  PetscReal  *sens; /* nout: the weighted residual, or 1 */
  PetscReal  *g;    /* nin */
  PetscReal  *data; /* borrowed, nout */
  PetscReal   sigma, phi;
  PetscBool   warned;
} UmbCtx;

static PetscErrorCode Fault(UmbCtx *t, const char *route)
{
  PetscFunctionBeginUser;
  SETERRQ(PETSC_COMM_SELF, PETSC_ERR_LIB, "UM-Bridge %s failed: %s", route, McUmbClientGetError(t->c));
}

/* A rejected input is counted by the sampler; its reason is worth seeing
 * once (a model that rejects everything is misconfigured). */
static void Rejected(UmbCtx *t)
{
  if (t->warned) return;
  t->warned = PETSC_TRUE;
  fprintf(stderr, "mcmc-run: the UM-Bridge model rejected a proposal (counted as failed; reported once): %s\n",
          McUmbClientGetError(t->c));
}

static PetscErrorCode Potential(void *ctx, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  UmbCtx            *t = ctx;
  const PetscScalar *x;
  PetscScalar        xi2;
  McUmbStatus        st;

  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(xi, &x));
  PetscCall(McUmbClientEvaluate(t->c, x, t->f, &st));
  PetscCall(VecRestoreArrayRead(xi, &x));
  if (st == MC_UMB_FAULT) PetscCall(Fault(t, "Evaluate"));
  *status = MC_EVAL_FAILED;
  *phi = PETSC_MAX_REAL;
  if (st == MC_UMB_REJECTED) {
    Rejected(t);
    PetscFunctionReturn(0);
  }
  switch (t->output) {
  case MC_UMB_LOGDENSITY:
    PetscCall(VecDot(xi, xi, &xi2));
    *phi = -t->f[0] - 0.5 * PetscRealPart(xi2);
    break;
  case MC_UMB_LOGLIKELIHOOD:
    *phi = -t->f[0];
    break;
  default: {
    PetscReal s = 0, w = 1.0 / (t->sigma * t->sigma);
    for (PetscInt i = 0; i < t->nout; i++) {
      PetscReal r = t->f[i] - t->data[i];
      s += r * r * w;
      t->sens[i] = r * w;
    }
    *phi = 0.5 * s;
  }
  }
  if (!isfinite(*phi)) {
    *phi = PETSC_MAX_REAL;
    PetscFunctionReturn(0);
  }
  t->phi = *phi;
  *status = MC_EVAL_OK;
  PetscFunctionReturn(0);
}

static PetscErrorCode Gradient(void *ctx, Vec xi, Vec grad, McEvalStatus *status)
{
  UmbCtx            *t = ctx;
  const PetscScalar *x;
  PetscScalar       *g;
  McUmbStatus        st;

  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(xi, &x));
  PetscCall(McUmbClientGradient(t->c, x, t->sens, t->g, &st));
  if (st == MC_UMB_FAULT) {
    PetscCall(VecRestoreArrayRead(xi, &x));
    PetscCall(Fault(t, "Gradient"));
  }
  *status = st == MC_UMB_OK ? MC_EVAL_OK : MC_EVAL_FAILED;
  if (st == MC_UMB_REJECTED) Rejected(t);
  PetscCall(VecGetArrayWrite(grad, &g));
  for (PetscInt i = 0; i < t->nin; i++) {
    switch (t->output) {
    case MC_UMB_LOGDENSITY:
      g[i] = -t->g[i] - x[i];
      break;
    case MC_UMB_LOGLIKELIHOOD:
      g[i] = -t->g[i];
      break;
    default:
      g[i] = t->g[i];
    }
  }
  PetscCall(VecRestoreArrayWrite(grad, &g));
  PetscCall(VecRestoreArrayRead(xi, &x));
  PetscFunctionReturn(0);
}

static PetscErrorCode QoI(void *ctx, Vec xi, PetscReal *values)
{
  UmbCtx *t = ctx;

  PetscFunctionBeginUser;
  (void)xi;
  values[0] = t->phi;
  PetscFunctionReturn(0);
}

static PetscErrorCode Destroy(void *ctx)
{
  UmbCtx *t = ctx;

  PetscFunctionBeginUser;
  PetscCall(McFree(&t->f));
  PetscCall(McFree(&t->sens));
  PetscCall(McFree(&t->g));
  PetscCall(McFree(&t));
  PetscFunctionReturn(0);
}

static const char *const qoi_names[] = {"misfit"};

PetscErrorCode McUmbCreateTarget_Private(McProblem *pb, McTarget *target)
{
  McTargetOps ops = {Potential, Gradient, QoI, Destroy};
  UmbCtx     *t;
  PetscBool   grad;

  PetscFunctionBeginUser;
  PetscCall(McCalloc(sizeof(*t), &t));
  t->c = pb->umb;
  t->output = pb->umb_output;
  PetscCall(McUmbClientGetSizes(pb->umb, &t->nin, &t->nout));
  PetscCall(McUmbClientSupports(pb->umb, NULL, &grad, NULL, NULL));
  if (!grad) ops.gradient = NULL;
  t->data = pb->data;
  t->sigma = pb->sigma;
  PetscCall(McMalloc(sizeof(PetscReal) * (size_t)t->nout, &t->f));
  PetscCall(McMalloc(sizeof(PetscReal) * (size_t)t->nout, &t->sens));
  PetscCall(McMalloc(sizeof(PetscReal) * (size_t)t->nin, &t->g));
  for (PetscInt i = 0; i < t->nout; i++)
    t->sens[i] = 1.0;
  PetscCall(McTargetCreateShell(PETSC_COMM_SELF, t->nin, t->nin, &ops, t, 1, qoi_names, target));
  PetscFunctionReturn(0);
}
