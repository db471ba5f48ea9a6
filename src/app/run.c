/* The main job's life: PETSc up, the run, PETSc down, and the mapping from
 * what went wrong to the documented exit codes. */
#include "app/app.h"
#include "config/config.h"

#include <petscsys.h>
#include <string.h>

/* Loads and validates config on every rank (each reads the file; they agree
 * because the file is the same). A configuration error is printed once, as
 * the single line the schema made, and becomes exit code 1. */
static PetscErrorCode LoadConfig(const char *config, McConfig **cfg, int *code)
{
  char      msg[1024];
  PetscBool valid;

  PetscFunctionBeginUser;
  PetscCall(McConfigCreate(cfg));
  PetscCall(McConfigLoad(*cfg, config, msg, sizeof(msg), &valid));
  if (!valid) {
    PetscCall(PetscFPrintf(PETSC_COMM_WORLD, stderr, "%s\n", msg));
    PetscCall(McConfigDestroy(cfg));
    *code = MC_EXIT_USAGE;
  }
  PetscFunctionReturn(0);
}

/* [solver] petsc_options go into PETSc's options database unless the same
 * option was given on the command line, which wins. */
static PetscErrorCode ApplySolverOptions(const McConfig *cfg)
{
  char  buf[MC_CONFIG_PATH_MAX];
  char *save = NULL, *tok, *name = NULL;

  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(buf, cfg->solver.petsc_options, sizeof(buf)));
  for (tok = strtok_r(buf, " \t", &save);; tok = strtok_r(NULL, " \t", &save)) {
    PetscBool is_option = tok && tok[0] == '-' && !(tok[1] >= '0' && tok[1] <= '9') && tok[1] != '.';
    if (name && (!tok || is_option)) { /* a flag without a value */
      PetscBool set;
      PetscCall(PetscOptionsHasName(NULL, NULL, name, &set));
      if (!set) PetscCall(PetscOptionsSetValue(NULL, name, NULL));
      name = NULL;
    }
    if (!tok) break;
    if (is_option) {
      name = tok;
    } else if (name) {
      PetscBool set;
      PetscCall(PetscOptionsHasName(NULL, NULL, name, &set));
      if (!set) PetscCall(PetscOptionsSetValue(NULL, name, tok));
      name = NULL;
    }
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode RunConfig(const char *config, int *code)
{
  PetscMPIInt size, rank;
  McConfig   *cfg = NULL;

  PetscFunctionBeginUser;
  *code = MC_EXIT_OK;
  PetscCall(LoadConfig(config, &cfg, code));
  if (!cfg) PetscFunctionReturn(0);
  PetscCall(ApplySolverOptions(cfg));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "mcmc-run: %s on %d rank(s)\n", config, (int)size));
  if (rank == 0) PetscCall(McConfigWriteSummary(cfg, stdout));
  PetscCall(McConfigDestroy(&cfg));
  PetscFunctionReturn(0);
}

/* --check and --print-config: validate, then report on rank 0 only. */
static PetscErrorCode CheckConfig(const char *config, int print, int *code)
{
  PetscMPIInt rank;
  McConfig   *cfg = NULL;

  PetscFunctionBeginUser;
  *code = MC_EXIT_OK;
  PetscCall(LoadConfig(config, &cfg, code));
  if (!cfg) PetscFunctionReturn(0);
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0) {
    if (print)
      PetscCall(McConfigWrite(cfg, stdout));
    else
      printf("%s: ok\n", config);
    fflush(stdout);
  }
  PetscCall(McConfigDestroy(&cfg));
  PetscFunctionReturn(0);
}

int McRunMain(int petsc_argc, char **petsc_argv, const char *config, McRunMode mode)
{
  PetscErrorCode ierr;
  int            code = MC_EXIT_RUNTIME;

  ierr = PetscInitialize(&petsc_argc, &petsc_argv, NULL, NULL);
  if (ierr) return MC_EXIT_RUNTIME;
  if (mode == MC_RUN_SAMPLE)
    ierr = RunConfig(config, &code);
  else
    ierr = CheckConfig(config, mode == MC_RUN_PRINT_CONFIG, &code);
  if (ierr) code = MC_EXIT_RUNTIME;
  ierr = PetscFinalize();
  if (ierr && code == MC_EXIT_OK) code = MC_EXIT_RUNTIME;
  return code;
}
