/* libFuzzer target for the observation-point CSV reader
 * (McObsReadPointsCSV): the first byte picks the dimension (1-3), the rest
 * is the file. Either every point read is finite, or the error names the
 * file (and line). */
#include "fem/fem.h"
#include "fuzz_petsc.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  McFuzzInitPetsc(".csv");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  PetscInt    dim, n = 0;
  PetscReal  *pts = NULL;
  const char *path;

  if (size < 1) return 0;
  dim = 1 + data[0] % 3;
  path = McFuzzWriteFile(data + 1, size - 1);
  mc_fuzz_error[0] = '\0';
  if (McObsReadPointsCSV(PETSC_COMM_SELF, path, dim, &n, &pts)) {
    if (strncmp(mc_fuzz_error, path, strlen(path)) && !strstr(mc_fuzz_error, "observation points file '")) {
      fprintf(stderr, "error without the file name: %s\n", mc_fuzz_error);
      abort();
    }
    return 0;
  }
  if (n < 1) abort();
  for (PetscInt i = 0; i < n * dim; i++)
    if (!isfinite(pts[i])) {
      fprintf(stderr, "point %d holds a non-finite coordinate\n", (int)(i / dim));
      abort();
    }
  if (PetscFree(pts)) abort();
  return 0;
}
