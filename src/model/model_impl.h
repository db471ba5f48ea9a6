/* Private layout of the model module's objects, shared by its files only. */
#pragma once
#include "model/model.h"
#include "obj/obj.h"

#include <gsl/gsl_linalg.h>

struct _p_McPrior {
  MC_OBJECT_HEAD;
  MPI_Comm    comm;
  McPriorSpec spec;
  PetscInt    dim;
  PetscReal   gamma, delta, beta;
  DM          dm;                     /* clone of the parameter space with the prior's weak form */
  Mat         A, M;
  KSP         ksp;                    /* factorisation of A, made once */
  Mat         F;                      /* its factor when the KSP is a plain direct solve (borrowed from the
                                         PC): MatSolve without KSPSolve's per-call overhead, which cost
                                         as much as a third of each of the two prior solves per step */
  McSpace     space;                  /* reference: the parameter space */
  Vec         m0, sqrtml, isqrtml, ml; /* mean, Ml^(1/2), Ml^(-1/2), Ml */
  Vec         w1, w2;                 /* work */
  PetscInt    K;                      /* Karhunen-Loeve modes, when set up */
  PetscReal  *kls;                    /* their standard deviations s_k */
  Mat         klmodes;                /* dense, columns phi_k */
  Vec         kleta;                  /* work, reduced layout */
};

/* The parameter space the prior was made on. Ownership: borrows. */
PetscErrorCode McPriorGetSpace_Private(McPrior prior, McSpace *space);

struct _p_McPosterior {
  MC_OBJECT_HEAD;
  McForward     fw;    /* reference */
  McObsOperator obs;   /* reference */
  McPrior       prior; /* reference */
  Vec           m;       /* field of the last evaluation */
  Vec           d;       /* data */
  Vec           sigmas;  /* noise standard deviation per observation */
  Vec           weights; /* 1/sigma^2, the noise precision the adjoint uses */
  Vec           clean;   /* noise-free observations of the truth, if synthesized */
  Vec           gm;      /* gradient w.r.t. m */
  Vec           r, wr;   /* residual and weighted residual (direct observation) */
  McParameterization param;
  gsl_matrix   *gchol;   /* Cholesky factor of a full noise covariance, or NULL */
  gsl_vector   *grfull, *gzfull; /* residual and Gamma^-1 residual, whole */
  VecScatter    toall;
  Vec           rall;    /* the residual gathered on every rank */
  Vec           bu;      /* B u */
  PetscInt      nqoi;
  McQoISpec     qoi[MC_QOI_MAX];
  const char   *qoi_names[MC_QOI_MAX];
  Vec           qoi_w[MC_QOI_MAX];        /* MEAN: weights over m */
  McObsOperator qoi_obs[MC_QOI_MAX];      /* POINT: one-row observation (reference) */
  Vec           qoi_v[MC_QOI_MAX];        /* POINT: its one-entry result */
  PetscBool     have_data, last_ok;
  PetscBool     grad_ok; /* the adjoint of the last gradient belongs to the last potential */
  /* Proposals solved near the anchor (McPosteriorPotentialNear): the field
   * of the last exact evaluation, and whether the forward model's
   * factorisation still belongs to it. */
  PetscBool     reuse, have_anchor, factor_at_anchor, last_near;
  Vec           manchor;
  /* CG iterations that cost a refactorisation (0: unknown, always CG); the
   * spread of m - manchor; the last proposal McPosteriorPotentialNear
   * solved directly and its Phi, so its exact evaluation on acceptance is
   * not repeated. */
  PetscReal     breakeven;
  Vec           mspread, xdirect;
  PetscBool     xdirect_valid;
  PetscReal     phidirect;
  McPosteriorReuseStats reuse_stats;
  /* Hessian actions (hessian.c), made on first use. */
  Vec           hdm, hHm;           /* parameter-field direction and misfit Hessian action */
  Vec           hdu, hrhs;          /* state-space incremental state and B^T W B du */
  Vec           hbdu, hwbdu;        /* observation-sized */
};

/* y = Gamma^-1 r for the noise model of the posterior (diagonal weights or
 * the full covariance's Cholesky factor). */
PetscErrorCode McPosteriorApplyNoisePrecision_Private(McPosterior post, Vec r, Vec y);
