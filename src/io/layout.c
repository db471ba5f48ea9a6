/* The file layout of ../shared/OUTPUT.md: creates every group, dataset,
 * attribute and dimension-scale attachment up front (SWMR allows no new
 * objects once writing starts), or reopens them in an existing file and
 * checks that they have the shapes the spec describes. */
#include "io/ioimpl.h"
#include "mc_version.h"
#include <math.h>
#include <string.h>
#include <time.h>

const char *const mc_draw_scale_paths[MC_DRAW_GROUPS] = {"posterior/draw", "sample_stats/draw", "timing/draw"};
static const char *const mc_mem_names[MC_MEM_NCOLS] = {"iteration", "rss", "live_objects", "live_bytes", "collections"};

static PetscErrorCode McProvenance(McOutput o, hid_t obj, const char *objname, const McOutputSpec *spec, const char *created)
{
  const char *version = spec->program_version ? spec->program_version : MC_VERSION_STRING;

  PetscFunctionBeginUser;
  PetscCall(McH5AttrString_Private(o, obj, objname, "created_at", created));
  PetscCall(McH5AttrString_Private(o, obj, objname, "creation_library", "mcmc-run"));
  PetscCall(McH5AttrString_Private(o, obj, objname, "creation_library_version", version));
  PetscCall(McH5AttrString_Private(o, obj, objname, "creation_library_language", "C"));
  PetscCall(McH5AttrString_Private(o, obj, objname, "inference_library", "mcmc-run"));
  PetscCall(McH5AttrString_Private(o, obj, objname, "inference_library_version", version));
  PetscFunctionReturn(0);
}

static PetscErrorCode McNow(char *buf, size_t n)
{
  time_t    t = time(NULL);
  struct tm tm;

  PetscFunctionBeginUser;
  PetscCheck(gmtime_r(&t, &tm), PETSC_COMM_SELF, PETSC_ERR_LIB, "gmtime_r failed");
  PetscCheck(strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "strftime failed");
  PetscFunctionReturn(0);
}

/* posterior, sample_stats and timing: own chain and draw scales (same
 * values), the per-draw variables of the group attached on every axis. */
static PetscErrorCode McDrawGroup(McOutput o, const McOutputSpec *spec, const char *gname, const char *created, PetscInt which, const char *const *labels)
{
  static const char *const sample_dims[2] = {"chain", "draw"};
  hid_t    g, chain, param = H5I_INVALID_HID;
  hsize_t  chunk1 = (hsize_t)o->B;
  size_t   glen   = strlen(gname);

  PetscFunctionBeginUser;
  PetscCall(McH5GroupCreate_Private(o, gname, &g));
  PetscCall(McProvenance(o, g, gname, spec, created));
  PetscCall(McH5AttrStringList_Private(o, g, gname, "sample_dims", 2, sample_dims));
  PetscCall(McH5ScaleIndex_Private(o, g, gname, "chain", (hsize_t)o->C, PETSC_FALSE, 0, &chain));
  PetscCall(McH5ScaleIndex_Private(o, g, gname, "draw", 0, PETSC_TRUE, chunk1, &o->draw_scales[which]));
  if (labels) {
    PetscCall(McH5ScaleStrings_Private(o, g, gname, "param", o->P, labels));
    MC_H5(o, "posterior/param", param = H5Dopen2(g, "param", H5P_DEFAULT));
  }
  for (PetscInt i = 0; i < o->nvars; i++) {
    McDrawVar *v = &o->vars[i];
    int        rank = v->width > 1 || (labels && i == 0) ? 3 : 2;
    hsize_t    cb   = PetscMin((hsize_t)o->B, PetscMax(1, (1u << 20) / (8 * v->width)));
    hsize_t    dims[3] = {(hsize_t)o->C, 0, v->width}, maxd[3] = {(hsize_t)o->C, H5S_UNLIMITED, v->width}, chunk[3] = {1, cb, v->width};
    hid_t      ftype = v->memtype == H5T_NATIVE_DOUBLE ? H5T_IEEE_F64LE : H5T_STD_I8LE;

    if (strncmp(v->name, gname, glen) || v->name[glen] != '/') continue;
    PetscCall(McH5DatasetCreate_Private(o, o->file, v->name, v->name, ftype, rank, dims, maxd, chunk, &v->dset));
    if (ftype == H5T_STD_I8LE) PetscCall(McH5AttrString_Private(o, v->dset, v->name, "dtype", "bool"));
    if (!strcmp(v->name, "timing/seconds")) {
      PetscCall(McH5AttrString_Private(o, v->dset, v->name, "units", "s"));
      PetscCall(McH5AttrString_Private(o, v->dset, v->name, "description", "wall seconds of the chain's sampling loop (burn-in included, summed over resumed runs) when the draw was recorded"));
    }
    PetscCall(McH5Attach_Private(o, v->dset, v->name, chain, 0));
    PetscCall(McH5Attach_Private(o, v->dset, v->name, o->draw_scales[which], 1));
    if (rank == 3) PetscCall(McH5Attach_Private(o, v->dset, v->name, param, 2));
  }
  if (param >= 0) MC_H5(o, "posterior/param", H5Dclose(param));
  MC_H5(o, gname, H5Dclose(chain));
  MC_H5(o, gname, H5Gclose(g));
  PetscFunctionReturn(0);
}

static PetscErrorCode McObservedGroups(McOutput o, const McOutputSpec *spec)
{
  hid_t   g, obs, ds, coord;
  hsize_t M = (hsize_t)spec->nobs;

  PetscFunctionBeginUser;
  if (spec->nobs > 0) {
    PetscCall(McH5GroupCreate_Private(o, "observed_data", &g));
    PetscCall(McH5ScaleIndex_Private(o, g, "observed_data", "obs_id", M, PETSC_FALSE, 0, &obs));
    PetscCall(McH5DatasetCreate_Private(o, g, "observed_data/y", "y", H5T_IEEE_F64LE, 1, &M, NULL, NULL, &ds));
    PetscCall(McH5Write_Private(o, ds, "observed_data/y", H5T_NATIVE_DOUBLE, spec->y));
    PetscCall(McH5Attach_Private(o, ds, "observed_data/y", obs, 0));
    MC_H5(o, "observed_data/y", H5Dclose(ds));
    MC_H5(o, "observed_data", H5Dclose(obs));
    MC_H5(o, "observed_data", H5Gclose(g));
  }
  if (!(spec->sensor_coords && spec->sensor_dim > 0 && spec->nobs > 0) && !isfinite(spec->noise_sigma)) PetscFunctionReturn(0);
  PetscCall(McH5GroupCreate_Private(o, "constant_data", &g));
  if (spec->sensor_coords && spec->sensor_dim > 0 && spec->nobs > 0) {
    hsize_t dims[2] = {M, (hsize_t)spec->sensor_dim};
    PetscCall(McH5ScaleIndex_Private(o, g, "constant_data", "obs_id", M, PETSC_FALSE, 0, &obs));
    PetscCall(McH5ScaleIndex_Private(o, g, "constant_data", "coord", dims[1], PETSC_FALSE, 0, &coord));
    PetscCall(McH5DatasetCreate_Private(o, g, "constant_data/sensor_coords", "sensor_coords", H5T_IEEE_F64LE, 2, dims, NULL, NULL, &ds));
    PetscCall(McH5Write_Private(o, ds, "constant_data/sensor_coords", H5T_NATIVE_DOUBLE, spec->sensor_coords));
    PetscCall(McH5Attach_Private(o, ds, "constant_data/sensor_coords", obs, 0));
    PetscCall(McH5Attach_Private(o, ds, "constant_data/sensor_coords", coord, 1));
    MC_H5(o, "constant_data/sensor_coords", H5Dclose(ds));
    MC_H5(o, "constant_data", H5Dclose(coord));
    MC_H5(o, "constant_data", H5Dclose(obs));
  }
  if (isfinite(spec->noise_sigma)) {
    PetscCall(McH5DatasetCreate_Private(o, g, "constant_data/noise_sigma", "noise_sigma", H5T_IEEE_F64LE, 0, NULL, NULL, NULL, &ds));
    PetscCall(McH5Write_Private(o, ds, "constant_data/noise_sigma", H5T_NATIVE_DOUBLE, &spec->noise_sigma));
    MC_H5(o, "constant_data/noise_sigma", H5Dclose(ds));
  }
  MC_H5(o, "constant_data", H5Gclose(g));
  PetscFunctionReturn(0);
}

/* posterior_fields (thinned samples, growing) and fields (running mean and
 * std, written in place at each flush; the truth once). */
static PetscErrorCode McFieldGroups(McOutput o, const McOutputSpec *spec)
{
  hid_t      g, chain, node, ds;
  hsize_t    C = (hsize_t)o->C, nv = (hsize_t)o->nv;
  hsize_t    dims[3] = {C, 0, nv}, maxd[3] = {C, H5S_UNLIMITED, nv}, chunk[3] = {1, 1, nv};
  hsize_t    d2[2] = {C, nv};
  const char *names[2] = {"fields/mean", "fields/std"};
  hid_t      *ids[2]   = {&o->mean_dset, &o->std_dset};

  PetscFunctionBeginUser;
  if (!o->nv) PetscFunctionReturn(0);
  PetscCall(McH5GroupCreate_Private(o, "posterior_fields", &g));
  PetscCall(McH5AttrString_Private(o, g, "posterior_fields", "field", o->field_path + strlen("posterior_fields/")));
  PetscCall(McH5ScaleIndex_Private(o, g, "posterior_fields", "chain", C, PETSC_FALSE, 0, &chain));
  PetscCall(McH5ScaleIndex_Private(o, g, "posterior_fields", "draw", 0, PETSC_TRUE, (hsize_t)o->KB, &o->field_draw));
  PetscCall(McH5ScaleIndex_Private(o, g, "posterior_fields", "node", nv, PETSC_FALSE, 0, &node));
  PetscCall(McH5DatasetCreate_Private(o, o->file, o->field_path, o->field_path, H5T_IEEE_F64LE, 3, dims, maxd, chunk, &o->field_dset));
  PetscCall(McH5AttrString_Private(o, o->field_dset, o->field_path, "mesh_file", spec->mesh_file ? spec->mesh_file : "run_mesh.h5"));
  PetscCall(McH5Attach_Private(o, o->field_dset, o->field_path, chain, 0));
  PetscCall(McH5Attach_Private(o, o->field_dset, o->field_path, o->field_draw, 1));
  PetscCall(McH5Attach_Private(o, o->field_dset, o->field_path, node, 2));
  MC_H5(o, "posterior_fields", H5Dclose(node));
  MC_H5(o, "posterior_fields", H5Dclose(chain));
  MC_H5(o, "posterior_fields", H5Gclose(g));

  PetscCall(McH5GroupCreate_Private(o, "fields", &g));
  PetscCall(McH5ScaleIndex_Private(o, g, "fields", "chain", C, PETSC_FALSE, 0, &chain));
  PetscCall(McH5ScaleIndex_Private(o, g, "fields", "node", nv, PETSC_FALSE, 0, &node));
  for (int i = 0; i < 2; i++) {
    PetscCall(McH5DatasetCreate_Private(o, o->file, names[i], names[i], H5T_IEEE_F64LE, 2, d2, NULL, NULL, ids[i]));
    PetscCall(McH5AttrString_Private(o, *ids[i], names[i], "mesh_file", spec->mesh_file ? spec->mesh_file : "run_mesh.h5"));
    PetscCall(McH5Attach_Private(o, *ids[i], names[i], chain, 0));
    PetscCall(McH5Attach_Private(o, *ids[i], names[i], node, 1));
  }
  PetscCall(McH5AttrString_Private(o, o->std_dset, "fields/std", "description", "sample standard deviation (n - 1) of the field over the samples in count"));
  PetscCall(McH5DatasetCreate_Private(o, o->file, "fields/count", "fields/count", H5T_STD_I64LE, 1, &C, NULL, NULL, &o->count_dset));
  PetscCall(McH5Attach_Private(o, o->count_dset, "fields/count", chain, 0));
  PetscCall(McH5Write_Private(o, o->count_dset, "fields/count", H5T_NATIVE_INT64, o->wcount));
  if (spec->field_truth) {
    PetscCall(McH5DatasetCreate_Private(o, g, "fields/truth", "truth", H5T_IEEE_F64LE, 1, &nv, NULL, NULL, &ds));
    PetscCall(McH5Write_Private(o, ds, "fields/truth", H5T_NATIVE_DOUBLE, spec->field_truth));
    PetscCall(McH5Attach_Private(o, ds, "fields/truth", node, 0));
    MC_H5(o, "fields/truth", H5Dclose(ds));
  }
  MC_H5(o, "fields", H5Dclose(node));
  MC_H5(o, "fields", H5Dclose(chain));
  MC_H5(o, "fields", H5Gclose(g));
  PetscFunctionReturn(0);
}

static PetscErrorCode McMemoryGroup(McOutput o)
{
  hid_t   g;
  hsize_t zero = 0, unl = H5S_UNLIMITED, chunk = (hsize_t)o->MB;
  char    path[64];

  PetscFunctionBeginUser;
  PetscCall(McH5GroupCreate_Private(o, "memory", &g));
  PetscCall(McH5ScaleIndex_Private(o, g, "memory", "iteration", 0, PETSC_TRUE, chunk, &o->mem_dset[MC_MEM_ITERATION]));
  for (int i = MC_MEM_RSS; i < MC_MEM_NCOLS; i++) {
    PetscCall(PetscSNPrintf(path, sizeof path, "memory/%s", mc_mem_names[i]));
    PetscCall(McH5DatasetCreate_Private(o, g, path, mc_mem_names[i], H5T_STD_I64LE, 1, &zero, &unl, &chunk, &o->mem_dset[i]));
    PetscCall(McH5Attach_Private(o, o->mem_dset[i], path, o->mem_dset[MC_MEM_ITERATION], 0));
    if (i == MC_MEM_RSS || i == MC_MEM_BYTES) PetscCall(McH5AttrString_Private(o, o->mem_dset[i], path, "units", "bytes"));
  }
  MC_H5(o, "memory", H5Gclose(g));
  PetscFunctionReturn(0);
}

/* Two record slots [slot, byte], see checkpoint.c. The byte coordinate is
 * never written (reads as 0): it exists so that every axis has a scale. */
static PetscErrorCode McCheckpointGroup(McOutput o)
{
  hid_t   g, slot, byte, ds;
  hsize_t dims[2] = {2, 0}, maxd[2] = {2, H5S_UNLIMITED}, chunk[2] = {1, 65536};

  PetscFunctionBeginUser;
  PetscCall(McH5GroupCreate_Private(o, "checkpoint", &g));
  PetscCall(McH5AttrString_Private(o, g, "checkpoint", "format", "see src/io/checkpoint.c: record = header int64[7] (seq, draws, field samples, memory rows, chains, field size, slot), welford count int64[C], mean float64[C*nv], m2 float64[C*nv], blob sizes int64[C], blobs, FNV-1a 64 checksum of all before it"));
  PetscCall(McH5ScaleIndex_Private(o, g, "checkpoint", "slot", 2, PETSC_FALSE, 0, &slot));
  PetscCall(McH5ScaleIndex_Private(o, g, "checkpoint", "byte", 0, PETSC_TRUE, chunk[1], &byte));
  PetscCall(McH5DatasetCreate_Private(o, g, "checkpoint/record", "record", H5T_STD_U8LE, 2, dims, maxd, chunk, &ds));
  PetscCall(McH5Attach_Private(o, ds, "checkpoint/record", slot, 0));
  PetscCall(McH5Attach_Private(o, ds, "checkpoint/record", byte, 1));
  o->ckpt_dset = ds;
  o->ckpt_bytes = byte;
  MC_H5(o, "checkpoint", H5Dclose(slot));
  MC_H5(o, "checkpoint", H5Gclose(g));
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputBuildLayout_Private(McOutput o, const McOutputSpec *spec)
{
  hid_t       fcpl = H5I_INVALID_HID, fapl = H5I_INVALID_HID;
  unsigned    crt  = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;
  char        created[64];
  char      **labels = NULL;
  const char *hash   = spec->model_hash ? spec->model_hash : "";

  PetscFunctionBeginUser;
  if (spec->created_at) PetscCall(PetscStrncpy(created, spec->created_at, sizeof created));
  else PetscCall(McNow(created, sizeof created));
  MC_H5(o, o->path, fcpl = H5Pcreate(H5P_FILE_CREATE));
  MC_H5(o, o->path, H5Pset_link_creation_order(fcpl, crt));
  MC_H5(o, o->path, H5Pset_attr_creation_order(fcpl, crt));
  /* Latest format: needed for SWMR, and it survived random SIGKILLs far
   * better than the default format (OUTPUT.md, crash facts). */
  MC_H5(o, o->path, fapl = H5Pcreate(H5P_FILE_ACCESS));
  MC_H5(o, o->path, H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST));
  PetscCall(McH5SetCaches_Private(o, fapl));
  MC_H5(o, o->path, o->file = H5Fcreate(o->path, H5F_ACC_TRUNC, fcpl, fapl));
  MC_H5(o, o->path, H5Pclose(fapl));
  MC_H5(o, o->path, H5Pclose(fcpl));

  PetscCall(McProvenance(o, o->file, "/", spec, created));
  PetscCall(McH5AttrString_Private(o, o->file, "/", "config", spec->config_text ? spec->config_text : ""));
  PetscCall(McH5AttrString_Private(o, o->file, "/", "model_hash", hash));
  PetscCall(McH5AttrString_Private(o, o->file, "/", "hdf5_version", H5_VERS_INFO));

  PetscCall(PetscCalloc1(o->P, &labels));
  for (PetscInt i = 0; i < o->P; i++) {
    if (spec->param_names) PetscCall(PetscStrallocpy(spec->param_names[i], &labels[i]));
    else {
      char name[32];
      PetscCall(PetscSNPrintf(name, sizeof name, "theta_%" PetscInt_FMT, i));
      PetscCall(PetscStrallocpy(name, &labels[i]));
    }
  }
  PetscCall(McDrawGroup(o, spec, "posterior", created, 0, (const char *const *)labels));
  for (PetscInt i = 0; i < o->P; i++) PetscCall(PetscFree(labels[i]));
  PetscCall(PetscFree(labels));
  PetscCall(McDrawGroup(o, spec, "sample_stats", created, 1, NULL));
  PetscCall(McDrawGroup(o, spec, "timing", created, 2, NULL));
  PetscCall(McObservedGroups(o, spec));
  PetscCall(McOutputConstants_Private(o, spec));
  PetscCall(McFieldGroups(o, spec));
  PetscCall(McMemoryGroup(o));
  PetscCall(McCheckpointGroup(o));
  PetscFunctionReturn(0);
}

/* Opens a dataset of an existing file and checks its rank and its fixed
 * axes (axis 1 of the draw variables grows and is not checked). */
static PetscErrorCode McOpenChecked(McOutput o, const char *path, int rank, const hsize_t *dims, int growing, hid_t *ds)
{
  hid_t   space;
  hsize_t d[3];
  int     r = -1;

  PetscFunctionBeginUser;
  PetscCheck(H5Lexists(o->file, path, H5P_DEFAULT) > 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "output file %s: has no dataset %s, which this configuration writes (was it written by another configuration?)", o->path, path);
  MC_H5(o, path, *ds = H5Dopen2(o->file, path, H5P_DEFAULT));
  MC_H5(o, path, space = H5Dget_space(*ds));
  MC_H5(o, path, r = H5Sget_simple_extent_ndims(space));
  PetscCheck(r == rank, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "output file %s: %s has rank %d, this configuration expects %d", o->path, path, r, rank);
  MC_H5(o, path, H5Sget_simple_extent_dims(space, d, NULL));
  MC_H5(o, path, H5Sclose(space));
  for (int i = 0; i < rank; i++)
    PetscCheck(i == growing || d[i] == dims[i], PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "output file %s: %s has size %llu on axis %d, this configuration expects %llu", o->path, path, (unsigned long long)d[i], i, (unsigned long long)dims[i]);
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputOpenLayout_Private(McOutput o, const McOutputSpec *spec)
{
  hsize_t C = (hsize_t)o->C, nv = (hsize_t)o->nv, none[1] = {0};

  PetscFunctionBeginUser;
  (void)spec;
  if (H5Lexists(o->file, "timing", H5P_DEFAULT) <= 0) {
    /* Written before the draws carried their seconds: resumed without. */
    o->nvars--;
    PetscCall(PetscFree(o->vars[o->nvars].buf));
    o->ngroups = MC_DRAW_GROUPS - 1;
  }
  for (PetscInt i = 0; i < o->nvars; i++) {
    hsize_t d[3] = {C, 0, o->vars[i].width};
    PetscCall(McOpenChecked(o, o->vars[i].name, o->vars[i].width > 1 || i == 0 ? 3 : 2, d, 1, &o->vars[i].dset));
  }
  for (int s = 0; s < o->ngroups; s++) PetscCall(McOpenChecked(o, mc_draw_scale_paths[s], 1, none, 0, &o->draw_scales[s]));
  if (o->nv) {
    hsize_t d3[3] = {C, 0, nv}, d2[2] = {C, nv};
    PetscCall(McOpenChecked(o, o->field_path, 3, d3, 1, &o->field_dset));
    PetscCall(McOpenChecked(o, "posterior_fields/draw", 1, none, 0, &o->field_draw));
    PetscCall(McOpenChecked(o, "fields/mean", 2, d2, -1, &o->mean_dset));
    PetscCall(McOpenChecked(o, "fields/std", 2, d2, -1, &o->std_dset));
    PetscCall(McOpenChecked(o, "fields/count", 1, &C, -1, &o->count_dset));
  } else PetscCheck(H5Lexists(o->file, "fields", H5P_DEFAULT) <= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "output file %s: has fields, this configuration writes none", o->path);
  for (int i = 0; i < MC_MEM_NCOLS; i++) {
    char path[64];
    PetscCall(PetscSNPrintf(path, sizeof path, "memory/%s", mc_mem_names[i]));
    PetscCall(McOpenChecked(o, path, 1, none, 0, &o->mem_dset[i]));
  }
  {
    hsize_t d2[2] = {2, 0};
    PetscCall(McOpenChecked(o, "checkpoint/record", 2, d2, 1, &o->ckpt_dset));
    PetscCall(McOpenChecked(o, "checkpoint/byte", 1, none, 0, &o->ckpt_bytes));
  }
  PetscFunctionReturn(0);
}
