/* toml-decode: the decoder the toml-test conformance runner drives. Reads a
 * TOML document on stdin and prints it as toml-test's tagged JSON; an invalid
 * document gives the parser's message on stderr and exit status 1. */
#include "toml/toml.h"

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
  char        *text = NULL;
  size_t       n = 0, cap = 0;
  McTomlValue *root;
  McTomlError  err;

  for (;;) {
    size_t got;
    if (n == cap) {
      char *m = realloc(text, cap = cap ? 2 * cap : 65536);
      if (!m) {
        fprintf(stderr, "toml-decode: out of memory\n");
        free(text);
        return 2;
      }
      text = m;
    }
    got = fread(text + n, 1, cap - n, stdin);
    n += got;
    if (got == 0) break;
  }
  if (McTomlParse(text, n, "<stdin>", &root, &err)) {
    fprintf(stderr, "%s\n", err.message);
    free(text);
    return 1;
  }
  McTomlWriteTaggedJSON(stdout, root);
  fputc('\n', stdout);
  McTomlFree(&root);
  free(text);
  return 0;
}
