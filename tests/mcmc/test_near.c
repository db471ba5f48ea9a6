/* The kernels' use of a target's proposal potential (McTargetSetProposalPotential):
 * gradient-free kernels evaluate proposals with it, an accepted proposal is
 * evaluated again through accept before it becomes the state, so the state a
 * chain carries -- log posterior and QoIs -- is always the exact one, a
 * function of xi alone (what --resume rebuilds); an accept that fails
 * rejects the proposal and makes the current state the reference again;
 * gradient kernels never use the pair.
 *
 * The target: Phi = |xi - mu|^2 / 2 on 6 parameters; its proposal potential
 * adds 1e-9 (1 + |xi - ref|^2), ref the xi of the last potential or accept
 * call, so a value from the wrong function or reference is visible in the
 * last bits. Its one QoI is the last value it computed. */
#include "mctest.h"

#define N 6

typedef struct {
  Vec       ref, work;
  PetscReal last;
  PetscInt  potentials, proposals, accepts;
  PetscInt  fail_every; /* every fail_every-th accept call fails (0: never) */
} Ctx;

static PetscErrorCode Exact(Ctx *c, Vec xi, PetscReal *phi)
{
  PetscReal nrm;

  PetscFunctionBeginUser;
  PetscCall(VecSet(c->work, 0.3));
  PetscCall(VecAYPX(c->work, -1.0, xi)); /* xi - mu, mu = 0.3 */
  PetscCall(VecNorm(c->work, NORM_2, &nrm));
  *phi = 0.5 * nrm * nrm;
  PetscFunctionReturn(0);
}

static PetscErrorCode Potential(void *ctx, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  Ctx *c = ctx;

  PetscFunctionBeginUser;
  c->potentials++;
  PetscCall(Exact(c, xi, phi));
  PetscCall(VecCopy(xi, c->ref));
  c->last = *phi;
  *status = MC_EVAL_OK;
  PetscFunctionReturn(0);
}

static PetscErrorCode Proposal(void *ctx, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  Ctx      *c = ctx;
  PetscReal d;

  PetscFunctionBeginUser;
  c->proposals++;
  PetscCall(Exact(c, xi, phi));
  PetscCall(VecWAXPY(c->work, -1.0, c->ref, xi));
  PetscCall(VecNorm(c->work, NORM_2, &d));
  *phi += 1e-9 * (1 + d * d);
  c->last = *phi;
  *status = MC_EVAL_OK;
  PetscFunctionReturn(0);
}

static PetscErrorCode Accept(void *ctx, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  Ctx *c = ctx;

  PetscFunctionBeginUser;
  c->accepts++;
  *status = MC_EVAL_OK;
  if (c->fail_every && c->accepts % c->fail_every == 0) {
    *status = MC_EVAL_FAILED;
    PetscFunctionReturn(0);
  }
  PetscCall(Exact(c, xi, phi));
  PetscCall(VecCopy(xi, c->ref));
  c->last = *phi;
  PetscFunctionReturn(0);
}

static PetscErrorCode Gradient(void *ctx, Vec xi, Vec grad, McEvalStatus *status)
{
  PetscFunctionBeginUser;
  (void)ctx;
  PetscCall(VecCopy(xi, grad));
  PetscCall(VecShift(grad, -0.3));
  *status = MC_EVAL_OK;
  PetscFunctionReturn(0);
}

static PetscErrorCode QoI(void *ctx, Vec xi, PetscReal *values)
{
  PetscFunctionBeginUser;
  (void)xi;
  values[0] = ((Ctx *)ctx)->last;
  PetscFunctionReturn(0);
}

static PetscErrorCode Run(const char *kernel, PetscInt fail_every, PetscInt steps)
{
  McTargetOps       ops = {Potential, Gradient, QoI, NULL};
  const char *const names[] = {"last"};
  Ctx               c = {NULL, NULL, 0, 0, 0, 0, fail_every};
  McTarget          t;
  McKernel          k;
  McRng             rng;
  McStepStats       st;
  Vec               x0, xi;
  PetscInt          accepted = 0, failed = 0, bad_lp = 0, bad_qoi = 0, bad_ref = 0;
  const PetscReal  *qoi;
  PetscBool         same;

  PetscFunctionBeginUser;
  PetscCall(McTargetCreateShell(PETSC_COMM_SELF, N, N, &ops, &c, 1, names, &t));
  PetscCall(McTargetSetProposalPotential(t, Proposal, Accept));
  PetscCall(McTargetCreateVec(t, &c.ref));
  PetscCall(VecDuplicate(c.ref, &c.work));
  PetscCall(VecDuplicate(c.ref, &x0));
  PetscCall(VecSet(x0, 0.1));
  PetscCall(McKernelCreate(t, kernel, &k));
  PetscCall(McKernelSetUp(k));
  PetscCall(McKernelSetStepSize(k, 0.5));
  PetscCall(McKernelSetState(k, x0));
  PetscCall(McRngCreate(7, 0, &rng));
  for (PetscInt i = 0; i < steps; i++) {
    PetscReal lp, phi, xi2;
    PetscCall(McKernelStep(k, rng, &st));
    accepted += st.accepted;
    failed += st.failed;
    PetscCall(McKernelGetState(k, &xi));
    PetscCall(McKernelGetLogPosterior(k, &lp));
    PetscCall(McKernelGetQoIValues(k, &qoi));
    PetscCall(Exact(&c, xi, &phi));
    PetscCall(VecDot(xi, xi, &xi2));
    if (lp != -phi - 0.5 * xi2) bad_lp++;
    if (qoi[0] != phi) bad_qoi++;
    PetscCall(VecEqual(xi, c.ref, &same));
    if (!same && strcmp(kernel, MC_KERNEL_MALA)) bad_ref++;
  }
  if (!strcmp(kernel, MC_KERNEL_MALA)) {
    CHECK(c.proposals == 0 && c.accepts == 0 && c.potentials == steps + 1,
          "%s: a gradient kernel evaluates exactly: %d proposal, %d accept, %d potential calls for %d steps", kernel,
          (int)c.proposals, (int)c.accepts, (int)c.potentials, (int)steps);
  } else {
    CHECK(c.potentials == 1 && c.proposals == steps,
          "%s: one potential call (the initial state) and one proposal call per step: %d and %d for %d steps", kernel,
          (int)c.potentials, (int)c.proposals, (int)steps);
    if (fail_every) {
      /* Each failed accept is followed by one accept of the current state. */
      CHECK(c.accepts == accepted + 2 * failed && failed > 0,
            "%s: %d accept calls for %d accepted and %d failed steps (every %d-th accept call fails)", kernel,
            (int)c.accepts, (int)accepted, (int)failed, (int)fail_every);
    } else {
      CHECK(c.accepts == accepted && failed == 0, "%s: %d accept calls for %d accepted steps (%d failed)", kernel,
            (int)c.accepts, (int)accepted, (int)failed);
    }
  }
  CHECK(accepted > steps / 10 && accepted < steps, "%s: %d of %d accepted", kernel, (int)accepted, (int)steps);
  CHECK(bad_lp == 0, "%s: %d of %d steps left a log posterior other than the exact one", kernel, (int)bad_lp,
        (int)steps);
  CHECK(bad_qoi == 0, "%s: %d of %d steps left QoIs other than the exact evaluation's", kernel, (int)bad_qoi,
        (int)steps);
  CHECK(bad_ref == 0, "%s: after %d of %d steps the target's reference was not the current state", kernel, (int)bad_ref,
        (int)steps);
  printf("%s (accept fails every %d): %d steps, %d accepted, %d failed; potential %d, proposal %d, accept %d calls\n",
         kernel, (int)fail_every, (int)steps, (int)accepted, (int)failed, (int)c.potentials, (int)c.proposals,
         (int)c.accepts);
  PetscCall(McRngDestroy(&rng));
  PetscCall(McKernelDestroy(&k));
  PetscCall(McTargetDestroy(&t));
  PetscCall(VecDestroy(&x0));
  PetscCall(VecDestroy(&c.ref));
  PetscCall(VecDestroy(&c.work));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(Run(MC_KERNEL_PCN, 0, 2000));
  PetscCall(Run(MC_KERNEL_RWM, 0, 2000));
  PetscCall(Run(MC_KERNEL_AM, 0, 2000));
  PetscCall(Run(MC_KERNEL_PCN, 3, 2000));
  PetscCall(Run(MC_KERNEL_MALA, 0, 500));
  printf("near: %d failed\n", failures);
  PetscCall(PetscFinalize());
  return failures != 0;
}
