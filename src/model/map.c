/* The MAP point: the minimiser of F(xi) = Phi(xi) + |xi|^2/2 by inexact
 * Newton-CG.
 *
 * In whitened coordinates the prior covariance is the identity, so plain CG
 * on the Newton system (I + Ht) p = -g IS the prior-preconditioned CG of
 * the literature (Bui-Thanh, Ghattas, Martin, Stadler 2013; hIPPYlib): its
 * iteration count is bounded by the number of data-informed directions, not
 * by the mesh. CG stops early by the Eisenstat-Walker forcing term
 * eta = min(0.5, sqrt(|g| / |g0|)), and at negative curvature (the full
 * Hessian can be indefinite far from the minimiser: then the CG iterate so
 * far, or -g on the first CG step, is a descent direction). The first
 * Newton iterations use the Gauss-Newton Hessian, which is always positive
 * semi-definite; the full Hessian then gives the quadratic convergence.
 * An Armijo backtracking line search globalises. */
#include "model/model_impl.h"

PetscErrorCode McMAPOptionsDefault(McMAPOptions *opt)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(opt, sizeof(*opt)));
  opt->max_it = 20;
  opt->rtol = 1e-6;
  opt->atol = 1e-12;
  opt->cg_max_it = 200;
  opt->gn_iterations = 5;
  opt->c_armijo = 1e-4;
  opt->max_backtrack = 15;
  PetscFunctionReturn(0);
}

static PetscErrorCode CheckOptions(MPI_Comm comm, const McMAPOptions *o)
{
  PetscFunctionBeginUser;
  PetscCheck(o->max_it >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "MAP: the maximum number of Newton iterations must be >= 1, got %" PetscInt_FMT, o->max_it);
  PetscCheck(o->rtol >= 0 && o->atol >= 0 && (o->rtol > 0 || o->atol > 0), comm, PETSC_ERR_ARG_OUTOFRANGE, "MAP: the gradient tolerances must be >= 0 and not both 0, got rtol %g, atol %g", (double)o->rtol, (double)o->atol);
  PetscCheck(o->cg_max_it >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "MAP: the maximum number of CG iterations must be >= 1, got %" PetscInt_FMT, o->cg_max_it);
  PetscCheck(o->c_armijo > 0 && o->c_armijo < 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "MAP: the Armijo constant must be in (0, 1), got %g", (double)o->c_armijo);
  PetscCheck(o->max_backtrack >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "MAP: the maximum number of backtracking steps must be >= 1, got %" PetscInt_FMT, o->max_backtrack);
  PetscFunctionReturn(0);
}

typedef struct {
  Vec g, p, r, d, hd, xnew;
} Work;

/* F and its gradient at xi; *ok false when the forward problem fails. */
static PetscErrorCode Evaluate(McPosterior post, Vec xi, PetscReal *F, PetscReal *misfit, Vec g, PetscBool *ok)
{
  McPosteriorStatus st;
  PetscReal         xx;

  PetscFunctionBeginUser;
  PetscCall(McPosteriorPotential(post, xi, misfit, &st));
  *ok = st == MC_POST_OK ? PETSC_TRUE : PETSC_FALSE;
  if (!*ok) PetscFunctionReturn(0);
  PetscCall(VecDot(xi, xi, &xx));
  *F = *misfit + 0.5 * xx;
  if (g) {
    PetscCall(McPosteriorGradient(post, g));
    PetscCall(VecAXPY(g, 1.0, xi));
  }
  PetscFunctionReturn(0);
}

/* (I + Ht) p = -g to relative tolerance eta by CG from p = 0; stops at
 * negative curvature. */
static PetscErrorCode NewtonCG(McPosterior post, McHessianKind kind, const McMAPOptions *o, PetscReal gnorm, PetscReal eta, Work *w, PetscInt *its, PetscBool *negative)
{
  PetscReal rr, rr1, dhd, alpha;

  PetscFunctionBeginUser;
  *its = 0;
  *negative = PETSC_FALSE;
  PetscCall(VecZeroEntries(w->p));
  PetscCall(VecCopy(w->g, w->r));
  PetscCall(VecScale(w->r, -1.0));
  PetscCall(VecCopy(w->r, w->d));
  rr = gnorm * gnorm;
  for (PetscInt j = 0; j < o->cg_max_it; j++) {
    PetscCall(McPosteriorHessianApply(post, kind, w->d, w->hd));
    PetscCall(VecAXPY(w->hd, 1.0, w->d));
    PetscCall(VecDot(w->d, w->hd, &dhd));
    if (dhd <= 0) {
      *negative = PETSC_TRUE;
      if (j == 0) PetscCall(VecCopy(w->r, w->p)); /* steepest descent */
      break;
    }
    alpha = rr / dhd;
    PetscCall(VecAXPY(w->p, alpha, w->d));
    PetscCall(VecAXPY(w->r, -alpha, w->hd));
    PetscCall(VecDot(w->r, w->r, &rr1));
    *its = j + 1;
    if (PetscSqrtReal(rr1) <= eta * gnorm) break;
    PetscCall(VecAYPX(w->d, rr1 / rr, w->r));
    rr = rr1;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorComputeMAP(McPosterior post, const McMAPOptions *o, Vec xi, McMAPResult *res)
{
  MPI_Comm       comm = PetscObjectComm((PetscObject)post->d);
  Work           w;
  PetscReal      F, misfit, gnorm, tol;
  PetscBool      ok;
  PetscLogDouble t0, t1;

  PetscFunctionBeginUser;
  PetscCall(CheckOptions(comm, o));
  PetscCall(PetscTime(&t0));
  PetscCall(PetscMemzero(res, sizeof(*res)));
  PetscCall(VecDuplicate(xi, &w.g));
  PetscCall(VecDuplicate(xi, &w.p));
  PetscCall(VecDuplicate(xi, &w.r));
  PetscCall(VecDuplicate(xi, &w.d));
  PetscCall(VecDuplicate(xi, &w.hd));
  PetscCall(VecDuplicate(xi, &w.xnew));
  PetscCall(Evaluate(post, xi, &F, &misfit, w.g, &ok));
  PetscCheck(ok, comm, PETSC_ERR_ARG_WRONG, "MAP: the forward problem cannot be solved at the starting point");
  res->evaluations = 1;
  PetscCall(VecNorm(w.g, NORM_2, &gnorm));
  res->grad_norm0 = gnorm;
  tol = PetscMax(o->atol, o->rtol * gnorm);
  if (o->monitor) PetscCall(PetscPrintf(comm, "MAP  it      cost F       misfit   |grad F|  CG its  step\nMAP %3d %13.6e %12.5e %9.3e\n", 0, (double)F, (double)misfit, (double)gnorm));
  PetscCall(PetscStrncpy(res->reason, "maximum Newton iterations reached", sizeof(res->reason)));
  for (PetscInt it = 1; it <= o->max_it; it++) {
    McHessianKind kind = it <= o->gn_iterations ? MC_HESSIAN_GAUSS_NEWTON : MC_HESSIAN_NEWTON;
    PetscReal     eta = PetscMin(0.5, PetscSqrtReal(gnorm / res->grad_norm0)), gp, a = 1, Fnew = F, mnew = misfit;
    PetscInt      cgits, b;
    PetscBool     negative, accepted = PETSC_FALSE;

    if (gnorm <= tol) break;
    PetscCall(NewtonCG(post, kind, o, gnorm, eta, &w, &cgits, &negative));
    res->cg_iterations += cgits;
    res->hessian_actions += cgits + (negative ? 1 : 0);
    PetscCall(VecDot(w.g, w.p, &gp));
    for (b = 0; b < o->max_backtrack; b++, a *= 0.5) {
      PetscCall(VecWAXPY(w.xnew, a, w.p, xi));
      PetscCall(Evaluate(post, w.xnew, &Fnew, &mnew, NULL, &ok));
      res->evaluations++;
      if (ok && Fnew <= F + o->c_armijo * a * gp) {
        accepted = PETSC_TRUE;
        break;
      }
    }
    if (!accepted) {
      PetscCall(PetscStrncpy(res->reason, "the line search found no decrease", sizeof(res->reason)));
      PetscCall(Evaluate(post, xi, &F, &misfit, w.g, &ok)); /* leave the posterior at the best point */
      break;
    }
    PetscCall(VecCopy(w.xnew, xi));
    F = Fnew;
    misfit = mnew;
    PetscCall(McPosteriorGradient(post, w.g)); /* the last potential was at xi */
    PetscCall(VecAXPY(w.g, 1.0, xi));
    PetscCall(VecNorm(w.g, NORM_2, &gnorm));
    res->iterations = it;
    if (o->monitor) PetscCall(PetscPrintf(comm, "MAP %3" PetscInt_FMT " %13.6e %12.5e %9.3e %6" PetscInt_FMT "%s %6.4f%s\n", it, (double)F, (double)misfit, (double)gnorm, cgits, negative ? "*" : " ", (double)a, kind == MC_HESSIAN_GAUSS_NEWTON ? "  (Gauss-Newton)" : ""));
  }
  if (gnorm <= tol) {
    res->converged = PETSC_TRUE;
    PetscCall(PetscStrncpy(res->reason, "gradient norm below tolerance", sizeof(res->reason)));
  }
  res->cost = F;
  res->misfit = misfit;
  res->grad_norm = gnorm;
  PetscCall(VecDestroy(&w.g));
  PetscCall(VecDestroy(&w.p));
  PetscCall(VecDestroy(&w.r));
  PetscCall(VecDestroy(&w.d));
  PetscCall(VecDestroy(&w.hd));
  PetscCall(VecDestroy(&w.xnew));
  PetscCall(PetscTime(&t1));
  res->seconds = t1 - t0;
  PetscFunctionReturn(0);
}
