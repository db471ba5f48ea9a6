/* Zero allocations per iteration in steady state: after set-up and a short
 * warm-up, 10^4 iterations of every kernel (crossing the end of burn-in, am
 * learning its covariance, draws going to a sink, progress reports, a
 * checkpoint saved every 1000 iterations) make no call to the project's
 * allocator nor to PETSc's (counted through the object layer's hooks,
 * installed before PetscInitialize). Destroying everything returns live
 * objects and bytes to where they were. */
#include "mcmc/mcmc.h"
#include "obj/obj.h"
#include "mctest.h"

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
  PetscInt64    p0, q0, p1, q1;

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
  PetscCall(McMemAllocCount(&p0, &q0));
  for (int i = 0; i < 10; i++) {
    PetscCall(McChainRunSteps(c, 1000));
    PetscCall(McChainCheckpointSave(c, ck));
  }
  PetscCall(McMemAllocCount(&p1, &q1));
  CHECK(p1 == p0 && q1 == q0, "%s: %lld project and %lld PETSc allocations in 10^4 iterations", kernel,
        (long long)(p1 - p0), (long long)(q1 - q0));
  CHECK(ck->iteration == 11000, "%s: checkpoint at %d", kernel, (int)ck->iteration);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s: %lld project, %lld PETSc allocations in 10^4 iterations\n", kernel,
                        (long long)(p1 - p0), (long long)(q1 - q0)));
  PetscCall(McCheckpointDestroy(&ck));
  PetscCall(McChainDestroy(&c));
  PetscCall(McKernelDestroy(&k));
  PetscCall(McSinkDestroy(&s));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  const char *kernels[6] = {MC_KERNEL_PCN,  MC_KERNEL_RWM,     MC_KERNEL_AM,
                            MC_KERNEL_MALA, MC_KERNEL_INFMALA, MC_KERNEL_INFHMC};
  PetscReal   A[10 * 20], y[10], sigma[10];
  McTarget    t;
  McRng       r;
  PetscInt64  objs0, bytes0, objs1, bytes1, p0, q0, p1, q1;
  McMemUsage  u;

  PetscCall(McMemInstallPetscHooks());
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(McMemGetUsage(&u));
  CHECK(u.petsc_hooked, "PETSc's allocations are not counted");
  PetscCall(McMemGetLive(&objs0, &bytes0));
  PetscCall(McMemAllocCount(&p0, &q0));
  PetscCall(McRngCreate(1, 0, &r));
  McRngGaussianArray(r, 200, A);
  McRngGaussianArray(r, 10, y);
  for (int i = 0; i < 10; i++) sigma[i] = 0.3;
  PetscCall(McRngDestroy(&r));
  PetscCall(McTargetCreateLinearGaussian(20, 10, A, y, sigma, &t));
  for (int i = 0; i < 6; i++)
    PetscCall(Check(t, kernels[i]));
  PetscCall(McTargetDestroy(&t));
  PetscCall(McMemAllocCount(&p1, &q1));
  PetscCall(McMemGetLive(&objs1, &bytes1));
  /* The counters saw the set-ups (so the zeros above mean something), and
   * every object and byte came back. */
  CHECK(p1 - p0 > 20 && q1 - q0 > 20, "set-up made only %lld project and %lld PETSc allocations", (long long)(p1 - p0),
        (long long)(q1 - q0));
  CHECK(objs1 == objs0 && bytes1 == bytes0, "live objects %lld -> %lld, bytes %lld -> %lld", (long long)objs0,
        (long long)objs1, (long long)bytes0, (long long)bytes1);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%d failures\n", failures));
  PetscCall(PetscFinalize());
  return failures != 0;
}
