/* mcmc-diag: the quantities' summaries, in parallel. Every quantity's
 * summary is independent of the others and most of mcmc-diag's time (a
 * sort and four FFT-based ESS over all its draws), so the quantities of one
 * read block are shared among OpenMP threads: OMP_NUM_THREADS of them (by
 * default one per core), fewer when their working memory would pass
 * MC_DIAG_THREAD_BYTES. The results do not depend on the number of
 * threads: each quantity is summarised by one thread, start to end. */
#include "app/diag_impl.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* The working memory of all threads together, at most. */
#define MC_DIAG_THREAD_BYTES ((size_t)4 << 30)
/* Quantities handled together by one thread: their draws are gathered
 * from the read block's rows in one pass, a cache line of each row serving
 * them all (one at a time, each draw cost a cache miss). */
#define MC_DIAG_GROUP 8
/* What one thread holds while it summarises S draws: its group's draws,
 * and McDiagSummarize's sort records, ranks, split chains and FFT buffers. */
#define MC_DIAG_BYTES_PER_DRAW ((MC_DIAG_GROUP + 16) * sizeof(PetscReal))

PetscInt McDiagThreads_Private(PetscInt S, PetscInt n)
{
  PetscInt t = 1;

#ifdef _OPENMP
  t = omp_get_max_threads();
#endif
  t = PetscMin(t, (PetscInt)(MC_DIAG_THREAD_BYTES / ((size_t)PetscMax(S, 1) * MC_DIAG_BYTES_PER_DRAW)));
  return PetscMax(1, PetscMin(t, n));
}

/* Quantities k0 .. k1-1: their draws from columns at[k] of the read
 * block, then their summaries. */
static PetscErrorCode Group(PetscInt C, PetscInt N, const PetscReal *buf, PetscInt w, const PetscInt *at, PetscInt k0,
                            PetscInt k1, McDiagVar *vars)
{
  PetscFunctionBeginUser;
  for (PetscInt k = k0; k < k1; k++)
    PetscCall(PetscMalloc1(C * N, &vars[k].x));
  for (PetscInt r = 0; r < C * N; r++)
    for (PetscInt k = k0; k < k1; k++)
      vars[k].x[r] = buf[r * w + at[k]];
  for (PetscInt k = k0; k < k1; k++) {
    PetscCall(McDiagSummarize(C, N, vars[k].x, &vars[k].s));
    PetscCall(PetscFree(vars[k].x));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McDiagVarsProcess_Private(PetscInt C, PetscInt N, const PetscReal *buf, PetscInt w, const PetscInt *at,
                                         PetscInt n, McDiagVar *vars)
{
  PetscErrorCode ierr = 0;
  PetscInt       ng = (n + MC_DIAG_GROUP - 1) / MC_DIAG_GROUP, T = McDiagThreads_Private(C * N, ng);

  PetscFunctionBeginUser;
  (void)T;
#ifdef _OPENMP
#pragma omp parallel for num_threads(T) schedule(dynamic)
#endif
  for (PetscInt g = 0; g < ng; g++) {
    PetscErrorCode e, failed;
#ifdef _OPENMP
#pragma omp atomic read
#endif
    failed = ierr;
    if (failed) continue; /* the first error (already printed) ends the work */
    e = Group(C, N, buf, w, at, g * MC_DIAG_GROUP, PetscMin(n, (g + 1) * MC_DIAG_GROUP), vars);
    if (e) {
#ifdef _OPENMP
#pragma omp critical(mc_diag_error)
#endif
      if (!ierr) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
        ierr = e;
      }
    }
  }
  PetscCall(ierr);
  PetscFunctionReturn(0);
}
