/* What the fuzz targets that need PETSc share: PETSc initialised once, on
 * one process, with its error traceback silenced (a rejected input is the
 * expected outcome, printed thousands of times a second otherwise), and a
 * scratch file for readers that take a path. */
#pragma once
#include <petscsys.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char mc_fuzz_path[256];
static char mc_fuzz_error[4096]; /* the message of the last PETSc error raised */

static PetscErrorCode McFuzzErrorHandler(MPI_Comm comm, int line, const char *func, const char *file, PetscErrorCode n,
                                         PetscErrorType p, const char *mess, void *ctx)
{
  (void)comm, (void)line, (void)func, (void)file, (void)ctx;
  if (p == PETSC_ERROR_INITIAL) snprintf(mc_fuzz_error, sizeof(mc_fuzz_error), "%s", mess ? mess : "");
  return n;
}

static inline void McFuzzInitPetsc(const char *suffix)
{
  int   argc = 1;
  char *args[] = {(char *)"fuzz", NULL}, **argv = args;
  if (PetscInitialize(&argc, &argv, NULL, NULL)) abort();
  PetscPushErrorHandler(McFuzzErrorHandler, NULL);
  snprintf(mc_fuzz_path, sizeof(mc_fuzz_path), "%s/mc-fuzz-%d%s", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
           (int)getpid(), suffix);
}

/* Writes the input to the scratch file; returns its path. */
static inline const char *McFuzzWriteFile(const unsigned char *data, size_t size)
{
  FILE *f = fopen(mc_fuzz_path, "wb");
  if (!f || fwrite(data, 1, size, f) != size || fclose(f)) abort();
  return mc_fuzz_path;
}

/* MC_FUZZ_VERBOSE=1: print the PETSc error of each input (for triage). */
static inline void McFuzzReport(void)
{
  if (getenv("MC_FUZZ_VERBOSE") && mc_fuzz_error[0]) fprintf(stderr, "PETSc error: %s\n", mc_fuzz_error);
}
