/* A target tilted by a linear term: Phi_g(xi) = Phi(xi) + <g, xi>, with
 * gradient grad Phi + g and the same Hessian. Delayed acceptance uses it to
 * match a surrogate's gradient to the target's at one point (the MAP), so
 * that the surrogate's potential follows the target's to first order there
 * and its first stage proposes what the second stage accepts. */
#include "mcmc/mcmc_impl.h"

typedef struct {
  McTarget base; /* counted */
  Vec      g;
} Tilted;

static PetscErrorCode TiltedPotential(void *ctx, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  Tilted     *t = ctx;
  PetscScalar gx;

  PetscFunctionBeginUser;
  PetscCall(McTargetPotential(t->base, xi, phi, status));
  if (*status != MC_EVAL_OK) PetscFunctionReturn(0);
  PetscCall(VecDot(t->g, xi, &gx));
  *phi += PetscRealPart(gx);
  PetscFunctionReturn(0);
}

static PetscErrorCode TiltedGradient(void *ctx, Vec xi, Vec grad, McEvalStatus *status)
{
  Tilted *t = ctx;

  PetscFunctionBeginUser;
  PetscCall(McTargetGradient(t->base, xi, grad, status));
  if (*status == MC_EVAL_OK) PetscCall(VecAXPY(grad, 1.0, t->g));
  PetscFunctionReturn(0);
}

static PetscErrorCode TiltedHessian(void *ctx, Vec v, Vec Hv)
{
  Tilted *t = ctx;

  PetscFunctionBeginUser;
  PetscCall(McTargetHessian(t->base, v, Hv));
  PetscFunctionReturn(0);
}

static PetscErrorCode TiltedDestroy(void *ctx)
{
  Tilted *t = ctx;

  PetscFunctionBeginUser;
  PetscCall(VecDestroy(&t->g));
  PetscCall(McTargetDestroy(&t->base));
  PetscCall(McFree(&t));
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetCreateTilted(McTarget base, Vec g, McTarget *target)
{
  Tilted     *t;
  McTargetOps ops = {TiltedPotential, base->ops.gradient ? TiltedGradient : NULL, NULL, TiltedDestroy};

  PetscFunctionBeginUser;
  PetscCall(McCalloc(sizeof(*t), &t));
  PetscCall(McTargetReference(base));
  t->base = base;
  PetscCall(VecDuplicate(base->tmpl, &t->g));
  PetscCall(VecCopy(g, t->g));
  PetscCall(McTargetCreateShell(base->comm, base->n, base->N, &ops, t, 0, NULL, target));
  PetscCall(McTargetSetVecTemplate(*target, base->tmpl));
  if (base->hessian) PetscCall(McTargetSetHessian(*target, TiltedHessian));
  PetscFunctionReturn(0);
}
