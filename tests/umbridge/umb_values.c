/* The in-process values the UM-Bridge server test compares with: for the
 * problem of CONFIG at a fixed parameter xi, prints one JSON object with
 * xi, a sensitivity s (observation-sized), a direction v, and
 *   posterior, loglikelihood, logprior, their gradients and Hessian
 *   actions on a direction v (the full Newton Hessian),
 *   forward (B u) and J^T s,
 * every number as %.17g so Python reads back the exact doubles.
 *
 * The values come through the model module's own paths, not the server's:
 * log posterior = -Phi - |xi|^2/2 from McPosteriorPotential, the gradient
 * from McPosteriorGradient, and J^T s as the gradient of a second
 * posterior whose data are B u(xi) - s with unit noise (the misfit
 * gradient at xi is then exactly J^T s). */
#include "app/app.h"

#include <math.h>

static void Print(const char *name, const PetscReal *x, PetscInt n, int last)
{
  printf("\"%s\": [", name);
  for (PetscInt i = 0; i < n; i++)
    printf("%s%.17g", i ? ", " : "", (double)x[i]);
  printf("]%s\n", last ? "" : ",");
}

static PetscErrorCode PrintVec(const char *name, Vec v)
{
  const PetscScalar *a;
  PetscInt           n;

  PetscFunctionBeginUser;
  PetscCall(VecGetSize(v, &n));
  PetscCall(VecGetArrayRead(v, &a));
  Print(name, a, n, 0);
  PetscCall(VecRestoreArrayRead(v, &a));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  McConfig         *cfg;
  McProblem        *pb;
  McPosterior       post2;
  McPosteriorStatus st;
  Vec               xi, g, bu, d, u, v, hv;
  PetscScalar      *a, xi2;
  PetscReal         phi, phi2;
  char              msg[1024];
  PetscBool         valid;

  PetscCall(McMemInstallPetscHooks());
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCheck(argc >= 2, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "usage: umb-values CONFIG");
  PetscCall(McConfigCreate(&cfg));
  PetscCall(McConfigLoad(cfg, argv[1], msg, sizeof(msg), &valid));
  PetscCheck(valid, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "%s", msg);
  PetscCall(McRunApplySolverOptions(cfg));
  PetscCall(McProblemCreate(cfg, &pb, msg, sizeof(msg), &valid));
  PetscCheck(valid, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "%s", msg);

  PetscCall(McPriorCreateVector(pb->prior, &xi));
  PetscCall(VecDuplicate(xi, &g));
  PetscCall(VecGetArray(xi, &a));
  for (PetscInt i = 0; i < pb->nparams; i++)
    a[i] = 0.7 * sin(1.3 * (double)i + 0.2);
  PetscCall(VecRestoreArray(xi, &a));
  printf("{\n");
  PetscCall(PrintVec("xi", xi));

  PetscCall(McPosteriorPotential(pb->post, xi, &phi, &st));
  PetscCheck(st == MC_POST_OK, PETSC_COMM_SELF, PETSC_ERR_PLIB, "the test point cannot be evaluated");
  PetscCall(VecDot(xi, xi, &xi2));
  printf("\"posterior\": %.17g,\n\"loglikelihood\": %.17g,\n\"logprior\": %.17g,\n", -phi - 0.5 * xi2, -phi,
         -0.5 * xi2);
  PetscCall(McPosteriorGradient(pb->post, g));
  PetscCall(VecScale(g, -1.0));
  PetscCall(PrintVec("loglikelihood_gradient", g));
  PetscCall(VecAXPY(g, -1.0, xi));
  PetscCall(PrintVec("posterior_gradient", g));
  PetscCall(VecCopy(xi, g));
  PetscCall(VecScale(g, -1.0));
  PetscCall(PrintVec("logprior_gradient", g));

  /* The full Hessian of Phi applied to v_i = ((7 i) mod 5 - 2)/3, at xi
   * (McPosteriorGradient first: the Newton Hessian's adjoint needs it). */
  PetscCall(VecDuplicate(xi, &v));
  PetscCall(VecDuplicate(xi, &hv));
  PetscCall(VecGetArray(v, &a));
  for (PetscInt i = 0; i < pb->nparams; i++)
    a[i] = (double)((i * 7) % 5 - 2) / 3.0;
  PetscCall(VecRestoreArray(v, &a));
  PetscCall(PrintVec("v", v));
  PetscCall(McPosteriorPotential(pb->post, xi, &phi, &st));
  PetscCall(McPosteriorGradient(pb->post, g));
  PetscCall(McPosteriorHessianApply(pb->post, MC_HESSIAN_NEWTON, v, hv));
  PetscCall(VecScale(hv, -1.0));
  PetscCall(PrintVec("loglikelihood_hessian_v", hv));
  PetscCall(VecAXPY(hv, -1.0, v));
  PetscCall(PrintVec("posterior_hessian_v", hv));
  PetscCall(VecCopy(v, hv));
  PetscCall(VecScale(hv, -1.0));
  PetscCall(PrintVec("logprior_hessian_v", hv));

  /* B u(xi) and J^T s through a posterior with data B u - s, sigma 1. */
  PetscCall(McObsOperatorCreateVector(pb->obs, &bu));
  PetscCall(VecDuplicate(bu, &d));
  PetscCall(McForwardGetState(pb->fw, &u));
  PetscCall(McObsOperatorApply(pb->obs, u, bu));
  PetscCall(PrintVec("forward", bu));
  PetscCall(VecGetArray(d, &a));
  for (PetscInt i = 0; i < pb->nobs; i++)
    a[i] = cos(0.9 * (double)i);
  PetscCall(VecRestoreArray(d, &a));
  PetscCall(PrintVec("sens", d));
  PetscCall(VecAYPX(d, -1.0, bu)); /* d = B u - s */
  PetscCall(McPosteriorCreate(pb->fw, pb->obs, pb->prior, &post2));
  PetscCall(McPosteriorSetData(post2, d, 1.0, NULL));
  PetscCall(McPosteriorPotential(post2, xi, &phi2, &st));
  PetscCall(McPosteriorGradient(post2, g));
  PetscCall(PrintVec("forward_gradient", g));
  printf("\"nobs\": %d\n}\n", (int)pb->nobs);

  PetscCall(McPosteriorDestroy(&post2));
  PetscCall(VecDestroy(&xi));
  PetscCall(VecDestroy(&g));
  PetscCall(VecDestroy(&v));
  PetscCall(VecDestroy(&hv));
  PetscCall(VecDestroy(&bu));
  PetscCall(VecDestroy(&d));
  PetscCall(McProblemDestroy(&pb));
  PetscCall(McConfigDestroy(&cfg));
  PetscCall(PetscFinalize());
  return 0;
}
