/* Thin HDF5 helpers for the sink: error translation, the attribute encodings
 * that netCDF-C, h5netcdf and xarray agree on (OUTPUT.md §4-5), dataset and
 * dimension-scale creation with creation-order tracking (§1-2), and one
 * hyperslab transfer used for writing blocks and reading them back. */
#include "io/ioimpl.h"
#include <ctype.h>
#include <math.h>
#include <string.h>

typedef struct {
  char desc[512];
  char func[64];
} McH5Innermost;

/* Walked from the innermost frame outwards: keep the first (deepest) one,
 * which is where HDF5 saw the failure (e.g. the sec2 driver's write with
 * its errno text). */
static herr_t McH5Walk(unsigned n, const H5E_error2_t *err, void *data)
{
  McH5Innermost *in = (McH5Innermost *)data;
  if (n == 0) {
    snprintf(in->desc, sizeof in->desc, "%s", err->desc ? err->desc : "");
    /* HDF5's driver messages contain a newline after the time stamp. */
    for (char *p = in->desc; *p; p++)
      if (*p == '\n') *p = ' ';
    snprintf(in->func, sizeof in->func, "%s", err->func_name ? err->func_name : "");
  }
  return 0;
}

PetscErrorCode McH5Error_Private(const char *path, const char *what, const char *call)
{
  McH5Innermost in = {"(no HDF5 message)", ""};
  int           flen, fstart;

  PetscFunctionBeginUser;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, McH5Walk, &in);
  H5Eclear2(H5E_DEFAULT);
  /* The HDF5 function's name: the identifier before the first '(' of the
   * call text (which may be an assignment such as "ds = H5Dopen2(...)"). */
  for (flen = 0; call[flen] && call[flen] != '('; flen++) {}
  for (fstart = flen; fstart > 0 && (isalnum((unsigned char)call[fstart - 1]) || call[fstart - 1] == '_'); fstart--) {}
  SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "output file %s: %.*s on %s failed: %s%s%s%s", path, flen - fstart, call + fstart, what, in.desc, in.func[0] ? " (in " : "", in.func, in.func[0] ? ")" : "");
}

/* The mark is the one h5clear -s clears, by the property h5clear itself
 * uses. A writer killed inside a flush can also leave the superblock's end
 * of allocation (EOA) behind blocks that flush wrote (chunk index blocks,
 * chunks, the checkpoint): HDF5 refuses to read past the EOA ("addr
 * overflow"), and closing a file opened for writing cuts it to the EOA, so
 * any failure after the open would cut off committed draws. So the EOA is
 * raised to the file's end at once, before anything is read, as h5clear
 * --increment=0 does. */
hid_t McH5OpenKilled_Private(const char *path, hid_t fapl)
{
  hbool_t clear = 1;
  hid_t   file;

  if (H5Pset(fapl, "clear_status_flags", &clear) < 0) return H5I_INVALID_HID;
  file = H5Fopen(path, H5F_ACC_RDWR, fapl);
  if (file >= 0 && H5Fincrement_filesize(file, 0) < 0) {
    H5Fclose(file);
    return H5I_INVALID_HID;
  }
  return file;
}

/* netCDF-C writes text attributes as scalar, fixed-length, NUL-terminated
 * strings; text that is not ASCII is marked UTF-8 so readers decode it. */
PetscErrorCode McH5AttrString_Private(McOutput o, hid_t obj, const char *objname, const char *name, const char *value)
{
  hid_t  type = H5I_INVALID_HID, space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
  size_t len  = strlen(value);
  H5T_cset_t cset = H5T_CSET_ASCII;

  PetscFunctionBeginUser;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)value[i] >= 0x80) cset = H5T_CSET_UTF8;
  MC_H5(o, objname, type = H5Tcopy(H5T_C_S1));
  MC_H5(o, objname, H5Tset_size(type, len + 1));
  MC_H5(o, objname, H5Tset_strpad(type, H5T_STR_NULLTERM));
  MC_H5(o, objname, H5Tset_cset(type, cset));
  MC_H5(o, objname, space = H5Screate(H5S_SCALAR));
  MC_H5(o, objname, attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT));
  MC_H5(o, objname, H5Awrite(attr, type, value));
  MC_H5(o, objname, H5Aclose(attr));
  MC_H5(o, objname, H5Sclose(space));
  MC_H5(o, objname, H5Tclose(type));
  PetscFunctionReturn(0);
}

static PetscErrorCode McH5VlenUtf8(McOutput o, const char *what, hid_t *type)
{
  PetscFunctionBeginUser;
  MC_H5(o, what, *type = H5Tcopy(H5T_C_S1));
  MC_H5(o, what, H5Tset_size(*type, H5T_VARIABLE));
  MC_H5(o, what, H5Tset_cset(*type, H5T_CSET_UTF8));
  PetscFunctionReturn(0);
}

/* A list attribute (sample_dims): 1-D variable-length UTF-8, which xarray
 * reads back as a Python list of str. */
PetscErrorCode McH5AttrStringList_Private(McOutput o, hid_t obj, const char *objname, const char *name, PetscInt n, const char *const *values)
{
  hid_t   type = H5I_INVALID_HID, space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
  hsize_t dim  = (hsize_t)n;

  PetscFunctionBeginUser;
  PetscCall(McH5VlenUtf8(o, objname, &type));
  MC_H5(o, objname, space = H5Screate_simple(1, &dim, NULL));
  MC_H5(o, objname, attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT));
  MC_H5(o, objname, H5Awrite(attr, type, values));
  MC_H5(o, objname, H5Aclose(attr));
  MC_H5(o, objname, H5Sclose(space));
  MC_H5(o, objname, H5Tclose(type));
  PetscFunctionReturn(0);
}

/* _FillValue = NaN, float64 of shape (1,), as xarray's encoding expects. */
PetscErrorCode McH5AttrFillNaN_Private(McOutput o, hid_t obj, const char *objname)
{
  hid_t   space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
  hsize_t one   = 1;
  double  nan   = NAN;

  PetscFunctionBeginUser;
  MC_H5(o, objname, space = H5Screate_simple(1, &one, NULL));
  MC_H5(o, objname, attr = H5Acreate2(obj, "_FillValue", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT));
  MC_H5(o, objname, H5Awrite(attr, H5T_NATIVE_DOUBLE, &nan));
  MC_H5(o, objname, H5Aclose(attr));
  MC_H5(o, objname, H5Sclose(space));
  PetscFunctionReturn(0);
}

/* Creation order tracked and indexed for links and attributes: netCDF-C
 * refuses to append to groups without it (OUTPUT.md §2). */
PetscErrorCode McH5GroupCreate_Private(McOutput o, const char *name, hid_t *group)
{
  hid_t    gcpl = H5I_INVALID_HID;
  unsigned crt  = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;

  PetscFunctionBeginUser;
  MC_H5(o, name, gcpl = H5Pcreate(H5P_GROUP_CREATE));
  MC_H5(o, name, H5Pset_link_creation_order(gcpl, crt));
  MC_H5(o, name, H5Pset_attr_creation_order(gcpl, crt));
  MC_H5(o, name, *group = H5Gcreate2(o->file, name, H5P_DEFAULT, gcpl, H5P_DEFAULT));
  MC_H5(o, name, H5Pclose(gcpl));
  PetscFunctionReturn(0);
}

/* chunk == NULL: contiguous. Float datasets get NaN as fill value so that
 * unwritten draws read as NaN, plus the matching _FillValue attribute. */
PetscErrorCode McH5DatasetCreate_Private(McOutput o, hid_t loc, const char *path, const char *name, hid_t type, int rank, const hsize_t *dims, const hsize_t *maxdims, const hsize_t *chunk, hid_t *dset)
{
  hid_t     dcpl = H5I_INVALID_HID, space = H5I_INVALID_HID;
  double    nan  = NAN;
  PetscBool isfloat = (PetscBool)(H5Tget_class(type) == H5T_FLOAT);

  PetscFunctionBeginUser;
  MC_H5(o, path, dcpl = H5Pcreate(H5P_DATASET_CREATE));
  MC_H5(o, path, H5Pset_attr_creation_order(dcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED));
  if (chunk) MC_H5(o, path, H5Pset_chunk(dcpl, rank, chunk));
  if (isfloat) MC_H5(o, path, H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &nan));
  MC_H5(o, path, space = rank ? H5Screate_simple(rank, dims, maxdims) : H5Screate(H5S_SCALAR));
  MC_H5(o, path, *dset = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  MC_H5(o, path, H5Sclose(space));
  MC_H5(o, path, H5Pclose(dcpl));
  if (isfloat) PetscCall(McH5AttrFillNaN_Private(o, *dset, path));
  PetscFunctionReturn(0);
}

PetscErrorCode McH5Write_Private(McOutput o, hid_t dset, const char *what, hid_t memtype, const void *buf)
{
  PetscFunctionBeginUser;
  MC_H5(o, what, H5Dwrite(dset, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
  PetscFunctionReturn(0);
}

/* Writes the dataset's dirty metadata and chunks now. H5Fflush writes the
 * cache's entries in file-address order, and evicts them in any order, so
 * without this a reader could see a coordinate grow before the variables
 * it indexes (posterior/draw's header lies below posterior/theta's). */
PetscErrorCode McH5FlushDataset_Private(McOutput o, hid_t dset, const char *what)
{
  PetscFunctionBeginUser;
  MC_H5(o, what, H5Dflush(dset));
  PetscFunctionReturn(0);
}

/* An int64 dimension scale whose values are 0..n-1 (chain, node, obs_id) or,
 * when unlimited, an empty growing coordinate (draw, iteration) filled by
 * the writer. The scale's NAME equals its dataset name: readers take the
 * dimension name from either. */
PetscErrorCode McH5ScaleIndex_Private(McOutput o, hid_t loc, const char *gpath, const char *name, hsize_t n, PetscBool unlimited, hsize_t chunk, hid_t *scale)
{
  char     path[128];
  hsize_t  dims = unlimited ? 0 : n, maxdims = unlimited ? H5S_UNLIMITED : n;
  int64_t *values = NULL;

  PetscFunctionBeginUser;
  PetscCall(PetscSNPrintf(path, sizeof path, "%s/%s", gpath, name));
  PetscCall(McH5DatasetCreate_Private(o, loc, path, name, H5T_STD_I64LE, 1, &dims, &maxdims, unlimited ? &chunk : NULL, scale));
  MC_H5(o, path, H5DSset_scale(*scale, name));
  if (!unlimited && n > 0) {
    PetscCall(PetscMalloc1(n, &values));
    for (hsize_t i = 0; i < n; i++) values[i] = (int64_t)i;
    PetscCall(McH5Write_Private(o, *scale, path, H5T_NATIVE_INT64, values));
    PetscCall(PetscFree(values));
  }
  PetscFunctionReturn(0);
}

/* A label coordinate (param): variable-length UTF-8 strings. Closed at once:
 * nothing attaches to it after the variables that use it are created. */
PetscErrorCode McH5ScaleStrings_Private(McOutput o, hid_t loc, const char *gpath, const char *name, PetscInt n, const char *const *labels)
{
  char    path[128];
  hid_t   type = H5I_INVALID_HID, space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, ds = H5I_INVALID_HID;
  hsize_t dim  = (hsize_t)n;

  PetscFunctionBeginUser;
  PetscCall(PetscSNPrintf(path, sizeof path, "%s/%s", gpath, name));
  PetscCall(McH5VlenUtf8(o, path, &type));
  MC_H5(o, path, dcpl = H5Pcreate(H5P_DATASET_CREATE));
  MC_H5(o, path, H5Pset_attr_creation_order(dcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED));
  MC_H5(o, path, space = H5Screate_simple(1, &dim, NULL));
  MC_H5(o, path, ds = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  MC_H5(o, path, H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels));
  MC_H5(o, path, H5DSset_scale(ds, name));
  MC_H5(o, path, H5Dclose(ds));
  MC_H5(o, path, H5Sclose(space));
  MC_H5(o, path, H5Pclose(dcpl));
  MC_H5(o, path, H5Tclose(type));
  PetscFunctionReturn(0);
}

PetscErrorCode McH5Attach_Private(McOutput o, hid_t var, const char *varpath, hid_t scale, unsigned axis)
{
  PetscFunctionBeginUser;
  MC_H5(o, varpath, H5DSattach_scale(var, scale, axis));
  PetscFunctionReturn(0);
}

/* Sets the size of one axis, keeping the others. */
PetscErrorCode McH5Extent_Private(McOutput o, hid_t dset, const char *what, int axis, hsize_t n)
{
  hid_t   space = H5I_INVALID_HID;
  hsize_t dims[3];
  int     rank = -1;

  PetscFunctionBeginUser;
  MC_H5(o, what, space = H5Dget_space(dset));
  MC_H5(o, what, rank = H5Sget_simple_extent_ndims(space));
  PetscCheck(rank >= 1 && rank <= 3 && axis < rank, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "output file %s: %s has rank %d, expected at least %d", o->path, what, rank, axis + 1);
  MC_H5(o, what, H5Sget_simple_extent_dims(space, dims, NULL));
  MC_H5(o, what, H5Sclose(space));
  if (dims[axis] == n) PetscFunctionReturn(0);
  dims[axis] = n;
  MC_H5(o, what, H5Dset_extent(dset, dims));
  PetscFunctionReturn(0);
}

/* Moves count[] elements between the file region starting at filestart[]
 * and the front of a memory array of shape memdims[] (same rank). */
PetscErrorCode McH5Transfer_Private(McOutput o, hid_t dset, const char *what, hid_t memtype, void *buf, int rank, const hsize_t *memdims, const hsize_t *filestart, const hsize_t *count, PetscBool write)
{
  hid_t   fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
  hsize_t zero[3] = {0, 0, 0};

  PetscFunctionBeginUser;
  for (int i = 0; i < rank; i++)
    if (count[i] == 0) PetscFunctionReturn(0);
  MC_H5(o, what, fspace = H5Dget_space(dset));
  MC_H5(o, what, H5Sselect_hyperslab(fspace, H5S_SELECT_SET, filestart, NULL, count, NULL));
  MC_H5(o, what, mspace = H5Screate_simple(rank, memdims, NULL));
  MC_H5(o, what, H5Sselect_hyperslab(mspace, H5S_SELECT_SET, zero, NULL, count, NULL));
  if (write) MC_H5(o, what, H5Dwrite(dset, memtype, mspace, fspace, H5P_DEFAULT, buf));
  else MC_H5(o, what, H5Dread(dset, memtype, mspace, fspace, H5P_DEFAULT, buf));
  MC_H5(o, what, H5Sclose(mspace));
  MC_H5(o, what, H5Sclose(fspace));
  PetscFunctionReturn(0);
}

/* Flat memory while the file grows. HDF5 keeps, per dataset, a chunk cache
 * (default 1 MiB) that fills with every chunk written until it is full:
 * with a dozen per-draw datasets that is RSS growing by ~100 bytes per
 * draw for 10^5 draws. The sink writes whole chunks from its own block
 * buffers (and rewrites a partial block's chunk once), so a small cache is
 * enough. (Switched off entirely, HDF5 1.10.8 leaves a file whose raw-data
 * write failed in a state its shutdown crashes on.) The metadata cache is
 * given a fixed size: by default it grows adaptively (up to 32 MiB) with
 * the chunk indices. */
PetscErrorCode McH5SetCaches_Private(McOutput o, hid_t fapl)
{
  H5AC_cache_config_t mdc;

  PetscFunctionBeginUser;
  MC_H5(o, o->path, H5Pset_cache(fapl, 0, 521, MC_H5_CHUNK_CACHE, 1.0));
  mdc.version = H5AC__CURR_CACHE_CONFIG_VERSION;
  MC_H5(o, o->path, H5Pget_mdc_config(fapl, &mdc));
  mdc.set_initial_size = 1;
  mdc.initial_size     = MC_H5_METADATA_CACHE;
  mdc.min_size         = MC_H5_METADATA_CACHE;
  mdc.max_size         = MC_H5_METADATA_CACHE;
  mdc.incr_mode        = H5C_incr__off;
  mdc.flash_incr_mode  = H5C_flash_incr__off;
  mdc.decr_mode        = H5C_decr__off;
  MC_H5(o, o->path, H5Pset_mdc_config(fapl, &mdc));
  PetscFunctionReturn(0);
}
