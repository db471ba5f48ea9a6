/* The mesh file and the XDMF side-car that let ParaView (and
 * scripts/plot_run.py) show the run's fields on the mesh.
 *
 * The mesh file holds plain coordinates and connectivity at the paths
 * PETSc's DMView HDF5 output uses (/geometry/vertices, /viz/topology/cells),
 * so readers written for either work. The XDMF file references, by paths
 * relative to itself, the mesh file and datasets of the run file: the truth,
 * each chain's running mean and std (fields/), and the thinned field samples
 * (posterior_fields/) as a temporal collection over the global draw index.
 * Both files are written to a temporary name and renamed, so a reader never
 * sees a torn one. */
#include "io/ioimpl.h"
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Fields of constant_data/ shown in the XDMF file at most. */
#define MC_XDMF_MAX_CONSTANTS 32

static const char *McTopologyType(const McOutputMesh *m)
{
  if (m->dim == 2 && m->corners == 3) return "Triangle";
  if (m->dim == 2 && m->corners == 4) return "Quadrilateral";
  if (m->dim == 3 && m->corners == 4) return "Tetrahedron";
  if (m->dim == 3 && m->corners == 8) return "Hexahedron";
  return NULL;
}

PetscErrorCode McOutputWriteMesh(const char *path, const McOutputMesh *m)
{
  struct _p_McOutput dummy; /* MC_H5 needs only path and failed */
  char               tmp[PETSC_MAX_PATH_LEN];
  hid_t              file, g, v, space, ds;
  hsize_t            vd[2] = {(hsize_t)m->nvertices, (hsize_t)m->dim}, cd[2] = {(hsize_t)m->ncells, (hsize_t)m->corners};
  const char        *topo = McTopologyType(m);

  PetscFunctionBeginUser;
  PetscCheck(topo, PETSC_COMM_SELF, PETSC_ERR_SUP, "mesh file %s: cells of %" PetscInt_FMT " vertices in dimension %" PetscInt_FMT " are not supported (triangles, quadrilaterals, tetrahedra, hexahedra)", path, m->corners, m->dim);
  PetscCall(PetscMemzero(&dummy, sizeof dummy));
  PetscCall(PetscSNPrintf(tmp, sizeof tmp, "%s.tmp", path));
  dummy.path = tmp;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  MC_H5(&dummy, tmp, file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  MC_H5(&dummy, "/geometry", g = H5Gcreate2(file, "geometry", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  MC_H5(&dummy, "/viz", v = H5Gcreate2(file, "viz", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  MC_H5(&dummy, "/viz", H5Gclose(v));
  MC_H5(&dummy, "/viz/topology", v = H5Gcreate2(file, "viz/topology", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  MC_H5(&dummy, "/geometry/vertices", space = H5Screate_simple(2, vd, NULL));
  MC_H5(&dummy, "/geometry/vertices", ds = H5Dcreate2(g, "vertices", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  MC_H5(&dummy, "/geometry/vertices", H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, m->coords));
  MC_H5(&dummy, "/geometry/vertices", H5Dclose(ds));
  MC_H5(&dummy, "/geometry/vertices", H5Sclose(space));
  MC_H5(&dummy, "/viz/topology/cells", space = H5Screate_simple(2, cd, NULL));
  MC_H5(&dummy, "/viz/topology/cells", ds = H5Dcreate2(v, "cells", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  MC_H5(&dummy, "/viz/topology/cells", H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, m->cells));
  {
    struct _p_McOutput *o = &dummy;
    PetscCall(McH5AttrString_Private(o, ds, "/viz/topology/cells", "cell_type", topo));
    PetscCall(McH5AttrString_Private(o, ds, "/viz/topology/cells", "description", "rows of /geometry/vertices, corners in XDMF/VTK order; vertex i carries field value i"));
  }
  MC_H5(&dummy, "/viz/topology/cells", H5Dclose(ds));
  MC_H5(&dummy, "/viz/topology/cells", H5Sclose(space));
  MC_H5(&dummy, "/viz/topology", H5Gclose(v));
  MC_H5(&dummy, "/geometry", H5Gclose(g));
  MC_H5(&dummy, tmp, H5Fclose(file));
  PetscCheck(rename(tmp, path) == 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "mesh file %s: cannot rename %s to it: %s", path, tmp, strerror(errno));
  PetscFunctionReturn(0);
}

/* An HDF5 data item: "file:/dataset" of the given dimensions. */
static void McItem(FILE *f, const char *indent, const char *dims, const char *type, const char *file, const char *dset)
{
  fprintf(f, "%s<DataItem Dimensions=\"%s\" NumberType=\"%s\" Precision=\"8\" Format=\"HDF\">%s:%s</DataItem>\n", indent, dims, type, file, dset);
}

/* One row of a [C, nv] or [C, K, nv] dataset as a nodal attribute. */
static void McSlabAttribute(FILE *f, const char *name, const char *file, const char *dset, PetscInt rank, PetscInt c, PetscInt k, PetscInt C, PetscInt K, PetscInt nv)
{
  char dims[96];

  fprintf(f, "      <Attribute Name=\"%s\" AttributeType=\"Scalar\" Center=\"Node\">\n", name);
  fprintf(f, "        <DataItem ItemType=\"HyperSlab\" Dimensions=\"%d\" Type=\"HyperSlab\">\n", (int)nv);
  if (rank == 2) {
    fprintf(f, "          <DataItem Dimensions=\"3 2\" Format=\"XML\">%d 0 1 1 1 %d</DataItem>\n", (int)c, (int)nv);
    snprintf(dims, sizeof dims, "%d %d", (int)C, (int)nv);
  } else {
    fprintf(f, "          <DataItem Dimensions=\"3 3\" Format=\"XML\">%d %d 0 1 1 1 1 1 %d</DataItem>\n", (int)c, (int)k, (int)nv);
    snprintf(dims, sizeof dims, "%d %d %d", (int)C, (int)K, (int)nv);
  }
  McItem(f, "          ", dims, "Float", file, dset);
  fprintf(f, "        </DataItem>\n      </Attribute>\n");
}

static void McMeshItems(FILE *f, const McOutputMesh *m, const char *meshname)
{
  char dims[64];

  fprintf(f, "      <Topology TopologyType=\"%s\" NumberOfElements=\"%d\">\n", McTopologyType(m), (int)m->ncells);
  snprintf(dims, sizeof dims, "%d %d", (int)m->ncells, (int)m->corners);
  McItem(f, "        ", dims, "Int", meshname, "/viz/topology/cells");
  fprintf(f, "      </Topology>\n      <Geometry GeometryType=\"%s\">\n", m->dim == 2 ? "XY" : "XYZ");
  snprintf(dims, sizeof dims, "%d %d", (int)m->nvertices, (int)m->dim);
  McItem(f, "        ", dims, "Float", meshname, "/geometry/vertices");
  fprintf(f, "      </Geometry>\n");
}

PetscErrorCode McOutputWriteXdmf(McOutput o, const char *xmf, const char *mesh_file, const McOutputMesh *m)
{
  char       tmp[PETSC_MAX_PATH_LEN], runcopy[PETSC_MAX_PATH_LEN], meshcopy[PETSC_MAX_PATH_LEN], dims[32];
  const char *run, *meshname, *fname;
  FILE       *f;
  PetscInt64  K = o->committed_fields;
  int         ok;
  htri_t      truth;
  McOutputFieldConst_Private consts[MC_XDMF_MAX_CONSTANTS];
  PetscInt    nconsts;

  PetscFunctionBeginUser;
  PetscCheck(McTopologyType(m), PETSC_COMM_SELF, PETSC_ERR_SUP, "XDMF file %s: unsupported cells (%" PetscInt_FMT " vertices, dimension %" PetscInt_FMT ")", xmf, m->corners, m->dim);
  PetscCheck(o->nv == 0 || o->nv == m->nvertices, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "XDMF file %s: the fields have %" PetscInt_FMT " values, the mesh %" PetscInt_FMT " vertices", xmf, o->nv, m->nvertices);
  /* Paths relative to the XDMF file, which lies next to both. */
  PetscCall(PetscStrncpy(runcopy, o->path, sizeof runcopy));
  PetscCall(PetscStrncpy(meshcopy, mesh_file, sizeof meshcopy));
  run      = basename(runcopy);
  meshname = basename(meshcopy);
  fname    = o->field_path + strlen("posterior_fields/");
  MC_H5(o, "fields/truth", truth = H5Lexists(o->file, "fields", H5P_DEFAULT));
  if (truth > 0) MC_H5(o, "fields/truth", truth = H5Lexists(o->file, "fields/truth", H5P_DEFAULT));
  PetscCall(McOutputListFieldConstants_Private(o, m->nvertices, MC_XDMF_MAX_CONSTANTS, consts, &nconsts));
  PetscCall(PetscSNPrintf(tmp, sizeof tmp, "%s.tmp", xmf));
  f = fopen(tmp, "w");
  PetscCheck(f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "XDMF file %s: cannot create %s: %s", xmf, tmp, strerror(errno));
  fprintf(f, "<?xml version=\"1.0\" ?>\n<!-- Written by mcmc-run: the fields of %s on the mesh of %s. -->\n", run, meshname);
  fprintf(f, "<Xdmf Version=\"3.0\" xmlns:xi=\"http://www.w3.org/2001/XInclude\">\n  <Domain>\n");
  /* The summary: truth, each chain's running mean and std. */
  fprintf(f, "    <Grid Name=\"summary\" GridType=\"Uniform\">\n");
  McMeshItems(f, m, meshname);
  if (o->nv) {
    if (truth > 0) {
      fprintf(f, "      <Attribute Name=\"truth\" AttributeType=\"Scalar\" Center=\"Node\">\n");
      PetscCall(PetscSNPrintf(dims, sizeof dims, "%d", (int)o->nv));
      McItem(f, "        ", dims, "Float", run, "/fields/truth");
      fprintf(f, "      </Attribute>\n");
    }
    for (PetscInt c = 0; c < o->C; c++) {
      char name[64];
      if (!o->wcount[c]) continue; /* no field yet (a --map file): mean and std are NaN */
      PetscCall(PetscSNPrintf(name, sizeof name, "mean_chain%d", (int)c));
      McSlabAttribute(f, name, run, "/fields/mean", 2, c, 0, o->C, 0, o->nv);
      PetscCall(PetscSNPrintf(name, sizeof name, "std_chain%d", (int)c));
      McSlabAttribute(f, name, run, "/fields/std", 2, c, 0, o->C, 0, o->nv);
    }
  }
  McOutputXdmfConstants_Private(f, run, m->nvertices, nconsts, consts); /* MAP, modes, prior mean */
  fprintf(f, "    </Grid>\n");
  /* The stored field samples over time = global draw index. */
  if (o->nv && K > 0) {
    char dset[128];
    PetscCall(PetscSNPrintf(dset, sizeof dset, "/%s", o->field_path));
    fprintf(f, "    <Grid Name=\"%s\" GridType=\"Collection\" CollectionType=\"Temporal\">\n", fname);
    for (PetscInt64 k = 0; k < K; k++) {
      fprintf(f, "    <Grid Name=\"draw %lld\" GridType=\"Uniform\">\n      <Time Value=\"%lld\"/>\n", (long long)(k * o->T), (long long)(k * o->T));
      McMeshItems(f, m, meshname);
      for (PetscInt c = 0; c < o->C; c++) {
        char name[80];
        PetscCall(PetscSNPrintf(name, sizeof name, "%s_chain%d", fname, (int)c));
        McSlabAttribute(f, name, run, dset, 3, c, (PetscInt)k, o->C, (PetscInt)K, o->nv);
      }
      fprintf(f, "    </Grid>\n");
    }
    fprintf(f, "    </Grid>\n");
  }
  fprintf(f, "  </Domain>\n</Xdmf>\n");
  ok = !ferror(f);
  ok = (fclose(f) == 0) && ok;
  if (!ok) {
    int err = errno;
    unlink(tmp);
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "XDMF file %s: cannot write %s: %s", xmf, tmp, strerror(err));
  }
  PetscCheck(rename(tmp, xmf) == 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "XDMF file %s: cannot rename %s to it: %s", xmf, tmp, strerror(errno));
  PetscFunctionReturn(0);
}
