/* The main job's life: PETSc up, the run, PETSc down, and the mapping from
 * what went wrong to the documented exit codes. */
#include "app/app.h"

#include <errno.h>
#include <petscsys.h>
#include <string.h>

static PetscErrorCode RunConfig(const char *config, int *code)
{
  PetscMPIInt size;
  FILE       *f;

  PetscFunctionBeginUser;
  f = fopen(config, "r");
  if (!f) {
    PetscCall(PetscFPrintf(PETSC_COMM_WORLD, stderr, "%s: cannot open configuration: %s\n", config, strerror(errno)));
    *code = MC_EXIT_USAGE;
    PetscFunctionReturn(0);
  }
  fclose(f);
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "mcmc-run: %s on %d rank(s)\n", config, (int)size));
  *code = MC_EXIT_OK;
  PetscFunctionReturn(0);
}

int McRunMain(int petsc_argc, char **petsc_argv, const char *config)
{
  PetscErrorCode ierr;
  int            code = MC_EXIT_RUNTIME;

  ierr = PetscInitialize(&petsc_argc, &petsc_argv, NULL, NULL);
  if (ierr) return MC_EXIT_RUNTIME;
  ierr = RunConfig(config, &code);
  if (ierr) code = MC_EXIT_RUNTIME;
  ierr = PetscFinalize();
  if (ierr && code == MC_EXIT_OK) code = MC_EXIT_RUNTIME;
  return code;
}
