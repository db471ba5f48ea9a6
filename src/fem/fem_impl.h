/* Private layout of the fem module's objects, shared by its files only. */
#ifndef MC_FEM_IMPL_H
#define MC_FEM_IMPL_H

#include "fem/fem.h"
#include "obj/obj.h"

#include <petscds.h>
#include <petscsf.h>

struct _p_McMesh {
  MC_OBJECT_HEAD;
  MPI_Comm  comm;
  DM        dm;
  PetscInt  dim;
  PetscBool simplex;
  char      desc[PETSC_MAX_PATH_LEN + 64];
  McSpace   spaces[3]; /* cache, indexed by order (references) */
  /* Distributed meshes only (natural.c): the serial point number of each
   * local point, and the serial vertex and cell ranges; NULL when the mesh
   * was not distributed (its numbering is the natural one). */
  PetscInt *nat_point;
  PetscInt  nat_vs, nat_nv, nat_cs, nat_nc;
};

struct _p_McSpace {
  MC_OBJECT_HEAD;
  McMesh   mesh; /* reference: mesh <-> space is a cycle */
  PetscInt order;
  DM       dm; /* clone of the mesh with one scalar Lagrange field */
  PetscFE  fe;
};

/* Quadrature order of the assembly for Lagrange order k: a Gauss rule with
 * k+1 points per direction on tensor cells (fewer under-integrates Q1), and
 * the cheapest rule that keeps the optimal rates on simplices (one point for
 * P1: its gradients are constant). */
PetscInt       McFEQuadratureOrder_Private(PetscBool simplex, PetscInt k);
PetscErrorCode McFECreate_Private(PetscInt dim, PetscBool simplex, PetscInt order, PetscInt qorder, PetscFE *fe);
PetscErrorCode McMeshAlloc_Private(McMesh *mesh);
/* A local vector holding the global index of each local dof of dm, -1 for
 * constrained (Dirichlet) dofs: for closures of global column numbers. */
PetscErrorCode McFEGlobalIndexVector_Private(DM dm, Vec *idx);
/* natural.c: the serial numbers of the distributed mesh's points, carried
 * by the migration SF from serial (the mesh before distribution, all on the
 * first rank); the natural map of a P1 space, composed on its DM. */
PetscErrorCode McMeshSetNatural_Private(McMesh mesh, DM serial, PetscSF migration);
PetscErrorCode McSpaceSetUpNatural_Private(McSpace space);

#define MC_FEM_NAME_LEN 64

struct _p_McForward {
  MC_OBJECT_HEAD;
  MPI_Comm  comm;
  McMesh    mesh;   /* reference */
  McSpace   uspace; /* reference: state space (no boundary conditions) */
  McSpace   mspace; /* reference: parameter space */
  McPDESpec spec;   /* copy; names and wells point into the fields below */
  char      dirichlet_names[MC_FEM_MAX_BC][MC_FEM_NAME_LEN];
  char      neumann_names[MC_FEM_MAX_BC][MC_FEM_NAME_LEN];
  McWell   *wells;
  char     *prefix;
  PetscBool setup;

  DM               dm;    /* state DM: the space's field with Dirichlet constraints */
  DM               auxdm; /* parameter field at the state's quadrature (generic path) */
  PetscFE          mfe;
  Vec              mloc;                              /* local m, the auxiliary vector of dm */
  Vec              u, b, b0, adj, adjrhs;             /* global, free dofs */
  Vec              liftloc, gloc, uloc, adjloc, zloc; /* local of dm */
  Vec              ufull, zfull;                      /* global of the state space */
  Vec              gradloc;                           /* local of the parameter space */
  Vec              resid, wresid;                     /* observation-sized work, made on first use */
  Mat              A;
  KSP              ksp;
  Mat              F;      /* the PC's factor when the solver is a plain direct one (borrowed) */
  PetscBool        Fchol;  /* F is a Cholesky (else LU) factor */
  PetscBool        Fok;    /* the last numeric factorisation succeeded */
  PetscObjectState Fstate; /* state of A when F was last factored */
  PetscInt64       nfactor; /* numeric factorisations of F since set-up */
  Mat              Agen;   /* reference path: its own matrix, vector and solver */
  Vec              bgen, ugen;
  KSP              kspgen;
  KSP              kspreuse; /* CG preconditioned by the existing factor F */

  /* element data (fast path) */
  PetscInt   cStart, cEnd, ncells, nb, nbm, nq, ns;
  PetscReal *Gq;             /* [cell][q][ns]: w |det J| grad phi_i . grad phi_j, i <= j */
  PetscReal *kc;             /* [cell][q]: exp(m) from the last McForwardAssemble, for the gradient and the
                                flux at the same m (the exp was 3% of a sampling run, computed twice) */
  PetscBool  kc_valid;       /* kc belongs to the m in mloc */
  PetscReal *Nm;             /* [q][nbm]: m basis at the quadrature points */
  PetscReal *Nu;             /* [q][nb]: state basis at the quadrature points */
  PetscInt  *uidx;           /* [cell][nb]: local offsets of the state dofs */
  PetscInt  *midx;           /* [cell][nbm]: local offsets of the m dofs */
  PetscInt  *gtmp;           /* global indices of the closure dofs, -1 for Dirichlet; kept on one rank (lifting rows) */
  PetscInt  *gof;            /* one rank: global index of each local dof, -1 for Dirichlet */
  PetscBool  ufull_identity; /* one rank: the state space's global vector is the local one */
  PetscInt  *pos;            /* [cell][nb*nb]: value position codes, -1 to skip */
  char      *con;            /* [cell][nb]: dof is Dirichlet */
  char      *hasbc;          /* [cell]: some dof is Dirichlet (lifting) */
  PetscReal *kq, *Ke, *mv;   /* per-cell scratch */

  /* value arrays: code = 4*offset + kind, kind 0 diagonal block, 1
   * off-diagonal block, 2 rows owned by another rank (SF leaves) */
  PetscInt     nA, nB, nleaves, nroots;
  PetscSF      sf;
  PetscScalar *leafbuf, *rootbuf;
  PetscInt    *rootcode;

  McForwardTimes times;

  /* Hessian actions (hessian.c), made on first use: incremental state and
   * adjoint (free dofs and local), the incremental state on the whole state
   * space, the direction dm and the result locally on the parameter space. */
  Vec hdu, hdlam, hrhs, hduloc, hdlamloc, hdufull, hdmloc, hresloc;
};

struct _p_McObsOperator {
  MC_OBJECT_HEAD;
  McSpace    space; /* reference */
  PetscInt   npoints;
  PetscReal *coords;
  Mat        B;
};

PetscErrorCode McForwardSetUpMatrix_Private(McForward fw);
PetscErrorCode McForwardSetUpSolver_Private(McForward fw);
PetscErrorCode McForwardLinearSolve_Private(McForward fw, Vec b, Vec x, PetscBool *ok);
/* Local vector of fw->dm <-> global vector of its free dofs (scatter.c):
 * DMLocalToGlobal / DMGlobalToLocal (Dirichlet entries of loc untouched),
 * without the DM's point walk on one rank. */
PetscErrorCode McForwardLocalToFree_Private(McForward fw, Vec loc, InsertMode mode, Vec free);
PetscErrorCode McForwardFreeToLocal_Private(McForward fw, Vec free, Vec loc);

#endif
