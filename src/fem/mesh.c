/* Meshes: DMPlex built from a box (tensor cells by PETSc, simplices from a
 * cell list we write, since this PETSc has no triangle/tetgen) or read from
 * a Gmsh file. Everything is built serially on rank 0, labelled, checked and
 * then distributed, so labels and checks never depend on the partition. */
#include "fem_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

PetscErrorCode McMeshSpecDefault(McMeshSpec *spec)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(spec, sizeof(*spec)));
  spec->dim = 2;
  for (PetscInt d = 0; d < 3; d++) {
    spec->cells[d] = 8;
    spec->lower[d] = 0.0;
    spec->upper[d] = 1.0;
  }
  spec->simplex = PETSC_FALSE;
  PetscFunctionReturn(0);
}

/* Splits each quad into 2 triangles, each hex into 6 tetrahedra (Kuhn
 * subdivision along the main diagonal, so neighbours share conforming faces). */
static PetscErrorCode CreateSimplexBox(MPI_Comm comm, const McMeshSpec *s, DM *dm)
{
  PetscMPIInt rank;
  PetscInt    dim = s->dim, nx = s->cells[0], ny = s->cells[1], nz = dim == 3 ? s->cells[2] : 1;
  PetscInt    nv = 0, nc = 0, ncorners = dim + 1;
  PetscInt   *cells = NULL;
  PetscReal  *coords = NULL;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    PetscInt vx = nx + 1, vy = ny + 1, vz = dim == 3 ? nz + 1 : 1;
    nv = vx * vy * vz;
    nc = (dim == 2 ? 2 : 6) * nx * ny * nz;
    PetscCall(PetscMalloc2(nc * ncorners, &cells, nv * dim, &coords));
    for (PetscInt k = 0; k < vz; k++)
      for (PetscInt j = 0; j < vy; j++)
        for (PetscInt i = 0; i < vx; i++) {
          PetscInt v = i + vx * (j + vy * k);
          PetscInt ijk[3] = {i, j, k}, n[3] = {nx, ny, nz};
          for (PetscInt d = 0; d < dim; d++)
            coords[v * dim + d] = s->lower[d] + (s->upper[d] - s->lower[d]) * (PetscReal)ijk[d] / (PetscReal)n[d];
        }
    PetscInt c = 0;
    for (PetscInt k = 0; k < nz; k++)
      for (PetscInt j = 0; j < ny; j++)
        for (PetscInt i = 0; i < nx; i++) {
          if (dim == 2) {
            PetscInt v00 = i + vx * j, v10 = v00 + 1, v01 = v00 + vx, v11 = v01 + 1;
            PetscInt t[2][3] = {{v00, v10, v11}, {v00, v11, v01}}; /* counter-clockwise */
            for (PetscInt a = 0; a < 2; a++, c++)
              for (PetscInt b = 0; b < 3; b++)
                cells[c * 3 + b] = t[a][b];
          } else {
            static const PetscInt perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
            PetscInt              stride[3] = {1, vx, vx * vy};
            PetscInt              base = i + vx * (j + vy * k);
            for (PetscInt p = 0; p < 6; p++, c++) {
              PetscInt tv[4];
              tv[0] = base;
              tv[1] = tv[0] + stride[perms[p][0]];
              tv[2] = tv[1] + stride[perms[p][1]];
              tv[3] = base + stride[0] + stride[1] + stride[2];
              /* DMPlex's reference tetrahedron has negative signed volume
               * (its first face points inward): orient every cell that way. */
              PetscReal a[3][3];
              for (PetscInt r = 0; r < 3; r++)
                for (PetscInt d = 0; d < 3; d++)
                  a[r][d] = coords[tv[r + 1] * 3 + d] - coords[tv[0] * 3 + d];
              PetscReal det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
                              a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
                              a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
              if (det > 0) {
                PetscInt tmp = tv[1];
                tv[1] = tv[2];
                tv[2] = tmp;
              }
              for (PetscInt b = 0; b < 4; b++)
                cells[c * 4 + b] = tv[b];
            }
          }
        }
  }
  PetscCall(DMPlexCreateFromCellListPetsc(comm, dim, nc, nv, ncorners, PETSC_TRUE, cells, dim, coords, dm));
  PetscCall(PetscFree2(cells, coords));
  PetscFunctionReturn(0);
}

/* Labels boundary faces "boundary" and, for a box, by side. */
static PetscErrorCode LabelBoundary(DM dm, const McMeshSpec *s, PetscBool box)
{
  static const char *names[3][2] = {{"left", "right"}, {"bottom", "top"}, {"front", "back"}};
  DMLabel            bnd, side[3][2] = {{NULL}};
  PetscInt           dim = s->dim;
  IS                 is;

  PetscFunctionBeginUser;
  PetscCall(DMCreateLabel(dm, "boundary"));
  PetscCall(DMGetLabel(dm, "boundary", &bnd));
  PetscCall(DMPlexMarkBoundaryFaces(dm, 1, bnd));
  if (box) {
    for (PetscInt d = 0; d < dim; d++)
      for (PetscInt e = 0; e < 2; e++) {
        /* In 3D, "bottom"/"top" are z and "front"/"back" are y. */
        const char *name = names[dim == 3 && d == 1 ? 2 : (dim == 3 && d == 2 ? 1 : d)][e];
        PetscCall(DMCreateLabel(dm, name));
        PetscCall(DMGetLabel(dm, name, &side[d][e]));
      }
    PetscCall(DMLabelGetStratumIS(bnd, 1, &is));
    if (is) {
      const PetscInt *faces;
      PetscInt        n;
      PetscCall(ISGetLocalSize(is, &n));
      PetscCall(ISGetIndices(is, &faces));
      for (PetscInt i = 0; i < n; i++) {
        PetscReal vol, centroid[3], normal[3];
        PetscCall(DMPlexComputeCellGeometryFVM(dm, faces[i], &vol, centroid, normal));
        for (PetscInt d = 0; d < dim; d++) {
          PetscReal tol = 1e-10 * (s->upper[d] - s->lower[d]);
          if (PetscAbsReal(centroid[d] - s->lower[d]) < tol) PetscCall(DMLabelSetValue(side[d][0], faces[i], 1));
          if (PetscAbsReal(centroid[d] - s->upper[d]) < tol) PetscCall(DMLabelSetValue(side[d][1], faces[i], 1));
        }
      }
      PetscCall(ISRestoreIndices(is, &faces));
      PetscCall(ISDestroy(&is));
    }
    for (PetscInt d = 0; d < dim; d++)
      for (PetscInt e = 0; e < 2; e++)
        PetscCall(DMPlexLabelComplete(dm, side[d][e]));
  }
  PetscCall(DMPlexLabelComplete(dm, bnd));
  PetscFunctionReturn(0);
}

/* Reads "$PhysicalNames" of dimension pdim from a Gmsh file (both 2.2 and 4.1
 * use the same section layout). Names are returned as "tag name" pairs. */
typedef struct {
  PetscInt tag;
  char     name[64];
} PhysName;

static PetscErrorCode CheckGmshFile(MPI_Comm comm, const char file[], PetscInt pdim, PetscInt *nnames, PhysName names[],
                                    PetscInt maxnames)
{
  PetscMPIInt rank;
  char        err[PETSC_MAX_PATH_LEN + 256] = "";
  PetscInt    n = 0;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    FILE  *fp = fopen(file, "rb");
    char  *text = NULL;
    long   size = -1;
    size_t got = 0;
    if (!fp) {
      snprintf(err, sizeof(err), "mesh file '%s' cannot be opened (%s)", file, strerror(errno));
    } else {
      if (fseek(fp, 0, SEEK_END) == 0 && (size = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0) {
        PetscCall(PetscMalloc1((size_t)size + 1, &text));
        got = fread(text, 1, (size_t)size, fp);
        text[got] = '\0';
      }
      fclose(fp);
      if (!text || got != (size_t)size) {
        snprintf(err, sizeof(err), "mesh file '%s' cannot be read", file);
      } else if (pdim < 0) {
        /* The whole file once, strictly, before PETSc's reader sees it. */
        PetscBool valid;
        PetscCall(McGmshValidate(text, got, file, err, sizeof(err), &valid));
      } else {
        /* A validated file: "$PhysicalNames", then "dim tag \"name\"" lines. */
        const char *p = strstr(text, "\n$PhysicalNames");
        int         count = 0, off = 0;
        if (p && sscanf(p + 15, "%d%n", &count, &off) == 1) {
          p += 15 + off;
          for (int i = 0; i < count; i++) {
            int  d, tag, used = 0;
            char name[128];
            if (sscanf(p, " %d %d \"%127[^\"]\"%n", &d, &tag, name, &used) != 3 || !used) break;
            p += used;
            if (d != pdim || n >= maxnames) continue;
            names[n].tag = tag;
            PetscCall(PetscStrncpy(names[n].name, name, sizeof(names[n].name)));
            n++;
          }
        }
      }
      PetscCall(PetscFree(text));
    }
  }
  PetscCallMPI(MPI_Bcast(err, sizeof(err), MPI_CHAR, 0, comm));
  PetscCheck(err[0] == 0, comm, PETSC_ERR_FILE_OPEN, "%s", err);
  PetscCallMPI(MPI_Bcast(&n, 1, MPIU_INT, 0, comm));
  PetscCallMPI(MPI_Bcast(names, (int)(n * sizeof(PhysName)), MPI_BYTE, 0, comm));
  *nnames = n;
  PetscFunctionReturn(0);
}

/* The dimension of a Gmsh mesh, read the cheap way: the DM knows it. */
static PetscErrorCode CreateGmsh(MPI_Comm comm, const char file[], DM *dm)
{
  PhysName names[64];
  PetscInt nnames, dim;
  DMLabel  faceSets;

  PetscFunctionBeginUser;
  /* Check format before PETSc's reader sees the file: its errors on a foreign
   * file are about tokens, not about what the user did wrong. */
  PetscCall(CheckGmshFile(comm, file, -1, &nnames, names, 64));
  /* DMPlexCreateGmshFromFile, but with the viewer ours: PETSc's leaks it
   * when the reader fails (a mesh it cannot orient, say). */
  {
    PetscViewer    viewer;
    PetscErrorCode ierr;
    PetscCall(PetscViewerCreate(comm, &viewer));
    PetscCall(PetscViewerSetType(viewer, PETSCVIEWERASCII));
    PetscCall(PetscViewerFileSetMode(viewer, FILE_MODE_READ));
    PetscCall(PetscViewerFileSetName(viewer, file));
    ierr = DMPlexCreateGmsh(comm, viewer, PETSC_TRUE, dm);
    PetscCall(PetscViewerDestroy(&viewer));
    PetscCall(ierr);
  }
  PetscCall(DMGetDimension(*dm, &dim));
  PetscCall(CheckGmshFile(comm, file, dim - 1, &nnames, names, 64));
  PetscCall(DMGetLabel(*dm, "Face Sets", &faceSets));
  for (PetscInt i = 0; i < nnames; i++) {
    DMLabel label;
    IS      is = NULL;
    PetscCall(DMCreateLabel(*dm, names[i].name));
    PetscCall(DMGetLabel(*dm, names[i].name, &label));
    if (faceSets) PetscCall(DMLabelGetStratumIS(faceSets, names[i].tag, &is));
    if (is) {
      const PetscInt *pts;
      PetscInt        n;
      PetscCall(ISGetLocalSize(is, &n));
      PetscCall(ISGetIndices(is, &pts));
      for (PetscInt p = 0; p < n; p++)
        PetscCall(DMLabelSetValue(label, pts[p], 1));
      PetscCall(ISRestoreIndices(is, &pts));
      PetscCall(ISDestroy(&is));
    }
    PetscCall(DMPlexLabelComplete(*dm, label));
  }
  PetscFunctionReturn(0);
}

/* Every cell must have a positive Jacobian determinant at its vertices (for
 * simplices one value; for tensor cells the corners, where a bilinear map
 * first folds). */
static PetscErrorCode CheckCells(MPI_Comm comm, DM dm, const char *desc)
{
  PetscInt        dim, cStart, cEnd, nq;
  PetscBool       simplex;
  PetscQuadrature corners;
  PetscReal      *pts, *wts, *v, *J, *invJ, *detJ;
  char            msg[1024] = "";
  PetscMPIInt     rank;
  struct {
    int bad, rank;
  } in, out;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(DMGetDimension(dm, &dim));
  PetscCall(DMPlexGetHeightStratum(dm, 0, &cStart, &cEnd));
  PetscCall(DMPlexIsSimplex(dm, &simplex));
  nq = simplex ? dim + 1 : (1 << dim);
  /* The quadrature takes ownership of both arrays. */
  PetscCall(PetscMalloc1(nq * dim, &pts));
  PetscCall(PetscMalloc1(nq, &wts));
  if (simplex) {
    for (PetscInt q = 0; q < nq; q++)
      for (PetscInt d = 0; d < dim; d++)
        pts[q * dim + d] = (q > 0 && d == q - 1) ? 1.0 : -1.0;
  } else {
    for (PetscInt q = 0; q < nq; q++)
      for (PetscInt d = 0; d < dim; d++)
        pts[q * dim + d] = (q >> d) & 1 ? 1.0 : -1.0;
  }
  for (PetscInt q = 0; q < nq; q++)
    wts[q] = 1.0;
  PetscCall(PetscQuadratureCreate(PETSC_COMM_SELF, &corners));
  PetscCall(PetscQuadratureSetData(corners, dim, 1, nq, pts, wts));
  PetscCall(PetscMalloc4(nq * dim, &v, nq * dim * dim, &J, nq * dim * dim, &invJ, nq, &detJ));
  for (PetscInt c = cStart; c < cEnd && !msg[0]; c++) {
    PetscInt  nv;
    PetscReal lo[3] = {PETSC_MAX_REAL, PETSC_MAX_REAL, PETSC_MAX_REAL},
              hi[3] = {PETSC_MIN_REAL, PETSC_MIN_REAL, PETSC_MIN_REAL}, h = 0, *xc = NULL;
    PetscBool          isDG;
    const PetscScalar *arr;
    PetscCall(DMPlexGetCellCoordinates(dm, c, &isDG, &nv, &arr, &xc));
    for (PetscInt i = 0; i < nv / dim; i++)
      for (PetscInt d = 0; d < dim; d++) {
        lo[d] = PetscMin(lo[d], PetscRealPart(xc[i * dim + d]));
        hi[d] = PetscMax(hi[d], PetscRealPart(xc[i * dim + d]));
      }
    for (PetscInt d = 0; d < dim; d++)
      h = PetscMax(h, hi[d] - lo[d]);
    /* Degenerate means the Jacobian is tiny relative to the cell's size; the
     * reference cell has edge 2, so a healthy cell has detJ ~ (h/2)^dim. */
    PetscReal tiny = 1e-10 * PetscPowRealInt(0.5 * h, dim);
    PetscCall(DMPlexComputeCellGeometryFEM(dm, c, corners, v, J, invJ, detJ));
    for (PetscInt q = 0; q < nq; q++) {
      if (detJ[q] > tiny) continue;
      size_t len;
      snprintf(msg, sizeof(msg), "%.300s: cell %d is %s (Jacobian determinant %g at corner %d); its vertices:", desc,
               (int)(c - cStart), detJ[q] < -tiny ? "inverted" : "degenerate", (double)detJ[q], (int)q);
      for (PetscInt i = 0; i < nv / dim; i++) {
        len = strlen(msg);
        snprintf(msg + len, sizeof(msg) - len, " (");
        for (PetscInt d = 0; d < dim; d++) {
          len = strlen(msg);
          snprintf(msg + len, sizeof(msg) - len, d ? ", %g" : "%g", (double)PetscRealPart(xc[i * dim + d]));
        }
        len = strlen(msg);
        snprintf(msg + len, sizeof(msg) - len, ")");
      }
      break;
    }
    PetscCall(DMPlexRestoreCellCoordinates(dm, c, &isDG, &nv, &arr, &xc));
  }
  PetscCall(PetscFree4(v, J, invJ, detJ));
  PetscCall(PetscQuadratureDestroy(&corners));
  in.bad = msg[0] ? 1 : 0;
  in.rank = rank;
  PetscCallMPI(MPI_Allreduce(&in, &out, 1, MPI_2INT, MPI_MAXLOC, comm));
  if (out.bad) {
    PetscCallMPI(MPI_Bcast(msg, sizeof(msg), MPI_CHAR, out.rank, comm));
    SETERRQ(comm, PETSC_ERR_ARG_WRONG, "%s", msg);
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode CheckSpec(MPI_Comm comm, const McMeshSpec *s)
{
  PetscFunctionBeginUser;
  PetscCheck(s->dim == 2 || s->dim == 3, comm, PETSC_ERR_ARG_OUTOFRANGE,
             "mesh dimension must be 2 or 3, got %" PetscInt_FMT, s->dim);
  for (PetscInt d = 0; d < s->dim; d++) {
    PetscCheck(s->cells[d] >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE,
               "mesh cells[%" PetscInt_FMT "] must be >= 1, got %" PetscInt_FMT, d, s->cells[d]);
    PetscCheck(s->upper[d] > s->lower[d], comm, PETSC_ERR_ARG_OUTOFRANGE,
               "mesh upper[%" PetscInt_FMT "] = %g must exceed lower = %g", d, (double)s->upper[d],
               (double)s->lower[d]);
  }
  {
    /* Cell-to-vertex entries must be indexable by PetscInt (32 bits in
     * Debian's PETSc): beyond that, sizes wrap and the build crashes. */
    double cells = s->simplex ? (s->dim == 2 ? 2.0 : 6.0) : 1.0, entries;
    for (PetscInt d = 0; d < s->dim; d++)
      cells *= (double)s->cells[d];
    entries = cells * (double)(s->simplex ? s->dim + 1 : (1 << s->dim));
    PetscCheck(entries < (double)PETSC_MAX_INT, comm, PETSC_ERR_ARG_OUTOFRANGE,
               "a box mesh of %.0f %s has %.0f cell-vertex entries, more than this PETSc's index range (%d)", cells,
               s->simplex ? "simplices" : "cells", entries, (int)PETSC_MAX_INT);
  }
  PetscFunctionReturn(0);
}

/* Builds into me->dm, so that on any error McMeshCreate can release what
 * exists so far: a bad mesh file is a user error, not a leak. */
static PetscErrorCode Build(MPI_Comm comm, const McMeshSpec *spec, McMesh me)
{
  DM          dist = NULL;
  PetscSF     migration = NULL;
  PetscMPIInt size;

  PetscFunctionBeginUser;
  if (spec->gmsh_file && spec->gmsh_file[0]) {
    McMeshSpec s = *spec;
    PetscCall(PetscSNPrintf(me->desc, sizeof(me->desc), "%s", spec->gmsh_file));
    PetscCall(CreateGmsh(comm, spec->gmsh_file, &me->dm));
    PetscCall(DMGetDimension(me->dm, &me->dim));
    s.dim = me->dim;
    PetscCall(LabelBoundary(me->dm, &s, PETSC_FALSE));
  } else {
    PetscCall(CheckSpec(comm, spec));
    me->dim = spec->dim;
    if (spec->dim == 2)
      PetscCall(PetscSNPrintf(me->desc, sizeof(me->desc), "box %" PetscInt_FMT "x%" PetscInt_FMT " %s", spec->cells[0],
                              spec->cells[1], spec->simplex ? "triangles" : "quadrilaterals"));
    else
      PetscCall(PetscSNPrintf(me->desc, sizeof(me->desc),
                              "box %" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT " %s", spec->cells[0],
                              spec->cells[1], spec->cells[2], spec->simplex ? "tetrahedra" : "hexahedra"));
    if (spec->simplex)
      PetscCall(CreateSimplexBox(comm, spec, &me->dm));
    else
      PetscCall(DMPlexCreateBoxMesh(comm, spec->dim, PETSC_FALSE, spec->cells, spec->lower, spec->upper, NULL,
                                    PETSC_TRUE, &me->dm));
    PetscCall(LabelBoundary(me->dm, spec, PETSC_TRUE));
  }
  PetscCall(PetscObjectSetName((PetscObject)me->dm, "mesh"));
  PetscCall(CheckCells(comm, me->dm, me->desc));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  if (size > 1) {
    PetscCall(DMPlexDistribute(me->dm, 0, &migration, &dist));
    if (dist) {
      DM serial = me->dm;
      me->dm = dist;
      PetscCall(McMeshSetNatural_Private(me, serial, migration));
      PetscCall(DMDestroy(&serial));
    }
    PetscCall(PetscSFDestroy(&migration));
  }
  PetscCall(DMPlexIsSimplex(me->dm, &me->simplex));
  PetscFunctionReturn(0);
}

PetscErrorCode McMeshCreate(MPI_Comm comm, const McMeshSpec *spec, McMesh *mesh)
{
  McMesh         me;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  *mesh = NULL;
  PetscCall(McMeshAlloc_Private(&me));
  me->comm = comm;
  ierr = Build(comm, spec, me);
  if (ierr) {
    PetscCall(McMeshDestroy(&me));
    PetscCall(ierr);
  }
  *mesh = me;
  PetscFunctionReturn(0);
}

PetscErrorCode McMeshGetDM(McMesh mesh, DM *dm)
{
  PetscFunctionBeginUser;
  *dm = mesh->dm;
  PetscFunctionReturn(0);
}

PetscErrorCode McMeshGetDescription(McMesh mesh, const char **desc)
{
  PetscFunctionBeginUser;
  *desc = mesh->desc;
  PetscFunctionReturn(0);
}

PetscErrorCode McMeshHasLabel(McMesh mesh, const char name[], PetscBool *has)
{
  PetscFunctionBeginUser;
  PetscCall(DMHasLabel(mesh->dm, name, has));
  PetscFunctionReturn(0);
}
