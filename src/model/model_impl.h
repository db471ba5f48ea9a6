/* Private layout of the model module's objects, shared by its files only. */
#pragma once
#include "model/model.h"
#include "obj/obj.h"

struct _p_McPrior {
  MC_OBJECT_HEAD;
  MPI_Comm    comm;
  McPriorSpec spec;
  PetscInt    dim;
  PetscReal   gamma, delta, beta;
  DM          dm;                     /* clone of the parameter space with the prior's weak form */
  Mat         A, M;
  KSP         ksp;                    /* factorisation of A, made once */
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
