/* The posterior in whitened coordinates: synthetic data and its noise, the
 * Taylor test of the gradient (through the adjoint and L^T), and the
 * classification of proposals the forward model cannot take. */
#include "modeltest.h"
#include "obj/obj.h"

#include <math.h>
#include <string.h>

typedef struct {
  McMesh        mesh;
  McForward     fw;
  McObsOperator obs;
  McPrior       prior;
  McPosterior   post;
  Vec           xitrue, mtrue;
} Problem;

/* Unit square, 24x24 triangles, u = 0 on left/right, f = 1, 20x20 interior
 * observation grid, prior rho = 0.3, sigma = 1. */
static PetscErrorCode ProblemCreate(gsl_rng *rng, PetscReal noise, Problem *pb)
{
  McMeshSpec  ms;
  McPDESpec   ps;
  McPriorSpec prs;
  McSpace     space;
  PetscReal  *pts;
  const PetscInt g = 20;

  PetscFunctionBeginUser;
  PetscCall(McMeshSpecDefault(&ms));
  ms.dim      = 2;
  ms.cells[0] = ms.cells[1] = 24;
  ms.simplex  = PETSC_TRUE;
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &pb->mesh));
  PetscCall(McPDESpecDefault(&ps));
  ps.ndirichlet          = 2;
  ps.dirichlet_labels[0] = "left";
  ps.dirichlet_labels[1] = "right";
  ps.dirichlet_values[0] = 0.0;
  ps.dirichlet_values[1] = 1.0;
  PetscCall(McForwardCreate(pb->mesh, &ps, &pb->fw));
  PetscCall(McForwardSetUp(pb->fw));
  PetscCall(McForwardGetStateSpace(pb->fw, &space));
  PetscCall(PetscMalloc1(2 * g * g, &pts));
  for (PetscInt i = 0; i < g; i++)
    for (PetscInt j = 0; j < g; j++) {
      pts[2 * (i * g + j)]     = (i + 0.5) / g;
      pts[2 * (i * g + j) + 1] = (j + 0.5) / g;
    }
  PetscCall(McObsOperatorCreate(space, g * g, pts, &pb->obs));
  PetscCall(PetscFree(pts));
  PetscCall(McForwardGetParameterSpace(pb->fw, &space));
  PetscCall(McPriorSpecDefault(&prs));
  prs.correlation_length = 0.3;
  prs.std_dev            = 1.0;
  PetscCall(McPriorCreate(space, &prs, &pb->prior));
  PetscCall(McPosteriorCreate(pb->fw, pb->obs, pb->prior, &pb->post));
  PetscCall(McPriorCreateVector(pb->prior, &pb->xitrue));
  PetscCall(VecDuplicate(pb->xitrue, &pb->mtrue));
  PetscCall(McPriorSampleWhite(pb->prior, rng, pb->xitrue));
  PetscCall(McPriorUnwhiten(pb->prior, pb->xitrue, pb->mtrue));
  PetscCall(McPosteriorSynthesize(pb->post, pb->mtrue, noise, PETSC_TRUE, rng));
  PetscFunctionReturn(0);
}

static PetscErrorCode ProblemDestroy(Problem *pb)
{
  PetscFunctionBeginUser;
  PetscCall(VecDestroy(&pb->xitrue));
  PetscCall(VecDestroy(&pb->mtrue));
  PetscCall(McPosteriorDestroy(&pb->post));
  PetscCall(McPriorDestroy(&pb->prior));
  PetscCall(McObsOperatorDestroy(&pb->obs));
  PetscCall(McForwardDestroy(&pb->fw));
  PetscCall(McMeshDestroy(&pb->mesh));
  PetscFunctionReturn(0);
}

/* (d - Bu_true)/sigma are the standard normal draws: mean 0 +- 4/sqrt(n),
 * variance 1 +- 4 sqrt(2/n). */
static PetscErrorCode TestNoise(Problem *pb)
{
  Vec         d, s, clean, r;
  PetscInt    n;
  PetscScalar sum, sq;
  PetscReal   cmax, smin, smax;

  PetscFunctionBeginUser;
  PetscCall(McPosteriorGetData(pb->post, &d, &s, &clean));
  PetscCall(VecGetSize(d, &n));
  PetscCall(VecDuplicate(d, &r));
  PetscCall(VecWAXPY(r, -1.0, clean, d));
  PetscCall(VecPointwiseDivide(r, r, s));
  PetscCall(VecSum(r, &sum));
  PetscCall(VecDot(r, r, &sq));
  PetscCall(Expect("mean of standardised noise", PetscRealPart(sum) / n, 0.0, 4.0 / sqrt((double)n)));
  PetscCall(Expect("variance of standardised noise", PetscRealPart(sq) / n, 1.0, 4.0 * sqrt(2.0 / n)));
  PetscCall(VecNorm(clean, NORM_INFINITY, &cmax));
  PetscCall(VecMin(s, NULL, &smin));
  PetscCall(VecMax(s, NULL, &smax));
  PetscCall(Expect("relative noise: sigma = 0.01 max |Bu|", smin, 0.01 * cmax, 1e-15 * cmax));
  PetscCall(Expect("one sigma for all observations", smax, smin, 0.0));
  PetscCall(VecDestroy(&r));
  PetscFunctionReturn(0);
}

/* Phi(xi + eps eta) - Phi(xi) - eps <grad, eta> = O(eps^2). The first step
 * is 0.01: with the one-point quadrature of P1 simplices (fem) the KL
 * direction is still pre-asymptotic at 0.05 (observed order 1.75). */
static PetscErrorCode TestTaylor(Problem *pb, gsl_rng *rng, const char *name)
{
  Vec               xi, eta, g, x;
  PetscReal         phi0, phi, r[6], eps = 0.01;
  PetscScalar       dg;
  McPosteriorStatus st;

  PetscFunctionBeginUser;
  PetscCall(McPosteriorCreateParameterVector(pb->post, &xi));
  PetscCall(VecDuplicate(xi, &eta));
  PetscCall(VecDuplicate(xi, &g));
  PetscCall(VecDuplicate(xi, &x));
  PetscCall(McPriorSampleWhite(pb->prior, rng, xi));
  PetscCall(VecScale(xi, 0.5));
  PetscCall(McPriorSampleWhite(pb->prior, rng, eta));
  PetscCall(McPosteriorPotential(pb->post, xi, &phi0, &st));
  PetscCall(Expect("potential at a prior draw evaluates", st, MC_POST_OK, 0));
  PetscCall(McPosteriorGradient(pb->post, g));
  PetscCall(VecDot(g, eta, &dg));
  for (int k = 0; k < 6; k++, eps /= 2) {
    PetscCall(VecWAXPY(x, eps, eta, xi));
    PetscCall(McPosteriorPotential(pb->post, x, &phi, &st));
    r[k] = PetscAbsReal(phi - phi0 - eps * PetscRealPart(dg));
  }
  for (int k = 1; k < 6; k++) {
    char what[64];
    PetscCall(PetscSNPrintf(what, sizeof(what), "%s: Taylor remainder order, step %d", name, k));
    PetscCall(Expect(what, log(r[k - 1] / r[k]) / log(2.0), 2.0, 0.1));
  }
  PetscCall(VecDestroy(&xi));
  PetscCall(VecDestroy(&eta));
  PetscCall(VecDestroy(&g));
  PetscCall(VecDestroy(&x));
  PetscFunctionReturn(0);
}

/* exp(m) overflow and NaN are results, not errors; a good point after them
 * evaluates normally. */
static PetscErrorCode TestFailures(Problem *pb)
{
  Vec               xi;
  PetscReal         phi, phitrue;
  McPosteriorStatus st;
  PetscInt          n;

  PetscFunctionBeginUser;
  PetscCall(VecDuplicate(pb->xitrue, &xi));
  PetscCall(VecCopy(pb->xitrue, xi));
  PetscCall(VecScale(xi, 1e6));
  PetscCall(McPosteriorPotential(pb->post, xi, &phi, &st));
  PetscCall(Expect("huge proposal: overflow status", st, MC_POST_OVERFLOW, 0));
  PetscCall(VecGetSize(xi, &n));
  PetscCall(VecSetValue(xi, n / 2, NAN, INSERT_VALUES));
  PetscCall(VecAssemblyBegin(xi));
  PetscCall(VecAssemblyEnd(xi));
  PetscCall(McPosteriorPotential(pb->post, xi, &phi, &st));
  PetscCall(Expect("NaN proposal: NaN status", st, MC_POST_NAN, 0));
  PetscCall(McPosteriorPotential(pb->post, pb->xitrue, &phitrue, &st));
  PetscCall(Expect("truth after failures evaluates", st, MC_POST_OK, 0));
  {
    PetscInt nobs;
    Vec      d;
    PetscCall(McPosteriorGetData(pb->post, &d, NULL, NULL));
    PetscCall(VecGetSize(d, &nobs));
    /* At the truth, 2 Phi is a chi-square with nobs degrees of freedom:
     * mean nobs, sd sqrt(2 nobs). */
    PetscCall(Expect("2 Phi(truth) ~ chi2(nobs)", 2 * phitrue, nobs, 4 * sqrt(2.0 * nobs)));
  }
  PetscCall(VecDestroy(&xi));
  PetscFunctionReturn(0);
}

/* QoIs at the truth: the domain mean equals sum(Ml m)/sum(Ml); a point
 * value of m at a vertex equals the mean over a box holding only that
 * vertex; a point value of u at an observation point equals the noise-free
 * synthetic datum there. */
static PetscErrorCode TestQoI(Problem *pb)
{
  McQoISpec         q[4];
  PetscReal         v[4], phi;
  McPosteriorStatus st;
  Vec               ml, clean;
  PetscScalar       dot, sum;
  const PetscScalar *c;
  PetscInt          n;
  const char *const *names;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(q, sizeof(q)));
  PetscCall(PetscStrncpy(q[0].name, "mean_m", MC_QOI_NAME_LEN));
  q[0].kind = MC_QOI_MEAN;
  PetscCall(PetscStrncpy(q[1].name, "m_at_centre", MC_QOI_NAME_LEN));
  q[1].kind     = MC_QOI_POINT;
  q[1].point[0] = q[1].point[1] = 0.5;
  PetscCall(PetscStrncpy(q[2].name, "mean_m_near_centre", MC_QOI_NAME_LEN));
  q[2].kind     = MC_QOI_MEAN;
  q[2].lower[0] = q[2].lower[1] = 0.49;
  q[2].upper[0] = q[2].upper[1] = 0.51;
  PetscCall(PetscStrncpy(q[3].name, "u_at_obs_210", MC_QOI_NAME_LEN));
  q[3].kind     = MC_QOI_POINT;
  q[3].state    = PETSC_TRUE;
  q[3].point[0] = q[3].point[1] = 10.5 / 20;
  for (int i = 0; i < 4; i++) PetscCall(McPosteriorAddQoI(pb->post, &q[i]));
  PetscCall(McPosteriorGetQoI(pb->post, &n, &names));
  PetscCall(Expect("number of QoIs", n, 4, 0));
  PetscCall(Expect("QoI names kept", strcmp(names[3], "u_at_obs_210"), 0, 0));
  PetscCall(McPosteriorPotential(pb->post, pb->xitrue, &phi, &st));
  PetscCall(McPosteriorEvaluateQoI(pb->post, v));
  PetscCall(McPriorGetOperators(pb->prior, NULL, NULL, &ml));
  PetscCall(VecDot(ml, pb->mtrue, &dot));
  PetscCall(VecSum(ml, &sum));
  PetscCall(Expect("domain mean of m", v[0], PetscRealPart(dot / sum), 1e-12));
  PetscCall(Expect("m at a vertex = mean over a box around only it", v[1], v[2], 1e-12));
  PetscCall(McPosteriorGetData(pb->post, NULL, NULL, &clean));
  PetscCall(VecGetArrayRead(clean, &c));
  PetscCall(Expect("u at observation point 210 = its noise-free datum", v[3], PetscRealPart(c[210]), 1e-12));
  PetscCall(VecRestoreArrayRead(clean, &c));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  Problem    pb;
  gsl_rng   *rng;
  PetscInt64 live0, live1;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(McMemGetLive(&live0, NULL));
  rng = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(rng, 424242);
  PetscCall(ProblemCreate(rng, 0.01, &pb));
  PetscCall(TestNoise(&pb));
  PetscCall(TestTaylor(&pb, rng, "nodal"));
  PetscCall(McPriorSetUpKL(pb.prior, 40));
  PetscCall(McPosteriorSetParameterization(pb.post, MC_PARAM_KL));
  PetscCall(TestTaylor(&pb, rng, "KL (K=40)"));
  PetscCall(McPosteriorSetParameterization(pb.post, MC_PARAM_NODAL));
  PetscCall(TestFailures(&pb));
  PetscCall(TestQoI(&pb));
  {
    /* Correlated noise: Gamma_ij = (0.02^2) exp(-|x_i - x_j| / 0.2) + 1e-6 delta_ij
     * over the 20 x 20 sensor grid; the gradient goes through the adjoint
     * with the shifted-data trick, so it gets its own Taylor test. */
    const PetscInt g = 20, M = g * g;
    PetscReal     *Gamma;
    McPosterior    plain = pb.post;
    PetscCall(PetscMalloc1(M * M, &Gamma));
    for (PetscInt i = 0; i < M; i++)
      for (PetscInt j = 0; j < M; j++) {
        const double dx = (double)(i / g - j / g) / g, dy = (double)(i % g - j % g) / g;
        Gamma[i * M + j] = 4e-4 * exp(-hypot(dx, dy) / 0.2) + (i == j ? 1e-6 : 0.0);
      }
    PetscCall(McPosteriorCreate(pb.fw, pb.obs, pb.prior, &pb.post));
    PetscCall(McPosteriorSetNoiseCovariance(pb.post, M, Gamma));
    PetscCall(McPosteriorSynthesize(pb.post, pb.mtrue, 0.0, PETSC_FALSE, rng));
    PetscCall(TestTaylor(&pb, rng, "full noise covariance"));
    PetscCall(McPosteriorDestroy(&pb.post));
    pb.post = plain;
    PetscCall(PetscFree(Gamma));
  }
  PetscCall(ProblemDestroy(&pb));
  /* The mesh <-> space cycle goes with a full collection; then no object of
   * the problem may survive. */
  PetscCall(McGCCollect(2, NULL));
  PetscCall(McMemGetLive(&live1, NULL));
  PetscCall(Expect("live objects back to the start", (double)live1, (double)live0, 0));
  gsl_rng_free(rng);
  PetscCall(PetscFinalize());
  return failures != 0;
}
