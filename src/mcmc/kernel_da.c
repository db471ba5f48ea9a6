/* Delayed acceptance (Christen & Fox 2005). The first-stage kernel K_s runs
 * on a surrogate target pi_s (same prior, cheaper model) and is reversible
 * with respect to it. A move x -> y that K_s accepts is evaluated on the
 * target pi and accepted with
 *   alpha_2 = min(1, pi(y) pi_s(x) / (pi(x) pi_s(y)))
 *           = min(1, exp(Phi_s(y) - Phi_s(x) - Phi(y) + Phi(x)))
 * (the prior cancels), which makes the composite kernel reversible with
 * respect to pi. What K_s rejects costs one surrogate evaluation and no
 * target evaluation, so the expensive model is solved only for the
 * proposals that survive the cheap screen.
 *
 * The first stage is a whole kernel with its own states: after its accepted
 * move the state it left is still its proposal slot (McKernelFinishStep_
 * Private swaps the two), so a second-stage rejection swaps them back
 * without evaluating anything; kernels' caches are keyed on the state's
 * evaluation serial and so notice. */
#include "mcmc/mcmc_impl.h"

#include <string.h>

static PetscErrorCode SetUpDA(McKernel k)
{
  McKernel in = k->inner;
  PetscInt n, N, ni, Ni;

  PetscFunctionBeginUser;
  PetscCheck(in, k->target->comm, PETSC_ERR_ORDER,
             "kernel '%s' needs a first-stage kernel on a surrogate target: create it with "
             "McKernelCreateDelayedAcceptance",
             k->type);
  PetscCall(McTargetGetSizes(k->target, &n, &N));
  PetscCall(McTargetGetSizes(in->target, &ni, &Ni));
  PetscCheck(n == ni && N == Ni, k->target->comm, PETSC_ERR_ARG_SIZ,
             "delayed acceptance: the surrogate has %d parameters (%d here), the target %d (%d here)", (int)Ni, (int)ni,
             (int)N, (int)n);
  PetscCall(McKernelSetUp(in));
  /* The target is evaluated once per surviving proposal and its value
   * decides: no cheaper proposal evaluation on this side. */
  k->near = PETSC_FALSE;
  k->log_step = in->log_step;
  PetscFunctionReturn(0);
}

static PetscErrorCode SetStateDA(McKernel k, Vec xi)
{
  PetscFunctionBeginUser;
  PetscCall(McKernelSetState(k->inner, xi));
  PetscFunctionReturn(0);
}

static PetscErrorCode StepDA(McKernel k, McRng rng, McStepStats *stats)
{
  McKernel    in = k->inner;
  McStepStats s1;
  PetscBool   adapt = k->adapt, ok;
  PetscReal   lr = 0;

  PetscFunctionBeginUser;
  in->adapt = adapt; /* the chain switches the combined kernel's adaptation */
  PetscCall(McKernelStep(in, rng, &s1));
  k->log_step = in->log_step;
  k->adapt = PETSC_FALSE; /* the first stage adapts its own step */
  if (!s1.accepted) {
    PetscCall(McKernelFinishStep_Private(k, s1.failed ? PETSC_FALSE : PETSC_TRUE, PETSC_FALSE, 0, 0, stats));
  } else {
    PetscCall(VecCopy(in->cur.xi, k->prop.xi));
    PetscCall(McKernelEvaluate_Private(k, &k->prop, &ok));
    /* in->prop is the state the first stage left */
    if (ok) lr = (k->cur.phi - k->prop.phi) + (in->cur.phi - in->prop.phi);
    PetscCall(McKernelAcceptReject_Private(k, rng, ok, lr, stats));
    if (!stats->accepted) {
      McState t = in->cur;
      in->cur = in->prop;
      in->prop = t;
      PetscCall(McKernelAnchor(in));
    }
    stats->accept_prob *= s1.accept_prob;
  }
  k->adapt = adapt;
  stats->warmup = adapt ? 1 : 0;
  stats->step_size = s1.step_size;
  PetscFunctionReturn(0);
}

static PetscErrorCode SetParamDA(McKernel k, const char *name, PetscReal value)
{
  PetscFunctionBeginUser;
  PetscCheck(k->inner, k->target->comm, PETSC_ERR_ORDER, "kernel '%s' has no first-stage kernel", k->type);
  PetscCall(McKernelSetParameter(k->inner, name, value));
  PetscFunctionReturn(0);
}

static PetscErrorCode AdaptSizeDA(McKernel k, PetscInt *n)
{
  PetscFunctionBeginUser;
  PetscCall(McKernelAdaptSize(k->inner, n));
  PetscFunctionReturn(0);
}

static PetscErrorCode AdaptSaveDA(McKernel k, PetscReal *buf)
{
  PetscFunctionBeginUser;
  PetscCall(McKernelAdaptSave(k->inner, buf));
  PetscFunctionReturn(0);
}

static PetscErrorCode AdaptRestoreDA(McKernel k, const PetscReal *buf)
{
  PetscFunctionBeginUser;
  PetscCall(McKernelAdaptRestore(k->inner, buf));
  k->log_step = k->inner->log_step;
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelCreate_DA(McKernel k)
{
  PetscFunctionBeginUser;
  k->ops.setup = SetUpDA;
  k->ops.set_state = SetStateDA;
  k->ops.step = StepDA;
  k->ops.set_param = SetParamDA;
  k->ops.adapt_size = AdaptSizeDA;
  k->ops.adapt_save = AdaptSaveDA;
  k->ops.adapt_restore = AdaptRestoreDA;
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelCreateDelayedAcceptance(McTarget target, McKernel first, McKernel *kernel)
{
  PetscFunctionBeginUser;
  PetscCheck(strcmp(first->type, MC_KERNEL_DA), target->comm, PETSC_ERR_ARG_WRONG,
             "delayed acceptance: the first stage cannot itself be a delayed-acceptance kernel");
  PetscCheck(!first->setup, target->comm, PETSC_ERR_ORDER,
             "delayed acceptance: pass the first-stage kernel before McKernelSetUp");
  PetscCall(McKernelCreate(target, MC_KERNEL_DA, kernel));
  McIncref(first);
  (*kernel)->inner = first;
  /* its QoIs would be the surrogate's, and are never recorded */
  first->nqoi = 0;
  (*kernel)->log_step = first->log_step;
  PetscFunctionReturn(0);
}
