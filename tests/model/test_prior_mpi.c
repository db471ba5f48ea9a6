/* The prior on two ranks (distributed mesh, MUMPS factorisation): the
 * operators' exact identities and the whiten/unwhiten inverse pair hold as
 * in serial. (The white-noise draw follows the global numbering, which
 * differs between layouts; layout-independent draws are the parallel
 * issue's work.) */
#include "modeltest.h"
#include "obj/obj.h"

#include <math.h>

int main(int argc, char **argv)
{
  McMesh      mesh;
  McSpace     space;
  McPriorSpec spec;
  McPrior     prior;
  Mat         A, M;
  Vec         one, y, xi, m, back;
  PetscScalar s;
  PetscReal   beta, err;
  PetscMPIInt size;
  gsl_rng    *rng;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(Expect("ranks", size, 2, 0));
  rng = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(rng, 7);
  PetscCall(UnitSquare(PETSC_COMM_WORLD, 16, &mesh, &space));
  PetscCall(McPriorSpecDefault(&spec));
  spec.gamma = 0.3;
  spec.delta = 2.0;
  PetscCall(McPriorCreate(space, &spec, &prior));
  PetscCall(McPriorGetCoefficients(prior, NULL, NULL, &beta));
  PetscCall(McPriorGetOperators(prior, &A, &M, NULL));
  PetscCall(McPriorCreateVector(prior, &one));
  PetscCall(VecDuplicate(one, &y));
  PetscCall(VecDuplicate(one, &xi));
  PetscCall(VecDuplicate(one, &m));
  PetscCall(VecDuplicate(one, &back));
  PetscCall(VecSet(one, 1.0));
  PetscCall(MatMult(M, one, y));
  PetscCall(VecDot(y, one, &s));
  PetscCall(Expect("1'M1 = area", PetscRealPart(s), 1.0, 1e-12));
  PetscCall(MatMult(A, one, y));
  PetscCall(VecDot(y, one, &s));
  PetscCall(Expect("1'A1 = delta area + beta perimeter", PetscRealPart(s), 2.0 + 4.0 * beta, 1e-11));
  PetscCall(McPriorSampleWhite(prior, rng, xi));
  PetscCall(McPriorUnwhiten(prior, xi, m));
  PetscCall(McPriorWhiten(prior, m, back));
  PetscCall(VecAXPY(back, -1.0, xi));
  PetscCall(VecNorm(back, NORM_INFINITY, &err));
  PetscCall(Expect("whiten(unwhiten(xi)) - xi", err, 0.0, 1e-9));
  PetscCall(VecDestroy(&one));
  PetscCall(VecDestroy(&y));
  PetscCall(VecDestroy(&xi));
  PetscCall(VecDestroy(&m));
  PetscCall(VecDestroy(&back));
  PetscCall(McPriorDestroy(&prior));
  PetscCall(McMeshDestroy(&mesh));
  /* The mesh and its cached spaces form a cycle (fem objects): collect it. */
  PetscCall(McGCCollect(2, NULL));
  gsl_rng_free(rng);
  PetscCall(PetscFinalize());
  return failures != 0;
}
