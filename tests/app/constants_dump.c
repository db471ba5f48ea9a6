/* The model's own values of what mcmc-run stores in constant_data/, for
 * tests/app/constants_checks.py to compare bit for bit: sets up the
 * problem of a configuration exactly as mcmc-run does (same solver
 * options) and writes, as raw little-endian float64, the prior mean field
 * m0 [nv], then with [prior] kl_modes = K > 0 the KL eigenvalues s_k^2 [K]
 * and the modes phi_k [K][nv] (McPriorGetKL).
 *
 * With RUN.h5 (an output file of the same configuration) it reads
 * constant_data/map_xi and laplace_eigenvectors from it and appends the
 * model's fields for them: m0 + L xi_MAP [nv], then L v_k [r][nv]
 * (McPosteriorParameterToField, nodal or KL coordinates).
 *
 * usage: constants-dump CONFIG OUT.bin [RUN.h5] */
#include "app/app.h"

#include <hdf5.h>
#include <hdf5_hl.h>
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

/* The fields of map_xi and the Laplace eigenvectors stored in run. */
static PetscErrorCode DumpFields(McProblem *pb, const char *run, FILE *f)
{
  hid_t        h5;
  hsize_t      dims[2];
  PetscInt     P, r;
  double      *xi, *V;
  Vec          x, m;
  PetscScalar *a;

  PetscFunctionBeginUser;
  h5 = H5Fopen(run, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(h5 >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open %s", run);
  PetscCheck(H5LTget_dataset_info(h5, "/constant_data/laplace_eigenvectors", dims, NULL, NULL) >= 0, PETSC_COMM_SELF,
             PETSC_ERR_FILE_READ, "%s: no laplace_eigenvectors", run);
  r = (PetscInt)dims[0];
  P = (PetscInt)dims[1];
  PetscCall(PetscMalloc2(P, &xi, r * P, &V));
  PetscCheck(H5LTread_dataset_double(h5, "/constant_data/map_xi", xi) >= 0 &&
                 H5LTread_dataset_double(h5, "/constant_data/laplace_eigenvectors", V) >= 0,
             PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: cannot read map_xi or laplace_eigenvectors", run);
  H5Fclose(h5);
  PetscCall(McPosteriorCreateParameterVector(pb->post, &x));
  PetscCall(VecDuplicate(pb->m0, &m));
  for (PetscInt k = -1; k < r; k++) {
    PetscCall(VecGetArray(x, &a));
    for (PetscInt i = 0; i < P; i++)
      a[i] = k < 0 ? xi[i] : V[k * P + i];
    PetscCall(VecRestoreArray(x, &a));
    PetscCall(McPosteriorParameterToField(pb->post, x, m));
    if (k >= 0) PetscCall(VecAXPY(m, -1.0, pb->m0));
    PetscCall(WriteVec(f, m));
  }
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&m));
  PetscCall(PetscFree2(xi, V));
  PetscFunctionReturn(0);
}

static PetscErrorCode Dump(const char *config, const char *path, const char *run)
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
  if (run) PetscCall(DumpFields(pb, run, f));
  PetscCheck(fclose(f) == 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot write %s", path);
  PetscCall(McProblemDestroy(&pb));
  PetscCall(McConfigDestroy(&cfg));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCheck(argc == 3 || argc == 4, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG,
             "usage: constants-dump CONFIG OUT.bin [RUN.h5]");
  PetscCall(Dump(argv[1], argv[2], argc == 4 ? argv[3] : NULL));
  PetscCall(PetscFinalize());
  return 0;
}
