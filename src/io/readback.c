/* Reading back what a run wrote, for a resumed run: the root attributes
 * (the configuration text and model hash, needed before the model exists to
 * open the file for resuming) and the draws of one per-draw variable (the
 * traces the resumed run's summary needs, which live only in the file).
 *
 * The one idea: a file left by a killed SWMR writer is still marked "open
 * for writing"; a reader opened with H5F_ACC_SWMR_READ accepts it without
 * h5clear. A writer killed before it started SWMR (in a resume's set-up)
 * leaves a mark no reader accepts; when no process holds the writer's lock,
 * the file is opened as its writer would (McH5OpenKilled_Private: the mark
 * cleared, the end of allocation raised), which McOutputOpenResume does
 * anyway. So these work on any file McOutputOpenResume accepts. */
#include "io/ioimpl.h"
#include <string.h>
#include <unistd.h>

/* Opens path for reading (see the top of this file). */
static PetscErrorCode McOpenForReading(const char *path, struct _p_McOutput *dummy, hid_t *filep)
{
  hid_t file;

  PetscFunctionBeginUser;
  PetscCheck(access(path, F_OK) == 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "output file %s does not exist", path);
  PetscCall(PetscMemzero(dummy, sizeof *dummy));
  dummy->path = (char *)path;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  file = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
  if (file < 0) {
    H5Eclear2(H5E_DEFAULT);
    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  }
  if (file < 0) {
    /* The read-only open's error says what is wrong with a damaged file:
     * it is the one reported if this open fails too. */
    hid_t fapl, why = H5Eget_current_stack();

    PetscCall(McOutputLock_Private(dummy, PETSC_FALSE));
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0) file = McH5OpenKilled_Private(path, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (file < 0) H5Eset_current_stack(why);
    else H5Eclose_stack(why);
  }
  if (file < 0) PetscCall(McH5Error_Private(path, path, "H5Fopen(path)"));
  *filep = file;
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputReadChainCount(const char *path, PetscInt *nchains)
{
  struct _p_McOutput dummy;
  hid_t              file, ds, space;
  hsize_t            n = 0;

  PetscFunctionBeginUser;
  PetscCall(McOpenForReading(path, &dummy, &file));
  if (H5Lexists(file, "posterior", H5P_DEFAULT) <= 0 || H5Lexists(file, "posterior/chain", H5P_DEFAULT) <= 0) {
    H5Fclose(file);
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "output file %s: has no posterior/chain (not written by mcmc-run?)", path);
  }
  MC_H5(&dummy, "posterior/chain", ds = H5Dopen2(file, "posterior/chain", H5P_DEFAULT));
  MC_H5(&dummy, "posterior/chain", space = H5Dget_space(ds));
  MC_H5(&dummy, "posterior/chain", H5Sget_simple_extent_dims(space, &n, NULL));
  MC_H5(&dummy, "posterior/chain", H5Sclose(space));
  MC_H5(&dummy, "posterior/chain", H5Dclose(ds));
  MC_H5(&dummy, path, H5Fclose(file));
  *nchains = (PetscInt)n;
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputReadRootAttribute(const char *path, const char *name, char **value)
{
  struct _p_McOutput dummy; /* only path and failed are used by MC_H5 */
  hid_t              file, attr, type;
  size_t             n;

  PetscFunctionBeginUser;
  *value = NULL;
  PetscCall(McOpenForReading(path, &dummy, &file));
  if (H5Aexists(file, name) <= 0) {
    H5Fclose(file);
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "output file %s: has no root attribute '%s' (not written by mcmc-run?)", path, name);
  }
  MC_H5(&dummy, name, attr = H5Aopen(file, name, H5P_DEFAULT));
  MC_H5(&dummy, name, type = H5Aget_type(attr));
  PetscCheck(H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) == 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "output file %s: root attribute '%s' is not a fixed-length string", path, name);
  n = H5Tget_size(type);
  PetscCall(PetscCalloc1(n + 1, value));
  MC_H5(&dummy, name, H5Aread(attr, type, *value));
  MC_H5(&dummy, name, H5Tclose(type));
  MC_H5(&dummy, name, H5Aclose(attr));
  MC_H5(&dummy, path, H5Fclose(file));
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputReadDraws(McOutput o, const char *name, PetscInt chain, PetscInt64 n, PetscInt ncols, double *values)
{
  McDrawVar *v = NULL;

  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < o->nvars; i++)
    if (!strcmp(o->vars[i].name, name)) v = &o->vars[i];
  PetscCheck(v, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "output file %s: no per-draw variable %s", o->path, name);
  PetscCheck(v->memtype == H5T_NATIVE_DOUBLE, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "output file %s: %s is not a float64 variable", o->path, name);
  PetscCheck(chain >= 0 && chain < o->C, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "output file %s: chain %" PetscInt_FMT " out of range [0, %" PetscInt_FMT ")", o->path, chain, o->C);
  PetscCheck(n <= o->written, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "output file %s: %lld draws asked for, %lld on file", o->path, (long long)n, (long long)o->written);
  PetscCheck(ncols >= 1 && (size_t)ncols <= v->width, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "output file %s: %s has %zu values per draw, %" PetscInt_FMT " asked for", o->path, name, v->width, ncols);
  if (v->width > 1) {
    hsize_t m[3] = {1, (hsize_t)n, (hsize_t)ncols}, s[3] = {(hsize_t)chain, 0, 0}, c[3] = {1, (hsize_t)n, (hsize_t)ncols};
    PetscCall(McH5Transfer_Private(o, v->dset, v->name, H5T_NATIVE_DOUBLE, values, 3, m, s, c, PETSC_FALSE));
  } else {
    hsize_t m[2] = {1, (hsize_t)n}, s[2] = {(hsize_t)chain, 0}, c[2] = {1, (hsize_t)n};
    PetscCall(McH5Transfer_Private(o, v->dset, v->name, H5T_NATIVE_DOUBLE, values, 2, m, s, c, PETSC_FALSE));
  }
  PetscFunctionReturn(0);
}
