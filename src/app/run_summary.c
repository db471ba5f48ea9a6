/* The end-of-run report: per-chain acceptance and timings, the mixing
 * table (ESS, R-hat, ESS/s) read back from the output file, the memory
 * figures and the output line. */
#include "app/run_impl.h"

#include "diag/diag.h"

/* Every chain's end-of-run statistics on the writer; the other ranks send
 * theirs (one gather). Ownership: *all is new (PetscFree), C entries. */
static PetscErrorCode GatherChainStats(Run *r, McChainStats **all)
{
  McChainStats *mine, *buf = NULL;
  PetscMPIInt  *cnt = NULL, *dsp = NULL;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(r->nc, &mine));
  PetscCall(PetscMalloc1(r->C, all));
  for (PetscInt i = 0; i < r->nc; i++)
    PetscCall(McChainGetStats(r->chains[i], &mine[i]));
  if (r->lay.size == 1) {
    PetscCall(PetscArraycpy(*all, mine, r->C));
    PetscCall(PetscFree(mine));
    PetscFunctionReturn(0);
  }
  if (r->lay.rank == 0) {
    PetscCall(PetscCalloc2(r->lay.size, &cnt, r->lay.size, &dsp));
    PetscCall(PetscMalloc1(r->C, &buf));
    for (PetscInt c = 0; c < r->C; c++)
      cnt[r->lay.chain_rank[c]] += (PetscMPIInt)sizeof(McChainStats);
    for (PetscMPIInt q = 1; q < r->lay.size; q++)
      dsp[q] = dsp[q - 1] + cnt[q - 1];
  }
  /* A chain's group of R ranks sends its statistics from its first rank
   * only (chain_rank), as it records its draws. */
  PetscCallMPI(MPI_Gatherv(mine, (PetscMPIInt)(r->lay.rank % r->lay.R ? 0 : r->nc * sizeof(McChainStats)), MPI_BYTE,
                           buf, cnt, dsp, MPI_BYTE, 0, PETSC_COMM_WORLD));
  if (r->lay.rank == 0) { /* rank order -> chain order */
    PetscInt k = 0;
    for (PetscMPIInt q = 0; q < r->lay.size; q++)
      for (PetscInt c = 0; c < r->C; c++)
        if (r->lay.chain_rank[c] == q) (*all)[c] = buf[k++];
  }
  PetscCall(PetscFree(buf));
  PetscCall(PetscFree2(cnt, dsp));
  PetscCall(PetscFree(mine));
  PetscFunctionReturn(0);
}

/* The sum of the kept xi of every chain and their number, on the writer
 * (one reduction: with one rank per chain, xi is whole on every rank).
 * Ownership: *xisum is new (VecDestroy). */
static PetscErrorCode SumXi(Run *r, Vec *xisum, PetscInt *total)
{
  PetscScalar *a;
  PetscInt     n;

  PetscFunctionBeginUser;
  *total = 0;
  PetscCall(McPosteriorCreateParameterVector(r->pb->post, xisum));
  PetscCall(VecSet(*xisum, 0));
  for (PetscInt i = 0; i < r->nc; i++)
    PetscCall(McRunSinkAddMeanXi(r->sinks[i], *xisum, total));
  if (r->lay.R > 1) {
    /* xi is distributed over each group: the groups' sums in the natural
     * numbering on their first ranks, reduced on rank 0 (the others add
     * zeros), and spread over group 0, which maps the mean to the field. */
    PetscInt N, *counted = total, zero = 0;
    PetscCall(VecGetSize(*xisum, &N));
    PetscCall(PetscCalloc1(N + 1, &a));
    PetscCall(McVecGatherNatural(*xisum, a));
    if (r->lay.rank % r->lay.R) {
      PetscCall(PetscArrayzero(a, N));
      counted = &zero;
    }
    PetscCallMPI(
        MPI_Reduce(r->lay.rank ? a : MPI_IN_PLACE, a, (PetscMPIInt)N, MPIU_SCALAR, MPI_SUM, 0, PETSC_COMM_WORLD));
    PetscCallMPI(MPI_Reduce(r->lay.rank ? counted : MPI_IN_PLACE, total, 1, MPIU_INT, MPI_SUM, 0, PETSC_COMM_WORLD));
    if (r->lay.group == 0) {
      PetscCallMPI(MPI_Bcast(a, (PetscMPIInt)N, MPIU_SCALAR, 0, r->lay.comm));
      PetscCallMPI(MPI_Bcast(total, 1, MPIU_INT, 0, r->lay.comm));
      PetscCall(McVecSetNatural(*xisum, a));
    }
    PetscCall(PetscFree(a));
  } else if (r->lay.size > 1) {
    PetscCall(VecGetLocalSize(*xisum, &n));
    PetscCall(VecGetArray(*xisum, &a));
    PetscCallMPI(
        MPI_Reduce(r->lay.rank ? a : MPI_IN_PLACE, a, (PetscMPIInt)n, MPIU_SCALAR, MPI_SUM, 0, PETSC_COMM_WORLD));
    PetscCallMPI(MPI_Reduce(r->lay.rank ? total : MPI_IN_PLACE, total, 1, MPIU_INT, MPI_SUM, 0, PETSC_COMM_WORLD));
    PetscCall(VecRestoreArray(*xisum, &a));
  }
  PetscFunctionReturn(0);
}

/* Per-chain ESS and, across the chains, the rank-normalised split R-hat
 * and bulk ESS of the diag module (what mcmc-diag reports), of lp, the
 * QoIs and the first coordinates of xi, read back from the file. */
static PetscErrorCode SummaryMixing(Run *r, PetscInt nqoi, const char *const *qnames)
{
  PetscInt   n, nxi, C = r->C, nq;
  PetscReal *lp, *qoi, *xi, *x;
  Vec        sum;

  PetscFunctionBeginUser;
  nxi = PetscMin(MC_RUN_TRACE_XI, r->pb->nparams);
  nq = 1 + nqoi + nxi;
  PetscCall(McRunSinkGetState(r->sinks[0], &n, &sum));                   /* every chain has kept as many */
  PetscCall(McMalloc(sizeof(PetscReal) * (size_t)(C * n * nq + 1), &x)); /* [quantity][chain][draw] */
  printf("\neffective sample size (of the kept draws per chain)\n%-6s %8s", "chain", "draws");
  printf(" %10s", "lp");
  for (PetscInt q = 0; q < nqoi; q++) printf(" %10s", qnames[q]);
  for (PetscInt i = 0; i < nxi; i++)
    printf("       xi_%d", (int)i);
  printf("\n");
  for (PetscInt c = 0; c < C; c++) {
    PetscReal ess;
    PetscCall(McRunReadTraces(r->out, c, n, nqoi, qnames, nxi, &lp, &qoi, &xi));
    for (PetscInt d = 0; d < n; d++) {
      x[(0 * C + c) * n + d] = lp[d];
      for (PetscInt q = 0; q < nqoi; q++)
        x[((1 + q) * C + c) * n + d] = qoi[d * nqoi + q];
      for (PetscInt i = 0; i < nxi; i++)
        x[((1 + nqoi + i) * C + c) * n + d] = xi[d * nxi + i];
    }
    PetscCall(McFree(&lp));
    PetscCall(McFree(&qoi));
    PetscCall(McFree(&xi));
    printf("%-6d %8d", (int)c, (int)n);
    if (n < 4) {
      printf("  (too few draws)\n");
      continue;
    }
    for (PetscInt k = 0; k < nq; k++) {
      PetscCall(McESS(n, x + (k * C + c) * n, 1, &ess));
      printf(" %10.0f", (double)ess);
    }
    printf("\n");
  }
  if (n >= 4) {
    printf("\nacross the %d chain%s: rank-normalised split R-hat and bulk ESS (as mcmc-diag)\n%-9s", (int)C,
           C > 1 ? "s" : "", "");
    printf(" %10s", "lp");
    for (PetscInt q = 0; q < nqoi; q++)
      printf(" %10s", qnames[q]);
    for (PetscInt i = 0; i < nxi; i++)
      printf("       xi_%d", (int)i);
    /* Users compare samplers by effective samples per second: the bulk
     * ESS over the loop's wall time, burn-in included (as MUQ's ES/min
     * counts it). A resumed run adds the seconds its checkpoint carried
     * (the work lost after the checkpoint is not counted). */
    PetscReal      loop = r->st.loop + r->seconds0;
    McDiagSummary *ds;
    PetscCall(PetscMalloc1(nq, &ds));
    for (PetscInt k = 0; k < nq; k++)
      PetscCall(McDiagSummarize(C, n, x + k * C * n, &ds[k]));
    for (int row = 0; row < 3; row++) {
      printf("\n%-9s", row == 2 ? "ESS/s" : row ? "ESS bulk" : "R-hat");
      for (PetscInt k = 0; k < nq; k++) {
        if (row == 2)
          printf(" %10.4g", (double)(ds[k].ess_bulk / loop));
        else if (row)
          printf(" %10.0f", (double)ds[k].ess_bulk);
        else
          printf(" %10.4f", (double)ds[k].rhat);
      }
    }
    printf("\n");
    printf("ESS/s: bulk ESS per second of the sampling loop (%.3f s: burn-in, memory checks and output included)\n",
           (double)loop);
    if (r->it0 > 0)
      printf("ESS/s: resumed at iteration %d; %.3f s of the loop's time were before it (up to the checkpoint resumed "
             "from)\n",
             (int)r->it0, (double)r->seconds0);
    PetscCall(PetscFree(ds));
  }
  PetscCall(McFree(&x));
  PetscFunctionReturn(0);
}

PetscErrorCode McRunSummary_Private(Run *r)
{
  const McConfig    *cfg = r->cfg;
  McProblem         *pb = r->pb;
  PetscInt           nqoi, total_draws = 0;
  const char *const *qnames;
  PetscLogDouble     now;
  Vec                xisum = NULL, mmean;
  McChainStats      *all;
  PetscReal          pe = 0, pr = 0, qe = 0, qr = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscTime(&now));
  PetscCall(McTargetGetQoI(r->target, &nqoi, &qnames));
  PetscCall(GatherChainStats(r, &all));
  if (pb->mtrue) PetscCall(SumXi(r, &xisum, &total_draws));
  if (pb->mtrue && r->lay.group == 0) {
    /* Collective on group 0 (the writer's): several ranks when R > 1. */
    PetscCall(VecDuplicate(pb->m0, &mmean));
    /* m is affine in xi: the mean of m is m0 + L mean(xi). */
    PetscCall(VecScale(xisum, 1.0 / (PetscReal)PetscMax(total_draws, 1)));
    PetscCall(McPosteriorParameterToField(pb->post, xisum, mmean));
    PetscCall(McProblemFieldError(pb, mmean, &pe, &pr));
    PetscCall(McProblemFieldError(pb, pb->m0, &qe, &qr));
    PetscCall(VecDestroy(&mmean));
  }
  if (!r->writer) {
    PetscCall(PetscFree(all));
    PetscCall(VecDestroy(&xisum));
    PetscFunctionReturn(0);
  }
  /* dr's second stage has its own step: a column after the others, which
   * keeps the columns before it where scripts read them */
  PetscBool two = all[0].second_step > 0 ? PETSC_TRUE : PETSC_FALSE;
  printf("\n%-6s %10s %8s %11s %10s %9s%s\n", "chain", "acceptance", "failed", "step size", "samples/s", "wall s",
         two ? "  2nd step" : "");
  for (PetscInt c = 0; c < r->C; c++) {
    printf("%-6d %10.3f %8d %11.4g %10.0f %9.1f", (int)c, (double)all[c].acceptance, (int)all[c].failed,
           (double)all[c].step_size, (double)all[c].samples_per_sec, (double)all[c].seconds);
    if (two) printf(" %9.4g", (double)all[c].second_step);
    printf("\n");
  }
  PetscCall(PetscFree(all));
  PetscCall(SummaryMixing(r, nqoi, qnames));
  if (pb->mtrue) {
    printf("\nfield m against the synthetic truth (L2 norms weighted by the lumped mass)\n");
    if (pr < 0) {
      printf("posterior mean error  %.4g (absolute; the truth is 0)\n", (double)pe);
      printf("prior mean error      %.4g (absolute)\n", (double)qe);
    } else {
      printf("posterior mean error  %.4f relative (%.4g absolute)\n", (double)pr, (double)pe);
      printf("prior mean error      %.4f relative (%.4g absolute)\n", (double)qr, (double)qe);
    }
    PetscCall(VecDestroy(&xisum));
  }
  printf("\n");
  if (r->baseline) {
    PetscReal steps = (PetscReal)PetscMax(1, r->nc * (r->total - r->base_it));
    printf("memory   %d checks against the baseline taken at iteration %d: live objects %+lld, live bytes %+lld "
           "at most\n",
           (int)r->nchecks, (int)r->base_it, (long long)r->grew_objects, (long long)r->grew_bytes);
    printf("         allocation calls per iteration after it: project %.3g, PETSc %.3g\n",
           (double)(r->loop_project / steps), (double)(r->loop_petsc / steps));
    /* With reuse, only accepted proposals refactorise (PETSc's own Cholesky,
     * if chosen, takes and frees one workspace per factorisation; mcchol
     * none). */
    PetscBool direct = PETSC_FALSE;
    if (pb->fw) PetscCall(McForwardHasReuse(pb->fw, &direct)); /* the counter is a plain direct solver's */
    if (direct)
      printf("         forward factorisations per iteration after it: %.3g\n", (double)(r->loop_factors / steps));
  } else {
    printf("memory   not checked (the run ended before [memory] warmup = %d, or check_every = 0)\n",
           (int)cfg->memory.warmup);
  }
  if (pb->umb) {
    PetscInt64 calls, retries;
    PetscReal  sec;
    PetscCall(McUmbClientGetStats(pb->umb, &calls, &retries, &sec));
    printf("model    %lld UM-Bridge requests, %lld retries, %.3g ms per request\n", (long long)calls,
           (long long)retries, calls ? 1e3 * (double)sec / (double)calls : 0.0);
  }
  printf("output   %s: %d chain%s x %d draws, %d parameters; wall time %.1f s\n", cfg->output.path, (int)r->C,
         r->C > 1 ? "s" : "", (int)((r->total - r->burn) / r->thin), (int)pb->nparams, (double)(now - r->t0));
  fflush(stdout);
  PetscFunctionReturn(0);
}
