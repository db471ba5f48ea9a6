/* main() for replaying a libFuzzer target's regression corpus with the
 * normal compiler (and, in the sanitizer build, gcc's ASan+UBSan): links with
 * one fuzz/<target>_fuzz.c, calls its LLVMFuzzerInitialize once and its
 * LLVMFuzzerTestOneInput on every file of the directories given. A target
 * aborts on a broken contract, so a pass means every input was handled. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ReplayFile(const char *path)
{
  FILE    *f = fopen(path, "rb");
  uint8_t *buf;
  long     n;

  if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
    fprintf(stderr, "cannot read %s\n", path);
    if (f) fclose(f);
    return 1;
  }
  buf = malloc((size_t)n + 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "cannot read %s\n", path);
    fclose(f);
    free(buf);
    return 1;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(buf, (size_t)n);
  free(buf);
  return 0;
}

int main(int argc, char **argv)
{
  int files = 0, bad = 0;

  LLVMFuzzerInitialize(&argc, &argv);
  for (int a = 1; a < argc; a++) {
    DIR           *d = opendir(argv[a]);
    struct dirent *de;
    if (!d) {
      fprintf(stderr, "cannot open corpus directory %s\n", argv[a]);
      return 1;
    }
    while ((de = readdir(d))) {
      char path[4096];
      if (de->d_name[0] == '.') continue;
      snprintf(path, sizeof(path), "%s/%s", argv[a], de->d_name);
      bad += ReplayFile(path);
      files++;
    }
    closedir(d);
  }
  printf("replayed %d inputs, %d unreadable\n", files, bad);
  return bad != 0 || files == 0;
}
