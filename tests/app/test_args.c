/* McSplitArgs: our long options stay ours, PETSc's single-dash options and
 * their values go to PETSc, "--" sends the rest to PETSc. */
#include "app/app.h"

#include <stdio.h>
#include <string.h>

static int failures;

static void ExpectList(const char *what, char **got, int n, const char *const *want)
{
  int nwant = 0;
  while (want[nwant]) nwant++;
  if (n != nwant) {
    printf("FAIL %s: %d arguments, expected %d\n", what, n, nwant);
    failures++;
    return;
  }
  for (int i = 0; i < n; i++) {
    if (strcmp(got[i], want[i])) {
      printf("FAIL %s[%d]: '%s', expected '%s'\n", what, i, got[i], want[i]);
      failures++;
    }
  }
}

static void Case(const char *const *argv_in, const char *const *own_want, const char *const *petsc_want)
{
  char *argv[32], *own[33], *petsc[33];
  int   argc = 0, nown = 0, npetsc;

  while (argv_in[argc]) {
    argv[argc] = (char *)argv_in[argc];
    argc++;
  }
  npetsc = McSplitArgs(argc, argv, own, &nown, petsc);
  ExpectList("own", own, nown, own_want);
  ExpectList("petsc", petsc, npetsc, petsc_want);
  if (own[nown] || petsc[npetsc]) {
    printf("FAIL: lists not NULL-terminated\n");
    failures++;
  }
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

int main(void)
{
  Case(L("p", "run.toml"), L("p", "run.toml"), L("p"));
  Case(L("p", "run.toml", "-ksp_type", "cg", "-log_view"), L("p", "run.toml"), L("p", "-ksp_type", "cg", "-log_view"));
  Case(L("p", "-log_view", "run.toml"), L("p", "run.toml"), L("p", "-log_view"));
  Case(L("p", "--quiet", "run.toml", "-pc_factor_shift_amount", "-1e-3"), L("p", "--quiet", "run.toml"),
       L("p", "-pc_factor_shift_amount", "-1e-3"));
  Case(L("p", "-h"), L("p", "-h"), L("p"));
  Case(L("p", "run.toml", "--", "--weird", "x"), L("p", "run.toml"), L("p", "--weird", "x"));
  /* Our options' values stay ours, also when they look like PETSc's. */
  Case(L("p", "--seed", "-1", "run.toml", "-log_view"), L("p", "--seed", "-1", "run.toml"), L("p", "-log_view"));
  Case(L("p", "--output", "-x.h5", "--iterations", "-5", "run.toml"), L("p", "--output", "-x.h5", "--iterations", "-5", "run.toml"),
       L("p"));
  printf("%d failures\n", failures);
  return failures != 0;
}
