/* mcmc-diag FILE... : the chains of several output files of one model (a
 * job array, runs with other seeds) combined into one data set, as if one
 * file held them all, so that R-hat and ESS compare every chain. The files
 * were read with the same number of used draws per chain (the shortest
 * chain of all of them after --burn), so their draws concatenate chain by
 * chain. What belongs to a process stays per file: the memory trace. */
#include "app/diag_impl.h"

#include <math.h>
#include <string.h>

/* The files must report the same quantities, in the same order, of the
 * same model (mcmc-run's model hash, where the files have one). */
static PetscErrorCode CheckAlike(const McDiagData *a, const McDiagData *b)
{
  PetscFunctionBeginUser;
  PetscCheck(!a->model_hash[0] || !b->model_hash[0] || !strcmp(a->model_hash, b->model_hash), PETSC_COMM_SELF,
             PETSC_ERR_USER_INPUT,
             "%s and %s are runs of different models (their model_hash attributes differ): mcmc-diag combines the "
             "chains of one posterior",
             a->path, b->path);
  PetscCheck(a->nvars == b->nvars, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "%s has %d quantities to report, %s has %d: mcmc-diag combines files with the same quantities", b->path,
             (int)b->nvars, a->path, (int)a->nvars);
  for (PetscInt i = 0; i < a->nvars; i++)
    PetscCheck(!strcmp(a->vars[i].name, b->vars[i].name), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "%s: quantity %d is '%s', in %s it is '%s': mcmc-diag combines files with the same quantities", b->path,
               (int)i + 1, b->vars[i].name, a->path, a->vars[i].name);
  PetscFunctionReturn(0);
}

/* Every file's field summary, one chain after another, if every file has
 * one of the same size (else none: it could not be pooled). */
static PetscErrorCode MergeFields(PetscInt n, McDiagData *parts, McDiagFields *F)
{
  PetscInt C = 0, c0 = 0, nv = parts[0].fields.nv;

  PetscFunctionBeginUser;
  for (PetscInt k = 0; k < n; k++) {
    if (!parts[k].fields.present || parts[k].fields.nv != nv) PetscFunctionReturn(0);
    C += parts[k].fields.C;
  }
  *F = parts[0].fields;
  F->C = C;
  F->truth = parts[0].fields.truth;
  parts[0].fields.truth = NULL;
  PetscCall(PetscMalloc3(C, &F->count, C * nv, &F->mean, C * nv, &F->std));
  for (PetscInt k = 0; k < n; k++) {
    const McDiagFields *p = &parts[k].fields;
    PetscCall(PetscArraycpy(F->count + c0, p->count, p->C));
    PetscCall(PetscArraycpy(F->mean + c0 * nv, p->mean, p->C * nv));
    PetscCall(PetscArraycpy(F->std + c0 * nv, p->std, p->C * nv));
    c0 += p->C;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McDiagDataMerge_Private(PetscInt n, McDiagData *parts, McDiagData *d)
{
  PetscInt C = 0, c0 = 0, N = parts[0].N;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(d, sizeof *d));
  for (PetscInt k = 1; k < n; k++) PetscCall(CheckAlike(&parts[0], &parts[k]));
  for (PetscInt k = 0; k < n; k++) {
    PetscCheck(parts[k].N == N, PETSC_COMM_SELF, PETSC_ERR_PLIB, "%s: read with %d used draws, %s with %d",
               parts[k].path, (int)parts[k].N, parts[0].path, (int)N);
    C += parts[k].C;
  }
  d->C = C;
  d->N = N;
  d->burn = parts[0].burn;
  d->swmr = PETSC_TRUE;
  d->file_draws = parts[0].file_draws;
  d->seconds = 0;
  d->nfiles = n;
  d->nvars = parts[0].nvars;
  PetscCall(PetscStrncpy(d->model_hash, parts[0].model_hash, sizeof d->model_hash));
  PetscCall(PetscCalloc1(n, &d->files));
  PetscCall(PetscMalloc1(C, &d->chains));
  PetscCall(PetscCalloc1(PetscMax(d->nvars, 1), &d->vars));
  for (PetscInt i = 0; i < d->nvars; i++) {
    d->vars[i].name = parts[0].vars[i].name;
    parts[0].vars[i].name = NULL;
  }
  for (PetscInt k = 0; k < n; k++) {
    McDiagData *p = &parts[k];
    McDiagFile *f = &d->files[k];

    *f = (McDiagFile){p->path, p->swmr, p->C, c0, p->file_draws, p->memory};
    PetscCall(PetscMemzero(&p->memory, sizeof p->memory));
    d->swmr = d->swmr && p->swmr ? PETSC_TRUE : PETSC_FALSE;
    d->file_draws = PetscMin(d->file_draws, p->file_draws);
    d->seconds = isnan(d->seconds) || isnan(p->seconds) ? NAN : PetscMax(d->seconds, p->seconds);
    PetscCall(PetscArraycpy(d->chains + c0, p->chains, p->C));
    c0 += p->C;
  }
  PetscCall(MergeFields(n, parts, &d->fields));
  PetscFunctionReturn(0);
}
