/* The sampler's target for a problem: the posterior's potential in whitened
 * coordinates, its adjoint gradient, and two cheap quantities of interest.
 *
 * The one idea: the target keeps a reference to the posterior, which holds
 * the field and forward solution of the last evaluation; the sampler's
 * call-order contract (gradient and QoIs only right after a successful
 * potential at the same xi) lets both reuse that solve instead of redoing it. */
#include "app/umbridge_impl.h"

#include <math.h>
#include <stdlib.h>

/* Test hooks, read once from the environment when the target is created
 * (documented in the README's "Robustness" section):
 *   MC_TEST_NAN_PROPOSAL_EVERY=N  every N-th evaluation gets a proposal with
 *                                 xi[0] = NaN (it must be rejected and counted)
 *   MC_TEST_LEAK_EVERY=N          every N-th evaluation leaks one object of
 *                                 type "McTestLeak" (the memory assertion must
 *                                 stop the run and name the type)
 * The leaked objects are chained and released with the target, so that the
 * sanitizer build sees no leak at exit: what grows is the run's live count. */
typedef struct McTestLeak_ {
  MC_OBJECT_HEAD;
  struct McTestLeak_ *prev; /* not a counted reference: the chain is the target's */
} McTestLeak;

static const McType test_leak_type = {"McTestLeak", sizeof(McTestLeak), NULL, NULL, NULL, NULL};

typedef struct {
  McPosterior post; /* reference */
  Vec         ml;   /* lumped mass (borrowed from the prior the posterior holds) */
  PetscReal   mass; /* sum of ml: the domain's measure */
  PetscReal   phi;  /* potential of the last successful evaluation */
  PetscInt    nuser; /* the configuration's [[qoi]], after the two built-in ones */
  /* test hooks */
  PetscInt64  evals, nan_every, leak_every;
  McTestLeak *leaks;
} TargetCtx;

static PetscInt64 EnvEvery(const char *name)
{
  const char *v = getenv(name);
  long long   n = v ? atoll(v) : 0;
  return n > 0 ? (PetscInt64)n : 0;
}

static PetscErrorCode TestHooks(TargetCtx *t, Vec xi)
{
  PetscFunctionBeginUser;
  t->evals++;
  if (t->nan_every && t->evals % t->nan_every == 0) {
    PetscCall(VecSetValue(xi, 0, NAN, INSERT_VALUES));
    PetscCall(VecAssemblyBegin(xi));
    PetscCall(VecAssemblyEnd(xi));
  }
  if (t->leak_every && t->evals % t->leak_every == 0) {
    McTestLeak *leak;
    PetscCall(McObjectCreate(&test_leak_type, &leak));
    leak->prev = t->leaks;
    t->leaks = leak;
  }
  PetscFunctionReturn(0);
}

/* One evaluation of the posterior at xi: exact, or near the current state
 * (McPosteriorPotentialNear); hooks says whether it counts for the test
 * hooks. Solver failure, overflow of exp(m), NaN: all a rejected proposal. */
static PetscErrorCode Evaluate(TargetCtx *t, Vec xi, PetscBool near, PetscBool hooks, PetscReal *phi, McEvalStatus *status)
{
  McPosteriorStatus st;

  PetscFunctionBeginUser;
  if (hooks) PetscCall(TestHooks(t, xi));
  if (near) PetscCall(McPosteriorPotentialNear(t->post, xi, phi, &st));
  else PetscCall(McPosteriorPotential(t->post, xi, phi, &st));
  *status = st == MC_POST_OK ? MC_EVAL_OK : MC_EVAL_FAILED;
  if (st == MC_POST_OK) t->phi = *phi;
  PetscFunctionReturn(0);
}

static PetscErrorCode Potential(void *ctx, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  PetscFunctionBeginUser;
  PetscCall(Evaluate((TargetCtx *)ctx, xi, PETSC_FALSE, PETSC_TRUE, phi, status));
  PetscFunctionReturn(0);
}

/* A proposal, solved near the current state: an evaluation like any other
 * for the test hooks. */
static PetscErrorCode ProposalPotential(void *ctx, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  PetscFunctionBeginUser;
  PetscCall(Evaluate((TargetCtx *)ctx, xi, PETSC_TRUE, PETSC_TRUE, phi, status));
  PetscFunctionReturn(0);
}

/* The accepted proposal evaluated exactly (it becomes the anchor): not a
 * new evaluation for the test hooks, whose counts stay those of proposals. */
static PetscErrorCode Accept(void *ctx, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  PetscFunctionBeginUser;
  PetscCall(Evaluate((TargetCtx *)ctx, xi, PETSC_FALSE, PETSC_FALSE, phi, status));
  PetscFunctionReturn(0);
}

static PetscErrorCode Gradient(void *ctx, Vec xi, Vec grad, McEvalStatus *status)
{
  TargetCtx *t = ctx;

  PetscFunctionBeginUser;
  (void)xi;
  PetscCall(McPosteriorGradient(t->post, grad));
  *status = MC_EVAL_OK;
  PetscFunctionReturn(0);
}

/* The Gauss-Newton Hessian action at the last evaluation (dili's subspace
 * update); the posterior keeps that evaluation's forward solution. */
static PetscErrorCode Hessian(void *ctx, Vec v, Vec Hv)
{
  TargetCtx *t = ctx;

  PetscFunctionBeginUser;
  PetscCall(McPosteriorHessianApply(t->post, MC_HESSIAN_GAUSS_NEWTON, v, Hv));
  PetscFunctionReturn(0);
}

/* m_mean: the domain average of m, sum(ml m) / sum(ml); misfit: Phi; then
 * the configuration's quantities, computed by the posterior. */
static PetscErrorCode QoI(void *ctx, Vec xi, PetscReal *values)
{
  TargetCtx  *t = ctx;
  Vec         m;
  PetscScalar s;

  PetscFunctionBeginUser;
  (void)xi;
  PetscCall(McPosteriorGetField(t->post, &m));
  PetscCall(VecDot(m, t->ml, &s));
  values[0] = PetscRealPart(s) / t->mass;
  values[1] = t->phi;
  if (t->nuser) PetscCall(McPosteriorEvaluateQoI(t->post, values + 2));
  PetscFunctionReturn(0);
}

static PetscErrorCode Destroy(void *ctx)
{
  TargetCtx *t = ctx;

  PetscFunctionBeginUser;
  PetscCall(McPosteriorDestroy(&t->post));
  while (t->leaks) {
    McTestLeak *prev = t->leaks->prev;
    PetscCall(McObjectDestroy(&t->leaks));
    t->leaks = prev;
  }
  PetscCall(McFree(&t));
  PetscFunctionReturn(0);
}

PetscErrorCode McProblemCreateTarget(McProblem *pb, McTarget *target)
{
  McTargetOps        ops = {Potential, Gradient, QoI, Destroy};
  TargetCtx         *t;
  PetscBool          has, reuse = PETSC_TRUE;
  PetscInt           n, N, nuser;
  const char *const *user;
  const char        *names[2 + MC_QOI_MAX] = {"m_mean", "misfit"};
  Vec                xi;

  PetscFunctionBeginUser;
  if (pb->umb) {
    PetscCall(McUmbCreateTarget_Private(pb, target));
    PetscFunctionReturn(0);
  }
  PetscCall(McCalloc(sizeof(*t), &t));
  McIncref(pb->post);
  t->post = pb->post;
  t->ml = pb->ml;
  PetscCall(VecSum(pb->ml, &t->mass));
  t->nan_every = EnvEvery("MC_TEST_NAN_PROPOSAL_EVERY");
  t->leak_every = EnvEvery("MC_TEST_LEAK_EVERY");
  /* Proposals reuse the current state's factorisation whenever the solver
   * allows it; -reuse_factorisation 0 (e.g. in [solver] petsc_options)
   * solves every proposal directly. */
  PetscCall(McPosteriorGetReuse(pb->post, NULL, &has));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-reuse_factorisation", &reuse, NULL));
  reuse = has && reuse ? PETSC_TRUE : PETSC_FALSE;
  PetscCall(McPosteriorSetReuse(pb->post, reuse));
  if (reuse) {
    /* Where CG from the current factor is predicted to cost more than a
     * refactorisation, a proposal refactorises at once; -reuse_break_even
     * ITS replaces the break-even the factor's operation counts give (0:
     * always CG). */
    PetscReal its;
    PetscBool set;
    PetscCall(PetscOptionsGetReal(NULL, NULL, "-reuse_break_even", &its, &set));
    if (set) PetscCall(McPosteriorSetReuseBreakEven(pb->post, its));
  }
  PetscCall(McPosteriorGetQoI(pb->post, &nuser, &user));
  for (PetscInt i = 0; i < nuser; i++) names[2 + i] = user[i];
  t->nuser = nuser;
  /* The sampler's coordinates: whitened nodal values or KL coordinates. */
  PetscCall(McPosteriorCreateParameterVector(pb->post, &xi));
  PetscCall(VecGetLocalSize(xi, &n));
  PetscCall(VecGetSize(xi, &N));
  PetscCall(McTargetCreateShell(PetscObjectComm((PetscObject)pb->m0), n, N, &ops, t, 2 + nuser, names, target));
  /* The chains' vectors are the model's (with its mesh's natural
   * numbering, in which they draw when a chain runs on several ranks). */
  PetscCall(McTargetSetVecTemplate(*target, xi));
  PetscCall(VecDestroy(&xi));
  if (reuse) PetscCall(McTargetSetProposalPotential(*target, ProposalPotential, Accept));
  PetscCall(McTargetSetHessian(*target, Hessian));
  PetscFunctionReturn(0);
}
