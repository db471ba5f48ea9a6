/* libFuzzer target for the configuration schema: any byte string given to
 * McConfigLoadString is either a valid configuration -- which then prints
 * (--print-config) to a text that loads back valid -- or rejected with one
 * line "fuzz:LINE:COL: message". Never a crash, leak, hang or PETSc error. */
#include "config/config.h"
#include "fuzz_petsc.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  McFuzzInitPetsc(".toml");
  return 0;
}

/* "fuzz:" then a line and a column, and no newline. */
static int Positioned(const char *msg)
{
  int line = 0, col = 0, n = 0;
  if (strncmp(msg, "fuzz:", 5) || strchr(msg, '\n')) return 0;
  return sscanf(msg + 5, "%d:%d:%n", &line, &col, &n) == 2 && n > 0 && line >= 1 && col >= 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  McConfig *cfg = NULL;
  char      msg[2048];
  PetscBool valid;

  if (McConfigCreate(&cfg)) abort();
  if (McConfigLoadString(cfg, (const char *)data, size, "fuzz", msg, sizeof(msg), &valid)) abort();
  if (!valid && !Positioned(msg)) {
    fprintf(stderr, "rejection without a position: %s\n", msg);
    abort();
  }
  if (valid) {
    /* The resolved configuration must round-trip through its TOML form. */
    char  *text = NULL;
    size_t len = 0;
    FILE  *out = open_memstream(&text, &len);
    if (!out || McConfigWrite(cfg, out)) abort();
    fclose(out);
    if (McConfigLoadString(cfg, text, len, "printed", msg, sizeof(msg), &valid)) abort();
    if (!valid) {
      fprintf(stderr, "the printed configuration does not load back: %s\n---\n%s", msg, text);
      abort();
    }
    free(text);
  }
  if (McConfigDestroy(&cfg)) abort();
  return 0;
}
