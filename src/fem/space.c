/* Lagrange spaces on a mesh. The mesh caches one space per order and each
 * space refers back to its mesh: the cycle is deliberate (it is the pattern
 * that leaks in FEniCS-style codes) and the object layer collects it. */
#include "fem_impl.h"

PetscInt McFEQuadratureOrder_Private(PetscBool simplex, PetscInt k)
{
  return simplex ? 2 * k - 1 : 2 * k;
}

PetscErrorCode McFECreate_Private(PetscInt dim, PetscBool simplex, PetscInt order, PetscInt qorder, PetscFE *fe)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFECreateLagrange(PETSC_COMM_SELF, dim, 1, simplex, order, qorder, fe));
  PetscFunctionReturn(0);
}

PetscErrorCode McMeshAlloc_Private(McMesh *mesh)
{
  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1(1, mesh));
  PetscFunctionReturn(0);
}

static PetscErrorCode McSpaceFree(McSpace *space)
{
  PetscFunctionBeginUser;
  if (!*space) PetscFunctionReturn(0);
  PetscCall(DMDestroy(&(*space)->dm));
  PetscCall(PetscFEDestroy(&(*space)->fe));
  PetscCall(PetscFree(*space));
  PetscFunctionReturn(0);
}

PetscErrorCode McMeshDestroy(McMesh *mesh)
{
  PetscFunctionBeginUser;
  if (!*mesh) PetscFunctionReturn(0);
  for (PetscInt k = 0; k < 3; k++) PetscCall(McSpaceFree(&(*mesh)->spaces[k]));
  PetscCall(DMDestroy(&(*mesh)->dm));
  PetscCall(PetscFree(*mesh));
  PetscFunctionReturn(0);
}

PetscErrorCode McMeshGetSpace(McMesh mesh, PetscInt order, McSpace *space)
{
  McSpace sp;

  PetscFunctionBeginUser;
  PetscCheck(order == 1 || order == 2, mesh->comm, PETSC_ERR_ARG_OUTOFRANGE, "Lagrange order must be 1 or 2, got %" PetscInt_FMT, order);
  if (!mesh->spaces[order]) {
    PetscCall(PetscCalloc1(1, &sp));
    sp->mesh  = mesh;
    sp->order = order;
    PetscCall(McFECreate_Private(mesh->dim, mesh->simplex, order, McFEQuadratureOrder_Private(mesh->simplex, order), &sp->fe));
    PetscCall(DMClone(mesh->dm, &sp->dm));
    PetscCall(DMSetField(sp->dm, 0, NULL, (PetscObject)sp->fe));
    PetscCall(DMCreateDS(sp->dm));
    mesh->spaces[order] = sp;
  }
  *space = mesh->spaces[order];
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

static PetscErrorCode ProjectWrapper(PetscInt dim, PetscReal t, const PetscReal x[], PetscInt Nc, PetscScalar *u, void *ctx)
{
  PointFnCtx *p = (PointFnCtx *)ctx;
  (void)t;
  (void)Nc;
  return p->fn(dim, x, u, p->ctx);
}

PetscErrorCode McSpaceInterpolate(McSpace space, McPointFn fn, void *ctx, Vec v)
{
  PointFnCtx     p = {fn, ctx};
  void          *ctxs[1] = {&p};
  PetscErrorCode (*fns[1])(PetscInt, PetscReal, const PetscReal[], PetscInt, PetscScalar *, void *) = {ProjectWrapper};

  PetscFunctionBeginUser;
  PetscCall(DMProjectFunction(space->dm, 0.0, fns, ctxs, INSERT_ALL_VALUES, v));
  PetscFunctionReturn(0);
}
