/* mcmc-run: the main job. Reads a configuration, sets up the model and
 * samples its posterior. This file only turns the command line into a call
 * of the application layer and its result into an exit code. */
#include "app/app.h"

#include <petscsys.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] = "usage: mcmc-run [OPTIONS] CONFIG [PETSc options]\n"
                            "       mcmc-run --resume FILE [CONFIG] [--iterations N] [PETSc options]\n"
                            "       mcmc-run --check CONFIG\n"
                            "       mcmc-run --print-config CONFIG [--iterations N] [--seed S] [--output PATH]\n"
                            "       mcmc-run --serve CONFIG [--listen HOST:PORT]\n"
                            "\n"
                            "Samples the posterior of the PDE inverse problem described by CONFIG (TOML).\n"
                            "\n"
                            "Options:\n"
                            "  -h, --help          show this help and exit\n"
                            "  -V, --version       show the version of mcmc-run and of PETSc, HDF5, GSL, MPI\n"
                            "  --check             validate CONFIG and set up its problem (mesh, data, QoIs;\n"
                            "                      no MAP point), print \"CONFIG: ok\" or the error, and exit\n"
                            "  --print-config      print CONFIG fully resolved (defaults filled in) as TOML, and exit\n"
                            "  --iterations N      run N iterations per chain instead of [chain] iterations\n"
                            "                      (burn-in scaled by the same factor)\n"
                            "  --seed S            use seed S instead of [chain] seed (0 <= S <= 2147483647)\n"
                            "  --output PATH       write to PATH instead of [output] path (the MAP file of --map\n"
                            "                      and the side-car files follow its name)\n"
                            "  --force             replace the output file if it exists\n"
                            "  --map               compute the MAP point (Newton-CG, one line per iteration) and the\n"
                            "                      Laplace approximation, write them to <output stem>_map.h5 (+ .xmf),\n"
                            "                      then stop\n"
                            "  --resume FILE       continue the run in FILE (an output file) from its last\n"
                            "                      checkpoint, bit for bit; with the configuration stored in\n"
                            "                      FILE, or CONFIG if given (same model sections required);\n"
                            "                      --iterations N sets the run's new length (extends a\n"
                            "                      finished run; burn-in and thinning stay)\n"
                            "  --quiet             no progress line on stderr\n"
                            "  --serve             serve CONFIG's models (posterior, forward, loglikelihood,\n"
                            "                      logprior) over UM-Bridge 1.0 (HTTP + JSON) until SIGINT/SIGTERM\n"
                            "  --listen HOST:PORT  where --serve listens (default " MC_SERVE_DEFAULT_LISTEN "; port 0:\n"
                            "                      any free port, printed on stdout)\n"
                            "  --                  everything after this goes to PETSc\n"
                            "\n"
                            "PETSc options (single dash, e.g. -ksp_type cg -pc_type gamg -log_view) are\n"
                            "passed to PETSc; put them after CONFIG or after \"--\". They override\n"
                            "[solver] petsc_options of CONFIG. configs/reference.toml documents every key.\n"
                            "Configuration errors are reported as FILE:LINE:COL: message.\n"
                            "\n"
                            "Exit codes:\n"
                            "  0  success\n"
                            "  1  usage or configuration error\n"
                            "  2  runtime failure\n"
                            "  3  memory assertion failed (samples so far are on disk)\n"
                            "  4  stopped on a signal with a checkpoint written (resumable)\n"
                            "\n"
                            "Signals: SIGTERM or SIGINT stops after the current iteration, writes a\n"
                            "checkpoint and exits with 4 (a second one ends the process at once; the file\n"
                            "keeps its last flush). SIGUSR1 prints a progress line and flushes the file.\n";

/* Whether v is a whole number in [lo, hi] (into *n). */
static int WholeNumber(const char *v, long long lo, long long hi, long long *n)
{
  char *end = NULL;

  *n = strtoll(v, &end, 10);
  return *v && !*end && *n >= lo && *n <= hi;
}

int main(int argc, char **argv)
{
  char      **own = calloc((size_t)argc + 1, sizeof(char *));
  char      **petsc = calloc((size_t)argc + 1, sizeof(char *));
  int         nown = 0, npetsc, code = MC_EXIT_OK;
  const char *config = NULL;
  McRunOptions opt = {MC_RUN_SAMPLE, PETSC_FALSE, PETSC_FALSE, 0, NULL, NULL, NULL, -1, NULL};

  if (!own || !petsc) {
    fprintf(stderr, "mcmc-run: out of memory reading the command line\n");
    return MC_EXIT_RUNTIME;
  }
  npetsc = McSplitArgs(argc, argv, own, &nown, petsc);
  for (int i = 1; i < nown; i++) {
    const char *a = own[i], *v;
    long long   n;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      goto done;
    } else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
      McPrintVersion(stdout, "mcmc-run");
      goto done;
    } else if (!strcmp(a, "--check")) {
      opt.mode = MC_RUN_CHECK;
    } else if (!strcmp(a, "--print-config")) {
      opt.mode = MC_RUN_PRINT_CONFIG;
    } else if (!strcmp(a, "--serve")) {
      opt.mode = MC_RUN_SERVE;
    } else if ((v = McOptionValue("--listen", nown, own, &i))) {
      opt.listen = v;
      if (!*v) {
        fprintf(stderr, "mcmc-run: --listen needs HOST:PORT\n");
        code = MC_EXIT_USAGE;
        goto done;
      }
    } else if (!strcmp(a, "--quiet")) {
      opt.quiet = PETSC_TRUE;
    } else if (!strcmp(a, "--map")) {
      opt.mode = MC_RUN_MAP;
    } else if ((v = McOptionValue("--resume", nown, own, &i))) {
      if (!*v) {
        fprintf(stderr, "mcmc-run: --resume needs the output file of the run to continue\n");
        code = MC_EXIT_USAGE;
        goto done;
      }
      opt.resume = v;
    } else if (!strcmp(a, "--force")) {
      opt.force = PETSC_TRUE;
    } else if ((v = McOptionValue("--iterations", nown, own, &i))) {
      if (!WholeNumber(v, 1, 1000000000, &n)) {
        fprintf(stderr, "mcmc-run: --iterations needs a whole number in [1, 1e9], got '%s'\n", v);
        code = MC_EXIT_USAGE;
        goto done;
      }
      opt.iterations = (PetscInt)n;
    } else if ((v = McOptionValue("--seed", nown, own, &i))) {
      if (!WholeNumber(v, 0, 2147483647LL, &n)) {
        fprintf(stderr, "mcmc-run: --seed needs a whole number in [0, 2147483647], got '%s'\n", v);
        code = MC_EXIT_USAGE;
        goto done;
      }
      opt.seed = (PetscInt)n;
    } else if ((v = McOptionValue("--output", nown, own, &i))) {
      opt.output = v;
      if (!*v) {
        fprintf(stderr, "mcmc-run: --output needs the path of the output file\n");
        code = MC_EXIT_USAGE;
        goto done;
      }
    } else if (a[0] == '-' && a[1] == '-') {
      fprintf(stderr, "mcmc-run: unknown option '%s' (see mcmc-run --help)\n", a);
      code = MC_EXIT_USAGE;
      goto done;
    } else if (config) {
      fprintf(stderr, "mcmc-run: more than one CONFIG given: '%s' and '%s'\n", config, a);
      code = MC_EXIT_USAGE;
      goto done;
    } else {
      config = a;
    }
  }
  if (opt.resume && opt.mode != MC_RUN_SAMPLE) {
    fprintf(stderr, "mcmc-run: --resume cannot be combined with --check or --print-config\n");
    code = MC_EXIT_USAGE;
    goto done;
  }
  if (!config && !opt.resume) {
    fprintf(stderr, "mcmc-run: no CONFIG given\n\n%s", usage);
    code = MC_EXIT_USAGE;
    goto done;
  }
  if (opt.resume && (opt.seed >= 0 || opt.output)) {
    fprintf(stderr, "mcmc-run: --resume continues FILE with the seed of its checkpoint: --seed and --output do not "
                    "apply\n");
    code = MC_EXIT_USAGE;
    goto done;
  }
  if (opt.mode == MC_RUN_SERVE && (opt.seed >= 0 || opt.output || opt.iterations)) {
    fprintf(stderr, "mcmc-run: --serve samples nothing: --seed, --output and --iterations do not apply\n");
    code = MC_EXIT_USAGE;
    goto done;
  }
  if (opt.listen && opt.mode != MC_RUN_SERVE) {
    fprintf(stderr, "mcmc-run: --listen is only used with --serve\n");
    code = MC_EXIT_USAGE;
    goto done;
  }
  code = McRunMain(npetsc, petsc, config, &opt);
done:
  free(own);
  free(petsc);
  return code;
}
