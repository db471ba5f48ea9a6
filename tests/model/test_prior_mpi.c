/* The prior on two ranks: the same draw of xi gives the same field as on
 * one rank (the white-noise stream is laid out by global index), checked
 * through layout-independent sums against values computed serially in the
 * same run on PETSC_COMM_SELF. */
#include "model/model.h"

#include <math.h>

static int failures;

static PetscErrorCode SampleSums(MPI_Comm comm, PetscReal sums[3])
{
  McMeshSpec  ms;
  McMesh      mesh;
  McSpace     space;
  McPriorSpec spec;
  McPrior     prior;
  Vec         m, ml;
  gsl_rng    *rng = gsl_rng_alloc(gsl_rng_mt19937);
  PetscScalar d;

  PetscFunctionBeginUser;
  gsl_rng_set(rng, 7);
  PetscCall(McMeshSpecDefault(&ms));
  ms.dim      = 2;
  ms.cells[0] = ms.cells[1] = 16;
  ms.simplex  = PETSC_TRUE;
  PetscCall(McMeshCreate(comm, &ms, &mesh));
  PetscCall(McMeshGetSpace(mesh, 1, &space));
  PetscCall(McPriorSpecDefault(&spec));
  PetscCall(McPriorCreate(space, &spec, &prior));
  PetscCall(McPriorCreateVector(prior, &m));
  PetscCall(McPriorSample(prior, rng, m));
  PetscCall(McPriorGetOperators(prior, NULL, NULL, &ml));
  /* Mesh-numbering-independent summaries: the integral of m and of m^2
   * (lumped quadrature) and the maximum. */
  PetscCall(VecDot(m, ml, &d));
  sums[0] = PetscRealPart(d);
  PetscCall(VecPointwiseMult(ml, ml, m));
  PetscCall(VecDot(ml, m, &d));
  PetscCall(VecNorm(m, NORM_INFINITY, &sums[2]));
  sums[1] = PetscRealPart(d);
  PetscCall(VecDestroy(&m));
  PetscCall(McPriorDestroy(&prior));
  PetscCall(McMeshDestroy(&mesh));
  gsl_rng_free(rng);
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscReal par[3], ser[3];

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(SampleSums(PETSC_COMM_WORLD, par));
  PetscCall(SampleSums(PETSC_COMM_SELF, ser));
  for (int i = 0; i < 3; i++) {
    if (!(fabs(par[i] - ser[i]) <= 1e-10 * fabs(ser[i]))) {
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "FAIL summary %d: 2 ranks %.15g, 1 rank %.15g\n", i, (double)par[i], (double)ser[i]));
      failures++;
    } else PetscCall(PetscPrintf(PETSC_COMM_WORLD, "ok   summary %d: %.15g on both layouts\n", i, (double)par[i]));
  }
  PetscCall(PetscFinalize());
  return failures != 0;
}
