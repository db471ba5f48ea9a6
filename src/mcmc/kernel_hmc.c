/* Hamiltonian Monte Carlo on function space: infinity-HMC (Beskos, Pinski,
 * Sanz-Serna, Stuart 2011, "Hybrid Monte Carlo on Hilbert spaces") and its
 * Hessian-informed form with the Gaussian reference N(mu, Sigma) (the
 * Laplace approximation) in place of the prior N(0, I) (Beskos, Girolami,
 * Lan, Farrell, Stuart 2017, "Geometric MCMC for infinite-dimensional
 * inverse problems").
 *
 * The posterior is exp(-Psi) N(mu, Sigma) (Psi = Phi for infhmc, the
 * potential with respect to the reference for hhmc). With velocity u ~
 * N(0, Sigma), the Hamiltonian splits into the Gaussian part, whose flow is
 * the rotation of (xi - mu, u) by the angle h (exact, so the Gaussian part
 * never limits the step whatever the dimension), and Psi, whose flow is the
 * kick u <- u - (h/2) Sigma grad Psi. One leapfrog step is kick, rotate,
 * kick; a trajectory is L of them, a gradient evaluation each.
 *
 * The rotation keeps |xi - mu|^2_{Sigma^-1} + |u|^2_{Sigma^-1}, so the
 * energy changes only by Psi and by the kicks, each of which changes
 * |u|^2_{Sigma^-1}/2 by -(h/2) <G, u> + (h^2/8) <G, Sigma G> (G = grad Psi):
 * the acceptance exp(-dH) is summed from these, with no difference of
 * |xi|^2-sized terms to cancel and no Sigma^-1 to apply. The integrator is
 * volume-preserving and reversible, so this is an exact MH step whatever h
 * and L. Exact Laplace approximation (Psi constant): every trajectory is
 * accepted, and h L = pi/2 makes the proposal an independent draw (h L =
 * pi an antithetic one, 2 pi no move at all: keep h L between about pi/2
 * and 3).
 * Step = h in (0, pi/2]; parameter "leapfrog_steps" = L. */
#include "mcmc/mcmc_impl.h"

#include <math.h>
#include <string.h>

#define JITTER 0.2 /* each trajectory's step is uniform in [1 - JITTER, 1 + JITTER] h */

typedef struct {
  PetscBool geom; /* hhmc: the reference; infhmc: the prior */
  PetscInt  L;    /* leapfrog steps per trajectory */
  Vec       U, E; /* velocity; xi - mu (work) */
  /* G = grad Psi and P = Sigma G at the current state, and along the
   * trajectory (its end becomes the current state's on acceptance) */
  McForceCache f;
} HMC;

static PetscErrorCode SetUpHMC(McKernel k)
{
  HMC *h = k->data;

  PetscFunctionBeginUser;
  PetscCall(VecDuplicate(k->target->tmpl, &h->U));
  PetscCall(VecDuplicate(k->target->tmpl, &h->E));
  PetscCall(McForceCacheSetUp_Private(k, &h->f));
  PetscFunctionReturn(0);
}

static PetscErrorCode DestroyHMC(McKernel k)
{
  HMC *h = k->data;

  PetscFunctionBeginUser;
  PetscCall(VecDestroy(&h->U));
  PetscCall(VecDestroy(&h->E));
  PetscCall(McForceCacheDestroy_Private(&h->f));
  PetscCall(McFree(&k->data));
  PetscFunctionReturn(0);
}

static PetscErrorCode SetParamHMC(McKernel k, const char *name, PetscReal value)
{
  HMC *h = k->data;

  PetscFunctionBeginUser;
  PetscCheck(!strcmp(name, "leapfrog_steps"), k->target->comm, PETSC_ERR_ARG_WRONG,
             "kernel %s has no parameter \"%s\" (it has \"leapfrog_steps\")", k->type, name);
  PetscCheck(value >= 1 && value <= 100000 && value == PetscFloorReal(value), k->target->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "kernel %s: leapfrog_steps must be an integer in [1, 100000], got %g", k->type, (double)value);
  h->L = (PetscInt)value;
  PetscFunctionReturn(0);
}

/* Psi, G and P = Sigma G at the state s. */
static PetscErrorCode Forces(McKernel k, const McState *s, PetscReal *psi, Vec G, Vec P)
{
  HMC *h = k->data;

  PetscFunctionBeginUser;
  if (h->geom)
    PetscCall(McGaussRefPsiGradPrec_Private(k, s, psi, G, P));
  else {
    *psi = s->phi;
    PetscCall(VecCopy(s->grad, G));
    PetscCall(VecCopy(s->grad, P));
  }
  PetscFunctionReturn(0);
}

/* u <- u - (h/2) P, returning the change of the kinetic energy. */
static PetscErrorCode Kick(HMC *h, PetscReal step, Vec G, Vec P, PetscReal *dK)
{
  Vec         ys[2] = {h->U, P};
  PetscScalar d[2];

  PetscFunctionBeginUser;
  PetscCall(VecMDot(G, 2, ys, d));
  *dK = -0.5 * step * PetscRealPart(d[0]) + 0.125 * step * step * PetscRealPart(d[1]);
  PetscCall(VecAXPY(h->U, -0.5 * step, P));
  PetscFunctionReturn(0);
}

/* (xi - mu, u) <- rotation by the angle step. */
static PetscErrorCode Rotate(McKernel k, PetscReal step, Vec xi)
{
  HMC      *h = k->data;
  PetscReal c = PetscCosReal(step), s = PetscSinReal(step);

  PetscFunctionBeginUser;
  if (h->geom) {
    PetscCall(VecWAXPY(h->E, -1.0, k->ref.mean, xi));
    PetscCall(VecCopy(k->ref.mean, xi));
  } else {
    PetscCall(VecCopy(xi, h->E));
    PetscCall(VecZeroEntries(xi));
  }
  PetscCall(VecAXPBYPCZ(xi, c, s, 1.0, h->E, h->U));
  PetscCall(VecAXPBY(h->U, -s, c, h->E));
  PetscFunctionReturn(0);
}

static PetscErrorCode StepHMC(McKernel k, McRng rng, McStepStats *stats)
{
  HMC          *h = k->data;
  McForceCache *f = &h->f;
  PetscReal     step, dH = 0, dK, lr = 0;
  PetscBool     ok = PETSC_TRUE;
  Vec           G, P;

  PetscFunctionBeginUser;
  if (McForceCacheStale_Private(k, f)) {
    PetscCall(Forces(k, &k->cur, &f->psic, f->Gc, f->Pc));
    McForceCacheMark_Private(k, f);
  }
  /* The step of this trajectory, drawn independently of the state (so each
   * is an exact MH step and so is their mixture): with one fixed length, a
   * mode whose period divides the trajectory's comes back where it started
   * and the chain stops exploring it (seen on a 100-D Gaussian). */
  step = McKernelStep_Private(k) * (1 + JITTER * (2 * McRngUniform(rng) - 1));
  PetscCall(McRngGaussianVec(rng, h->U));
  if (h->geom) PetscCall(McGaussRefApply_Private(k, h->U, h->U, PETSC_TRUE));
  PetscCall(VecCopy(k->cur.xi, k->prop.xi));
  G = f->Gc, P = f->Pc;
  for (PetscInt l = 0; l < h->L; l++) {
    PetscCall(Kick(h, step, G, P, &dK));
    dH += dK;
    PetscCall(Rotate(k, step, k->prop.xi));
    PetscCall(McKernelEvaluate_Private(k, &k->prop, &ok));
    if (!ok) break; /* a failed solve or a diverging trajectory: rejected */
    PetscCall(Forces(k, &k->prop, &f->psip, f->Gp, f->Pp));
    G = f->Gp, P = f->Pp;
    PetscCall(Kick(h, step, G, P, &dK));
    dH += dK;
  }
  if (ok) lr = -(f->psip - f->psic + dH);
  PetscCall(McKernelAcceptReject_Private(k, rng, ok, lr, stats));
  McForceCacheAccepted_Private(k, f);
  PetscFunctionReturn(0);
}

static PetscErrorCode CreateHMC(McKernel k, PetscBool geom)
{
  HMC *h;

  PetscFunctionBeginUser;
  PetscCall(McCalloc(sizeof(HMC), &k->data));
  h = k->data;
  h->geom = geom;
  h->L = 10;
  k->need_grad = PETSC_TRUE;
  k->need_ref = geom;
  k->ops.setup = SetUpHMC;
  k->ops.step = StepHMC;
  k->ops.set_param = SetParamHMC;
  k->ops.destroy = DestroyHMC;
  k->max_step = PETSC_PI / 2;
  k->log_step = log(0.1);
  k->target_accept = 0.65;
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelCreate_InfHMC(McKernel k)
{
  PetscFunctionBeginUser;
  PetscCall(CreateHMC(k, PETSC_FALSE));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelCreate_HHMC(McKernel k)
{
  PetscFunctionBeginUser;
  PetscCall(CreateHMC(k, PETSC_TRUE));
  PetscFunctionReturn(0);
}
