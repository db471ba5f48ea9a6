/* Where a run's chains run: the world split into chain groups, each with
 * its own communicator, and the agreement of the ranks at a round's end.
 *
 * The one idea: chain c's draws depend only on the seed and c (its random
 * stream) and on a problem that is the same on every group, so the layout
 * is free to change between runs (and between a run and its --resume)
 * without changing a single draw when R = 1, and to solver tolerance when a
 * chain runs on R > 1 ranks (its random numbers are drawn in the natural
 * numbering of the mesh, fem's McVecFillNatural). */
#include "app/app.h"

#include <string.h>

/* The line of `key` in [section] of a TOML text (0: not found). A plain
 * scan is enough: the configuration already parsed, keys are bare. */
static int KeyLine(const char *text, const char *section, const char *key)
{
  int         line = 1, in = section[0] == '\0';
  size_t      kl = strlen(key), sl = strlen(section);
  const char *p = text;

  if (!text) return 0;
  while (*p) {
    const char *q = p;
    while (*q == ' ' || *q == '\t')
      q++;
    if (*q == '[')
      in = !strncmp(q + 1, section, sl) && q[1 + sl] == ']';
    else if (in && !strncmp(q, key, kl) && (q[kl] == ' ' || q[kl] == '=' || q[kl] == '\t'))
      return line;
    p = strchr(p, '\n');
    if (!p) break;
    p++;
    line++;
  }
  return 0;
}

static void Where(const McConfig *cfg, const char *text, const char *section, const char *key, char *buf, size_t len)
{
  int line = KeyLine(text, section, key);

  if (line)
    snprintf(buf, len, "%s:%d", cfg->source, line);
  else
    snprintf(buf, len, "%s", cfg->source);
}

/* What a chain can do on several ranks (R > 1): its state, proposals and
 * output travel in the natural numbering of a P1 field on a distributed
 * mesh (fem's McVec*Natural). Kernels that keep a dense covariance of the
 * whole parameter vector (rwm, am) or a Laplace basis (hpcn, hmala, dili,
 * dr, hhmc; start = "map" or "laplace"), KL coordinates, a P2 parameter field and
 * a remote model have no distributed form yet: refused at set-up, naming
 * the key. */
static PetscErrorCode CheckDistributable(const McConfig *cfg, const char *text, int R, char *msg, size_t len,
                                         PetscBool *valid)
{
  const char        *kernel = McKernelKindName(cfg->sampler.kernel);
  char               where[PETSC_MAX_PATH_LEN + 32];

  PetscFunctionBeginUser;
  *valid = PETSC_FALSE;
  if (strcmp(kernel, MC_KERNEL_PCN) && strcmp(kernel, MC_KERNEL_MALA) && strcmp(kernel, MC_KERNEL_INFMALA) &&
      strcmp(kernel, MC_KERNEL_INFHMC)) {
    Where(cfg, text, "sampler", "kernel", where, sizeof where);
    snprintf(msg, len,
             "%s: [sampler] kernel = \"%s\" cannot run with [parallel] ranks_per_chain = %d (its %s is not "
             "distributed); use pcn, mala, infmala or infhmc, or ranks_per_chain = 1",
             where, kernel, R,
             !strcmp(kernel, MC_KERNEL_RWM) || !strcmp(kernel, MC_KERNEL_AM) ? "dense proposal covariance"
                                                                            : "Laplace basis");
  } else if (McStartNeedsMAP(cfg->sampler.start)) {
    Where(cfg, text, "sampler", "start", where, sizeof where);
    snprintf(msg, len,
             "%s: [sampler] start = \"%s\" cannot run with [parallel] ranks_per_chain = %d (the MAP and Laplace "
             "approximation are not distributed); use start = \"prior_mean\" or \"prior\", or ranks_per_chain = 1",
             where, cfg->sampler.start == MC_START_MAP ? "map" : "laplace", R);
  } else if (cfg->model.kind != MC_MODEL_PDE) {
    Where(cfg, text, "model", "kind", where, sizeof where);
    snprintf(msg, len,
             "%s: [model] kind = \"umbridge\" cannot run with [parallel] ranks_per_chain = %d (a remote model has "
             "no mesh to distribute); set ranks_per_chain = 1",
             where, R);
  } else if (cfg->prior.kl_modes > 0) {
    Where(cfg, text, "prior", "kl_modes", where, sizeof where);
    snprintf(msg, len,
             "%s: [prior] kl_modes = %d cannot run with [parallel] ranks_per_chain = %d (the KL basis is not "
             "distributed); set kl_modes = 0 or ranks_per_chain = 1",
             where, (int)cfg->prior.kl_modes, R);
  } else if (cfg->fem.parameter_order != 1) {
    Where(cfg, text, "fem", "parameter_order", where, sizeof where);
    snprintf(msg, len,
             "%s: [fem] parameter_order = %d cannot run with [parallel] ranks_per_chain = %d (only a P1 field has "
             "a natural numbering across ranks); set parameter_order = 1 or ranks_per_chain = 1",
             where, (int)cfg->fem.parameter_order, R);
  } else *valid = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode McLayoutCreate(const McConfig *cfg, const char *text, McLayout *lay, char *msg, size_t len,
                              PetscBool *valid)
{
  char where[PETSC_MAX_PATH_LEN + 32];

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(lay, sizeof *lay));
  lay->comm = MPI_COMM_NULL;
  *valid = PETSC_TRUE;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &lay->rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &lay->size));
  lay->R = cfg->parallel.ranks_per_chain;
  if (lay->R > 1) {
    PetscCall(CheckDistributable(cfg, text, (int)lay->R, msg, len, valid));
    if (!*valid) PetscFunctionReturn(0);
  }
  if (lay->size % lay->R) {
    Where(cfg, text, "parallel", "ranks_per_chain", where, sizeof where);
    snprintf(msg, len, "%s: [parallel] ranks_per_chain = %d does not divide the %d MPI ranks started", where,
             (int)lay->R, (int)lay->size);
    *valid = PETSC_FALSE;
    PetscFunctionReturn(0);
  }
  lay->C = cfg->chain.chains > 0 ? cfg->chain.chains : lay->size / lay->R;
  lay->G = lay->size / lay->R;
  if (lay->G > lay->C) {
    Where(cfg, text, "chain", "chains", where, sizeof where);
    snprintf(msg, len,
             "%s: [chain] chains = %d for %d MPI ranks (%d per chain): %d rank%s would idle; start at most %d ranks, "
             "or raise chains",
             where, (int)lay->C, (int)lay->size, (int)lay->R, (int)((lay->G - lay->C) * lay->R),
             (lay->G - lay->C) * lay->R > 1 ? "s" : "", (int)(lay->C * lay->R));
    *valid = PETSC_FALSE;
    PetscFunctionReturn(0);
  }
  lay->group = lay->rank / lay->R;
  PetscCallMPI(MPI_Comm_split(PETSC_COMM_WORLD, (int)lay->group, lay->rank, &lay->comm));
  PetscCall(PetscMalloc2(lay->C, &lay->chains, lay->C, &lay->chain_rank));
  for (PetscInt c = 0; c < lay->C; c++) {
    lay->chain_rank[c] = (PetscMPIInt)((c % lay->G) * lay->R);
    if (c % lay->G == lay->group) lay->chains[lay->nc++] = c;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McLayoutDestroy(McLayout *lay)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree2(lay->chains, lay->chain_rank));
  if (lay->comm != MPI_COMM_NULL) PetscCallMPI(MPI_Comm_free(&lay->comm));
  lay->nc = 0;
  PetscFunctionReturn(0);
}

PetscErrorCode McLayoutAgree(const McLayout *lay, PetscInt n, int *flags)
{
  PetscFunctionBeginUser;
  if (lay->size > 1)
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, flags, (PetscMPIInt)n, MPI_INT, MPI_MAX, PETSC_COMM_WORLD));
  PetscFunctionReturn(0);
}
