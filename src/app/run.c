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
#include "app/app.h"
#include "diag/diag.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <petscsys.h>
#include <string.h>
#include <time.h>
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

/* Everything one run holds: an object ("McRun"), so that the run shows in
 * the live-object table like its parts. Created before the configuration is
 * read and released after everything else, it is alive at the memory
 * baseline and at every check, so it never counts as growth. Not a
 * container: nothing refers back to the run. */
typedef struct {
  MC_OBJECT_HEAD;
  const McConfig     *cfg;
  const McRunOptions *opt;
  McProblem          *pb;
  McTarget            target;
  McConfig           *cfg_s;  /* [sampler] surrogate: the configuration of the first stage's model */
  McProblem          *pb_s;   /* ... that model */
  McTarget            target_s; /* ... its target, NULL without a surrogate */
  PetscInt            C;      /* chains of the run */
  McLayout            lay;    /* which of them run here (parallel.c) */
  PetscInt            nc;     /* chains run by this process: lay.nc */
  const PetscInt     *cid;    /* [nc] their indices: lay.chains */
  PetscBool           writer; /* this process writes the output file (rank 0) */
  McChain            *chains; /* nc */
  McRunSink         **sinks;  /* nc, borrowed from the chains' sinks */
  McOutput            out;
  Vec                 xmap; /* MAP point, when computed */
  McLaplace           lap;  /* Laplace approximation there, when computed */
  PetscInt            total, burn, thin, B; /* iterations per chain (burn-in included), output block */
  PetscInt            it;                   /* iterations done by every chain */
  PetscInt            it0;                  /* iteration this process started at (> 0 when resumed) */
  PetscInt            warm_end;             /* iteration of the memory baseline */
  PetscInt            ckpt_every;           /* iterations between checkpoints; 0 = only at the end */
  PetscInt            agreed_it;            /* iteration of the ranks' last agreement */
  char               *config_text;          /* stored in the file as the root attribute "config" */
  char                model_hash[256];
  /* checkpoints: one McCheckpoint and one blob per chain, allocated once */
  McCheckpoint      **ckpts;
  void              **blobs;
  size_t             *blob_sizes;
  /* mesh file and XDMF side-car next to the output file */
  char                mesh_path[PETSC_MAX_PATH_LEN], xmf_path[PETSC_MAX_PATH_LEN];
  McOutputMesh        mesh;
  double             *mesh_coords;
  int64_t            *mesh_cells;
  int                 stopped_by; /* the signal that stopped the loop, 0 = none */
  PetscLogDouble      t0, last_progress;
  PetscBool           tty, progress_shown;
  /* memory */
  PetscBool  baseline, warned;
  PetscInt   nchecks;
  PetscInt   base_it;                      /* iteration of the baseline */
  PetscInt64 allocs_project, allocs_petsc; /* allocation calls at the baseline */
  PetscInt64 loop_project, loop_petsc;     /* ... made by the loop after it */
  PetscInt64 factors, loop_factors;        /* forward factorisations at the baseline, by the loop after it */
  PetscInt64 live_objects, live_bytes;     /* at the baseline */
  PetscInt64 grew_objects, grew_bytes;     /* largest growth seen at a check */
  PetscBool  remote_fault;                 /* the UM-Bridge server failed for good */
  McRunStats st;                           /* timings for mc-bench (a few clock reads per round) */
} Run;

static const char *KernelName(McKernelKind k)
{
  static const char *names[] = {MC_KERNEL_PCN,  MC_KERNEL_RWM,   MC_KERNEL_AM,   MC_KERNEL_MALA, MC_KERNEL_INFMALA,
                                MC_KERNEL_HPCN, MC_KERNEL_HMALA, MC_KERNEL_DILI, MC_KERNEL_DR};
  return names[k];
}

/* The Hessian-informed kernels sample with the Laplace approximation. */
static PetscBool NeedsLaplace(const McConfig *cfg)
{
  const char *k = KernelName(cfg->sampler.kernel);
  return !strcmp(k, MC_KERNEL_HPCN) || !strcmp(k, MC_KERNEL_HMALA) || !strcmp(k, MC_KERNEL_DILI) ||
                 !strcmp(k, MC_KERNEL_DR) || cfg->sampler.start != MC_START_PRIOR_MEAN
             ? PETSC_TRUE
             : PETSC_FALSE;
}

/* MAP point by Newton-CG (one line per iteration), then the low-rank
 * Laplace approximation there. A MAP that cannot be found is a runtime
 * failure with a message saying why (*code). */
static PetscErrorCode ComputeGeometry(const McConfig *cfg, McProblem *pb, Vec *xmap, McLaplace *lap, int *code)
{
  McMAPOptions     mo;
  McMAPResult      mr;
  McLaplaceOptions lo;
  PetscInt         r, actions;
  const PetscReal *lambda;
  PetscReal        secs;

  PetscFunctionBeginUser;
  *lap = NULL;
  PetscCall(McPosteriorCreateParameterVector(pb->post, xmap));
  PetscCall(VecZeroEntries(*xmap));
  PetscCall(McMAPOptionsDefault(&mo));
  mo.max_it = cfg->map.max_iterations;
  mo.rtol = cfg->map.gradient_rtol;
  mo.monitor = PETSC_TRUE;
  PetscCall(McPosteriorComputeMAP(pb->post, &mo, *xmap, &mr));
  printf("MAP      %s after %d Newton iterations (%d CG, %.2f s): misfit %.6g, |grad| %.3g (from %.3g)\n",
         mr.converged ? "converged" : "NOT converged", (int)mr.iterations, (int)mr.cg_iterations, (double)mr.seconds,
         (double)mr.misfit, (double)mr.grad_norm, (double)mr.grad_norm0);
  fflush(stdout);
  if (!mr.converged) {
    fprintf(stderr,
            "mcmc-run: the MAP point was not found (%s); kernel \"%s\" and start = \"%s\" need it. Raise [map] "
            "max_iterations or relax gradient_rtol, or choose a kernel without the Laplace approximation\n",
            mr.reason, KernelName(cfg->sampler.kernel),
            cfg->sampler.start == MC_START_MAP ? "map" : cfg->sampler.start == MC_START_LAPLACE ? "laplace" : "prior_mean");
    *code = MC_EXIT_RUNTIME;
    PetscFunctionReturn(0);
  }
  PetscCall(McLaplaceOptionsDefault(&lo));
  lo.max_rank = cfg->laplace.rank;
  lo.oversampling = cfg->laplace.oversampling;
  lo.power_iterations = cfg->laplace.power_iterations;
  lo.threshold = cfg->laplace.threshold;
  lo.hessian = cfg->laplace.hessian == MC_HESS_NEWTON ? MC_HESSIAN_NEWTON : MC_HESSIAN_GAUSS_NEWTON;
  PetscCall(McLaplaceCreate(pb->post, *xmap, &lo, lap));
  PetscCall(McLaplaceGetEigenpairs(*lap, &r, &lambda, NULL));
  PetscCall(McLaplaceGetCost(*lap, &actions, &secs));
  printf("Laplace  rank %d (threshold %g): eigenvalues %.4g ... %.4g, %d Hessian actions, %.2f s\n", (int)r,
         (double)cfg->laplace.threshold, (double)lambda[0], (double)lambda[r - 1], (int)actions, (double)secs);
  fflush(stdout);
  PetscFunctionReturn(0);
}

/* run.h5 -> run_mesh.h5 and run.xmf next to it (OUTPUT.md's names). */
static PetscErrorCode SideCarPaths(Run *r)
{
  const char *path = r->cfg->output.path;
  size_t      n = strlen(path);
  int         stem = n > 3 && !strcmp(path + n - 3, ".h5") ? (int)(n - 3) : (int)n;

  PetscFunctionBeginUser;
  PetscCall(PetscSNPrintf(r->mesh_path, sizeof r->mesh_path, "%.*s_mesh.h5", stem, path));
  PetscCall(PetscSNPrintf(r->xmf_path, sizeof r->xmf_path, "%.*s.xmf", stem, path));
  PetscFunctionReturn(0);
}

/* Creates the output file (or, resuming, reopens it at its last
 * checkpoint), and writes the mesh file next to it. */
static PetscErrorCode CreateOutput(Run *r, PetscBool resume)
{
  const McConfig *cfg = r->cfg;
  McProblem      *pb = r->pb;
  McOutputSpec    spec;
  char          **names, *buf;
  const char     *const *qoi_names, *slash;
  PetscInt        nqoi, P = pb->nparams;
  const PetscScalar *y, *truth = NULL;
  Vec             d;
  McRunConstants  consts;
  PetscErrorCode  ierr;
  PetscMPIInt     gsize = 1;
  PetscBool       dist;
  PetscScalar    *truth_nat = NULL, *y_nat = NULL;

  PetscFunctionBeginUser;
  PetscCall(SideCarPaths(r));
  /* A chain on several ranks: what the file stores is gathered on the
   * group's rank 0 in the natural numbering (the writer is rank 0 of group
   * 0). Collective on the group. */
  if (pb->post) PetscCallMPI(MPI_Comm_size(pb->comm, &gsize));
  dist = gsize > 1 ? PETSC_TRUE : PETSC_FALSE;
  PetscCall(McOutputSpecInit(&spec));
  PetscCall(McTargetGetQoI(r->target, &nqoi, &qoi_names));
  PetscCall(PetscMalloc2(P, &names, 16 * P, &buf));
  for (PetscInt i = 0; i < P; i++) {
    names[i] = buf + 16 * i;
    snprintf(names[i], 16, "xi_%d", (int)i);
  }
  spec.nchains = r->C;
  spec.nparams = P;
  spec.param_names = (const char *const *)names;
  spec.nqoi = nqoi;
  spec.qoi_names = qoi_names;
  if (cfg->output.field_thin > 0 && pb->prior) {
    PetscCall(VecGetSize(pb->m0, &spec.field_size)); /* P1: one value of m per mesh vertex */
    spec.field_thin = cfg->output.field_thin;
    spec.field_name = "m";
    if (pb->mtrue && dist) {
      PetscCall(PetscMalloc1(spec.field_size, &truth_nat));
      PetscCall(McVecGatherNatural(pb->mtrue, truth_nat));
      spec.field_truth = truth_nat;
    } else {
      if (pb->mtrue) PetscCall(VecGetArrayRead(pb->mtrue, &truth));
      spec.field_truth = truth;
    }
  }
  slash = strrchr(r->mesh_path, '/');
  spec.mesh_file = slash ? slash + 1 : r->mesh_path; /* relative to the output file */
  spec.block_size = r->B;
  spec.flush_blocks = PetscMax(1, cfg->output.flush_every / r->B);
  spec.flush_seconds = cfg->output.flush_seconds;
  if (pb->post) {
    PetscCall(McPosteriorGetData(pb->post, &d, NULL, NULL));
    if (dist) { /* the observations' own order, gathered on the group's rank 0 */
      PetscCall(PetscMalloc1(pb->nobs + 1, &y_nat));
      PetscCall(McVecGatherNatural(d, y_nat));
      y = y_nat;
    } else PetscCall(VecGetArrayRead(d, &y));
  } else { /* a UM-Bridge model: its observations, if any */
    d = NULL;
    y = pb->data;
  }
  spec.nobs = pb->nobs;
  spec.y = y;
  spec.sensor_dim = cfg->mesh.dim;
  spec.sensor_coords = pb->obs_coords;
  spec.noise_sigma = pb->sigma;
  spec.config_text = r->config_text;
  spec.model_hash = r->model_hash;
  spec.overwrite = cfg->output.overwrite || r->opt->force ? PETSC_TRUE : PETSC_FALSE;
  /* constant_data: prior mean, KL modes, MAP, Laplace (geometry_out.c) */
  PetscCall(McRunConstantsFill(pb, r->xmap, r->lap, &consts));
  spec.nconstants = consts.n;
  spec.constants = consts.list;
  spec.comm = r->lay.size > 1 ? PETSC_COMM_WORLD : MPI_COMM_NULL;
  spec.chain_rank = r->lay.chain_rank;
  /* A file that cannot be created or resumed is reported by the caller
   * after everything here is released. */
  if (resume) ierr = McOutputOpenResume(cfg->output.path, &spec, &r->out);
  else ierr = McOutputCreate(cfg->output.path, &spec, &r->out);
  PetscCall(McRunConstantsFree(&consts));
  if (d && !dist) PetscCall(VecRestoreArrayRead(d, &y));
  PetscCall(PetscFree(y_nat));
  PetscCall(PetscFree(truth_nat));
  if (truth) PetscCall(VecRestoreArrayRead(pb->mtrue, &truth));
  PetscCall(PetscFree2(names, buf));
  PetscCall(ierr);
  PetscCall(McOutputIsWriter(r->out, &r->writer));
  /* a UM-Bridge model has no mesh; the writer's group gathers it */
  if (pb->fw && (r->writer || (dist && r->lay.group == 0)))
    PetscCall(McProblemGetMesh(pb, &r->mesh, &r->mesh_coords, &r->mesh_cells));
  if (pb->fw && r->writer) PetscCall(McOutputWriteMesh(r->mesh_path, &r->mesh));
  PetscFunctionReturn(0);
}

/* The gradient of a problem's target at xi into g, and with b the
 * observations B u(m(xi)) of the same forward solve (a failed solve is an
 * error: xi is the MAP point or the prior mean). */
static PetscErrorCode GradientAt(McProblem *pb, McTarget t, Vec xi, Vec g, Vec b)
{
  PetscReal    phi;
  McEvalStatus st;
  Vec          u;

  PetscFunctionBeginUser;
  PetscCall(McTargetPotential(t, xi, &phi, &st));
  if (st == MC_EVAL_OK) PetscCall(McTargetGradient(t, xi, g, &st));
  PetscCheck(st == MC_EVAL_OK, pb->comm, PETSC_ERR_NOT_CONVERGED,
             "the forward solve at the surrogate's reference point failed");
  if (b) {
    PetscCall(McForwardGetState(pb->fw, &u));
    PetscCall(McObsOperatorApply(pb->obs, u, b));
  }
  PetscFunctionReturn(0);
}

/* [sampler] surrogate = "p1": the problem again with a P1 state on the same
 * mesh (the same prior, observation points and QoIs). Its data are the P2
 * model's (synthetic data are drawn by the P2 model only) minus the two
 * models' difference at a reference point x0 (the MAP point if computed,
 * else the prior mean): d - (B u2(x0) - B u1(x0)). The P1 model's
 * discretisation error at the observation points is mostly that offset.
 * Its potential is then tilted by <g, xi>, g the difference of the two
 * models' gradients at x0, so that it matches the P2 model's potential to
 * first order there (McTargetCreateTilted). Each correction lets fewer of
 * the moves the first stage accepts be turned down by the second. The
 * first stage of delayed acceptance runs on this target. */
static PetscErrorCode CreateSurrogate(Run *r)
{
  char      msg[4096];
  PetscBool valid;
  Vec       d, sig, ds, b2, b1, x0, g2, g1;
  PetscInt  n, ns;
  McTarget  plain;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&r->cfg_s));
  *r->cfg_s = *r->cfg;
  r->cfg_s->fem.order = 1;
  PetscCall(McProblemCreateOnComm(r->cfg_s, r->lay.comm, &r->pb_s, msg, sizeof(msg), &valid));
  /* the configuration was valid for the P2 model, and nothing the P1 model
   * reads differs */
  PetscCheck(valid, r->lay.comm, PETSC_ERR_PLIB, "the P1 surrogate of a valid problem failed: %s", msg);
  PetscCall(McPosteriorGetData(r->pb->post, &d, &sig, NULL));
  PetscCall(McPosteriorGetData(r->pb_s->post, &ds, NULL, NULL));
  PetscCall(VecGetLocalSize(d, &n));
  PetscCall(VecGetLocalSize(ds, &ns));
  PetscCheck(n == ns, r->lay.comm, PETSC_ERR_SUP,
             "[sampler] surrogate = \"p1\": the P1 and P2 models distribute the observations differently over the "
             "chain's ranks (%d and %d here); use one rank per chain",
             (int)ns, (int)n);
  PetscCall(VecDuplicate(d, &b2));
  PetscCall(VecDuplicate(ds, &b1));
  if (r->xmap) {
    PetscCall(VecDuplicate(r->xmap, &x0));
    PetscCall(VecCopy(r->xmap, x0));
  } else {
    PetscCall(McPosteriorCreateParameterVector(r->pb->post, &x0));
    PetscCall(VecZeroEntries(x0));
  }
  PetscCall(VecDuplicate(x0, &g2));
  PetscCall(VecDuplicate(x0, &g1));
  PetscCall(McProblemCreateTarget(r->pb_s, &plain));
  /* the P2 model's gradient and observations at x0 from one solve; the P1
   * model's observations there (its gradient needs the shifted data) */
  PetscCall(GradientAt(r->pb, r->target, x0, g2, b2));
  PetscCall(GradientAt(r->pb_s, plain, x0, g1, b1));
  /* b1 <- d - b2 + b1 */
  PetscCall(VecAXPY(b1, -1.0, b2));
  PetscCall(VecAXPY(b1, 1.0, d));
  PetscCall(McPosteriorSetData(r->pb_s->post, b1, 0, sig));
  PetscCall(GradientAt(r->pb_s, plain, x0, g1, NULL));
  PetscCall(VecAXPY(g2, -1.0, g1));
  PetscCall(McTargetCreateTilted(plain, g2, &r->target_s));
  PetscCall(McTargetDestroy(&plain));
  PetscCall(VecDestroy(&g2));
  PetscCall(VecDestroy(&g1));
  PetscCall(VecDestroy(&b2));
  PetscCall(VecDestroy(&b1));
  PetscCall(VecDestroy(&x0));
  PetscFunctionReturn(0);
}

static PetscErrorCode CreateChains(Run *r)
{
  const McConfig *cfg = r->cfg;
  PetscInt        nqoi, ndraws = (r->total - r->burn) / r->thin;
  const char     *const *qoi_names;

  PetscFunctionBeginUser;
  PetscCall(McTargetGetQoI(r->target, &nqoi, &qoi_names));
  PetscCall(PetscCalloc2(r->nc, &r->chains, r->nc, &r->sinks));
  PetscCall(PetscCalloc3(r->nc, &r->ckpts, r->nc, &r->blobs, r->nc, &r->blob_sizes));
  for (PetscInt i = 0; i < r->nc; i++) {
    PetscInt c = r->cid[i];
    McKernel kernel;
    McSink   sink;
    Vec      xisum;
    PetscInt count;
    PetscCall(McKernelCreate(r->target_s ? r->target_s : r->target, KernelName(cfg->sampler.kernel), &kernel));
    PetscCall(McKernelSetStepSize(kernel, cfg->sampler.step_size));
    PetscCall(McKernelSetTargetAcceptance(kernel, cfg->sampler.target_acceptance));
    if (r->pb->rwm_covariance) PetscCall(McKernelRWMSetCovariance(kernel, r->pb->nparams, r->pb->rwm_covariance));
    if (r->lap) {
      PetscInt         rank;
      const PetscReal *lambda;
      const Vec       *V;
      Vec              mean;
      PetscCall(McLaplaceGetEigenpairs(r->lap, &rank, &lambda, &V));
      PetscCall(McLaplaceGetMean(r->lap, &mean));
      PetscCall(McKernelSetGaussianReference(kernel, mean, rank, V, lambda));
    }
    if (!strcmp(KernelName(cfg->sampler.kernel), MC_KERNEL_DILI)) {
      PetscCall(McKernelSetParameter(kernel, "beta_perp", cfg->sampler.beta_perp));
      PetscCall(McKernelSetParameter(kernel, "lis_update_every", (PetscReal)cfg->sampler.lis_update_every));
    }
    if (!strcmp(KernelName(cfg->sampler.kernel), MC_KERNEL_DR)) {
      PetscCall(McKernelSetParameter(kernel, "delta2", cfg->sampler.delta2));
      PetscCall(McKernelSetParameter(kernel, "target2", cfg->sampler.target2));
      PetscCall(McKernelSetParameter(kernel, "adapt_first", cfg->sampler.adapt_first ? 1 : 0));
    }
    if (r->target_s) {
      McKernel first = kernel;
      PetscCall(McKernelCreateDelayedAcceptance(r->target, first, &kernel));
      PetscCall(McKernelDestroy(&first));
    }
    PetscCall(McChainCreate(kernel, &r->chains[i]));
    PetscCall(McKernelDestroy(&kernel));
    PetscCall(McChainSetIterations(r->chains[i], r->total - r->burn, r->burn, r->thin));
    PetscCall(McChainSetSeed(r->chains[i], (uint64_t)cfg->chain.seed, c));
    PetscCall(McChainSetAdaptation(r->chains[i], cfg->sampler.adapt));
    PetscCall(McRunSinkCreate(r->pb, r->out, c, ndraws, nqoi, qoi_names, r->pb->prior ? cfg->output.field_thin : 0,
                              &r->sinks[i], &sink));
    PetscCall(McChainSetSink(r->chains[i], sink));
    PetscCall(McSinkDestroy(&sink));
    /* Initial state: xi = 0, the prior mean (the chain's default), the MAP
     * point, or a draw of the Laplace approximation per chain. */
    if (cfg->sampler.start == MC_START_MAP) PetscCall(McChainSetInitialState(r->chains[i], r->xmap));
    if (cfg->sampler.start == MC_START_LAPLACE) {
      gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
      Vec      x0;
      PetscCheck(g, PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory creating a random number generator");
      gsl_rng_set(g, (unsigned long)(cfg->chain.seed * 7919 + c + 1));
      PetscCall(VecDuplicate(r->xmap, &x0));
      PetscCall(McLaplaceSample(r->lap, g, x0));
      PetscCall(McChainSetInitialState(r->chains[i], x0));
      PetscCall(VecDestroy(&x0));
      gsl_rng_free(g);
    }
    PetscCall(McChainSetUp(r->chains[i]));
    PetscCall(McCheckpointCreate(r->chains[i], &r->ckpts[i]));
    PetscCall(McRunSinkGetState(r->sinks[i], &count, &xisum));
    PetscCall(McRunBlobSize(r->ckpts[i], xisum, &r->blob_sizes[i]));
    PetscCall(McMalloc(r->blob_sizes[i], &r->blobs[i]));
  }
  PetscFunctionReturn(0);
}

/* Every chain's state into the output file, with the draws so far. */
static PetscErrorCode Checkpoint(Run *r)
{
  McRunBlob plan = {r->total, r->burn, r->thin};

  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < r->nc; i++) {
    Vec      xisum;
    PetscInt count;
    PetscCall(McChainCheckpointSave(r->chains[i], r->ckpts[i]));
    PetscCall(McRunSinkGetState(r->sinks[i], &count, &xisum));
    PetscCall(McRunBlobPack(&plan, r->ckpts[i], xisum, count, r->blobs[i], r->blob_sizes[i]));
  }
  PetscCall(McOutputWriteCheckpoint(r->out, (const void *const *)r->blobs, r->blob_sizes));
  PetscFunctionReturn(0);
}

/* The plan of the checkpointed run (chain 0's blob; all chains share it). */
static PetscErrorCode ReadPlan(McOutput out, McRunBlob *plan, PetscInt *iteration, uint64_t *seed)
{
  const void *blob;
  size_t      size;
  int64_t     w[14];

  PetscFunctionBeginUser;
  PetscCall(McOutputReadCheckpoint(out, 0, &blob, &size, NULL));
  PetscCheck(size >= sizeof w && !memcmp(blob, "MCRUNCK1", 8), PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "the output file's checkpoint was not written by mcmc-run");
  memcpy(w, blob, sizeof w);
  plan->total = (PetscInt)w[1];
  plan->burn = (PetscInt)w[2];
  plan->thin = (PetscInt)w[3];
  *iteration = (PetscInt)w[4];
  *seed = (uint64_t)(uint32_t)w[11] | (uint64_t)(uint32_t)w[12] << 32;
  PetscFunctionReturn(0);
}

/* Puts every chain and sink in the state of the file's checkpoint. */
static PetscErrorCode RestoreChains(Run *r)
{
  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < r->nc; i++) {
    const void *blob;
    size_t      size;
    McRunBlob   plan;
    Vec         xisum;
    PetscInt    count, dummy;
    PetscCall(McOutputReadCheckpoint(r->out, r->cid[i], &blob, &size, NULL));
    PetscCall(McRunSinkGetState(r->sinks[i], &dummy, &xisum));
    PetscCall(McRunBlobUnpack(blob, size, &plan, r->ckpts[i], xisum, &count));
    PetscCall(McChainCheckpointRestore(r->chains[i], r->ckpts[i]));
    PetscCall(McRunSinkRestore(r->sinks[i], count));
    r->it = r->ckpts[i]->iteration;
  }
  PetscFunctionReturn(0);
}

/* The XDMF side-car, after the flush that committed the fields it names. */
static PetscErrorCode WriteXdmf(Run *r)
{
  PetscFunctionBeginUser;
  if (r->mesh_cells && r->writer) PetscCall(McOutputWriteXdmf(r->out, r->xmf_path, r->mesh_path, &r->mesh));
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------- signals */

/* SIGTERM/SIGINT: the handler only records the signal and asks the chain
 * that is stepping to stop after its current iteration; the loop then
 * checkpoints and exits with code 4. A second one finds the flag set and
 * ends the process at once with the default action (the file keeps its
 * last flush). SIGUSR1 asks for a progress line and a flush. */
static volatile sig_atomic_t stop_signal, usr1_signal;
static McChain volatile      running_chain;

static void OnStop(int sig)
{
  McChain c = running_chain;

  if (stop_signal) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  stop_signal = sig;
  if (c) McChainRequestStop(c);
}

static void OnUsr1(int sig)
{
  (void)sig;
  usr1_signal = 1;
}

static const int caught[3] = {SIGTERM, SIGINT, SIGUSR1};

static void InstallSignals(struct sigaction old[3])
{
  struct sigaction sa;

  stop_signal = 0;
  usr1_signal = 0;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < 3; i++) {
    sa.sa_handler = caught[i] == SIGUSR1 ? OnUsr1 : OnStop;
    sigaction(caught[i], &sa, &old[i]);
  }
}

static void RestoreSignals(const struct sigaction old[3])
{
  for (int i = 0; i < 3; i++) sigaction(caught[i], &old[i], NULL);
}

/* ------------------------------------------------------------ progress */

static void FormatSeconds(PetscReal s, char *buf, size_t len)
{
  long t = (long)(s + 0.5);

  if (!(s < 1e9)) snprintf(buf, len, "--");
  else if (t >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

/* One progress report on stderr: in place (\r) on a terminal, else a line. */
static PetscErrorCode Progress(Run *r, PetscBool final, PetscBool force)
{
  PetscLogDouble now;
  PetscReal      elapsed, rate, acc = 0, eta;
  PetscInt       failed = 0, acc_n = 0;
  McMemUsage     u;
  char           etas[32];

  PetscFunctionBeginUser;
  if ((r->opt->quiet && !force) || !r->writer) PetscFunctionReturn(0);
  PetscCall(PetscTime(&now));
  if (!final && !force && now - r->last_progress < (r->tty ? 0.25 : 2.0)) PetscFunctionReturn(0);
  r->last_progress = now;
  elapsed = (PetscReal)(now - r->t0);
  for (PetscInt i = 0; i < r->nc; i++) { /* this process's chains (all in a serial run) */
    McChainStats s;
    PetscCall(McChainGetStats(r->chains[i], &s));
    failed += s.failed;
    acc += r->it <= r->burn ? (PetscReal)s.accepted_burnin : (PetscReal)s.accepted;
  }
  acc_n = r->nc * (r->it <= r->burn ? r->it : r->it - r->burn);
  acc = acc_n ? acc / acc_n : 0;
  rate = elapsed > 0 ? r->C * (r->it - r->it0) / elapsed : 0;
  eta = rate > 0 ? r->C * (r->total - r->it) / rate : PETSC_INFINITY;
  FormatSeconds(eta, etas, sizeof(etas));
  PetscCall(McMemGetUsage(&u));
  fprintf(stderr, "%s%*d/%d %3d%% %-8s %7.0f it/s  ETA %6s  acc %.3f  failed %d  RSS %.1f MB%s", r->tty ? "\r" : "",
          (int)(log10((double)r->total) + 1), (int)r->it, (int)r->total, (int)(100.0 * r->it / r->total),
          r->it <= r->burn ? "burn-in" : "sampling", (double)rate, etas, (double)acc, (int)failed,
          u.rss_bytes / 1048576.0, r->tty ? "\033[K" : "\n");
  if (final && r->tty) fputc('\n', stderr);
  fflush(stderr);
  r->progress_shown = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/* -------------------------------------------------------------- memory */

static PetscInt64 Collections(void)
{
  PetscInt64 n = 0;

  for (int g = 0; g < 3; g++) {
    McGCGenStats s;
    if (!McGCGetStats(g, &s)) n += s.collections;
  }
  return n;
}

static PetscErrorCode MemoryRow(Run *r)
{
  McMemUsage        u;
  McOutputMemoryRow row;

  PetscFunctionBeginUser;
  PetscCall(McMemGetUsage(&u));
  row.iteration = r->it;
  row.rss_bytes = u.rss_bytes;
  row.live_objects = u.live_objects;
  row.live_bytes = u.live_bytes + u.petsc_bytes;
  row.collections = Collections();
  PetscCall(McOutputAppendMemory(r->out, &row));
  if (r->baseline) {
    r->grew_objects = PetscMax(r->grew_objects, u.live_objects - r->live_objects);
    r->grew_bytes = PetscMax(r->grew_bytes, row.live_bytes - r->live_bytes);
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode TakeBaseline(Run *r)
{
  McMemUsage u;

  PetscFunctionBeginUser;
  PetscCall(McGCCollect(2, NULL));
  PetscCall(McMemSetBaseline());
  PetscCall(McMemGetUsage(&u));
  r->live_objects = u.live_objects;
  r->live_bytes = u.live_bytes + u.petsc_bytes;
  PetscCall(McMemAllocCount(&r->allocs_project, &r->allocs_petsc));
  if (r->pb->fw) PetscCall(McForwardGetFactorCount(r->pb->fw, &r->factors));
  r->baseline = PETSC_TRUE;
  r->base_it = r->it;
  PetscCall(MemoryRow(r));
  PetscFunctionReturn(0);
}

/* A collection, then the comparison with the baseline. *stop on a violation
 * with on_violation = "stop". */
static PetscErrorCode CheckMemory(Run *r, PetscBool *stop)
{
  const McConfig *cfg = r->cfg;
  PetscBool       ok;
  char            report[4096];

  PetscFunctionBeginUser;
  *stop = PETSC_FALSE;
  PetscCall(McGCCollect(2, NULL));
  PetscCall(McMemCheck(cfg->memory.tolerance_objects, (size_t)cfg->memory.tolerance_bytes, &ok, report,
                       sizeof(report)));
  r->nchecks++;
  PetscCall(MemoryRow(r));
  if (ok) PetscFunctionReturn(0);
  if (r->progress_shown && r->tty) fputc('\n', stderr);
  if (cfg->memory.on_violation == MC_VIOLATION_STOP) {
    PetscCall(McOutputFlush(r->out));
    fprintf(stderr,
            "mcmc-run: memory assertion failed at iteration %d (baseline after %d iterations, tolerance %d "
            "objects, %d bytes):\n%s\nmcmc-run: stopped; the %s draws so far are in %s\n",
            (int)r->it, (int)cfg->memory.warmup, (int)cfg->memory.tolerance_objects,
            (int)cfg->memory.tolerance_bytes, report, r->C > 1 ? "chains'" : "chain's", cfg->output.path);
    *stop = PETSC_TRUE;
  } else if (!r->warned) {
    fprintf(stderr,
            "mcmc-run: warning: memory grew at iteration %d (reported once; [memory] on_violation = \"warn\"):\n%s\n",
            (int)r->it, report);
    r->warned = PETSC_TRUE;
  }
  PetscFunctionReturn(0);
}

/* ---------------------------------------------------------------- loop */

/* Iterations every chain may run from r->it without passing the next
 * event: the end, the memory baseline, a check, a collection, a
 * checkpoint, and the end of the current output block (a chain may fill
 * one block at most before the others catch up). */
static PetscInt RoundLength(Run *r)
{
  const McConfig *cfg = r->cfg;
  PetscInt        n = PetscMin(r->total - r->it, 100);

  if (!r->baseline && r->warm_end > r->it) n = PetscMin(n, r->warm_end - r->it);
  if (cfg->memory.check_every > 0) n = PetscMin(n, cfg->memory.check_every - r->it % cfg->memory.check_every);
  if (cfg->memory.gc_period > 0) n = PetscMin(n, cfg->memory.gc_period - r->it % cfg->memory.gc_period);
  if (r->ckpt_every > 0) n = PetscMin(n, r->ckpt_every - r->it % r->ckpt_every);
  if (r->it >= r->burn) {
    PetscInt kept = (r->it - r->burn) / r->thin, left = r->B - kept % r->B;
    n = PetscMin(n, r->burn + (kept + left) * r->thin - r->it);
  }
  return PetscMax(n, 1);
}

/* The chains' steps when the model is a UM-Bridge server. A server that
 * stays unreachable after every retry raises an error inside a step; the
 * step is abandoned before its draw is recorded, so flushing the output
 * keeps exactly the draws completed so far. The error is reported as one
 * line (the client's reason), not as PETSc's traceback. */
static PetscErrorCode RemoteSteps(Run *r, PetscInt n, PetscBool *stop)
{
  PetscErrorCode ierr = 0;
  char          *specific = NULL;

  PetscFunctionBeginUser;
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  for (PetscInt i = 0; i < r->nc && !ierr; i++)
    ierr = McChainRunSteps(r->chains[i], n);
  PetscCall(PetscPopErrorHandler());
  if (!ierr) PetscFunctionReturn(0);
  PetscCall(PetscErrorMessage(ierr, NULL, &specific));
  PetscCall(McOutputFlush(r->out));
  if (r->progress_shown && r->tty) fputc('\n', stderr);
  fprintf(stderr, "mcmc-run: stopped at iteration %d: %s\nmcmc-run: the draws so far are in %s\n", (int)r->it,
          specific ? specific : "the UM-Bridge model failed", r->cfg->output.path);
  r->remote_fault = PETSC_TRUE;
  *stop = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/* CPU seconds of the process (the benchmark's contention-free clock). */
static PetscLogDouble CpuSeconds(void)
{
  struct timespec ts;

  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)) return 0;
  return (PetscLogDouble)ts.tv_sec + 1e-9 * (PetscLogDouble)ts.tv_nsec;
}

/* Adds the time since *t to *acc and restarts *t (the benchmark's phases). */
static PetscErrorCode Lap(PetscLogDouble *t, PetscLogDouble *acc)
{
  PetscLogDouble now;

  PetscFunctionBeginUser;
  PetscCall(PetscTime(&now));
  *acc += now - *t;
  *t = now;
  PetscFunctionReturn(0);
}

/* The loop's measurements (McRunStats): RSS, the sinks' recording time
 * taken out of the steps, allocation calls per iteration. */
static PetscErrorCode FinishStats(Run *r)
{
  McMemUsage u;

  PetscFunctionBeginUser;
  PetscCall(McMemGetUsage(&u));
  r->st.rss_end = u.rss_bytes;
  r->st.iterations = r->C * r->it;
  r->st.burn_in = r->burn;
  for (PetscInt i = 0; i < r->nc; i++) {
    PetscLogDouble rec;
    McChainStats   s;
    PetscCall(McRunSinkGetSeconds(r->sinks[i], &rec));
    r->st.steps -= rec;
    r->st.output += rec;
    PetscCall(McChainGetStats(r->chains[i], &s));
    r->st.failed += s.failed;
    if (r->cid[i] == 0) r->st.acceptance = s.acceptance;
  }
  PetscFunctionReturn(0);
}

/* One round: every chain runs to r->it + n. A stop request (SIGTERM)
 * lands on the chain that is stepping: if that is the first chain, the
 * round ends where it stopped for all chains; a later chain catches up with
 * the first, so all chains always stand at the same iteration. */
static PetscErrorCode Round(Run *r, PetscInt n)
{
  PetscInt target = r->it + n;

  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < r->nc; i++) {
    McChainStats s;
    PetscCall(McChainGetStats(r->chains[i], &s));
    if (r->nc > 1 && s.iterations < target) {
      /* Chains run in turn here share one forward model, whose factorisation
       * preconditions the proposals (the reuse): each takes it back to its
       * own state first, so its draws are those it makes alone on a rank
       * (one exact solve per chain and round). */
      McKernel k;
      PetscCall(McChainGetKernel(r->chains[i], &k));
      PetscCall(McKernelAnchor(k));
    }
    while (s.iterations < target) {
      /* On several ranks a stop is agreed at the round's end, so no chain
       * is asked to stop inside it (the ranks stay at one iteration). */
      running_chain = r->lay.size > 1 ? NULL : r->chains[i];
      PetscCall(McChainRunSteps(r->chains[i], target - s.iterations));
      running_chain = NULL;
      PetscCall(McChainGetStats(r->chains[i], &s));
      if (s.iterations < target && i == 0) target = s.iterations;
    }
  }
  r->it = target;
  PetscFunctionReturn(0);
}

/* Whether the round just run ended an output block (its last kept draw
 * filled it). */
static PetscBool BlockEnd(Run *r)
{
  PetscInt kept;

  if (r->it <= r->burn || (r->it - r->burn) % r->thin) return PETSC_FALSE;
  kept = (r->it - r->burn) / r->thin;
  return kept % r->B == 0 ? PETSC_TRUE : PETSC_FALSE;
}

/* On several ranks the ranks agree on a stop at a block's end (where the
 * draws are exchanged anyway), at a checkpoint, after a memory check, at
 * the end, and at least every MC_AGREE_EVERY iterations (burn-in has no
 * blocks; with thinning a block is long): the longest a signal waits. */
#define MC_AGREE_EVERY 256
static PetscBool AgreeNow(Run *r)
{
  const McConfig *cfg = r->cfg;

  return BlockEnd(r) || r->it >= r->total || (r->ckpt_every > 0 && r->it % r->ckpt_every == 0) ||
                 (cfg->memory.check_every > 0 && r->it % cfg->memory.check_every == 0) ||
                 r->it - r->agreed_it >= MC_AGREE_EVERY
             ? PETSC_TRUE
             : PETSC_FALSE;
}

static PetscErrorCode Loop(Run *r, int *code)
{
  const McConfig  *cfg = r->cfg;
  PetscBool        stop = PETSC_FALSE;
  int              agreed[3] = {0, 0, 0}; /* signal, SIGUSR1, memory stop: agreed by all ranks */
  struct sigaction old[3];
  PetscLogDouble   t, tend;
  McMemUsage       u;

  PetscFunctionBeginUser;
  /* A checkpoint before the first iteration: a run killed before its first
   * scheduled checkpoint can still be resumed, and the record's buffer
   * exists before the memory baseline. */
  if (r->it == 0) PetscCall(Checkpoint(r));
  PetscCall(McMemGetUsage(&u));
  r->st.rss_start = u.rss_bytes;
  r->st.loop_cpu  = -CpuSeconds();
  PetscCall(PetscTime(&r->t0));
  r->last_progress = t = r->t0;
  r->agreed_it = r->it;
  if (r->warm_end == r->it && cfg->memory.check_every > 0) PetscCall(TakeBaseline(r));
  PetscCall(Lap(&t, &r->st.collection));
  InstallSignals(old);
  while (r->it < r->total && !agreed[0]) {
    PetscInt   n = RoundLength(r);
    PetscInt64 appended, committed;
    if (r->pb->umb) {
      PetscCall(RemoteSteps(r, n, &stop));
      if (stop) break;
      r->it += n;
    } else PetscCall(Round(r, n));
    PetscCall(Lap(&t, &r->st.steps));
    if (cfg->memory.gc_period > 0 && r->it % cfg->memory.gc_period == 0) PetscCall(McGCCollect(2, NULL));
    if (!r->baseline && cfg->memory.check_every > 0 && r->it == r->warm_end) PetscCall(TakeBaseline(r));
    else if (r->baseline && cfg->memory.check_every > 0 && r->it % cfg->memory.check_every == 0)
      PetscCall(CheckMemory(r, &stop));
    /* Every rank stands at r->it: a signal or a failed memory check on
     * any of them stops all here. On several ranks only at the rounds
     * AgreeNow names (one small allreduce per block, at most every
     * MC_AGREE_EVERY iterations); on one rank at every round, at no cost. */
    if (r->lay.size == 1 || AgreeNow(r)) {
      agreed[0] = stop_signal, agreed[1] = usr1_signal, agreed[2] = stop;
      PetscCall(McLayoutAgree(&r->lay, 3, agreed));
      stop = agreed[2] ? PETSC_TRUE : PETSC_FALSE;
      r->agreed_it = r->it;
    }
    PetscCall(Lap(&t, &r->st.collection));
    if (stop || agreed[0]) break;
    if (r->ckpt_every > 0 && r->it % r->ckpt_every == 0 && r->it < r->total) PetscCall(Checkpoint(r));
    /* The other ranks' draws reach the writer a block at a time. */
    if (r->lay.size > 1 && (agreed[1] || BlockEnd(r))) PetscCall(McOutputExchange(r->out));
    /* [output] flush_every kept draws at least, also when a time-based
     * flush policy is set. */
    PetscCall(McOutputGetDrawCounts(r->out, &appended, &committed));
    if (r->writer && (appended - committed >= cfg->output.flush_every || agreed[1])) PetscCall(McOutputFlush(r->out));
    PetscCall(Lap(&t, &r->st.output));
    PetscCall(Progress(r, r->it == r->total, agreed[1] ? PETSC_TRUE : PETSC_FALSE));
    if (agreed[1]) usr1_signal = 0, agreed[1] = 0;
  }
  RestoreSignals(old);
  /* On several ranks the agreed signal: one arriving on a rank after the
   * last agreement is ignored by all (the run was complete). */
  r->stopped_by = r->lay.size > 1 ? agreed[0] : stop_signal;
  if (r->lay.size > 1 && agreed[0]) {
    /* Every rank now checkpoints and exits 4; mpiexec signals the ranks
     * still running as soon as one has exited non-zero, which must not turn
     * their 4 into a death by signal (seen with a chain on 2 ranks). */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
  }
  PetscCall(McOutputExchange(r->out));
  PetscCall(PetscTime(&tend));
  r->st.loop = tend - r->t0;
  r->st.loop_cpu += CpuSeconds();
  if (stop) {
    *code = r->remote_fault ? MC_EXIT_RUNTIME : MC_EXIT_MEMORY;
    PetscFunctionReturn(0);
  }
  /* A last check at the end, unless the loop's last round just did one. */
  if (!r->stopped_by && r->baseline && !(cfg->memory.check_every > 0 && r->total % cfg->memory.check_every == 0)) {
    int f = 0;
    PetscCall(CheckMemory(r, &stop));
    f = stop ? 1 : 0;
    PetscCall(McLayoutAgree(&r->lay, 1, &f));
    if (f) *code = MC_EXIT_MEMORY;
  }
  if (r->baseline) {
    PetscInt64 p, q;
    PetscCall(McMemAllocCount(&p, &q));
    r->loop_project = p - r->allocs_project;
    r->loop_petsc = q - r->allocs_petsc;
    if (r->pb->fw) {
      PetscCall(McForwardGetFactorCount(r->pb->fw, &p));
      r->loop_factors = p - r->factors;
    }
    r->st.factorisations = (PetscReal)r->loop_factors / (PetscReal)PetscMax(1, r->nc * (r->total - r->base_it));
    r->st.baseline = PETSC_TRUE;
    r->st.base_it = r->base_it;
    r->st.allocs_project = (PetscReal)r->loop_project / (PetscReal)PetscMax(1, r->nc * (r->total - r->base_it));
    r->st.allocs_petsc = (PetscReal)r->loop_petsc / (PetscReal)PetscMax(1, r->nc * (r->total - r->base_it));
  }
  PetscCall(FinishStats(r));
  /* The last checkpoint: at the end, or where the signal stopped the run. */
  if (*code == MC_EXIT_OK) PetscCall(Checkpoint(r));
  if (r->stopped_by && *code == MC_EXIT_OK) {
    *code = MC_EXIT_SIGNAL;
    if (!r->writer) PetscFunctionReturn(0); /* rank 0 reports */
    if (r->progress_shown && r->tty) fputc('\n', stderr);
    fprintf(stderr,
            "mcmc-run: stopped by %s at iteration %d of %d; checkpoint written to %s\n"
            "mcmc-run: continue with: mcmc-run --resume %s\n",
            r->stopped_by == SIGINT ? "SIGINT" : "SIGTERM", (int)r->it, (int)r->total, cfg->output.path,
            cfg->output.path);
    *code = MC_EXIT_SIGNAL;
  }
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------- summary */

/* Every chain's end-of-run statistics on the writer; the other ranks send
 * theirs (one gather). Ownership: *all is new (PetscFree), C entries. */
static PetscErrorCode GatherChainStats(Run *r, McChainStats **all)
{
  McChainStats *mine, *buf = NULL;
  PetscMPIInt  *cnt = NULL, *dsp = NULL;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(r->nc, &mine));
  PetscCall(PetscMalloc1(r->C, all));
  for (PetscInt i = 0; i < r->nc; i++)
    PetscCall(McChainGetStats(r->chains[i], &mine[i]));
  if (r->lay.size == 1) {
    PetscCall(PetscArraycpy(*all, mine, r->C));
    PetscCall(PetscFree(mine));
    PetscFunctionReturn(0);
  }
  if (r->lay.rank == 0) {
    PetscCall(PetscCalloc2(r->lay.size, &cnt, r->lay.size, &dsp));
    PetscCall(PetscMalloc1(r->C, &buf));
    for (PetscInt c = 0; c < r->C; c++)
      cnt[r->lay.chain_rank[c]] += (PetscMPIInt)sizeof(McChainStats);
    for (PetscMPIInt q = 1; q < r->lay.size; q++)
      dsp[q] = dsp[q - 1] + cnt[q - 1];
  }
  /* A chain's group of R ranks sends its statistics from its first rank
   * only (chain_rank), as it records its draws. */
  PetscCallMPI(MPI_Gatherv(mine, (PetscMPIInt)(r->lay.rank % r->lay.R ? 0 : r->nc * sizeof(McChainStats)), MPI_BYTE,
                           buf, cnt, dsp, MPI_BYTE, 0, PETSC_COMM_WORLD));
  if (r->lay.rank == 0) { /* rank order -> chain order */
    PetscInt k = 0;
    for (PetscMPIInt q = 0; q < r->lay.size; q++)
      for (PetscInt c = 0; c < r->C; c++)
        if (r->lay.chain_rank[c] == q) (*all)[c] = buf[k++];
  }
  PetscCall(PetscFree(buf));
  PetscCall(PetscFree2(cnt, dsp));
  PetscCall(PetscFree(mine));
  PetscFunctionReturn(0);
}

/* The sum of the kept xi of every chain and their number, on the writer
 * (one reduction: with one rank per chain, xi is whole on every rank).
 * Ownership: *xisum is new (VecDestroy). */
static PetscErrorCode SumXi(Run *r, Vec *xisum, PetscInt *total)
{
  PetscScalar *a;
  PetscInt     n;

  PetscFunctionBeginUser;
  *total = 0;
  PetscCall(McPosteriorCreateParameterVector(r->pb->post, xisum));
  PetscCall(VecSet(*xisum, 0));
  for (PetscInt i = 0; i < r->nc; i++)
    PetscCall(McRunSinkAddMeanXi(r->sinks[i], *xisum, total));
  if (r->lay.R > 1) {
    /* xi is distributed over each group: the groups' sums in the natural
     * numbering on their first ranks, reduced on rank 0 (the others add
     * zeros), and spread over group 0, which maps the mean to the field. */
    PetscInt N, *counted = total, zero = 0;
    PetscCall(VecGetSize(*xisum, &N));
    PetscCall(PetscCalloc1(N + 1, &a));
    PetscCall(McVecGatherNatural(*xisum, a));
    if (r->lay.rank % r->lay.R) {
      PetscCall(PetscArrayzero(a, N));
      counted = &zero;
    }
    PetscCallMPI(
        MPI_Reduce(r->lay.rank ? a : MPI_IN_PLACE, a, (PetscMPIInt)N, MPIU_SCALAR, MPI_SUM, 0, PETSC_COMM_WORLD));
    PetscCallMPI(MPI_Reduce(r->lay.rank ? counted : MPI_IN_PLACE, total, 1, MPIU_INT, MPI_SUM, 0, PETSC_COMM_WORLD));
    if (r->lay.group == 0) {
      PetscCallMPI(MPI_Bcast(a, (PetscMPIInt)N, MPIU_SCALAR, 0, r->lay.comm));
      PetscCallMPI(MPI_Bcast(total, 1, MPIU_INT, 0, r->lay.comm));
      PetscCall(McVecSetNatural(*xisum, a));
    }
    PetscCall(PetscFree(a));
  } else if (r->lay.size > 1) {
    PetscCall(VecGetLocalSize(*xisum, &n));
    PetscCall(VecGetArray(*xisum, &a));
    PetscCallMPI(
        MPI_Reduce(r->lay.rank ? a : MPI_IN_PLACE, a, (PetscMPIInt)n, MPIU_SCALAR, MPI_SUM, 0, PETSC_COMM_WORLD));
    PetscCallMPI(MPI_Reduce(r->lay.rank ? total : MPI_IN_PLACE, total, 1, MPIU_INT, MPI_SUM, 0, PETSC_COMM_WORLD));
    PetscCall(VecRestoreArray(*xisum, &a));
  }
  PetscFunctionReturn(0);
}

/* Per-chain ESS and, across the chains, the rank-normalised split R-hat
 * and bulk ESS of the diag module (what mcmc-diag reports), of lp, the
 * QoIs and the first coordinates of xi, read back from the file. */
static PetscErrorCode SummaryMixing(Run *r, PetscInt nqoi, const char *const *qnames)
{
  PetscInt   n, nxi, C = r->C, nq;
  PetscReal *lp, *qoi, *xi, *x;
  Vec        sum;

  PetscFunctionBeginUser;
  nxi = PetscMin(MC_RUN_TRACE_XI, r->pb->nparams);
  nq = 1 + nqoi + nxi;
  PetscCall(McRunSinkGetState(r->sinks[0], &n, &sum));                   /* every chain has kept as many */
  PetscCall(McMalloc(sizeof(PetscReal) * (size_t)(C * n * nq + 1), &x)); /* [quantity][chain][draw] */
  printf("\neffective sample size (of the kept draws per chain)\n%-6s %8s", "chain", "draws");
  printf(" %10s", "lp");
  for (PetscInt q = 0; q < nqoi; q++) printf(" %10s", qnames[q]);
  for (PetscInt i = 0; i < nxi; i++)
    printf("       xi_%d", (int)i);
  printf("\n");
  for (PetscInt c = 0; c < C; c++) {
    PetscReal ess;
    PetscCall(McRunReadTraces(r->out, c, n, nqoi, qnames, nxi, &lp, &qoi, &xi));
    for (PetscInt d = 0; d < n; d++) {
      x[(0 * C + c) * n + d] = lp[d];
      for (PetscInt q = 0; q < nqoi; q++)
        x[((1 + q) * C + c) * n + d] = qoi[d * nqoi + q];
      for (PetscInt i = 0; i < nxi; i++)
        x[((1 + nqoi + i) * C + c) * n + d] = xi[d * nxi + i];
    }
    PetscCall(McFree(&lp));
    PetscCall(McFree(&qoi));
    PetscCall(McFree(&xi));
    printf("%-6d %8d", (int)c, (int)n);
    if (n < 4) {
      printf("  (too few draws)\n");
      continue;
    }
    for (PetscInt k = 0; k < nq; k++) {
      PetscCall(McESS(n, x + (k * C + c) * n, 1, &ess));
      printf(" %10.0f", (double)ess);
    }
    printf("\n");
  }
  if (n >= 4) {
    printf("\nacross the %d chain%s: rank-normalised split R-hat and bulk ESS (as mcmc-diag)\n%-9s", (int)C,
           C > 1 ? "s" : "", "");
    printf(" %10s", "lp");
    for (PetscInt q = 0; q < nqoi; q++)
      printf(" %10s", qnames[q]);
    for (PetscInt i = 0; i < nxi; i++)
      printf("       xi_%d", (int)i);
    /* Users compare samplers by effective samples per second: the bulk
     * ESS over the loop's wall time, burn-in included (as MUQ's ES/min
     * counts it). A resumed run's earlier part took a time the file does
     * not record, so it gets no rate. */
    PetscBool      rate = r->it0 == 0 ? PETSC_TRUE : PETSC_FALSE;
    McDiagSummary *ds;
    PetscCall(PetscMalloc1(nq, &ds));
    for (PetscInt k = 0; k < nq; k++)
      PetscCall(McDiagSummarize(C, n, x + k * C * n, &ds[k]));
    for (int row = 0; row < (rate ? 3 : 2); row++) {
      printf("\n%-9s", row == 2 ? "ESS/s" : row ? "ESS bulk" : "R-hat");
      for (PetscInt k = 0; k < nq; k++) {
        if (row == 2)
          printf(" %10.4g", (double)(ds[k].ess_bulk / r->st.loop));
        else if (row)
          printf(" %10.0f", (double)ds[k].ess_bulk);
        else
          printf(" %10.4f", (double)ds[k].rhat);
      }
    }
    printf("\n");
    if (rate)
      printf("ESS/s: bulk ESS per second of the sampling loop (%.3f s: burn-in, memory checks and output included)\n",
             (double)r->st.loop);
    else
      printf("ESS/s: not shown (resumed at iteration %d: the time before it is not in the file)\n", (int)r->it0);
    PetscCall(PetscFree(ds));
  }
  PetscCall(McFree(&x));
  PetscFunctionReturn(0);
}

/* The end-of-run report, printed by the writer; every rank takes part in
 * the gathers. */
static PetscErrorCode Summary(Run *r)
{
  const McConfig    *cfg = r->cfg;
  McProblem         *pb = r->pb;
  PetscInt           nqoi, total_draws = 0;
  const char *const *qnames;
  PetscLogDouble     now;
  Vec                xisum = NULL, mmean;
  McChainStats      *all;
  PetscReal          pe = 0, pr = 0, qe = 0, qr = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscTime(&now));
  PetscCall(McTargetGetQoI(r->target, &nqoi, &qnames));
  PetscCall(GatherChainStats(r, &all));
  if (pb->mtrue) PetscCall(SumXi(r, &xisum, &total_draws));
  if (pb->mtrue && r->lay.group == 0) {
    /* Collective on group 0 (the writer's): several ranks when R > 1. */
    PetscCall(VecDuplicate(pb->m0, &mmean));
    /* m is affine in xi: the mean of m is m0 + L mean(xi). */
    PetscCall(VecScale(xisum, 1.0 / (PetscReal)PetscMax(total_draws, 1)));
    PetscCall(McPosteriorParameterToField(pb->post, xisum, mmean));
    PetscCall(McProblemFieldError(pb, mmean, &pe, &pr));
    PetscCall(McProblemFieldError(pb, pb->m0, &qe, &qr));
    PetscCall(VecDestroy(&mmean));
  }
  if (!r->writer) {
    PetscCall(PetscFree(all));
    PetscCall(VecDestroy(&xisum));
    PetscFunctionReturn(0);
  }
  /* dr's second stage has its own step: a column after the others, which
   * keeps the columns before it where scripts read them */
  PetscBool two = all[0].second_step > 0 ? PETSC_TRUE : PETSC_FALSE;
  printf("\n%-6s %10s %8s %11s %10s %9s%s\n", "chain", "acceptance", "failed", "step size", "samples/s", "wall s",
         two ? "  2nd step" : "");
  for (PetscInt c = 0; c < r->C; c++) {
    printf("%-6d %10.3f %8d %11.4g %10.0f %9.1f", (int)c, (double)all[c].acceptance, (int)all[c].failed,
           (double)all[c].step_size, (double)all[c].samples_per_sec, (double)all[c].seconds);
    if (two) printf(" %9.4g", (double)all[c].second_step);
    printf("\n");
  }
  PetscCall(PetscFree(all));
  PetscCall(SummaryMixing(r, nqoi, qnames));
  if (pb->mtrue) {
    printf("\nfield m against the synthetic truth (L2 norms weighted by the lumped mass)\n");
    if (pr < 0) {
      printf("posterior mean error  %.4g (absolute; the truth is 0)\n", (double)pe);
      printf("prior mean error      %.4g (absolute)\n", (double)qe);
    } else {
      printf("posterior mean error  %.4f relative (%.4g absolute)\n", (double)pr, (double)pe);
      printf("prior mean error      %.4f relative (%.4g absolute)\n", (double)qr, (double)qe);
    }
    PetscCall(VecDestroy(&xisum));
  }
  printf("\n");
  if (r->baseline) {
    PetscReal steps = (PetscReal)PetscMax(1, r->nc * (r->total - r->base_it));
    printf("memory   %d checks against the baseline taken at iteration %d: live objects %+lld, live bytes %+lld "
           "at most\n",
           (int)r->nchecks, (int)r->base_it, (long long)r->grew_objects, (long long)r->grew_bytes);
    printf("         allocation calls per iteration after it: project %.3g, PETSc %.3g\n",
           (double)(r->loop_project / steps), (double)(r->loop_petsc / steps));
    /* With reuse, only accepted proposals refactorise (PETSc's own Cholesky,
     * if chosen, takes and frees one workspace per factorisation; mcchol
     * none). */
    PetscBool direct = PETSC_FALSE;
    if (pb->fw) PetscCall(McForwardHasReuse(pb->fw, &direct)); /* the counter is a plain direct solver's */
    if (direct)
      printf("         forward factorisations per iteration after it: %.3g\n", (double)(r->loop_factors / steps));
  } else {
    printf("memory   not checked (the run ended before [memory] warmup = %d, or check_every = 0)\n",
           (int)cfg->memory.warmup);
  }
  if (pb->umb) {
    PetscInt64 calls, retries;
    PetscReal  sec;
    PetscCall(McUmbClientGetStats(pb->umb, &calls, &retries, &sec));
    printf("model    %lld UM-Bridge requests, %lld retries, %.3g ms per request\n", (long long)calls,
           (long long)retries, calls ? 1e3 * (double)sec / (double)calls : 0.0);
  }
  printf("output   %s: %d chain%s x %d draws, %d parameters; wall time %.1f s\n", cfg->output.path, (int)r->C,
         r->C > 1 ? "s" : "", (int)((r->total - r->burn) / r->thin), (int)pb->nparams, (double)(now - r->t0));
  fflush(stdout);
  PetscFunctionReturn(0);
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
  McRunBlob plan = {0, 0, 1};
  PetscInt  it = 0;
  uint64_t  seed = 0;

  PetscFunctionBeginUser;
  *done = PETSC_FALSE;
  PetscCall(ReadPlan(r->out, &plan, &it, &seed));
  r->total = r->opt->iterations > 0 ? r->opt->iterations : plan.total;
  r->burn = plan.burn;
  r->thin = plan.thin;
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
  PetscCall(CreateOutput(r, resume));
  if (resume) PetscCall(PlanResume(r, cfg, &done, code));
  if (done) {
    PetscCall(McOutputClose(&r->out));
    PetscFunctionReturn(0);
  }
  PetscCall(CreateChains(r));
  if (resume) PetscCall(RestoreChains(r));
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
  PetscCall(Loop(r, code));
  if (*code != MC_EXIT_MEMORY) PetscCall(WriteXdmf(r));
  /* The summary reads its traces from the file: after the last checkpoint,
   * before closing it. */
  if (*code == MC_EXIT_OK) PetscCall(Summary(r));
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
  if (*code == MC_EXIT_OK && opt->mode != MC_RUN_MAP && !opt->resume && !cfg->output.overwrite && !opt->force &&
      access(cfg->output.path, F_OK) == 0) {
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
    if (opt->mode == MC_RUN_MAP || NeedsLaplace(cfg)) PetscCall(ComputeGeometry(cfg, r->pb, &r->xmap, &r->lap, code));
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
    if (cfg->sampler.surrogate == MC_SURROGATE_P1) PetscCall(CreateSurrogate(r));
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

/* --check and --print-config: validate, then report on rank 0 only. */
static PetscErrorCode CheckConfig(const char *config, int print, int *code)
{
  PetscMPIInt rank;
  McConfig   *cfg = NULL;

  PetscFunctionBeginUser;
  *code = MC_EXIT_OK;
  PetscCall(LoadConfig(config, NULL, &cfg, code));
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

int McRunMain(int petsc_argc, char **petsc_argv, const char *config, const McRunOptions *opt)
{
  PetscErrorCode ierr;
  int            code = MC_EXIT_RUNTIME;

  /* Before PetscInitialize: PETSc's own allocations must go through the
   * counting hooks from the first one, or the memory checks miss them. */
  if (McMemInstallPetscHooks()) return MC_EXIT_RUNTIME;
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
    ierr = CheckConfig(config, opt->mode == MC_RUN_PRINT_CONFIG, &code);
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
