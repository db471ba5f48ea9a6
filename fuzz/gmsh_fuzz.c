/* libFuzzer target for Gmsh meshes: the validating scanner (McGmshValidate)
 * on any bytes, and for every file it accepts the whole mesh build
 * (McMeshCreate: PETSc's reader, labels, cell checks) on one process. An
 * accepted file must build or fail with a PETSc error (a bad cell), never
 * crash; a rejected one must say "FILE:LINE: ..." or "mesh file 'FILE' ...". */
#include "fem/fem.h"
#include "obj/obj.h"
#include "fuzz_petsc.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  McFuzzInitPetsc(".msh");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char        msg[1024];
  PetscBool   valid;
  McMeshSpec  spec;
  McMesh      mesh = NULL;
  const char *path;

  if (McGmshValidate((const char *)data, size, "fuzz.msh", msg, sizeof(msg), &valid)) abort();
  if (!valid) {
    if (strncmp(msg, "fuzz.msh:", 9) && strncmp(msg, "mesh file 'fuzz.msh'", 20)) {
      fprintf(stderr, "rejection without the file name: %s\n", msg);
      abort();
    }
    return 0;
  }
  path = McFuzzWriteFile(data, size);
  if (McMeshSpecDefault(&spec)) abort();
  spec.gmsh_file = path;
  /* An error here is a mesh the checks after reading refuse (an inverted or
   * degenerate cell): fine, as long as nothing crashes or leaks. */
  mc_fuzz_error[0] = '\0';
  if (!McMeshCreate(PETSC_COMM_SELF, &spec, &mesh)) {
    if (McMeshDestroy(&mesh)) abort();
  }
  McFuzzReport();
  if (McGCCollect(2, NULL)) abort();
  return 0;
}
