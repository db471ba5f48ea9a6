/* mcmc-diag: reads an mcmc-run output file and reports on it. This file
 * turns the command line into calls of the diagnostics and an exit code. */
#include "app/app.h"

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
  "usage: mcmc-diag [OPTIONS] FILE.h5\n"
  "\n"
  "Reports on an mcmc-run output file: every group and dataset with its shape.\n"
  "\n"
  "Options:\n"
  "  -h, --help       show this help and exit\n"
  "  -V, --version    show the version of mcmc-diag and of its libraries\n"
  "\n"
  "Exit codes: 0 success, 1 usage error or unreadable file, 2 runtime failure.\n";

static herr_t ListObject(hid_t loc, const char *name, const H5O_info_t *info, void *data)
{
  (void)data;
  if (!strcmp(name, ".")) return 0;
  if (info->type == H5O_TYPE_GROUP) {
    printf("%-40s group\n", name);
  } else if (info->type == H5O_TYPE_DATASET) {
    hid_t   ds = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t   sp = ds < 0 ? -1 : H5Dget_space(ds);
    hsize_t dims[H5S_MAX_RANK];
    int     rank = sp < 0 ? -1 : H5Sget_simple_extent_dims(sp, dims, NULL);

    printf("%-40s dataset [", name);
    for (int i = 0; i < rank; i++) printf("%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
    printf("]\n");
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    if (rank < 0) return -1;
  }
  return 0;
}

static int Report(const char *path)
{
  hid_t file;
  int   code = MC_EXIT_OK;

  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* we report errors ourselves */
  if (H5Fis_hdf5(path) <= 0) {
    fprintf(stderr, "mcmc-diag: %s: not a readable HDF5 file\n", path);
    return MC_EXIT_USAGE;
  }
  file = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
  if (file < 0) file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) {
    fprintf(stderr, "mcmc-diag: %s: cannot open the HDF5 file\n", path);
    return MC_EXIT_USAGE;
  }
  printf("%s\n", path);
  if (H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, ListObject, NULL, H5O_INFO_BASIC) < 0) {
    fprintf(stderr, "mcmc-diag: %s: the file is damaged (cannot list its contents)\n", path);
    code = MC_EXIT_RUNTIME;
  }
  H5Fclose(file);
  return code;
}

int main(int argc, char **argv)
{
  const char *file = NULL;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      return MC_EXIT_OK;
    } else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
      McPrintVersion(stdout, "mcmc-diag");
      return MC_EXIT_OK;
    } else if (a[0] == '-') {
      fprintf(stderr, "mcmc-diag: unknown option '%s' (see mcmc-diag --help)\n", a);
      return MC_EXIT_USAGE;
    } else if (file) {
      fprintf(stderr, "mcmc-diag: more than one FILE given: '%s' and '%s'\n", file, a);
      return MC_EXIT_USAGE;
    }
    file = a;
  }
  if (!file) {
    fprintf(stderr, "mcmc-diag: no FILE given\n\n%s", usage);
    return MC_EXIT_USAGE;
  }
  return Report(file);
}
