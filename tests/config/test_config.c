/* The configuration schema: defaults, round trip through McConfigWrite,
 * configs/reference.toml equal to what the schema generates and holding
 * every key (and only keys) of the schema; parsing counted by the memory
 * layer. */
#include "config/config.h"
#include "obj/obj.h"

#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(what, cond)                                                                                              \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      printf("FAIL %s:%d %s\n", __FILE__, __LINE__, what);                                                             \
      failures++;                                                                                                      \
    }                                                                                                                  \
  } while (0)

static char *ReadAll(FILE *f, size_t *n)
{
  char  *text = NULL;
  size_t cap = 0;

  *n = 0;
  for (;;) {
    if (*n + 1 >= cap) text = realloc(text, cap = cap ? 2 * cap : 65536);
    size_t got = fread(text + *n, 1, cap - *n - 1, f);
    *n += got;
    if (!got) break;
  }
  text[*n] = '\0';
  return text;
}

/* Loads path, writes it, loads the output: the two configurations must be
 * equal field by field (the struct is zeroed before loading, so padding is
 * equal too), and so must the observation points. */
static PetscErrorCode RoundTrip(const char *path)
{
  McConfig *a, *b;
  char      msg[1024];
  PetscBool valid;
  FILE     *tmp = tmpfile();
  char     *text;
  size_t    n;

  PetscFunctionBeginUser;
  PetscCall(McConfigCreate(&a));
  PetscCall(McConfigCreate(&b));
  PetscCall(McConfigLoad(a, path, msg, sizeof(msg), &valid));
  if (!valid) printf("FAIL loading %s: %s\n", path, msg), failures++;
  PetscCall(McConfigWrite(a, tmp));
  rewind(tmp);
  text = ReadAll(tmp, &n);
  fclose(tmp);
  PetscCall(McConfigLoadString(b, text, n, a->source, msg, sizeof(msg), &valid));
  if (!valid) printf("FAIL reloading the output for %s: %s\n", path, msg), failures++;
  CHECK("same number of points", a->observations.npoints == b->observations.npoints);
  if (a->observations.npoints == b->observations.npoints && a->observations.npoints)
    CHECK("same points", !memcmp(a->observations.points, b->observations.points,
                                 sizeof(PetscReal) * (size_t)(a->observations.npoints * a->mesh.dim)));
  {
    PetscReal *pa = a->observations.points, *pb = b->observations.points;
    a->observations.points = b->observations.points = NULL;
    if (memcmp(a, b, sizeof(*a)))
      printf("FAIL %s: configuration differs after --print-config round trip\n", path), failures++;
    a->observations.points = pa;
    b->observations.points = pb;
  }
  free(text);
  PetscCall(McConfigDestroy(&a));
  PetscCall(McConfigDestroy(&b));
  PetscFunctionReturn(0);
}

/* configs/reference.toml: equal to the schema's own rendering; every schema
 * key appears as "key = " (active or commented out) under its section, and
 * every such line names a schema key. */
static PetscErrorCode Reference(const char *path, const char *write)
{
  FILE     *f;
  char     *want, *have, line[4096], section[128] = "";
  size_t    nw, nh;
  int       seen[512] = {0};
  McConfig *cfg;
  PetscBool valid;
  char      msg[1024];

  PetscFunctionBeginUser;
  f = tmpfile();
  PetscCall(McConfigWriteReference(f));
  rewind(f);
  want = ReadAll(f, &nw);
  fclose(f);
  if (write) {
    f = fopen(write, "w");
    fwrite(want, 1, nw, f);
    fclose(f);
  }
  f = fopen(path, "r");
  CHECK("reference.toml exists", f);
  if (!f) PetscFunctionReturn(0);
  have = ReadAll(f, &nh);
  rewind(f);
  if (nh != nw || memcmp(want, have, nw))
    printf("FAIL %s differs from the schema (regenerate: config_roundtrip --write-reference %s --reference %s)\n", path, path, path), failures++;
  while (fgets(line, sizeof(line), f)) {
    char *s = line, name[128];
    int   k, found = -1;
    /* A commented-out key: "# name = value". Prose lines hold ": " (a
     * value may hold a bare ':', as a URL does). */
    if (s[0] == '#' && s[1] == ' ' && (s[2] == '[' || strstr(s, " = ")) && !strstr(s + 2, ": ")) s += 2;
    if (sscanf(s, "[[%127[a-z_.]]]", name) == 1 || sscanf(s, "[%127[a-z_.]]", name) == 1) {
      snprintf(section, sizeof(section), "%s", name);
      continue;
    }
    if (s[0] == '#' || sscanf(s, "%127[a-z_]", name) != 1 || strncmp(s + strlen(name), " = ", 3)) continue;
    for (k = 0; k < McConfigKeyCount(); k++) {
      const char *sec, *key;
      PetscCall(McConfigKeyGet(k, &sec, &key));
      if (!strcmp(sec, section) && !strcmp(key, name)) found = k;
    }
    if (found < 0)
      printf("FAIL %s: [%s] %s is not a key of the schema\n", path, section, name), failures++;
    else
      seen[found]++;
  }
  fclose(f);
  for (PetscInt k = 0; k < McConfigKeyCount(); k++) {
    const char *sec, *key;
    PetscCall(McConfigKeyGet(k, &sec, &key));
    if (seen[k] != 1) printf("FAIL %s: [%s] %s appears %d times (want once)\n", path, sec, key, seen[k]), failures++;
  }
  PetscCall(McConfigCreate(&cfg));
  PetscCall(McConfigLoad(cfg, path, msg, sizeof(msg), &valid));
  if (!valid) printf("FAIL %s is not valid: %s\n", path, msg), failures++;
  PetscCall(McConfigDestroy(&cfg));
  free(want);
  free(have);
  PetscFunctionReturn(0);
}

static PetscErrorCode Defaults(void)
{
  McConfig *c;

  PetscFunctionBeginUser;
  PetscCall(McConfigCreate(&c));
  CHECK("default dim 2", c->mesh.dim == 2);
  CHECK("default cells expanded", c->mesh.cells[0] == 32 && c->mesh.cells[1] == 32);
  CHECK("default kernel pcn", c->sampler.kernel == MC_KERNEL_PCN);
  CHECK("default dirichlet on the boundary", c->pde.ndirichlet == 1 && !strcmp(c->pde.dirichlet[0].label, "boundary"));
  CHECK("default labels", !strcmp(c->mesh.boundary_labels[3], "top") && c->mesh.boundary_labels[4][0] == '\0');
  CHECK("default gc thresholds", c->memory.gc_thresholds[0] == 700 && c->memory.gc_thresholds[2] == 10);
  CHECK("default petsc options", strstr(c->solver.petsc_options, "-pc_type cholesky") != NULL);
  CHECK("default target acceptance of pcn 0.25", c->sampler.target_acceptance == 0.25);
  PetscCall(McConfigDestroy(&c));
  CHECK("destroy clears", c == NULL);
  PetscFunctionReturn(0);
}

/* [sampler] target_acceptance defaults to the kernel's own optimum; a given
 * value is kept whatever the kernel. */
static PetscErrorCode TargetAcceptance(void)
{
  const struct {
    const char *text;
    PetscReal   want;
  } cases[] = {
      {"[sampler]\nkernel = \"rwm\"\n", 0.25},
      {"[sampler]\nkernel = \"am\"\n", 0.25},
      {"[sampler]\nkernel = \"mala\"\n", 0.574},
      {"[sampler]\nkernel = \"infmala\"\n", 0.574},
      {"[sampler]\nkernel = \"hmala\"\n", 0.574},
      {"[sampler]\nkernel = \"dili\"\n", 0.574},
      {"[sampler]\nkernel = \"hpcn\"\n", 0.3},
      {"[sampler]\nkernel = \"dr\"\n", 0.3},
      {"[sampler]\nkernel = \"mala\"\ntarget_acceptance = 0.4\n", 0.4},
      {"[sampler]\nkernel = \"pcn\"\ntarget_acceptance = 0.5\n", 0.5},
  };

  PetscFunctionBeginUser;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    McConfig *c;
    PetscBool valid;
    char      msg[512];
    PetscCall(McConfigCreate(&c));
    PetscCall(McConfigLoadString(c, cases[i].text, strlen(cases[i].text), "ta.toml", msg, sizeof(msg), &valid));
    if (!valid || c->sampler.target_acceptance != cases[i].want)
      printf("FAIL target acceptance of '%s': %g (valid %d: %s), expected %g\n", cases[i].text,
             (double)c->sampler.target_acceptance, (int)valid, valid ? "" : msg, (double)cases[i].want),
        failures++;
    PetscCall(McConfigDestroy(&c));
  }
  PetscFunctionReturn(0);
}

/* Loading a configuration parses TOML through McMalloc: the project's
 * allocation calls grow, its live bytes come back to where they were, an
 * injected allocation failure makes the load fail with "out of memory",
 * and afterwards the parser is back on libc's allocator (a direct parse
 * leaves the project's counters alone). */
static PetscErrorCode ParseCounted(void)
{
  const char  *text = "title = \"counted\"\n[mesh]\ncells = [8, 4]\n[chain]\niterations = 100\nburn_in = 10\n";
  McConfig    *c;
  McTomlValue *root;
  McTomlError  err;
  PetscBool    valid;
  char         msg[512];
  PetscInt64   calls0, calls1, calls2, bytes0, bytes1, bytes2;

  PetscFunctionBeginUser;
  PetscCall(McConfigCreate(&c));
  PetscCall(McMemAllocCount(&calls0, NULL));
  PetscCall(McMemGetLive(NULL, &bytes0));
  PetscCall(McConfigLoadString(c, text, strlen(text), "counted.toml", msg, sizeof(msg), &valid));
  PetscCall(McMemAllocCount(&calls1, NULL));
  PetscCall(McMemGetLive(NULL, &bytes1));
  CHECK("counted config is valid", valid && c->mesh.cells[0] == 8 && c->mesh.cells[1] == 4);
  if (!valid) printf("  %s\n", msg);
  /* the file's tree (a node per table and value, a block per key and
   * string) and one small tree per default: far more than 10 blocks */
  CHECK("parsing allocates through McMalloc", calls1 - calls0 > 10);
  CHECK("parsing returns every McMalloc byte", bytes1 == bytes0);
  if (calls1 - calls0 <= 10 || bytes1 != bytes0)
    printf("  McMalloc calls %+lld, live bytes %+lld\n", (long long)(calls1 - calls0), (long long)(bytes1 - bytes0));

  PetscCall(McMallocFailAfter(0)); /* the next McMalloc fails */
  PetscCall(McConfigLoadString(c, text, strlen(text), "counted.toml", msg, sizeof(msg), &valid));
  PetscCall(McMallocFailAfter(-1));
  CHECK("a failed allocation fails the load", !valid && strstr(msg, "out of memory"));
  PetscCall(McMemGetLive(NULL, &bytes2));
  CHECK("a failed load returns every McMalloc byte", bytes2 == bytes0);

  PetscCall(McMemAllocCount(&calls1, NULL));
  CHECK("direct parse succeeds", McTomlParse(text, strlen(text), "direct.toml", &root, &err) == 0);
  McTomlFree(&root);
  PetscCall(McMemAllocCount(&calls2, NULL));
  CHECK("a direct parse uses libc's allocator again", calls2 == calls1);
  PetscCall(McConfigDestroy(&c));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  const char *write = NULL;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(Defaults());
  PetscCall(TargetAcceptance());
  PetscCall(ParseCounted());
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--write-reference") && i + 1 < argc)
      write = argv[++i];
    else if (!strcmp(argv[i], "--reference") && i + 1 < argc)
      PetscCall(Reference(argv[++i], write));
    else
      PetscCall(RoundTrip(argv[i]));
  }
  printf("%d failures\n", failures);
  PetscCall(PetscFinalize());
  return failures != 0;
}
