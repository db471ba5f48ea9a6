/* Constant arrays of a run in constant_data/ (McOutputConstant): written
 * once when the file is created, before SWMR writing starts (no object may
 * be created afterwards), and shown in the XDMF file when they are fields
 * on the mesh.
 *
 * The one idea: every array is self-describing. Its dimensions are named
 * coordinates of the group, so xarray and ArviZ read constant_data as a
 * Dataset with the right dims; a field carries the attribute mesh_file, and
 * that attribute (not a list kept in memory) is what the XDMF writer looks
 * for, so a file reopened for --resume shows the same fields. */
#include "io/ioimpl.h"
#include <stdio.h>
#include <string.h>

/* Names already used in constant_data/ by the layout (sensors, noise). */
static const char *const mc_reserved[] = {"sensor_coords", "noise_sigma", "obs_id", "coord", NULL};

static PetscBool McIsReserved(const char *name)
{
  for (int i = 0; mc_reserved[i]; i++)
    if (!strcmp(name, mc_reserved[i])) return PETSC_TRUE;
  return PETSC_FALSE;
}

static PetscErrorCode McCheckConstantName(const char *what, const char *name)
{
  PetscFunctionBeginUser;
  PetscCheck(name && name[0], PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "output: %s is empty", what);
  PetscCheck(!strchr(name, '/') && strlen(name) < 40, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG,
             "output: %s \"%s\" must be shorter than 40 characters and contain no '/'", what, name);
  PetscFunctionReturn(0);
}

/* Checked with the rest of the spec, before the file is created. Names
 * unique, dimensions consistent (also with the sensor coordinates'
 * obs_id and coord), no array named like a dimension. */
PetscErrorCode McOutputCheckConstants_Private(const McOutputSpec *s)
{
  PetscFunctionBeginUser;
  PetscCheck(s->nconstants >= 0 && (!s->nconstants || s->constants), PETSC_COMM_SELF, PETSC_ERR_ARG_NULL,
             "output: %" PetscInt_FMT " constant arrays but no array list", s->nconstants);
  for (PetscInt i = 0; i < s->nconstants; i++) {
    const McOutputConstant *c = &s->constants[i];
    PetscCall(McCheckConstantName("constant array name", c->name));
    PetscCheck(!McIsReserved(c->name), PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG,
               "output: constant array \"%s\" has the name of a dataset the layout writes", c->name);
    PetscCheck(c->ndims == 1 || c->ndims == 2, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
               "output: constant array \"%s\" has %" PetscInt_FMT " dimensions, expected 1 or 2", c->name, c->ndims);
    PetscCheck(c->values, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "output: constant array \"%s\" has no values", c->name);
    for (PetscInt d = 0; d < c->ndims; d++) {
      PetscCall(McCheckConstantName("dimension name", c->dims[d]));
      PetscCheck(c->shape[d] >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
                 "output: constant array \"%s\": dimension %s has size %" PetscInt_FMT ", expected >= 1", c->name,
                 c->dims[d], c->shape[d]);
      PetscCheck(strcmp(c->dims[d], "obs_id") || !s->sensor_coords || c->shape[d] == s->nobs, PETSC_COMM_SELF,
                 PETSC_ERR_ARG_SIZ,
                 "output: constant array \"%s\": obs_id has %" PetscInt_FMT " values, the observations %" PetscInt_FMT,
                 c->name, c->shape[d], s->nobs);
      PetscCheck(strcmp(c->dims[d], "coord") || !s->sensor_coords || c->shape[d] == s->sensor_dim, PETSC_COMM_SELF,
                 PETSC_ERR_ARG_SIZ,
                 "output: constant array \"%s\": coord has %" PetscInt_FMT " values, the sensors %" PetscInt_FMT,
                 c->name, c->shape[d], s->sensor_dim);
      PetscCheck(strcmp(c->dims[d], "param") || c->shape[d] == s->nparams, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ,
                 "output: constant array \"%s\": param has %" PetscInt_FMT " values, the parameters %" PetscInt_FMT,
                 c->name, c->shape[d], s->nparams);
    }
    PetscCheck(c->ndims == 1 || strcmp(c->dims[0], c->dims[1]), PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG,
               "output: constant array \"%s\" names dimension %s twice", c->name, c->dims[0]);
    for (PetscInt j = 0; j < s->nconstants; j++) {
      const McOutputConstant *o = &s->constants[j];
      PetscCheck(j == i || strcmp(c->name, o->name), PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG,
                 "output: constant array \"%s\" named twice", c->name);
      for (PetscInt d = 0; d < c->ndims; d++) {
        PetscCheck(strcmp(c->dims[d], o->name), PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG,
                   "output: constant array \"%s\" has the name of a dimension", o->name);
        for (PetscInt e = 0; e < o->ndims; e++)
          PetscCheck(strcmp(c->dims[d], o->dims[e]) || c->shape[d] == o->shape[e], PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ,
                     "output: dimension %s has %" PetscInt_FMT " values in constant array \"%s\" but %" PetscInt_FMT
                     " in \"%s\"",
                     c->dims[d], c->shape[d], c->name, o->shape[e], o->name);
      }
    }
  }
  PetscFunctionReturn(0);
}

/* The coordinate of dimension name in g: opened if the layout or an
 * earlier array created it, else created (labels for param). */
static PetscErrorCode McConstantScale(McOutput o, hid_t g, const McOutputSpec *spec, const char *name, PetscInt n,
                                      hid_t *scale)
{
  char   path[96];
  htri_t exists;

  PetscFunctionBeginUser;
  PetscCall(PetscSNPrintf(path, sizeof path, "constant_data/%s", name));
  MC_H5(o, path, exists = H5Lexists(g, name, H5P_DEFAULT));
  if (exists > 0) {
    MC_H5(o, path, *scale = H5Dopen2(g, name, H5P_DEFAULT));
    PetscFunctionReturn(0);
  }
  if (!strcmp(name, "param")) {
    char **labels;
    PetscCall(PetscCalloc1(n, &labels));
    for (PetscInt i = 0; i < n; i++) {
      if (spec->param_names)
        PetscCall(PetscStrallocpy(spec->param_names[i], &labels[i]));
      else {
        char label[32];
        PetscCall(PetscSNPrintf(label, sizeof label, "theta_%" PetscInt_FMT, i));
        PetscCall(PetscStrallocpy(label, &labels[i]));
      }
    }
    PetscCall(McH5ScaleStrings_Private(o, g, "constant_data", name, n, (const char *const *)labels));
    for (PetscInt i = 0; i < n; i++)
      PetscCall(PetscFree(labels[i]));
    PetscCall(PetscFree(labels));
    MC_H5(o, path, *scale = H5Dopen2(g, name, H5P_DEFAULT));
  } else
    PetscCall(McH5ScaleIndex_Private(o, g, "constant_data", name, (hsize_t)n, PETSC_FALSE, 0, scale));
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputConstants_Private(McOutput o, const McOutputSpec *spec)
{
  hid_t  g;
  htri_t exists;

  PetscFunctionBeginUser;
  if (!spec->nconstants) PetscFunctionReturn(0);
  MC_H5(o, "constant_data", exists = H5Lexists(o->file, "constant_data", H5P_DEFAULT));
  if (exists > 0)
    MC_H5(o, "constant_data", g = H5Gopen2(o->file, "constant_data", H5P_DEFAULT));
  else
    PetscCall(McH5GroupCreate_Private(o, "constant_data", &g));
  for (PetscInt i = 0; i < spec->nconstants; i++) {
    const McOutputConstant *c = &spec->constants[i];
    char                    path[96];
    hsize_t                 dims[2] = {(hsize_t)c->shape[0], c->ndims == 2 ? (hsize_t)c->shape[1] : 1};
    hid_t                   ds, scale;

    PetscCall(PetscSNPrintf(path, sizeof path, "constant_data/%s", c->name));
    PetscCall(McH5DatasetCreate_Private(o, g, path, c->name, H5T_IEEE_F64LE, (int)c->ndims, dims, NULL, NULL, &ds));
    PetscCall(McH5Write_Private(o, ds, path, H5T_NATIVE_DOUBLE, c->values));
    for (PetscInt d = 0; d < c->ndims; d++) {
      PetscCall(McConstantScale(o, g, spec, c->dims[d], c->shape[d], &scale));
      PetscCall(McH5Attach_Private(o, ds, path, scale, (unsigned)d));
      MC_H5(o, path, H5Dclose(scale));
    }
    if (!strcmp(c->dims[c->ndims - 1], "node"))
      PetscCall(McH5AttrString_Private(o, ds, path, "mesh_file", spec->mesh_file ? spec->mesh_file : "run_mesh.h5"));
    if (c->description) PetscCall(McH5AttrString_Private(o, ds, path, "description", c->description));
    MC_H5(o, path, H5Dclose(ds));
  }
  MC_H5(o, "constant_data", H5Gclose(g));
  PetscFunctionReturn(0);
}

typedef struct {
  McOutput                    o;
  PetscInt                    nv, max, n;
  McOutputFieldConst_Private *list;
} McFieldScan;

/* H5Literate callback: a dataset with a mesh_file attribute whose last
 * axis has nv values. */
static herr_t McScanOne(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
  McFieldScan *s = (McFieldScan *)data;
  hid_t        ds, space;
  hsize_t      dims[2];
  int          rank;
  herr_t       status = 0;

  (void)info;
  if (H5Oexists_by_name(g, name, H5P_DEFAULT) <= 0) return 0;
  if (H5Aexists_by_name(g, name, "mesh_file", H5P_DEFAULT) <= 0) return 0;
  if ((ds = H5Dopen2(g, name, H5P_DEFAULT)) < 0) return -1;
  space = H5Dget_space(ds);
  rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
  if (rank == 1 || rank == 2) {
    H5Sget_simple_extent_dims(space, dims, NULL);
    if (dims[rank - 1] == (hsize_t)s->nv && s->n < s->max && strlen(name) < sizeof s->list[0].name) {
      McOutputFieldConst_Private *f = &s->list[s->n++];
      snprintf(f->name, sizeof f->name, "%s", name);
      f->rows = rank == 2 ? (PetscInt)dims[0] : 0;
    }
  } else if (rank < 0)
    status = -1;
  if (space >= 0) H5Sclose(space);
  H5Dclose(ds);
  return status;
}

PetscErrorCode McOutputListFieldConstants_Private(McOutput o, PetscInt nv, PetscInt max,
                                                  McOutputFieldConst_Private *list, PetscInt *n)
{
  McFieldScan s = {o, nv, max, 0, list};
  htri_t      exists;
  hid_t       g;
  hsize_t     idx = 0;

  PetscFunctionBeginUser;
  *n = 0;
  MC_H5(o, "constant_data", exists = H5Lexists(o->file, "constant_data", H5P_DEFAULT));
  if (exists <= 0) PetscFunctionReturn(0);
  MC_H5(o, "constant_data", g = H5Gopen2(o->file, "constant_data", H5P_DEFAULT));
  /* Creation order: the order the run wrote them (tracked, see layout.c). */
  MC_H5(o, "constant_data", H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, McScanOne, &s));
  MC_H5(o, "constant_data", H5Gclose(g));
  *n = s.n;
  PetscFunctionReturn(0);
}

void McOutputXdmfConstants_Private(FILE *f, const char *run, PetscInt nv, PetscInt n,
                                   const McOutputFieldConst_Private *list)
{
  for (PetscInt i = 0; i < n; i++) {
    const McOutputFieldConst_Private *c = &list[i];
    PetscInt                          rows = c->rows ? c->rows : 1;
    for (PetscInt k = 0; k < rows; k++) {
      if (c->rows)
        fprintf(f, "      <Attribute Name=\"%s_%d\" AttributeType=\"Scalar\" Center=\"Node\">\n", c->name, (int)k);
      else
        fprintf(f, "      <Attribute Name=\"%s\" AttributeType=\"Scalar\" Center=\"Node\">\n", c->name);
      if (c->rows) {
        fprintf(f, "        <DataItem ItemType=\"HyperSlab\" Dimensions=\"%d\" Type=\"HyperSlab\">\n", (int)nv);
        fprintf(f, "          <DataItem Dimensions=\"3 2\" Format=\"XML\">%d 0 1 1 1 %d</DataItem>\n", (int)k, (int)nv);
        fprintf(f,
                "          <DataItem Dimensions=\"%d %d\" NumberType=\"Float\" Precision=\"8\" "
                "Format=\"HDF\">%s:/constant_data/%s</DataItem>\n",
                (int)c->rows, (int)nv, run, c->name);
        fprintf(f, "        </DataItem>\n");
      } else
        fprintf(f,
                "        <DataItem Dimensions=\"%d\" NumberType=\"Float\" Precision=\"8\" "
                "Format=\"HDF\">%s:/constant_data/%s</DataItem>\n",
                (int)nv, run, c->name);
      fprintf(f, "      </Attribute>\n");
    }
  }
}
