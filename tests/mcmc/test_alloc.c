/* Zero allocations per iteration in steady state: after set-up and a short
 * warm-up, 10^4 iterations of every kernel (crossing the end of burn-in, am
 * learning its covariance, draws going to a sink, progress reports, a
 * checkpoint saved every 1000 iterations) make no call to PETSc's allocator.
 * PETSc's allocation entry points are function pointers (PetscTrMalloc,
 * PetscTrFree, PetscTrRealloc); the test wraps them with counters. */
#include "mcmc/mcmc.h"
#include "mctest.h"

static long nmalloc, nfree;
static PetscErrorCode (*real_malloc)(size_t, PetscBool, int, const char[], const char[], void **);
static PetscErrorCode (*real_free)(void *, int, const char[], const char[]);
static PetscErrorCode (*real_realloc)(size_t, int, const char[], const char[], void **);

static PetscErrorCode CountMalloc(size_t n, PetscBool clear, int line, const char f[], const char file[], void **p)
{
  nmalloc++;
  return real_malloc(n, clear, line, f, file, p);
}

static PetscErrorCode CountFree(void *p, int line, const char f[], const char file[])
{
  if (p) nfree++;
  return real_free(p, line, f, file);
}

static PetscErrorCode CountRealloc(size_t n, int line, const char f[], const char file[], void **p)
{
  nmalloc++;
  return real_realloc(n, line, f, file, p);
}

static PetscErrorCode Progress(void *ctx, const McProgress *p)
{
  PetscFunctionBeginUser;
  *(PetscReal *)ctx += p->acceptance;
  PetscFunctionReturn(0);
}

static PetscErrorCode Check(McTarget t, const char *kernel)
{
  McKernel      k;
  McChain       c;
  McSink        s;
  McCheckpoint *ck;
  PetscReal     acc = 0;
  long          m0, f0;

  PetscFunctionBeginUser;
  PetscCall(McKernelCreate(t, kernel, &k));
  if (!strcmp(kernel, MC_KERNEL_AM)) PetscCall(McKernelSetParameter(k, "t0", 100));
  PetscCall(McChainCreate(k, &c));
  PetscCall(McChainSetIterations(c, 12000, 5000, 2));
  PetscCall(McChainSetSeed(c, 4, 0));
  PetscCall(McSinkCreateMemory(20, 0, 6000, &s));
  PetscCall(McChainSetSink(c, s));
  PetscCall(McChainSetProgress(c, Progress, &acc, 500));
  PetscCall(McChainSetUp(c));
  PetscCall(McCheckpointCreate(c, &ck));
  PetscCall(McChainRunSteps(c, 1000));
  m0 = nmalloc;
  f0 = nfree;
  for (int i = 0; i < 10; i++) {
    PetscCall(McChainRunSteps(c, 1000));
    PetscCall(McChainCheckpointSave(c, ck));
  }
  CHECK(nmalloc == m0 && nfree == f0, "%s: %ld allocations and %ld frees in 10^4 iterations", kernel, nmalloc - m0,
        nfree - f0);
  CHECK(ck->iteration == 11000, "%s: checkpoint at %d", kernel, (int)ck->iteration);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s: %ld allocations, %ld frees in 10^4 iterations\n", kernel,
                        nmalloc - m0, nfree - f0));
  PetscCall(McCheckpointDestroy(&ck));
  PetscCall(McChainDestroy(&c));
  PetscCall(McKernelDestroy(&k));
  PetscCall(McSinkDestroy(&s));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  const char *kernels[5] = {MC_KERNEL_PCN, MC_KERNEL_RWM, MC_KERNEL_AM, MC_KERNEL_MALA, MC_KERNEL_INFMALA};
  PetscReal   A[10 * 20], y[10], sigma[10];
  McTarget    t;
  McRng       r;
  long        before;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  real_malloc = PetscTrMalloc;
  real_free = PetscTrFree;
  real_realloc = PetscTrRealloc;
  PetscTrMalloc = CountMalloc;
  PetscTrFree = CountFree;
  PetscTrRealloc = CountRealloc;
  PetscCall(McRngCreate(1, 0, &r));
  McRngGaussianArray(r, 200, A);
  McRngGaussianArray(r, 10, y);
  for (int i = 0; i < 10; i++) sigma[i] = 0.3;
  PetscCall(McRngDestroy(&r));
  PetscCall(McTargetCreateLinearGaussian(20, 10, A, y, sigma, &t));
  /* The counters see allocations at all (so a zero below means something). */
  before = nmalloc;
  for (int i = 0; i < 5; i++) PetscCall(Check(t, kernels[i]));
  CHECK(nmalloc - before > 20, "the allocation counter saw only %ld allocations during set-up", nmalloc - before);
  PetscCall(McTargetDestroy(&t));
  PetscTrMalloc = real_malloc;
  PetscTrFree = real_free;
  PetscTrRealloc = real_realloc;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%d failures\n", failures));
  PetscCall(PetscFinalize());
  return failures != 0;
}
