/* Replays the fuzzer's regression corpus through the parser (built with the
 * normal compiler, so the sanitizer build of the suite checks it too): each
 * file must parse or be rejected with a positioned message, never crash. */
#include "toml/toml.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
  DIR           *d;
  struct dirent *de;
  int            files = 0, accepted = 0, bad = 0;
  FILE          *sink = fopen("/dev/null", "w");

  if (argc != 2 || !(d = opendir(argv[1])) || !sink) {
    fprintf(stderr, "usage: toml_replay CORPUS_DIR\n");
    return 2;
  }
  while ((de = readdir(d))) {
    char         path[4096];
    McTomlValue *root;
    McTomlError  err;
    if (de->d_name[0] == '.') continue;
    snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
    files++;
    if (McTomlParseFile(path, &root, &err) == 0) {
      McTomlWriteTaggedJSON(sink, root);
      McTomlFree(&root);
      accepted++;
    } else if (strncmp(err.message, path, strlen(path)) || err.line < 1 || err.col < 1) {
      printf("FAIL %s: message without a position: %s\n", de->d_name, err.message);
      bad++;
    }
  }
  closedir(d);
  fclose(sink);
  printf("replayed %d files: %d accepted, %d rejected, %d bad\n", files, accepted, files - accepted, bad);
  return bad != 0 || files < 20;
}
