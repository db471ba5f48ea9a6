/* Lagrange spaces on a mesh. The mesh caches one space per order and each
 * space refers back to its mesh: the cycle is deliberate (it is the pattern
 * that leaks in FEniCS-style codes) and the object layer collects it. */
#include "fem_impl.h"

PetscInt McFEQuadratureOrder_Private(PetscBool simplex, PetscInt k)
{
  /* PetscFECreateLagrange takes qorder + 1 Gauss(-Jacobi) points per
   * direction: k + 1 on tensor cells (Q1 2x2, Q2 3x3), k on simplices (P1
   * one point, P2 four on a triangle, exact for degree 3). */
  return simplex ? k - 1 : k;
}

PetscErrorCode McFECreate_Private(PetscInt dim, PetscBool simplex, PetscInt order, PetscInt qorder, PetscFE *fe)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFECreateLagrange(PETSC_COMM_SELF, dim, 1, simplex, order, qorder, fe));
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------- object types */

static int MeshTraverse(McObject *o, McVisitProc visit, void *arg)
{
  McMesh mesh = (McMesh)o;
  for (PetscInt k = 0; k < 3; k++)
    MC_VISIT(mesh->spaces[k]);
  return 0;
}

static void MeshClear(McObject *o)
{
  McMesh mesh = (McMesh)o;
  for (PetscInt k = 0; k < 3; k++)
    MC_CLEAR(mesh->spaces[k]);
}

static void MeshDealloc(McObject *o)
{
  PetscCallAbort(PETSC_COMM_SELF, DMDestroy(&((McMesh)o)->dm));
  PetscCallAbort(PETSC_COMM_SELF, PetscFree(((McMesh)o)->nat_point));
}

static const McType McMeshType = {"McMesh", sizeof(struct _p_McMesh), NULL, MeshDealloc, MeshTraverse, MeshClear};

static int SpaceTraverse(McObject *o, McVisitProc visit, void *arg)
{
  MC_VISIT(((McSpace)o)->mesh);
  return 0;
}

static void SpaceClear(McObject *o)
{
  MC_CLEAR(((McSpace)o)->mesh);
}

static void SpaceDealloc(McObject *o)
{
  McSpace sp = (McSpace)o;
  PetscCallAbort(PETSC_COMM_SELF, DMDestroy(&sp->dm));
  PetscCallAbort(PETSC_COMM_SELF, PetscFEDestroy(&sp->fe));
}

static const McType McSpaceType = {"McSpace", sizeof(struct _p_McSpace), NULL, SpaceDealloc, SpaceTraverse, SpaceClear};

PetscErrorCode McMeshAlloc_Private(McMesh *mesh)
{
  PetscFunctionBeginUser;
  PetscCall(McObjectCreate(&McMeshType, mesh));
  PetscFunctionReturn(0);
}

PetscErrorCode McMeshDestroy(McMesh *mesh)
{
  PetscFunctionBeginUser;
  PetscCall(McObjectDestroy(mesh));
  PetscFunctionReturn(0);
}

PetscErrorCode McMeshGetSpace(McMesh mesh, PetscInt order, McSpace *space)
{
  McSpace sp;

  PetscFunctionBeginUser;
  PetscCheck(order == 1 || order == 2, mesh->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "Lagrange order must be 1 or 2, got %" PetscInt_FMT, order);
  if (!mesh->spaces[order]) {
    PetscCall(McObjectCreate(&McSpaceType, &sp));
    McIncref(mesh);
    sp->mesh = mesh; /* the back edge of the mesh <-> space cycle */
    sp->order = order;
    mesh->spaces[order] = sp; /* the cache owns the creation reference */
    PetscCall(McFECreate_Private(mesh->dim, mesh->simplex, order, McFEQuadratureOrder_Private(mesh->simplex, order),
                                 &sp->fe));
    PetscCall(DMClone(mesh->dm, &sp->dm));
    PetscCall(DMSetField(sp->dm, 0, NULL, (PetscObject)sp->fe));
    PetscCall(DMCreateDS(sp->dm));
    PetscCall(McSpaceSetUpNatural_Private(sp));
  }
  *space = mesh->spaces[order];
  PetscFunctionReturn(0);
}

/* Global index of every local dof, -1 for constrained (Dirichlet) dofs. */
PetscErrorCode McFEGlobalIndexVector_Private(DM dm, Vec *idx)
{
  Vec          g;
  PetscScalar *a;
  PetscInt     n, start;

  PetscFunctionBeginUser;
  PetscCall(DMCreateGlobalVector(dm, &g));
  PetscCall(VecGetOwnershipRange(g, &start, NULL));
  PetscCall(VecGetLocalSize(g, &n));
  PetscCall(VecGetArray(g, &a));
  for (PetscInt i = 0; i < n; i++)
    a[i] = (PetscScalar)(start + i);
  PetscCall(VecRestoreArray(g, &a));
  PetscCall(DMCreateLocalVector(dm, idx));
  PetscCall(VecSet(*idx, -1.0));
  PetscCall(DMGlobalToLocal(dm, g, INSERT_VALUES, *idx));
  PetscCall(VecDestroy(&g));
  PetscFunctionReturn(0);
}

PetscErrorCode McSpaceGetDM(McSpace space, DM *dm)
{
  PetscFunctionBeginUser;
  *dm = space->dm;
  PetscFunctionReturn(0);
}

PetscErrorCode McSpaceGetOrder(McSpace space, PetscInt *order)
{
  PetscFunctionBeginUser;
  *order = space->order;
  PetscFunctionReturn(0);
}

PetscErrorCode McSpaceGetMesh(McSpace space, McMesh *mesh)
{
  PetscFunctionBeginUser;
  *mesh = space->mesh;
  PetscFunctionReturn(0);
}

PetscErrorCode McSpaceCreateVector(McSpace space, Vec *v)
{
  PetscFunctionBeginUser;
  PetscCall(DMCreateGlobalVector(space->dm, v));
  PetscFunctionReturn(0);
}

typedef struct {
  McPointFn fn;
  void     *ctx;
} PointFnCtx;

static PetscErrorCode ProjectWrapper(PetscInt dim, PetscReal t, const PetscReal x[], PetscInt Nc, PetscScalar *u,
                                     void *ctx)
{
  PointFnCtx *p = (PointFnCtx *)ctx;
  (void)t;
  (void)Nc;
  return p->fn(dim, x, u, p->ctx);
}

PetscErrorCode McSpaceInterpolate(McSpace space, McPointFn fn, void *ctx, Vec v)
{
  PointFnCtx p = {fn, ctx};
  void      *ctxs[1] = {&p};
  PetscErrorCode (*fns[1])(PetscInt, PetscReal, const PetscReal[], PetscInt, PetscScalar *, void *) = {ProjectWrapper};

  PetscFunctionBeginUser;
  PetscCall(DMProjectFunction(space->dm, 0.0, fns, ctxs, INSERT_ALL_VALUES, v));
  PetscFunctionReturn(0);
}
