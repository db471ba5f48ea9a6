/* mc-bench-umbridge CONFIG URL [N [remote]]: the cost of UM-Bridge on loopback.
 * Evaluates the log posterior of CONFIG's problem N times in process, then
 * N times through the UM-Bridge client against URL (an mcmc-run --serve of
 * the same CONFIG), at the same two alternating points, and prints one
 * table: evaluations per second each way, the per-call overhead of the
 * protocol (HTTP + JSON both ways) and the ratio. The remote answers are
 * checked against the in-process ones (the same numbers, bit for bit).
 * With "remote", only the N requests (a memory soak of the server). */
#include "app/app.h"

#include <stdlib.h>
#include <string.h>
#include <math.h>

int main(int argc, char **argv)
{
  McConfig         *cfg;
  McProblem        *pb;
  McUmbClient       c;
  McUmbStatus       st;
  McPosteriorStatus pst;
  Vec               xi[2];
  PetscReal        *x[2], lp[2], out, phi;
  PetscScalar      *a, xi2;
  PetscLogDouble    t0, t1, t2;
  char              msg[2048];
  PetscBool         valid;
  PetscInt          N = 2000, Nlocal;
  int               mismatches = 0;

  if (McMemInstallPetscHooks()) return 1;
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCheck(argc >= 3, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "usage: mc-bench-umbridge CONFIG URL [N]");
  if (argc > 3) N = atoi(argv[3]);
  Nlocal = argc > 4 && !strcmp(argv[4], "remote") ? 2 : N;
  PetscCall(McConfigCreate(&cfg));
  PetscCall(McConfigLoad(cfg, argv[1], msg, sizeof(msg), &valid));
  PetscCheck(valid, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "%s", msg);
  PetscCall(McRunApplySolverOptions(cfg));
  PetscCall(McProblemCreate(cfg, &pb, msg, sizeof(msg), &valid));
  PetscCheck(valid, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "%s", msg);
  {
    McUmbClientSpec spec = {argv[2], "posterior", "{}", 60.0, 0, 0.0};
    PetscCall(McUmbClientCreate(&spec, &c, msg, sizeof(msg), &valid));
    PetscCheck(valid, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "%s", msg);
  }
  for (int k = 0; k < 2; k++) {
    PetscCall(McPriorCreateVector(pb->prior, &xi[k]));
    PetscCall(VecGetArray(xi[k], &a));
    for (PetscInt i = 0; i < pb->nparams; i++)
      a[i] = 0.3 * sin(0.7 * (double)i + k);
    PetscCall(VecRestoreArray(xi[k], &a));
    PetscCall(VecGetArray(xi[k], &x[k]));
  }

  PetscCall(PetscTime(&t0));
  for (PetscInt n = 0; n < Nlocal; n++) {
    int k = (int)(n % 2);
    PetscCall(VecRestoreArray(xi[k], &x[k]));
    PetscCall(McPosteriorPotential(pb->post, xi[k], &phi, &pst));
    PetscCall(VecDot(xi[k], xi[k], &xi2));
    PetscCall(VecGetArray(xi[k], &x[k]));
    lp[k] = -phi - 0.5 * xi2;
  }
  PetscCall(PetscTime(&t1));
  for (PetscInt n = 0; n < N; n++) {
    int k = (int)(n % 2);
    PetscCall(McUmbClientEvaluate(c, x[k], &out, &st));
    PetscCheck(st == MC_UMB_OK, PETSC_COMM_SELF, PETSC_ERR_LIB, "%s", McUmbClientGetError(c));
    if (out != lp[k]) mismatches++;
  }
  PetscCall(PetscTime(&t2));
  {
    double local = Nlocal / (t1 - t0), remote = N / (t2 - t1);
    printf("%-34s %10s %12s\n", "log posterior, P1 nodal", "evals/s", "ms per eval");
    printf("%-34s %10.0f %12.3f\n", "in process", local, 1e3 / local);
    printf("%-34s %10.0f %12.3f\n", "UM-Bridge over loopback", remote, 1e3 / remote);
    printf("%-34s %10s %12.3f\n", "protocol overhead per call", "", 1e3 / remote - 1e3 / local);
    printf("%-34s %10.2f\n", "ratio in process / loopback", local / remote);
    printf("%d parameters, %d evaluations each way, %d remote values differing from the in-process ones\n",
           (int)pb->nparams, (int)N, mismatches);
  }
  for (int k = 0; k < 2; k++) {
    PetscCall(VecRestoreArray(xi[k], &x[k]));
    PetscCall(VecDestroy(&xi[k]));
  }
  PetscCall(McUmbClientDestroy(&c));
  PetscCall(McProblemDestroy(&pb));
  PetscCall(McConfigDestroy(&cfg));
  PetscCall(PetscFinalize());
  return mismatches != 0;
}
