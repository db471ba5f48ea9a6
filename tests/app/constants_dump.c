/* The model's own values of what mcmc-run stores in constant_data/, for
 * tests/app/constants_checks.py to compare bit for bit: sets up the
 * problem of a configuration exactly as mcmc-run does (same solver
 * options) and writes, as raw little-endian float64, the prior mean field
 * m0 [nv], then with [prior] kl_modes = K > 0 the KL eigenvalues s_k^2 [K]
 * and the modes phi_k [K][nv] (McPriorGetKL).
 *
 * usage: constants-dump CONFIG OUT.bin */
#include "app/app.h"

#include <stdio.h>

static PetscErrorCode WriteVec(FILE *f, Vec v)
{
  const PetscScalar *a;
  PetscInt           n;

  PetscFunctionBeginUser;
  PetscCall(VecGetLocalSize(v, &n));
  PetscCall(VecGetArrayRead(v, &a));
  PetscCheck(fwrite(a, sizeof(double), (size_t)n, f) == (size_t)n, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE,
             "write failed");
  PetscCall(VecRestoreArrayRead(v, &a));
  PetscFunctionReturn(0);
}

static PetscErrorCode Dump(const char *config, const char *path)
{
  McConfig        *cfg;
  McProblem       *pb;
  char             msg[2048];
  PetscBool        valid;
  FILE            *f;
  PetscInt         K;
  const PetscReal *s;
  Mat              modes;

  PetscFunctionBeginUser;
  PetscCall(McConfigCreate(&cfg));
  PetscCall(McConfigLoad(cfg, config, msg, sizeof msg, &valid));
  PetscCheck(valid, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s", msg);
  PetscCall(McRunApplySolverOptions(cfg));
  PetscCall(McProblemCreate(cfg, &pb, msg, sizeof msg, &valid));
  PetscCheck(valid, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s", msg);
  f = fopen(path, "wb");
  PetscCheck(f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot create %s", path);
  PetscCall(WriteVec(f, pb->m0));
  if (cfg->prior.kl_modes > 0) {
    PetscCall(McPriorGetKL(pb->prior, &K, &s, &modes));
    for (PetscInt k = 0; k < K; k++) {
      double e = (double)(s[k] * s[k]);
      PetscCheck(fwrite(&e, sizeof e, 1, f) == 1, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "write failed");
    }
    for (PetscInt k = 0; k < K; k++) {
      Vec col;
      PetscCall(MatDenseGetColumnVecRead(modes, k, &col));
      PetscCall(WriteVec(f, col));
      PetscCall(MatDenseRestoreColumnVecRead(modes, k, &col));
    }
  }
  PetscCheck(fclose(f) == 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot write %s", path);
  PetscCall(McProblemDestroy(&pb));
  PetscCall(McConfigDestroy(&cfg));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCheck(argc == 3, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "usage: constants-dump CONFIG OUT.bin");
  PetscCall(Dump(argv[1], argv[2]));
  PetscCall(PetscFinalize());
  return 0;
}
