/* Meshes: box meshes (tensor and simplex, 2D and 3D) with per-side labels,
 * the shipped Gmsh meshes (4.1 and 2.2) with their physical names as labels,
 * a solve on each, points located in the L-shape (McMeshLocatePoints),
 * and clear errors for bad input: missing file, foreign
 * format, unsupported version, binary file, inverted and degenerate cells,
 * a boundary label the mesh lacks. */
#include "fem_test.h"

#include <stdlib.h>
#include <string.h>

/* Number of faces, total measure and the range of coordinate `d` of the
 * face centroids carrying label `name` (value 1), over all ranks. */
static PetscErrorCode LabelFaces(McMesh mesh, const char *name, PetscInt d, PetscInt *n, PetscReal *measure,
                                 PetscReal *lo, PetscReal *hi)
{
  DM        dm;
  DMLabel   label;
  IS        is;
  PetscInt  fStart, fEnd, cnt = 0;
  PetscReal sum = 0, mn = PETSC_MAX_REAL, mx = PETSC_MIN_REAL;

  PetscFunctionBeginUser;
  PetscCall(McMeshGetDM(mesh, &dm));
  PetscCall(DMGetLabel(dm, name, &label));
  PetscCheck(label, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "no label %s", name);
  PetscCall(DMPlexGetHeightStratum(dm, 1, &fStart, &fEnd));
  PetscCall(DMLabelGetStratumIS(label, 1, &is));
  if (is) {
    const PetscInt *pts;
    PetscInt        np;
    PetscCall(ISGetLocalSize(is, &np));
    PetscCall(ISGetIndices(is, &pts));
    for (PetscInt i = 0; i < np; i++) {
      PetscReal vol, c[3], nrm[3];
      if (pts[i] < fStart || pts[i] >= fEnd) continue;
      PetscCall(DMPlexComputeCellGeometryFVM(dm, pts[i], &vol, c, nrm));
      cnt++;
      sum += vol;
      mn = PetscMin(mn, c[d]);
      mx = PetscMax(mx, c[d]);
    }
    PetscCall(ISRestoreIndices(is, &pts));
    PetscCall(ISDestroy(&is));
  }
  PetscCall(MPIU_Allreduce(&cnt, n, 1, MPIU_INT, MPI_SUM, PETSC_COMM_WORLD));
  PetscCall(MPIU_Allreduce(&sum, measure, 1, MPIU_REAL, MPI_SUM, PETSC_COMM_WORLD));
  PetscCall(MPIU_Allreduce(&mn, lo, 1, MPIU_REAL, MPI_MIN, PETSC_COMM_WORLD));
  PetscCall(MPIU_Allreduce(&mx, hi, 1, MPIU_REAL, MPI_MAX, PETSC_COMM_WORLD));
  PetscFunctionReturn(0);
}

static PetscErrorCode Volume(McMesh mesh, PetscInt *ncells, PetscReal *vol)
{
  DM        dm;
  PetscInt  cStart, cEnd, n;
  PetscReal v = 0;

  PetscFunctionBeginUser;
  PetscCall(McMeshGetDM(mesh, &dm));
  PetscCall(DMPlexGetHeightStratum(dm, 0, &cStart, &cEnd));
  for (PetscInt c = cStart; c < cEnd; c++) {
    PetscReal cv, cen[3];
    PetscCall(DMPlexComputeCellGeometryFVM(dm, c, &cv, cen, NULL));
    v += cv;
  }
  n = cEnd - cStart;
  PetscCall(MPIU_Allreduce(&n, ncells, 1, MPIU_INT, MPI_SUM, PETSC_COMM_WORLD));
  PetscCall(MPIU_Allreduce(&v, vol, 1, MPIU_REAL, MPI_SUM, PETSC_COMM_WORLD));
  PetscFunctionReturn(0);
}

static const char *sides2[4] = {"left", "right", "bottom", "top"};
static const char *sides3[6] = {"left", "right", "front", "back", "bottom", "top"};

/* Side label s of a unit box lies on coordinate axis[s] = value[s]. */
static PetscErrorCode CheckSides(McMesh mesh, PetscInt dim, PetscInt facesPerSide, PetscReal extent[3])
{
  static const PetscInt axis2[4] = {0, 0, 1, 1}, axis3[6] = {0, 0, 1, 1, 2, 2};

  PetscFunctionBeginUser;
  for (PetscInt s = 0; s < 2 * dim; s++) {
    const char *name = dim == 2 ? sides2[s] : sides3[s];
    PetscInt    ax = dim == 2 ? axis2[s] : axis3[s], n;
    PetscReal   at = (s % 2) ? extent[ax] : 0.0, meas, lo, hi, expect = 1;
    for (PetscInt d = 0; d < dim; d++)
      if (d != ax) expect *= extent[d];
    PetscCall(LabelFaces(mesh, name, ax, &n, &meas, &lo, &hi));
    if (facesPerSide > 0) CHECK(n == facesPerSide, "label %s: %d faces, expected %d", name, (int)n, (int)facesPerSide);
    CHECK(PetscAbsReal(lo - at) < 1e-12 && PetscAbsReal(hi - at) < 1e-12,
          "label %s: face centroids at %g..%g, expected %g", name, (double)lo, (double)hi, (double)at);
    CHECK(PetscAbsReal(meas - expect) < 1e-12, "label %s: measure %g, expected %g", name, (double)meas, (double)expect);
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode TestBoxes(void)
{
  struct {
    PetscInt  dim, n;
    PetscBool simplex;
    PetscInt  cells, facesPerSide;
  } cases[] = {
      {2, 4, PETSC_FALSE, 16, 4},
      {2, 4, PETSC_TRUE, 32, 4},
      {3, 3, PETSC_FALSE, 27, 9},
      {3, 3, PETSC_TRUE, 162, 18},
  };

  PetscFunctionBeginUser;
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    McMeshSpec ms = BoxSpec(cases[k].dim, cases[k].n, cases[k].simplex);
    McMesh     mesh;
    PetscInt   nc;
    PetscReal  vol, extent[3] = {2.0, 1.0, 0.5};
    for (PetscInt d = 0; d < 3; d++)
      ms.upper[d] = extent[d];
    PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
    PetscCall(Volume(mesh, &nc, &vol));
    CHECK(nc == cases[k].cells, "box case %d: %d cells, expected %d", (int)k, (int)nc, (int)cases[k].cells);
    CHECK(PetscAbsReal(vol - (cases[k].dim == 2 ? 2.0 : 1.0)) < 1e-12, "box case %d: volume %g", (int)k, (double)vol);
    PetscCall(CheckSides(mesh, cases[k].dim, cases[k].facesPerSide, extent));
    PetscCall(McMeshDestroy(&mesh));
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode SolveOn(McMesh mesh, const char *dlabel0, const char *dlabel1, PetscReal *umin, PetscReal *umax)
{
  McPDESpec ps;
  McForward fw;
  McSpace   mspace;
  Vec       m, u;
  PetscBool ok;

  PetscFunctionBeginUser;
  PetscCall(McPDESpecDefault(&ps));
  ps.source = 0.0;
  ps.ndirichlet = 2;
  ps.dirichlet_labels[0] = dlabel0;
  ps.dirichlet_values[0] = 1.0;
  ps.dirichlet_labels[1] = dlabel1;
  ps.dirichlet_values[1] = 0.0;
  PetscCall(McForwardCreate(mesh, &ps, &fw));
  PetscCall(McForwardSetUp(fw));
  PetscCall(McForwardGetParameterSpace(fw, &mspace));
  PetscCall(McSpaceCreateVector(mspace, &m));
  PetscCall(VecSet(m, 0.0));
  PetscCall(McForwardSolve(fw, m, &ok));
  CHECK(ok, "solve failed");
  PetscCall(McForwardGetState(fw, &u));
  PetscCall(VecMin(u, NULL, umin));
  PetscCall(VecMax(u, NULL, umax));
  PetscCall(VecDestroy(&m));
  PetscCall(McForwardDestroy(&fw));
  PetscFunctionReturn(0);
}

static PetscErrorCode TestGmsh(const char *srcdir)
{
  char       path[PETSC_MAX_PATH_LEN];
  McMeshSpec ms;
  McMesh     mesh;
  PetscInt   nc, n;
  PetscReal  vol, meas, lo, hi, umin, umax;
  PetscReal  ext[3] = {1, 1, 1};

  PetscFunctionBeginUser;
  PetscCall(McMeshSpecDefault(&ms));
  ms.gmsh_file = path;

  PetscCall(PetscSNPrintf(path, sizeof(path), "%s/meshes/lshape.msh", srcdir));
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
  PetscCall(Volume(mesh, &nc, &vol));
  CHECK(PetscAbsReal(vol - 0.75) < 1e-12, "L-shape area %g, expected 0.75", (double)vol);
  PetscCall(LabelFaces(mesh, "inlet", 0, &n, &meas, &lo, &hi));
  CHECK(PetscAbsReal(meas - 1.0) < 1e-12 && hi < 1e-12, "L-shape inlet: length %g at x %g..%g", (double)meas,
        (double)lo, (double)hi);
  PetscCall(LabelFaces(mesh, "outlet", 0, &n, &meas, &lo, &hi));
  CHECK(PetscAbsReal(meas - 0.5) < 1e-12 && lo > 1 - 1e-12, "L-shape outlet: length %g at x %g..%g", (double)meas,
        (double)lo, (double)hi);
  PetscCall(LabelFaces(mesh, "wall", 0, &n, &meas, &lo, &hi));
  CHECK(PetscAbsReal(meas - 2.5) < 1e-12, "L-shape wall: length %g, expected 2.5", (double)meas);
  {
    /* McMeshLocatePoints on a 10 x 10 grid of cell centres over the unit
     * square: inside exactly when not in the missing quarter x, y > 0.5, on
     * every rank of a distributed mesh; the corner (1, 0) and the
     * re-entrant corner (0.5, 0.5) lie on the boundary and count. */
    PetscReal g[2 * 102];
    PetscBool in[102];
    PetscInt  wrong = 0, nin = 0;
    for (PetscInt i = 0; i < 100; i++) {
      g[2 * i] = 0.05 + 0.1 * (i % 10);
      g[2 * i + 1] = 0.05 + 0.1 * (i / 10);
    }
    g[200] = 1.0, g[201] = 0.0, g[202] = 0.5, g[203] = 0.5;
    PetscCall(McMeshLocatePoints(mesh, 102, g, in));
    for (PetscInt i = 0; i < 102; i++) {
      PetscBool expect = i >= 100 || !(g[2 * i] > 0.5 && g[2 * i + 1] > 0.5);
      wrong += in[i] != expect;
      nin += in[i];
    }
    CHECK(wrong == 0 && nin == 77, "L-shape: %d points located wrongly, %d inside (expected 75 + 2 on the boundary)",
          (int)wrong, (int)nin);
  }
  PetscCall(SolveOn(mesh, "inlet", "outlet", &umin, &umax));
  /* Laplace with data 0 and 1: the maximum principle bounds u (P1, acute-ish mesh). */
  CHECK(umin > -1e-6 && umax < 1 + 1e-6 && umax > 0.99, "L-shape: u in [%g, %g], expected within [0, 1]", (double)umin,
        (double)umax);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "lshape.msh (4.1): %d triangles, area %.12f\n", (int)nc, (double)vol));
  PetscCall(McMeshDestroy(&mesh));

  PetscCall(PetscSNPrintf(path, sizeof(path), "%s/meshes/hole.msh", srcdir));
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
  PetscCall(Volume(mesh, &nc, &vol));
  /* The polygonal hole is inscribed in the circle: its area is a little
   * below pi r^2 (edge length h/2 = 0.025 on r = 0.2: relative 0.3%). */
  CHECK(vol > 1 - PETSC_PI * 0.04 && vol < 1 - PETSC_PI * 0.04 * 0.99, "hole: area %g", (double)vol);
  PetscCall(LabelFaces(mesh, "hole", 0, &n, &meas, &lo, &hi));
  CHECK(PetscAbsReal(lo - 0.3) < 0.01 && PetscAbsReal(hi - 0.7) < 0.01 &&
            PetscAbsReal(meas - 2 * PETSC_PI * 0.2) < 0.01,
        "hole label: x %g..%g, length %g", (double)lo, (double)hi, (double)meas);
  PetscCall(CheckSides(mesh, 2, -1, ext));
  PetscCall(SolveOn(mesh, "left", "hole", &umin, &umax));
  CHECK(umin > -1e-6 && umax < 1 + 1e-6, "hole: u in [%g, %g]", (double)umin, (double)umax);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "hole.msh (2.2): %d triangles, area %.6f\n", (int)nc, (double)vol));
  PetscCall(McMeshDestroy(&mesh));

  PetscCall(PetscSNPrintf(path, sizeof(path), "%s/meshes/box3d.msh", srcdir));
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
  PetscCall(Volume(mesh, &nc, &vol));
  CHECK(PetscAbsReal(vol - 1) < 1e-12, "box3d: volume %g", (double)vol);
  PetscCall(CheckSides(mesh, 3, -1, ext));
  PetscCall(SolveOn(mesh, "left", "right", &umin, &umax));
  CHECK(umin > -1e-6 && umax < 1 + 1e-6, "box3d: u in [%g, %g]", (double)umin, (double)umax);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "box3d.msh (4.1): %d tetrahedra, volume %.12f\n", (int)nc, (double)vol));
  PetscCall(McMeshDestroy(&mesh));
  PetscFunctionReturn(0);
}

/* Creating a mesh from `file` must fail with a message containing `expect`. */
static PetscErrorCode ExpectMeshError(const char *file, const char *expect)
{
  McMeshSpec     ms;
  McMesh         mesh = NULL;
  PetscErrorCode ierr;
  char          *msg = NULL;

  PetscFunctionBeginUser;
  PetscCall(McMeshSpecDefault(&ms));
  ms.gmsh_file = file;
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh);
  PetscCall(PetscPopErrorHandler());
  PetscCall(PetscErrorMessage(ierr, NULL, &msg));
  CHECK(ierr && !mesh, "%s: accepted", file);
  CHECK(msg && strstr(msg, expect), "%s: message '%s' lacks '%s'", file, msg ? msg : "", expect);
  if (msg && strstr(msg, expect)) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "error as expected: %s\n", msg));
  PetscCall(McMeshDestroy(&mesh));
  PetscFunctionReturn(0);
}

static PetscErrorCode WriteFile(const char *path, const char *text)
{
  PetscMPIInt rank;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0) {
    FILE *fp = fopen(path, "w");
    PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
    fputs(text, fp);
    fclose(fp);
  }
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  PetscFunctionReturn(0);
}

static PetscErrorCode TestBadMeshes(const char *dir)
{
  char        p[PETSC_MAX_PATH_LEN];
  const char *twotri = "$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n5\n1 0 0 0\n2 1 0 0\n3 1 1 0\n4 0 1 0\n5 2 0 "
                       "0\n$EndNodes\n$Elements\n2\n1 2 2 1 1 1 2 3\n";

  PetscFunctionBeginUser;
  PetscCall(ExpectMeshError("/nonexistent/dir/none.msh",
                            "mesh file '/nonexistent/dir/none.msh' cannot be opened (No such file or directory)"));
  PetscCall(PetscSNPrintf(p, sizeof(p), "%s/notamesh.msh", dir));
  PetscCall(WriteFile(p, "solid cube\n  facet normal 0 0 1\n"));
  PetscCall(ExpectMeshError(p, "is not a Gmsh mesh: line 1 should be '$MeshFormat'"));
  PetscCall(PetscSNPrintf(p, sizeof(p), "%s/v3.msh", dir));
  PetscCall(WriteFile(p, "$MeshFormat\n3.0 0 8\n$EndMeshFormat\n"));
  PetscCall(ExpectMeshError(p, "Gmsh format 3 is not supported (expected 2.2 or 4.1)"));
  PetscCall(PetscSNPrintf(p, sizeof(p), "%s/binary.msh", dir));
  PetscCall(WriteFile(p, "$MeshFormat\n4.1 1 8\n$EndMeshFormat\n"));
  PetscCall(ExpectMeshError(p, "binary Gmsh files are not supported"));
  {
    char text[1024];
    /* Second triangle clockwise: (0,0) -> (0,1) -> (1,1). */
    PetscCall(PetscSNPrintf(text, sizeof(text), "%s2 2 2 1 1 1 4 3\n$EndElements\n", twotri));
    PetscCall(PetscSNPrintf(p, sizeof(p), "%s/inverted.msh", dir));
    PetscCall(WriteFile(p, text));
    PetscCall(ExpectMeshError(p, "inverted.msh: cell 1 is inverted"));
    /* Second triangle with three collinear vertices. */
    PetscCall(PetscSNPrintf(text, sizeof(text), "%s2 2 2 1 1 1 2 5\n$EndElements\n", twotri));
    PetscCall(PetscSNPrintf(p, sizeof(p), "%s/degenerate.msh", dir));
    PetscCall(WriteFile(p, text));
    PetscCall(ExpectMeshError(p, "degenerate.msh: cell 1 is degenerate"));
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode TestMissingLabel(void)
{
  McMeshSpec     ms = BoxSpec(2, 4, PETSC_TRUE);
  McMesh         mesh;
  McPDESpec      ps;
  McForward      fw;
  PetscErrorCode ierr;
  char          *msg = NULL;

  PetscFunctionBeginUser;
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
  PetscCall(McPDESpecDefault(&ps));
  ps.ndirichlet = 2;
  ps.dirichlet_labels[0] = "left";
  ps.dirichlet_labels[1] = "inlet";
  PetscCall(McForwardCreate(mesh, &ps, &fw));
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = McForwardSetUp(fw);
  PetscCall(PetscPopErrorHandler());
  PetscCall(PetscErrorMessage(ierr, NULL, &msg));
  CHECK(ierr, "a missing boundary label was accepted");
  CHECK(msg &&
            strstr(msg, "mesh 'box 4x4 triangles' has no boundary label 'inlet' (named as a Dirichlet boundary); its "
                        "labels are: ") &&
            strstr(msg, "left") && strstr(msg, "top"),
        "message was '%s'", msg ? msg : "");
  if (msg) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "error as expected: %s\n", msg));
  PetscCall(McForwardDestroy(&fw));
  PetscCall(McMeshDestroy(&mesh));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  const char *src = getenv("MC_SOURCE_DIR");
  char        tmp[PETSC_MAX_PATH_LEN];

  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCheck(src, PETSC_COMM_WORLD, PETSC_ERR_ARG_NULL, "set MC_SOURCE_DIR to the source tree (ctest does)");
  PetscCall(PetscSNPrintf(tmp, sizeof(tmp), "%s", getenv("MC_TEST_TMPDIR") ? getenv("MC_TEST_TMPDIR") : "."));
  PetscCall(TestBoxes());
  PetscCall(TestGmsh(src));
  PetscCall(TestBadMeshes(tmp));
  PetscCall(TestMissingLabel());
  PetscCall(CollectAndCheck());
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", failures ? "FAILED" : "PASSED"));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
