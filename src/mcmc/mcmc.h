/* The sampler: targets, MCMC kernels, the chain driver, sample sinks, and
 * the effective-sample-size utilities that judge a chain.
 *
 * The one idea: everything works in WHITENED coordinates. The parameter xi
 * (a PETSc Vec, so it can be distributed over a chain's communicator) has the
 * prior N(0, I); a target only supplies the potential Phi(xi), the negative
 * log-likelihood, and optionally its gradient. The log posterior is
 * -Phi(xi) - |xi|^2/2 up to a constant. The model module maps xi to a field
 * (KL expansion, SPDE prior square root, ...) behind McTargetCreateShell.
 *
 * Lifecycle (PETSc style): Create -> Set... -> SetUp -> use -> Destroy(&x).
 * McTarget, McKernel, McSink and McChain are objects of the object layer
 * (src/obj): a kernel holds a reference to its target, a chain to its kernel
 * and sink (both visited by the collector); Destroy drops one reference and
 * sets the caller's handle to NULL. All memory goes through McMalloc. */
#pragma once

#include <petscvec.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* Random numbers                                                           */
/* ------------------------------------------------------------------------ */

/* A GSL generator (MT19937) for one chain. Streams for different (seed,
 * chain) pairs are independent: the whole 19937-bit state is filled from a
 * splitmix64 sequence started at a hash of both, not from a 32-bit seed. */
typedef struct _p_McRng *McRng;

/* One step of splitmix64 (Steele, Lea, Flood 2014): advances *state and
 * returns the next 64-bit output. Used to derive streams and exposed so that
 * tests can check it against the reference values. */
uint64_t McSplitMix64(uint64_t *state);

/* Ownership: returns a new generator in *rng; the caller destroys it. */
PetscErrorCode McRngCreate(uint64_t seed, uint64_t chain, McRng *rng);
PetscErrorCode McRngDestroy(McRng *rng);
/* Uniform on the open interval (0, 1). */
double McRngUniform(McRng rng);
/* Standard normal (GSL's ziggurat). */
double McRngGaussian(McRng rng);
/* Fills v with independent standard normals. Every rank of v's communicator
 * must hold a generator in the same state: each draws all N global values and
 * keeps its own slice, so the result does not depend on the partition and the
 * generators stay in step. Ownership: borrows v. */
PetscErrorCode McRngGaussianVec(McRng rng, Vec v);
/* Fills x[0..n) with standard normals (the same on every rank). */
void McRngGaussianArray(McRng rng, PetscInt n, PetscReal *x);
/* Bytes of the generator state, for McRngSave/McRngRestore. */
size_t McRngStateSize(McRng rng);
/* Copies the exact generator state to/from buf (size bytes, which must be
 * McRngStateSize). A restored generator continues the saved stream bit for
 * bit. Ownership: borrows buf. */
PetscErrorCode McRngSave(McRng rng, void *buf, size_t size);
PetscErrorCode McRngRestore(McRng rng, const void *buf, size_t size);

/* ------------------------------------------------------------------------ */
/* Targets                                                                  */
/* ------------------------------------------------------------------------ */

/* The outcome of evaluating a target. A failed forward solve, NaN or overflow
 * is a RESULT (the kernel rejects the proposal and counts it), never a PETSc
 * error; PETSc errors are reserved for bugs and broken set-ups. */
typedef enum { MC_EVAL_OK = 0, MC_EVAL_FAILED = 1 } McEvalStatus;

typedef struct _p_McTarget *McTarget;

/* What a target implementation provides. Only potential is required.
 * Contract on the call order, which lets a PDE model reuse its forward
 * solution: gradient and qoi are called only at the xi of the most recent
 * potential call, and only when that call returned MC_EVAL_OK. None of them
 * may allocate in steady state. */
typedef struct {
  /* Phi(xi) into *phi; *status = MC_EVAL_FAILED when it cannot be computed. */
  PetscErrorCode (*potential)(void *ctx, Vec xi, PetscReal *phi, McEvalStatus *status);
  /* grad Phi(xi) into grad (same layout as xi). Optional (MALA needs it). */
  PetscErrorCode (*gradient)(void *ctx, Vec xi, Vec grad, McEvalStatus *status);
  /* The nqoi quantities of interest at xi into values[0..nqoi). Optional. */
  PetscErrorCode (*qoi)(void *ctx, Vec xi, PetscReal *values);
  /* Releases ctx when the target is destroyed. Optional. */
  PetscErrorCode (*destroy)(void *ctx);
} McTargetOps;

/* A target from function pointers and a context (the model module's way in).
 * n local and N global parameters on comm (PETSC_DECIDE allowed for one).
 * nqoi names are copied. Ownership: returns a new reference; the target owns
 * ctx from then on (ops->destroy releases it). */
PetscErrorCode McTargetCreateShell(MPI_Comm comm, PetscInt n, PetscInt N, const McTargetOps *ops, void *ctx,
                                   PetscInt nqoi, const char *const *qoi_names, McTarget *target);
/* Ownership: takes a new reference. */
PetscErrorCode McTargetReference(McTarget target);
/* base's potential plus <g, xi> (gradient plus g, the same Hessian action;
 * no QoIs): a surrogate whose gradient is matched to a target's at one
 * point. g is copied. Ownership: returns a new reference; takes one to base. */
PetscErrorCode McTargetCreateTilted(McTarget base, Vec g, McTarget *target);
/* Ownership: drops the caller's reference, sets *target to NULL. */
PetscErrorCode McTargetDestroy(McTarget *target);

/* A Gaussian posterior N(mu, C) on n parameters (serial), written as the
 * potential Phi = -log N(xi; mu, C) - |xi|^2/2 (constants dropped), with its
 * gradient. mu[n] and C[n*n] (row-major, symmetric positive definite) are
 * copied. For tests: every kernel's answer is known exactly. Ownership:
 * returns a new reference. */
PetscErrorCode McTargetCreateGaussian(PetscInt n, const PetscReal *mu, const PetscReal *C, McTarget *target);
/* A linear-Gaussian likelihood y = A xi + e, e ~ N(0, diag(sigma^2)), with
 * A[m*n] row-major, y[m], sigma[m] copied (serial). The posterior is Gaussian:
 * covariance (I + A^T S^-2 A)^-1, mean that times A^T S^-2 y. It has the
 * Hessian action (McTargetSetHessian) A^T S^-2 A v. Ownership: returns a new
 * reference. */
PetscErrorCode McTargetCreateLinearGaussian(PetscInt n, PetscInt m, const PetscReal *A, const PetscReal *y,
                                            const PetscReal *sigma, McTarget *target);
/* Replaces the data y[m] of a linear-Gaussian target (simulation-based
 * calibration re-uses one target for many data sets). */
PetscErrorCode McTargetLinearGaussianSetData(McTarget target, const PetscReal *y);

/* The Gauss-Newton Hessian of Phi (positive semi-definite), as an action
 * Hv = H v at the xi of the most recent successful potential call (the
 * shell's call-order contract). Optional: dili's likelihood-informed
 * subspace update during burn-in needs it. It must not allocate in steady
 * state, and must leave the evaluation at that xi intact (its gradient and
 * QoIs). */
typedef PetscErrorCode (*McTargetHessianFn)(void *ctx, Vec v, Vec Hv);
/* Ownership: the function uses the target's ctx. */
PetscErrorCode McTargetSetHessian(McTarget target, McTargetHessianFn hessian);
PetscErrorCode McTargetHasHessian(McTarget target, PetscBool *has);
/* Ownership: borrows v and Hv. */
PetscErrorCode McTargetHessian(McTarget target, Vec v, Vec Hv);

/* Layout and evaluation. Get returns borrowed values. */
PetscErrorCode McTargetGetComm(McTarget target, MPI_Comm *comm);
PetscErrorCode McTargetGetSizes(McTarget target, PetscInt *n, PetscInt *N);
/* A vector with the parameter layout. Ownership: returns a new Vec. */
PetscErrorCode McTargetCreateVec(McTarget target, Vec *v);
/* The target's vectors become duplicates of v (its sizes must be the
 * target's): they carry what v carries, e.g. the DM whose natural numbering
 * a chain on several ranks draws its proposals in. Call before the kernels
 * are created. Ownership: borrows v (keeps a duplicate). */
PetscErrorCode McTargetSetVecTemplate(McTarget target, Vec v);
PetscErrorCode McTargetHasGradient(McTarget target, PetscBool *has);
PetscErrorCode McTargetGetQoI(McTarget target, PetscInt *nqoi, const char *const **names);
/* Evaluation with the shell's call-order contract. Ownership: borrows xi. */
PetscErrorCode McTargetPotential(McTarget target, Vec xi, PetscReal *phi, McEvalStatus *status);
PetscErrorCode McTargetGradient(McTarget target, Vec xi, Vec grad, McEvalStatus *status);
PetscErrorCode McTargetQoI(McTarget target, Vec xi, PetscReal *values);
/* An optional pair, for a potential that is cheaper near the state of the
 * most recent potential (or accept) call, e.g. a forward solve
 * preconditioned by that state's factorisation. proposal: Phi at a
 * proposal, to the model's solver tolerance; it may depend on xi and that
 * reference state only, never on earlier proposals. accept: xi (the
 * accepted proposal) becomes the reference state; Phi there exactly as
 * potential computes it (so the chain's state is a function of xi alone and
 * a resumed run repeats it bit for bit). Kernels without a gradient use the
 * pair when it is set; gradient and qoi may follow accept as they follow
 * potential. Both NULL removes it. Ownership: the functions use the
 * target's ctx. */
typedef PetscErrorCode (*McTargetPotentialFn)(void *ctx, Vec xi, PetscReal *phi, McEvalStatus *status);
PetscErrorCode McTargetSetProposalPotential(McTarget target, McTargetPotentialFn proposal, McTargetPotentialFn accept);
/* has: whether the pair is set. */
PetscErrorCode McTargetHasProposalPotential(McTarget target, PetscBool *has);
/* Calls of the pair (an error when it is not set). Ownership: borrows xi. */
PetscErrorCode McTargetProposalPotential(McTarget target, Vec xi, PetscReal *phi, McEvalStatus *status);
PetscErrorCode McTargetAccept(McTarget target, Vec xi, PetscReal *phi, McEvalStatus *status);

/* ------------------------------------------------------------------------ */
/* Kernels                                                                  */
/* ------------------------------------------------------------------------ */

/* What one MCMC step did. */
typedef struct {
  PetscInt  accepted;    /* 1 if the proposal was accepted */
  PetscInt  failed;      /* 1 if the target could not be evaluated at the proposal */
  PetscReal accept_prob; /* min(1, MH ratio); 0 for a failed proposal */
  PetscReal log_post;    /* log posterior of the state after the step (unnormalised) */
  PetscReal step_size;   /* the step size the proposal used */
  PetscInt  warmup;      /* 1 during burn-in (adaptation may be on) */
} McStepStats;

typedef struct _p_McKernel *McKernel;

/* Built-in kernel names. */
#define MC_KERNEL_PCN     "pcn"     /* preconditioned Crank-Nicolson; step = beta in (0, 1] */
#define MC_KERNEL_RWM     "rwm"     /* random-walk Metropolis; step = sigma */
#define MC_KERNEL_AM      "am"      /* adaptive Metropolis (Haario et al. 2001); step scales chol(C) */
#define MC_KERNEL_MALA    "mala"    /* Metropolis-adjusted Langevin on the posterior; step = h */
#define MC_KERNEL_INFMALA "infmala" /* infinity-MALA (Cotter et al. 2013); step = delta */
#define MC_KERNEL_INFHMC  "infhmc"  /* infinity-HMC (Beskos et al. 2011); step = h in (0, pi/2], "leapfrog_steps" */
/* Hessian-informed kernels: they need a Gaussian reference (the Laplace
 * approximation at the MAP point), McKernelSetGaussianReference. */
#define MC_KERNEL_HPCN  "hpcn"  /* generalised pCN with the reference as prior (gpCN); step = beta in (0, 1] */
#define MC_KERNEL_HMALA "hmala" /* infinity-MALA with the reference (stochastic-Newton-like); step = delta in (0, 2] */
#define MC_KERNEL_DILI                                                                                                 \
  "dili"                        /* likelihood-informed subspace Langevin + complement pCN; step = delta, "beta_perp",  \
                                 * "lis_update_every" (burn-in subspace updates; needs McTargetSetHessian) */
#define MC_KERNEL_HHMC  "hhmc"  /* infinity-HMC with the reference; step = h in (0, pi/2], "leapfrog_steps" */
#define MC_KERNEL_DR    "dr"    /* delayed rejection: hpcn (step = beta), then hmala ("delta2") */
#define MC_KERNEL_DA    "da"    /* delayed acceptance around a first-stage kernel: McKernelCreateDelayedAcceptance */

/* A kernel implementation's constructor: fills the kernel's ops and data. */
typedef PetscErrorCode (*McKernelConstructor)(McKernel kernel);
/* Registers a kernel type under name (at most 32 types; names are copied). */
PetscErrorCode McKernelRegister(const char *name, McKernelConstructor create);

/* Ownership: returns a new reference; the kernel takes a reference to target.
 * An unknown name is an error listing the registered ones. */
PetscErrorCode McKernelCreate(McTarget target, const char *name, McKernel *kernel);
PetscErrorCode McKernelReference(McKernel kernel);
/* Delayed acceptance (Christen & Fox 2005): `first`, a kernel on a cheap
 * surrogate of target (the same parameter layout and the same Gaussian
 * prior, e.g. a coarser forward model), proposes, and only a move it
 * accepts is evaluated on target, then accepted with probability
 * min(1, exp(Phi_s(y) - Phi_s(x) - Phi(y) + Phi(x))); the chain is exact for
 * target, and a proposal the surrogate rejects costs no target evaluation.
 * first is configured as usual (step, target acceptance, reference,
 * parameters, which McKernelSetParameter on the combined kernel passes on);
 * it adapts on its own acceptance, and its step is the combined kernel's.
 * Ownership: returns a new reference; takes references to target and first. */
PetscErrorCode McKernelCreateDelayedAcceptance(McTarget target, McKernel first, McKernel *kernel);
PetscErrorCode McKernelDestroy(McKernel *kernel);
PetscErrorCode McKernelGetType(McKernel kernel, const char **name);
/* Ownership: returns a borrowed target. */
PetscErrorCode McKernelGetTarget(McKernel kernel, McTarget *target);

/* Initial step size (each kernel has a sensible default for its dimension). */
PetscErrorCode McKernelSetStepSize(McKernel kernel, PetscReal step);
PetscErrorCode McKernelGetStepSize(McKernel kernel, PetscReal *step);
/* Target acceptance probability of the adaptation (defaults: 0.234 for
 * pcn/rwm/am, 0.574 for mala/infmala/hmala/dili, 0.3 for hpcn/dr, 0.65 for
 * infhmc/hhmc). */
PetscErrorCode McKernelSetTargetAcceptance(McKernel kernel, PetscReal target);
/* Robbins-Monro gain gamma_n = gain * (n+1)^-decay on log step size
 * (defaults 1 and 0.6; Andrieu & Thoms 2008 need decay in (0.5, 1]). */
PetscErrorCode McKernelSetAdaptationRate(McKernel kernel, PetscReal gain, PetscReal decay);
/* Turns adaptation (step size and, for am, covariance) on or off. The chain
 * turns it on for burn-in and off at its end. */
PetscErrorCode McKernelSetAdapt(McKernel kernel, PetscBool adapt);
/* A kernel-specific numeric parameter by name (am: "t0", "epsilon",
 * "update_every"; infhmc, hhmc: "leapfrog_steps"). An unknown name is an
 * error naming the known ones. */
PetscErrorCode McKernelSetParameter(McKernel kernel, const char *name, PetscReal value);
/* rwm: proposal covariance C[n*n] (row-major SPD, serial layout of all N
 * parameters) instead of the identity; the step size scales its Cholesky
 * factor. Copied. */
PetscErrorCode McKernelRWMSetCovariance(McKernel kernel, PetscInt N, const PetscReal *C);

/* The Gaussian reference N(mean, I - V diag(lambda/(1+lambda)) V^T) of the
 * Hessian-informed kernels: mean (e.g. the MAP point), r orthonormal
 * vectors V and eigenvalues lambda[r] >= 0 of the prior-preconditioned
 * misfit Hessian (the Laplace approximation; the model module computes
 * them). Copied; may be set again (e.g. a new MAP) between steps, with the
 * same r without allocating. r < 1 or a negative lambda is an error. Kernels
 * that need it report its absence at McKernelSetUp. Ownership: borrows. */
PetscErrorCode McKernelSetGaussianReference(McKernel kernel, Vec mean, PetscInt r, const Vec V[],
                                            const PetscReal lambda[]);

/* The kernel's current Gaussian reference (dili updates its subspace
 * during burn-in). Ownership: borrowed, valid until the next step. */
PetscErrorCode McKernelGetGaussianReference(McKernel kernel, Vec *mean, PetscInt *r, const Vec **V,
                                            const PetscReal **lambda);

/* Allocates everything a step needs. */
PetscErrorCode McKernelSetUp(McKernel kernel);
/* Sets the current state to a copy of xi and evaluates the target there; a
 * failure at the initial state is an error. Ownership: borrows xi. */
PetscErrorCode McKernelSetState(McKernel kernel, Vec xi);
/* For kernels that evaluate proposals near the target's reference state
 * (McTargetSetProposalPotential): makes this kernel's current state the
 * reference again, through the target's accept function. Several chains
 * that share one target call it when their turn comes, so each chain's
 * proposals depend on its own state only, as if it ran alone. The state's
 * values are not touched. No-op for other kernels. */
PetscErrorCode McKernelAnchor(McKernel kernel);
/* Ownership: returns a borrowed Vec, valid until the next step. */
PetscErrorCode McKernelGetState(McKernel kernel, Vec *xi);
/* Log posterior, and the QoI values (borrowed, NULL if none) at the state. */
PetscErrorCode McKernelGetLogPosterior(McKernel kernel, PetscReal *lp);
PetscErrorCode McKernelGetQoIValues(McKernel kernel, const PetscReal **qoi);
/* One Metropolis-Hastings step; no allocation. Ownership: borrows rng. */
PetscErrorCode McKernelStep(McKernel kernel, McRng rng, McStepStats *stats);

/* The adaptation state (step size, counters, am's covariance) as a flat
 * array of McKernelAdaptSize reals, for checkpoints. */
PetscErrorCode McKernelAdaptSize(McKernel kernel, PetscInt *n);
PetscErrorCode McKernelAdaptSave(McKernel kernel, PetscReal *buf);
PetscErrorCode McKernelAdaptRestore(McKernel kernel, const PetscReal *buf);

/* ------------------------------------------------------------------------ */
/* Sinks                                                                    */
/* ------------------------------------------------------------------------ */

/* What a sink learns before the first draw. */
typedef struct {
  PetscInt           nparams;   /* global number of parameters */
  PetscInt           nqoi;      /* number of quantities of interest */
  const char *const *qoi_names; /* nqoi names (borrowed) */
  PetscInt           ndraws;    /* draws the chain will record (warm-up included if saved) */
  PetscInt           chain;     /* chain index */
  const char        *kernel;    /* kernel name */
} McSinkInfo;

typedef struct _p_McSink *McSink;

/* A sink's implementation. record is called only for kept draws, with the
 * draw's index (0-based, continuing across a resumed chain); xi, stats and
 * qoi are borrowed for the call. record must not allocate. */
typedef struct {
  PetscErrorCode (*begin)(void *ctx, const McSinkInfo *info);
  PetscErrorCode (*record)(void *ctx, PetscInt draw, Vec xi, const McStepStats *stats, const PetscReal *qoi);
  PetscErrorCode (*end)(void *ctx);
  PetscErrorCode (*destroy)(void *ctx);
} McSinkOps;

/* Ownership: returns a new reference; the sink owns ctx (ops->destroy). */
PetscErrorCode McSinkCreateShell(const McSinkOps *ops, void *ctx, McSink *sink);
/* An in-memory sink for up to capacity draws of the local part (n values) of
 * xi, preallocated; recording more is an error. */
PetscErrorCode McSinkCreateMemory(PetscInt n, PetscInt nqoi, PetscInt capacity, McSink *sink);
/* The recorded draws: xi as draws x n (row-major), stats, qoi as draws x
 * nqoi, draw indices. Ownership: borrowed arrays, valid while the sink lives. */
PetscErrorCode McSinkMemoryGetDraws(McSink sink, PetscInt *ndraws, const PetscReal **xi, const McStepStats **stats,
                                    const PetscReal **qoi, const PetscInt **draw);
/* Forgets the recorded draws (the storage stays). */
PetscErrorCode McSinkMemoryReset(McSink sink);
PetscErrorCode McSinkReference(McSink sink);
PetscErrorCode McSinkDestroy(McSink *sink);
PetscErrorCode McSinkBegin(McSink sink, const McSinkInfo *info);
PetscErrorCode McSinkRecord(McSink sink, PetscInt draw, Vec xi, const McStepStats *stats, const PetscReal *qoi);
PetscErrorCode McSinkEnd(McSink sink);

/* ------------------------------------------------------------------------ */
/* Chains                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct _p_McChain *McChain;

/* Passed to the progress callback. */
typedef struct {
  PetscInt  iteration;  /* iterations done (burn-in included) */
  PetscInt  total;      /* burn-in + sampling iterations */
  PetscInt  burn_in;    /* burn-in iterations */
  PetscReal elapsed;    /* wall seconds in this run call */
  PetscReal rate;       /* iterations per second in this run call */
  PetscReal eta;        /* seconds to the end at that rate */
  PetscReal acceptance; /* acceptance rate of the current phase so far */
  PetscInt  failed;     /* failed proposals so far */
} McProgress;

typedef PetscErrorCode (*McProgressFn)(void *ctx, const McProgress *progress);

/* End-of-run statistics. */
typedef struct {
  PetscInt  iterations;      /* done, burn-in included */
  PetscInt  kept;            /* draws given to the sink */
  PetscInt  accepted_burnin; /* accepted proposals in burn-in */
  PetscInt  accepted;        /* accepted proposals after burn-in */
  PetscInt  failed;          /* failed proposals, whole run */
  PetscReal acceptance;      /* accepted / sampling iterations (0 if none) */
  PetscReal mean_accept_prob;/* mean of min(1, ratio) after burn-in */
  PetscReal step_size;       /* the kernel's current step size */
  PetscReal second_step;     /* dr: its second stage's current step; 0 for other kernels */
  PetscReal seconds;         /* wall time in McChainRun calls */
  PetscReal samples_per_sec; /* iterations per wall second */
} McChainStats;

/* Everything needed to continue a chain bit-identically: the state, the
 * generator, the kernel's adaptation and the counters. Plain data so the
 * output module can write and read it. Create it once from a set-up chain;
 * McChainCheckpointSave then does not allocate. */
typedef struct {
  PetscInt       iteration; /* iterations done */
  PetscInt       kept;
  PetscInt       accepted_burnin, accepted, failed;
  PetscReal      sum_accept_prob; /* after burn-in */
  PetscReal      log_post;        /* at xi, to check a resumed evaluation */
  Vec            xi;              /* the current state */
  size_t         rng_size;
  unsigned char *rng;       /* McRngSave bytes */
  PetscInt       nadapt;
  PetscReal     *adapt;     /* McKernelAdaptSave values */
  uint64_t       seed;      /* must match the chain it is restored into */
  PetscInt       chain;
} McCheckpoint;

/* Ownership: returns a new reference; takes a reference to kernel. */
PetscErrorCode McChainCreate(McKernel kernel, McChain *chain);
PetscErrorCode McChainReference(McChain chain);
PetscErrorCode McChainDestroy(McChain *chain);
/* burn_in iterations with adaptation, then iterations sampling iterations of
 * which every thin-th is kept (iterations/thin draws). */
PetscErrorCode McChainSetIterations(McChain chain, PetscInt iterations, PetscInt burn_in, PetscInt thin);
PetscErrorCode McChainSetSeed(McChain chain, uint64_t seed, PetscInt chain_index);
/* Ownership: takes a reference to sink. */
PetscErrorCode McChainSetSink(McChain chain, McSink sink);
/* Whether burn-in adapts the kernel (default PETSC_TRUE); off, burn-in
 * iterations only move the chain towards the posterior. */
PetscErrorCode McChainSetAdaptation(McChain chain, PetscBool adapt);
/* Also record (thinned) burn-in draws, with stats.warmup = 1. */
PetscErrorCode McChainSetSaveWarmup(McChain chain, PetscBool save);
/* Initial state (copied; default: the prior mean 0). Ownership: borrows xi. */
PetscErrorCode McChainSetInitialState(McChain chain, Vec xi);
/* fn(ctx, progress) every `every` iterations and at the end of each run call. */
PetscErrorCode McChainSetProgress(McChain chain, McProgressFn fn, void *ctx, PetscInt every);
/* Creates the generator, sets the kernel up, evaluates the initial state. */
PetscErrorCode McChainSetUp(McChain chain);
/* Runs to the end (or until McChainRequestStop). */
PetscErrorCode McChainRun(McChain chain);
/* Runs at most nsteps more iterations. */
PetscErrorCode McChainRunSteps(McChain chain, PetscInt nsteps);
/* Asks a running chain to stop after the current iteration; only sets a flag,
 * so a signal handler may call it. */
void McChainRequestStop(McChain chain);
PetscErrorCode McChainIsDone(McChain chain, PetscBool *done);
PetscErrorCode McChainGetStats(McChain chain, McChainStats *stats);
/* Ownership: returns a borrowed kernel. */
PetscErrorCode McChainGetKernel(McChain chain, McKernel *kernel);

/* Ownership: returns a new checkpoint sized for the (set-up) chain. */
PetscErrorCode McCheckpointCreate(McChain chain, McCheckpoint **ckpt);
PetscErrorCode McCheckpointDestroy(McCheckpoint **ckpt);
/* Copies the chain's state into ckpt (no allocation). */
PetscErrorCode McChainCheckpointSave(McChain chain, McCheckpoint *ckpt);
/* Puts a set-up chain (same seed, chain index, kernel type and settings) in
 * the saved state; the target is re-evaluated at the saved xi. */
PetscErrorCode McChainCheckpointRestore(McChain chain, const McCheckpoint *ckpt);

/* ------------------------------------------------------------------------ */
/* Effective sample size and Monte Carlo standard errors                    */
/* ------------------------------------------------------------------------ */

/* Autocovariance acov[0..n) (divisor n) of x[i*stride], i < n, by FFT. */
PetscErrorCode McAutocovariance(PetscInt n, const PetscReal *x, PetscInt stride, PetscReal *acov);
/* The same for C chains of n draws stored one after another (x[c*n + i]),
 * lags 0..nlags-1 only (1 <= nlags <= n), into acov[c*n + k]; the other
 * entries of acov are not touched. Asking for fewer lags pads the FFT less.
 * Ownership: borrows x; acov is the caller's (C*n values). */
PetscErrorCode McAutocovariances(PetscInt C, PetscInt n, const PetscReal *x, PetscInt nlags, PetscReal *acov);
/* Effective sample size by Geyer's initial monotone sequence estimator. */
PetscErrorCode McESS(PetscInt n, const PetscReal *x, PetscInt stride, PetscReal *ess);
/* Mean and its MCSE sqrt(var / ESS). */
PetscErrorCode McMCSEMean(PetscInt n, const PetscReal *x, PetscInt stride, PetscReal *mean, PetscReal *mcse);
/* Variance (divisor n) and its MCSE: the MCSE of the mean of the squared
 * centred samples. */
PetscErrorCode McMCSEVariance(PetscInt n, const PetscReal *x, PetscInt stride, PetscReal *var, PetscReal *mcse);
