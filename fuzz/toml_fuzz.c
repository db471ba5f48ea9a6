/* libFuzzer target for the TOML parser: any byte string must either parse
 * into a tree that can be walked, printed and freed, or be rejected with a
 * message that carries a position -- never crash, leak or hang. */
#include "toml/toml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static FILE *sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  McTomlValue *root;
  McTomlError  err;

  if (!sink) sink = fopen("/dev/null", "w");
  if (McTomlParse((const char *)data, size, "fuzz", &root, &err) == 0) {
    /* Walk the whole tree through the writer, as toml-decode would. */
    McTomlWriteTaggedJSON(sink, root);
    (void)McTomlGet(root, "a");
    McTomlFree(&root);
  } else {
    /* A rejection must say where: "fuzz:line:col: ...", inside the input. */
    if (strncmp(err.message, "fuzz:", 5) != 0 || err.line < 1 || err.col < 1 || (size_t)err.line > size + 1) abort();
  }
  return 0;
}
