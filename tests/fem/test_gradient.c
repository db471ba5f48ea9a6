/* Observation operator and adjoint gradient.
 * - B reproduces linear (P1) and quadratic (P2) fields exactly at points;
 *   (B u, v) = (u, B^T v).
 * - A point outside the domain is an error naming the point.
 * - Taylor test: |J(m + e dm) - J(m) - e g.dm| shrinks like e^2 (observed
 *   order within 0.1 of 2), with a scalar and with a vector noise precision. */
#include "fem_test.h"

#include <string.h>

static PetscErrorCode Quadratic(PetscInt dim, const PetscReal x[], PetscScalar *u, void *ctx)
{
  PetscInt order = *(PetscInt *)ctx;
  *u = 1.0 + 2.0 * x[0] - x[1] + (dim == 3 ? 0.5 * x[2] : 0.0);
  if (order == 2) *u += x[0] * x[1] - 0.7 * x[0] * x[0];
  return 0;
}

static PetscErrorCode SmoothM(PetscInt dim, const PetscReal x[], PetscScalar *m, void *ctx)
{
  (void)dim, (void)ctx;
  *m = 0.5 * PetscSinReal(3 * x[0]) * PetscCosReal(2 * x[1]);
  return 0;
}

static const PetscReal pts2[6][2] = {{0.1, 0.1}, {0.5, 0.5}, {0.9, 0.25}, {0.33, 0.77}, {0.05, 0.95}, {0.71, 0.52}};

static PetscErrorCode TestObservation(PetscInt order, PetscBool simplex)
{
  McMesh        mesh;
  McMeshSpec    ms = BoxSpec(2, 5, simplex);
  McSpace       space;
  McObsOperator obs;
  Vec           u, d, v, w;
  PetscReal     err = 0;
  PetscScalar   a, b;
  PetscRandom   rnd;

  PetscFunctionBeginUser;
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
  PetscCall(McMeshGetSpace(mesh, order, &space));
  PetscCall(McObsOperatorCreate(space, 6, &pts2[0][0], &obs));
  PetscCall(McSpaceCreateVector(space, &u));
  PetscCall(McSpaceInterpolate(space, Quadratic, &order, u));
  PetscCall(McObsOperatorCreateVector(obs, &d));
  PetscCall(McObsOperatorApply(obs, u, d));
  {
    const PetscScalar *da;
    PetscInt           lo, hi;
    PetscCall(VecGetOwnershipRange(d, &lo, &hi));
    PetscCall(VecGetArrayRead(d, &da));
    for (PetscInt p = lo; p < hi; p++) {
      PetscScalar ex;
      PetscCall(Quadratic(2, pts2[p], &ex, &order));
      err = PetscMax(err, PetscAbsScalar(da[p - lo] - ex));
    }
    PetscCall(VecRestoreArrayRead(d, &da));
  }
  CHECK(err < 1e-13, "P%d %s: B u differs from the exact field by %g", (int)order, simplex ? "simplex" : "tensor",
        (double)err);
  /* Adjointness with random vectors. */
  PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
  PetscCall(PetscRandomSetSeed(rnd, 7));
  PetscCall(PetscRandomSeed(rnd));
  PetscCall(VecDuplicate(d, &v));
  PetscCall(VecDuplicate(u, &w));
  PetscCall(VecSetRandom(v, rnd));
  PetscCall(VecSetRandom(u, rnd));
  PetscCall(McObsOperatorApply(obs, u, d));
  PetscCall(McObsOperatorApplyTranspose(obs, v, w));
  PetscCall(VecDot(d, v, &a));
  PetscCall(VecDot(u, w, &b));
  CHECK(PetscAbsScalar(a - b) < 1e-13 * PetscAbsScalar(a), "(Bu, v) = %.17g but (u, B^T v) = %.17g", (double)a,
        (double)b);
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(VecDestroy(&v));
  PetscCall(VecDestroy(&w));
  PetscCall(VecDestroy(&u));
  PetscCall(VecDestroy(&d));
  PetscCall(McObsOperatorDestroy(&obs));
  PetscCall(McMeshDestroy(&mesh));
  PetscFunctionReturn(0);
}

static PetscErrorCode TestOutside(void)
{
  McMesh         mesh;
  McMeshSpec     ms = BoxSpec(2, 4, PETSC_TRUE);
  PetscReal      pts[8] = {0.5, 0.5, 0.2, 0.3, 0.4, 0.4, 1.5, 0.5};
  McSpace        space;
  McObsOperator  obs = NULL;
  PetscErrorCode ierr;
  char          *msg = NULL;

  PetscFunctionBeginUser;
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
  PetscCall(McMeshGetSpace(mesh, 1, &space));
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = McObsOperatorCreate(space, 4, pts, &obs);
  PetscCall(PetscPopErrorHandler());
  PetscCall(PetscErrorMessage(ierr, NULL, &msg));
  CHECK(ierr != 0 && obs == NULL, "a point outside the mesh was accepted");
  CHECK(msg && strstr(msg, "observation point 3 at (1.5, 0.5) is outside the mesh"), "message was '%s'",
        msg ? msg : "(none)");
  PetscCall(McMeshDestroy(&mesh));
  PetscFunctionReturn(0);
}

/* Observation points from CSV: header, comments, blank lines, commas or
 * blanks; a malformed line is an error naming file:line. */
static PetscErrorCode TestCSV(void)
{
  const char    *good = "points_good.csv", *bad = "points_bad.csv";
  PetscMPIInt    rank;
  PetscInt       n;
  PetscReal     *x = NULL;
  PetscErrorCode ierr;
  char          *msg = NULL;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0) {
    FILE *fp = fopen(good, "w");
    fputs("x,y\n# a comment\n0.25, 0.5\n\n  0.75 0.125\n1e-1,9e-1\n", fp);
    fclose(fp);
    fp = fopen(bad, "w");
    fputs("x,y\n0.25,0.5\n0.3,abc\n", fp);
    fclose(fp);
  }
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  PetscCall(McObsReadPointsCSV(PETSC_COMM_WORLD, good, 2, &n, &x));
  CHECK(n == 3, "read %d points, expected 3", (int)n);
  if (n == 3)
    CHECK(x[0] == 0.25 && x[1] == 0.5 && x[2] == 0.75 && x[3] == 0.125 && x[4] == 0.1 && x[5] == 0.9,
          "points read wrongly: (%g,%g) (%g,%g) (%g,%g)", (double)x[0], (double)x[1], (double)x[2], (double)x[3],
          (double)x[4], (double)x[5]);
  PetscCall(PetscFree(x));
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = McObsReadPointsCSV(PETSC_COMM_WORLD, bad, 2, &n, &x);
  PetscCall(PetscPopErrorHandler());
  PetscCall(PetscErrorMessage(ierr, NULL, &msg));
  CHECK(ierr && msg && strstr(msg, "points_bad.csv:3: expected 2 numbers (x, y), got '0.3,abc'"), "message was '%s'",
        msg ? msg : "");
  PetscFunctionReturn(0);
}

static PetscErrorCode Taylor(PetscInt order, PetscBool weights)
{
  McMesh        mesh;
  McMeshSpec    ms = BoxSpec(2, 12, PETSC_TRUE);
  McPDESpec     ps;
  McForward     fw;
  McSpace       mspace, uspace;
  McObsOperator obs;
  McNoise       noise = {25.0, NULL};
  McWell        well = {{0.3, 0.6, 0}, 0.1, 3.0};
  Vec           m, mt, dm, g, d, u;
  PetscReal     pts[2 * 30], J0, Je, r[6], gdm;
  PetscScalar   s;
  PetscRandom   rnd;
  PetscBool     ok;

  PetscFunctionBeginUser;
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
  PetscCall(McPDESpecDefault(&ps));
  ps.order = order;
  ps.nwells = 1;
  ps.wells = &well;
  ps.ndirichlet = 2;
  ps.dirichlet_labels[0] = "left";
  ps.dirichlet_values[0] = 1.0;
  ps.dirichlet_labels[1] = "right";
  ps.dirichlet_values[1] = 0.0;
  ps.nneumann = 1;
  ps.neumann_labels[0] = "top";
  ps.neumann_values[0] = 0.5;
  PetscCall(McForwardCreate(mesh, &ps, &fw));
  PetscCall(McForwardSetUp(fw));
  PetscCall(McForwardGetParameterSpace(fw, &mspace));
  PetscCall(McForwardGetStateSpace(fw, &uspace));
  for (PetscInt p = 0; p < 30; p++) {
    pts[2 * p] = 0.05 + 0.9 * ((p * 7) % 30) / 29.0;
    pts[2 * p + 1] = 0.05 + 0.9 * p / 29.0;
  }
  PetscCall(McObsOperatorCreate(uspace, 30, pts, &obs));
  PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
  PetscCall(PetscRandomSetInterval(rnd, -1.0, 1.0));
  PetscCall(PetscRandomSetSeed(rnd, 11));
  PetscCall(PetscRandomSeed(rnd));
  /* Data from a "true" m; evaluate at another m. */
  PetscCall(McSpaceCreateVector(mspace, &mt));
  PetscCall(McSpaceInterpolate(mspace, SmoothM, NULL, mt));
  PetscCall(McForwardSolve(fw, mt, &ok));
  PetscCall(McForwardGetState(fw, &u));
  PetscCall(McObsOperatorCreateVector(obs, &d));
  PetscCall(McObsOperatorApply(obs, u, d));
  if (weights) {
    PetscCall(VecDuplicate(d, &noise.weights));
    PetscCall(VecSetRandom(noise.weights, rnd));
    PetscCall(VecShift(noise.weights, 2.0)); /* in [1, 3] */
  }
  PetscCall(VecDuplicate(mt, &m));
  PetscCall(VecDuplicate(mt, &dm));
  PetscCall(VecDuplicate(mt, &g));
  PetscCall(VecSetRandom(m, rnd));
  PetscCall(VecScale(m, 0.3));
  PetscCall(VecSetRandom(dm, rnd));
  PetscCall(McForwardSolve(fw, m, &ok));
  CHECK(ok, "solve failed");
  PetscCall(McForwardMisfitGradient(fw, obs, d, &noise, &J0, g));
  PetscCall(VecDot(g, dm, &s));
  gdm = PetscRealPart(s);
  Vec me;
  PetscCall(VecDuplicate(m, &me));
  PetscReal eps = 0.05;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "Taylor P%d %s: J = %.6e, g.dm = %.6e\n", (int)order,
                        weights ? "vector precision" : "scalar precision", (double)J0, (double)gdm));
  for (PetscInt k = 0; k < 6; k++, eps /= 2) {
    PetscCall(VecWAXPY(me, eps, dm, m));
    PetscCall(McForwardSolve(fw, me, &ok));
    PetscCall(McForwardMisfitGradient(fw, obs, d, &noise, &Je, NULL));
    r[k] = PetscAbsReal(Je - J0 - eps * gdm);
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  eps %.4e  |J(m+e dm) - J(m)| %.3e  remainder %.3e", (double)eps,
                          (double)PetscAbsReal(Je - J0), (double)r[k]));
    if (k) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  order %.3f", (double)PetscLog2Real(r[k - 1] / r[k])));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "\n"));
  }
  for (PetscInt k = 1; k < 6; k++) {
    PetscReal o = PetscLog2Real(r[k - 1] / r[k]);
    CHECK(PetscAbsReal(o - 2.0) <= 0.1, "Taylor remainder order %.3f at step %d, expected 2 +- 0.1", (double)o, (int)k);
  }
  PetscCall(VecDestroy(&me));
  PetscCall(VecDestroy(&noise.weights));
  PetscCall(VecDestroy(&m));
  PetscCall(VecDestroy(&mt));
  PetscCall(VecDestroy(&dm));
  PetscCall(VecDestroy(&g));
  PetscCall(VecDestroy(&d));
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(McObsOperatorDestroy(&obs));
  PetscCall(McForwardDestroy(&fw));
  PetscCall(McMeshDestroy(&mesh));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(TestObservation(1, PETSC_TRUE));
  PetscCall(TestObservation(2, PETSC_TRUE));
  PetscCall(TestObservation(1, PETSC_FALSE));
  PetscCall(TestObservation(2, PETSC_FALSE));
  PetscCall(TestOutside());
  PetscCall(TestCSV());
  PetscCall(Taylor(1, PETSC_FALSE));
  PetscCall(Taylor(2, PETSC_TRUE));
  PetscCall(CollectAndCheck());
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", failures ? "FAILED" : "PASSED"));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
