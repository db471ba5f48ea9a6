/* The application layer: what the programs share (command-line handling,
 * version report, exit codes). Nothing below src/app/ includes this header. */
#pragma once
#include <stdio.h>

/* Exit codes of mcmc-run, documented in --help and the README. */
enum {
  MC_EXIT_OK = 0,
  MC_EXIT_USAGE = 1,   /* usage or configuration error */
  MC_EXIT_RUNTIME = 2, /* runtime failure */
  MC_EXIT_MEMORY = 3,  /* memory assertion failed */
  MC_EXIT_SIGNAL = 4   /* stopped on a signal, checkpoint written */
};

/* Prints the program's version and the versions of the libraries it runs
 * with (PETSc, HDF5, GSL, MPI) to out. Safe before PetscInitialize. */
void McPrintVersion(FILE *out, const char *prog);

/* Splits argv into the program's own long options (--name or --name=value,
 * and plain arguments) and PETSc's single-dash options, which go to
 * PetscInitialize. petsc_argv must hold argc+1 pointers; petsc_argv[0] is
 * argv[0]. Returns the number of PETSc arguments (including argv[0]); the
 * own arguments are compacted into own_argv (own_argv[0] = argv[0]) and
 * *own_argc is set. A single "--" ends the program's options: everything
 * after it goes to PETSc. */
int McSplitArgs(int argc, char **argv, char **own_argv, int *own_argc, char **petsc_argv);

/* What mcmc-run does with its configuration. */
typedef enum {
  MC_RUN_SAMPLE,      /* load, validate and run */
  MC_RUN_CHECK,       /* --check: validate, print "CONFIG: ok" */
  MC_RUN_PRINT_CONFIG /* --print-config: validate, print the resolved configuration as TOML */
} McRunMode;

/* Runs mcmc-run on the configuration file config: initialises PETSc with
 * petsc_argv (PETSc's options only), loads and validates the configuration
 * (an error in it is one line "file:line:col: message" on stderr and exit
 * code 1), does what mode says, finalises. Returns an exit code. */
int McRunMain(int petsc_argc, char **petsc_argv, const char *config, McRunMode mode);
