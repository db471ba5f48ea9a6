/* The run's constant arrays for the output file (constant_data/): the prior
 * mean field, the Karhunen-Loeve eigenpairs of the prior ([prior]
 * kl_modes > 0), the MAP point and the low-rank Laplace eigenpairs (when the
 * kernel or the start needs them, and always with --map), and the file that
 * mcmc-run --map writes.
 *
 * The one idea: each array is stored twice where a user needs both views --
 * in the sampler's coordinates (dimension "param", what a run uses) and as
 * a field on the mesh (dimension "node", what ParaView shows): the MAP as
 * map_xi and map_m = m0 + L xi_MAP, a Laplace eigenvector v_k as
 * laplace_eigenvectors[k] and laplace_modes[k] = L v_k, the generalised
 * eigenvector of H_misfit w = lambda C^-1 w that hIPPYlib reports. */
#include "app/app.h"

#include <string.h>
#include <unistd.h>

/* Copies the vector v into dst (its global size) on every rank of its
 * communicator, in the natural numbering (the mesh's serial vertex order
 * when a chain's mesh is distributed). Set-up only. */
static PetscErrorCode GatherVec(Vec v, double *dst)
{
  PetscScalar *a;
  PetscInt     n;

  PetscFunctionBeginUser;
  PetscCall(VecGetSize(v, &n));
  PetscCall(PetscMalloc1(n + 1, &a));
  PetscCall(McVecGatherNatural(v, a));
  PetscCallMPI(MPI_Bcast(a, (PetscMPIInt)n, MPIU_SCALAR, 0, PetscObjectComm((PetscObject)v)));
  for (PetscInt i = 0; i < n; i++)
    dst[i] = (double)a[i];
  PetscCall(PetscFree(a));
  PetscFunctionReturn(0);
}

/* The next array of rc, with storage for rows x cols values (rows = 0: a
 * vector of cols values over dimension col_dim). */
static PetscErrorCode Add(McRunConstants *rc, const char *name, const char *row_dim, PetscInt rows, const char *col_dim,
                          PetscInt cols, const char *description, double **values)
{
  McOutputConstant *c;

  PetscFunctionBeginUser;
  PetscCheck(rc->n < MC_RUN_MAX_CONSTANTS, PETSC_COMM_SELF, PETSC_ERR_PLIB, "more than %d constant arrays",
             MC_RUN_MAX_CONSTANTS);
  c = &rc->list[rc->n];
  PetscCall(PetscMalloc1((size_t)PetscMax(rows, 1) * (size_t)cols, &rc->storage[rc->n]));
  c->name = name;
  c->ndims = rows ? 2 : 1;
  c->dims[0] = rows ? row_dim : col_dim;
  c->dims[1] = rows ? col_dim : NULL;
  c->shape[0] = rows ? rows : cols;
  c->shape[1] = rows ? cols : 0;
  c->values = rc->storage[rc->n];
  c->description = description;
  *values = rc->storage[rc->n++];
  PetscFunctionReturn(0);
}

PetscErrorCode McRunConstantsFill(McProblem *pb, Vec xmap, McLaplace lap, McRunConstants *rc)
{
  PetscInt nv, P;
  double  *val;
  Vec      m;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(rc, sizeof *rc));
  if (!pb->prior) PetscFunctionReturn(0); /* a UM-Bridge model: no field */
  PetscCall(VecGetSize(pb->m0, &nv));
  PetscCall(McPosteriorCreateParameterVector(pb->post, &m)); /* any vector; replaced below */
  PetscCall(VecGetSize(m, &P));
  PetscCall(VecDestroy(&m));
  PetscCall(VecDuplicate(pb->m0, &m));

  PetscCall(Add(rc, "prior_mean", NULL, 0, "node", nv, "prior mean m0 of the field m at the mesh vertices", &val));
  PetscCall(GatherVec(pb->m0, val));

  {
    PetscInt           K;
    const PetscReal   *s;
    Mat                modes;
    McParameterization kind;

    PetscCall(McPosteriorGetParameterization(pb->post, &kind));
    if (kind == MC_PARAM_KL) {
      PetscCall(McPriorGetKL(pb->prior, &K, &s, &modes));
      PetscCall(Add(rc, "kl_eigenvalues", NULL, 0, "kl_mode", K,
                    "eigenvalues s_k^2 of the prior covariance C in the lumped-mass inner product (C Ml phi_k = s_k^2 "
                    "phi_k), descending; m = m0 + sum_k s_k xi_k phi_k",
                    &val));
      for (PetscInt k = 0; k < K; k++)
        val[k] = (double)(s[k] * s[k]);
      PetscCall(Add(rc, "kl_modes", "kl_mode", K, "node", nv,
                    "Karhunen-Loeve modes phi_k of the prior at the mesh vertices, orthonormal in the lumped-mass "
                    "inner product",
                    &val));
      for (PetscInt k = 0; k < K; k++) {
        Vec col;
        PetscCall(MatDenseGetColumnVecRead(modes, k, &col));
        PetscCall(GatherVec(col, val + (size_t)k * (size_t)nv));
        PetscCall(MatDenseRestoreColumnVecRead(modes, k, &col));
      }
    }
  }

  if (xmap) {
    PetscCall(Add(rc, "map_xi", NULL, 0, "param", P, "MAP point in the sampler's coordinates (param)", &val));
    PetscCall(GatherVec(xmap, val));
    PetscCall(
        Add(rc, "map_m", NULL, 0, "node", nv, "MAP point as the field m = m0 + L xi_MAP at the mesh vertices", &val));
    PetscCall(McPosteriorParameterToField(pb->post, xmap, m));
    PetscCall(GatherVec(m, val));
  }
  if (lap) {
    PetscInt         r;
    const PetscReal *lambda;
    const Vec       *V;
    double          *vecs, *modes;

    PetscCall(McLaplaceGetEigenpairs(lap, &r, &lambda, &V));
    PetscCall(Add(rc, "laplace_eigenvalues", NULL, 0, "laplace_mode", r,
                  "eigenvalues lambda_k of the prior-preconditioned misfit Hessian at the MAP point, descending; "
                  "posterior covariance ~ I - V diag(lambda/(1+lambda)) V^T in the sampler's coordinates",
                  &val));
    for (PetscInt k = 0; k < r; k++)
      val[k] = (double)lambda[k];
    PetscCall(Add(rc, "laplace_eigenvectors", "laplace_mode", r, "param", P,
                  "eigenvectors v_k in the sampler's coordinates (orthonormal)", &vecs));
    PetscCall(Add(rc, "laplace_modes", "laplace_mode", r, "node", nv,
                  "eigenvectors as fields L v_k at the mesh vertices: H_misfit w_k = lambda_k C^-1 w_k", &modes));
    for (PetscInt k = 0; k < r; k++) {
      PetscCall(GatherVec(V[k], vecs + (size_t)k * (size_t)P));
      /* L v = (m0 + L v) - m0: the prior's own map, nodal or KL. */
      PetscCall(McPosteriorParameterToField(pb->post, V[k], m));
      PetscCall(VecAXPY(m, -1.0, pb->m0));
      PetscCall(GatherVec(m, modes + (size_t)k * (size_t)nv));
    }
  }
  PetscCall(VecDestroy(&m));
  PetscFunctionReturn(0);
}

PetscErrorCode McRunConstantsFree(McRunConstants *rc)
{
  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < rc->n; i++)
    PetscCall(PetscFree(rc->storage[i]));
  rc->n = 0;
  PetscFunctionReturn(0);
}

/* run.h5 -> run_map.h5, run_map.xmf, run_mesh.h5. */
static PetscErrorCode MapPaths(const char *path, char *map, char *xmf, char *mesh, size_t len)
{
  size_t n = strlen(path);
  int    stem = n > 3 && !strcmp(path + n - 3, ".h5") ? (int)(n - 3) : (int)n;

  PetscFunctionBeginUser;
  PetscCall(PetscSNPrintf(map, len, "%.*s_map.h5", stem, path));
  PetscCall(PetscSNPrintf(xmf, len, "%.*s_map.xmf", stem, path));
  PetscCall(PetscSNPrintf(mesh, len, "%.*s_mesh.h5", stem, path));
  PetscFunctionReturn(0);
}

PetscErrorCode McRunWriteMapFile(const McConfig *cfg, McProblem *pb, Vec xmap, McLaplace lap, const char *config_text,
                                 const char *model_hash)
{
  char               map[PETSC_MAX_PATH_LEN], xmf[PETSC_MAX_PATH_LEN], meshpath[PETSC_MAX_PATH_LEN];
  char               progress[PETSC_MAX_PATH_LEN + 16];
  char             **names, *buf;
  const char        *slash;
  McOutputSpec       spec;
  McOutput           out;
  McRunConstants     rc;
  McOutputMesh       mesh;
  double            *coords = NULL;
  int64_t           *cells = NULL;
  const PetscScalar *y, *truth = NULL;
  Vec                d;
  PetscInt           P;

  PetscFunctionBeginUser;
  if (!pb->prior) PetscFunctionReturn(0); /* a remote model: nothing on a mesh to show */
  PetscCall(MapPaths(cfg->output.path, map, xmf, meshpath, sizeof map));
  PetscCall(VecGetSize(xmap, &P));
  PetscCall(PetscMalloc2(P, &names, 16 * P, &buf));
  for (PetscInt i = 0; i < P; i++) {
    names[i] = buf + 16 * i;
    snprintf(names[i], 16, "xi_%d", (int)i);
  }
  PetscCall(McRunConstantsFill(pb, xmap, lap, &rc));
  PetscCall(McOutputSpecInit(&spec));
  /* The layout of a sampling run's file with no draws: every reader of
   * run files reads it, and constant_data holds what --map computed. */
  spec.nchains = 1;
  spec.nparams = P;
  spec.param_names = (const char *const *)names;
  PetscCall(VecGetSize(pb->m0, &spec.field_size));
  spec.field_name = "m";
  if (pb->mtrue) PetscCall(VecGetArrayRead(pb->mtrue, &truth));
  spec.field_truth = truth;
  slash = strrchr(meshpath, '/');
  spec.mesh_file = slash ? slash + 1 : meshpath;
  PetscCall(McPosteriorGetData(pb->post, &d, NULL, NULL));
  PetscCall(VecGetArrayRead(d, &y));
  spec.nobs = pb->nobs;
  spec.y = y;
  spec.sensor_dim = cfg->mesh.dim;
  spec.sensor_coords = pb->obs_coords;
  spec.noise_sigma = pb->sigma;
  spec.config_text = config_text;
  spec.model_hash = model_hash;
  spec.overwrite = PETSC_TRUE; /* derived from the configuration; recomputed by every --map */
  spec.nconstants = rc.n;
  spec.constants = rc.list;
  PetscCall(McOutputCreate(map, &spec, &out));
  PetscCall(VecRestoreArrayRead(d, &y));
  if (truth) PetscCall(VecRestoreArrayRead(pb->mtrue, &truth));
  PetscCall(McRunConstantsFree(&rc));
  PetscCall(PetscFree2(names, buf));
  PetscCall(McProblemGetMesh(pb, &mesh, &coords, &cells));
  PetscCall(McOutputWriteMesh(meshpath, &mesh));
  PetscCall(McOutputWriteXdmf(out, xmf, meshpath, &mesh));
  PetscCall(McOutputClose(&out));
  /* The side-car progress file serves the recovery of draws; this file
   * never gets any. */
  PetscCall(PetscSNPrintf(progress, sizeof progress, "%s.progress", map));
  (void)unlink(progress);
  PetscCall(McFree(&coords));
  PetscCall(McFree(&cells));
  printf("output   %s: MAP point%s (constant_data), %s for ParaView\n", map, lap ? " and Laplace eigenpairs" : "", xmf);
  fflush(stdout);
  PetscFunctionReturn(0);
}
