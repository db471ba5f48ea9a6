/* libFuzzer target for the data-file reader of mcmc-run (McReadTable: the
 * [data] file and the [observations] file): the first byte picks the row
 * width (1-3), the rest is the file. Either every value read is finite and
 * there is at least one row, or the message starts with the file's path. */
#include "app/app.h"
#include "fuzz_petsc.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  McFuzzInitPetsc(".txt");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  PetscInt    width, n = 0;
  PetscReal  *vals = NULL;
  char        msg[1024];
  PetscBool   valid;
  const char *path;

  if (size < 1) return 0;
  width = 1 + data[0] % 3;
  path = McFuzzWriteFile(data + 1, size - 1);
  if (McReadTable(path, width, "values", &n, &vals, msg, sizeof(msg), &valid)) abort();
  if (!valid) {
    if (strncmp(msg, path, strlen(path)) || vals) {
      fprintf(stderr, "bad rejection: %s\n", msg);
      abort();
    }
    return 0;
  }
  if (n < 1) abort();
  for (PetscInt i = 0; i < n * width; i++)
    if (!isfinite(vals[i])) abort();
  if (PetscFree(vals)) abort();
  return 0;
}
