/* The Bayesian model: a Gaussian random-field prior on the parameter space
 * (the SPDE "bilaplacian" prior), the noise model, the data, and the
 * posterior the sampler sees in whitened coordinates.
 *
 * The one idea: the sampler works on xi ~ N(0, I); the prior maps it to the
 * field m = m0 + L xi with L = A^-1 Ml^(1/2), where A = delta M + gamma K
 * (+ a Robin boundary mass) is the SPDE operator and Ml the lumped mass.
 * So C = L L^T = A^-1 Ml A^-1 and the gradient in xi is L^T grad_m. */
#ifndef MC_MODEL_H
#define MC_MODEL_H

#include "fem/fem.h"
#include <gsl/gsl_rng.h>

/* ----------------------------------------------------------------- prior */

typedef struct {
  /* Either gamma and delta directly (both > 0), or correlation_length and
   * std_dev (both > 0), converted with the Matern formulas. */
  PetscReal gamma, delta;
  PetscReal correlation_length, std_dev;
  PetscBool robin;  /* Robin boundary term that reduces the boundary inflation of the variance */
  /* Anisotropic tensor Theta in gamma div(Theta grad m) (2D only; 0: the
   * identity): eigenvalues theta[0], theta[1], theta[0]'s axis at angle
   * theta_angle from the y axis, as in hIPPYlib's anisotropic prior:
   * Theta = [[t0 s^2 + t1 c^2, (t0 - t1) s c], [(t0 - t1) s c, t0 c^2 + t1 s^2]],
   * s = sin(angle), c = cos(angle). */
  PetscReal theta[2], theta_angle;
  PetscReal mean;   /* constant prior mean m0 */
  Vec       mean_field; /* optional field mean (borrowed at create, copied) */
  const char *options_prefix; /* PETSc options of the prior's solver, e.g. "prior_" */
} McPriorSpec;

typedef struct _p_McPrior *McPrior;

PetscErrorCode McPriorSpecDefault(McPriorSpec *spec);
/* gamma, delta of the bilaplacian prior whose Matern field in R^dim has
 * correlation length rho (distance where the correlation is ~0.13) and
 * pointwise standard deviation sigma: nu = 2 - dim/2, kappa = sqrt(8 nu)/rho,
 * gamma^2 = Gamma(nu) / (Gamma(nu + dim/2) (4 pi)^(dim/2) kappa^(2 nu) sigma^2),
 * delta = kappa^2 gamma. */
PetscErrorCode McPriorMaternCoefficients(PetscInt dim, PetscReal rho, PetscReal sigma, PetscReal *gamma, PetscReal *delta);
/* The Matern correlation at distance r of the field above (the exact
 * continuous value tests compare with). */
PetscReal McPriorMaternCorrelation(PetscInt dim, PetscReal rho, PetscReal r);

/* Ownership: keeps its own reference to the parameter space; returns a new prior. */
PetscErrorCode McPriorCreate(McSpace space, const McPriorSpec *spec, McPrior *prior);
PetscErrorCode McPriorDestroy(McPrior *prior);
PetscErrorCode McPriorGetCoefficients(McPrior prior, PetscReal *gamma, PetscReal *delta, PetscReal *robin_beta);
/* A new vector of the parameter layout (m and xi share it). Ownership: caller destroys. */
PetscErrorCode McPriorCreateVector(McPrior prior, Vec *v);
/* Operators (borrowed): A (SPDE operator), M (consistent mass), the lumped mass diagonal. */
PetscErrorCode McPriorGetOperators(McPrior prior, Mat *A, Mat *M, Vec *lumped);
/* m = m0 + L xi. */
PetscErrorCode McPriorUnwhiten(McPrior prior, Vec xi, Vec m);
/* xi = L^-1 (m - m0). */
PetscErrorCode McPriorWhiten(McPrior prior, Vec m, Vec xi);
/* gxi = L^T gm: a gradient w.r.t. m turned into one w.r.t. xi. */
PetscErrorCode McPriorApplyLT(McPrior prior, Vec gm, Vec gxi);
/* y = C^-1 x = A Ml^-1 A x. */
PetscErrorCode McPriorApplyInverseCovariance(McPrior prior, Vec x, Vec y);
/* xi with independent N(0,1) entries, drawn in global index order so the
 * draw is the same on any number of ranks. */
PetscErrorCode McPriorSampleWhite(McPrior prior, gsl_rng *rng, Vec xi);
/* m = a sample of the prior. */
PetscErrorCode McPriorSample(McPrior prior, gsl_rng *rng, Vec m);


/* Karhunen-Loeve modes of the prior: the K leading eigenpairs of the
 * covariance in the lumped-mass inner product, C Ml phi_k = s_k^2 phi_k with
 * phi_k^T Ml phi_k = 1, computed once with SLEPc (Krylov-Schur on
 * S = Ml^(1/2) A^-1 Ml^(1/2), one prior solve per product; options prefix
 * "kl_" plus the prior's). The reduced parameter is eta in R^K, eta ~ N(0, I),
 * m = m0 + sum_k s_k eta_k phi_k. */
PetscErrorCode McPriorSetUpKL(McPrior prior, PetscInt K);
/* Borrowed: K, the standard deviations s[K] and the modes as the columns of
 * a dense matrix (rows laid out like m). */
PetscErrorCode McPriorGetKL(McPrior prior, PetscInt *K, const PetscReal **s, Mat *modes);
/* A new vector of K reduced coordinates. Ownership: caller destroys. */
PetscErrorCode McPriorCreateKLVector(McPrior prior, Vec *eta);
/* m = m0 + sum_k s_k eta_k phi_k. */
PetscErrorCode McPriorKLUnwhiten(McPrior prior, Vec eta, Vec m);
/* geta_k = s_k phi_k^T gm: a gradient w.r.t. m turned into one w.r.t. eta. */
PetscErrorCode McPriorKLApplyLT(McPrior prior, Vec gm, Vec geta);

/* ------------------------------------------------------------- posterior */

/* The posterior in whitened coordinates: xi ~ N(0, I) a priori, m = m0 + L xi,
 * data d = B u(m) + e with e ~ N(0, diag(sigma^2)). The potential is the data
 * misfit Phi(xi) = 0.5 sum ((B u - d) / sigma)^2; the log posterior is
 * -Phi - |xi|^2/2. */
typedef struct _p_McPosterior *McPosterior;

/* What an evaluation at a proposal found. A failed evaluation is a result
 * the sampler rejects and counts, never an error. */
typedef enum { MC_POST_OK = 0, MC_POST_SOLVER_FAILED, MC_POST_OVERFLOW, MC_POST_NAN } McPosteriorStatus;

/* Ownership: keeps references to fw, obs and prior; returns a new posterior.
 * The data are set with McPosteriorSetData or McPosteriorSynthesize.
 * With fw = NULL the field itself is observed, d = B m + e (obs built on the
 * parameter space): a linear-Gaussian problem whose posterior is known in
 * closed form, which the tests use to check the density and gradient. */
PetscErrorCode McPosteriorCreate(McForward fw, McObsOperator obs, McPrior prior, McPosterior *post);
PetscErrorCode McPosteriorDestroy(McPosterior *post);
/* Observed data d (copied) and the noise standard deviation per observation
 * (sigma: one value for all, or a vector, copied). */
PetscErrorCode McPosteriorSetData(McPosterior post, Vec d, PetscReal sigma, Vec sigmas);
/* Synthetic data from the field mtrue: d = B u(mtrue) + sigma e, e ~ N(0, I)
 * drawn from rng in observation order. With relative, sigma is taken times
 * max |B u(mtrue)|. The data and the resulting absolute sigma are stored. */
PetscErrorCode McPosteriorSynthesize(McPosterior post, Vec mtrue, PetscReal sigma, PetscBool relative, gsl_rng *rng);
/* A full noise covariance Gamma[M*M] (row-major, symmetric positive
 * definite; copied) for a small number M of observations, replacing the
 * independent noise: Phi = 0.5 r^T Gamma^-1 r. Factored once (Cholesky,
 * on every rank); set it before McPosteriorSynthesize to draw correlated
 * noise. With a covariance set, the sigma arguments of SetData and
 * Synthesize are not used. */
PetscErrorCode McPosteriorSetNoiseCovariance(McPosterior post, PetscInt M, const PetscReal *Gamma);
/* Borrowed: the data, the noise standard deviations (a vector), the
 * noise-free observations of the truth (NULL unless synthesized). */
PetscErrorCode McPosteriorGetData(McPosterior post, Vec *d, Vec *sigmas, Vec *clean);
/* Which coordinates the sampler's xi are: the whitened nodal field
 * (default, xi ~ N(0, I) of the parameter space's size) or the K
 * Karhunen-Loeve coordinates of the prior (McPriorSetUpKL first). */
typedef enum { MC_PARAM_NODAL = 0, MC_PARAM_KL = 1 } McParameterization;
PetscErrorCode McPosteriorSetParameterization(McPosterior post, McParameterization kind);
PetscErrorCode McPosteriorGetParameterization(McPosterior post, McParameterization *kind);
/* A new vector of the sampler's coordinates. Ownership: caller destroys. */
PetscErrorCode McPosteriorCreateParameterVector(McPosterior post, Vec *xi);
/* m = m0 + L xi in the chosen coordinates. */
PetscErrorCode McPosteriorParameterToField(McPosterior post, Vec xi, Vec m);
/* Phi(xi). Ownership: borrows xi. */
PetscErrorCode McPosteriorPotential(McPosterior post, Vec xi, PetscReal *phi, McPosteriorStatus *status);
/* Proposals near a reference state, for a sampler: McPosteriorPotential
 * makes its xi the anchor; McPosteriorPotentialNear then solves the forward
 * problem at a proposal by CG preconditioned by the anchor's factorisation
 * (McForwardSolveReuse: a few iterations instead of a refactorisation),
 * refactorising the anchor first if a previous fallback or a gradient moved
 * the factorisation away from it. Phi agrees with McPosteriorPotential to
 * the CG tolerance (<prefix>reuse_ksp_rtol, default 1e-10) and depends only
 * on xi and the anchor. Without reuse enabled, a direct solver, a PDE or an
 * anchor, it is McPosteriorPotential without moving the anchor. Gradient,
 * QoIs and Hessian actions after it are those of the solution it found.
 * Ownership: borrows xi. */
PetscErrorCode McPosteriorPotentialNear(McPosterior post, Vec xi, PetscReal *phi, McPosteriorStatus *status);
/* Enables McPosteriorPotentialNear's reuse (off by default; an error
 * without a PDE with a direct solver); forgets the anchor. Allocates the
 * anchor's field once. has: whether reuse is possible. */
PetscErrorCode McPosteriorSetReuse(McPosterior post, PetscBool reuse);
PetscErrorCode McPosteriorGetReuse(McPosterior post, PetscBool *reuse, PetscBool *has);
/* With reuse on, McPosteriorPotentialNear refactorises at once instead of
 * running CG when CG is predicted to take more than 0.8 x its iterations
 * (the prediction: 6 exp(0.8 s) for a field whose difference from the
 * anchor's spans s). McPosteriorSetReuse sets its to the forward model's
 * break-even (McForwardGetReuseBreakEven); its <= 0: always CG. */
PetscErrorCode McPosteriorSetReuseBreakEven(McPosterior post, PetscReal its);
PetscErrorCode McPosteriorGetReuseBreakEven(McPosterior post, PetscReal *its);
/* Counts since creation: near = proposals solved by CG from the anchor's
 * factorisation, fallback = of them, those where CG did not converge and the
 * proposal was refactorised and solved directly, anchor_refactor =
 * refactorisations putting the factorisation back at the anchor, cg_its =
 * CG iterations in all, direct = proposals McPosteriorPotentialNear solved
 * by refactorising at once because CG was predicted to cost more. */
typedef struct {
  PetscInt64 near, fallback, anchor_refactor, cg_its, direct;
} McPosteriorReuseStats;
PetscErrorCode McPosteriorGetReuseStats(McPosterior post, McPosteriorReuseStats *stats);
/* grad_xi Phi at the xi of the last McPosteriorPotential call that returned
 * MC_POST_OK (reuses its forward solve: one adjoint solve and one prior
 * solve). */
PetscErrorCode McPosteriorGradient(McPosterior post, Vec grad);
/* The field m of the last McPosteriorPotential call. Ownership: borrows. */
PetscErrorCode McPosteriorGetField(McPosterior post, Vec *m);
/* Ownership: borrows. */
PetscErrorCode McPosteriorGetPrior(McPosterior post, McPrior *prior);
PetscErrorCode McPosteriorGetForward(McPosterior post, McForward *fw);
PetscErrorCode McPosteriorGetObsOperator(McPosterior post, McObsOperator *obs);
/* Quantities of interest, evaluated at the field (and state) of the last
 * successful McPosteriorPotential: the mean of m over a box region
 * (lumped-mass weights of the vertices inside it; the whole domain when
 * lower >= upper), the value of m or of u at a point, or the log of the flux
 * through a side of a box domain. */
typedef enum { MC_QOI_MEAN, MC_QOI_POINT, MC_QOI_LOG_FLUX } McQoIKind;
#define MC_QOI_NAME_LEN 64
#define MC_QOI_MAX      16
typedef struct {
  char      name[MC_QOI_NAME_LEN];
  McQoIKind kind;
  PetscBool state;              /* POINT: the value of u instead of m */
  PetscReal lower[3], upper[3]; /* MEAN: the region */
  PetscReal point[3];           /* POINT: inside the domain (else an error naming it) */
  /* LOG_FLUX: log |int exp(m) du/dn ds| over the side x_axis = lower[axis]
   * (side 0) or upper[axis] (side 1) of the box [lower, upper], computed as
   * int exp(m) grad u . grad w dx with w linear in x_axis, 1 on that side and
   * 0 on the opposite one: exact for f = 0, Dirichlet conditions on both
   * sides and no flux through the others (the benchmark's setting). */
  PetscInt  axis, side;
} McQoISpec;
PetscErrorCode McPosteriorAddQoI(McPosterior post, const McQoISpec *spec);
/* Borrowed names, in the order added. */
PetscErrorCode McPosteriorGetQoI(McPosterior post, PetscInt *n, const char *const **names);
/* values[0..n) at the last successful evaluation (same on every rank). */
PetscErrorCode McPosteriorEvaluateQoI(McPosterior post, PetscReal *values);

/* ------------------------------------------------- second-order information */

/* Which Hessian of the misfit: Gauss-Newton (J^T Gamma^-1 J, positive
 * semi-definite everywhere) or the full Newton Hessian (second-order adjoint
 * terms added; exact, indefinite far from the MAP point). */
typedef enum { MC_HESSIAN_GAUSS_NEWTON = 0, MC_HESSIAN_NEWTON = 1 } McHessianKind;

/* Hv = Ht v, Ht = L^T H_misfit L the Hessian of Phi in the sampler's
 * coordinates at the xi of the last successful McPosteriorPotential (the
 * full Hessian also needs McPosteriorGradient there, for its adjoint). The
 * posterior's Hessian is I + Ht. Two solves with the forward factorisation
 * and two prior solves per action; the first call allocates the work
 * vectors, later calls nothing. Ownership: borrows v and Hv. */
PetscErrorCode McPosteriorHessianApply(McPosterior post, McHessianKind kind, Vec v, Vec Hv);

/* ------------------------------------------------------------- MAP point */

typedef struct {
  PetscInt  max_it;        /* Newton iterations (default 20) */
  PetscReal rtol, atol;    /* stop at |grad F| <= max(atol, rtol |grad F(start)|) (1e-6, 1e-12) */
  PetscInt  cg_max_it;     /* CG iterations per Newton step (200) */
  PetscInt  gn_iterations; /* first Newton steps with the Gauss-Newton Hessian (5), then the full one */
  PetscReal c_armijo;      /* sufficient decrease constant (1e-4) */
  PetscInt  max_backtrack; /* step halvings before the line search gives up (15) */
  PetscBool monitor;       /* one line per Newton iteration on the posterior's communicator */
} McMAPOptions;

typedef struct {
  PetscBool converged;
  char      reason[64];
  PetscInt  iterations, cg_iterations, hessian_actions, evaluations;
  PetscReal cost, misfit, grad_norm, grad_norm0; /* F = Phi + |xi|^2/2, Phi, |grad F| at the end and start */
  PetscReal seconds;
} McMAPResult;

PetscErrorCode McMAPOptionsDefault(McMAPOptions *opt);
/* The MAP point: minimises F(xi) = Phi(xi) + |xi|^2/2 from the xi given by
 * inexact Newton-CG (CG on (I + Ht) p = -g, which in whitened coordinates is
 * the prior-preconditioned CG; Eisenstat-Walker forcing; stop at negative
 * curvature; Armijo backtracking). xi is overwritten by the result, and the
 * posterior's last evaluation is there. Not converging is a result
 * (res->converged, res->reason); a start where the forward problem fails,
 * or bad options, are errors. Allocates its work vectors (set-up).
 * Ownership: borrows everything. */
PetscErrorCode McPosteriorComputeMAP(McPosterior post, const McMAPOptions *opt, Vec xi, McMAPResult *res);

/* ------------------------------------------------- Laplace approximation */

typedef struct {
  PetscInt      max_rank;         /* eigenpairs kept at most (default 50) */
  PetscInt      oversampling;     /* extra random directions (10) */
  PetscInt      power_iterations; /* subspace iterations (1) */
  PetscReal     threshold;        /* keep eigenvalues > threshold (1e-2; must be >= 0) */
  McHessianKind hessian;          /* Gauss-Newton (default) or full Newton */
  PetscInt      seed;             /* of the random directions */
} McLaplaceOptions;

/* The low-rank Laplace approximation N(xi_MAP, (I + Ht)^-1) ~
 * N(xi_MAP, I - V diag(lambda/(1+lambda)) V^T) with the r leading
 * eigenpairs of Ht (V orthonormal), an object of the object layer. */
typedef struct _p_McLaplace *McLaplace;

PetscErrorCode McLaplaceOptionsDefault(McLaplaceOptions *opt);
/* Computes the eigenpairs at xi_map by the randomised double-pass
 * algorithm ((2 + power_iterations)(max_rank + oversampling) Hessian
 * actions; exact when that is >= the dimension). Rank < 1, negative
 * threshold or oversampling, or no eigenvalue above the threshold, are
 * errors. Ownership: borrows post and xi_map (copied), returns a new
 * reference. */
PetscErrorCode McLaplaceCreate(McPosterior post, Vec xi_map, const McLaplaceOptions *opt, McLaplace *lap);
PetscErrorCode McLaplaceDestroy(McLaplace *lap);
/* Borrowed: rank r, eigenvalues (descending) and eigenvectors. */
PetscErrorCode McLaplaceGetEigenpairs(McLaplace lap, PetscInt *r, const PetscReal **lambda, const Vec **V);
/* Borrowed: the mean (MAP point). */
PetscErrorCode McLaplaceGetMean(McLaplace lap, Vec *mean);
/* Hessian actions and wall seconds the set-up took. */
PetscErrorCode McLaplaceGetCost(McLaplace lap, PetscInt *actions, PetscReal *seconds);
/* y = Gamma_post x, and y = Gamma_post^(1/2) z (symmetric square root), in
 * O(n r); x == y allowed. No allocation. */
PetscErrorCode McLaplaceApplyCovariance(McLaplace lap, Vec x, Vec y);
PetscErrorCode McLaplaceApplyCovarianceSqrt(McLaplace lap, Vec z, Vec y);
/* xi = a draw of the approximation (white noise in global index order). */
PetscErrorCode McLaplaceSample(McLaplace lap, gsl_rng *rng, Vec xi);

/* The largest m for which exp(m) is evaluated; above it a proposal is an
 * overflow (rejected). exp(700) is near DBL_MAX / 1e4. */
#define MC_POSTERIOR_MAX_LOG_COEFF 700.0

#endif
