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
/* What one thread holds while it summarises S draws: the draws, and
 * McDiagSummarize's sort records, ranks, split chains and FFT buffers. */
#define MC_DIAG_BYTES_PER_DRAW (16 * sizeof(PetscReal))

PetscInt McDiagThreads_Private(PetscInt S, PetscInt n)
{
  PetscInt t = 1;

#ifdef _OPENMP
  t = omp_get_max_threads();
#endif
  t = PetscMin(t, (PetscInt)(MC_DIAG_THREAD_BYTES / ((size_t)PetscMax(S, 1) * MC_DIAG_BYTES_PER_DRAW)));
  return PetscMax(1, PetscMin(t, n));
}

/* One quantity: its draws from column `at` of the read block (if any), then
 * its summary. */
static PetscErrorCode One(PetscInt C, PetscInt N, const PetscReal *buf, PetscInt w, PetscInt at, McDiagVar *v,
                          PetscBool summarize)
{
  PetscFunctionBeginUser;
  if (buf) {
    PetscCall(PetscMalloc1(C * N, &v->x));
    for (PetscInt k = 0; k < C * N; k++)
      v->x[k] = buf[k * w + at];
  }
  if (summarize && v->x) {
    PetscCall(McDiagSummarize(C, N, v->x, &v->s));
    PetscCall(PetscFree(v->x));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McDiagVarsProcess_Private(PetscInt C, PetscInt N, const PetscReal *buf, PetscInt w, const PetscInt *at,
                                         PetscInt n, McDiagVar *vars, PetscBool summarize)
{
  PetscErrorCode ierr = 0;
  PetscInt       T = summarize ? McDiagThreads_Private(C * N, n) : 1;

  PetscFunctionBeginUser;
  (void)T;
#ifdef _OPENMP
#pragma omp parallel for num_threads(T) schedule(dynamic)
#endif
  for (PetscInt k = 0; k < n; k++) {
    PetscErrorCode e, failed;
#ifdef _OPENMP
#pragma omp atomic read
#endif
    failed = ierr;
    if (failed) continue; /* the first error (already printed) ends the work */
    e = One(C, N, buf, w, at ? at[k] : 0, &vars[k], summarize);
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
