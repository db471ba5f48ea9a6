/* The problem a configuration describes, built from its parts: mesh,
 * forward model, observation points, prior, truth and data, and the
 * posterior they make.
 *
 * The one idea: a configuration that loaded is valid in itself, but some
 * mistakes only show against the things it names -- a boundary label the
 * Gmsh mesh does not have, a data file with the wrong number of values, an
 * observation point outside the domain. Those are still the user's mistakes:
 * they come back as one message naming the file (and line) and the run ends
 * with the configuration-error exit code, not with a PETSc traceback. */
#include "app/app.h"

#include <ctype.h>
#include <errno.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <petscsf.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

/* Records the user's mistake (once) and marks the set-up invalid. */
static void Fail(char *msg, size_t len, PetscBool *valid, const char *fmt, ...)
{
  va_list ap;

  if (!*valid) return;
  va_start(ap, fmt);
  vsnprintf(msg, len, fmt, ap);
  va_end(ap);
  *valid = PETSC_FALSE;
}

/* A PETSc error handler that keeps the first message in ctx (1024 bytes)
 * instead of printing a traceback: for errors that are the user's. */
static PetscErrorCode CaptureError(MPI_Comm comm, int line, const char *func, const char *file, PetscErrorCode n,
                                   PetscErrorType p, const char *mess, void *ctx)
{
  char *why = ctx;

  (void)comm, (void)line, (void)func, (void)file;
  if (p == PETSC_ERROR_INITIAL && !why[0]) snprintf(why, 1024, "%s", mess ? mess : "error building the mesh");
  return n;
}

/* ------------------------------------------------------------ text files */

/* Reads a text file of rows of `width` numbers (separated by blanks or
 * commas; '#' starts a comment; empty lines are skipped) into a new array
 * *vals of *nrows x width. A malformed line is reported as "file:line: ...". */
PetscErrorCode McReadTable(const char *path, PetscInt width, const char *what, PetscInt *nrows, PetscReal **vals,
                           char *msg, size_t len, PetscBool *valid)
{
  FILE     *f;
  char      line[4096];
  PetscInt  n = 0, cap = 0, lineno = 0;
  PetscReal *v = NULL;

  PetscFunctionBeginUser;
  *nrows = 0;
  *vals = NULL;
  *valid = PETSC_TRUE;
  f = fopen(path, "r");
  if (!f) {
    Fail(msg, len, valid, "%s: cannot open %s: %s", path, what, strerror(errno));
    PetscFunctionReturn(0);
  }
  while (fgets(line, sizeof(line), f)) {
    char    *p = line, *end;
    PetscInt got = 0;
    lineno++;
    if (!strchr(line, '\n') && !feof(f)) {
      if (strlen(line) < sizeof(line) - 1) /* fgets stopped at a newline after a NUL */
        Fail(msg, len, valid, "%s:%d: unexpected NUL byte (a binary file?)", path, (int)lineno);
      else
        Fail(msg, len, valid, "%s:%d: line longer than %d characters", path, (int)lineno, (int)sizeof(line) - 1);
      break;
    }
    if ((end = strchr(p, '#'))) *end = '\0';
    if (n == cap) {
      cap = cap ? 2 * cap : 256;
      PetscCall(PetscRealloc(sizeof(PetscReal) * (size_t)(cap * width), &v));
    }
    for (;;) {
      double x;
      while (*p && (isspace((unsigned char)*p) || *p == ',')) p++;
      if (!*p) break;
      errno = 0;
      x = strtod(p, &end);
      if (end == p || !(isspace((unsigned char)*end) || *end == ',' || *end == '\0') || errno == ERANGE ||
          !isfinite(x)) {
        char tok[32];
        size_t k = strcspn(p, " \t\r\n,");
        snprintf(tok, sizeof(tok), "%.*s", (int)PetscMin(k, sizeof(tok) - 1), p);
        Fail(msg, len, valid, "%s:%d: expected a finite number, got '%s'", path, (int)lineno, tok);
        break;
      }
      if (got < width) v[n * width + got] = (PetscReal)x;
      got++;
      p = end;
    }
    if (!*valid) break;
    if (got == 0) continue;
    if (got != width) {
      Fail(msg, len, valid, "%s:%d: expected %d number%s per line (%s), got %d", path, (int)lineno, (int)width,
           width == 1 ? "" : "s", what, (int)got);
      break;
    }
    n++;
  }
  fclose(f);
  if (*valid && n == 0) Fail(msg, len, valid, "%s: no %s found (the file is empty)", path, what);
  if (!*valid) {
    PetscCall(PetscFree(v));
    PetscFunctionReturn(0);
  }
  *nrows = n;
  *vals = v;
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------ mesh */

/* The fem module's name of box side s (x-, x+, y-, y+, z-, z+): in 3D its
 * "bottom"/"top" are z and "front"/"back" are y (fem.h). */
static const char *BoxSideName(PetscInt dim, int s)
{
  static const char *names[3][2] = {{"left", "right"}, {"bottom", "top"}, {"front", "back"}};
  int                d = s / 2;

  return names[dim == 3 && d == 1 ? 2 : (dim == 3 && d == 2 ? 1 : d)][s % 2];
}

/* The mesh label a boundary condition of the configuration means. */
static const char *MeshLabel(const McConfig *cfg, const char *label)
{
  if (cfg->mesh.kind == MC_MESH_FILE || !strcmp(label, "boundary")) return label;
  for (int s = 0; s < 2 * cfg->mesh.dim; s++)
    if (!strcmp(label, cfg->mesh.boundary_labels[s])) return BoxSideName(cfg->mesh.dim, s);
  return label; /* the configuration checked it names a side */
}

static PetscErrorCode CreateMesh(const McConfig *cfg, McProblem *pb, char *msg, size_t len, PetscBool *valid)
{
  McMeshSpec ms;
  PetscInt   dim;
  DM         dm;

  PetscFunctionBeginUser;
  PetscCall(McMeshSpecDefault(&ms));
  ms.dim = cfg->mesh.dim;
  if (cfg->mesh.kind == MC_MESH_FILE) {
    FILE *f = fopen(cfg->mesh.file, "r");
    if (!f) {
      Fail(msg, len, valid, "%s: [mesh] file \"%s\" cannot be opened: %s", cfg->source, cfg->mesh.file,
           strerror(errno));
      PetscFunctionReturn(0);
    }
    fclose(f);
    ms.gmsh_file = cfg->mesh.file;
  } else {
    for (int d = 0; d < 3; d++) {
      ms.cells[d] = cfg->mesh.cells[d];
      ms.lower[d] = cfg->mesh.lower[d];
      ms.upper[d] = cfg->mesh.upper[d];
    }
    ms.simplex = cfg->mesh.cell == MC_CELL_SIMPLEX ? PETSC_TRUE : PETSC_FALSE;
  }
  if (cfg->mesh.kind == MC_MESH_FILE) {
    /* Whatever is wrong with a mesh file -- its syntax (fem's validator),
     * an inverted or degenerate cell -- is the user's to fix: one line naming
     * the file, not a PETSc traceback. Out of memory stays a runtime error. */
    char           why[1024] = "";
    PetscErrorCode ierr;
    PetscCall(PetscPushErrorHandler(CaptureError, why));
    ierr = McMeshCreate(pb->comm, &ms, &pb->mesh);
    PetscCall(PetscPopErrorHandler());
    if (ierr == PETSC_ERR_MEM) PetscCall(ierr);
    if (ierr) {
      Fail(msg, len, valid, "%s", why);
      PetscFunctionReturn(0);
    }
  } else {
    /* A box too large for the memory is the one failure here: say so in
     * one line with the size, then fail as a runtime error (exit 2). */
    char           why[1024] = "";
    PetscErrorCode ierr;
    PetscCall(PetscPushErrorHandler(CaptureError, why));
    ierr = McMeshCreate(pb->comm, &ms, &pb->mesh);
    PetscCall(PetscPopErrorHandler());
    if (ierr == PETSC_ERR_ARG_OUTOFRANGE) { /* a box too large to index */
      Fail(msg, len, valid, "%s: [mesh] cells: %s", cfg->source, why);
      PetscFunctionReturn(0);
    }
    if (ierr == PETSC_ERR_MEM)
      PetscCall(PetscFPrintf(PETSC_COMM_WORLD, stderr,
                             "mcmc-run: out of memory building the %dD box mesh of %s (%d x %d%s%s cells): %s\n",
                             (int)cfg->mesh.dim, cfg->source, (int)cfg->mesh.cells[0], (int)cfg->mesh.cells[1],
                             cfg->mesh.dim == 3 ? " x " : "", cfg->mesh.dim == 3 ? "..." : "", why));
    PetscCall(ierr);
  }
  PetscCall(McMeshGetDM(pb->mesh, &dm));
  PetscCall(DMGetDimension(dm, &dim));
  if (dim != cfg->mesh.dim)
    Fail(msg, len, valid, "%s: [mesh] dim = %d, but the mesh %s is %dD", cfg->source, (int)cfg->mesh.dim,
         cfg->mesh.file, (int)dim);
  PetscFunctionReturn(0);
}

/* --------------------------------------------------------------- forward */

static PetscErrorCode CreateForward(const McConfig *cfg, McProblem *pb, char *msg, size_t len, PetscBool *valid)
{
  McPDESpec ps;
  McWell    wells[MC_FEM_MAX_WELLS];
  PetscInt  dim = cfg->mesh.dim;

  PetscFunctionBeginUser;
  PetscCall(McPDESpecDefault(&ps));
  ps.order = cfg->fem.order;
  ps.m_order = cfg->fem.parameter_order;
  ps.source = cfg->pde.source;
  if (cfg->pde.nwells > MC_FEM_MAX_WELLS) {
    Fail(msg, len, valid, "%s: %d [[pde.wells]] given; the forward model takes at most %d", cfg->source,
         (int)cfg->pde.nwells, MC_FEM_MAX_WELLS);
    PetscFunctionReturn(0);
  }
  if (cfg->pde.ndirichlet > MC_FEM_MAX_BC || cfg->pde.nneumann > MC_FEM_MAX_BC) {
    Fail(msg, len, valid, "%s: at most %d [[pde.dirichlet]] and %d [[pde.neumann]] entries are supported",
         cfg->source, MC_FEM_MAX_BC, MC_FEM_MAX_BC);
    PetscFunctionReturn(0);
  }
  for (PetscInt w = 0; w < cfg->pde.nwells; w++) {
    const McConfigWell *cw = &cfg->pde.wells[w];
    PetscReal           s2 = cw->width * cw->width;
    for (int d = 0; d < 3; d++) wells[w].centre[d] = d < dim ? cw->centre[d] : 0;
    wells[w].width = cw->width;
    /* The configuration gives the peak rate; fem's McWell its total inflow
     * (the Gaussian normalised to integral 1). */
    wells[w].rate = cw->rate * PetscPowReal(2 * PETSC_PI * s2, 0.5 * (PetscReal)dim);
  }
  ps.nwells = cfg->pde.nwells;
  ps.wells = wells;
  for (int pass = 0; pass < 2; pass++) {
    PetscInt                n = pass ? cfg->pde.nneumann : cfg->pde.ndirichlet;
    const McConfigBoundary *bc = pass ? cfg->pde.neumann : cfg->pde.dirichlet;
    for (PetscInt i = 0; i < n; i++) {
      const char *label = MeshLabel(cfg, bc[i].label);
      PetscBool   has;
      PetscCall(McMeshHasLabel(pb->mesh, label, &has));
      if (!has) {
        Fail(msg, len, valid, "%s: [[pde.%s]] #%d label \"%s\" is not a boundary label of the mesh %s", cfg->source,
             pass ? "neumann" : "dirichlet", (int)i + 1, bc[i].label,
             cfg->mesh.kind == MC_MESH_FILE ? cfg->mesh.file : "box");
        PetscFunctionReturn(0);
      }
      if (pass) {
        ps.neumann_labels[i] = label;
        ps.neumann_values[i] = bc[i].value;
      } else {
        ps.dirichlet_labels[i] = label;
        ps.dirichlet_values[i] = bc[i].value;
      }
    }
  }
  ps.ndirichlet = cfg->pde.ndirichlet;
  ps.nneumann = cfg->pde.nneumann;
  PetscCall(McForwardCreate(pb->mesh, &ps, &pb->fw));
  PetscCall(McForwardSetUp(pb->fw));
  PetscFunctionReturn(0);
}

/* ---------------------------------------------------------- observations */

/* Keeps the points of pts[n][dim] that lie in a cell of the mesh (a grid
 * over the bounding box of a Gmsh mesh with holes or re-entrant corners),
 * by the observation operator's own test, over all ranks of a mesh
 * distributed over a chain's ranks. *first_out: the index of the first
 * point dropped (-1: none), its coordinates in xout. */
static PetscErrorCode KeepInside(McMesh mesh, PetscInt dim, PetscInt *n, PetscReal *pts, PetscInt *first_out,
                                 PetscReal xout[3])
{
  PetscBool *inside;
  PetscInt   kept = 0;

  PetscFunctionBeginUser;
  *first_out = -1;
  PetscCall(PetscMalloc1(*n, &inside));
  PetscCall(McMeshLocatePoints(mesh, *n, pts, inside));
  for (PetscInt i = 0; i < *n; i++) {
    if (!inside[i]) {
      if (*first_out < 0) {
        *first_out = i;
        for (PetscInt d = 0; d < dim; d++) xout[d] = pts[i * dim + d];
      }
      continue;
    }
    for (PetscInt d = 0; d < dim; d++) pts[kept * dim + d] = pts[i * dim + d];
    kept++;
  }
  PetscCall(PetscFree(inside));
  *n = kept;
  PetscFunctionReturn(0);
}

static PetscErrorCode CreateObservations(const McConfig *cfg, McProblem *pb, char *msg, size_t len, PetscBool *valid)
{
  char      where[2 * MC_CONFIG_PATH_MAX + 16];
  PetscInt  dim = cfg->mesh.dim, n = 0, out;
  PetscReal lo[3], hi[3], xout[3];
  McSpace   space;
  DM        dm;

  PetscFunctionBeginUser;
  PetscCall(McMeshGetDM(pb->mesh, &dm));
  switch (cfg->observations.kind) {
  case MC_OBS_GRID: {
    PetscInt g = cfg->observations.grid, idx[3];
    n = (PetscInt)pow((double)g, (double)dim);
    if (cfg->mesh.kind == MC_MESH_BOX) {
      for (PetscInt d = 0; d < dim; d++) lo[d] = cfg->mesh.lower[d], hi[d] = cfg->mesh.upper[d];
    } else {
      PetscCall(DMGetBoundingBox(dm, lo, hi));
    }
    PetscCall(PetscMalloc1(n * dim, &pb->obs_coords));
    /* Cell-centred: (i + 1/2)/g of each side, never on the boundary where a
     * Dirichlet condition would make the observation carry no information. */
    for (PetscInt p = 0; p < n; p++) {
      PetscInt r = p;
      for (PetscInt d = dim - 1; d >= 0; d--) idx[d] = r % g, r /= g;
      for (PetscInt d = 0; d < dim; d++) pb->obs_coords[p * dim + d] = lo[d] + (idx[d] + 0.5) / g * (hi[d] - lo[d]);
    }
    if (cfg->mesh.kind == MC_MESH_FILE) PetscCall(KeepInside(pb->mesh, dim, &n, pb->obs_coords, &out, xout));
    if (n == 0) Fail(msg, len, valid, "%s: [observations] no grid point lies inside the mesh", cfg->source);
    break;
  }
  case MC_OBS_POINTS:
    n = cfg->observations.npoints;
    PetscCall(PetscMalloc1(n * dim, &pb->obs_coords));
    PetscCall(PetscArraycpy(pb->obs_coords, cfg->observations.points, n * dim));
    break;
  case MC_OBS_FILE:
    PetscCall(McReadTableFile(cfg->observations.file, cfg->observations.dataset, "constant_data/sensor_coords", dim,
                              "observation point coordinates", &n, &pb->obs_coords, where, sizeof where, msg, len,
                              valid));
    break;
  }
  if (!*valid) PetscFunctionReturn(0);
  if (cfg->observations.kind != MC_OBS_GRID) {
    PetscInt  m = n;
    PetscReal *copy;
    PetscCall(PetscMalloc1(n * dim, &copy));
    PetscCall(PetscArraycpy(copy, pb->obs_coords, n * dim));
    PetscCall(KeepInside(pb->mesh, dim, &m, copy, &out, xout));
    PetscCall(PetscFree(copy));
    if (m != n) {
      char xs[96];
      if (dim == 2) PetscCall(PetscSNPrintf(xs, sizeof xs, "(%g, %g)", (double)xout[0], (double)xout[1]));
      else PetscCall(PetscSNPrintf(xs, sizeof xs, "(%g, %g, %g)", (double)xout[0], (double)xout[1], (double)xout[2]));
      Fail(msg, len, valid,
           "%s: %d of the %d observation points (%s) lie outside the mesh; the first is point %d (counting from 0) at %s",
           cfg->source, (int)(n - m), (int)n, cfg->observations.kind == MC_OBS_FILE ? where : "[observations] points",
           (int)out, xs);
      PetscFunctionReturn(0);
    }
  }
  pb->nobs = n;
  PetscCall(McForwardGetStateSpace(pb->fw, &space));
  PetscCall(McObsOperatorCreate(space, n, pb->obs_coords, &pb->obs));
  PetscFunctionReturn(0);
}

/* ----------------------------------------------------------- prior, truth */

/* The mesh size h: the largest cell side of a box, or for a mesh file the
 * largest cell's volume^(1/dim). */
static PetscErrorCode MeshSize(const McConfig *cfg, McProblem *pb, PetscReal *h)
{
  DM       dm;
  PetscInt cStart, cEnd, dim = cfg->mesh.dim;

  PetscFunctionBeginUser;
  *h = 0;
  if (cfg->mesh.kind == MC_MESH_BOX) {
    for (PetscInt d = 0; d < dim; d++)
      *h = PetscMax(*h, (cfg->mesh.upper[d] - cfg->mesh.lower[d]) / cfg->mesh.cells[d]);
    PetscFunctionReturn(0);
  }
  PetscCall(McMeshGetDM(pb->mesh, &dm));
  PetscCall(DMPlexGetHeightStratum(dm, 0, &cStart, &cEnd));
  for (PetscInt c = cStart; c < cEnd; c++) {
    PetscReal vol;
    PetscCall(DMPlexComputeCellGeometryFVM(dm, c, &vol, NULL, NULL));
    *h = PetscMax(*h, PetscPowReal(PetscAbsReal(vol), 1.0 / dim));
  }
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, h, 1, MPIU_REAL, MPIU_MAX, pb->comm));
  PetscFunctionReturn(0);
}

/* A correlation length far below the mesh size makes the discrete prior
 * white noise at the mesh scale, its precision dominated by the mass term
 * (nearly singular covariance of a field the mesh cannot represent): an
 * error below h/100, a warning below 2h. With gamma and delta the length
 * is sqrt(8 nu gamma / delta), nu = 2 - dim/2 (the bilaplacian's). */
static PetscErrorCode CheckCorrelationLength(const McConfig *cfg, McProblem *pb, char *msg, size_t len,
                                             PetscBool *valid)
{
  PetscReal h, rho, nu = 2.0 - 0.5 * (PetscReal)cfg->mesh.dim;
  char      what[256];

  PetscFunctionBeginUser;
  PetscCall(MeshSize(cfg, pb, &h));
  if (cfg->prior.by_coefficients) {
    rho = PetscSqrtReal(8 * nu * cfg->prior.gamma / cfg->prior.delta);
    snprintf(what, sizeof(what),
             "[prior] gamma = %g and delta = %g give a correlation length sqrt(8 nu gamma/delta) = %g",
             (double)cfg->prior.gamma, (double)cfg->prior.delta, (double)rho);
  } else {
    rho = cfg->prior.correlation_length;
    snprintf(what, sizeof(what), "[prior] correlation_length = %g", (double)rho);
  }
  if (rho < 0.01 * h) {
    Fail(msg, len, valid,
         "%s: %s, below 1/100 of the mesh size h = %g: the prior would be white noise on this mesh (nearly singular "
         "covariance); use a correlation length >= 2h = %g or a finer mesh",
         cfg->source, what, (double)h, (double)(2 * h));
  } else if (rho < 2 * h) {
    PetscCall(PetscFPrintf(PETSC_COMM_WORLD, stderr,
                           "%s: warning: %s, below twice the mesh size h = %g: the mesh does not resolve the prior\n",
                           cfg->source, what, (double)h));
  }
  PetscFunctionReturn(0);
}

/* [prior] mean_file: the field, in the global (mesh-file vertex) order;
 * every rank reads the file and keeps its own rows. */
static PetscErrorCode ReadMeanField(const McConfig *cfg, McSpace space, Vec *mean, char *msg, size_t len,
                                    PetscBool *valid)
{
  PetscReal   *vals;
  PetscScalar *a;
  PetscInt     n, lo, hi;

  PetscFunctionBeginUser;
  *mean = NULL;
  PetscCall(McSpaceCreateVector(space, mean));
  PetscCall(VecGetSize(*mean, &n));
  PetscCall(McReadFieldFile(cfg->prior.mean_file, cfg->prior.mean_dataset, n, &vals, msg, len, valid));
  if (!*valid) {
    PetscCall(VecDestroy(mean));
    PetscFunctionReturn(0);
  }
  PetscCall(VecGetOwnershipRange(*mean, &lo, &hi));
  PetscCall(VecGetArray(*mean, &a));
  for (PetscInt i = lo; i < hi; i++) a[i - lo] = vals[i];
  PetscCall(VecRestoreArray(*mean, &a));
  PetscCall(PetscFree(vals));
  PetscFunctionReturn(0);
}

/* A field written by mcmc-run names its mesh file (attribute mesh_file,
 * next to it): the same number of vertices is not enough, they must be the
 * same vertices in the same order, or the values land in the wrong places.
 * Checked when that mesh file is there (serial: the vertex order is the
 * mesh file's). */
static PetscErrorCode CheckMeanMesh(const McConfig *cfg, McProblem *pb, char *msg, size_t len, PetscBool *valid)
{
  const char  *ds = cfg->prior.mean_dataset[0] ? cfg->prior.mean_dataset : "fields/mean";
  char         meshname[PETSC_MAX_PATH_LEN], meshpath[2 * PETSC_MAX_PATH_LEN], ignore[8];
  const char  *slash = strrchr(cfg->prior.mean_file, '/');
  PetscBool    found, ok = PETSC_TRUE;
  PetscMPIInt  size;
  PetscReal   *theirs = NULL, extent = 0;
  PetscInt     rank, dims[2];
  McOutputMesh m;
  double      *coords = NULL;
  int64_t     *cells = NULL;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  if (size > 1) PetscFunctionReturn(0);
  PetscCall(McReadH5StringAttribute(cfg->prior.mean_file, ds, "mesh_file", meshname, sizeof meshname, &found));
  if (!found || meshname[0] == '/' || strstr(meshname, "..")) PetscFunctionReturn(0);
  PetscCall(PetscSNPrintf(meshpath, sizeof meshpath, "%.*s%s", slash ? (int)(slash - cfg->prior.mean_file + 1) : 0,
                          cfg->prior.mean_file, meshname));
  if (access(meshpath, R_OK) != 0) PetscFunctionReturn(0);
  PetscCall(McReadH5Dataset(meshpath, "geometry/vertices", &rank, dims, &theirs, ignore, sizeof ignore, &ok));
  if (!ok) PetscFunctionReturn(0); /* not a mesh file of ours: nothing to compare */
  PetscCall(McProblemGetMesh(pb, &m, &coords, &cells));
  for (PetscInt i = 0; i < m.nvertices * m.dim; i++) extent = PetscMax(extent, PetscAbsReal(coords[i]));
  if (rank != 2 || dims[0] != m.nvertices || dims[1] != m.dim) {
    Fail(msg, len, valid, "%s: dataset \"%s\" lies on the mesh %s of %d vertices in %dD; this configuration's mesh has %d in %dD",
         cfg->prior.mean_file, ds, meshpath, (int)dims[0], (int)dims[1], (int)m.nvertices, (int)m.dim);
  } else {
    for (PetscInt v = 0; v < m.nvertices && *valid; v++)
      for (PetscInt d = 0; d < m.dim && *valid; d++)
        if (PetscAbsReal(theirs[v * m.dim + d] - coords[v * m.dim + d]) > 1e-10 * PetscMax(extent, 1.0))
          Fail(msg, len, valid,
               "%s: dataset \"%s\" lies on the mesh %s, which differs from this configuration's: vertex %d is at "
               "(%g, %g%s) there, (%g, %g%s) here",
               cfg->prior.mean_file, ds, meshpath, (int)v, (double)theirs[v * m.dim], (double)theirs[v * m.dim + 1],
               m.dim == 3 ? ", ..." : "", (double)coords[v * m.dim], (double)coords[v * m.dim + 1],
               m.dim == 3 ? ", ..." : "");
  }
  PetscCall(PetscFree(theirs));
  PetscCall(McFree(&coords));
  PetscCall(McFree(&cells));
  PetscFunctionReturn(0);
}

static PetscErrorCode CreatePrior(const McConfig *cfg, McProblem *pb, char *msg, size_t len, PetscBool *valid)
{
  McPriorSpec prs;
  McSpace     space;
  Vec         mean = NULL;

  PetscFunctionBeginUser;
  PetscCall(McForwardGetParameterSpace(pb->fw, &space));
  if (cfg->prior.mean_file[0]) {
    PetscCall(ReadMeanField(cfg, space, &mean, msg, len, valid));
    if (!*valid) PetscFunctionReturn(0);
  }
  PetscCall(McPriorSpecDefault(&prs));
  if (cfg->prior.by_coefficients) {
    prs.gamma = cfg->prior.gamma;
    prs.delta = cfg->prior.delta;
  } else {
    prs.correlation_length = cfg->prior.correlation_length;
    prs.std_dev = cfg->prior.std_dev;
  }
  prs.robin = cfg->prior.robin;
  prs.mean = cfg->prior.mean;
  prs.theta[0] = cfg->prior.anisotropy[0];
  prs.theta[1] = cfg->prior.anisotropy[1];
  prs.theta_angle = cfg->prior.anisotropy_angle;
  prs.mean_field = mean;
  PetscCall(McPriorCreate(space, &prs, &pb->prior));
  PetscCall(VecDestroy(&mean)); /* the prior copied it */
  PetscCall(McPriorGetOperators(pb->prior, NULL, NULL, &pb->ml));
  PetscCall(McPriorCreateVector(pb->prior, &pb->m0));
  PetscCall(McPriorCreateVector(pb->prior, &pb->work));
  PetscCall(VecSet(pb->work, 0));
  PetscCall(McPriorUnwhiten(pb->prior, pb->work, pb->m0));
  PetscFunctionReturn(0);
}

/* An analytic truth (truths.c) on the domain's bounding box. */
typedef struct {
  McTruthKind kind;
  PetscInt    dim;
  PetscReal   lo[3], hi[3], a;
} Analytic;

static PetscErrorCode AnalyticFn(PetscInt dim, const PetscReal x[], PetscScalar *val, void *ctx)
{
  const Analytic *an = ctx;

  (void)dim;
  *val = McAnalyticTruth(an->kind, an->dim, an->lo, an->hi, an->a, x);
  return 0;
}

static PetscErrorCode CreateTruth(const McConfig *cfg, McProblem *pb)
{
  PetscFunctionBeginUser;
  PetscCall(McPriorCreateVector(pb->prior, &pb->mtrue));
  switch (cfg->data.truth) {
  case MC_TRUTH_PRIOR_SAMPLE: {
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    PetscCheck(rng, PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory creating a random number generator");
    gsl_rng_set(rng, (unsigned long)cfg->data.truth_seed);
    PetscCall(McPriorSample(pb->prior, rng, pb->mtrue));
    gsl_rng_free(rng);
    break;
  }
  case MC_TRUTH_PRIOR_MEAN:
    PetscCall(VecCopy(pb->m0, pb->mtrue));
    break;
  default: { /* the named analytic fields, added to the prior mean */
    Analytic an;
    McSpace  space;
    DM       dm;
    PetscCall(McMeshGetDM(pb->mesh, &dm));
    PetscCall(DMGetBoundingBox(dm, an.lo, an.hi));
    an.kind = cfg->data.truth;
    an.dim = cfg->mesh.dim;
    an.a = 2 * (cfg->prior.by_coefficients ? 1.0 : cfg->prior.std_dev);
    PetscCall(McForwardGetParameterSpace(pb->fw, &space));
    PetscCall(McSpaceInterpolate(space, AnalyticFn, &an, pb->mtrue));
    PetscCall(VecAXPY(pb->mtrue, 1.0, pb->m0));
    break;
  }
  }
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------ data */

/* [noise] covariance_file: M rows of M numbers, symmetric positive definite
 * (the model checks symmetry and definiteness; here shape, with file:line). */
static PetscErrorCode SetNoiseCovariance(const McConfig *cfg, McProblem *pb, char *msg, size_t len, PetscBool *valid)
{
  const char *path = cfg->noise.covariance_file;
  PetscInt    n;
  PetscReal  *g;

  PetscFunctionBeginUser;
  PetscCall(McReadTable(path, pb->nobs, "noise covariance entries, one row per observation", &n, &g, msg, len, valid));
  if (!*valid) PetscFunctionReturn(0);
  if (n != pb->nobs) {
    Fail(msg, len, valid, "%s: the noise covariance has %d rows, but there are %d observations", path, (int)n,
         (int)pb->nobs);
  } else {
    for (PetscInt i = 0; i < n && *valid; i++)
      for (PetscInt j = 0; j < i && *valid; j++)
        if (g[i * n + j] != g[j * n + i])
          Fail(msg, len, valid, "%s:%d: the noise covariance is not symmetric: entry %d is %g, row %d has %g", path,
               (int)i + 1, (int)j + 1, (double)g[i * n + j], (int)j + 1, (double)g[j * n + i]);
    if (*valid) {
      PetscErrorCode ierr;
      PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
      ierr = McPosteriorSetNoiseCovariance(pb->post, n, g);
      PetscCall(PetscPopErrorHandler());
      if (ierr) Fail(msg, len, valid, "%s: the noise covariance is not positive definite", path);
    }
  }
  PetscCall(PetscFree(g));
  PetscFunctionReturn(0);
}

/* [prior] kl_modes and [[qoi]]: the sampler's coordinates and the
 * quantities recorded with every draw. */
static PetscErrorCode SetParameterisationAndQoI(const McConfig *cfg, McProblem *pb, char *msg, size_t len,
                                                PetscBool *valid)
{
  PetscInt nm;

  PetscFunctionBeginUser;
  PetscCall(VecGetSize(pb->m0, &nm));
  if (cfg->prior.kl_modes > 0) {
    if (cfg->prior.kl_modes >= nm) {
      Fail(msg, len, valid, "%s: [prior] kl_modes = %d must be less than the %d parameter dofs of this mesh",
           cfg->source, (int)cfg->prior.kl_modes, (int)nm);
      PetscFunctionReturn(0);
    }
    PetscCall(McPriorSetUpKL(pb->prior, cfg->prior.kl_modes));
    PetscCall(McPosteriorSetParameterization(pb->post, MC_PARAM_KL));
  }
  for (PetscInt i = 0; i < cfg->nqoi; i++) {
    const McConfigQoI *c = &cfg->qoi[i];
    McQoISpec          q;
    PetscErrorCode     ierr;
    PetscCall(PetscMemzero(&q, sizeof(q)));
    PetscCall(PetscStrncpy(q.name, c->name, sizeof(q.name)));
    q.kind  = c->kind == MC_QOI_KIND_MEAN ? MC_QOI_MEAN : c->kind == MC_QOI_KIND_POINT ? MC_QOI_POINT : MC_QOI_LOG_FLUX;
    if (q.kind == MC_QOI_LOG_FLUX) {
      if (cfg->mesh.kind != MC_MESH_BOX || c->side / 2 >= cfg->mesh.dim) {
        Fail(msg, len, valid, "%s: [[qoi]] #%d \"%s\": kind = \"log_flux\" needs a box mesh and a side of it", cfg->source, (int)i + 1, c->name);
        PetscFunctionReturn(0);
      }
      q.axis = c->side / 2;
      q.side = c->side % 2;
    }
    q.state = c->field == MC_QOI_FIELD_U ? PETSC_TRUE : PETSC_FALSE;
    for (int d = 0; d < 3; d++) {
      q.lower[d] = c->lower[d];
      q.upper[d] = c->upper[d];
      q.point[d] = c->point[d];
      if (q.kind == MC_QOI_LOG_FLUX) q.lower[d] = cfg->mesh.lower[d], q.upper[d] = cfg->mesh.upper[d];
    }
    /* A point outside the mesh or an empty region is the user's mistake:
     * one line, not a PETSc traceback. */
    PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
    ierr = McPosteriorAddQoI(pb->post, &q);
    PetscCall(PetscPopErrorHandler());
    if (ierr) {
      Fail(msg, len, valid, "%s: [[qoi]] #%d \"%s\": %s", cfg->source, (int)i + 1, c->name,
           q.kind == MC_QOI_POINT ? "the point is outside the mesh" : q.kind == MC_QOI_LOG_FLUX ? "the flux cannot be set up" : "the region contains no mesh vertex");
      PetscFunctionReturn(0);
    }
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode SetData(const McConfig *cfg, McProblem *pb, char *msg, size_t len, PetscBool *valid)
{
  PetscBool relative = cfg->noise.kind == MC_NOISE_RELATIVE ? PETSC_TRUE : PETSC_FALSE;
  Vec       sig;

  PetscFunctionBeginUser;
  if (cfg->noise.covariance_file[0]) {
    PetscCall(SetNoiseCovariance(cfg, pb, msg, len, valid));
    if (!*valid) PetscFunctionReturn(0);
  }
  if (cfg->data.kind == MC_DATA_SYNTHETIC) {
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    PetscCheck(rng, PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory creating a random number generator");
    char           why[1024] = "";
    PetscErrorCode ierr;
    gsl_rng_set(rng, (unsigned long)cfg->data.noise_seed);
    PetscCall(CreateTruth(cfg, pb));
    /* The truth's forward solve fails when exp(m) overflows (a huge prior
     * std_dev) or the solver options cannot solve it: the user's to fix. */
    PetscCall(PetscPushErrorHandler(CaptureError, why));
    ierr = McPosteriorSynthesize(pb->post, pb->mtrue, cfg->noise.sigma, relative, rng);
    PetscCall(PetscPopErrorHandler());
    gsl_rng_free(rng);
    if (ierr == PETSC_ERR_NOT_CONVERGED) {
      Fail(msg, len, valid,
           "%s: [data] synthetic data: %s; lower [prior] std_dev, use truth = \"prior_mean\", or check the solver "
           "options",
           cfg->source, why);
      PetscFunctionReturn(0);
    }
    PetscCall(ierr);
  } else {
    PetscInt   n;
    PetscReal *vals, scale = 1;
    Vec        d;
    char       where[2 * MC_CONFIG_PATH_MAX + 16];
    PetscCall(McReadTableFile(cfg->data.file, cfg->data.dataset, "observed_data/y", 1, "observed value", &n, &vals,
                              where, sizeof where, msg, len, valid));
    if (!*valid) PetscFunctionReturn(0);
    if (n != pb->nobs) {
      Fail(msg, len, valid, "%s: %d observed values, but there are %d observation points", where, (int)n,
           (int)pb->nobs);
      PetscCall(PetscFree(vals));
      PetscFunctionReturn(0);
    }
    PetscCall(McObsOperatorCreateVector(pb->obs, &d));
    for (PetscInt i = 0; i < n; i++) {
      PetscCall(VecSetValue(d, i, vals[i], INSERT_VALUES));
      if (relative) scale = i ? PetscMax(scale, PetscAbsReal(vals[i])) : PetscAbsReal(vals[i]);
    }
    PetscCall(VecAssemblyBegin(d));
    PetscCall(VecAssemblyEnd(d));
    PetscCall(PetscFree(vals));
    if (!(cfg->noise.sigma * scale > 0)) {
      Fail(msg, len, valid, "%s: relative noise needs a non-zero observed value (all are 0)", cfg->data.file);
      PetscCall(VecDestroy(&d));
      PetscFunctionReturn(0);
    }
    PetscCall(McPosteriorSetData(pb->post, d, cfg->noise.sigma * scale, NULL));
    PetscCall(VecDestroy(&d));
  }
  PetscCall(McPosteriorGetData(pb->post, NULL, &sig, NULL));
  PetscCall(VecMax(sig, NULL, &pb->sigma));
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------ a UM-Bridge model */

/* What the sampler needs of a remote model: the connection, the sizes, the
 * gradient when a gradient-based kernel is chosen, and for output =
 * "observations" the data (read, or synthesized from a truth in the model's
 * input coordinates with the same seeds as the PDE problem's) and sigma. */
static PetscErrorCode CreateRemote(const McConfig *cfg, McProblem *pb, char *msg, size_t len, PetscBool *valid)
{
  McUmbClientSpec spec = {cfg->model.url, cfg->model.name, cfg->model.config, cfg->model.timeout,
                          cfg->model.retries, cfg->model.retry_backoff};
  PetscInt        nout;
  PetscBool       grad;
  char            why[1536];

  PetscFunctionBeginUser;
  pb->umb_output = cfg->model.output;
  PetscCall(McUmbClientCreate(&spec, &pb->umb, why, sizeof(why), valid));
  if (!*valid) {
    snprintf(msg, len, "%s: %s", cfg->source, why);
    PetscFunctionReturn(0);
  }
  PetscCall(McUmbClientGetSizes(pb->umb, &pb->nparams, &nout));
  PetscCall(McUmbClientSupports(pb->umb, NULL, &grad, NULL, NULL));
  const char *k = McKernelKindName(cfg->sampler.kernel);
  if (!grad && (!strcmp(k, MC_KERNEL_MALA) || !strcmp(k, MC_KERNEL_INFMALA) || !strcmp(k, MC_KERNEL_INFHMC))) {
    Fail(msg, len, valid,
         "%s: [sampler] kernel = \"%s\" needs the gradient, but UM-Bridge model %s at %s does not support Gradient "
         "(its ModelInfo says so); choose pcn, rwm or am",
         cfg->source, k, cfg->model.name, cfg->model.url);
    PetscFunctionReturn(0);
  }
  if (cfg->model.output != MC_UMB_OBSERVATIONS) {
    if (nout != 1)
      Fail(msg, len, valid, "%s: [model] output = \"%s\" needs a model with one output value; %s has %d", cfg->source,
           cfg->model.output == MC_UMB_LOGDENSITY ? "logdensity" : "loglikelihood", cfg->model.name, (int)nout);
    PetscFunctionReturn(0);
  }
  pb->nobs = nout;
  PetscCall(PetscMalloc1(nout, &pb->data));
  if (cfg->data.kind == MC_DATA_FILE) {
    PetscInt   n;
    PetscReal *vals;
    char       where[2 * MC_CONFIG_PATH_MAX + 16];
    PetscCall(McReadTableFile(cfg->data.file, cfg->data.dataset, "observed_data/y", 1, "observed value", &n, &vals,
                              where, sizeof where, msg, len, valid));
    if (!*valid) PetscFunctionReturn(0);
    if (n != nout) Fail(msg, len, valid, "%s: %d observed values, but model %s has %d outputs", where, (int)n,
                        cfg->model.name, (int)nout);
    else PetscCall(PetscArraycpy(pb->data, vals, n));
    PetscCall(PetscFree(vals));
  } else {
    PetscReal  *xi;
    McUmbStatus st;
    gsl_rng    *rng = gsl_rng_alloc(gsl_rng_mt19937);
    PetscCheck(rng, PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory creating a random number generator");
    PetscCall(PetscCalloc1(pb->nparams, &xi));
    gsl_rng_set(rng, (unsigned long)cfg->data.truth_seed);
    if (cfg->data.truth == MC_TRUTH_PRIOR_SAMPLE)
      for (PetscInt i = 0; i < pb->nparams; i++) xi[i] = gsl_ran_gaussian_ziggurat(rng, 1.0);
    PetscCall(McUmbClientEvaluate(pb->umb, xi, pb->data, &st));
    PetscCall(PetscFree(xi));
    if (st != MC_UMB_OK) {
      Fail(msg, len, valid, "%s: model %s could not be evaluated at the truth: %s", cfg->source, cfg->model.name,
           McUmbClientGetError(pb->umb));
    } else {
      PetscReal scale = 0;
      for (PetscInt i = 0; i < nout; i++) scale = PetscMax(scale, PetscAbsReal(pb->data[i]));
      pb->sigma = cfg->noise.sigma * (cfg->noise.kind == MC_NOISE_RELATIVE ? scale : 1.0);
      gsl_rng_set(rng, (unsigned long)cfg->data.noise_seed);
      for (PetscInt i = 0; i < nout; i++) pb->data[i] += pb->sigma * gsl_ran_gaussian_ziggurat(rng, 1.0);
    }
    gsl_rng_free(rng);
    if (!*valid) PetscFunctionReturn(0);
  }
  if (cfg->data.kind == MC_DATA_FILE) {
    PetscReal scale = 0;
    for (PetscInt i = 0; i < nout; i++) scale = PetscMax(scale, PetscAbsReal(pb->data[i]));
    pb->sigma = cfg->noise.sigma * (cfg->noise.kind == MC_NOISE_RELATIVE ? scale : 1.0);
  }
  if (!(pb->sigma > 0))
    Fail(msg, len, valid, "%s: relative noise needs a non-zero observed value (all are 0)", cfg->source);
  PetscFunctionReturn(0);
}

/* ---------------------------------------------------------------- public */

PetscErrorCode McProblemCreate(const McConfig *cfg, McProblem **problem, char *msg, size_t len, PetscBool *valid)
{
  PetscFunctionBeginUser;
  PetscCall(McProblemCreateOnComm(cfg, PETSC_COMM_WORLD, problem, msg, len, valid));
  PetscFunctionReturn(0);
}

/* [sampler] proposal_covariance_file: nparams rows of nparams numbers,
 * symmetric and positive definite (checked here, so a mistake is a
 * configuration error naming the file rather than a failure at set-up). */
static PetscErrorCode ReadProposalCovariance(const McConfig *cfg, McProblem *pb, char *msg, size_t len,
                                             PetscBool *valid)
{
  const char *path = cfg->sampler.proposal_covariance_file;
  PetscInt    n, N = pb->nparams;
  PetscReal  *c, *f;

  PetscFunctionBeginUser;
  PetscCall(McReadTable(path, N, "proposal covariance entries, one row per sampler coordinate", &n, &c, msg, len,
                        valid));
  if (!*valid) PetscFunctionReturn(0);
  if (n != N) Fail(msg, len, valid, "%s: the proposal covariance has %d rows, but the sampler has %d coordinates", path,
                   (int)n, (int)N);
  for (PetscInt i = 0; i < n && *valid; i++)
    for (PetscInt j = 0; j < i && *valid; j++)
      if (c[i * n + j] != c[j * n + i])
        Fail(msg, len, valid, "%s:%d: the proposal covariance is not symmetric: entry %d is %g, row %d has %g", path,
             (int)i + 1, (int)j + 1, (double)c[i * n + j], (int)j + 1, (double)c[j * n + i]);
  if (*valid) {
    gsl_matrix_view v;
    PetscCall(PetscMalloc1(n * n, &f));
    PetscCall(PetscArraycpy(f, c, n * n));
    v = gsl_matrix_view_array(f, (size_t)n, (size_t)n);
    {
      gsl_error_handler_t *old = gsl_set_error_handler_off();
      if (gsl_linalg_cholesky_decomp1(&v.matrix)) Fail(msg, len, valid, "%s: the proposal covariance is not positive definite", path);
      gsl_set_error_handler(old);
    }
    PetscCall(PetscFree(f));
  }
  if (*valid) pb->rwm_covariance = c;
  else PetscCall(PetscFree(c));
  PetscFunctionReturn(0);
}

static PetscErrorCode ProblemFree(McProblem *pb)
{
  PetscFunctionBeginUser;
  PetscCall(VecDestroy(&pb->mtrue));
  PetscCall(VecDestroy(&pb->m0));
  PetscCall(VecDestroy(&pb->work));
  PetscCall(McPosteriorDestroy(&pb->post));
  PetscCall(McPriorDestroy(&pb->prior));
  PetscCall(McObsOperatorDestroy(&pb->obs));
  PetscCall(McForwardDestroy(&pb->fw));
  PetscCall(McMeshDestroy(&pb->mesh));
  PetscCall(PetscFree(pb->obs_coords));
  PetscCall(McUmbClientDestroy(&pb->umb));
  PetscCall(PetscFree(pb->data));
  PetscCall(PetscFree(pb->rwm_covariance));
  PetscFunctionReturn(0);
}

/* A dealloc cannot return an error: a failing release means a corrupted
 * object, reported by PETSc before the abort. */
static void ProblemDealloc(McObject *o)
{
  PetscCallAbort(PETSC_COMM_SELF, ProblemFree((McProblem *)o));
}

/* No traverse (see app.h): a problem is never part of a cycle. */
static const McType McProblemType = {"McProblem", sizeof(McProblem), NULL, ProblemDealloc, NULL, NULL};

PetscErrorCode McProblemCreateOnComm(const McConfig *cfg, MPI_Comm comm, McProblem **problem, char *msg, size_t len,
                                     PetscBool *valid)
{
  McProblem *pb;

  PetscFunctionBeginUser;
  *valid = PETSC_TRUE;
  msg[0] = '\0';
  PetscCall(McObjectCreate(&McProblemType, &pb));
  pb->comm = comm;
  *problem = pb;
  if (cfg->model.kind == MC_MODEL_UMBRIDGE) {
    PetscCall(CreateRemote(cfg, pb, msg, len, valid));
    if (*valid && cfg->sampler.proposal_covariance_file[0]) /* given only with kernel = "rwm" */
      PetscCall(ReadProposalCovariance(cfg, pb, msg, len, valid));
    PetscFunctionReturn(0);
  }
  if (cfg->fem.parameter_order != 1) {
    Fail(msg, len, valid,
         "%s: [fem] parameter_order = %d is not supported yet: the prior needs a P1 parameter field "
         "(parameter_order = 1)",
         cfg->source, (int)cfg->fem.parameter_order);
    PetscFunctionReturn(0);
  }
  PetscCall(CreateMesh(cfg, pb, msg, len, valid));
  if (*valid) PetscCall(CreateForward(cfg, pb, msg, len, valid));
  if (*valid) PetscCall(CreateObservations(cfg, pb, msg, len, valid));
  if (*valid) PetscCall(CheckCorrelationLength(cfg, pb, msg, len, valid));
  if (!*valid) PetscFunctionReturn(0);
  PetscCall(CreatePrior(cfg, pb, msg, len, valid));
  if (*valid && cfg->prior.mean_file[0]) PetscCall(CheckMeanMesh(cfg, pb, msg, len, valid));
  if (!*valid) PetscFunctionReturn(0);
  PetscCall(McPosteriorCreate(pb->fw, pb->obs, pb->prior, &pb->post));
  PetscCall(SetData(cfg, pb, msg, len, valid));
  if (*valid) PetscCall(SetParameterisationAndQoI(cfg, pb, msg, len, valid));
  if (!*valid) PetscFunctionReturn(0);
  {
    Vec xi;
    PetscCall(McPosteriorCreateParameterVector(pb->post, &xi));
    PetscCall(VecGetSize(xi, &pb->nparams));
    PetscCall(VecDestroy(&xi));
  }
  if (cfg->sampler.proposal_covariance_file[0]) /* given only with kernel = "rwm" */
    PetscCall(ReadProposalCovariance(cfg, pb, msg, len, valid));
  PetscFunctionReturn(0);
}

const char *McKernelKindName(McKernelKind k)
{
  static const char *const names[] = {MC_KERNEL_PCN,     MC_KERNEL_RWM,    MC_KERNEL_AM,    MC_KERNEL_MALA,
                                      MC_KERNEL_INFMALA, MC_KERNEL_HPCN,   MC_KERNEL_HMALA, MC_KERNEL_DILI,
                                      MC_KERNEL_DR,      MC_KERNEL_INFHMC, MC_KERNEL_HHMC};
  return names[k];
}

PetscErrorCode McProblemDestroy(McProblem **problem)
{
  PetscFunctionBeginUser;
  if (!*problem) PetscFunctionReturn(0);
  PetscCall(McObjectDestroy(problem));
  /* The mesh caches its spaces and each space points back to it: a cycle
   * only the collector frees. */
  PetscCall(McGCCollect(2, NULL));
  PetscFunctionReturn(0);
}

PetscErrorCode McProblemFieldError(McProblem *pb, Vec m, PetscReal *abs_err, PetscReal *rel_err)
{
  PetscScalar e2, t2;

  PetscFunctionBeginUser;
  /* Mass-weighted L2 norms with the prior's lumped mass: sum_i ml_i x_i^2. */
  PetscCall(VecWAXPY(pb->work, -1.0, pb->mtrue, m));
  PetscCall(VecPointwiseMult(pb->work, pb->work, pb->work));
  PetscCall(VecDot(pb->work, pb->ml, &e2));
  PetscCall(VecPointwiseMult(pb->work, pb->mtrue, pb->mtrue));
  PetscCall(VecDot(pb->work, pb->ml, &t2));
  *abs_err = PetscSqrtReal(PetscRealPart(e2));
  *rel_err = PetscRealPart(t2) > 0 ? *abs_err / PetscSqrtReal(PetscRealPart(t2)) : -1;
  PetscFunctionReturn(0);
}
