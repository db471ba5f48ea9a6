/* The bilaplacian Gaussian prior: m = m0 + A^-1 Ml^(1/2) xi.
 *
 * A = delta M + gamma K (+ beta times the boundary mass, the Robin term of
 * Daon & Stadler 2018 that removes most of the variance inflation near the
 * boundary) is assembled once through PETSc's pointwise FE path (set-up
 * cost, not per-iteration cost) and factored once; every whiten/unwhiten is
 * then one triangular solve pair and a diagonal scaling. The lumped mass Ml
 * (row sums of M, positive for Lagrange P1) makes the white-noise factor a
 * diagonal, so xi ~ N(0, I) has exactly the prior covariance A^-1 Ml A^-1. */
#include "model/model_impl.h"
#include "la/la.h"

/* PETSc's pointwise-form signatures are fixed; most arguments go unused. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

#include <gsl/gsl_randist.h>
#include <petscds.h>
#include <petscsnes.h>
#include <gsl/gsl_sf_bessel.h>
#include <gsl/gsl_sf_gamma.h>
#include <math.h>


PetscErrorCode McPriorSpecDefault(McPriorSpec *spec)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(spec, sizeof(*spec)));
  spec->correlation_length = 0.2;
  spec->std_dev            = 1.0;
  spec->robin              = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode McPriorMaternCoefficients(PetscInt dim, PetscReal rho, PetscReal sigma, PetscReal *gamma, PetscReal *delta)
{
  const PetscReal nu = 2.0 - 0.5 * (PetscReal)dim;
  PetscReal       kappa, g2;

  PetscFunctionBeginUser;
  PetscCheck(dim == 2 || dim == 3, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "prior dimension must be 2 or 3, got %" PetscInt_FMT, dim);
  PetscCheck(rho > 0 && sigma > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "correlation length and standard deviation must be > 0, got %g and %g", (double)rho, (double)sigma);
  kappa  = PetscSqrtReal(8.0 * nu) / rho;
  g2     = gsl_sf_gamma(nu) / (gsl_sf_gamma(nu + 0.5 * dim) * pow(4.0 * M_PI, 0.5 * dim) * pow(kappa, 2.0 * nu) * sigma * sigma);
  *gamma = PetscSqrtReal(g2);
  *delta = kappa * kappa * (*gamma);
  PetscFunctionReturn(0);
}

PetscReal McPriorMaternCorrelation(PetscInt dim, PetscReal rho, PetscReal r)
{
  const PetscReal nu = 2.0 - 0.5 * (PetscReal)dim, kr = PetscSqrtReal(8.0 * nu) / rho * r;

  if (r <= 0) return 1.0;
  return pow(2.0, 1.0 - nu) / gsl_sf_gamma(nu) * pow(kr, nu) * gsl_sf_bessel_Knu(nu, kr);
}

/* Pointwise forms: constants[0] = delta (mass), constants[1] = gamma
 * (stiffness), constants[2] = beta (boundary mass). */
static void g0_mass(PetscInt dim, PetscInt Nf, PetscInt NfAux, const PetscInt uOff[], const PetscInt uOff_x[], const PetscScalar u[], const PetscScalar u_t[], const PetscScalar u_x[], const PetscInt aOff[], const PetscInt aOff_x[], const PetscScalar a[], const PetscScalar a_t[], const PetscScalar a_x[], PetscReal t, PetscReal u_tShift, const PetscReal x[], PetscInt numConstants, const PetscScalar constants[], PetscScalar g0[])
{
  g0[0] = constants[0];
}

/* constants[3..3+dim*dim): the tensor Theta, row-major. */
static void g3_stiff(PetscInt dim, PetscInt Nf, PetscInt NfAux, const PetscInt uOff[], const PetscInt uOff_x[], const PetscScalar u[], const PetscScalar u_t[], const PetscScalar u_x[], const PetscInt aOff[], const PetscInt aOff_x[], const PetscScalar a[], const PetscScalar a_t[], const PetscScalar a_x[], PetscReal t, PetscReal u_tShift, const PetscReal x[], PetscInt numConstants, const PetscScalar constants[], PetscScalar g3[])
{
  for (PetscInt d = 0; d < dim * dim; d++) g3[d] = constants[1] * constants[3 + d];
}

static void g0_bdmass(PetscInt dim, PetscInt Nf, PetscInt NfAux, const PetscInt uOff[], const PetscInt uOff_x[], const PetscScalar u[], const PetscScalar u_t[], const PetscScalar u_x[], const PetscInt aOff[], const PetscInt aOff_x[], const PetscScalar a[], const PetscScalar a_t[], const PetscScalar a_x[], PetscReal t, PetscReal u_tShift, const PetscReal x[], const PetscReal n[], PetscInt numConstants, const PetscScalar constants[], PetscScalar g0[])
{
  g0[0] = constants[2];
}

/* Assembles delta M + gamma K + beta M_boundary on the prior's DM. The DM's
 * weak form is fixed; only the constants change between the two calls. */
static PetscErrorCode AssembleOperator(McPrior p, PetscReal delta, PetscReal gamma, PetscReal beta, Mat J)
{
  PetscDS     ds;
  PetscScalar c[12] = {delta, gamma, beta};
  Vec         x;

  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < p->dim; i++)
    for (PetscInt j = 0; j < p->dim; j++) c[3 + i * p->dim + j] = i == j ? 1.0 : 0.0;
  if (p->spec.theta[0] > 0) {
    PetscReal sa = PetscSinReal(p->spec.theta_angle), ca = PetscCosReal(p->spec.theta_angle);
    PetscReal t0 = p->spec.theta[0], t1 = p->spec.theta[1];
    c[3] = t0 * sa * sa + t1 * ca * ca;
    c[4] = c[5] = (t0 - t1) * sa * ca;
    c[6] = t0 * ca * ca + t1 * sa * sa;
  }
  PetscCall(DMGetDS(p->dm, &ds));
  PetscCall(PetscDSSetConstants(ds, 3 + p->dim * p->dim, c));
  PetscCall(DMGetGlobalVector(p->dm, &x));
  PetscCall(VecZeroEntries(x));
  PetscCall(MatZeroEntries(J));
  PetscCall(DMPlexSNESComputeJacobianFEM(p->dm, x, J, J, NULL));
  PetscCall(DMRestoreGlobalVector(p->dm, &x));
  PetscFunctionReturn(0);
}

static PetscErrorCode SetUpDM(McPrior p, McSpace space)
{
  DM       sdm;
  PetscFE  fe;
  PetscDS  ds;
  DMLabel   label;
  PetscInt  one = 1;
  PetscBool simplex;

  PetscFunctionBeginUser;
  PetscCall(McSpaceGetDM(space, &sdm));
  PetscCall(DMGetDimension(sdm, &p->dim));
  /* Its own P1 element with a quadrature exact for the mass matrix (the
   * forward model's element may use fewer points: its stiffness is exact
   * with one, the prior's mass is not). Same dof layout as the space. */
  PetscCall(DMPlexIsSimplex(sdm, &simplex));
  PetscCall(PetscFECreateLagrange(PETSC_COMM_SELF, p->dim, 1, simplex, 1, 2, &fe));
  PetscCall(DMClone(sdm, &p->dm));
  PetscCall(DMSetField(p->dm, 0, NULL, (PetscObject)fe));
  PetscCall(PetscFEDestroy(&fe));
  PetscCall(DMCreateDS(p->dm));
  PetscCall(DMGetDS(p->dm, &ds));
  PetscCall(PetscDSSetJacobian(ds, 0, 0, g0_mass, NULL, NULL, g3_stiff));
  PetscCall(DMGetLabel(p->dm, "boundary", &label));
  PetscCheck(label, p->comm, PETSC_ERR_ARG_WRONG, "the prior's Robin term needs the mesh label \"boundary\", which this mesh lacks");
  {
    PetscWeakForm wf;
    PetscInt      bd;
    PetscCall(DMAddBoundary(p->dm, DM_BC_NATURAL, "prior_robin", label, 1, &one, 0, 0, NULL, NULL, NULL, NULL, &bd));
    PetscCall(PetscDSGetBoundary(ds, bd, &wf, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL));
    PetscCall(PetscWeakFormSetIndexBdJacobian(wf, label, one, 0, 0, 0, 0, g0_bdmass, 0, NULL, 0, NULL, 0, NULL));
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode SetUpSolver(McPrior p)
{
  PC          pc;
  PetscMPIInt size;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(p->comm, &size));
  PetscCall(McCholRegister());
  PetscCall(KSPCreate(p->comm, &p->ksp));
  PetscCall(KSPSetOperators(p->ksp, p->A, p->A));
  PetscCall(KSPSetType(p->ksp, KSPPREONLY));
  PetscCall(KSPGetPC(p->ksp, &pc));
  PetscCall(PCSetType(pc, PCCHOLESKY));
  /* The project's supernodal Cholesky (src/la) with nested dissection on
   * one rank, where it beats PETSc's own (README "Sparse Cholesky"); it is
   * serial, MUMPS takes the distributed case. */
  if (size > 1) PetscCall(PCFactorSetMatSolverType(pc, MATSOLVERMUMPS));
  else {
    PetscCall(PCFactorSetMatSolverType(pc, MATSOLVERMCCHOL));
    PetscCall(PCFactorSetMatOrderingType(pc, MATORDERINGND));
  }
  if (p->spec.options_prefix) PetscCall(KSPSetOptionsPrefix(p->ksp, p->spec.options_prefix));
  PetscCall(KSPSetFromOptions(p->ksp));
  PetscCall(KSPSetUp(p->ksp));
  {
    PetscBool preonly, factor;
    PetscCall(PetscObjectTypeCompare((PetscObject)p->ksp, KSPPREONLY, &preonly));
    PetscCall(PetscObjectTypeCompareAny((PetscObject)pc, &factor, PCCHOLESKY, PCLU, ""));
    p->F = NULL;
    if (preonly && factor) PetscCall(PCFactorGetMatrix(pc, &p->F));
  }
  PetscFunctionReturn(0);
}

static void PriorDealloc(McObject *o)
{
  McPrior p = (McPrior)o;
  /* dealloc cannot report errors; these only fail on corrupt objects */
  (void)KSPDestroy(&p->ksp);
  (void)MatDestroy(&p->A);
  (void)MatDestroy(&p->M);
  (void)VecDestroy(&p->m0);
  (void)VecDestroy(&p->ml);
  (void)VecDestroy(&p->sqrtml);
  (void)VecDestroy(&p->isqrtml);
  (void)VecDestroy(&p->w1);
  (void)VecDestroy(&p->w2);
  (void)DMDestroy(&p->dm);
  (void)MatDestroy(&p->klmodes);
  (void)VecDestroy(&p->kleta);
  (void)McFree(&p->kls);
}

static int PriorTraverse(McObject *o, McVisitProc visit, void *arg)
{
  MC_VISIT(((McPrior)o)->space);
  return 0;
}

static void PriorClear(McObject *o)
{
  MC_CLEAR(((McPrior)o)->space);
}

static const McType McPriorType = {"McPrior", sizeof(struct _p_McPrior), NULL, PriorDealloc, PriorTraverse, PriorClear};

PetscErrorCode McPriorCreate(McSpace space, const McPriorSpec *spec, McPrior *prior)
{
  McPrior p;
  DM      sdm;

  PetscFunctionBeginUser;
  PetscCall(McSpaceGetDM(space, &sdm));
  PetscCall(McObjectCreate(&McPriorType, &p));
  p->comm  = PetscObjectComm((PetscObject)sdm);
  McIncref(space);
  p->space = space;
  p->spec = *spec;
  PetscCall(SetUpDM(p, space));
  PetscCheck(spec->theta[0] == 0 || (p->dim == 2 && spec->theta[0] > 0 && spec->theta[1] > 0), p->comm, PETSC_ERR_ARG_OUTOFRANGE, "the anisotropic prior tensor needs a 2D mesh and two lengths > 0, got %g and %g in %dD", (double)spec->theta[0], (double)spec->theta[1], (int)p->dim);
  if (spec->gamma > 0 || spec->delta > 0) {
    PetscCheck(spec->gamma > 0 && spec->delta > 0, p->comm, PETSC_ERR_ARG_OUTOFRANGE, "prior gamma and delta must both be > 0, got %g and %g", (double)spec->gamma, (double)spec->delta);
    p->gamma = spec->gamma;
    p->delta = spec->delta;
  } else {
    PetscCall(McPriorMaternCoefficients(p->dim, spec->correlation_length, spec->std_dev, &p->gamma, &p->delta));
  }
  /* Daon & Stadler (2018) and hIPPYlib: beta = sqrt(gamma delta) / 1.42. */
  p->beta = spec->robin ? PetscSqrtReal(p->gamma * p->delta) / 1.42 : 0.0;

  PetscCall(DMCreateMatrix(p->dm, &p->A));
  PetscCall(DMCreateMatrix(p->dm, &p->M));
  PetscCall(AssembleOperator(p, 1.0, 0.0, 0.0, p->M));
  PetscCall(AssembleOperator(p, p->delta, p->gamma, p->beta, p->A));
  PetscCall(MatSetOption(p->A, MAT_SPD, PETSC_TRUE));

  PetscCall(DMCreateGlobalVector(p->dm, &p->m0));
  PetscCall(VecDuplicate(p->m0, &p->ml));
  PetscCall(VecDuplicate(p->m0, &p->sqrtml));
  PetscCall(VecDuplicate(p->m0, &p->isqrtml));
  PetscCall(VecDuplicate(p->m0, &p->w1));
  PetscCall(VecDuplicate(p->m0, &p->w2));
  PetscCall(MatGetRowSum(p->M, p->ml));
  {
    PetscReal minml;
    PetscCall(VecMin(p->ml, NULL, &minml));
    PetscCheck(minml > 0, p->comm, PETSC_ERR_ARG_WRONG, "the lumped mass has a non-positive entry (%g): the prior needs a Lagrange P1 parameter space", (double)minml);
  }
  PetscCall(VecCopy(p->ml, p->sqrtml));
  PetscCall(VecSqrtAbs(p->sqrtml));
  PetscCall(VecCopy(p->sqrtml, p->isqrtml));
  PetscCall(VecReciprocal(p->isqrtml));
  if (spec->mean_field) PetscCall(VecCopy(spec->mean_field, p->m0));
  else PetscCall(VecSet(p->m0, spec->mean));
  p->spec.mean_field = NULL;
  PetscCall(SetUpSolver(p));
  *prior = p;
  PetscFunctionReturn(0);
}

PetscErrorCode McPriorDestroy(McPrior *prior)
{
  PetscFunctionBeginUser;
  PetscCall(McObjectDestroy(prior));
  PetscFunctionReturn(0);
}

PetscErrorCode McPriorGetCoefficients(McPrior p, PetscReal *gamma, PetscReal *delta, PetscReal *beta)
{
  PetscFunctionBeginUser;
  if (gamma) *gamma = p->gamma;
  if (delta) *delta = p->delta;
  if (beta) *beta = p->beta;
  PetscFunctionReturn(0);
}

PetscErrorCode McPriorCreateVector(McPrior p, Vec *v)
{
  PetscFunctionBeginUser;
  PetscCall(VecDuplicate(p->m0, v));
  PetscFunctionReturn(0);
}

PetscErrorCode McPriorGetOperators(McPrior p, Mat *A, Mat *M, Vec *lumped)
{
  PetscFunctionBeginUser;
  if (A) *A = p->A;
  if (M) *M = p->M;
  if (lumped) *lumped = p->ml;
  PetscFunctionReturn(0);
}

PetscErrorCode McPriorUnwhiten(McPrior p, Vec xi, Vec m)
{
  PetscFunctionBeginUser;
  PetscCall(VecPointwiseMult(p->w1, p->sqrtml, xi));
  if (p->F) PetscCall(MatSolve(p->F, p->w1, m));
  else PetscCall(KSPSolve(p->ksp, p->w1, m));
  PetscCall(VecAXPY(m, 1.0, p->m0));
  PetscFunctionReturn(0);
}

PetscErrorCode McPriorWhiten(McPrior p, Vec m, Vec xi)
{
  PetscFunctionBeginUser;
  PetscCall(VecWAXPY(p->w1, -1.0, p->m0, m));
  PetscCall(MatMult(p->A, p->w1, p->w2));
  PetscCall(VecPointwiseMult(xi, p->isqrtml, p->w2));
  PetscFunctionReturn(0);
}

PetscErrorCode McPriorApplyLT(McPrior p, Vec gm, Vec gxi)
{
  PetscFunctionBeginUser;
  /* L^T = Ml^(1/2) A^-T and A is symmetric. */
  if (p->F) PetscCall(MatSolve(p->F, gm, p->w1));
  else PetscCall(KSPSolve(p->ksp, gm, p->w1));
  PetscCall(VecPointwiseMult(gxi, p->sqrtml, p->w1));
  PetscFunctionReturn(0);
}

PetscErrorCode McPriorApplyInverseCovariance(McPrior p, Vec x, Vec y)
{
  PetscFunctionBeginUser;
  PetscCall(MatMult(p->A, x, p->w1));
  PetscCall(VecPointwiseDivide(p->w2, p->w1, p->ml));
  PetscCall(MatMult(p->A, p->w2, y));
  PetscFunctionReturn(0);
}

static double NextWhite(void *ctx)
{
  return gsl_ran_gaussian_ziggurat((gsl_rng *)ctx, 1.0);
}

PetscErrorCode McPriorSampleWhite(McPrior p, gsl_rng *rng, Vec xi)
{
  PetscFunctionBeginUser;
  /* Every rank walks the whole stream and keeps its own entries in the
   * natural (serial vertex) numbering: the field is the same whatever the
   * layout. Set-up cost only (truth, tests). */
  PetscCall(McVecFillNatural(xi, NextWhite, rng));
  (void)p;
  PetscFunctionReturn(0);
}

PetscErrorCode McPriorSample(McPrior p, gsl_rng *rng, Vec m)
{
  PetscFunctionBeginUser;
  PetscCall(McPriorSampleWhite(p, rng, p->w2));
  PetscCall(McPriorUnwhiten(p, p->w2, m));
  PetscFunctionReturn(0);
}


PetscErrorCode McPriorGetSpace_Private(McPrior p, McSpace *space)
{
  PetscFunctionBeginUser;
  *space = p->space;
  PetscFunctionReturn(0);
}
