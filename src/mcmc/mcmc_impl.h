/* Internals shared by the files of src/mcmc/ (PETSc's impl-header idea):
 * the structs behind the public handles and the helpers every kernel uses.
 * Nothing outside src/mcmc/ includes this. */
#pragma once

#include "mcmc/mcmc.h"
#include "obj/obj.h"

#include <gsl/gsl_rng.h>
#include <stdlib.h>

struct _p_McRng {
  gsl_rng *r;
};

/* A dealloc cannot return an error: a failing PETSc call there means a
 * corrupted object, reported through PETSc's error printer before abort(). */
#define MC_DEALLOC_CALL(call)                                                                                          \
  do {                                                                                                                 \
    PetscErrorCode mc_e_ = (call);                                                                                     \
    if (mc_e_) {                                                                                                       \
      (void)PetscError(PETSC_COMM_SELF, __LINE__, PETSC_FUNCTION_NAME, __FILE__, mc_e_, PETSC_ERROR_REPEAT,            \
                       "releasing an object");                                                                         \
      abort();                                                                                                         \
    }                                                                                                                  \
  } while (0)

struct _p_McTarget {
  MC_OBJECT_HEAD;
  MPI_Comm    comm;
  PetscInt    n, N;
  Vec         tmpl; /* layout template */
  McTargetOps ops;
  McTargetPotentialFn proposal_potential, accept; /* optional pair, both or neither */
  McTargetHessianFn hessian; /* optional (McTargetSetHessian) */
  void       *ctx;
  PetscInt    nqoi;
  char      **qoi_names;
};

/* One point of the chain: the parameter and what the target said there.
 * Two of these (current, proposal) are swapped on acceptance. */
typedef struct {
  Vec        xi;
  Vec        grad; /* grad Phi, only for gradient kernels */
  PetscReal  phi;  /* Phi(xi) */
  PetscReal  xi2;  /* |xi|^2 */
  PetscReal *qoi;  /* nqoi values */
  PetscBool  near; /* phi from the target's proposal_potential (no QoIs yet) */
  PetscInt64 serial; /* which evaluation made these values: kernels key caches of
                      * quantities derived from the state on it (and swap them
                      * with the state on acceptance) */
} McState;

typedef struct {
  PetscErrorCode (*setup)(McKernel);
  /* One whole step: propose into k->prop, evaluate, then
   * McKernelAcceptReject_Private with the log MH ratio. */
  PetscErrorCode (*step)(McKernel, McRng, McStepStats *);
  PetscErrorCode (*set_param)(McKernel, const char *, PetscReal);
  PetscErrorCode (*adapt_size)(McKernel, PetscInt *);
  PetscErrorCode (*adapt_save)(McKernel, PetscReal *);
  PetscErrorCode (*adapt_restore)(McKernel, const PetscReal *);
  /* Called after each step while adapting (covariance learning). */
  PetscErrorCode (*adapt)(McKernel);
  /* McKernelSetState, before the target is evaluated at the new state. */
  PetscErrorCode (*set_state)(McKernel, Vec);
  /* dr: the second stage's step (adapted separately from the kernel's). */
  PetscReal (*second_step)(McKernel);
  PetscErrorCode (*destroy)(McKernel);
} McKernelOps;

/* A Gaussian reference N(mean, Sigma) in the sampler's coordinates, Sigma =
 * I - V diag(lambda/(1+lambda)) V^T with V orthonormal: the Laplace
 * approximation the Hessian-informed kernels are built on (kernel_geom.c). */
typedef struct {
  PetscInt     r;
  Vec          mean;
  Vec         *V;
  PetscReal   *lambda;
  PetscScalar *c, *c2; /* r coefficients (work) */
  PetscReal   *ce;     /* 2r coefficients (work) */
  Vec          w;      /* work */
  PetscInt64   stamp;  /* changes whenever mean, V or lambda do */
} McGaussRef;

struct _p_McKernel {
  MC_OBJECT_HEAD;
  char        type[32];
  McKernelOps ops;
  void       *data;
  McTarget    target;
  PetscBool   need_grad, setup, has_state;
  PetscBool   near; /* proposals through the target's proposal_potential */
  McState     cur, prop;
  PetscInt64  nevals; /* evaluations so far: the source of McState.serial */
  Vec         work; /* scratch of the parameter layout */
  PetscInt    nqoi;
  /* Step size adaptation: Robbins-Monro on log step. */
  PetscReal   log_step, max_step, target_accept, gain, decay;
  PetscBool   adapt;
  PetscReal   nadapt; /* adaptation steps taken (a real: saved with the rest) */
  /* Covariance proposal (rwm with covariance, am): serial copy of all N. */
  PetscReal  *dense_C; /* user covariance for rwm, NULL otherwise */
  /* Hessian-informed kernels: the reference they need (set by the caller). */
  PetscBool   need_ref;
  McGaussRef  ref;
  /* Delayed acceptance: the first-stage kernel on the surrogate (counted). */
  McKernel    inner;
};

/* Evaluates the target at s->xi (potential, gradient if the kernel needs it,
 * QoIs); *ok is false for a failed evaluation or a non-finite potential.
 * The proposal (s == &k->prop) of a kernel with k->near goes through the
 * target's proposal_potential, without QoIs: McKernelFinishStep_Private
 * evaluates it exactly if it is accepted. */
PetscErrorCode McKernelEvaluate_Private(McKernel k, McState *s, PetscBool *ok);
/* The same without the gradient, for a kernel that needs it only at the
 * proposals it accepts; McKernelEvaluateGradient_Private adds it then, at
 * the point the target evaluated last (*ok false if it failed). */
PetscErrorCode McKernelEvaluatePotential_Private(McKernel k, McState *s, PetscBool *ok);
PetscErrorCode McKernelEvaluateGradient_Private(McKernel k, McState *s, PetscBool *ok);
/* Metropolis-Hastings decision for log ratio (NaN counts as failure),
 * swap on accept, step-size adaptation, stats. */
PetscErrorCode McKernelAcceptReject_Private(McKernel k, McRng rng, PetscBool ok, PetscReal log_ratio,
                                            McStepStats *stats);
/* Bookkeeping of a step whose decision is made: swap on accept, stats
 * (alpha is the step's acceptance probability), step-size adaptation
 * driven by adapt_alpha. */
PetscErrorCode McKernelFinishStep_Private(McKernel k, PetscBool ok, PetscBool accept, PetscReal alpha,
                                          PetscReal adapt_alpha, McStepStats *stats);
/* One Robbins-Monro update of a log step size towards the target
 * acceptance with the kernel's gain and decay (*n counts the updates),
 * bounded above by log_max: the step adaptation of
 * McKernelFinishStep_Private, and of a kernel's own second step. */
PetscReal McKernelAdaptLogStep_Private(McKernel k, PetscReal log_step, PetscReal *n, PetscReal alpha, PetscReal target,
                                       PetscReal log_max);
/* The step size exp(log_step). */
PetscReal McKernelStep_Private(McKernel k);
/* The second stage's step of a two-stage kernel (dr, also as the first
 * stage of delayed acceptance); 0 for the others. */
PetscReal McKernelSecondStep_Private(McKernel k);

/* Dense Cholesky-factor proposal in all N coordinates, shared by rwm and am:
 * prop = cur + h L z with z ~ N(0, I_N) drawn identically on every rank. */
typedef struct {
  PetscInt    N, rstart, rend;
  PetscReal  *L; /* N x N lower triangle, row-major */
  PetscReal  *S; /* N x N scratch for factoring */
  PetscReal  *z; /* N */
} McDenseProposal;

PetscErrorCode McDenseProposalCreate_Private(McKernel k, McDenseProposal *d);
PetscErrorCode McDenseProposalDestroy_Private(McDenseProposal *d);
/* L = chol(C + eps I); returns *ok = false (L untouched) if not SPD. */
PetscErrorCode McDenseProposalFactor_Private(McDenseProposal *d, const PetscReal *C, PetscReal eps, PetscBool *ok);
/* k->prop.xi = k->cur.xi + h L z. */
PetscErrorCode McDenseProposalDraw_Private(McKernel k, McDenseProposal *d, McRng rng, PetscReal h);

/* The Gaussian reference (kernel_geom.c). In all of them c = V^T (xi - mean)
 * is left in ref->c. */
PetscErrorCode McGaussRefDestroy_Private(McGaussRef *ref);
/* Error naming the kernel unless a reference is set. */
PetscErrorCode McGaussRefCheck_Private(McKernel k);
/* Psi(xi) = Phi + <xi, mean> - sum lambda_i c_i^2 / 2: the potential with
 * respect to the reference, -log(posterior / reference) up to a constant. */
PetscErrorCode McGaussRefPsi_Private(McKernel k, const McState *s, PetscReal *psi);
/* G = grad Psi = grad Phi + mean - V (lambda .* c) and P = Sigma G, and Psi
 * too unless psi is NULL, in two passes over V. */
PetscErrorCode McGaussRefPsiGradPrec_Private(McKernel k, const McState *s, PetscReal *psi, Vec G, Vec P);
/* y = Sigma x, or Sigma^(1/2) x (x == y allowed). */
PetscErrorCode McGaussRefApply_Private(McKernel k, Vec x, Vec y, PetscBool sqrt_);
/* |w|^2 + sum lambda_i <v_i, w>^2 = w^T Sigma^-1 w. */
PetscErrorCode McGaussRefNormPrec_Private(McKernel k, Vec w, PetscReal *nrm2);

/* Psi, G = grad Psi and P = Sigma G at the current state, kept from the
 * step that made it (the proposal's, moved along on acceptance) while that
 * state and the reference stay: a rejected step then costs one reference
 * solve less, and the values are the ones a recomputation would give, bit
 * for bit (hmala, hhmc, infhmc). */
typedef struct {
  Vec        Gc, Pc, Gp, Pp; /* at the current state and at the proposal */
  PetscReal  psic, psip;
  PetscInt64 serial_c, stamp_c; /* the state and reference Gc, Pc and psic belong to */
} McForceCache;

PetscErrorCode McForceCacheSetUp_Private(McKernel k, McForceCache *f);
PetscErrorCode McForceCacheDestroy_Private(McForceCache *f);
/* Whether Gc, Pc and psic are not the current state's; after computing
 * them, McForceCacheMark_Private says they are. */
PetscBool McForceCacheStale_Private(McKernel k, const McForceCache *f);
void      McForceCacheMark_Private(McKernel k, McForceCache *f);
/* After the decision: if the proposal was accepted, its values (Gp, Pp,
 * psip) become the current state's. */
void McForceCacheAccepted_Private(McKernel k, McForceCache *f);

/* The hmala proposal from k->cur with step d, given P = Sigma grad Psi at
 * the current state, into out (kernel_hmala.c; DR's second stage). */
PetscErrorCode McHMALAPropose_Private(McKernel k, McRng rng, PetscReal d, Vec P, Vec out);

/* The built-in kernels' constructors. */
PetscErrorCode McKernelCreate_PCN(McKernel);
PetscErrorCode McKernelCreate_RWM(McKernel);
PetscErrorCode McKernelCreate_AM(McKernel);
PetscErrorCode McKernelCreate_MALA(McKernel);
PetscErrorCode McKernelCreate_InfMALA(McKernel);
PetscErrorCode McKernelCreate_HPCN(McKernel);
PetscErrorCode McKernelCreate_HMALA(McKernel);
PetscErrorCode McKernelCreate_DILI(McKernel);
PetscErrorCode McKernelCreate_DR(McKernel);
PetscErrorCode McKernelCreate_DA(McKernel);
PetscErrorCode McKernelCreate_InfHMC(McKernel);
PetscErrorCode McKernelCreate_HHMC(McKernel);
