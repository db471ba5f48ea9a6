/* The chain driver: bit-identical continuation from a checkpoint (every
 * kernel, mid burn-in and mid sampling, stopped through McChainRequestStop
 * as a signal handler would), injected forward failures, step-size
 * adaptation during burn-in and the frozen step after it, thinning and draw
 * indices, progress reports. */
#include "mcmc/mcmc.h"
#include "mctest.h"

/* A target wrapping another one, failing on a pattern. With by_state, the
 * pattern is a function of xi (so a resumed chain sees the same failures):
 * f = frac(1000 |xi_0| + 0.5) in [0, 0.1) -> status failed, [0.1, 0.15) -> NaN
 * potential, [0.15, 0.2) -> failed gradient. Otherwise every `every`-th
 * potential call fails, independently of the state. Two QoIs: sum(xi) and
 * Phi. */
typedef struct {
  McTarget  inner;
  PetscBool by_state;
  PetscInt  every, calls, injected;
  PetscReal f, phi;
} Wrap;

static PetscErrorCode WrapPotential(void *ctx, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  Wrap              *w = ctx;
  const PetscScalar *x;

  PetscFunctionBeginUser;
  w->calls++;
  PetscCall(VecGetArrayRead(xi, &x));
  w->f = fmod(1000 * fabs(x[0]) + 0.5, 1.0);
  PetscCall(VecRestoreArrayRead(xi, &x));
  PetscCall(McTargetPotential(w->inner, xi, phi, status));
  w->phi = *phi;
  if (w->by_state ? w->f < 0.1 : (w->every && w->calls % w->every == 0)) {
    *status = MC_EVAL_FAILED;
    w->injected++;
  } else if (w->by_state && w->f < 0.15) {
    *phi = NAN;
    w->injected++;
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode WrapGradient(void *ctx, Vec xi, Vec g, McEvalStatus *status)
{
  Wrap *w = ctx;

  PetscFunctionBeginUser;
  PetscCall(McTargetGradient(w->inner, xi, g, status));
  if (w->by_state && w->f >= 0.15 && w->f < 0.2) {
    *status = MC_EVAL_FAILED;
    w->injected++;
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode WrapQoI(void *ctx, Vec xi, PetscReal *v)
{
  Wrap *w = ctx;

  PetscFunctionBeginUser;
  PetscCall(VecSum(xi, &v[0]));
  v[1] = w->phi;
  PetscFunctionReturn(0);
}

static PetscErrorCode WrapDestroy(void *ctx)
{
  Wrap *w = ctx;

  PetscFunctionBeginUser;
  PetscCall(McTargetDestroy(&w->inner));
  PetscCall(PetscFree(w));
  PetscFunctionReturn(0);
}

static PetscErrorCode CreateWrap(McTarget inner, PetscBool by_state, PetscInt every, McTarget *t, Wrap **wp)
{
  McTargetOps        ops = {WrapPotential, WrapGradient, WrapQoI, WrapDestroy};
  const char *const  names[2] = {"sum", "phi"};
  Wrap              *w;
  PetscInt           n;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&w));
  PetscCall(McTargetReference(inner));
  w->inner = inner;
  w->by_state = by_state;
  w->every = every;
  PetscCall(McTargetGetSizes(inner, &n, NULL));
  PetscCall(McTargetCreateShell(PETSC_COMM_SELF, n, n, &ops, w, 2, names, t));
  *wp = w;
  PetscFunctionReturn(0);
}

/* The linear-Gaussian problem of test_kernels.c, smaller: 6 parameters. */
static PetscErrorCode SmallLinear(McTarget *t)
{
  PetscReal A[4 * 6], y[4], sigma[4] = {0.3, 0.3, 0.3, 0.3};
  McRng     r;

  PetscFunctionBeginUser;
  PetscCall(McRngCreate(77, 0, &r));
  McRngGaussianArray(r, 24, A);
  McRngGaussianArray(r, 4, y);
  PetscCall(McRngDestroy(&r));
  PetscCall(McTargetCreateLinearGaussian(6, 4, A, y, sigma, t));
  PetscFunctionReturn(0);
}

typedef struct {
  McChain  chain;
  PetscInt stop_at, calls, last;
} StopCtx;

/* A progress callback that stops the chain at stop_at, like a SIGTERM
 * handler calling McChainRequestStop. */
static PetscErrorCode StopAt(void *ctx, const McProgress *p)
{
  StopCtx *s = ctx;

  PetscFunctionBeginUser;
  s->calls++;
  s->last = p->iteration;
  if (p->iteration == s->stop_at) McChainRequestStop(s->chain);
  PetscFunctionReturn(0);
}

static PetscErrorCode MakeChain(McTarget t, const char *kernel, McSink sink, McChain *c)
{
  McKernel k;

  PetscFunctionBeginUser;
  PetscCall(McKernelCreate(t, kernel, &k));
  if (!strcmp(kernel, MC_KERNEL_AM)) {
    /* learn the covariance well before the checkpoint */
    PetscCall(McKernelSetParameter(k, "t0", 50));
    PetscCall(McKernelSetParameter(k, "update_every", 7));
  }
  PetscCall(McChainCreate(k, c));
  PetscCall(McKernelDestroy(&k)); /* the chain holds its own reference */
  PetscCall(McChainSetIterations(*c, 700, 300, 3));
  PetscCall(McChainSetSeed(*c, 99, 5));
  PetscCall(McChainSetSaveWarmup(*c, PETSC_TRUE));
  PetscCall(McChainSetSink(*c, sink));
  PetscCall(McChainSetUp(*c));
  PetscFunctionReturn(0);
}

static int SameStats(const McStepStats *a, const McStepStats *b)
{
  return a->accepted == b->accepted && a->failed == b->failed && a->accept_prob == b->accept_prob &&
         a->log_post == b->log_post && a->step_size == b->step_size && a->warmup == b->warmup;
}

/* Uninterrupted chain A against chain B stopped at `at`, checkpointed,
 * destroyed, and a fresh chain C (new kernel, new sink) restored from the
 * checkpoint: C's draws, statistics and QoIs must equal A's bit for bit. */
static PetscErrorCode TestCheckpoint(const char *kernel, PetscInt at)
{
  McTarget           inner, t;
  Wrap              *w;
  McSink             sa, sb, sc;
  McChain            a, b, c;
  McCheckpoint      *ck;
  StopCtx            stop = {NULL, at, 0, 0};
  PetscInt           na, nc, nb;
  const PetscReal   *xa, *xc, *qa, *qc;
  const McStepStats *sta, *stc;
  const PetscInt    *da, *dc;
  McChainStats       ra, rc;
  PetscBool          done;

  PetscFunctionBeginUser;
  PetscCall(SmallLinear(&inner));
  PetscCall(CreateWrap(inner, PETSC_TRUE, 0, &t, &w));
  PetscCall(McSinkCreateMemory(6, 2, 400, &sa));
  PetscCall(McSinkCreateMemory(6, 2, 400, &sb));
  PetscCall(McSinkCreateMemory(6, 2, 400, &sc));

  PetscCall(MakeChain(t, kernel, sa, &a));
  PetscCall(McChainRun(a));
  PetscCall(McChainGetStats(a, &ra));

  PetscCall(MakeChain(t, kernel, sb, &b));
  stop.chain = b;
  PetscCall(McChainSetProgress(b, StopAt, &stop, 50));
  PetscCall(McChainRun(b));
  PetscCall(McChainIsDone(b, &done));
  CHECK(!done && stop.last == at, "%s: chain did not stop at %d (last progress %d)", kernel, (int)at, (int)stop.last);
  PetscCall(McCheckpointCreate(b, &ck));
  PetscCall(McChainCheckpointSave(b, ck));
  CHECK(ck->iteration == at, "%s: checkpoint at iteration %d, expected %d", kernel, (int)ck->iteration, (int)at);
  PetscCall(McChainDestroy(&b));

  PetscCall(MakeChain(t, kernel, sc, &c));
  PetscCall(McChainCheckpointRestore(c, ck));
  PetscCall(McChainRun(c));
  PetscCall(McChainGetStats(c, &rc));

  PetscCall(McSinkMemoryGetDraws(sa, &na, &xa, &sta, &qa, &da));
  PetscCall(McSinkMemoryGetDraws(sb, &nb, NULL, NULL, NULL, NULL));
  PetscCall(McSinkMemoryGetDraws(sc, &nc, &xc, &stc, &qc, &dc));
  CHECK(na == 100 + 233 && nb == ck->kept && nb + nc == na, "%s: draws A %d, B %d, C %d", kernel, (int)na, (int)nb,
        (int)nc);
  if (nb + nc == na) {
    CHECK(!memcmp(xa + 6 * nb, xc, sizeof(PetscReal) * 6 * nc), "%s: resumed draws differ from uninterrupted ones",
          kernel);
    CHECK(!memcmp(qa + 2 * nb, qc, sizeof(PetscReal) * 2 * nc), "%s: resumed QoIs differ", kernel);
    for (PetscInt i = 0; i < nc; i++) {
      CHECK(SameStats(&sta[nb + i], &stc[i]), "%s: draw %d statistics differ after resume", kernel, (int)(nb + i));
      CHECK(da[nb + i] == dc[i], "%s: draw index %d vs %d", kernel, (int)da[nb + i], (int)dc[i]);
    }
  }
  CHECK(ra.accepted == rc.accepted && ra.accepted_burnin == rc.accepted_burnin && ra.failed == rc.failed &&
          ra.step_size == rc.step_size && ra.kept == rc.kept && ra.iterations == rc.iterations &&
          ra.mean_accept_prob == rc.mean_accept_prob,
        "%s: end statistics differ after resume", kernel);
  /* the state-dependent failure pattern must actually have fired */
  CHECK(ra.failed > 0, "%s: no injected failures in the checkpoint test", kernel);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "checkpoint %s at %d: %d + %d draws identical, %d failures\n", kernel,
                        (int)at, (int)nb, (int)nc, (int)ra.failed));
  PetscCall(McCheckpointDestroy(&ck));
  PetscCall(McChainDestroy(&a));
  PetscCall(McChainDestroy(&c));
  PetscCall(McSinkDestroy(&sa));
  PetscCall(McSinkDestroy(&sb));
  PetscCall(McSinkDestroy(&sc));
  PetscCall(McTargetDestroy(&t));
  PetscCall(McTargetDestroy(&inner));
  PetscFunctionReturn(0);
}

/* Failures are rejected and counted exactly, and the chain carries on. */
static PetscErrorCode TestFailures(const char *kernel)
{
  McTarget           inner, t;
  Wrap              *w;
  McSink             s;
  McChain            c;
  McKernel           k;
  McChainStats       st;
  PetscInt           nd, nfail = 0, bad = 0;
  const PetscReal   *x;
  const McStepStats *ss;

  PetscFunctionBeginUser;
  PetscCall(SmallLinear(&inner));
  PetscCall(CreateWrap(inner, PETSC_TRUE, 0, &t, &w));
  PetscCall(McSinkCreateMemory(6, 2, 3000, &s));
  PetscCall(McKernelCreate(t, kernel, &k));
  PetscCall(McChainCreate(k, &c));
  PetscCall(McChainSetIterations(c, 3000, 500, 1));
  PetscCall(McChainSetSeed(c, 1, 0));
  PetscCall(McChainSetSink(c, s));
  PetscCall(McChainSetUp(c));
  w->injected = 0; /* the initial evaluation does not count */
  PetscCall(McChainRun(c));
  PetscCall(McChainGetStats(c, &st));
  PetscCall(McSinkMemoryGetDraws(s, &nd, &x, &ss, NULL, NULL));
  for (PetscInt i = 0; i < nd; i++) {
    nfail += ss[i].failed;
    if (ss[i].failed) {
      bad += ss[i].accepted || ss[i].accept_prob != 0;
      /* rejected: the chain stays where it was */
      if (i > 0) bad += memcmp(x + 6 * i, x + 6 * (i - 1), sizeof(PetscReal) * 6) != 0;
    }
  }
  CHECK(st.iterations == 3500 && nd == 3000, "%s: chain stopped early: %d iterations, %d draws", kernel,
        (int)st.iterations, (int)nd);
  CHECK(st.failed == w->injected, "%s: chain counted %d failures, the target injected %d", kernel, (int)st.failed,
        (int)w->injected);
  CHECK(nfail > 50, "%s: only %d failures among the kept draws", kernel, (int)nfail);
  CHECK(bad == 0, "%s: %d failed proposals were accepted or moved the chain", kernel, (int)bad);
  CHECK(st.accepted > 100, "%s: chain stopped moving (%d accepted)", kernel, (int)st.accepted);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "failures %s: %d injected, %d counted, %d accepted\n", kernel,
                        (int)w->injected, (int)st.failed, (int)st.accepted));
  PetscCall(McChainDestroy(&c));
  PetscCall(McKernelDestroy(&k));
  PetscCall(McSinkDestroy(&s));
  PetscCall(McTargetDestroy(&t));
  PetscCall(McTargetDestroy(&inner));
  PetscFunctionReturn(0);
}

/* Failures independent of the state (every 4th evaluation) leave the
 * posterior invariant (a mixture of the MH kernel and staying put), so the
 * mean must still be right: within 4 MCSE (see test_kernels.c). */
static PetscErrorCode TestFailuresUnbiased(void)
{
  PetscReal          mu[2], C[4];
  McTarget           inner, t;
  Wrap              *w;
  McSink             s;
  McChainStats       st;
  PetscInt           nd;
  const PetscReal   *x;

  PetscFunctionBeginUser;
  Gauss2D(mu, C);
  PetscCall(McTargetCreateGaussian(2, mu, C, &inner));
  PetscCall(CreateWrap(inner, PETSC_FALSE, 4, &t, &w));
  PetscCall(RunChain(t, MC_KERNEL_RWM, 2000, 40000, 1, 3, &s, &st));
  PetscCall(McSinkMemoryGetDraws(s, &nd, &x, NULL, NULL, NULL));
  CHECK(st.failed == w->injected && st.failed >= 42000 / 4 - 1, "failed %d, injected %d", (int)st.failed,
        (int)w->injected);
  for (int i = 0; i < 2; i++) {
    PetscReal m, se;
    PetscCall(McMCSEMean(nd, x + i, 2, &m, &se));
    CHECK(fabs(m - mu[i]) < 4 * se, "with failures, mean x[%d] %.4f, exact %.4f, MCSE %.4f", i, (double)m,
          (double)mu[i], (double)se);
  }
  PetscCall(McSinkDestroy(&s));
  PetscCall(McTargetDestroy(&t));
  PetscCall(McTargetDestroy(&inner));
  PetscFunctionReturn(0);
}

/* Adaptation from a bad step (acceptance near 0 or 1) reaches the target
 * during burn-in; after burn-in the step is frozen, the same in every draw.
 * On the 6-parameter linear problem, where every kernel can reach its target
 * (pCN cannot on gauss2d: even beta = 1 accepts 31%). */
static PetscErrorCode TestAdaptation(const char *kernel, PetscReal step0)
{
  PetscReal          early = 0, late = 0, samp = 0, final, target;
  McTarget           t;
  McKernel           k;
  McChain            c;
  McSink             s;
  PetscInt           nd, burn = 4000, nw = 0, changed = 0, frozen = 1;
  const McStepStats *ss;
  const PetscInt    *draw;

  PetscFunctionBeginUser;
  PetscCall(SmallLinear(&t));
  PetscCall(McKernelCreate(t, kernel, &k));
  PetscCall(McKernelSetStepSize(k, step0));
  PetscCall(McChainCreate(k, &c));
  PetscCall(McChainSetIterations(c, 20000, burn, 1));
  PetscCall(McChainSetSeed(c, 8, 0));
  PetscCall(McChainSetSaveWarmup(c, PETSC_TRUE));
  PetscCall(McSinkCreateMemory(6, 0, 24000, &s));
  PetscCall(McChainSetSink(c, s));
  PetscCall(McChainSetUp(c));
  PetscCall(McChainRun(c));
  PetscCall(McKernelGetStepSize(k, &final));
  target = strstr(kernel, "mala") ? 0.574 : strstr(kernel, "hmc") ? 0.65 : 0.234;
  PetscCall(McSinkMemoryGetDraws(s, &nd, NULL, &ss, NULL, &draw));
  for (PetscInt i = 0; i < nd; i++) {
    CHECK(draw[i] == i, "draw index %d at position %d", (int)draw[i], (int)i);
    if (ss[i].warmup) nw++;
    if (i < burn) {
      CHECK(ss[i].warmup, "draw %d should be warm-up", (int)i);
      if (i < 3) early += ss[i].accept_prob / 3;
      if (i >= burn - 1000) late += ss[i].accept_prob / 1000;
      if (i > 0 && ss[i].step_size != ss[i - 1].step_size) changed++;
    } else {
      frozen &= ss[i].step_size == final && !ss[i].warmup;
      samp += ss[i].accept_prob / (nd - burn);
    }
  }
  /* Tolerances: the mean acceptance probability over 1000 (20000) draws has
   * an sd below 0.015 (0.004) even with autocorrelation; the adapted step's
   * residual error moves acceptance by ~0.01. */
  CHECK(nd == 24000 && nw == burn, "%d draws, %d warm-up", (int)nd, (int)nw);
  CHECK(fabs(early - target) > 0.2, "%s: initial step %g should be far off, acceptance %.3f", kernel, (double)step0,
        (double)early);
  CHECK(changed == burn - 1, "%s: the step changed %d times in %d burn-in iterations", kernel, (int)changed,
        (int)burn);
  CHECK(fabs(late - target) < 0.06, "%s: acceptance at end of burn-in %.3f, target %.3f", kernel, (double)late,
        (double)target);
  CHECK(frozen, "%s: the step size changed after burn-in", kernel);
  /* HMC's acceptance is far steeper in its step (L = 10 leapfrog steps):
   * on seeds 1 to 6 the frozen steps 0.156 to 0.161 gave 0.59 to 0.67. */
  CHECK(fabs(samp - target) < (strstr(kernel, "hmc") ? 0.1 : 0.04), "%s: acceptance after burn-in %.3f, target %.3f",
        kernel, (double)samp, (double)target);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "adaptation %s: step %g -> %g, acceptance %.3f -> %.3f -> %.3f\n", kernel,
                        (double)step0, (double)final, (double)early, (double)late, (double)samp));
  PetscCall(McChainDestroy(&c));
  PetscCall(McKernelDestroy(&k));
  PetscCall(McSinkDestroy(&s));
  PetscCall(McTargetDestroy(&t));
  PetscFunctionReturn(0);
}

/* Thinning, draw indices, progress reports, McChainRun on a finished chain. */
static PetscErrorCode TestThinning(void)
{
  PetscReal          mu[2], C[4];
  McTarget           t;
  McKernel           k;
  McChain            c;
  McSink             s;
  StopCtx            p = {NULL, -1, 0, 0};
  PetscInt           nd, nw = 0;
  const McStepStats *ss;
  const PetscInt    *draw;
  McChainStats       st;

  PetscFunctionBeginUser;
  Gauss2D(mu, C);
  PetscCall(McTargetCreateGaussian(2, mu, C, &t));
  PetscCall(McKernelCreate(t, MC_KERNEL_PCN, &k));
  PetscCall(McChainCreate(k, &c));
  PetscCall(McChainSetIterations(c, 1000, 100, 7));
  PetscCall(McChainSetSaveWarmup(c, PETSC_TRUE));
  PetscCall(McSinkCreateMemory(2, 0, 200, &s));
  PetscCall(McChainSetSink(c, s));
  p.chain = c;
  PetscCall(McChainSetProgress(c, StopAt, &p, 100));
  PetscCall(McChainSetUp(c));
  PetscCall(McChainRun(c));
  PetscCall(McChainRun(c)); /* finished: does nothing */
  PetscCall(McChainGetStats(c, &st));
  PetscCall(McSinkMemoryGetDraws(s, &nd, NULL, &ss, NULL, &draw));
  for (PetscInt i = 0; i < nd; i++) {
    nw += ss[i].warmup;
    CHECK(draw[i] == i, "draw index %d at %d", (int)draw[i], (int)i);
  }
  /* 100/7 = 14 warm-up draws and 1000/7 = 142 draws */
  CHECK(nd == 156 && nw == 14 && st.kept == 156 && st.iterations == 1100, "draws %d (warm-up %d), kept %d, it %d",
        (int)nd, (int)nw, (int)st.kept, (int)st.iterations);
  /* every 100 iterations: 11 reports, none from the second run */
  CHECK(p.calls == 11 && p.last == 1100, "progress called %d times, last at %d", (int)p.calls, (int)p.last);
  PetscCall(McChainDestroy(&c));
  PetscCall(McKernelDestroy(&k));
  PetscCall(McSinkDestroy(&s));
  PetscCall(McTargetDestroy(&t));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  const char *kernels[6] = {MC_KERNEL_PCN,  MC_KERNEL_RWM,     MC_KERNEL_AM,
                            MC_KERNEL_MALA, MC_KERNEL_INFMALA, MC_KERNEL_INFHMC};

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  for (int i = 0; i < 6; i++) {
    PetscCall(TestCheckpoint(kernels[i], 150)); /* mid burn-in */
    PetscCall(TestCheckpoint(kernels[i], 650)); /* mid sampling */
    PetscCall(TestFailures(kernels[i]));
  }
  PetscCall(TestFailuresUnbiased());
  PetscCall(TestAdaptation(MC_KERNEL_RWM, 30));
  PetscCall(TestAdaptation(MC_KERNEL_PCN, 1e-3));
  PetscCall(TestAdaptation(MC_KERNEL_AM, 1e-3));
  PetscCall(TestAdaptation(MC_KERNEL_MALA, 5));
  PetscCall(TestAdaptation(MC_KERNEL_INFMALA, 1e-4));
  PetscCall(TestAdaptation(MC_KERNEL_INFHMC, 1e-3));
  PetscCall(TestThinning());
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%d failures\n", failures));
  PetscCall(PetscFinalize());
  return failures != 0;
}
