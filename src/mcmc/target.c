/* Targets: the sampler's view of a posterior. A target is a parameter layout
 * plus the potential Phi(xi) (negative log-likelihood in whitened
 * coordinates) and, optionally, its gradient and some quantities of interest.
 * Every target is a shell around function pointers, so the model module and
 * the Gaussian test targets plug in the same way. */
#include "mcmc/mcmc_impl.h"

#include <string.h>

/* A target holds no objects (its context is opaque): not a container. */
static void TargetDealloc(McObject *o)
{
  McTarget t = (McTarget)o;

  if (t->ops.destroy) MC_DEALLOC_CALL(t->ops.destroy(t->ctx));
  for (PetscInt i = 0; i < t->nqoi; i++) MC_DEALLOC_CALL(McFree(&t->qoi_names[i]));
  MC_DEALLOC_CALL(McFree(&t->qoi_names));
  MC_DEALLOC_CALL(VecDestroy(&t->tmpl));
}

static const McType McTargetType = {"McTarget", sizeof(struct _p_McTarget), NULL, TargetDealloc, NULL, NULL};

PetscErrorCode McTargetCreateShell(MPI_Comm comm, PetscInt n, PetscInt N, const McTargetOps *ops, void *ctx,
                                   PetscInt nqoi, const char *const *qoi_names, McTarget *target)
{
  McTarget t;

  PetscFunctionBeginUser;
  *target = NULL;
  PetscCheck(ops && ops->potential, comm, PETSC_ERR_ARG_NULL, "a target needs a potential function");
  PetscCheck(nqoi >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "number of quantities of interest must be >= 0, got %d",
             (int)nqoi);
  PetscCall(McObjectCreate(&McTargetType, &t));
  t->comm = comm;
  t->ops = *ops;
  t->ctx = ctx;
  PetscCall(VecCreate(comm, &t->tmpl));
  PetscCall(VecSetSizes(t->tmpl, n, N));
  PetscCall(VecSetType(t->tmpl, VECSTANDARD));
  PetscCall(VecGetLocalSize(t->tmpl, &t->n));
  PetscCall(VecGetSize(t->tmpl, &t->N));
  t->nqoi = nqoi;
  if (nqoi) {
    PetscCall(McCalloc((size_t)(nqoi + 1) * sizeof(*t->qoi_names), &t->qoi_names));
    for (PetscInt i = 0; i < nqoi; i++) {
      size_t len = strlen(qoi_names[i]) + 1;
      PetscCall(McMalloc(len, &t->qoi_names[i]));
      memcpy(t->qoi_names[i], qoi_names[i], len);
    }
  }
  *target = t;
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetReference(McTarget target)
{
  PetscFunctionBeginUser;
  McIncref(target);
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetDestroy(McTarget *target)
{
  PetscFunctionBeginUser;
  PetscCall(McObjectDestroy(target));
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetGetComm(McTarget target, MPI_Comm *comm)
{
  PetscFunctionBeginUser;
  *comm = target->comm;
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetGetSizes(McTarget target, PetscInt *n, PetscInt *N)
{
  PetscFunctionBeginUser;
  if (n) *n = target->n;
  if (N) *N = target->N;
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetCreateVec(McTarget target, Vec *v)
{
  PetscFunctionBeginUser;
  PetscCall(VecDuplicate(target->tmpl, v));
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetSetVecTemplate(McTarget target, Vec v)
{
  PetscInt n, N;
  Vec      t;

  PetscFunctionBeginUser;
  PetscCall(VecGetLocalSize(v, &n));
  PetscCall(VecGetSize(v, &N));
  PetscCheck(n == target->n && N == target->N, PetscObjectComm((PetscObject)v), PETSC_ERR_ARG_SIZ,
             "template vector of %d (%d here), the target has %d (%d here)", (int)N, (int)n, (int)target->N,
             (int)target->n);
  PetscCall(VecDuplicate(v, &t));
  PetscCall(VecDestroy(&target->tmpl));
  target->tmpl = t;
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetHasGradient(McTarget target, PetscBool *has)
{
  PetscFunctionBeginUser;
  *has = target->ops.gradient ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetGetQoI(McTarget target, PetscInt *nqoi, const char *const **names)
{
  PetscFunctionBeginUser;
  if (nqoi) *nqoi = target->nqoi;
  if (names) *names = (const char *const *)target->qoi_names;
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetPotential(McTarget target, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  PetscFunctionBeginUser;
  *status = MC_EVAL_OK;
  PetscCall(target->ops.potential(target->ctx, xi, phi, status));
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetGradient(McTarget target, Vec xi, Vec grad, McEvalStatus *status)
{
  PetscFunctionBeginUser;
  PetscCheck(target->ops.gradient, target->comm, PETSC_ERR_SUP, "this target has no gradient");
  *status = MC_EVAL_OK;
  PetscCall(target->ops.gradient(target->ctx, xi, grad, status));
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetQoI(McTarget target, Vec xi, PetscReal *values)
{
  PetscFunctionBeginUser;
  if (target->ops.qoi) PetscCall(target->ops.qoi(target->ctx, xi, values));
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetSetProposalPotential(McTarget target, McTargetPotentialFn proposal, McTargetPotentialFn accept)
{
  PetscFunctionBeginUser;
  PetscCheck(!proposal == !accept, target->comm, PETSC_ERR_ARG_WRONG,
             "a proposal potential needs its accept function, and the other way round");
  target->proposal_potential = proposal;
  target->accept = accept;
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetHasProposalPotential(McTarget target, PetscBool *has)
{
  PetscFunctionBeginUser;
  *has = target->proposal_potential ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetProposalPotential(McTarget target, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  PetscFunctionBeginUser;
  PetscCheck(target->proposal_potential, target->comm, PETSC_ERR_SUP, "this target has no proposal potential");
  *status = MC_EVAL_OK;
  PetscCall(target->proposal_potential(target->ctx, xi, phi, status));
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetAccept(McTarget target, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  PetscFunctionBeginUser;
  PetscCheck(target->accept, target->comm, PETSC_ERR_SUP, "this target has no accept function");
  *status = MC_EVAL_OK;
  PetscCall(target->accept(target->ctx, xi, phi, status));
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetSetHessian(McTarget target, McTargetHessianFn hessian)
{
  PetscFunctionBeginUser;
  target->hessian = hessian;
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetHasHessian(McTarget target, PetscBool *has)
{
  PetscFunctionBeginUser;
  *has = target->hessian ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetHessian(McTarget target, Vec v, Vec Hv)
{
  PetscFunctionBeginUser;
  PetscCheck(target->hessian, target->comm, PETSC_ERR_SUP, "this target has no Gauss-Newton Hessian");
  PetscCall(target->hessian(target->ctx, v, Hv));
  PetscFunctionReturn(0);
}
