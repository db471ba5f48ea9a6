/* The finite-element forward model: meshes (DMPlex), Lagrange spaces
 * (PetscFE), the PDE -div(exp(m) grad u) = f with Dirichlet/Neumann
 * conditions, an observation operator B (points -> sparse matrix), and the
 * adjoint gradient of the data misfit.
 *
 * Mesh, space, forward model and observation operator are objects of the
 * object layer (obj/obj.h): refcounted, the mesh <-> space cycle collected.
 *
 * The one idea: everything a forward solve touches is built in SetUp; a
 * solve (McForwardSolve) only recomputes numbers -- the coefficient-dependent
 * element matrices are written straight into the existing matrix values at
 * precomputed positions, then the factorisation is refreshed numerically. */
#ifndef MC_FEM_H
#define MC_FEM_H

#include <petscdmplex.h>
#include <petscfe.h>
#include <petscksp.h>

#define MC_FEM_MAX_BC    8  /* labels per kind of boundary condition */
#define MC_FEM_MAX_WELLS 32 /* Gaussian sources in the generic reference path */

/* ---------------------------------------------------------------- meshes */

/* What mesh to build. With gmsh_file set, the box fields are ignored. */
typedef struct {
  PetscInt    dim;      /* 2 or 3 */
  PetscInt    cells[3]; /* cells per direction (box meshes) */
  PetscBool   simplex;  /* triangles/tetrahedra (each quad -> 2, each hex -> 6) */
  PetscReal   lower[3], upper[3];
  const char *gmsh_file; /* Gmsh .msh, format 2.2 or 4.1 ASCII */
} McMeshSpec;

typedef struct _p_McMesh  *McMesh;
typedef struct _p_McSpace *McSpace;

/* Fills spec with the unit square, 8x8 quadrilaterals. */
PetscErrorCode McMeshSpecDefault(McMeshSpec *spec);
/* Builds and (on several ranks) distributes the mesh. Boundary faces carry
 * the label "boundary" (value 1); box meshes also "left", "right", "bottom",
 * "top" (y in 2D, z in 3D), "front", "back" (y in 3D); Gmsh meshes one label per
 * physical name of dimension dim-1 (value 1) besides PETSc's "Face Sets".
 * Inverted or degenerate cells are an error naming the cell.
 * Ownership: returns a new reference in *mesh. */
PetscErrorCode McMeshCreate(MPI_Comm comm, const McMeshSpec *spec, McMesh *mesh);
/* Validates len bytes of an ASCII Gmsh file (format 2.2 or 4.1) named name
 * in messages, before PETSc's reader may see it (which trusts the file): the
 * sections in order, every count, node tag, element type and entity; cells of
 * one kind (simplices or tensor cells); lower-dimensional elements that are
 * faces, edges or vertices of a cell. Sets *valid, and otherwise msg to one
 * line "name:line: what was expected" (or, for a file that is not a Gmsh
 * mesh of a supported format, "mesh file 'name' ..."). Needs no PETSc
 * initialisation. Ownership: borrows everything. */
PetscErrorCode McGmshValidate(const char *text, size_t len, const char *name, char *msg, size_t msglen,
                              PetscBool *valid);
/* Ownership: drops the caller's reference, sets *mesh = NULL. A mesh whose
 * spaces were created is in a cycle with them: the collector (McGCCollect)
 * frees both once nothing else refers to them. */
PetscErrorCode McMeshDestroy(McMesh *mesh);
/* Ownership: borrows (the DM lives as long as the mesh). */
PetscErrorCode McMeshGetDM(McMesh mesh, DM *dm);
/* Whether the mesh has a label `name` (collective, same answer on all ranks). */
PetscErrorCode McMeshHasLabel(McMesh mesh, const char name[], PetscBool *has);
/* Where the mesh came from, for messages ("box 8x8 simplex" or the file). */
PetscErrorCode McMeshGetDescription(McMesh mesh, const char **desc);
/* The Lagrange space of `order` (1 or 2) on this mesh, created on first use
 * and cached by the mesh (the space references the mesh: a cycle the object
 * layer collects). Ownership: borrows. */
PetscErrorCode McMeshGetSpace(McMesh mesh, PetscInt order, McSpace *space);

/* The natural numbering of a distributed mesh: the numbering of the mesh
 * as built before distribution (what one rank uses), independent of the
 * partition. point[p] is the serial point number of local point p (vertex
 * v is natural vertex point[v] - vstart of nv, cell c natural cell
 * point[c] - cstart of nc); *point is NULL when the mesh is not distributed
 * (its own numbering is the natural one). Ownership: borrows. */
PetscErrorCode McMeshGetNatural(McMesh mesh, const PetscInt **point, PetscInt *vstart, PetscInt *nv, PetscInt *cstart,
                                PetscInt *nc);

/* ---------------------------------------------------------------- spaces */

/* Ownership: borrows (the DM of the space: the mesh with one scalar
 * Lagrange field, no boundary conditions). */
PetscErrorCode McSpaceGetDM(McSpace space, DM *dm);
PetscErrorCode McSpaceGetOrder(McSpace space, PetscInt *order);
/* Ownership: borrows. */
PetscErrorCode McSpaceGetMesh(McSpace space, McMesh *mesh);
/* Ownership: returns a new Vec (global, all dofs) the caller destroys. */
PetscErrorCode McSpaceCreateVector(McSpace space, Vec *v);
/* Interpolates fn at the nodes into the global vector v. */
PetscErrorCode McSpaceInterpolate(McSpace space,
                                  PetscErrorCode (*fn)(PetscInt dim, const PetscReal x[], PetscScalar *val, void *ctx),
                                  void *ctx, Vec v);

/* Vectors in the natural numbering. A P1 space on a distributed mesh
 * carries a map from its entries to the natural (serial vertex) order,
 * found by every vector created from its DM or duplicated from one; on one
 * rank, and for vectors not laid out by a mesh (observations, KL
 * coefficients), the global order is the natural one. Any other vector of
 * a distributed mesh (e.g. P2) is an error. */
/* Fills v with N = |v| values of the stream next(ctx), value j going to
 * natural entry j: every rank walks the whole stream and keeps its own, so
 * the vector is the same on any partition. Not collective. */
PetscErrorCode McVecFillNatural(Vec v, double (*next)(void *), void *ctx);
/* Collective on v's communicator: dst[N] receives v in the natural order on
 * its rank 0 (dst is not touched, and may be NULL, elsewhere). Allocates
 * nothing for a vector with a natural map. Ownership: borrows. */
PetscErrorCode McVecGatherNatural(Vec v, PetscScalar *dst);
/* Sets each entry owned here from src[N], the whole vector in the natural
 * order (on every rank). Not collective. Ownership: borrows. */
PetscErrorCode McVecSetNatural(Vec v, const PetscScalar *src);

/* ----------------------------------------------------------------- PDE */

/* A Gaussian source (rate > 0) or sink: rate * exp(-|x-c|^2/(2 w^2)) / (2 pi w^2)^(dim/2),
 * so `rate` is its total inflow. */
typedef struct {
  PetscReal centre[3];
  PetscReal width;
  PetscReal rate;
} McWell;

/* A pointwise function of x (manufactured solutions, custom sources). */
typedef PetscErrorCode (*McPointFn)(PetscInt dim, const PetscReal x[], PetscScalar *val, void *ctx);

typedef struct {
  PetscInt      order;   /* state space order: 1 or 2 */
  PetscInt      m_order; /* order of the nodal coefficient field m: 1 (default) or 2 */
  PetscReal     source;  /* constant part of f */
  PetscInt      nwells;
  const McWell *wells;
  McPointFn     source_fn; /* optional, added to f (fast path only) */
  void         *source_ctx;
  PetscInt      ndirichlet;
  const char   *dirichlet_labels[MC_FEM_MAX_BC];
  PetscReal     dirichlet_values[MC_FEM_MAX_BC];
  McPointFn     dirichlet_fn; /* optional: replaces the constant values on every Dirichlet label */
  void         *dirichlet_ctx;
  PetscInt      nneumann; /* exp(m) grad u . n = value */
  const char   *neumann_labels[MC_FEM_MAX_BC];
  PetscReal     neumann_values[MC_FEM_MAX_BC];
  const char   *options_prefix; /* prefix of the solver's PETSc options, e.g. "fwd_" */
} McPDESpec;

/* order 1, m_order 1, f = 1, no boundary conditions, prefix NULL. */
PetscErrorCode McPDESpecDefault(McPDESpec *spec);

/* -------------------------------------------------------- forward model */

typedef struct _p_McForward *McForward;

/* Timings of the last McForwardSolve, in seconds. */
typedef struct {
  PetscLogDouble assembly, factorisation, solve, total;
} McForwardTimes;

/* Ownership: borrows mesh (keeps its own reference), returns a new reference. */
PetscErrorCode McForwardCreate(McMesh mesh, const McPDESpec *spec, McForward *fw);
/* Allocates everything a solve uses: matrix and pattern, element data,
 * element-to-value positions, state/adjoint/work vectors, solver and its
 * symbolic factorisation. */
PetscErrorCode McForwardSetUp(McForward fw);
/* Ownership: drops the caller's reference, sets *fw = NULL. */
PetscErrorCode McForwardDestroy(McForward *fw);
/* Solves for u given m (a global vector of the m space). Fast path:
 * in-place re-assembly, numeric refactorisation, solve. A solver failure is a
 * result, not an error: *converged says whether u is valid. */
PetscErrorCode McForwardSolve(McForward fw, Vec m, PetscBool *converged);
/* Solves for u given m WITHOUT refactorising: CG on the new operator,
 * preconditioned by the factorisation of the last refactorised state (the
 * DESIGN's proposal path: a small change of m costs a few iterations). If CG
 * does not reach its tolerance (default rtol 1e-10, 50 iterations; options
 * <prefix>reuse_ksp_*), the operator is refactorised and solved directly
 * (*refactored = PETSC_TRUE). *its: CG iterations. Needs a direct solver.
 * The gradient after it refactorises (the adjoint needs this operator). */
PetscErrorCode McForwardSolveReuse(McForward fw, Vec m, PetscBool *converged, PetscInt *its, PetscBool *refactored);
/* Whether McForwardSolveReuse is possible (the solver is a plain direct one). */
PetscErrorCode McForwardHasReuse(McForward fw, PetscBool *has);
/* Numeric factorisations made since set-up (a plain direct solver only;
 * each costs PETSc's own Cholesky one workspace allocation, mcchol none), for the
 * run's summary and the benchmark. */
PetscErrorCode McForwardGetFactorCount(McForward fw, PetscInt64 *n);
/* How many iterations of CG preconditioned by the factorisation
 * (McForwardSolveReuse) cost as much as a refactorisation and solve, from
 * the factor's operation counts: a function of the problem's structure
 * only, never of timings, so decisions made with it repeat on every run.
 * 0 when the factor cannot say (not mcchol). */
PetscErrorCode McForwardGetReuseBreakEven(McForward fw, PetscReal *its);
/* Refactorises the operator of the last assembly (e.g. when a proposal
 * solved by McForwardSolveReuse is accepted), so the factorisation belongs
 * to the current state. A no-op if it already does. */
PetscErrorCode McForwardRefactor(McForward fw, PetscBool *ok);
/* The same solve through PETSc's generic pointwise assembly (reference). */
PetscErrorCode McForwardSolveGeneric(McForward fw, Vec m, PetscBool *converged);
/* Assemble the operator (free dofs) and right-hand side for m, fast path or
 * PETSc's generic path, into fw's own matrix/vector (borrowed outputs). */
PetscErrorCode McForwardAssemble(McForward fw, Vec m, Mat *A, Vec *b);
PetscErrorCode McForwardAssembleGeneric(McForward fw, Vec m, Mat *A, Vec *b);
/* The state after the last solve as a global vector of the state space (all
 * dofs, Dirichlet values included). Ownership: borrows. */
PetscErrorCode McForwardGetState(McForward fw, Vec *u);
/* Ownership: borrows. */
PetscErrorCode McForwardGetStateSpace(McForward fw, McSpace *space);
PetscErrorCode McForwardGetParameterSpace(McForward fw, McSpace *space);
PetscErrorCode McForwardGetKSP(McForward fw, KSP *ksp);
PetscErrorCode McForwardGetTimes(McForward fw, McForwardTimes *t);
/* L2 norm of u - exact and H1 seminorm of u - exact on the last state, with
 * a quadrature of higher order than the assembly's. */
PetscErrorCode McForwardComputeErrors(McForward fw, McPointFn exact,
                                      PetscErrorCode (*exact_grad)(PetscInt dim, const PetscReal x[], PetscScalar g[],
                                                                   void *ctx),
                                      void *ctx, PetscReal *l2, PetscReal *h1semi);

/* ------------------------------------------------- observation operator */

typedef struct _p_McObsOperator *McObsOperator;

/* Locates npoints points (coords[npoints*dim], the same on every rank) in the
 * space's mesh once and stores B: rows = points in input order, columns =
 * the space's global dofs. A point outside the domain is an error naming its
 * index and coordinates. Ownership: borrows space (keeps a reference),
 * returns a new reference. */
PetscErrorCode McObsOperatorCreate(McSpace space, PetscInt npoints, const PetscReal coords[], McObsOperator *obs);
/* Whether each point (coords[npoints*dim], the same on every rank) lies in
 * the mesh, by the test McObsOperatorCreate applies (points on the boundary
 * count as inside), over all ranks of a distributed mesh: inside[npoints]
 * is the same on every rank. Collective on the mesh's communicator.
 * Ownership: borrows everything; inside is the caller's. */
PetscErrorCode McMeshLocatePoints(McMesh mesh, PetscInt npoints, const PetscReal coords[], PetscBool inside[]);
PetscErrorCode McObsOperatorDestroy(McObsOperator *obs);
/* Reads observation points from a CSV file: one point per line, dim numbers
 * separated by commas and/or blanks; blank lines and lines starting with '#'
 * are skipped, and so is a first line that is not numeric (a header). Read
 * on rank 0 and broadcast. Errors name file:line and what was expected.
 * Ownership: *coords (npoints*dim) is the caller's, freed with PetscFree. */
PetscErrorCode McObsReadPointsCSV(MPI_Comm comm, const char file[], PetscInt dim, PetscInt *npoints,
                                  PetscReal **coords);
/* Ownership: returns a new Vec (distributed like B's rows) the caller destroys. */
PetscErrorCode McObsOperatorCreateVector(McObsOperator obs, Vec *d);
/* d = B u (u a global vector of the space). */
PetscErrorCode McObsOperatorApply(McObsOperator obs, Vec u, Vec d);
/* u = B^T d. */
PetscErrorCode McObsOperatorApplyTranspose(McObsOperator obs, Vec d, Vec u);
/* Ownership: borrows. */
PetscErrorCode McObsOperatorGetMatrix(McObsOperator obs, Mat *B);

/* ------------------------------------------------------ misfit gradient */

/* Noise precision Gamma^-1: a scalar, or a vector of weights (one per
 * observation, distributed like the observation vector; borrowed, must
 * outlive the use). */
typedef struct {
  PetscReal precision; /* used when weights == NULL */
  Vec       weights;
} McNoise;

/* After McForwardSolve(m): misfit 0.5 (Bu-d)^T Gamma^-1 (Bu-d), and if grad
 * != NULL its gradient w.r.t. the nodal m (adjoint solve reusing the
 * factorisation). grad is a global vector of the m space. The first call
 * with an operator of a new size allocates two observation-sized vectors;
 * later calls allocate nothing. Ownership: borrows everything. */
PetscErrorCode McForwardMisfitGradient(McForward fw, McObsOperator obs, Vec d, const McNoise *noise, PetscReal *misfit,
                                       Vec grad);

/* ---------------------------------------------- second-order information */

/* After McForwardSolve(m): du = (du/dm) dm, the tangent-linear state (a
 * global vector of the state space, zero on Dirichlet dofs), by one solve
 * with the forward factorisation. The first call allocates the Hessian work
 * vectors (set-up); later calls allocate nothing. Ownership: borrows. */
PetscErrorCode McForwardTangent(McForward fw, Vec dm, Vec du);
/* The misfit Hessian action Hdm = (d^2 J / dm^2) dm at the m of the last
 * solve, for the dm of the last McForwardTangent call, given
 * rhs = B^T Gamma^-1 B du (a global vector of the state space: the caller
 * applies its own noise model). gauss_newton drops the second-order terms
 * (Hdm = J^T Gamma^-1 J dm); the full Hessian also needs the adjoint of a
 * McForwardMisfitGradient call (grad != NULL) at the same m. One solve with
 * the forward factorisation. Ownership: borrows. */
PetscErrorCode McForwardMisfitHessian(McForward fw, Vec rhs, PetscBool gauss_newton, Vec Hdm);
/* The weighted flux sum_cells int exp(m) grad w . grad u at the last solve,
 * w a global vector of the state space. With f = 0, w = 1 on a boundary
 * part, w = 0 on the Dirichlet parts elsewhere and no flux through the rest,
 * it is the flux int exp(m) du/dn ds through that part, computed the
 * variational way (accurate to the order of the state, unlike a boundary
 * derivative). Collective. */
PetscErrorCode McForwardWeightedFlux(McForward fw, Vec w, PetscReal *flux);

#endif
