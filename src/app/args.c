/* Command-line split between our options and PETSc's.
 *
 * PETSc reads every "-name value" it is given and also accepts "--name" as
 * "-name", so our long options must never reach it ("--help" would print
 * PETSc's own help). Our options are long (two dashes) and PETSc's are
 * single-dash, which makes the split unambiguous. */
#include "app/app.h"

#include <string.h>

/* Whether word, following a PETSc option, is that option's value. Negative
 * numbers are values; a configuration file (*.toml) never is, so that
 * "mcmc-run -log_view run.toml" still finds its configuration. */
static int IsOptionValue(const char *word)
{
  size_t n = strlen(word);

  if (n >= 5 && strcmp(word + n - 5, ".toml") == 0) return 0;
  if (word[0] != '-') return 1;
  return (word[1] >= '0' && word[1] <= '9') || word[1] == '.';
}

const char *McOptionValue(const char *name, int argc, char **argv, int *i)
{
  size_t n = strlen(name);

  if (strncmp(argv[*i], name, n)) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n]) return NULL;
  if (*i + 1 >= argc) return "";
  return argv[++*i];
}

int McSplitArgs(int argc, char **argv, char **own_argv, int *own_argc, char **petsc_argv)
{
  int np = 1, no = 1, petsc_rest = 0;

  petsc_argv[0] = argv[0];
  own_argv[0] = argv[0];
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (petsc_rest) {
      petsc_argv[np++] = argv[i];
    } else if (strcmp(a, "--") == 0) {
      petsc_rest = 1;
    } else if ((!strcmp(a, "--iterations") || !strcmp(a, "--seed") || !strcmp(a, "--output")) && i + 1 < argc) {
      /* Our option's value is ours even when it looks like a PETSc option
       * ("--iterations -1" must be refused as -1, not as a missing value). */
      own_argv[no++] = argv[i];
      own_argv[no++] = argv[++i];
    } else if (!strcmp(a, "-h") || !strcmp(a, "-V")) {
      own_argv[no++] = argv[i]; /* our short forms of --help and --version */
    } else if (a[0] == '-' && a[1] != '-' && a[1] != '\0') {
      /* A PETSc option, and its value if the next word is not an option.
       * Negative numbers ("-1.5") are values, never option names. */
      petsc_argv[np++] = argv[i];
      if (i + 1 < argc && IsOptionValue(argv[i + 1])) petsc_argv[np++] = argv[++i];
    } else {
      own_argv[no++] = argv[i];
    }
  }
  petsc_argv[np] = NULL;
  own_argv[no] = NULL;
  *own_argc = no;
  return np;
}
