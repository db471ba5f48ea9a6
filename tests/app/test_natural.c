/* A chain's problem distributed over 2 ranks against the same problem on
 * one rank (built on PETSC_COMM_SELF on each rank, in the same process):
 * the natural numbering (fem natural.c) makes them the same problem.
 * - the mesh file arrays (coordinates and cells) are equal exactly;
 * - the synthetic truth (a prior sample from white noise drawn in the
 *   natural numbering) and the data agree to solver tolerance;
 * - a vector filled from a stream (McVecFillNatural), gathered
 *   (McVecGatherNatural) and set back (McVecSetNatural) round-trips
 *   exactly, and equals the serial vector filled from the same stream;
 * - potential and gradient at that point agree to solver tolerance. */
#include "app/app.h"
#include "fem/fem.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>

static int failures;

static void Expect(int ok, const char *what, double value)
{
  PetscMPIInt rank;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  if (!ok) failures++;
  if (rank == 0) printf("%s %s (%.3g)\n", ok ? "ok  " : "FAIL", what, value);
}

static double Next(void *ctx)
{
  return gsl_ran_gaussian_ziggurat((gsl_rng *)ctx, 1.0);
}

static double MaxRel(const PetscScalar *a, const PetscScalar *b, PetscInt n)
{
  double d = 0, s = 0;
  for (PetscInt i = 0; i < n; i++) {
    d = fmax(d, fabs(PetscRealPart(a[i]) - PetscRealPart(b[i])));
    s = fmax(s, fabs(PetscRealPart(b[i])));
  }
  return s > 0 ? d / s : d;
}

static const char *config = "title = \"natural\"\n"
                            "[mesh]\ncells = 6\n"
                            "[prior]\ncorrelation_length = 0.5\n"
                            "[observations]\ngrid = 3\n"
                            "[output]\npath = \"natural.h5\"\n";

int main(int argc, char **argv)
{
  McConfig          *cfg;
  McProblem         *ser, *dis;
  McTarget           ts, td;
  McOutputMesh       ms, md;
  double            *cs, *cd;
  int64_t           *ks, *kd;
  char               msg[512];
  PetscBool          valid;
  PetscMPIInt        rank, size;
  PetscInt           n, nv;
  PetscScalar       *a, *b;
  const PetscScalar *sa;
  Vec                xs, xd, gs, gd, ds;
  PetscReal          phis, phid;
  McEvalStatus       st1, st2;
  gsl_rng           *r1, *r2;
  int                same = 1;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCheck(size == 2, PETSC_COMM_WORLD, PETSC_ERR_ARG_SIZ, "run on 2 ranks");
  PetscCall(McConfigCreate(&cfg));
  PetscCall(McConfigLoadString(cfg, config, strlen(config), "natural.toml", msg, sizeof msg, &valid));
  PetscCheck(valid, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "%s", msg);
  PetscCall(McProblemCreateOnComm(cfg, PETSC_COMM_SELF, &ser, msg, sizeof msg, &valid));
  PetscCheck(valid, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "%s", msg);
  PetscCall(McProblemCreateOnComm(cfg, PETSC_COMM_WORLD, &dis, msg, sizeof msg, &valid));
  PetscCheck(valid, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "%s", msg);
  n = ser->nparams;
  PetscCall(VecGetSize(ser->m0, &nv));
  {
    PetscInt lo;
    PetscCall(VecGetLocalSize(dis->m0, &lo));
    Expect(lo > 0 && lo < nv, "the distributed field is split over the ranks", (double)lo);
  }

  /* mesh file arrays: natural order, on every rank of the group */
  PetscCall(McProblemGetMesh(ser, &ms, &cs, &ks));
  PetscCall(McProblemGetMesh(dis, &md, &cd, &kd));
  same = ms.nvertices == md.nvertices && ms.ncells == md.ncells && ms.corners == md.corners && ms.dim == md.dim;
  for (PetscInt i = 0; same && i < ms.nvertices * ms.dim; i++)
    same = cs[i] == cd[i];
  for (PetscInt i = 0; same && i < ms.ncells * ms.corners; i++)
    same = ks[i] == kd[i];
  Expect(same, "mesh coordinates and cells equal to the serial mesh's, exactly", (double)md.nvertices);
  PetscCall(McFree(&cs));
  PetscCall(McFree(&cd));
  PetscCall(McFree(&ks));
  PetscCall(McFree(&kd));

  /* the synthetic truth and data */
  PetscCall(PetscMalloc2(nv, &a, nv, &b));
  PetscCall(McVecGatherNatural(dis->mtrue, a));
  PetscCall(VecGetArrayRead(ser->mtrue, &sa));
  if (rank == 0)
    Expect(MaxRel(a, sa, nv) < 1e-10, "truth equal to the serial truth (max relative difference)", MaxRel(a, sa, nv));
  PetscCall(VecRestoreArrayRead(ser->mtrue, &sa));
  PetscCall(McPosteriorGetData(ser->post, &ds, NULL, NULL));
  PetscCall(McPosteriorGetData(dis->post, &xd, NULL, NULL));
  PetscCall(McVecGatherNatural(xd, a));
  PetscCall(VecGetArrayRead(ds, &sa));
  if (rank == 0) Expect(MaxRel(a, sa, ser->nobs) < 1e-10, "data equal to the serial data", MaxRel(a, sa, ser->nobs));
  PetscCall(VecRestoreArrayRead(ds, &sa));

  /* a point drawn from a stream, on both layouts */
  PetscCall(McProblemCreateTarget(ser, &ts));
  PetscCall(McProblemCreateTarget(dis, &td));
  PetscCall(McTargetCreateVec(ts, &xs));
  PetscCall(McTargetCreateVec(td, &xd));
  r1 = gsl_rng_alloc(gsl_rng_mt19937);
  r2 = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r1, 7);
  gsl_rng_set(r2, 7);
  PetscCall(McVecFillNatural(xs, Next, r1));
  PetscCall(McVecFillNatural(xd, Next, r2));
  PetscCall(VecScale(xs, 0.3));
  PetscCall(VecScale(xd, 0.3));
  PetscCall(McVecGatherNatural(xd, a));
  PetscCall(VecGetArrayRead(xs, &sa));
  if (rank == 0)
    Expect(MaxRel(a, sa, n) == 0, "stream filled in the natural numbering: equal to the serial draw, exactly",
           MaxRel(a, sa, n));
  PetscCall(VecRestoreArrayRead(xs, &sa));
  PetscCallMPI(MPI_Bcast(a, (PetscMPIInt)n, MPIU_SCALAR, 0, PETSC_COMM_WORLD));
  PetscCall(VecDuplicate(xd, &gd));
  PetscCall(McVecSetNatural(gd, a));
  PetscCall(McVecGatherNatural(gd, b));
  if (rank == 0)
    Expect(MaxRel(b, a, n) == 0, "set and gathered back in the natural numbering, exactly", MaxRel(b, a, n));
  PetscCall(VecDestroy(&gd));

  PetscCall(McTargetPotential(ts, xs, &phis, &st1));
  PetscCall(McTargetPotential(td, xd, &phid, &st2));
  Expect(st1 == MC_EVAL_OK && st2 == MC_EVAL_OK && fabs(phis - phid) <= 1e-10 * fabs(phis),
         "potential equal to the serial one (relative difference)", fabs(phis - phid) / fabs(phis));
  PetscCall(VecDuplicate(xs, &gs));
  PetscCall(VecDuplicate(xd, &gd));
  PetscCall(McTargetGradient(ts, xs, gs, &st1));
  PetscCall(McTargetGradient(td, xd, gd, &st2));
  PetscCall(McVecGatherNatural(gd, a));
  PetscCall(VecGetArrayRead(gs, &sa));
  if (rank == 0)
    Expect(MaxRel(a, sa, n) < 1e-9, "gradient equal to the serial one (max relative difference)", MaxRel(a, sa, n));
  PetscCall(VecRestoreArrayRead(gs, &sa));

  gsl_rng_free(r1);
  gsl_rng_free(r2);
  PetscCall(PetscFree2(a, b));
  PetscCall(VecDestroy(&xs));
  PetscCall(VecDestroy(&xd));
  PetscCall(VecDestroy(&gs));
  PetscCall(VecDestroy(&gd));
  PetscCall(McTargetDestroy(&ts));
  PetscCall(McTargetDestroy(&td));
  PetscCall(McProblemDestroy(&ser));
  PetscCall(McProblemDestroy(&dis));
  PetscCall(McConfigDestroy(&cfg));
  PetscCall(McGCCollect(2, NULL));
  if (rank == 0) printf("natural: %d failed\n", failures);
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
