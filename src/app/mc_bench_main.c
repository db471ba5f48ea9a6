/* mc-bench: one benchmark row. Samples a configuration exactly as mcmc-run
 * does (McRunSample, with the run's own timers: McRunStats), then, in the
 * same process, times the bare forward solve of the same problem, and
 * writes every measurement as one JSON object. scripts/bench runs it for
 * each problem and kernel and makes the table.
 *
 * The one idea: the ratio step / bare forward is only honest when both
 * sides run on the same problem, solver options and machine state, so the
 * bare forward is measured here, after the run (its [solver] options are
 * then in PETSc's options database), on a problem built from the same
 * configuration: McForwardSolve on fields drawn from the prior, split into
 * re-assembly, numeric factorisation and solve by McForwardGetTimes.
 *
 * Under mpiexec the chains run on several ranks as in mcmc-run; rank 0
 * writes the JSON with the slowest rank's times and no bare forward solve.
 *
 * Usage: mc-bench CONFIG [--iterations N] [--forward-steps K] [--json FILE] [PETSc options] */
#include "app/app.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <petscsys.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The bare forward model of the problem, per solve (seconds). */
typedef struct {
  PetscInt       steps, dofs, nparams, nobs;
  PetscLogDouble assembly, factorisation, solve, total, prior;
  PetscLogDouble total_cpu; /* CPU time of the McForwardSolve calls */
  char           solver[64];
} Bare;

static PetscLogDouble CpuSeconds(void)
{
  struct timespec ts;

  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)) return 0;
  return (PetscLogDouble)ts.tv_sec + 1e-9 * (PetscLogDouble)ts.tv_nsec;
}

static PetscErrorCode SolverName(McForward fw, char *buf, size_t len)
{
  KSP           ksp;
  PC            pc;
  PCType        pctype;
  KSPType       ksptype;
  MatSolverType stype = NULL;
  PetscBool     lu, chol;

  PetscFunctionBeginUser;
  PetscCall(McForwardGetKSP(fw, &ksp));
  PetscCall(KSPGetType(ksp, &ksptype));
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PCGetType(pc, &pctype));
  PetscCall(PetscStrcmp(pctype, PCLU, &lu));
  PetscCall(PetscStrcmp(pctype, PCCHOLESKY, &chol));
  if (lu || chol) PetscCall(PCFactorGetMatSolverType(pc, &stype));
  PetscCall(PetscSNPrintf(buf, len, "%s/%s%s%s", ksptype, pctype, stype ? "/" : "", stype ? stype : ""));
  PetscFunctionReturn(0);
}

/* Times `steps` forward solves (after 3 untimed ones) on fields m = m0 + L xi,
 * xi ~ N(0, s^2 I) with s cycling through a few scales (the numbers change
 * every solve, so every solve really refactorises), and the prior solve
 * m = m0 + L xi itself, which every sampler step also does. Stops early
 * after 2 s of solves (at least 10 timed). */
static PetscErrorCode BareForward(const char *config, PetscInt steps, Bare *b, int *code)
{
  McConfig      *cfg = NULL;
  McProblem     *pb = NULL;
  char           msg[1024];
  PetscBool      valid, ok;
  Vec            xi, m, u;
  gsl_rng       *rng;
  PetscScalar   *x;
  PetscInt       n;
  McForwardTimes tm;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(b, sizeof(*b)));
  PetscCall(McConfigCreate(&cfg));
  PetscCall(McConfigLoad(cfg, config, msg, sizeof(msg), &valid));
  if (valid) PetscCall(McProblemCreate(cfg, &pb, msg, sizeof(msg), &valid));
  if (!valid) {
    fprintf(stderr, "mc-bench: %s\n", msg);
    *code = MC_EXIT_USAGE;
    if (pb) PetscCall(McProblemDestroy(&pb));
    PetscCall(McConfigDestroy(&cfg));
    PetscFunctionReturn(0);
  }
  rng = gsl_rng_alloc(gsl_rng_mt19937);
  PetscCheck(rng, PETSC_COMM_SELF, PETSC_ERR_MEM, "cannot allocate a GSL random number generator");
  gsl_rng_set(rng, 7);
  PetscCall(McPriorCreateVector(pb->prior, &xi));
  PetscCall(VecDuplicate(xi, &m));
  PetscCall(VecGetLocalSize(xi, &n));
  PetscCall(McForwardGetState(pb->fw, &u));
  PetscCall(VecGetSize(u, &b->dofs));
  b->nparams = pb->nparams;
  b->nobs = pb->nobs;
  PetscCall(SolverName(pb->fw, b->solver, sizeof(b->solver)));
  for (PetscInt k = -3; k < steps; k++) {
    const PetscReal scale[4] = {1.0, 0.5, 0.8, 0.3};
    PetscLogDouble  t0, t1, c0, c1;
    PetscCall(VecGetArray(xi, &x));
    for (PetscInt i = 0; i < n; i++)
      x[i] = scale[(k + 3) % 4] * gsl_ran_gaussian_ziggurat(rng, 1.0);
    PetscCall(VecRestoreArray(xi, &x));
    PetscCall(PetscTime(&t0));
    PetscCall(McPriorUnwhiten(pb->prior, xi, m));
    PetscCall(PetscTime(&t1));
    c0 = CpuSeconds();
    PetscCall(McForwardSolve(pb->fw, m, &ok));
    c1 = CpuSeconds();
    PetscCheck(ok, PETSC_COMM_SELF, PETSC_ERR_NOT_CONVERGED, "%s: the bare forward solve failed on a prior sample",
               config);
    if (k < 0) continue; /* warm-up: caches, first-use allocations */
    PetscCall(McForwardGetTimes(pb->fw, &tm));
    b->prior += t1 - t0;
    b->assembly += tm.assembly;
    b->factorisation += tm.factorisation;
    b->solve += tm.solve;
    b->total += tm.total;
    b->total_cpu += c1 - c0;
    b->steps++;
    if (b->steps >= 10 && b->total > 2.0) break;
  }
  gsl_rng_free(rng);
  PetscCall(VecDestroy(&xi));
  PetscCall(VecDestroy(&m));
  PetscCall(McProblemDestroy(&pb));
  PetscCall(McConfigDestroy(&cfg));
  PetscCall(McGCCollect(2, NULL));
  PetscFunctionReturn(0);
}

/* A JSON number; non-finite values become null (JSON has no NaN). */
static void Num(FILE *f, const char *key, double v, const char *sep)
{
  if (v == v && v - v == 0)
    fprintf(f, "  \"%s\": %.9g%s\n", key, v, sep);
  else
    fprintf(f, "  \"%s\": null%s\n", key, sep);
}

static PetscErrorCode WriteJSON(FILE *f, const char *config, const McRunStats *st, const Bare *b, int ranks)
{
  double its = st->iterations > 0 ? (double)st->iterations : 1.0;
  double bare = b->steps ? (b->factorisation + b->solve) / b->steps : 0;

  PetscFunctionBeginUser;
  fprintf(f, "{\n  \"config\": \"%s\",\n  \"solver\": \"%s\",\n", config, b->solver);
  Num(f, "ranks", (double)ranks, ",");
  /* Samples per second of the slowest rank's CPU time in the loop: what
   * the wall clock would give with a core per rank (waiting in MPI polls,
   * so it counts as CPU time too). */
  Num(f, "samples_per_s_cpu", st->loop_cpu > 0 ? its / st->loop_cpu : 0, ",");
  Num(f, "dofs", (double)b->dofs, ",");
  Num(f, "nparams", (double)b->nparams, ",");
  Num(f, "nobs", (double)b->nobs, ",");
  Num(f, "iterations", (double)st->iterations, ",");
  Num(f, "burn_in", (double)st->burn_in, ",");
  Num(f, "loop_s", st->loop, ",");
  Num(f, "samples_per_s", st->loop > 0 ? its / st->loop : 0, ",");
  Num(f, "step_ms", 1e3 * st->loop / its, ",");
  Num(f, "kernel_ms", 1e3 * st->steps / its, ",");
  Num(f, "collection_us", 1e6 * st->collection / its, ",");
  Num(f, "output_us", 1e6 * st->output / its, ",");
  Num(f, "bare_steps", (double)b->steps, ",");
  Num(f, "bare_fwd_ms", 1e3 * bare, ",");
  Num(f, "assembly_ms", b->steps ? 1e3 * b->assembly / b->steps : 0, ",");
  Num(f, "factorisation_ms", b->steps ? 1e3 * b->factorisation / b->steps : 0, ",");
  Num(f, "solve_ms", b->steps ? 1e3 * b->solve / b->steps : 0, ",");
  Num(f, "forward_total_ms", b->steps ? 1e3 * b->total / b->steps : 0, ",");
  Num(f, "prior_solve_ms", b->steps ? 1e3 * b->prior / b->steps : 0, ",");
  Num(f, "ratio", bare > 0 ? (st->loop / its) / bare : 0, ",");
  /* The same ratio on CPU time, which other jobs on a shared machine do not
   * inflate: the bare forward's CPU time is split between re-assembly and
   * factorisation + solve as its wall time is. */
  Num(f, "step_cpu_ms", 1e3 * st->loop_cpu / its, ",");
  Num(f, "bare_fwd_cpu_ms", b->total > 0 ? 1e3 * bare * b->total_cpu / b->total : 0, ",");
  Num(f, "ratio_cpu", b->total_cpu > 0 && bare > 0 ? (st->loop_cpu / its) / (bare * b->total_cpu / b->total) : 0, ",");
  fprintf(f, "  \"allocs_measured\": %s,\n", st->baseline ? "true" : "false");
  Num(f, "alloc_baseline_iteration", (double)st->base_it, ",");
  Num(f, "allocs_project_per_it", st->baseline ? st->allocs_project : (double)NAN, ",");
  Num(f, "allocs_petsc_per_it", st->baseline ? st->allocs_petsc : (double)NAN, ",");
  Num(f, "factorisations_per_it", st->baseline ? st->factorisations : (double)NAN, ",");
  Num(f, "rss_start_bytes", (double)st->rss_start, ",");
  Num(f, "rss_end_bytes", (double)st->rss_end, ",");
  Num(f, "acceptance", st->acceptance, ",");
  Num(f, "failed", (double)st->failed, "");
  fprintf(f, "}\n");
  PetscFunctionReturn(0);
}

static PetscErrorCode Bench(const char *config, const McRunOptions *opt, PetscInt fsteps, const char *json, int *code)
{
  McRunStats  st;
  Bare        b;
  FILE       *f;
  PetscMPIInt size, rank;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(&st, sizeof(st)));
  PetscCall(McRunSample(config, opt, code));
  if (*code != MC_EXIT_OK) PetscFunctionReturn(0);
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (size > 1) {
    /* The chains run on several ranks: the run's times are the slowest
     * rank's; the bare forward solve (one rank's problem) is measured by
     * the one-rank row. */
    PetscCall(PetscMemzero(&b, sizeof b));
    PetscCall(PetscStrncpy(b.solver, "(one-rank row)", sizeof b.solver));
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &opt->stats->loop, 1, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD));
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &opt->stats->loop_cpu, 1, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD));
    if (rank) PetscFunctionReturn(0);
  } else {
    PetscCall(BareForward(config, fsteps, &b, code));
    if (*code != MC_EXIT_OK) PetscFunctionReturn(0);
  }
  f = json ? fopen(json, "w") : stdout;
  PetscCheck(f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "mc-bench: cannot write %s", json);
  PetscCall(WriteJSON(f, config, opt->stats, &b, (int)size));
  if (json) fclose(f);
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char         **own = calloc((size_t)argc + 1, sizeof(char *));
  char         **petsc = calloc((size_t)argc + 1, sizeof(char *));
  int            nown = 0, npetsc, code = MC_EXIT_OK;
  const char    *config = NULL, *json = NULL;
  long           fsteps = 100;
  McRunStats     st;
  McRunOptions   opt = {MC_RUN_SAMPLE, PETSC_TRUE, PETSC_TRUE, 0, &st, NULL, NULL, -1, NULL};
  PetscErrorCode ierr;

  if (!own || !petsc) return MC_EXIT_RUNTIME;
  npetsc = McSplitArgs(argc, argv, own, &nown, petsc);
  for (int i = 1; i < nown; i++) {
    const char *a = own[i];
    if ((!strcmp(a, "--iterations") || !strcmp(a, "--forward-steps")) && i + 1 < nown) {
      char *end;
      long  v = strtol(own[++i], &end, 10);
      if (*end || v < 1 || v > 1000000000) {
        fprintf(stderr, "mc-bench: %s needs a whole number in [1, 1e9], got '%s'\n", a, own[i]);
        code = MC_EXIT_USAGE;
        goto done;
      }
      if (a[2] == 'i')
        opt.iterations = (PetscInt)v;
      else
        fsteps = v;
    } else if (!strcmp(a, "--json") && i + 1 < nown) {
      json = own[++i];
    } else if (a[0] == '-' || config) {
      fprintf(stderr, "usage: mc-bench CONFIG [--iterations N] [--forward-steps K] [--json FILE] [PETSc options]\n");
      code = MC_EXIT_USAGE;
      goto done;
    } else {
      config = a;
    }
  }
  if (!config) {
    fprintf(stderr, "usage: mc-bench CONFIG [--iterations N] [--forward-steps K] [--json FILE] [PETSc options]\n");
    code = MC_EXIT_USAGE;
    goto done;
  }
  /* As McRunMain: the counting hooks before PETSc's first allocation. */
  if (McMemInstallPetscHooks()) {
    code = MC_EXIT_RUNTIME;
    goto done;
  }
  ierr = PetscInitialize(&npetsc, &petsc, NULL, NULL);
  if (ierr) {
    code = MC_EXIT_RUNTIME;
    goto done;
  }
  gsl_set_error_handler_off();
  ierr = Bench(config, &opt, (PetscInt)fsteps, json, &code);
  if (ierr) code = MC_EXIT_RUNTIME;
  ierr = PetscFinalize();
  if (ierr && code == MC_EXIT_OK) code = MC_EXIT_RUNTIME;
done:
  free(own);
  free(petsc);
  return code;
}
