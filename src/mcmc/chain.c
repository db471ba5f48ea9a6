/* The chain driver: burn-in with adaptation, then sampling with thinning;
 * kept draws go to the sink, progress to a callback, and the whole state can
 * be checkpointed and restored so that a resumed chain is bit-identical to
 * one that never stopped.
 *
 * Everything the loop touches is allocated in McChainSetUp (and
 * McCheckpointCreate); the loop itself only steps the kernel and counts. */
#include "mcmc/mcmc_impl.h"

#include <signal.h>

struct _p_McChain {
  MC_OBJECT_HEAD;
  McKernel              kernel;
  McSink                sink;
  McRng                 rng;
  PetscInt              iterations, burn, thin;
  uint64_t              seed;
  PetscInt              index;
  PetscBool             save_warmup, setup, begun, ended, adapt;
  Vec                   x0;
  McProgressFn          progress;
  void                 *progress_ctx;
  PetscInt              progress_every;
  volatile sig_atomic_t stop;
  /* The counters a checkpoint carries. */
  PetscInt  it, kept, acc_burn, acc, failed;
  PetscReal sum_alpha;
  /* Timing of this process's run calls (not part of the chain's state). */
  PetscReal seconds;
  PetscInt  ran;
};

/* A chain holds references to its kernel and its sink. */
static int ChainTraverse(McObject *o, McVisitProc visit, void *arg)
{
  McChain c = (McChain)o;

  MC_VISIT(c->kernel);
  MC_VISIT(c->sink);
  return 0;
}

static void ChainClear(McObject *o)
{
  McChain c = (McChain)o;

  MC_CLEAR(c->kernel);
  MC_CLEAR(c->sink);
}

static void ChainDealloc(McObject *o)
{
  McChain c = (McChain)o;

  MC_DEALLOC_CALL(McRngDestroy(&c->rng));
  MC_DEALLOC_CALL(VecDestroy(&c->x0));
}

static const McType McChainType = {"McChain", sizeof(struct _p_McChain), NULL, ChainDealloc, ChainTraverse,
                                   ChainClear};

PetscErrorCode McChainCreate(McKernel kernel, McChain *chain)
{
  McChain c;

  PetscFunctionBeginUser;
  PetscCall(McObjectCreate(&McChainType, &c));
  McIncref(kernel);
  c->kernel = kernel;
  c->iterations = 1000;
  c->burn = 0;
  c->thin = 1;
  c->adapt = PETSC_TRUE;
  *chain = c;
  PetscFunctionReturn(0);
}

PetscErrorCode McChainReference(McChain chain)
{
  PetscFunctionBeginUser;
  McIncref(chain);
  PetscFunctionReturn(0);
}

PetscErrorCode McChainDestroy(McChain *chain)
{
  PetscFunctionBeginUser;
  PetscCall(McObjectDestroy(chain));
  PetscFunctionReturn(0);
}

static MPI_Comm ChainComm(McChain c)
{
  return c->kernel->target->comm;
}

PetscErrorCode McChainSetIterations(McChain chain, PetscInt iterations, PetscInt burn_in, PetscInt thin)
{
  PetscFunctionBeginUser;
  PetscCheck(!chain->setup, ChainComm(chain), PETSC_ERR_ORDER, "set the iterations before McChainSetUp");
  PetscCheck(iterations >= 0 && burn_in >= 0 && thin >= 1, ChainComm(chain), PETSC_ERR_ARG_OUTOFRANGE,
             "chain needs iterations >= 0, burn_in >= 0, thin >= 1; got %d, %d, %d", (int)iterations, (int)burn_in,
             (int)thin);
  chain->iterations = iterations;
  chain->burn = burn_in;
  chain->thin = thin;
  PetscFunctionReturn(0);
}

PetscErrorCode McChainSetSeed(McChain chain, uint64_t seed, PetscInt chain_index)
{
  PetscFunctionBeginUser;
  PetscCheck(!chain->setup, ChainComm(chain), PETSC_ERR_ORDER, "set the seed before McChainSetUp");
  PetscCheck(chain_index >= 0, ChainComm(chain), PETSC_ERR_ARG_OUTOFRANGE, "chain index must be >= 0, got %d",
             (int)chain_index);
  chain->seed = seed;
  chain->index = chain_index;
  PetscFunctionReturn(0);
}

PetscErrorCode McChainSetSink(McChain chain, McSink sink)
{
  PetscFunctionBeginUser;
  McIncref(sink); /* the new before the old: sink may be the one held already */
  MC_CLEAR(chain->sink);
  chain->sink = sink;
  PetscFunctionReturn(0);
}

PetscErrorCode McChainSetAdaptation(McChain chain, PetscBool adapt)
{
  PetscFunctionBeginUser;
  chain->adapt = adapt;
  PetscFunctionReturn(0);
}

PetscErrorCode McChainSetSaveWarmup(McChain chain, PetscBool save)
{
  PetscFunctionBeginUser;
  chain->save_warmup = save;
  PetscFunctionReturn(0);
}

PetscErrorCode McChainSetInitialState(McChain chain, Vec xi)
{
  PetscFunctionBeginUser;
  if (!chain->x0) PetscCall(VecDuplicate(xi, &chain->x0));
  PetscCall(VecCopy(xi, chain->x0));
  PetscFunctionReturn(0);
}

PetscErrorCode McChainSetProgress(McChain chain, McProgressFn fn, void *ctx, PetscInt every)
{
  PetscFunctionBeginUser;
  PetscCheck(!fn || every >= 1, ChainComm(chain), PETSC_ERR_ARG_OUTOFRANGE,
             "progress interval must be >= 1 iteration, got %d", (int)every);
  chain->progress = fn;
  chain->progress_ctx = ctx;
  chain->progress_every = every;
  PetscFunctionReturn(0);
}

PetscErrorCode McChainSetUp(McChain chain)
{
  Vec x;

  PetscFunctionBeginUser;
  if (chain->setup) PetscFunctionReturn(0);
  PetscCall(McKernelSetUp(chain->kernel));
  PetscCall(McRngCreate(chain->seed, (uint64_t)chain->index, &chain->rng));
  if (chain->x0) {
    PetscCall(McKernelSetState(chain->kernel, chain->x0));
  } else {
    PetscCall(McTargetCreateVec(chain->kernel->target, &x));
    PetscCall(VecSet(x, 0));
    PetscCall(McKernelSetState(chain->kernel, x));
    PetscCall(VecDestroy(&x));
  }
  chain->setup = PETSC_TRUE;
  PetscFunctionReturn(0);
}

static PetscErrorCode Progress(McChain c, PetscReal elapsed, PetscInt ran)
{
  McProgress p;
  PetscInt   total = c->burn + c->iterations;

  PetscFunctionBeginUser;
  p.iteration = c->it;
  p.total = total;
  p.burn_in = c->burn;
  p.elapsed = elapsed;
  p.rate = elapsed > 0 ? ran / elapsed : 0;
  p.eta = p.rate > 0 ? (total - c->it) / p.rate : 0;
  if (c->it <= c->burn) p.acceptance = c->it ? (PetscReal)c->acc_burn / c->it : 0;
  else p.acceptance = (PetscReal)c->acc / (c->it - c->burn);
  p.failed = c->failed;
  PetscCall(c->progress(c->progress_ctx, &p));
  PetscFunctionReturn(0);
}

/* Whether the iteration just done (index it-1) is kept. */
static PetscBool Kept(McChain c)
{
  PetscInt j = c->it - 1;

  if (j < c->burn) return c->save_warmup && (j + 1) % c->thin == 0;
  return (j - c->burn + 1) % c->thin == 0;
}

PetscErrorCode McChainRunSteps(McChain chain, PetscInt nsteps)
{
  PetscInt       total = chain->burn + chain->iterations, end, start = chain->it;
  PetscLogDouble t0, t1;
  McStepStats    st;
  const PetscReal *qoi;

  PetscFunctionBeginUser;
  PetscCheck(chain->setup, ChainComm(chain), PETSC_ERR_ORDER, "call McChainSetUp before running the chain");
  if (chain->sink && !chain->begun) {
    McSinkInfo info;
    info.nparams = chain->kernel->target->N;
    PetscCall(McTargetGetQoI(chain->kernel->target, &info.nqoi, &info.qoi_names));
    info.ndraws = chain->iterations / chain->thin + (chain->save_warmup ? chain->burn / chain->thin : 0);
    info.chain = chain->index;
    info.kernel = chain->kernel->type;
    PetscCall(McSinkBegin(chain->sink, &info));
  }
  chain->begun = PETSC_TRUE;
  chain->stop = 0;
  end = nsteps < total - chain->it ? chain->it + nsteps : total;
  PetscCall(PetscTime(&t0));
  while (chain->it < end && !chain->stop) {
    PetscBool warm = chain->it < chain->burn ? PETSC_TRUE : PETSC_FALSE;

    /* Adaptation is on exactly for the burn-in iterations: the step that
     * ends burn-in is the last one to change the kernel. */
    chain->kernel->adapt = warm && chain->adapt ? PETSC_TRUE : PETSC_FALSE;
    PetscCall(McKernelStep(chain->kernel, chain->rng, &st));
    st.warmup = warm;
    if (warm) {
      chain->acc_burn += st.accepted;
    } else {
      chain->acc += st.accepted;
      chain->sum_alpha += st.accept_prob;
    }
    chain->failed += st.failed;
    chain->it++;
    if (chain->sink && Kept(chain)) {
      qoi = chain->kernel->cur.qoi;
      PetscCall(McSinkRecord(chain->sink, chain->kept, chain->kernel->cur.xi, &st, qoi));
      chain->kept++;
    }
    if (chain->progress && chain->it % chain->progress_every == 0) {
      PetscCall(PetscTime(&t1));
      PetscCall(Progress(chain, (PetscReal)(t1 - t0), chain->it - start));
    }
  }
  chain->kernel->adapt = PETSC_FALSE;
  PetscCall(PetscTime(&t1));
  chain->seconds += (PetscReal)(t1 - t0);
  chain->ran += chain->it - start;
  if (chain->progress && chain->it % chain->progress_every != 0)
    PetscCall(Progress(chain, (PetscReal)(t1 - t0), chain->it - start));
  if (chain->it == total && !chain->ended) {
    chain->ended = PETSC_TRUE;
    if (chain->sink) PetscCall(McSinkEnd(chain->sink));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McChainRun(McChain chain)
{
  PetscFunctionBeginUser;
  PetscCall(McChainRunSteps(chain, PETSC_MAX_INT));
  PetscFunctionReturn(0);
}

void McChainRequestStop(McChain chain)
{
  chain->stop = 1;
}

PetscErrorCode McChainIsDone(McChain chain, PetscBool *done)
{
  PetscFunctionBeginUser;
  *done = chain->it >= chain->burn + chain->iterations ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

PetscErrorCode McChainGetKernel(McChain chain, McKernel *kernel)
{
  PetscFunctionBeginUser;
  *kernel = chain->kernel;
  PetscFunctionReturn(0);
}

PetscErrorCode McChainGetStats(McChain chain, McChainStats *s)
{
  PetscInt sampled = chain->it > chain->burn ? chain->it - chain->burn : 0;

  PetscFunctionBeginUser;
  s->iterations = chain->it;
  s->kept = chain->kept;
  s->accepted_burnin = chain->acc_burn;
  s->accepted = chain->acc;
  s->failed = chain->failed;
  s->acceptance = sampled ? (PetscReal)chain->acc / sampled : 0;
  s->mean_accept_prob = sampled ? chain->sum_alpha / sampled : 0;
  s->step_size = McKernelStep_Private(chain->kernel);
  s->second_step = McKernelSecondStep_Private(chain->kernel);
  s->seconds = chain->seconds;
  s->samples_per_sec = chain->seconds > 0 ? chain->ran / chain->seconds : 0;
  PetscFunctionReturn(0);
}

PetscErrorCode McCheckpointCreate(McChain chain, McCheckpoint **ckpt)
{
  McCheckpoint *c;

  PetscFunctionBeginUser;
  PetscCheck(chain->setup, ChainComm(chain), PETSC_ERR_ORDER, "call McChainSetUp before McCheckpointCreate");
  PetscCall(McCalloc(sizeof(*c), &c));
  PetscCall(McTargetCreateVec(chain->kernel->target, &c->xi));
  c->rng_size = McRngStateSize(chain->rng);
  PetscCall(McMalloc((size_t)(c->rng_size) * sizeof(*c->rng), &c->rng));
  PetscCall(McKernelAdaptSize(chain->kernel, &c->nadapt));
  PetscCall(McMalloc((size_t)(c->nadapt) * sizeof(*c->adapt), &c->adapt));
  c->seed = chain->seed;
  c->chain = chain->index;
  *ckpt = c;
  PetscFunctionReturn(0);
}

PetscErrorCode McCheckpointDestroy(McCheckpoint **ckpt)
{
  McCheckpoint *c = *ckpt;

  PetscFunctionBeginUser;
  *ckpt = NULL;
  if (!c) PetscFunctionReturn(0);
  PetscCall(VecDestroy(&c->xi));
  PetscCall(McFree(&c->rng));
  PetscCall(McFree(&c->adapt));
  PetscCall(McFree(&c));
  PetscFunctionReturn(0);
}

PetscErrorCode McChainCheckpointSave(McChain chain, McCheckpoint *ckpt)
{
  PetscFunctionBeginUser;
  PetscCheck(chain->setup, ChainComm(chain), PETSC_ERR_ORDER, "call McChainSetUp before saving a checkpoint");
  ckpt->iteration = chain->it;
  ckpt->kept = chain->kept;
  ckpt->accepted_burnin = chain->acc_burn;
  ckpt->accepted = chain->acc;
  ckpt->failed = chain->failed;
  ckpt->sum_accept_prob = chain->sum_alpha;
  ckpt->seed = chain->seed;
  ckpt->chain = chain->index;
  PetscCall(McKernelGetLogPosterior(chain->kernel, &ckpt->log_post));
  PetscCall(VecCopy(chain->kernel->cur.xi, ckpt->xi));
  PetscCall(McRngSave(chain->rng, ckpt->rng, ckpt->rng_size));
  PetscCall(McKernelAdaptSave(chain->kernel, ckpt->adapt));
  PetscFunctionReturn(0);
}

PetscErrorCode McChainCheckpointRestore(McChain chain, const McCheckpoint *ckpt)
{
  PetscInt  nadapt;
  PetscReal lp;

  PetscFunctionBeginUser;
  PetscCheck(chain->setup, ChainComm(chain), PETSC_ERR_ORDER, "call McChainSetUp before restoring a checkpoint");
  PetscCheck(ckpt->seed == chain->seed && ckpt->chain == chain->index, ChainComm(chain), PETSC_ERR_ARG_WRONG,
             "checkpoint belongs to seed %llu chain %d, this chain is seed %llu chain %d",
             (unsigned long long)ckpt->seed, (int)ckpt->chain, (unsigned long long)chain->seed, (int)chain->index);
  PetscCall(McKernelAdaptSize(chain->kernel, &nadapt));
  PetscCheck(nadapt == ckpt->nadapt, ChainComm(chain), PETSC_ERR_ARG_SIZ,
             "checkpoint has %d adaptation values, kernel '%s' needs %d (another kernel or dimension?)",
             (int)ckpt->nadapt, chain->kernel->type, (int)nadapt);
  PetscCheck(ckpt->iteration <= chain->burn + chain->iterations, ChainComm(chain), PETSC_ERR_ARG_OUTOFRANGE,
             "checkpoint is at iteration %d, beyond this chain's %d", (int)ckpt->iteration,
             (int)(chain->burn + chain->iterations));
  PetscCall(McKernelSetState(chain->kernel, ckpt->xi));
  PetscCall(McKernelGetLogPosterior(chain->kernel, &lp));
  if (lp != ckpt->log_post)
    PetscCall(PetscInfo(NULL, "resumed state has log posterior %.17g, the checkpoint %.17g: the target is not "
                              "deterministic, so the continuation will not be bit-identical\n",
                        (double)lp, (double)ckpt->log_post));
  PetscCall(McRngRestore(chain->rng, ckpt->rng, ckpt->rng_size));
  PetscCall(McKernelAdaptRestore(chain->kernel, ckpt->adapt));
  chain->it = ckpt->iteration;
  chain->kept = ckpt->kept;
  chain->acc_burn = ckpt->accepted_burnin;
  chain->acc = ckpt->accepted;
  chain->failed = ckpt->failed;
  chain->sum_alpha = ckpt->sum_accept_prob;
  chain->ended = PETSC_FALSE;
  PetscFunctionReturn(0);
}
