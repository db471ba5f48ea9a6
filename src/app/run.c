/* The main job's life: PETSc up, the run, PETSc down, and the mapping from
 * what went wrong to the documented exit codes.
 *
 * The sample path: configuration -> problem (problem.c) -> target
 * (target.c) -> one kernel, chain and sink (sink.c) per chain -> the output
 * file; then the loop, which runs the chains in turn in rounds of a few
 * iterations (so they stay within one output block of each other and the
 * progress line, the collector and the memory checks get their turns), and
 * the summary. Everything the loop touches exists before its first
 * iteration; the memory checks prove it while it runs.
 *
 * The steps live in files of their own (run_impl.h lists them): set-up in
 * run_setup.c, the loop in run_loop.c, the report in run_summary.c.
 *
 * Checkpoints: every [output] checkpoint_every iterations, at the end and
 * when a signal stops the run, each chain's state goes into the output
 * file's checkpoint record (resume.c packs it) in the same flush as its
 * draws. --resume continues from the last one, bit for bit as if the run
 * had never stopped.
 *
 * On several MPI ranks (parallel.c lays the chains out) every rank runs this
 * same loop for its own chains, at the same iterations: the events above
 * fall on the same rounds everywhere, so the collectives (the draws'
 * exchange at block ends, checkpoints, memory rows, the agreement on a
 * stop) match without further coordination. Rank 0 writes the file and
 * prints the report. */
#include "app/run_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <gsl/gsl_errno.h>
#include <petscsys.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Messages every rank would print alike (the configuration, the resume
 * file, the output file are the same for all) come from rank 0 only. */
static void Say(const char *fmt, ...)
{
  PetscMPIInt rank = 0;
  va_list     ap;

  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  if (rank) return;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
}

/* Loads and validates config on every rank (each reads the file; they agree
 * because the file is the same). A configuration error is printed once, as
 * the single line the schema made, and becomes exit code 1. */
static PetscErrorCode LoadConfig(const char *config, const char *text, McConfig **cfg, int *code)
{
  char      msg[1024];
  PetscBool valid;

  PetscFunctionBeginUser;
  PetscCall(McConfigCreate(cfg));
  if (text) PetscCall(McConfigLoadString(*cfg, text, strlen(text), config, msg, sizeof(msg), &valid));
  else PetscCall(McConfigLoad(*cfg, config, msg, sizeof(msg), &valid));
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

/* The whole text of a file (the configuration, for the output's root
 * attribute). Ownership: *text is new (PetscFree). */
static PetscErrorCode ReadText(const char *path, char **text)
{
  FILE  *f = fopen(path, "rb");
  long   n;
  size_t got = 0;

  PetscFunctionBeginUser;
  *text = NULL;
  PetscCheck(f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s: cannot open: %s", path, strerror(errno));
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
    PetscCall(PetscMalloc1((size_t)n + 1, text));
    got = fread(*text, 1, (size_t)n, f);
    (*text)[got] = '\0';
  }
  fclose(f);
  PetscCheck(*text, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: cannot read", path);
  PetscFunctionReturn(0);
}
/* The configuration's text as the output file stores it: the command
 * line's overrides follow as a comment, so the file says how its run was
 * set up (a resume takes the seed from the checkpoint and writes FILE, so
 * the keys above them may stay as they were). */
static PetscErrorCode AnnotateText(char **text, const McRunOptions *opt)
{
  char   note[PETSC_MAX_PATH_LEN + 128] = "";
  size_t n;
  char  *all;

  PetscFunctionBeginUser;
  if (opt->iterations > 0) PetscCall(PetscSNPrintf(note + strlen(note), sizeof note - strlen(note), " --iterations %d", (int)opt->iterations));
  if (opt->seed >= 0) PetscCall(PetscSNPrintf(note + strlen(note), sizeof note - strlen(note), " --seed %d", (int)opt->seed));
  if (opt->output) PetscCall(PetscSNPrintf(note + strlen(note), sizeof note - strlen(note), " --output %s", opt->output));
  if (!note[0]) PetscFunctionReturn(0);
  n = strlen(*text) + strlen(note) + 64;
  PetscCall(PetscMalloc1(n, &all));
  PetscCall(PetscSNPrintf(all, n, "%s%s# mcmc-run command line:%s\n", *text, **text && (*text)[strlen(*text) - 1] != '\n' ? "\n" : "", note));
  PetscCall(PetscFree(*text));
  *text = all;
  PetscFunctionReturn(0);
}

/* Whether a new run would refuse to replace the configuration's output
 * file: it exists, and neither [output] overwrite nor --force allows it. */
static PetscBool OutputRefused(const McConfig *cfg, PetscBool force)
{
  return !cfg->output.overwrite && !force && access(cfg->output.path, F_OK) == 0 ? PETSC_TRUE : PETSC_FALSE;
}

/* ----------------------------------------------------------------- run */

static PetscErrorCode RunFree(Run *r)
{
  PetscFunctionBeginUser;
  for (PetscInt i = 0; r->chains && i < r->nc; i++) {
    PetscCall(McCheckpointDestroy(&r->ckpts[i]));
    PetscCall(McFree(&r->blobs[i]));
    PetscCall(McChainDestroy(&r->chains[i]));
  }
  PetscCall(PetscFree3(r->ckpts, r->blobs, r->blob_sizes));
  PetscCall(PetscFree2(r->chains, r->sinks));
  PetscCall(McFree(&r->mesh_coords));
  PetscCall(McFree(&r->mesh_cells));
  PetscCall(McTargetDestroy(&r->target));
  PetscCall(McTargetDestroy(&r->target_s));
  PetscCall(McProblemDestroy(&r->pb_s));
  PetscCall(PetscFree(r->cfg_s)); /* a shallow copy: what it points to is the configuration's */
  PetscCall(VecDestroy(&r->xmap));
  PetscCall(McLaplaceDestroy(&r->lap));
  PetscCall(McProblemDestroy(&r->pb));
  PetscCall(PetscFree(r->config_text));
  PetscFunctionReturn(0);
}

/* A dealloc cannot return an error: a failing release means a corrupted
 * object, reported by PETSc before the abort. The layout's communicator
 * goes last: the problem's objects live on it. */
static void RunDealloc(McObject *o)
{
  Run *r = (Run *)o;

  PetscCallAbort(PETSC_COMM_SELF, RunFree(r));
  PetscCallAbort(PETSC_COMM_SELF, McLayoutDestroy(&r->lay));
}

static const McType McRunType = {"McRun", sizeof(Run), NULL, RunDealloc, NULL, NULL};

/* Ownership: *run is new (McObjectDestroy); borrows opt. */
static PetscErrorCode RunCreate(const McRunOptions *opt, Run **run)
{
  Run *r;

  PetscFunctionBeginUser;
  PetscCall(McObjectCreate(&McRunType, &r));
  r->lay.comm = MPI_COMM_NULL; /* McLayoutDestroy is safe before McLayoutCreate */
  r->opt = opt;
  *run = r;
  PetscFunctionReturn(0);
}

/* --iterations N: the run's length, burn-in scaled by the same factor. */
static PetscErrorCode ApplyOverrides(McConfig *cfg, const McRunOptions *opt, int *code)
{
  PetscFunctionBeginUser;
  if (opt->seed >= 0) cfg->chain.seed = opt->seed;
  if (opt->output) {
    PetscCheck(strlen(opt->output) < sizeof cfg->output.path, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ,
               "--output %s: the path is longer than %d characters", opt->output, (int)sizeof cfg->output.path - 1);
    PetscCall(PetscStrncpy(cfg->output.path, opt->output, sizeof cfg->output.path));
  }
  if (opt->iterations > 0) {
    PetscInt old = cfg->chain.iterations;
    cfg->chain.iterations = opt->iterations;
    cfg->chain.burn_in = (PetscInt)((double)cfg->chain.burn_in * opt->iterations / old);
    if (cfg->chain.thin > cfg->chain.iterations - cfg->chain.burn_in) {
      Say("mcmc-run: --iterations %d leaves %d iterations after burn-in, fewer than [chain] thin = %d\n",
          (int)opt->iterations, (int)(cfg->chain.iterations - cfg->chain.burn_in), (int)cfg->chain.thin);
      *code = MC_EXIT_USAGE;
    }
  }
  PetscFunctionReturn(0);
}

/* Errors of the output files (disk full, quota, permission, a removed
 * directory) are the user's to fix: they are reported as one line naming
 * the file, not as PETSc's traceback. Everything else keeps the traceback. */
static char file_error[1024];

static PetscErrorCode FileErrorHandler(MPI_Comm comm, int line, const char *fun, const char *file, PetscErrorCode n,
                                       PetscErrorType p, const char *mess, void *ctx)
{
  if (n == PETSC_ERR_FILE_WRITE || n == PETSC_ERR_FILE_OPEN || n == PETSC_ERR_FILE_READ ||
      n == PETSC_ERR_FILE_UNEXPECTED) {
    if (p == PETSC_ERROR_INITIAL && mess) snprintf(file_error, sizeof file_error, "%s", mess);
    return n;
  }
  return PetscTraceBackErrorHandler(comm, line, fun, file, n, p, mess, ctx);
}

/* Resuming: the run's plan from the checkpoint, --iterations N as the new
 * length (a finished run is extended). *done when there is nothing to do,
 * or when --iterations cannot extend it (*code says which). */
static PetscErrorCode PlanResume(Run *r, McConfig *cfg, PetscBool *done, int *code)
{
  McRunBlob plan = {0, 0, 1, 0};
  PetscInt  it = 0;
  uint64_t  seed = 0;

  PetscFunctionBeginUser;
  *done = PETSC_FALSE;
  PetscCall(McRunReadPlan_Private(r->out, &plan, &it, &seed));
  r->total = r->opt->iterations > 0 ? r->opt->iterations : plan.total;
  r->burn = plan.burn;
  r->thin = plan.thin;
  r->seconds0 = plan.seconds;
  cfg->chain.seed = (PetscInt)seed;
  if (r->total < it || r->total <= r->burn) {
    if (r->total < it)
      Say("mcmc-run: --iterations %d is fewer than the %d iterations per chain the run in %s has done\n", (int)r->total,
          (int)it, cfg->output.path);
    else
      Say("mcmc-run: --iterations %d leaves no iteration after the burn-in of %d of the run in %s\n", (int)r->total,
          (int)r->burn, cfg->output.path);
    *code = MC_EXIT_USAGE;
    *done = PETSC_TRUE;
  } else if (it == r->total) {
    printf("resume   %s is complete (%d iterations per chain); nothing to do (extend it with --iterations N)\n",
           cfg->output.path, (int)it);
    *done = PETSC_TRUE;
  } else {
    printf("resume   from iteration %d of %d (burn-in %d, thin %d), the last checkpoint in %s\n", (int)it,
           (int)r->total, (int)r->burn, (int)r->thin, cfg->output.path);
  }
  fflush(stdout);
  PetscFunctionReturn(0);
}

/* Output, chains, loop, checkpoint, side-car files, summary. */
static PetscErrorCode Sample(Run *r, McConfig *cfg, int *code)
{
  PetscBool resume = r->opt->resume ? PETSC_TRUE : PETSC_FALSE, done = PETSC_FALSE;

  PetscFunctionBeginUser;
  PetscCall(McRunCreateOutput_Private(r, resume));
  if (resume) PetscCall(PlanResume(r, cfg, &done, code));
  if (done) {
    PetscCall(McOutputClose(&r->out));
    PetscFunctionReturn(0);
  }
  PetscCall(McRunCreateChains_Private(r));
  if (resume) PetscCall(McRunRestoreChains_Private(r));
  r->it0 = r->it;
  r->warm_end = r->it + cfg->memory.warmup;
  r->ckpt_every = cfg->output.checkpoint_every;
  if (r->pb->umb)
    printf("set up   %d parameters (the UM-Bridge model's input), %d observations%s\n", (int)r->pb->nparams,
           (int)r->pb->nobs, r->pb->nobs ? "" : " (the model's output is sampled directly)");
  else
    printf("set up   %d parameters (%s), %d observations, noise sigma %.4g\n", (int)r->pb->nparams,
           cfg->prior.kl_modes > 0 ? "Karhunen-Loeve coordinates of m" : "whitened P1 nodal values of m",
           (int)r->pb->nobs, (double)r->pb->sigma);
  fflush(stdout);
  PetscCall(McRunLoop_Private(r, code));
  if (*code != MC_EXIT_MEMORY) PetscCall(McRunWriteXdmf_Private(r));
  /* The summary reads its traces from the file: after the last checkpoint,
   * before closing it. */
  if (*code == MC_EXIT_OK) PetscCall(McRunSummary_Private(r));
  PetscCall(McOutputClose(&r->out));
  PetscFunctionReturn(0);
}

/* The configuration of a resumed run: CONFIG if given, else the text the
 * output file stores. Its model must hash as the file's. */
static PetscErrorCode ResumeConfig(const char *config, Run *r, McConfig **cfg, int *code)
{
  char source[PETSC_MAX_PATH_LEN + 32], *stored = NULL, now[256], diff[256];

  PetscFunctionBeginUser;
  if (access(r->opt->resume, F_OK) != 0) {
    Say("mcmc-run: --resume %s: no such file\n", r->opt->resume);
    *code = MC_EXIT_USAGE;
    PetscFunctionReturn(0);
  }
  if (config) PetscCall(ReadText(config, &r->config_text));
  else PetscCall(McOutputReadRootAttribute(r->opt->resume, "config", &r->config_text));
  PetscCall(PetscSNPrintf(source, sizeof source, "%s", config ? config : r->opt->resume));
  if (!config) PetscCall(PetscStrlcat(source, " (its stored configuration)", sizeof source));
  PetscCall(LoadConfig(source, r->config_text, cfg, code));
  if (!*cfg) PetscFunctionReturn(0);
  PetscCall(PetscStrncpy((*cfg)->output.path, r->opt->resume, sizeof((*cfg)->output.path)));
  PetscCall(McRunModelHash(*cfg, now, sizeof now));
  PetscCall(McOutputReadRootAttribute(r->opt->resume, "model_hash", &stored));
  if (strcmp(stored, now)) {
    McRunModelHashDiff(stored, now, diff, sizeof diff);
    Say("mcmc-run: cannot resume %s with %s: the model differs from the run's in %s; only [sampler], [chain], "
        "[output], [memory] and [solver] settings, and how to reach a UM-Bridge server ([model] url, timeout, "
        "retries, retry_backoff), may change\n",
        r->opt->resume, config ? config : "its stored configuration", diff);
    *code = MC_EXIT_USAGE;
    PetscCall(McConfigDestroy(cfg));
  }
  /* chains = 0 means one per group of ranks: the run's count, whatever
   * number of ranks continues it (read once the file is known to be a run). */
  if (*cfg && (*cfg)->chain.chains == 0) PetscCall(McOutputReadChainCount(r->opt->resume, &(*cfg)->chain.chains));
  PetscCall(PetscFree(stored));
  PetscFunctionReturn(0);
}

static PetscErrorCode RunConfig(const char *config, const McRunOptions *opt, int *code)
{
  PetscMPIInt    size, rank;
  McConfig      *cfg = NULL;
  Run           *r;
  char           msg[2048];
  PetscBool      valid;
  PetscInt       t[3];
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  *code = MC_EXIT_OK;
  PetscCall(RunCreate(opt, &r));
  if (opt->resume) {
    /* A damaged or foreign file: one line naming it and the fault, exit 2. */
    file_error[0] = '\0';
    PetscCall(PetscPushErrorHandler(FileErrorHandler, NULL));
    ierr = ResumeConfig(config, r, &cfg, code);
    PetscCall(PetscPopErrorHandler());
    if (ierr && file_error[0]) {
      Say("mcmc-run: %s\n", file_error);
      PetscCall(McConfigDestroy(&cfg));
      *code = MC_EXIT_RUNTIME;
      ierr  = 0;
    }
    PetscCall(ierr);
  } else {
    PetscCall(LoadConfig(config, NULL, &cfg, code));
    if (cfg) PetscCall(ReadText(config, &r->config_text));
    if (cfg) PetscCall(AnnotateText(&r->config_text, opt));
    if (cfg) PetscCall(ApplyOverrides(cfg, opt, code));
  }
  if (!cfg) {
    PetscCall(McObjectDestroy(&r));
    PetscFunctionReturn(0);
  }
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (*code == MC_EXIT_OK && size > 1 && cfg->model.kind == MC_MODEL_UMBRIDGE) {
    PetscCall(PetscFPrintf(PETSC_COMM_WORLD, stderr,
                           "mcmc-run: %s: [model] kind = \"umbridge\" samples on one MPI rank (started on %d); run "
                           "without mpiexec\n",
                           cfg->source, (int)size));
    *code = MC_EXIT_USAGE;
  }
  if (*code == MC_EXIT_OK) {
    PetscCall(McLayoutCreate(cfg, r->config_text, &r->lay, msg, sizeof msg, &valid));
    if (!valid) {
      PetscCall(PetscFPrintf(PETSC_COMM_WORLD, stderr, "%s\n", msg));
      *code = MC_EXIT_USAGE;
    }
  }
  if (*code == MC_EXIT_OK && opt->mode != MC_RUN_MAP && !opt->resume && OutputRefused(cfg, opt->force)) {
    Say("mcmc-run: output file %s exists; refusing to overwrite it (remove it, pass --force, or set [output] "
        "overwrite = true in %s)\n",
        cfg->output.path, config);
    *code = MC_EXIT_RUNTIME;
  }
  if (*code != MC_EXIT_OK) {
    PetscCall(McObjectDestroy(&r));
    PetscCall(McConfigDestroy(&cfg));
    PetscFunctionReturn(0);
  }
  if (rank > 0) {
    /* Rank 0 prints the run's report; the others' standard output (the
     * same set-up lines, MAP iterations) is dropped. Errors still reach
     * stderr from every rank. */
    int null = open("/dev/null", O_WRONLY);
    fflush(stdout);
    if (null >= 0) {
      dup2(null, STDOUT_FILENO);
      close(null);
    }
  }
  r->nc = r->lay.nc;
  r->cid = r->lay.chains;
  r->writer = rank == 0 ? PETSC_TRUE : PETSC_FALSE;
  PetscCall(McRunModelHash(cfg, r->model_hash, sizeof r->model_hash));
  PetscCall(ApplySolverOptions(cfg));
  r->cfg = cfg;
  r->C = r->lay.C;
  r->total = cfg->chain.iterations;
  r->burn = cfg->chain.burn_in;
  r->thin = cfg->chain.thin;
  r->B = PetscMin(MC_OUTPUT_DEFAULT_BLOCK, cfg->output.flush_every);
  r->tty = isatty(fileno(stderr)) ? PETSC_TRUE : PETSC_FALSE;
  t[0] = cfg->memory.gc_thresholds[0], t[1] = cfg->memory.gc_thresholds[1], t[2] = cfg->memory.gc_thresholds[2];
  PetscCall(McGCSetThresholds(t[0], t[1], t[2]));
  printf("mcmc-run %s\n", opt->resume ? opt->resume : config);
  PetscCall(McConfigWriteSummary(cfg, stdout));
  if (size > 1 && r->lay.R > 1)
    printf("chains   %d on %d MPI ranks, %d per chain (chain c on ranks %d(c mod %d) to %d(c mod %d)+%d, its mesh "
           "distributed over them), one output file written by rank 0\n",
           (int)r->C, (int)size, (int)r->lay.R, (int)r->lay.R, (int)r->lay.G, (int)r->lay.R, (int)r->lay.G,
           (int)r->lay.R - 1);
  else if (size > 1)
    printf("chains   %d on %d MPI ranks (chain c on rank c mod %d, in turn), one output file written by rank 0\n",
           (int)r->C, (int)size, (int)r->lay.G);
  else if (r->C > 1)
    printf("chains   %d, run in turn on this process\n", (int)r->C);
  fflush(stdout);

  PetscCall(McProblemCreateOnComm(cfg, r->lay.comm, &r->pb, msg, sizeof(msg), &valid));
  if (!valid) {
    Say("%s\n", msg);
    *code = MC_EXIT_USAGE;
  } else {
    if (opt->mode == MC_RUN_MAP || McRunNeedsLaplace_Private(cfg))
      PetscCall(McRunComputeGeometry_Private(cfg, r->pb, &r->xmap, &r->lap, code));
    if (*code == MC_EXIT_OK && opt->mode == MC_RUN_MAP)
      PetscCall(McRunWriteMapFile(cfg, r->pb, r->xmap, r->lap, r->config_text, r->model_hash));
    if (*code != MC_EXIT_OK || opt->mode == MC_RUN_MAP) {
      PetscCall(McObjectDestroy(&r));
      PetscCall(McConfigDestroy(&cfg));
      PetscFunctionReturn(0);
    }
    PetscCall(McProblemCreateTarget(r->pb, &r->target));
    /* A chain on several ranks solves every proposal directly: CG
     * preconditioned by a distributed MUMPS factor pays MUMPS's per-solve
     * communication at every iteration, 3.2x slower than refactorising at
     * 128x128 on 2 ranks here (16.2 s against 5.0 s for 150 iterations of
     * bench/p1_128_pcn.toml). Several chains on one rank do reuse (Round:
     * each takes the factorisation back to its own state). */
    if (cfg->sampler.surrogate == MC_SURROGATE_P1) PetscCall(McRunCreateSurrogate_Private(r));
    if (r->lay.R > 1 && !r->pb->umb) {
      PetscCall(McTargetSetProposalPotential(r->target, NULL, NULL));
      PetscCall(McPosteriorSetReuse(r->pb->post, PETSC_FALSE));
      /* the surrogate's tilted target has no proposal potential */
      if (r->pb_s) PetscCall(McPosteriorSetReuse(r->pb_s->post, PETSC_FALSE));
    }
    file_error[0] = '\0';
    PetscCall(PetscPushErrorHandler(FileErrorHandler, NULL));
    ierr = Sample(r, cfg, code);
    PetscCall(PetscPopErrorHandler());
    if (ierr && file_error[0]) {
      if (r->progress_shown && r->tty) fputc('\n', stderr);
      Say("mcmc-run: %s\n", file_error);
      if (r->out) {
        PetscInt64 appended, committed;
        PetscCall(McOutputGetDrawCounts(r->out, &appended, &committed));
        fprintf(stderr, "mcmc-run: stopped; %s holds the %lld draws per chain of its last successful flush\n",
                cfg->output.path, (long long)committed);
        PetscCall(PetscPushErrorHandler(FileErrorHandler, NULL));
        ierr = McOutputClose(&r->out);
        PetscCall(PetscPopErrorHandler());
        /* HDF5 1.10.8 closes the failed file again when it shuts down (at
         * MPI_Finalize) and crashes there on the torn file object. What
         * the last flush wrote is on disk; the process ends here. */
        fflush(stdout);
        fflush(stderr);
        _exit(MC_EXIT_RUNTIME);
      }
      *code = MC_EXIT_RUNTIME;
      ierr = 0;
    }
    PetscCall(ierr);
    if (opt->stats) *opt->stats = r->st;
  }
  PetscCall(McObjectDestroy(&r));
  PetscCall(McConfigDestroy(&cfg));
  PetscFunctionReturn(0);
}

PetscErrorCode McRunSample(const char *config, const McRunOptions *opt, int *code)
{
  PetscFunctionBeginUser;
  PetscCall(RunConfig(config, opt, code));
  PetscFunctionReturn(0);
}

/* What --check does besides validating the configuration: everything a run
 * sets up before it samples that can fail on the user's input (the layout
 * on this many ranks; the output's directory, and its file unless the run
 * may replace it; the mesh, observation, data and prior mean files; the
 * QoIs; a proposal covariance file), so that a batch job is not queued to
 * fail at its start. The problem is built on rank 0 alone. The MAP
 * point is not computed (it can take long), and a UM-Bridge server is not
 * contacted (it may not run where the check does). */
static PetscErrorCode CheckProblem(McConfig *cfg, const char *config, PetscBool force, int *code)
{
  McLayout    lay;
  McProblem  *pb = NULL;
  char        msg[2048];
  PetscBool   valid = PETSC_TRUE;
  PetscMPIInt rank;
  char       *text = NULL;
  int         bad;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(&lay, sizeof lay));
  lay.comm = MPI_COMM_NULL;
  PetscCall(ReadText(config, &text));
  PetscCall(McLayoutCreate(cfg, text, &lay, msg, sizeof msg, &valid));
  PetscCall(PetscFree(text));
  PetscCall(McLayoutDestroy(&lay));
  if (!valid) {
    PetscCall(PetscFPrintf(PETSC_COMM_WORLD, stderr, "%s\n", msg));
    *code = MC_EXIT_USAGE;
    PetscFunctionReturn(0);
  }
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0) {
    /* The output goes into a directory that must exist and be writable. */
    char        dir[PETSC_MAX_PATH_LEN];
    const char *slash = strrchr(cfg->output.path, '/');
    struct stat st;
    if (slash == cfg->output.path) PetscCall(PetscStrncpy(dir, "/", sizeof dir));
    else if (slash) PetscCall(PetscStrncpy(dir, cfg->output.path, PetscMin(sizeof dir, (size_t)(slash - cfg->output.path) + 1)));
    else PetscCall(PetscStrncpy(dir, ".", sizeof dir));
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0) {
      fprintf(stderr, "%s: [output] path \"%s\": the directory %s %s\n", cfg->source, cfg->output.path, dir,
              stat(dir, &st) != 0 ? "does not exist" : !S_ISDIR(st.st_mode) ? "is not a directory" : "is not writable");
      valid = PETSC_FALSE;
    } else if (OutputRefused(cfg, force)) {
      fprintf(stderr,
              "%s: output file %s exists; a run would refuse to overwrite it (remove it, pass --force, or set "
              "[output] overwrite = true)\n",
              cfg->source, cfg->output.path);
      valid = PETSC_FALSE;
    }
  }
  if (rank == 0 && valid && cfg->model.kind == MC_MODEL_PDE) {
    PetscCall(McProblemCreateOnComm(cfg, PETSC_COMM_SELF, &pb, msg, sizeof msg, &valid));
    PetscCall(McProblemDestroy(&pb));
    if (!valid) fprintf(stderr, "%s\n", msg);
  }
  bad = valid ? 0 : 1;
  PetscCallMPI(MPI_Bcast(&bad, 1, MPI_INT, 0, PETSC_COMM_WORLD));
  if (bad) *code = MC_EXIT_USAGE;
  PetscFunctionReturn(0);
}

/* --check and --print-config: validate (with the command line's overrides),
 * then report on rank 0 only. */
static PetscErrorCode CheckConfig(const char *config, const McRunOptions *opt, int *code)
{
  PetscMPIInt rank;
  McConfig   *cfg = NULL;
  int         print = opt->mode == MC_RUN_PRINT_CONFIG;

  PetscFunctionBeginUser;
  *code = MC_EXIT_OK;
  PetscCall(LoadConfig(config, NULL, &cfg, code));
  if (!cfg) PetscFunctionReturn(0);
  PetscCall(ApplyOverrides(cfg, opt, code));
  if (!print && *code == MC_EXIT_OK) PetscCall(CheckProblem(cfg, config, opt->force, code));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0 && *code == MC_EXIT_OK) {
    if (print)
      PetscCall(McConfigWrite(cfg, stdout));
    else
      printf("%s: ok\n", config);
    fflush(stdout);
  }
  PetscCall(McConfigDestroy(&cfg));
  PetscFunctionReturn(0);
}

int McRunMain(int petsc_argc, char **petsc_argv, const char *config, const McRunOptions *opt)
{
  PetscErrorCode ierr;
  int            code = MC_EXIT_RUNTIME;

  /* Before PetscInitialize: PETSc's own allocations must go through the
   * counting hooks from the first one, or the memory checks miss them. */
  if (McMemInstallPetscHooks()) return MC_EXIT_RUNTIME;
  McSingletonDefaults();
  ierr = PetscInitialize(&petsc_argc, &petsc_argv, NULL, NULL);
  if (ierr) return MC_EXIT_RUNTIME;
  /* SIGUSR1 only asks for a progress line: until the loop installs its
   * handler (set-up can take minutes: KL modes, MAP), it must not end the
   * run, as its default action would. */
  signal(SIGUSR1, SIG_IGN);
  /* GSL's default handler aborts; every GSL status is checked instead. */
  gsl_set_error_handler_off();
  if (opt->mode == MC_RUN_SAMPLE || opt->mode == MC_RUN_MAP)
    ierr = RunConfig(config, opt, &code);
  else if (opt->mode == MC_RUN_SERVE)
    ierr = McServe(config, opt, &code);
  else
    ierr = CheckConfig(config, opt, &code);
  if (ierr) {
    PetscMPIInt size = 1;
    /* An error on one rank of several: the others wait in a collective
     * that will never complete, so the job ends here, with the runtime
     * failure's exit code (mpiexec and srun return it). */
    MPI_Comm_size(PETSC_COMM_WORLD, &size);
    if (size > 1 && opt->mode != MC_RUN_CHECK && opt->mode != MC_RUN_PRINT_CONFIG) {
      fflush(stdout);
      fflush(stderr);
      MPI_Abort(PETSC_COMM_WORLD, MC_EXIT_RUNTIME);
    }
    code = MC_EXIT_RUNTIME;
  }
  {
    PetscMPIInt size = 1;
    /* On several ranks the output is closed and the exit code agreed: a
     * SIGTERM now (mpiexec ends the others as soon as one rank has exited
     * with a non-zero code, such as 4) must not turn this rank's 4 into a
     * death by signal in the moment between MPI_Finalize and exit.
     * PetscFinalize would reset SIGTERM to the default action when it pops
     * PETSc's signal handler, before MPI_Finalize: popped here, that
     * handler is gone and the pop in PetscFinalize leaves SIG_IGN alone. */
    MPI_Comm_size(PETSC_COMM_WORLD, &size);
    if (size > 1) {
      (void)PetscPopSignalHandler();
      signal(SIGTERM, SIG_IGN);
      signal(SIGINT, SIG_IGN);
    }
  }
  ierr = PetscFinalize();
  if (ierr && code == MC_EXIT_OK) code = MC_EXIT_RUNTIME;
  return code;
}

PetscErrorCode McRunApplySolverOptions(const McConfig *cfg)
{
  PetscFunctionBeginUser;
  PetscCall(ApplySolverOptions(cfg));
  PetscFunctionReturn(0);
}
