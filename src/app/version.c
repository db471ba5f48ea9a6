/* Version report: what a bug report needs to reproduce a run, namely our
 * version and commit and the exact library versions linked at run time
 * (not the headers we compiled against, which may differ). */
#include "app/app.h"
#include "mc_version.h"

#include <fftw3.h>
#include <gsl/gsl_version.h>
#include <hdf5.h>
#include <mpi.h>
#include <petscsys.h>

void McPrintVersion(FILE *out, const char *prog)
{
  char     petsc[256] = "";
  char     mpi[MPI_MAX_LIBRARY_VERSION_STRING] = "";
  int      mpilen = 0;
  unsigned h5maj = 0, h5min = 0, h5rel = 0;

  (void)PetscGetVersion(petsc, sizeof(petsc));
  (void)MPI_Get_library_version(mpi, &mpilen);
  /* Open MPI's string carries a newline and build details; the first line is enough. */
  for (int i = 0; i < mpilen; i++) {
    if (mpi[i] == '\n' || mpi[i] == ',') {
      mpi[i] = '\0';
      break;
    }
  }
  (void)H5get_libversion(&h5maj, &h5min, &h5rel);
  fprintf(out, "%s %s (commit %s, %s build)\n", prog, MC_VERSION_STRING, MC_GIT_COMMIT, MC_BUILD_TYPE);
  fprintf(out, "  PETSc %s\n", petsc);
  fprintf(out, "  HDF5  %u.%u.%u\n", h5maj, h5min, h5rel);
  fprintf(out, "  GSL   %s\n", gsl_version);
  fprintf(out, "  FFTW  %s\n", fftw_version);
  fprintf(out, "  MPI   %s (MPI standard %d.%d)\n", mpi, MPI_VERSION, MPI_SUBVERSION);
}
