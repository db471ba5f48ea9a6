/* Shared by the geom tests: a failure counter whose messages print both
 * values, and a small PDE posterior of the benchmark's kind (P2 state, P1
 * log-coefficient, u = y on the top and bottom edges, insulated sides). */
#pragma once

#include "model/model.h"
#include "obj/obj.h"

#include <gsl/gsl_randist.h>

#include <math.h>
#include <stdio.h>

#define MC_CHECK_VERBOSE 1
#include "../support/check.h"

typedef struct {
  McMesh        mesh;
  McForward     fw;
  McPrior       prior;
  McObsOperator obs;
  McPosterior   post;
} GeomProblem;

/* cells x cells simplex mesh, nobs x nobs observation points in
 * [0.1, 0.9]^2, relative noise sigma, truth a prior draw (seed 7). */
static inline PetscErrorCode GeomProblemCreate(PetscInt cells, PetscInt nobs, PetscReal sigma, GeomProblem *g)
{
  McMeshSpec  ms;
  McPDESpec   ps;
  McPriorSpec prs;
  McSpace     uspace, mspace;
  PetscReal  *pts;
  Vec         mtrue;
  gsl_rng    *rng = gsl_rng_alloc(gsl_rng_mt19937);

  PetscFunctionBeginUser;
  gsl_rng_set(rng, 7);
  PetscCall(McMeshSpecDefault(&ms));
  ms.dim = 2;
  ms.cells[0] = ms.cells[1] = cells;
  ms.simplex = PETSC_TRUE;
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &g->mesh));
  PetscCall(McPDESpecDefault(&ps));
  ps.order = 2;
  ps.source = 0;
  ps.ndirichlet = 2;
  ps.dirichlet_labels[0] = "bottom";
  ps.dirichlet_values[0] = 0;
  ps.dirichlet_labels[1] = "top";
  ps.dirichlet_values[1] = 1;
  PetscCall(McForwardCreate(g->mesh, &ps, &g->fw));
  PetscCall(McForwardSetUp(g->fw));
  PetscCall(McForwardGetStateSpace(g->fw, &uspace));
  PetscCall(McForwardGetParameterSpace(g->fw, &mspace));
  PetscCall(McPriorSpecDefault(&prs));
  prs.gamma = 0.1;
  prs.delta = 0.5;
  PetscCall(McPriorCreate(mspace, &prs, &g->prior));
  PetscCall(PetscMalloc1(2 * nobs * nobs, &pts));
  for (PetscInt i = 0; i < nobs; i++)
    for (PetscInt j = 0; j < nobs; j++) {
      pts[2 * (i * nobs + j)] = 0.1 + 0.8 * (i + 0.5) / nobs;
      pts[2 * (i * nobs + j) + 1] = 0.1 + 0.8 * (j + 0.3) / nobs;
    }
  PetscCall(McObsOperatorCreate(uspace, nobs * nobs, pts, &g->obs));
  PetscCall(PetscFree(pts));
  PetscCall(McPosteriorCreate(g->fw, g->obs, g->prior, &g->post));
  PetscCall(McPriorCreateVector(g->prior, &mtrue));
  PetscCall(McPriorSample(g->prior, rng, mtrue));
  PetscCall(McPosteriorSynthesize(g->post, mtrue, sigma, PETSC_TRUE, rng));
  PetscCall(VecDestroy(&mtrue));
  gsl_rng_free(rng);
  PetscFunctionReturn(0);
}

static inline PetscErrorCode GeomProblemDestroy(GeomProblem *g)
{
  PetscFunctionBeginUser;
  PetscCall(McPosteriorDestroy(&g->post));
  PetscCall(McObsOperatorDestroy(&g->obs));
  PetscCall(McPriorDestroy(&g->prior));
  PetscCall(McForwardDestroy(&g->fw));
  PetscCall(McMeshDestroy(&g->mesh));
  PetscCall(McGCCollect(2, NULL));
  PetscFunctionReturn(0);
}

/* Fills v with N(0, s^2) entries from rng. */
static inline PetscErrorCode RandomVec(gsl_rng *rng, PetscReal s, Vec v)
{
  PetscInt     n;
  PetscScalar *a;

  PetscFunctionBeginUser;
  PetscCall(VecGetLocalSize(v, &n));
  PetscCall(VecGetArrayWrite(v, &a));
  for (PetscInt i = 0; i < n; i++) a[i] = s * gsl_ran_gaussian_ziggurat(rng, 1.0);
  PetscCall(VecRestoreArrayWrite(v, &a));
  PetscFunctionReturn(0);
}
