/* Input files in HDF5: a field (the prior mean) or a table (observation
 * points, data) read from a dataset of a file the user names.
 *
 * The one idea: everything wrong with such a file is the user's to fix, so
 * every failure -- no file, not HDF5, no such dataset, not numbers, the
 * wrong shape, a NaN -- becomes one line naming the file and the dataset
 * (and the offending entry), never an HDF5 error stack. A file still open
 * for writing by mcmc-run (SWMR) is read as its last flush left it. */
#include "app/app.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

static void Fail(char *msg, size_t len, PetscBool *valid, const char *fmt, ...) PETSC_ATTRIBUTE_FORMAT(4, 5);
static void Fail(char *msg, size_t len, PetscBool *valid, const char *fmt, ...)
{
  va_list ap;

  if (!*valid) return;
  va_start(ap, fmt);
  vsnprintf(msg, len, fmt, ap);
  va_end(ap);
  *valid = PETSC_FALSE;
}

/* Opens path read-only; a file a writer holds in SWMR mode (a run in
 * progress, or killed) is opened as a SWMR reader. Returns < 0 on failure
 * with the reason in msg. */
static hid_t OpenH5(const char *path, char *msg, size_t len, PetscBool *valid)
{
  hid_t  f;
  htri_t is;

  if (access(path, R_OK) != 0) {
    Fail(msg, len, valid, "%s: cannot read: %s", path, strerror(errno));
    return -1;
  }
  is = H5Fis_hdf5(path);
  if (is <= 0) {
    Fail(msg, len, valid, "%s: not an HDF5 file", path);
    return -1;
  }
  f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) f = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
  if (f < 0)
    Fail(msg, len, valid,
         "%s: cannot open the HDF5 file: it is truncated or damaged, or was left open by a killed writer (then "
         "run h5clear -s --increment=0 on a copy of it)",
         path);
  return f;
}

PetscErrorCode McReadH5Dataset(const char *path, const char *dataset, PetscInt *rank, PetscInt dims[2],
                               PetscReal **vals, char *msg, size_t len, PetscBool *valid)
{
  H5E_auto2_t func;
  void       *data;
  hid_t       f, ds = -1, space = -1, type = -1;
  hsize_t     d[2] = {0, 1};
  int         r;
  size_t      n;

  PetscFunctionBeginUser;
  *vals = NULL;
  *rank = 0;
  dims[0] = dims[1] = 0;
  /* HDF5 would print its error stack; the failures become our messages. */
  H5Eget_auto2(H5E_DEFAULT, &func, &data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  f = OpenH5(path, msg, len, valid);
  if (f < 0) goto done;
  if (H5Lexists(f, dataset, H5P_DEFAULT) <= 0 || H5Oexists_by_name(f, dataset, H5P_DEFAULT) <= 0) {
    Fail(msg, len, valid, "%s: no dataset \"%s\" in the file", path, dataset);
    goto done;
  }
  ds = H5Dopen2(f, dataset, H5P_DEFAULT);
  if (ds < 0) {
    Fail(msg, len, valid, "%s: \"%s\" is not a dataset", path, dataset);
    goto done;
  }
  type = H5Dget_type(ds);
  if (H5Tget_class(type) != H5T_FLOAT && H5Tget_class(type) != H5T_INTEGER) {
    Fail(msg, len, valid, "%s: dataset \"%s\" does not hold numbers", path, dataset);
    goto done;
  }
  space = H5Dget_space(ds);
  r = H5Sget_simple_extent_ndims(space);
  if (r < 1 || r > 2) {
    Fail(msg, len, valid, "%s: dataset \"%s\" has %d dimensions, expected 1 or 2", path, dataset, r);
    goto done;
  }
  H5Sget_simple_extent_dims(space, d, NULL);
  n = (size_t)d[0] * (size_t)(r == 2 ? d[1] : 1);
  if (n == 0) {
    Fail(msg, len, valid, "%s: dataset \"%s\" is empty", path, dataset);
    goto done;
  }
  PetscCall(PetscMalloc1(n, vals));
  if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *vals) < 0) {
    Fail(msg, len, valid, "%s: cannot read dataset \"%s\"", path, dataset);
    PetscCall(PetscFree(*vals));
    goto done;
  }
  *rank = r;
  dims[0] = (PetscInt)d[0];
  dims[1] = r == 2 ? (PetscInt)d[1] : 1;
done:
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  if (ds >= 0) H5Dclose(ds);
  if (f >= 0) H5Fclose(f);
  H5Eclear2(H5E_DEFAULT);
  H5Eset_auto2(H5E_DEFAULT, func, data);
  PetscFunctionReturn(0);
}

/* A [chains, n] dataset (an earlier run's fields/mean): the chains'
 * fields averaged with the weights of the "count" dataset beside it (the
 * number of fields each chain's mean is over), equal weights without one.
 * Chains with weight 0 (no field yet, their mean is NaN) are left out. */
static PetscErrorCode AverageRows(const char *path, const char *dataset, PetscInt C, PetscInt n, PetscReal *v,
                                  PetscReal *out, char *msg, size_t len, PetscBool *valid)
{
  char        countpath[MC_CONFIG_PATH_MAX + 8];
  const char *slash = strrchr(dataset, '/');
  PetscReal  *w = NULL, wsum = 0;
  PetscInt    rank, dims[2];
  PetscBool   ok = PETSC_TRUE;
  char        ignore[8];

  PetscFunctionBeginUser;
  PetscCall(PetscSNPrintf(countpath, sizeof countpath, "%.*scount", slash ? (int)(slash - dataset + 1) : 0, dataset));
  PetscCall(McReadH5Dataset(path, countpath, &rank, dims, &w, ignore, sizeof ignore, &ok));
  if (ok && !(rank == 1 && dims[0] == C)) {
    Fail(msg, len, valid, "%s: dataset \"%s\" has %d values for the %d rows (chains) of \"%s\"", path, countpath,
         (int)(dims[0] * dims[1]), (int)C, dataset);
    PetscCall(PetscFree(w));
    PetscFunctionReturn(0);
  }
  for (PetscInt i = 0; i < n; i++)
    out[i] = 0;
  for (PetscInt c = 0; c < C; c++) {
    PetscReal wc = w ? w[c] : 1.0;
    if (!(wc > 0)) continue;
    wsum += wc;
    for (PetscInt i = 0; i < n; i++)
      out[i] += wc * v[c * n + i];
  }
  if (wsum > 0)
    for (PetscInt i = 0; i < n; i++)
      out[i] /= wsum;
  else
    Fail(msg, len, valid, "%s: \"%s\" counts no field in any chain (the run stored none yet)", path, countpath);
  PetscCall(PetscFree(w));
  PetscFunctionReturn(0);
}

PetscErrorCode McReadFieldFile(const char *path, const char *dataset, PetscInt n, PetscReal **vals, char *msg,
                               size_t len, PetscBool *valid)
{
  PetscReal  *v = NULL;
  PetscInt    rank, dims[2], rows;
  char        where[MC_CONFIG_PATH_MAX + 16];
  htri_t      is;
  H5E_auto2_t func;
  void       *data;

  PetscFunctionBeginUser;
  *vals = NULL;
  if (access(path, R_OK) != 0) {
    Fail(msg, len, valid, "%s: cannot read: %s", path, strerror(errno));
    PetscFunctionReturn(0);
  }
  H5Eget_auto2(H5E_DEFAULT, &func, &data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  is = H5Fis_hdf5(path);
  H5Eset_auto2(H5E_DEFAULT, func, data);
  if (is <= 0) { /* a text file: one value per line */
    PetscCall(McReadTable(path, 1, "value of the field, one per mesh vertex", &rows, &v, msg, len, valid));
    if (!*valid) PetscFunctionReturn(0);
    PetscCall(PetscSNPrintf(where, sizeof where, "%s", path));
    if (rows != n)
      Fail(msg, len, valid, "%s: %d values, the mesh has %d vertices (one value each)", path, (int)rows, (int)n);
  } else {
    const char *ds = dataset && dataset[0] ? dataset : "fields/mean";
    PetscCall(McReadH5Dataset(path, ds, &rank, dims, &v, msg, len, valid));
    if (!*valid) PetscFunctionReturn(0);
    PetscCall(PetscSNPrintf(where, sizeof where, "%s: dataset \"%s\"", path, ds));
    if (rank == 2 && dims[1] == n) {
      PetscReal *avg;
      PetscCall(PetscMalloc1(n, &avg));
      PetscCall(AverageRows(path, ds, dims[0], n, v, avg, msg, len, valid));
      PetscCall(PetscFree(v));
      v = avg;
    } else if (!(rank == 1 && dims[0] == n)) {
      char shape[64];
      if (rank == 2)
        PetscCall(PetscSNPrintf(shape, sizeof shape, "[%d, %d]", (int)dims[0], (int)dims[1]));
      else
        PetscCall(PetscSNPrintf(shape, sizeof shape, "[%d]", (int)dims[0]));
      Fail(msg, len, valid, "%s has shape %s, expected %d values (one per mesh vertex) or [chains, %d]", where, shape,
           (int)n, (int)n);
    }
  }
  for (PetscInt i = 0; *valid && i < n; i++)
    if (!isfinite(v[i]))
      Fail(msg, len, valid, "%s: value %d (vertex %d) is %g, expected a finite number", where, (int)i + 1, (int)i,
           (double)v[i]);
  if (!*valid) PetscCall(PetscFree(v));
  *vals = v;
  PetscFunctionReturn(0);
}

PetscErrorCode McReadTableFile(const char *path, const char *dataset, const char *default_dataset, PetscInt width,
                               const char *what, PetscInt *nrows, PetscReal **vals, char *where, size_t wlen, char *msg,
                               size_t len, PetscBool *valid)
{
  const char *ds = dataset && dataset[0] ? dataset : default_dataset;
  PetscInt    rank, dims[2];
  htri_t      is;
  H5E_auto2_t func;
  void       *data;

  PetscFunctionBeginUser;
  *nrows = 0;
  *vals = NULL;
  PetscCall(PetscSNPrintf(where, wlen, "%s", path));
  H5Eget_auto2(H5E_DEFAULT, &func, &data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  is = access(path, R_OK) == 0 ? H5Fis_hdf5(path) : 0;
  H5Eset_auto2(H5E_DEFAULT, func, data);
  if (is <= 0) { /* a text file (or none: McReadTable names the reason) */
    PetscCall(McReadTable(path, width, what, nrows, vals, msg, len, valid));
    PetscFunctionReturn(0);
  }
  PetscCall(PetscSNPrintf(where, wlen, "%s: dataset \"%s\"", path, ds));
  PetscCall(McReadH5Dataset(path, ds, &rank, dims, vals, msg, len, valid));
  if (!*valid) PetscFunctionReturn(0);
  /* [rows, width], or [rows] for one number per row. */
  if (!((rank == 2 && dims[1] == width) || (rank == 1 && width == 1))) {
    char shape[64];
    if (rank == 2)
      PetscCall(PetscSNPrintf(shape, sizeof shape, "[%d, %d]", (int)dims[0], (int)dims[1]));
    else
      PetscCall(PetscSNPrintf(shape, sizeof shape, "[%d]", (int)dims[0]));
    if (width == 1)
      Fail(msg, len, valid, "%s has shape %s, expected [n] or [n, 1] (%s)", where, shape, what);
    else
      Fail(msg, len, valid, "%s has shape %s, expected [n, %d] (%s, %d per row)", where, shape, (int)width, what,
           (int)width);
  }
  for (PetscInt i = 0; *valid && i < dims[0]; i++)
    for (PetscInt j = 0; *valid && j < width; j++)
      if (!isfinite((*vals)[i * width + j]))
        Fail(msg, len, valid, "%s: row %d has %g, expected a finite number (%s)", where, (int)i,
             (double)(*vals)[i * width + j], what);
  if (!*valid)
    PetscCall(PetscFree(*vals));
  else
    *nrows = dims[0];
  PetscFunctionReturn(0);
}

PetscErrorCode McReadH5StringAttribute(const char *path, const char *object, const char *name, char *value, size_t len,
                                       PetscBool *found)
{
  H5E_auto2_t func;
  void       *data;
  hid_t       f = -1, attr = -1, type = -1, mem = -1;

  PetscFunctionBeginUser;
  *found = PETSC_FALSE;
  value[0] = '\0';
  H5Eget_auto2(H5E_DEFAULT, &func, &data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  if (access(path, R_OK) == 0 && H5Fis_hdf5(path) > 0) {
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) f = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
  }
  if (f >= 0 && H5Aexists_by_name(f, object, name, H5P_DEFAULT) > 0)
    attr = H5Aopen_by_name(f, object, name, H5P_DEFAULT, H5P_DEFAULT);
  if (attr >= 0) type = H5Aget_type(attr);
  /* A fixed-length string (what mcmc-run writes) that fits. */
  if (type >= 0 && H5Tget_class(type) == H5T_STRING && !H5Tis_variable_str(type) && H5Tget_size(type) < len) {
    mem = H5Tcopy(type);
    H5Tset_size(mem, len);
    H5Tset_strpad(mem, H5T_STR_NULLTERM);
    if (H5Aread(attr, mem, value) >= 0) *found = PETSC_TRUE;
  }
  if (mem >= 0) H5Tclose(mem);
  if (type >= 0) H5Tclose(type);
  if (attr >= 0) H5Aclose(attr);
  if (f >= 0) H5Fclose(f);
  H5Eclear2(H5E_DEFAULT);
  H5Eset_auto2(H5E_DEFAULT, func, data);
  PetscFunctionReturn(0);
}
