/* The linear-Gaussian problem of the model module as a sampler target: a
 * field on an 8x8 triangle mesh with the bilaplacian prior, observed
 * directly at 16 points (d = B m + e, noise sd 0.05), sampled in its 10
 * leading Karhunen-Loeve coordinates. The posterior in those coordinates is
 * exactly N(H^-1 b, H^-1) with H = I + G^T W G, b = G^T W (d - B m0),
 * G = B (field(e_j) - field(0)), computed densely (tests/support/lingauss.c). */
#include "../support/lingauss.h"
#include "mcmc/mcmc.h"
#include "model/model.h"
#include "obj/obj.h"

#include <gsl/gsl_rng.h>

#define PDE_K 10
#define PDE_M 16

static PetscErrorCode Potential(void *ctx, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  McPosteriorStatus st;

  PetscFunctionBeginUser;
  PetscCall(McPosteriorPotential((McPosterior)ctx, xi, phi, &st));
  *status = st == MC_POST_OK ? MC_EVAL_OK : MC_EVAL_FAILED;
  PetscFunctionReturn(0);
}

static PetscErrorCode Gradient(void *ctx, Vec xi, Vec grad, McEvalStatus *status)
{
  PetscFunctionBeginUser;
  (void)xi;
  PetscCall(McPosteriorGradient((McPosterior)ctx, grad));
  *status = MC_EVAL_OK;
  PetscFunctionReturn(0);
}

static PetscErrorCode Destroy(void *ctx)
{
  McPosterior post = ctx;

  PetscFunctionBeginUser;
  PetscCall(McPosteriorDestroy(&post));
  PetscFunctionReturn(0);
}

/* Dense exact posterior mean mu[K] and covariance C[K*K]. */
static PetscErrorCode Exact(McPosterior post, McObsOperator obs, PetscReal *mu, PetscReal *C)
{
  McTestLinGauss lg;

  PetscFunctionBeginUser;
  PetscCall(McTestLinGaussCreate(post, obs, NULL, &lg));
  for (PetscInt i = 0; i < PDE_K; i++) {
    mu[i] = gsl_vector_get(lg.mean, i);
    for (PetscInt j = 0; j < PDE_K; j++) C[i * PDE_K + j] = gsl_matrix_get(lg.C, i, j);
  }
  McTestLinGaussFree(&lg);
  PetscFunctionReturn(0);
}

PetscErrorCode PdeLinearProblem(McTarget *t, PetscInt *n, PetscReal *mu, PetscReal *C);

PetscErrorCode PdeLinearProblem(McTarget *t, PetscInt *n, PetscReal *mu, PetscReal *C)
{
  McMeshSpec    ms;
  McMesh        mesh;
  McSpace       space;
  McPriorSpec   spec;
  McPrior       prior;
  McObsOperator obs;
  McPosterior   post;
  Vec           xi, mtrue;
  PetscReal     pts[2 * PDE_M];
  McTargetOps   ops = {Potential, Gradient, NULL, Destroy};
  gsl_rng      *rng = gsl_rng_alloc(gsl_rng_mt19937);

  PetscFunctionBeginUser;
  gsl_rng_set(rng, 31);
  PetscCall(McMeshSpecDefault(&ms));
  ms.dim      = 2;
  ms.cells[0] = ms.cells[1] = 8;
  ms.simplex  = PETSC_TRUE;
  PetscCall(McMeshCreate(PETSC_COMM_SELF, &ms, &mesh));
  PetscCall(McMeshGetSpace(mesh, 1, &space));
  PetscCall(McPriorSpecDefault(&spec));
  spec.correlation_length = 0.3;
  spec.mean               = 0.2;
  PetscCall(McPriorCreate(space, &spec, &prior));
  PetscCall(McPriorSetUpKL(prior, PDE_K));
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) {
      pts[2 * (4 * i + j)]     = (i + 0.5) / 4;
      pts[2 * (4 * i + j) + 1] = (j + 0.5) / 4;
    }
  PetscCall(McObsOperatorCreate(space, PDE_M, pts, &obs));
  PetscCall(McPosteriorCreate(NULL, obs, prior, &post));
  PetscCall(McPriorCreateVector(prior, &xi));
  PetscCall(VecDuplicate(xi, &mtrue));
  PetscCall(McPriorSample(prior, rng, mtrue));
  PetscCall(McPosteriorSynthesize(post, mtrue, 0.05, PETSC_FALSE, rng));
  PetscCall(McPosteriorSetParameterization(post, MC_PARAM_KL));
  PetscCall(Exact(post, obs, mu, C));
  PetscCall(McTargetCreateShell(PETSC_COMM_SELF, PDE_K, PDE_K, &ops, post, 0, NULL, t));
  *n = PDE_K;
  /* The target owns the posterior now; the posterior holds what it needs. */
  PetscCall(VecDestroy(&xi));
  PetscCall(VecDestroy(&mtrue));
  PetscCall(McObsOperatorDestroy(&obs));
  PetscCall(McPriorDestroy(&prior));
  PetscCall(McMeshDestroy(&mesh));
  gsl_rng_free(rng);
  PetscFunctionReturn(0);
}
