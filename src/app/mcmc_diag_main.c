/* mcmc-diag: reads an mcmc-run output file and reports convergence
 * diagnostics and posterior summaries. This file turns the command line
 * into McDiagOptions and the result into an exit code. */
#include "app/app.h"

#include <errno.h>
#include <limits.h>
#include <petscsys.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage[] = "usage: mcmc-diag [OPTIONS] FILE.h5 [FILE.h5 ...]\n"
                            "\n"
                            "Convergence diagnostics and posterior summaries of an mcmc-run output file,\n"
                            "finished or still being written, or of the chains of several files of one\n"
                            "model combined (a job array, runs with other seeds): per quantity mean, MCSE,\n"
                            "sd, 5/50/95% quantiles, bulk and tail ESS, bulk ESS per second of the\n"
                            "sampling loop, rank-normalised split R-hat, integrated autocorrelation time\n"
                            "and a warning when R-hat > 1.01 or ESS < 100 per chain; acceptance and\n"
                            "seconds per chain; the field's posterior mean/std against the truth; the\n"
                            "memory trace of each file.\n"
                            "\n"
                            "Options:\n"
                            "  --burn N         drop the first N draws of every chain (default 0)\n"
                            "  --vars a,b,...   report only these quantities (parameter labels, QoI names,\n"
                            "                   lp, or a parameter dataset's name such as theta)\n"
                            "  --json           print JSON instead of the table\n"
                            "  --memory SIZE    read at most SIZE of draws at once, e.g. 512M or 8G (default\n"
                            "                   a quarter of this machine's memory, at least 256M). Each\n"
                            "                   read reads every chunk of a parameter dataset, so a file\n"
                            "                   larger than SIZE is read (file size / SIZE) times over\n"
                            "  -h, --help       show this help and exit\n"
                            "  -V, --version    show the version of mcmc-diag and of its libraries\n"
                            "\n"
                            "Environment: OMP_NUM_THREADS=N summarises the quantities on N threads\n"
                            "(default: one per core; the output is the same for any N).\n"
                            "\n"
                            "Exit codes: 0 success, 1 usage error or unreadable file, 2 runtime failure.\n";

static int Run(const McDiagOptions *opt)
{
  PetscErrorCode ierr;
  int            code = MC_EXIT_OK, one = 1;
  char          *args[] = {(char *)"mcmc-diag", NULL}, **argv = args;

  /* No PETSc options: the command line is ours. */
  McSingletonDefaults();
  if (PetscInitialize(&one, &argv, NULL, NULL)) return MC_EXIT_RUNTIME;
  /* User errors arrive as PETSc errors with a full message; print that
   * message alone, not PETSc's traceback. */
  PetscPushErrorHandler(PetscReturnErrorHandler, NULL);
  ierr = McDiagReportRun(opt, stdout);
  if (ierr) {
    const char *text;
    char       *specific = NULL;
    PetscErrorMessage(ierr, &text, &specific);
    fprintf(stderr, "mcmc-diag: %s\n", specific && specific[0] ? specific : text);
    code = ierr == PETSC_ERR_FILE_OPEN || ierr == PETSC_ERR_FILE_READ || ierr == PETSC_ERR_FILE_UNEXPECTED ||
                   ierr == PETSC_ERR_USER_INPUT
               ? MC_EXIT_USAGE
               : MC_EXIT_RUNTIME;
  }
  PetscPopErrorHandler();
  if (PetscFinalize() && code == MC_EXIT_OK) code = MC_EXIT_RUNTIME;
  return code;
}

/* "8G" into 8 << 30 (K, M, G, T: powers of 1024; no suffix: bytes).
 * Returns nonzero unless a size > 0 that fits. */
static int ParseSize(const char *v, long long *bytes)
{
  const char *units = "KMGT", *u;
  char       *end;
  long long   n;
  int         shift = 0;

  errno = 0;
  n = strtoll(v, &end, 10);
  if (!*v || errno || n <= 0 || end == v) return 1;
  if (*end) {
    if (end[1] || !(u = strchr(units, end[0]))) return 1;
    shift = 10 * (int)(u - units + 1);
  }
  if (n > (LLONG_MAX >> shift)) return 1;
  *bytes = n << shift;
  return 0;
}

/* Two names of one file (a link, another path): its chains would be
 * combined with themselves. Names that cannot be read are reported when
 * they are opened. */
static int SameFile(const char *a, const char *b)
{
  struct stat sa, sb;

  return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The command line into opt (files: the FILE arguments, in order). Returns
 * -1 to go on, else the exit code. */
static int Parse(int argc, char **argv, McDiagOptions *opt, const char **files)
{
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      return MC_EXIT_OK;
    } else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
      McPrintVersion(stdout, "mcmc-diag");
      return MC_EXIT_OK;
    } else if (!strcmp(a, "--json")) {
      opt->json = 1;
    } else if ((v = McOptionValue("--burn", argc, argv, &i))) {
      char *end;
      errno = 0;
      opt->burn = strtoll(v, &end, 10);
      if (!*v || *end || errno || opt->burn < 0) {
        fprintf(stderr, "mcmc-diag: --burn needs a number of draws >= 0, got '%s'\n", v);
        return MC_EXIT_USAGE;
      }
    } else if ((v = McOptionValue("--memory", argc, argv, &i))) {
      if (ParseSize(v, &opt->memory)) {
        fprintf(stderr, "mcmc-diag: --memory needs a size > 0 in bytes, with K, M, G or T for powers of 1024 (such "
                        "as 512M or 8G), got '%s'\n",
                v);
        return MC_EXIT_USAGE;
      }
    } else if ((v = McOptionValue("--vars", argc, argv, &i))) {
      if (!*v) {
        fprintf(stderr, "mcmc-diag: --vars needs a comma-separated list of names\n");
        return MC_EXIT_USAGE;
      }
      opt->vars = v;
    } else if (a[0] == '-') {
      fprintf(stderr, "mcmc-diag: unknown option '%s' (see mcmc-diag --help)\n", a);
      return MC_EXIT_USAGE;
    } else {
      for (int k = 0; k < opt->nfiles; k++)
        if (!strcmp(files[k], a)) {
          fprintf(stderr, "mcmc-diag: FILE '%s' given twice\n", a);
          return MC_EXIT_USAGE;
        } else if (SameFile(files[k], a)) {
          fprintf(stderr, "mcmc-diag: FILE '%s' given twice (as '%s' and '%s')\n", a, files[k], a);
          return MC_EXIT_USAGE;
        }
      files[opt->nfiles++] = a;
    }
  }
  if (!opt->nfiles) {
    fprintf(stderr, "mcmc-diag: no FILE given\n\n%s", usage);
    return MC_EXIT_USAGE;
  }
  opt->file = files[0];
  opt->files = files;
  return -1;
}

int main(int argc, char **argv)
{
  McDiagOptions opt = {NULL, NULL, 0, 0, NULL, 0, 0};
  const char  **files = calloc((size_t)argc + 1, sizeof(char *));
  int           code;

  if (!files) {
    fprintf(stderr, "mcmc-diag: out of memory reading the command line\n");
    return MC_EXIT_RUNTIME;
  }
  code = Parse(argc, argv, &opt, files);
  if (code < 0) code = Run(&opt);
  free(files);
  return code;
}
