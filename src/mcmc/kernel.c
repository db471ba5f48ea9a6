/* What every kernel shares: the registry of kernel types, the current and
 * proposed states, the Metropolis-Hastings decision, and Robbins-Monro
 * step-size adaptation.
 *
 * A step proposes into k->prop, evaluates the target there and hands the log
 * MH ratio to McKernelAcceptReject_Private; accepting swaps the two McState
 * structs (their Vec pointers), so a step never copies or allocates. */
#include "mcmc/mcmc_impl.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <string.h>

#define MC_MAX_KERNEL_TYPES 32

static struct {
  char                name[32];
  McKernelConstructor create;
} registry[MC_MAX_KERNEL_TYPES];
static int nregistry, builtins_registered;

PetscErrorCode McKernelRegister(const char *name, McKernelConstructor create)
{
  int i;

  PetscFunctionBeginUser;
  PetscCheck(strlen(name) < sizeof(registry[0].name), PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ,
             "kernel name '%s' is longer than %zu characters", name, sizeof(registry[0].name) - 1);
  for (i = 0; i < nregistry; i++)
    if (!strcmp(registry[i].name, name)) break;
  if (i == nregistry) {
    PetscCheck(nregistry < MC_MAX_KERNEL_TYPES, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
               "cannot register kernel '%s': already %d kernel types", name, MC_MAX_KERNEL_TYPES);
    nregistry++;
  }
  PetscCall(PetscStrncpy(registry[i].name, name, sizeof(registry[i].name)));
  registry[i].create = create;
  PetscFunctionReturn(0);
}

static PetscErrorCode RegisterBuiltins(void)
{
  PetscFunctionBeginUser;
  if (builtins_registered) PetscFunctionReturn(0);
  builtins_registered = 1;
  PetscCall(McKernelRegister(MC_KERNEL_PCN, McKernelCreate_PCN));
  PetscCall(McKernelRegister(MC_KERNEL_RWM, McKernelCreate_RWM));
  PetscCall(McKernelRegister(MC_KERNEL_AM, McKernelCreate_AM));
  PetscCall(McKernelRegister(MC_KERNEL_MALA, McKernelCreate_MALA));
  PetscCall(McKernelRegister(MC_KERNEL_INFMALA, McKernelCreate_InfMALA));
  PetscCall(McKernelRegister(MC_KERNEL_HPCN, McKernelCreate_HPCN));
  PetscCall(McKernelRegister(MC_KERNEL_HMALA, McKernelCreate_HMALA));
  PetscCall(McKernelRegister(MC_KERNEL_DILI, McKernelCreate_DILI));
  PetscCall(McKernelRegister(MC_KERNEL_DR, McKernelCreate_DR));
  PetscCall(McKernelRegister(MC_KERNEL_DA, McKernelCreate_DA));
  PetscCall(McKernelRegister(MC_KERNEL_INFHMC, McKernelCreate_InfHMC));
  PetscCall(McKernelRegister(MC_KERNEL_HHMC, McKernelCreate_HHMC));
  PetscFunctionReturn(0);
}

static void StateDestroy(McState *s)
{
  MC_DEALLOC_CALL(VecDestroy(&s->xi));
  MC_DEALLOC_CALL(VecDestroy(&s->grad));
  MC_DEALLOC_CALL(McFree(&s->qoi));
}

/* A kernel holds one object reference, its target. */
static int KernelTraverse(McObject *o, McVisitProc visit, void *arg)
{
  MC_VISIT(((McKernel)o)->target);
  MC_VISIT(((McKernel)o)->inner);
  return 0;
}

static void KernelClear(McObject *o)
{
  MC_CLEAR(((McKernel)o)->target);
  MC_CLEAR(((McKernel)o)->inner);
}

/* Runs after clear: implementations' destroy must not use k->target. */
static void KernelDealloc(McObject *o)
{
  McKernel k = (McKernel)o;

  if (k->ops.destroy) MC_DEALLOC_CALL(k->ops.destroy(k));
  StateDestroy(&k->cur);
  StateDestroy(&k->prop);
  MC_DEALLOC_CALL(VecDestroy(&k->work));
  MC_DEALLOC_CALL(McFree(&k->dense_C));
  MC_DEALLOC_CALL(McGaussRefDestroy_Private(&k->ref));
}

static const McType McKernelType = {"McKernel", sizeof(struct _p_McKernel), NULL, KernelDealloc, KernelTraverse,
                                    KernelClear};

PetscErrorCode McKernelCreate(McTarget target, const char *name, McKernel *kernel)
{
  McKernel k;
  int      i;

  PetscFunctionBeginUser;
  *kernel = NULL;
  PetscCall(RegisterBuiltins());
  for (i = 0; i < nregistry; i++)
    if (!strcmp(registry[i].name, name)) break;
  if (i == nregistry) {
    char known[MC_MAX_KERNEL_TYPES * 34] = "";
    for (int j = 0; j < nregistry; j++) {
      PetscCall(PetscStrlcat(known, j ? ", " : "", sizeof(known)));
      PetscCall(PetscStrlcat(known, registry[j].name, sizeof(known)));
    }
    SETERRQ(target->comm, PETSC_ERR_ARG_UNKNOWN_TYPE, "unknown kernel '%s' (known: %s)", name, known);
  }
  PetscCall(McObjectCreate(&McKernelType, &k));
  PetscCall(PetscStrncpy(k->type, name, sizeof(k->type)));
  McIncref(target);
  k->target = target;
  k->nqoi = target->nqoi;
  k->target_accept = 0.234;
  k->gain = 1.0;
  k->decay = 0.6;
  k->max_step = PETSC_INFINITY;
  k->log_step = log(0.1);
  k->adapt = PETSC_FALSE;
  PetscCall(registry[i].create(k));
  *kernel = k;
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelReference(McKernel kernel)
{
  PetscFunctionBeginUser;
  McIncref(kernel);
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelDestroy(McKernel *kernel)
{
  PetscFunctionBeginUser;
  PetscCall(McObjectDestroy(kernel));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelGetType(McKernel kernel, const char **name)
{
  PetscFunctionBeginUser;
  *name = kernel->type;
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelGetTarget(McKernel kernel, McTarget *target)
{
  PetscFunctionBeginUser;
  *target = kernel->target;
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelSetStepSize(McKernel kernel, PetscReal step)
{
  PetscFunctionBeginUser;
  PetscCheck(step > 0 && step <= kernel->max_step, kernel->target->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "kernel '%s': step size must be in (0, %g], got %g", kernel->type, (double)kernel->max_step,
             (double)step);
  kernel->log_step = log(step);
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelGetStepSize(McKernel kernel, PetscReal *step)
{
  PetscFunctionBeginUser;
  *step = McKernelStep_Private(kernel);
  PetscFunctionReturn(0);
}

PetscReal McKernelStep_Private(McKernel k)
{
  return exp(k->log_step);
}

PetscReal McKernelSecondStep_Private(McKernel k)
{
  if (k->ops.second_step) return k->ops.second_step(k);
  return k->inner ? McKernelSecondStep_Private(k->inner) : 0;
}

PetscErrorCode McKernelSetTargetAcceptance(McKernel kernel, PetscReal target)
{
  PetscFunctionBeginUser;
  PetscCheck(target > 0 && target < 1, kernel->target->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "kernel '%s': target acceptance must be in (0, 1), got %g", kernel->type, (double)target);
  kernel->target_accept = target;
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelSetAdaptationRate(McKernel kernel, PetscReal gain, PetscReal decay)
{
  PetscFunctionBeginUser;
  PetscCheck(gain > 0, kernel->target->comm, PETSC_ERR_ARG_OUTOFRANGE, "adaptation gain must be > 0, got %g",
             (double)gain);
  PetscCheck(decay > 0.5 && decay <= 1, kernel->target->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "adaptation decay must be in (0.5, 1] so that the adaptation converges, got %g", (double)decay);
  kernel->gain = gain;
  kernel->decay = decay;
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelSetAdapt(McKernel kernel, PetscBool adapt)
{
  PetscFunctionBeginUser;
  kernel->adapt = adapt;
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelSetParameter(McKernel kernel, const char *name, PetscReal value)
{
  PetscFunctionBeginUser;
  PetscCheck(kernel->ops.set_param, kernel->target->comm, PETSC_ERR_ARG_WRONG,
             "kernel '%s' has no parameter '%s' (it has none)", kernel->type, name);
  PetscCall(kernel->ops.set_param(kernel, name, value));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelRWMSetCovariance(McKernel kernel, PetscInt N, const PetscReal *C)
{
  PetscFunctionBeginUser;
  PetscCheck(!strcmp(kernel->type, MC_KERNEL_RWM), kernel->target->comm, PETSC_ERR_ARG_WRONG,
             "a proposal covariance can be given to kernel 'rwm' only, not '%s'", kernel->type);
  PetscCheck(N == kernel->target->N, kernel->target->comm, PETSC_ERR_ARG_SIZ,
             "rwm covariance is %d x %d but the target has %d parameters", (int)N, (int)N, (int)kernel->target->N);
  PetscCheck(!kernel->setup, kernel->target->comm, PETSC_ERR_ORDER, "set the rwm covariance before McKernelSetUp");
  if (!kernel->dense_C) PetscCall(McMalloc((size_t)(N * N) * sizeof(*kernel->dense_C), &kernel->dense_C));
  PetscCall(PetscArraycpy(kernel->dense_C, C, N * N));
  PetscFunctionReturn(0);
}

static PetscErrorCode StateCreate(McKernel k, McState *s)
{
  PetscFunctionBeginUser;
  PetscCall(VecDuplicate(k->target->tmpl, &s->xi));
  if (k->need_grad) PetscCall(VecDuplicate(k->target->tmpl, &s->grad));
  if (k->nqoi) PetscCall(McCalloc((size_t)(k->nqoi) * sizeof(*s->qoi), &s->qoi));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelSetUp(McKernel kernel)
{
  PetscFunctionBeginUser;
  if (kernel->setup) PetscFunctionReturn(0);
  PetscCheck(!kernel->need_grad || kernel->target->ops.gradient, kernel->target->comm, PETSC_ERR_ARG_WRONG,
             "kernel '%s' needs the gradient of the potential, and this target has none", kernel->type);
  if (kernel->need_ref) PetscCall(McGaussRefCheck_Private(kernel));
  PetscCall(StateCreate(kernel, &kernel->cur));
  PetscCall(StateCreate(kernel, &kernel->prop));
  PetscCall(VecDuplicate(kernel->target->tmpl, &kernel->work));
  /* A gradient kernel needs the exact solve at every proposal (the adjoint
   * uses its factorisation), so only the others take the cheaper path. */
  if (!kernel->need_grad) PetscCall(McTargetHasProposalPotential(kernel->target, &kernel->near));
  if (kernel->ops.setup) PetscCall(kernel->ops.setup(kernel));
  kernel->setup = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelEvaluateGradient_Private(McKernel k, McState *s, PetscBool *ok)
{
  McEvalStatus st;

  PetscFunctionBeginUser;
  PetscCall(McTargetGradient(k->target, s->xi, s->grad, &st));
  *ok = st == MC_EVAL_OK ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

static PetscErrorCode Evaluate(McKernel k, McState *s, PetscBool grad, PetscBool *ok)
{
  McEvalStatus st;

  PetscFunctionBeginUser;
  s->near = k->near && s == &k->prop ? PETSC_TRUE : PETSC_FALSE;
  s->serial = ++k->nevals;
  if (s->near)
    PetscCall(McTargetProposalPotential(k->target, s->xi, &s->phi, &st));
  else
    PetscCall(McTargetPotential(k->target, s->xi, &s->phi, &st));
  *ok = (st == MC_EVAL_OK && !PetscIsInfOrNanReal(s->phi)) ? PETSC_TRUE : PETSC_FALSE;
  if (!*ok) PetscFunctionReturn(0);
  PetscCall(VecDot(s->xi, s->xi, &s->xi2));
  if (s->near) PetscFunctionReturn(0); /* QoIs only if accepted (EvaluateAccepted) */
  if (grad) {
    PetscCall(McKernelEvaluateGradient_Private(k, s, ok));
    if (!*ok) PetscFunctionReturn(0);
  }
  /* A proposal's QoIs are computed only once it is accepted (FinishStep):
   * a rejected one's are never recorded. */
  if (k->nqoi && s == &k->cur) PetscCall(McTargetQoI(k->target, s->xi, s->qoi));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelEvaluate_Private(McKernel k, McState *s, PetscBool *ok)
{
  PetscFunctionBeginUser;
  PetscCall(Evaluate(k, s, k->need_grad, ok));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelEvaluatePotential_Private(McKernel k, McState *s, PetscBool *ok)
{
  PetscFunctionBeginUser;
  PetscCall(Evaluate(k, s, PETSC_FALSE, ok));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelSetState(McKernel kernel, Vec xi)
{
  PetscBool ok;

  PetscFunctionBeginUser;
  PetscCheck(kernel->setup, kernel->target->comm, PETSC_ERR_ORDER, "call McKernelSetUp before McKernelSetState");
  if (kernel->ops.set_state) PetscCall(kernel->ops.set_state(kernel, xi));
  PetscCall(VecCopy(xi, kernel->cur.xi));
  PetscCall(McKernelEvaluate_Private(kernel, &kernel->cur, &ok));
  PetscCheck(ok, kernel->target->comm, PETSC_ERR_ARG_WRONG,
             "kernel '%s': the target cannot be evaluated at the initial state (potential %g): choose another start",
             kernel->type, (double)kernel->cur.phi);
  kernel->has_state = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelAnchor(McKernel kernel)
{
  PetscReal    phi;
  McEvalStatus st;

  PetscFunctionBeginUser;
  if (kernel->inner) PetscCall(McKernelAnchor(kernel->inner));
  if (!kernel->near || !kernel->has_state) PetscFunctionReturn(0);
  PetscCall(McTargetAccept(kernel->target, kernel->cur.xi, &phi, &st));
  /* The same exact evaluation made the state's values, so it cannot fail
   * now; if a model did, the next proposal's near evaluation falls back to
   * an exact one and reports its own failure. */
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelGetState(McKernel kernel, Vec *xi)
{
  PetscFunctionBeginUser;
  *xi = kernel->cur.xi;
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelGetLogPosterior(McKernel kernel, PetscReal *lp)
{
  PetscFunctionBeginUser;
  *lp = -kernel->cur.phi - 0.5 * kernel->cur.xi2;
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelGetQoIValues(McKernel kernel, const PetscReal **qoi)
{
  PetscFunctionBeginUser;
  *qoi = kernel->cur.qoi;
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelStep(McKernel kernel, McRng rng, McStepStats *stats)
{
  PetscFunctionBeginUser;
  PetscCheck(kernel->has_state, kernel->target->comm, PETSC_ERR_ORDER,
             "kernel '%s' has no state: call McKernelSetState first", kernel->type);
  PetscCall(kernel->ops.step(kernel, rng, stats));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelAcceptReject_Private(McKernel k, McRng rng, PetscBool ok, PetscReal log_ratio,
                                            McStepStats *stats)
{
  PetscReal alpha = 0;
  PetscBool accept = PETSC_FALSE;

  PetscFunctionBeginUser;
  if (ok && PetscIsNanReal(log_ratio)) ok = PETSC_FALSE; /* e.g. a NaN gradient */
  {
    /* A chain on several ranks: the ratio comes from reductions, which MPI
     * does not promise to round alike on every rank. The group's rank 0
     * decides for all (with the uniform they all drew alike), so their
     * states, adaptation and draw patterns never part. */
    MPI_Comm    comm = PetscObjectComm((PetscObject)k->cur.xi);
    PetscMPIInt size;
    PetscCallMPI(MPI_Comm_size(comm, &size));
    if (size > 1) {
      double msg[2] = {ok ? 1.0 : 0.0, (double)log_ratio};
      PetscCallMPI(MPI_Bcast(msg, 2, MPI_DOUBLE, 0, comm));
      ok = msg[0] != 0 ? PETSC_TRUE : PETSC_FALSE;
      log_ratio = (PetscReal)msg[1];
    }
  }
  if (ok) {
    /* The uniform is drawn only when it decides something; the draw pattern
     * is still a function of the chain's history, so resumes stay exact. */
    if (log_ratio >= 0) {
      alpha = 1;
      accept = PETSC_TRUE;
    } else {
      alpha = exp(log_ratio);
      accept = log(McRngUniform(rng)) < log_ratio ? PETSC_TRUE : PETSC_FALSE;
    }
  }
  PetscCall(McKernelFinishStep_Private(k, ok, accept, alpha, alpha, stats));
  PetscFunctionReturn(0);
}

/* An accepted proposal evaluated by the target's proposal_potential is
 * evaluated again, exactly, before it becomes the current state: the state
 * a chain carries (phi, QoIs) is then a function of xi alone, as it is
 * after McKernelSetState on --resume, and the target's reference state for
 * later proposals is this one. The MH decision itself used the proposal's
 * value, which agrees to the model's solver tolerance. */
static PetscErrorCode EvaluateAccepted(McKernel k, PetscBool *ok)
{
  McState     *s = &k->prop;
  McEvalStatus st;
  PetscReal    phi;

  PetscFunctionBeginUser;
  s->near = PETSC_FALSE;
  s->serial = ++k->nevals;
  PetscCall(McTargetAccept(k->target, s->xi, &s->phi, &st));
  *ok = (st == MC_EVAL_OK && !PetscIsInfOrNanReal(s->phi)) ? PETSC_TRUE : PETSC_FALSE;
  if (*ok) {
    if (k->nqoi) PetscCall(McTargetQoI(k->target, s->xi, s->qoi));
    PetscFunctionReturn(0);
  }
  /* The exact evaluation failed where the cheaper one did not (a solver
   * breakdown): the proposal is rejected, and the current state becomes the
   * target's reference again (its values do not change: the same exact
   * evaluation made them). */
  PetscCall(McTargetAccept(k->target, k->cur.xi, &phi, &st));
  PetscFunctionReturn(0);
}

/* Robbins-Monro on a log step: the fixed point has mean acceptance
 * probability equal to the target; gains decaying like n^-decay with decay
 * in (0.5, 1] make the step converge (Andrieu & Thoms 2008). */
PetscReal McKernelAdaptLogStep_Private(McKernel k, PetscReal log_step, PetscReal *n, PetscReal alpha, PetscReal target,
                                       PetscReal log_max)
{
  *n += 1;
  log_step += k->gain * pow(*n, -k->decay) * (alpha - target);
  if (log_step > log_max) log_step = log_max;
  if (log_step < -40) log_step = -40; /* a target failing everywhere must not drive it to 0 */
  return log_step;
}

PetscErrorCode McKernelFinishStep_Private(McKernel k, PetscBool ok, PetscBool accept, PetscReal alpha,
                                          PetscReal adapt_alpha, McStepStats *stats)
{
  PetscFunctionBeginUser;
  if (accept && k->prop.near) {
    PetscBool exact_ok = PETSC_FALSE;
    PetscCall(EvaluateAccepted(k, &exact_ok));
    if (!exact_ok) ok = accept = PETSC_FALSE;
  } else if (accept && k->nqoi) {
    /* The accepted proposal is the last point the target evaluated (the
     * call-order contract of McTargetQoI). */
    PetscCall(McTargetQoI(k->target, k->prop.xi, k->prop.qoi));
  }
  stats->step_size = McKernelStep_Private(k);
  if (accept) {
    McState t = k->cur;
    k->cur = k->prop;
    k->prop = t;
  }
  stats->accepted = accept ? 1 : 0;
  stats->failed = ok ? 0 : 1;
  stats->accept_prob = alpha;
  stats->log_post = -k->cur.phi - 0.5 * k->cur.xi2;
  stats->warmup = k->adapt ? 1 : 0;
  if (k->adapt) {
    k->log_step = McKernelAdaptLogStep_Private(k, k->log_step, &k->nadapt, adapt_alpha, k->target_accept,
                                               log(k->max_step));
    if (k->ops.adapt) PetscCall(k->ops.adapt(k));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelAdaptSize(McKernel kernel, PetscInt *n)
{
  PetscInt m = 0;

  PetscFunctionBeginUser;
  if (kernel->ops.adapt_size) PetscCall(kernel->ops.adapt_size(kernel, &m));
  *n = 2 + m;
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelAdaptSave(McKernel kernel, PetscReal *buf)
{
  PetscFunctionBeginUser;
  buf[0] = kernel->log_step;
  buf[1] = kernel->nadapt;
  if (kernel->ops.adapt_save) PetscCall(kernel->ops.adapt_save(kernel, buf + 2));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelAdaptRestore(McKernel kernel, const PetscReal *buf)
{
  PetscFunctionBeginUser;
  kernel->log_step = buf[0];
  kernel->nadapt = buf[1];
  if (kernel->ops.adapt_restore) PetscCall(kernel->ops.adapt_restore(kernel, buf + 2));
  PetscFunctionReturn(0);
}

/* Dense Cholesky proposals (rwm with a covariance, am). Every rank holds the
 * whole N x N factor and draws the same N normals; each computes only its
 * own rows of L z, so the proposal does not depend on the partition. These
 * kernels are meant for the small N of KL coordinates. */
PetscErrorCode McDenseProposalCreate_Private(McKernel k, McDenseProposal *d)
{
  PetscInt N = k->target->N;

  PetscFunctionBeginUser;
  d->N = N;
  PetscCall(VecGetOwnershipRange(k->target->tmpl, &d->rstart, &d->rend));
  PetscCall(McCalloc((size_t)(N * N) * sizeof(*d->L), &d->L));
  PetscCall(McCalloc((size_t)(N * N) * sizeof(*d->S), &d->S));
  PetscCall(McCalloc((size_t)(N) * sizeof(*d->z), &d->z));
  for (PetscInt i = 0; i < N; i++) d->L[i * N + i] = 1;
  PetscFunctionReturn(0);
}

PetscErrorCode McDenseProposalDestroy_Private(McDenseProposal *d)
{
  PetscFunctionBeginUser;
  PetscCall(McFree(&d->L));
  PetscCall(McFree(&d->S));
  PetscCall(McFree(&d->z));
  PetscFunctionReturn(0);
}

PetscErrorCode McDenseProposalFactor_Private(McDenseProposal *d, const PetscReal *C, PetscReal eps, PetscBool *ok)
{
  PetscInt        N = d->N;
  gsl_matrix_view S = gsl_matrix_view_array(d->S, (size_t)N, (size_t)N);

  PetscFunctionBeginUser;
  PetscCall(PetscArraycpy(d->S, C, N * N));
  for (PetscInt i = 0; i < N; i++) d->S[i * N + i] += eps;
  /* GSL_EDOM (not positive definite) is an outcome here: the caller keeps
   * its previous factor. */
  *ok = gsl_linalg_cholesky_decomp1(&S.matrix) == GSL_SUCCESS ? PETSC_TRUE : PETSC_FALSE;
  if (*ok) PetscCall(PetscArraycpy(d->L, d->S, N * N));
  PetscFunctionReturn(0);
}

PetscErrorCode McDenseProposalDraw_Private(McKernel k, McDenseProposal *d, McRng rng, PetscReal h)
{
  const PetscScalar *x;
  PetscScalar       *p;
  PetscInt           N = d->N;

  PetscFunctionBeginUser;
  McRngGaussianArray(rng, N, d->z);
  PetscCall(VecGetArrayRead(k->cur.xi, &x));
  PetscCall(VecGetArrayWrite(k->prop.xi, &p));
  for (PetscInt i = d->rstart; i < d->rend; i++) {
    const PetscReal *Li = d->L + i * N;
    PetscReal        s = 0;
    for (PetscInt j = 0; j <= i; j++) s += Li[j] * d->z[j];
    p[i - d->rstart] = x[i - d->rstart] + h * s;
  }
  PetscCall(VecRestoreArrayWrite(k->prop.xi, &p));
  PetscCall(VecRestoreArrayRead(k->cur.xi, &x));
  PetscFunctionReturn(0);
}
