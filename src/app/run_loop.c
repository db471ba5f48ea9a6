/* The sampling loop: the chains run in turn in rounds that end at the next
 * event (a block end, a checkpoint, a memory check, a collection, the ranks'
 * agreement on a stop), with the signal handlers, the progress line and
 * the memory checks that prove nothing grows. */
#include "app/run_impl.h"

#include <signal.h>
#include <string.h>
#include <time.h>

/* SIGTERM/SIGINT: the handler only records the signal and asks the chain
 * that is stepping to stop after its current iteration; the loop then
 * checkpoints and exits with code 4. A second one finds the flag set and
 * ends the process at once with the default action (the file keeps its
 * last flush). SIGUSR1 asks for a progress line and a flush. */
static volatile sig_atomic_t stop_signal, usr1_signal;
static McChain volatile      running_chain;

static void OnStop(int sig)
{
  McChain c = running_chain;

  if (stop_signal) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  stop_signal = sig;
  if (c) McChainRequestStop(c);
}

static void OnUsr1(int sig)
{
  (void)sig;
  usr1_signal = 1;
}

static const int caught[3] = {SIGTERM, SIGINT, SIGUSR1};

static void InstallSignals(struct sigaction old[3])
{
  struct sigaction sa;

  stop_signal = 0;
  usr1_signal = 0;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < 3; i++) {
    sa.sa_handler = caught[i] == SIGUSR1 ? OnUsr1 : OnStop;
    sigaction(caught[i], &sa, &old[i]);
  }
}

static void RestoreSignals(const struct sigaction old[3])
{
  for (int i = 0; i < 3; i++) sigaction(caught[i], &old[i], NULL);
}

/* ------------------------------------------------------------ progress */

static void FormatSeconds(PetscReal s, char *buf, size_t len)
{
  long t = (long)(s + 0.5);

  if (!(s < 1e9)) snprintf(buf, len, "--");
  else if (t >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

/* One progress report on stderr: in place (\r) on a terminal, else a line. */
static PetscErrorCode Progress(Run *r, PetscBool final, PetscBool force)
{
  PetscLogDouble now;
  PetscReal      elapsed, rate, acc = 0, eta;
  PetscInt       failed = 0, acc_n = 0;
  McMemUsage     u;
  char           etas[32];

  PetscFunctionBeginUser;
  if ((r->opt->quiet && !force) || !r->writer) PetscFunctionReturn(0);
  PetscCall(PetscTime(&now));
  if (!final && !force && now - r->last_progress < (r->tty ? 0.25 : 2.0)) PetscFunctionReturn(0);
  r->last_progress = now;
  elapsed = (PetscReal)(now - r->t0);
  for (PetscInt i = 0; i < r->nc; i++) { /* this process's chains (all in a serial run) */
    McChainStats s;
    PetscCall(McChainGetStats(r->chains[i], &s));
    failed += s.failed;
    acc += r->it <= r->burn ? (PetscReal)s.accepted_burnin : (PetscReal)s.accepted;
  }
  acc_n = r->nc * (r->it <= r->burn ? r->it : r->it - r->burn);
  acc = acc_n ? acc / acc_n : 0;
  rate = elapsed > 0 ? r->C * (r->it - r->it0) / elapsed : 0;
  eta = rate > 0 ? r->C * (r->total - r->it) / rate : PETSC_INFINITY;
  FormatSeconds(eta, etas, sizeof(etas));
  PetscCall(McMemGetUsage(&u));
  fprintf(stderr, "%s%*d/%d %3d%% %-8s %7.0f it/s  ETA %6s  acc %.3f  failed %d  RSS %.1f MB%s", r->tty ? "\r" : "",
          (int)(log10((double)r->total) + 1), (int)r->it, (int)r->total, (int)(100.0 * r->it / r->total),
          r->it <= r->burn ? "burn-in" : "sampling", (double)rate, etas, (double)acc, (int)failed,
          u.rss_bytes / 1048576.0, r->tty ? "\033[K" : "\n");
  if (final && r->tty) fputc('\n', stderr);
  fflush(stderr);
  r->progress_shown = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/* -------------------------------------------------------------- memory */

static PetscInt64 Collections(void)
{
  PetscInt64 n = 0;

  for (int g = 0; g < 3; g++) {
    McGCGenStats s;
    if (!McGCGetStats(g, &s)) n += s.collections;
  }
  return n;
}

static PetscErrorCode MemoryRow(Run *r)
{
  McMemUsage        u;
  McOutputMemoryRow row;

  PetscFunctionBeginUser;
  PetscCall(McMemGetUsage(&u));
  row.iteration = r->it;
  row.rss_bytes = u.rss_bytes;
  row.live_objects = u.live_objects;
  row.live_bytes = u.live_bytes + u.petsc_bytes;
  row.collections = Collections();
  PetscCall(McOutputAppendMemory(r->out, &row));
  if (r->baseline) {
    r->grew_objects = PetscMax(r->grew_objects, u.live_objects - r->live_objects);
    r->grew_bytes = PetscMax(r->grew_bytes, row.live_bytes - r->live_bytes);
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode TakeBaseline(Run *r)
{
  McMemUsage u;

  PetscFunctionBeginUser;
  PetscCall(McGCCollect(2, NULL));
  PetscCall(McMemSetBaseline());
  PetscCall(McMemGetUsage(&u));
  r->live_objects = u.live_objects;
  r->live_bytes = u.live_bytes + u.petsc_bytes;
  PetscCall(McMemAllocCount(&r->allocs_project, &r->allocs_petsc));
  if (r->pb->fw) PetscCall(McForwardGetFactorCount(r->pb->fw, &r->factors));
  r->baseline = PETSC_TRUE;
  r->base_it = r->it;
  PetscCall(MemoryRow(r));
  PetscFunctionReturn(0);
}

/* A collection, then the comparison with the baseline. *stop on a violation
 * with on_violation = "stop". */
static PetscErrorCode CheckMemory(Run *r, PetscBool *stop)
{
  const McConfig *cfg = r->cfg;
  PetscBool       ok;
  char            report[4096];

  PetscFunctionBeginUser;
  *stop = PETSC_FALSE;
  PetscCall(McGCCollect(2, NULL));
  PetscCall(McMemCheck(cfg->memory.tolerance_objects, (size_t)cfg->memory.tolerance_bytes, &ok, report,
                       sizeof(report)));
  r->nchecks++;
  PetscCall(MemoryRow(r));
  if (ok) PetscFunctionReturn(0);
  if (r->progress_shown && r->tty) fputc('\n', stderr);
  if (cfg->memory.on_violation == MC_VIOLATION_STOP) {
    PetscCall(McOutputFlush(r->out));
    fprintf(stderr,
            "mcmc-run: memory assertion failed at iteration %d (baseline after %d iterations, tolerance %d "
            "objects, %d bytes):\n%s\nmcmc-run: stopped; the %s draws so far are in %s\n",
            (int)r->it, (int)cfg->memory.warmup, (int)cfg->memory.tolerance_objects,
            (int)cfg->memory.tolerance_bytes, report, r->C > 1 ? "chains'" : "chain's", cfg->output.path);
    *stop = PETSC_TRUE;
  } else if (!r->warned) {
    fprintf(stderr,
            "mcmc-run: warning: memory grew at iteration %d (reported once; [memory] on_violation = \"warn\"):\n%s\n",
            (int)r->it, report);
    r->warned = PETSC_TRUE;
  }
  PetscFunctionReturn(0);
}

/* ---------------------------------------------------------------- loop */

/* Iterations every chain may run from r->it without passing the next
 * event: the end, the memory baseline, a check, a collection, a
 * checkpoint, and the end of the current output block (a chain may fill
 * one block at most before the others catch up). */
static PetscInt RoundLength(Run *r)
{
  const McConfig *cfg = r->cfg;
  PetscInt        n = PetscMin(r->total - r->it, 100);

  if (!r->baseline && r->warm_end > r->it) n = PetscMin(n, r->warm_end - r->it);
  if (cfg->memory.check_every > 0) n = PetscMin(n, cfg->memory.check_every - r->it % cfg->memory.check_every);
  if (cfg->memory.gc_period > 0) n = PetscMin(n, cfg->memory.gc_period - r->it % cfg->memory.gc_period);
  if (r->ckpt_every > 0) n = PetscMin(n, r->ckpt_every - r->it % r->ckpt_every);
  if (r->it >= r->burn) {
    PetscInt kept = (r->it - r->burn) / r->thin, left = r->B - kept % r->B;
    n = PetscMin(n, r->burn + (kept + left) * r->thin - r->it);
  }
  return PetscMax(n, 1);
}

/* The chains' steps when the model is a UM-Bridge server. A server that
 * stays unreachable after every retry raises an error inside a step; the
 * step is abandoned before its draw is recorded, so flushing the output
 * keeps exactly the draws completed so far. The error is reported as one
 * line (the client's reason), not as PETSc's traceback. */
static PetscErrorCode RemoteSteps(Run *r, PetscInt n, PetscBool *stop)
{
  PetscErrorCode ierr = 0;
  char          *specific = NULL;

  PetscFunctionBeginUser;
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  for (PetscInt i = 0; i < r->nc && !ierr; i++)
    ierr = McChainRunSteps(r->chains[i], n);
  PetscCall(PetscPopErrorHandler());
  if (!ierr) PetscFunctionReturn(0);
  PetscCall(PetscErrorMessage(ierr, NULL, &specific));
  PetscCall(McOutputFlush(r->out));
  if (r->progress_shown && r->tty) fputc('\n', stderr);
  fprintf(stderr, "mcmc-run: stopped at iteration %d: %s\nmcmc-run: the draws so far are in %s\n", (int)r->it,
          specific ? specific : "the UM-Bridge model failed", r->cfg->output.path);
  r->remote_fault = PETSC_TRUE;
  *stop = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/* CPU seconds of the process (the benchmark's contention-free clock). */
static PetscLogDouble CpuSeconds(void)
{
  struct timespec ts;

  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)) return 0;
  return (PetscLogDouble)ts.tv_sec + 1e-9 * (PetscLogDouble)ts.tv_nsec;
}

/* Adds the time since *t to *acc and restarts *t (the benchmark's phases). */
static PetscErrorCode Lap(PetscLogDouble *t, PetscLogDouble *acc)
{
  PetscLogDouble now;

  PetscFunctionBeginUser;
  PetscCall(PetscTime(&now));
  *acc += now - *t;
  *t = now;
  PetscFunctionReturn(0);
}

/* The loop's measurements (McRunStats): RSS, the sinks' recording time
 * taken out of the steps, allocation calls per iteration. */
static PetscErrorCode FinishStats(Run *r)
{
  McMemUsage u;

  PetscFunctionBeginUser;
  PetscCall(McMemGetUsage(&u));
  r->st.rss_end = u.rss_bytes;
  r->st.iterations = r->C * r->it;
  r->st.burn_in = r->burn;
  for (PetscInt i = 0; i < r->nc; i++) {
    PetscLogDouble rec;
    McChainStats   s;
    PetscCall(McRunSinkGetSeconds(r->sinks[i], &rec));
    r->st.steps -= rec;
    r->st.output += rec;
    PetscCall(McChainGetStats(r->chains[i], &s));
    r->st.failed += s.failed;
    if (r->cid[i] == 0) r->st.acceptance = s.acceptance;
  }
  PetscFunctionReturn(0);
}

/* One round: every chain runs to r->it + n. A stop request (SIGTERM)
 * lands on the chain that is stepping: if that is the first chain, the
 * round ends where it stopped for all chains; a later chain catches up with
 * the first, so all chains always stand at the same iteration. */
static PetscErrorCode Round(Run *r, PetscInt n)
{
  PetscInt target = r->it + n;

  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < r->nc; i++) {
    McChainStats s;
    PetscCall(McChainGetStats(r->chains[i], &s));
    if (r->nc > 1 && s.iterations < target) {
      /* Chains run in turn here share one forward model, whose factorisation
       * preconditions the proposals (the reuse): each takes it back to its
       * own state first, so its draws are those it makes alone on a rank
       * (one exact solve per chain and round). */
      McKernel k;
      PetscCall(McChainGetKernel(r->chains[i], &k));
      PetscCall(McKernelAnchor(k));
    }
    while (s.iterations < target) {
      /* On several ranks a stop is agreed at the round's end, so no chain
       * is asked to stop inside it (the ranks stay at one iteration). */
      running_chain = r->lay.size > 1 ? NULL : r->chains[i];
      PetscCall(McChainRunSteps(r->chains[i], target - s.iterations));
      running_chain = NULL;
      PetscCall(McChainGetStats(r->chains[i], &s));
      if (s.iterations < target && i == 0) target = s.iterations;
    }
  }
  r->it = target;
  PetscFunctionReturn(0);
}

/* Whether the round just run ended an output block (its last kept draw
 * filled it). */
static PetscBool BlockEnd(Run *r)
{
  PetscInt kept;

  if (r->it <= r->burn || (r->it - r->burn) % r->thin) return PETSC_FALSE;
  kept = (r->it - r->burn) / r->thin;
  return kept % r->B == 0 ? PETSC_TRUE : PETSC_FALSE;
}

/* On several ranks the ranks agree on a stop at a block's end (where the
 * draws are exchanged anyway), at a checkpoint, after a memory check, at
 * the end, and at least every MC_AGREE_EVERY iterations (burn-in has no
 * blocks; with thinning a block is long): the longest a signal waits. */
#define MC_AGREE_EVERY 256
static PetscBool AgreeNow(Run *r)
{
  const McConfig *cfg = r->cfg;

  return BlockEnd(r) || r->it >= r->total || (r->ckpt_every > 0 && r->it % r->ckpt_every == 0) ||
                 (cfg->memory.check_every > 0 && r->it % cfg->memory.check_every == 0) ||
                 r->it - r->agreed_it >= MC_AGREE_EVERY
             ? PETSC_TRUE
             : PETSC_FALSE;
}

PetscErrorCode McRunLoop_Private(Run *r, int *code)
{
  const McConfig  *cfg = r->cfg;
  PetscBool        stop = PETSC_FALSE;
  int              agreed[3] = {0, 0, 0}; /* signal, SIGUSR1, memory stop: agreed by all ranks */
  struct sigaction old[3];
  PetscLogDouble   t, tend;
  McMemUsage       u;

  PetscFunctionBeginUser;
  /* A checkpoint before the first iteration: a run killed before its first
   * scheduled checkpoint can still be resumed, and the record's buffer
   * exists before the memory baseline. */
  if (r->it == 0) PetscCall(McRunCheckpoint_Private(r));
  PetscCall(McMemGetUsage(&u));
  r->st.rss_start = u.rss_bytes;
  r->st.loop_cpu  = -CpuSeconds();
  PetscCall(PetscTime(&r->t0));
  for (PetscInt i = 0; i < r->nc; i++) PetscCall(McRunSinkSetClock(r->sinks[i], r->t0 - r->seconds0));
  r->last_progress = t = r->t0;
  r->agreed_it = r->it;
  if (r->warm_end == r->it && cfg->memory.check_every > 0) PetscCall(TakeBaseline(r));
  PetscCall(Lap(&t, &r->st.collection));
  InstallSignals(old);
  while (r->it < r->total && !agreed[0]) {
    PetscInt   n = RoundLength(r);
    PetscInt64 appended, committed;
    if (r->pb->umb) {
      PetscCall(RemoteSteps(r, n, &stop));
      if (stop) break;
      r->it += n;
    } else PetscCall(Round(r, n));
    PetscCall(Lap(&t, &r->st.steps));
    if (cfg->memory.gc_period > 0 && r->it % cfg->memory.gc_period == 0) PetscCall(McGCCollect(2, NULL));
    if (!r->baseline && cfg->memory.check_every > 0 && r->it == r->warm_end) PetscCall(TakeBaseline(r));
    else if (r->baseline && cfg->memory.check_every > 0 && r->it % cfg->memory.check_every == 0)
      PetscCall(CheckMemory(r, &stop));
    /* Every rank stands at r->it: a signal or a failed memory check on
     * any of them stops all here. On several ranks only at the rounds
     * AgreeNow names (one small allreduce per block, at most every
     * MC_AGREE_EVERY iterations); on one rank at every round, at no cost. */
    if (r->lay.size == 1 || AgreeNow(r)) {
      agreed[0] = stop_signal, agreed[1] = usr1_signal, agreed[2] = stop;
      PetscCall(McLayoutAgree(&r->lay, 3, agreed));
      stop = agreed[2] ? PETSC_TRUE : PETSC_FALSE;
      r->agreed_it = r->it;
    }
    PetscCall(Lap(&t, &r->st.collection));
    if (stop || agreed[0]) break;
    if (r->ckpt_every > 0 && r->it % r->ckpt_every == 0 && r->it < r->total) PetscCall(McRunCheckpoint_Private(r));
    /* The other ranks' draws reach the writer a block at a time. */
    if (r->lay.size > 1 && (agreed[1] || BlockEnd(r))) PetscCall(McOutputExchange(r->out));
    /* [output] flush_every kept draws at least, also when a time-based
     * flush policy is set. */
    PetscCall(McOutputGetDrawCounts(r->out, &appended, &committed));
    if (r->writer && (appended - committed >= cfg->output.flush_every || agreed[1])) PetscCall(McOutputFlush(r->out));
    PetscCall(Lap(&t, &r->st.output));
    PetscCall(Progress(r, r->it == r->total, agreed[1] ? PETSC_TRUE : PETSC_FALSE));
    if (agreed[1]) usr1_signal = 0, agreed[1] = 0;
  }
  RestoreSignals(old);
  /* On several ranks the agreed signal: one arriving on a rank after the
   * last agreement is ignored by all (the run was complete). */
  r->stopped_by = r->lay.size > 1 ? agreed[0] : stop_signal;
  if (r->lay.size > 1 && agreed[0]) {
    /* Every rank now checkpoints and exits 4; mpiexec signals the ranks
     * still running as soon as one has exited non-zero, which must not turn
     * their 4 into a death by signal (seen with a chain on 2 ranks). */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
  }
  PetscCall(McOutputExchange(r->out));
  PetscCall(PetscTime(&tend));
  r->st.loop = tend - r->t0;
  r->st.loop_cpu += CpuSeconds();
  if (stop) {
    *code = r->remote_fault ? MC_EXIT_RUNTIME : MC_EXIT_MEMORY;
    PetscFunctionReturn(0);
  }
  /* A last check at the end, unless the loop's last round just did one. */
  if (!r->stopped_by && r->baseline && !(cfg->memory.check_every > 0 && r->total % cfg->memory.check_every == 0)) {
    int f = 0;
    PetscCall(CheckMemory(r, &stop));
    f = stop ? 1 : 0;
    PetscCall(McLayoutAgree(&r->lay, 1, &f));
    if (f) *code = MC_EXIT_MEMORY;
  }
  if (r->baseline) {
    PetscInt64 p, q;
    PetscCall(McMemAllocCount(&p, &q));
    r->loop_project = p - r->allocs_project;
    r->loop_petsc = q - r->allocs_petsc;
    if (r->pb->fw) {
      PetscCall(McForwardGetFactorCount(r->pb->fw, &p));
      r->loop_factors = p - r->factors;
    }
    r->st.factorisations = (PetscReal)r->loop_factors / (PetscReal)PetscMax(1, r->nc * (r->total - r->base_it));
    r->st.baseline = PETSC_TRUE;
    r->st.base_it = r->base_it;
    r->st.allocs_project = (PetscReal)r->loop_project / (PetscReal)PetscMax(1, r->nc * (r->total - r->base_it));
    r->st.allocs_petsc = (PetscReal)r->loop_petsc / (PetscReal)PetscMax(1, r->nc * (r->total - r->base_it));
  }
  PetscCall(FinishStats(r));
  /* The last checkpoint: at the end, or where the signal stopped the run. */
  if (*code == MC_EXIT_OK) PetscCall(McRunCheckpoint_Private(r));
  if (r->stopped_by && *code == MC_EXIT_OK) {
    *code = MC_EXIT_SIGNAL;
    if (!r->writer) PetscFunctionReturn(0); /* rank 0 reports */
    if (r->progress_shown && r->tty) fputc('\n', stderr);
    fprintf(stderr,
            "mcmc-run: stopped by %s at iteration %d of %d; checkpoint written to %s\n"
            "mcmc-run: continue with: mcmc-run --resume %s\n",
            r->stopped_by == SIGINT ? "SIGINT" : "SIGTERM", (int)r->it, (int)r->total, cfg->output.path,
            cfg->output.path);
    *code = MC_EXIT_SIGNAL;
  }
  PetscFunctionReturn(0);
}
