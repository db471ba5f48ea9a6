/* The forward model -div(exp(m) grad u) = f with Dirichlet and Neumann
 * conditions, solved the same way every time.
 *
 * Two assemblies of one discretisation: PETSc's generic pointwise path
 * (PetscDS + DMPlexSNESComputeJacobianFEM), kept as the reference, and the
 * fast path used by every solve. SetUp precomputes all that does not depend
 * on m -- per cell and quadrature point the products w |det J| grad phi_i .
 * grad phi_j, the m basis at the quadrature points, and for every element
 * matrix entry its position in the matrix's value arrays -- so a solve only
 * evaluates exp(m) at the quadrature points and writes sums in place. Rows
 * owned by another rank travel through a PetscSF built once. */
#include "fem_impl.h"

#include <math.h>

/* ------------------------------------------------ pointwise functions */

/* constants[]: Neumann values (MC_FEM_MAX_BC), the constant source, the
 * number of wells, then per well centre[3], width, rate. */
#define C_SOURCE (MC_FEM_MAX_BC)
#define C_NWELLS (MC_FEM_MAX_BC + 1)
#define C_WELLS  (MC_FEM_MAX_BC + 2)

static PetscReal SourceValue(PetscInt dim, const PetscReal x[], PetscInt numConstants, const PetscScalar c[])
{
  PetscReal f = PetscRealPart(c[C_SOURCE]);
  PetscInt  nwells = (PetscInt)PetscRealPart(c[C_NWELLS]);
  (void)numConstants;
  for (PetscInt w = 0; w < nwells; w++) {
    const PetscScalar *wc = &c[C_WELLS + 5 * w];
    PetscReal          r2 = 0, s = PetscRealPart(wc[3]);
    for (PetscInt d = 0; d < dim; d++)
      r2 += PetscSqr(x[d] - PetscRealPart(wc[d]));
    f += PetscRealPart(wc[4]) * PetscExpReal(-r2 / (2 * s * s)) / PetscPowReal(2 * PETSC_PI * s * s, 0.5 * dim);
  }
  return f;
}

static void f0_u(PetscInt dim, PetscInt Nf, PetscInt NfAux, const PetscInt uOff[], const PetscInt uOff_x[],
                 const PetscScalar u[], const PetscScalar u_t[], const PetscScalar u_x[], const PetscInt aOff[],
                 const PetscInt aOff_x[], const PetscScalar a[], const PetscScalar a_t[], const PetscScalar a_x[],
                 PetscReal t, const PetscReal x[], PetscInt numConstants, const PetscScalar constants[],
                 PetscScalar f0[])
{
  (void)Nf, (void)NfAux, (void)uOff, (void)uOff_x, (void)u, (void)u_t, (void)u_x, (void)aOff, (void)aOff_x, (void)a,
      (void)a_t, (void)a_x, (void)t;
  f0[0] = -SourceValue(dim, x, numConstants, constants);
}

static void f1_u(PetscInt dim, PetscInt Nf, PetscInt NfAux, const PetscInt uOff[], const PetscInt uOff_x[],
                 const PetscScalar u[], const PetscScalar u_t[], const PetscScalar u_x[], const PetscInt aOff[],
                 const PetscInt aOff_x[], const PetscScalar a[], const PetscScalar a_t[], const PetscScalar a_x[],
                 PetscReal t, const PetscReal x[], PetscInt numConstants, const PetscScalar constants[],
                 PetscScalar f1[])
{
  (void)Nf, (void)NfAux, (void)uOff, (void)uOff_x, (void)u, (void)u_t, (void)aOff_x, (void)a_t, (void)a_x, (void)t,
      (void)x, (void)numConstants, (void)constants;
  PetscScalar k = PetscExpScalar(a[aOff[0]]);
  for (PetscInt d = 0; d < dim; d++)
    f1[d] = k * u_x[d];
}

static void g3_uu(PetscInt dim, PetscInt Nf, PetscInt NfAux, const PetscInt uOff[], const PetscInt uOff_x[],
                  const PetscScalar u[], const PetscScalar u_t[], const PetscScalar u_x[], const PetscInt aOff[],
                  const PetscInt aOff_x[], const PetscScalar a[], const PetscScalar a_t[], const PetscScalar a_x[],
                  PetscReal t, PetscReal u_tShift, const PetscReal x[], PetscInt numConstants,
                  const PetscScalar constants[], PetscScalar g3[])
{
  (void)Nf, (void)NfAux, (void)uOff, (void)uOff_x, (void)u, (void)u_t, (void)u_x, (void)aOff_x, (void)a_t, (void)a_x,
      (void)t, (void)u_tShift, (void)x, (void)numConstants, (void)constants;
  PetscScalar k = PetscExpScalar(a[aOff[0]]);
  for (PetscInt d = 0; d < dim; d++)
    g3[d * dim + d] = k;
}

/* One boundary residual per Neumann label: pointwise functions get no
 * context, so the label's index is in the function. */
#define MC_NEUMANN_F0(K)                                                                                               \
  static void f0_neumann_##K(PetscInt dim, PetscInt Nf, PetscInt NfAux, const PetscInt uOff[],                         \
                             const PetscInt uOff_x[], const PetscScalar u[], const PetscScalar u_t[],                  \
                             const PetscScalar u_x[], const PetscInt aOff[], const PetscInt aOff_x[],                  \
                             const PetscScalar a[], const PetscScalar a_t[], const PetscScalar a_x[], PetscReal t,     \
                             const PetscReal x[], const PetscReal n[], PetscInt numConstants,                          \
                             const PetscScalar constants[], PetscScalar f0[])                                          \
  {                                                                                                                    \
    (void)dim, (void)Nf, (void)NfAux, (void)uOff, (void)uOff_x, (void)u, (void)u_t, (void)u_x, (void)aOff,             \
        (void)aOff_x, (void)a, (void)a_t, (void)a_x, (void)t, (void)x, (void)n, (void)numConstants;                    \
    f0[0] = -constants[K];                                                                                             \
  }
MC_NEUMANN_F0(0)
MC_NEUMANN_F0(1)
MC_NEUMANN_F0(2)
MC_NEUMANN_F0(3)
MC_NEUMANN_F0(4)
MC_NEUMANN_F0(5)
MC_NEUMANN_F0(6)
MC_NEUMANN_F0(7)
typedef void (*BdResidualFn)(PetscInt, PetscInt, PetscInt, const PetscInt[], const PetscInt[], const PetscScalar[],
                             const PetscScalar[], const PetscScalar[], const PetscInt[], const PetscInt[],
                             const PetscScalar[], const PetscScalar[], const PetscScalar[], PetscReal,
                             const PetscReal[], const PetscReal[], PetscInt, const PetscScalar[], PetscScalar[]);
static const BdResidualFn neumann_f0[MC_FEM_MAX_BC] = {f0_neumann_0, f0_neumann_1, f0_neumann_2, f0_neumann_3,
                                                       f0_neumann_4, f0_neumann_5, f0_neumann_6, f0_neumann_7};

static PetscErrorCode DirichletConstant(PetscInt dim, PetscReal t, const PetscReal x[], PetscInt Nc, PetscScalar *u,
                                        void *ctx)
{
  (void)dim, (void)t, (void)x, (void)Nc;
  u[0] = *(const PetscReal *)ctx;
  return 0;
}

static PetscErrorCode DirichletFunction(PetscInt dim, PetscReal t, const PetscReal x[], PetscInt Nc, PetscScalar *u,
                                        void *ctx)
{
  McForward fw = (McForward)ctx;
  (void)t, (void)Nc;
  return fw->spec.dirichlet_fn(dim, x, u, fw->spec.dirichlet_ctx);
}

/* -------------------------------------------------------- life cycle */

PetscErrorCode McPDESpecDefault(McPDESpec *spec)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(spec, sizeof(*spec)));
  spec->order = 1;
  spec->m_order = 1;
  spec->source = 1.0;
  PetscFunctionReturn(0);
}

static PetscErrorCode CopyName(MPI_Comm comm, const char *src, char dst[MC_FEM_NAME_LEN], const char *what)
{
  PetscFunctionBeginUser;
  PetscCheck(src && src[0], comm, PETSC_ERR_ARG_NULL, "%s label name is empty", what);
  PetscCheck(strlen(src) < MC_FEM_NAME_LEN, comm, PETSC_ERR_ARG_OUTOFRANGE,
             "%s label name '%s' is longer than %d characters", what, src, MC_FEM_NAME_LEN - 1);
  PetscCall(PetscStrncpy(dst, src, MC_FEM_NAME_LEN));
  PetscFunctionReturn(0);
}

static int ForwardTraverse(McObject *o, McVisitProc visit, void *arg)
{
  McForward fw = (McForward)o;
  MC_VISIT(fw->mesh);
  MC_VISIT(fw->uspace);
  MC_VISIT(fw->mspace);
  return 0;
}

static void ForwardClear(McObject *o)
{
  McForward fw = (McForward)o;
  MC_CLEAR(fw->mesh);
  MC_CLEAR(fw->uspace);
  MC_CLEAR(fw->mspace);
}

static PetscErrorCode ForwardFree(McForward fw)
{
  PetscFunctionBeginUser;
  PetscCall(KSPDestroy(&fw->ksp));
  PetscCall(KSPDestroy(&fw->kspgen));
  PetscCall(KSPDestroy(&fw->kspreuse));
  PetscCall(MatDestroy(&fw->A));
  PetscCall(MatDestroy(&fw->Agen));
  PetscCall(PetscSFDestroy(&fw->sf));
  Vec *vecs[] = {&fw->u,     &fw->b,     &fw->b0,      &fw->bgen,  &fw->liftloc, &fw->gloc,
                 &fw->uloc,  &fw->ufull, &fw->mloc,    &fw->adj,   &fw->adjrhs,  &fw->adjloc,
                 &fw->zfull, &fw->zloc,  &fw->gradloc, &fw->resid, &fw->wresid,  &fw->ugen,
                 &fw->hdu,   &fw->hdlam, &fw->hrhs,    &fw->hduloc, &fw->hdlamloc, &fw->hdufull,
                 &fw->hdmloc, &fw->hresloc};
  for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
    PetscCall(VecDestroy(vecs[i]));
  PetscCall(DMDestroy(&fw->dm));
  PetscCall(DMDestroy(&fw->auxdm));
  PetscCall(PetscFEDestroy(&fw->mfe));
  PetscCall(PetscFree(fw->Gq));
  PetscCall(PetscFree(fw->kc));
  PetscCall(PetscFree(fw->Nm));
  PetscCall(PetscFree(fw->Nu));
  PetscCall(PetscFree(fw->midx));
  PetscCall(PetscFree(fw->uidx));
  PetscCall(PetscFree(fw->gtmp));
  PetscCall(PetscFree(fw->gof));
  PetscCall(PetscFree(fw->pos));
  PetscCall(PetscFree(fw->con));
  PetscCall(PetscFree(fw->hasbc));
  PetscCall(PetscFree3(fw->kq, fw->Ke, fw->mv));
  PetscCall(PetscFree2(fw->leafbuf, fw->rootbuf));
  PetscCall(PetscFree(fw->rootcode));
  PetscCall(PetscFree(fw->wells));
  PetscCall(PetscFree(fw->prefix));
  PetscFunctionReturn(0);
}

static void ForwardDealloc(McObject *o)
{
  PetscCallAbort(PETSC_COMM_SELF, ForwardFree((McForward)o));
}

static const McType McForwardType = {"McForward", sizeof(struct _p_McForward), NULL, ForwardDealloc, ForwardTraverse,
                                     ForwardClear};

PetscErrorCode McForwardDestroy(McForward *fw)
{
  PetscFunctionBeginUser;
  PetscCall(McObjectDestroy(fw));
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardCreate(McMesh mesh, const McPDESpec *spec, McForward *out)
{
  McForward fw;
  MPI_Comm  comm = mesh->comm;

  PetscFunctionBeginUser;
  PetscCheck(spec->order == 1 || spec->order == 2, comm, PETSC_ERR_ARG_OUTOFRANGE,
             "state space order must be 1 or 2, got %" PetscInt_FMT, spec->order);
  PetscCheck(spec->m_order == 1 || spec->m_order == 2, comm, PETSC_ERR_ARG_OUTOFRANGE,
             "parameter space order must be 1 or 2, got %" PetscInt_FMT, spec->m_order);
  PetscCheck(spec->ndirichlet >= 1 && spec->ndirichlet <= MC_FEM_MAX_BC, comm, PETSC_ERR_ARG_OUTOFRANGE,
             "need 1 to %d Dirichlet labels (with none, u is defined up to a constant), got %" PetscInt_FMT,
             MC_FEM_MAX_BC, spec->ndirichlet);
  PetscCheck(spec->nneumann >= 0 && spec->nneumann <= MC_FEM_MAX_BC, comm, PETSC_ERR_ARG_OUTOFRANGE,
             "at most %d Neumann labels, got %" PetscInt_FMT, MC_FEM_MAX_BC, spec->nneumann);
  PetscCheck(spec->nwells >= 0 && spec->nwells <= MC_FEM_MAX_WELLS, comm, PETSC_ERR_ARG_OUTOFRANGE,
             "at most %d wells, got %" PetscInt_FMT, MC_FEM_MAX_WELLS, spec->nwells);
  for (PetscInt w = 0; w < spec->nwells; w++)
    PetscCheck(spec->wells[w].width > 0, comm, PETSC_ERR_ARG_OUTOFRANGE,
               "well %" PetscInt_FMT " width must be > 0, got %g", w, (double)spec->wells[w].width);
  PetscCall(McObjectCreate(&McForwardType, &fw));
  McIncref(mesh);
  fw->mesh = mesh;
  fw->comm = comm;
  fw->spec = *spec;
  for (PetscInt i = 0; i < spec->ndirichlet; i++) {
    PetscCall(CopyName(comm, spec->dirichlet_labels[i], fw->dirichlet_names[i], "Dirichlet"));
    fw->spec.dirichlet_labels[i] = fw->dirichlet_names[i];
  }
  for (PetscInt i = 0; i < spec->nneumann; i++) {
    PetscCall(CopyName(comm, spec->neumann_labels[i], fw->neumann_names[i], "Neumann"));
    fw->spec.neumann_labels[i] = fw->neumann_names[i];
  }
  if (spec->nwells) {
    PetscCall(PetscMalloc1(spec->nwells, &fw->wells));
    PetscCall(PetscArraycpy(fw->wells, spec->wells, spec->nwells));
    fw->spec.wells = fw->wells;
  }
  fw->spec.options_prefix = NULL;
  if (spec->options_prefix) PetscCall(PetscStrallocpy(spec->options_prefix, &fw->prefix));
  PetscCall(McMeshGetSpace(mesh, spec->order, &fw->uspace));
  McIncref(fw->uspace);
  PetscCall(McMeshGetSpace(mesh, spec->m_order, &fw->mspace));
  McIncref(fw->mspace);
  *out = fw;
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------- set-up */

static PetscErrorCode CheckLabel(McForward fw, const char *name, const char *what)
{
  PetscBool has;
  DM        dm = fw->mesh->dm;

  PetscFunctionBeginUser;
  PetscCall(DMHasLabel(dm, name, &has));
  if (!has) {
    char     list[1024] = "";
    PetscInt n;
    PetscCall(DMGetNumLabels(dm, &n));
    for (PetscInt i = 0; i < n; i++) {
      const char *lname;
      PetscCall(DMGetLabelName(dm, i, &lname));
      if (!strcmp(lname, "depth") || !strcmp(lname, "celltype")) continue;
      if (list[0]) PetscCall(PetscStrlcat(list, ", ", sizeof(list)));
      PetscCall(PetscStrlcat(list, lname, sizeof(list)));
    }
    SETERRQ(fw->comm, PETSC_ERR_ARG_WRONG,
            "mesh '%s' has no boundary label '%s' (named as a %s boundary); its labels are: %s", fw->mesh->desc, name,
            what, list);
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode SetUpDiscretisation(McForward fw)
{
  PetscDS     ds;
  PetscScalar constants[C_WELLS + 5 * MC_FEM_MAX_WELLS];
  PetscInt    nconst = C_WELLS + 5 * fw->spec.nwells;

  PetscFunctionBeginUser;
  PetscCall(DMClone(fw->mesh->dm, &fw->dm));
  PetscCall(PetscObjectSetName((PetscObject)fw->dm, "state"));
  PetscCall(DMSetField(fw->dm, 0, NULL, (PetscObject)fw->uspace->fe));
  PetscCall(DMCreateDS(fw->dm));
  PetscCall(DMGetDS(fw->dm, &ds));
  PetscCall(PetscDSSetResidual(ds, 0, f0_u, f1_u));
  PetscCall(PetscDSSetJacobian(ds, 0, 0, NULL, NULL, NULL, g3_uu));
  PetscCall(PetscArrayzero(constants, nconst));
  for (PetscInt i = 0; i < fw->spec.nneumann; i++)
    constants[i] = fw->spec.neumann_values[i];
  constants[C_SOURCE] = fw->spec.source;
  constants[C_NWELLS] = (PetscScalar)fw->spec.nwells;
  for (PetscInt w = 0; w < fw->spec.nwells; w++) {
    for (PetscInt d = 0; d < 3; d++)
      constants[C_WELLS + 5 * w + d] = fw->wells[w].centre[d];
    constants[C_WELLS + 5 * w + 3] = fw->wells[w].width;
    constants[C_WELLS + 5 * w + 4] = fw->wells[w].rate;
  }
  PetscCall(PetscDSSetConstants(ds, nconst, constants));
  for (PetscInt i = 0; i < fw->spec.ndirichlet; i++) {
    DMLabel        label;
    const PetscInt one = 1;
    PetscCall(DMGetLabel(fw->dm, fw->dirichlet_names[i], &label));
    if (fw->spec.dirichlet_fn)
      PetscCall(DMAddBoundary(fw->dm, DM_BC_ESSENTIAL, fw->dirichlet_names[i], label, 1, &one, 0, 0, NULL,
                              (void (*)(void))DirichletFunction, NULL, fw, NULL));
    else
      PetscCall(DMAddBoundary(fw->dm, DM_BC_ESSENTIAL, fw->dirichlet_names[i], label, 1, &one, 0, 0, NULL,
                              (void (*)(void))DirichletConstant, NULL, &fw->spec.dirichlet_values[i], NULL));
  }
  for (PetscInt i = 0; i < fw->spec.nneumann; i++) {
    DMLabel        label;
    PetscWeakForm  wf;
    PetscInt       bd;
    const PetscInt one = 1;
    PetscCall(DMGetLabel(fw->dm, fw->neumann_names[i], &label));
    PetscCall(
        DMAddBoundary(fw->dm, DM_BC_NATURAL, fw->neumann_names[i], label, 1, &one, 0, 0, NULL, NULL, NULL, NULL, &bd));
    PetscCall(PetscDSGetBoundary(ds, bd, &wf, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL));
    PetscCall(PetscWeakFormSetIndexBdResidual(wf, label, 1, 0, 0, 0, neumann_f0[i], 0, NULL));
  }
  /* The coefficient is an auxiliary field evaluated at the state's
   * quadrature points, as the fast path does. */
  PetscCall(McFECreate_Private(fw->mesh->dim, fw->mesh->simplex, fw->spec.m_order,
                               McFEQuadratureOrder_Private(fw->mesh->simplex, fw->spec.m_order), &fw->mfe));
  PetscCall(PetscFECopyQuadrature(fw->uspace->fe, fw->mfe));
  PetscCall(DMClone(fw->mesh->dm, &fw->auxdm));
  PetscCall(DMSetField(fw->auxdm, 0, NULL, (PetscObject)fw->mfe));
  PetscCall(DMCreateDS(fw->auxdm));
  PetscCall(DMCreateLocalVector(fw->auxdm, &fw->mloc));
  PetscCall(DMSetAuxiliaryVec(fw->dm, NULL, 0, 0, fw->mloc));
  PetscFunctionReturn(0);
}

/* Local offsets of each cell's closure dofs, through DMPlexVecGetClosure on
 * a vector of indices: the same closure order (and tensor-cell permutation)
 * PETSc's own assembly uses. */
static PetscErrorCode ClosureIndices(DM dm, Vec idx, PetscInt cStart, PetscInt cEnd, PetscInt nb, PetscInt *out)
{
  PetscFunctionBeginUser;
  for (PetscInt c = cStart; c < cEnd; c++) {
    PetscScalar *vals = NULL;
    PetscInt     n;
    PetscCall(DMPlexVecGetClosure(dm, NULL, idx, c, &n, &vals));
    PetscCheck(n == nb, PETSC_COMM_SELF, PETSC_ERR_PLIB,
               "cell %" PetscInt_FMT " has %" PetscInt_FMT " closure dofs, expected %" PetscInt_FMT, c, n, nb);
    for (PetscInt i = 0; i < nb; i++)
      out[(c - cStart) * nb + i] = (PetscInt)PetscRealPart(vals[i]);
    PetscCall(DMPlexVecRestoreClosure(dm, NULL, idx, c, &n, &vals));
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode LocalIndexVector(DM dm, Vec *idx)
{
  PetscScalar *a;
  PetscInt     n;

  PetscFunctionBeginUser;
  PetscCall(DMCreateLocalVector(dm, idx));
  PetscCall(VecGetLocalSize(*idx, &n));
  PetscCall(VecGetArray(*idx, &a));
  for (PetscInt i = 0; i < n; i++)
    a[i] = (PetscScalar)i;
  PetscCall(VecRestoreArray(*idx, &a));
  PetscFunctionReturn(0);
}

/* Per cell and quadrature point: Gq = w |det J| grad phi_i . grad phi_j
 * (upper triangle), and, if a source function is given, its load. */
static PetscErrorCode SetUpElementData(McForward fw)
{
  DM               dm = fw->dm;
  PetscInt         dim = fw->mesh->dim, nq, qdim, qnc, nb, nbm, ns;
  PetscQuadrature  quad;
  const PetscReal *qpts, *qw;
  PetscTabulation  Tu, Tm;
  PetscReal       *v, *J, *invJ, *detJ, *gphys;
  Vec              uidx, midx, gidx, srcloc = NULL;
  PetscInt        *gtmp;

  PetscFunctionBeginUser;
  PetscCall(DMPlexGetHeightStratum(dm, 0, &fw->cStart, &fw->cEnd));
  fw->ncells = fw->cEnd - fw->cStart;
  PetscCall(PetscFEGetQuadrature(fw->uspace->fe, &quad));
  PetscCall(PetscQuadratureGetData(quad, &qdim, &qnc, &nq, &qpts, &qw));
  PetscCall(PetscFEGetDimension(fw->uspace->fe, &nb));
  PetscCall(PetscFEGetDimension(fw->mfe, &nbm));
  fw->nq = nq;
  fw->nb = nb;
  fw->nbm = nbm;
  ns = nb * (nb + 1) / 2;
  fw->ns = ns;
  PetscCall(PetscFEGetCellTabulation(fw->uspace->fe, 1, &Tu));
  PetscCall(PetscFECreateTabulation(fw->mfe, 1, nq, qpts, 0, &Tm));
  PetscCall(PetscMalloc1(nq * nbm, &fw->Nm));
  for (PetscInt i = 0; i < nq * nbm; i++)
    fw->Nm[i] = Tm->T[0][i];
  PetscCall(PetscTabulationDestroy(&Tm));
  PetscCall(PetscMalloc1(nq * nb, &fw->Nu));
  for (PetscInt i = 0; i < nq * nb; i++)
    fw->Nu[i] = Tu->T[0][i];
  PetscCall(PetscMalloc1((size_t)fw->ncells * nq * ns, &fw->Gq));
  PetscCall(PetscMalloc1((size_t)fw->ncells * nq, &fw->kc));
  fw->kc_valid = PETSC_FALSE;
  PetscCall(PetscMalloc4(nq * dim, &v, nq * dim * dim, &J, nq * dim * dim, &invJ, nq, &detJ));
  PetscCall(PetscMalloc1(nb * dim, &gphys));
  if (fw->spec.source_fn) {
    PetscCall(DMCreateLocalVector(dm, &srcloc));
    PetscCall(VecZeroEntries(srcloc));
  }
  PetscCall(PetscMalloc1((size_t)fw->ncells * nb, &fw->uidx));
  PetscCall(PetscMalloc1((size_t)fw->ncells * nbm, &fw->midx));
  PetscCall(LocalIndexVector(dm, &uidx));
  PetscCall(ClosureIndices(dm, uidx, fw->cStart, fw->cEnd, nb, fw->uidx));
  PetscCall(VecDestroy(&uidx));
  PetscCall(LocalIndexVector(fw->auxdm, &midx));
  PetscCall(ClosureIndices(fw->auxdm, midx, fw->cStart, fw->cEnd, nbm, fw->midx));
  PetscCall(VecDestroy(&midx));

  for (PetscInt c = 0; c < fw->ncells; c++) {
    PetscCall(DMPlexComputeCellGeometryFEM(dm, fw->cStart + c, quad, v, J, invJ, detJ));
    for (PetscInt q = 0; q < nq; q++) {
      PetscCheck(detJ[q] > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG,
                 "%s: cell %" PetscInt_FMT " has a non-positive Jacobian determinant %g at a quadrature point",
                 fw->mesh->desc, c, (double)detJ[q]);
      const PetscReal *gref = &Tu->T[1][q * nb * dim];
      const PetscReal *iJ = &invJ[q * dim * dim];
      PetscReal        wd = qw[q] * detJ[q];
      for (PetscInt i = 0; i < nb; i++)
        for (PetscInt d = 0; d < dim; d++) {
          PetscReal s = 0;
          for (PetscInt e = 0; e < dim; e++)
            s += iJ[e * dim + d] * gref[i * dim + e];
          gphys[i * dim + d] = s;
        }
      PetscReal *G = &fw->Gq[((size_t)c * nq + q) * ns];
      for (PetscInt i = 0, k = 0; i < nb; i++)
        for (PetscInt j = i; j < nb; j++, k++) {
          PetscReal s = 0;
          for (PetscInt d = 0; d < dim; d++)
            s += gphys[i * dim + d] * gphys[j * dim + d];
          G[k] = wd * s;
        }
      if (srcloc) {
        PetscScalar f;
        PetscCall(fw->spec.source_fn(dim, &v[q * dim], &f, fw->spec.source_ctx));
        for (PetscInt i = 0; i < nb; i++)
          PetscCall(VecSetValue(srcloc, fw->uidx[c * nb + i], wd * f * fw->Nu[q * nb + i], ADD_VALUES));
      }
    }
  }
  if (srcloc) {
    PetscCall(VecAssemblyBegin(srcloc));
    PetscCall(VecAssemblyEnd(srcloc));
    PetscCall(DMLocalToGlobal(dm, srcloc, ADD_VALUES, fw->b0));
    PetscCall(VecDestroy(&srcloc));
  }
  PetscCall(PetscFree4(v, J, invJ, detJ));
  PetscCall(PetscFree(gphys));

  /* Which closure dofs are Dirichlet, and which cells need lifting. */
  PetscCall(McFEGlobalIndexVector_Private(dm, &gidx));
  PetscCall(PetscMalloc1((size_t)fw->ncells * nb, &gtmp));
  PetscCall(ClosureIndices(dm, gidx, fw->cStart, fw->cEnd, nb, gtmp));
  {
    /* On one rank the hot path skips the DM's scatters (their constrained
     * section path walks every point): keep the local -> global map, and
     * check whether the state space's global vector is just the local one. */
    PetscMPIInt size;
    PetscCallMPI(MPI_Comm_size(fw->comm, &size));
    if (size == 1) {
      const PetscScalar *a;
      PetscInt           n, ng;
      Vec                li, lg;
      PetscCall(VecGetLocalSize(gidx, &n));
      PetscCall(PetscMalloc1(n, &fw->gof));
      PetscCall(VecGetArrayRead(gidx, &a));
      for (PetscInt i = 0; i < n; i++)
        fw->gof[i] = (PetscInt)PetscRealPart(a[i]);
      PetscCall(VecRestoreArrayRead(gidx, &a));
      PetscCall(LocalIndexVector(fw->uspace->dm, &li));
      PetscCall(DMCreateGlobalVector(fw->uspace->dm, &lg));
      PetscCall(VecGetLocalSize(lg, &ng));
      PetscCall(DMLocalToGlobal(fw->uspace->dm, li, INSERT_VALUES, lg));
      fw->ufull_identity = ng == n ? PETSC_TRUE : PETSC_FALSE;
      PetscCall(VecGetArrayRead(lg, &a));
      for (PetscInt i = 0; i < ng && fw->ufull_identity; i++)
        if ((PetscInt)PetscRealPart(a[i]) != i) fw->ufull_identity = PETSC_FALSE;
      PetscCall(VecRestoreArrayRead(lg, &a));
      PetscCall(VecDestroy(&li));
      PetscCall(VecDestroy(&lg));
    }
  }
  PetscCall(VecDestroy(&gidx));
  PetscCall(PetscMalloc1((size_t)fw->ncells * nb, &fw->con));
  PetscCall(PetscMalloc1(fw->ncells, &fw->hasbc));
  for (PetscInt c = 0; c < fw->ncells; c++) {
    fw->hasbc[c] = 0;
    for (PetscInt i = 0; i < nb; i++) {
      fw->con[c * nb + i] = gtmp[c * nb + i] < 0;
      if (gtmp[c * nb + i] < 0) fw->hasbc[c] = 1;
    }
  }
  fw->gtmp = gtmp; /* freed after the matrix positions are known */
  PetscCall(PetscMalloc3(nq, &fw->kq, ns, &fw->Ke, nbm, &fw->mv));
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardSetUp(McForward fw)
{
  PetscFunctionBeginUser;
  if (fw->setup) PetscFunctionReturn(0);
  for (PetscInt i = 0; i < fw->spec.ndirichlet; i++)
    PetscCall(CheckLabel(fw, fw->dirichlet_names[i], "Dirichlet"));
  for (PetscInt i = 0; i < fw->spec.nneumann; i++)
    PetscCall(CheckLabel(fw, fw->neumann_names[i], "Neumann"));
  PetscCall(SetUpDiscretisation(fw));

  PetscCall(DMCreateGlobalVector(fw->dm, &fw->u));
  PetscCall(VecDuplicate(fw->u, &fw->b));
  PetscCall(VecDuplicate(fw->u, &fw->b0));
  PetscCall(VecDuplicate(fw->u, &fw->adj));
  PetscCall(VecDuplicate(fw->u, &fw->adjrhs));
  PetscCall(DMCreateLocalVector(fw->dm, &fw->liftloc));
  PetscCall(VecDuplicate(fw->liftloc, &fw->gloc));
  PetscCall(VecDuplicate(fw->liftloc, &fw->uloc));
  PetscCall(VecDuplicate(fw->liftloc, &fw->adjloc));
  PetscCall(VecDuplicate(fw->liftloc, &fw->zloc));
  PetscCall(DMCreateGlobalVector(fw->uspace->dm, &fw->ufull));
  PetscCall(VecDuplicate(fw->ufull, &fw->zfull));
  PetscCall(DMCreateLocalVector(fw->mspace->dm, &fw->gradloc));
  {
    PetscInt n1, n2;
    PetscCall(VecGetLocalSize(fw->mloc, &n2));
    PetscCall(VecGetLocalSize(fw->gradloc, &n1));
    PetscCheck(n1 == n2, PETSC_COMM_SELF, PETSC_ERR_PLIB, "parameter space and auxiliary field layouts differ");
  }
  /* Dirichlet values, once: they do not depend on m. */
  PetscCall(VecZeroEntries(fw->gloc));
  PetscCall(DMPlexInsertBoundaryValues(fw->dm, PETSC_TRUE, fw->gloc, 0.0, NULL, NULL, NULL));

  /* The m-independent load: PETSc's residual at u = 0 with no Dirichlet
   * values is minus (volume source + Neumann flux). */
  {
    Vec zero, floc;
    PetscCall(VecDuplicate(fw->liftloc, &zero));
    PetscCall(VecDuplicate(fw->liftloc, &floc));
    PetscCall(VecZeroEntries(zero));
    PetscCall(VecZeroEntries(floc));
    PetscCall(VecZeroEntries(fw->mloc));
    fw->kc_valid = PETSC_FALSE;
    PetscCall(DMPlexSNESComputeResidualFEM(fw->dm, zero, floc, NULL));
    PetscCall(VecZeroEntries(fw->b0));
    PetscCall(DMLocalToGlobal(fw->dm, floc, ADD_VALUES, fw->b0));
    PetscCall(VecScale(fw->b0, -1.0));
    PetscCall(VecDestroy(&zero));
    PetscCall(VecDestroy(&floc));
  }
  PetscCall(SetUpElementData(fw));
  PetscCall(McForwardSetUpMatrix_Private(fw));
  PetscCall(McForwardSetUpSolver_Private(fw));
  fw->setup = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/* ---------------------------------------------------------- accessors */

PetscErrorCode McForwardGetState(McForward fw, Vec *u)
{
  PetscFunctionBeginUser;
  *u = fw->ufull;
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardGetStateSpace(McForward fw, McSpace *space)
{
  PetscFunctionBeginUser;
  *space = fw->uspace;
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardGetParameterSpace(McForward fw, McSpace *space)
{
  PetscFunctionBeginUser;
  *space = fw->mspace;
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardGetKSP(McForward fw, KSP *ksp)
{
  PetscFunctionBeginUser;
  *ksp = fw->ksp;
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardGetTimes(McForward fw, McForwardTimes *t)
{
  PetscFunctionBeginUser;
  *t = fw->times;
  PetscFunctionReturn(0);
}
