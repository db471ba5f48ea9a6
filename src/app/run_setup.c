/* What a run sets up before its loop: the MAP point and Laplace
 * approximation, the output file and its side-cars, the surrogate's model,
 * the chains with their kernels and sinks, and the checkpoint records
 * (written here, read back on --resume). */
#include "app/run_impl.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <string.h>

PetscBool McRunNeedsLaplace_Private(const McConfig *cfg)
{
  return McKernelNeedsLaplace(cfg->sampler.kernel) || McStartNeedsMAP(cfg->sampler.start) ? PETSC_TRUE : PETSC_FALSE;
}

PetscErrorCode McRunComputeGeometry_Private(const McConfig *cfg, McProblem *pb, Vec *xmap, McLaplace *lap, int *code)
{
  McMAPOptions     mo;
  McMAPResult      mr;
  McLaplaceOptions lo;
  PetscInt         r, actions;
  const PetscReal *lambda;
  PetscReal        secs;

  PetscFunctionBeginUser;
  *lap = NULL;
  /* The configuration refuses the kernels and starts that need the MAP
   * point with a remote model; --map is the one way left to ask for it. */
  if (pb->umb) {
    PetscCall(PetscFPrintf(PETSC_COMM_WORLD, stderr,
                           "%s: --map needs the PDE model (the MAP point uses its adjoint Hessian), not [model] kind = "
                           "\"umbridge\"\n",
                           cfg->source));
    *code = MC_EXIT_USAGE;
    PetscFunctionReturn(0);
  }
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
    const char *start = cfg->sampler.start == MC_START_MAP       ? " and start = \"map\""
                        : cfg->sampler.start == MC_START_LAPLACE ? " and start = \"laplace\""
                                                                 : "";
    fprintf(stderr,
            "mcmc-run: the MAP point was not found (%s); kernel \"%s\"%s %s it. Raise [map] "
            "max_iterations or relax gradient_rtol, or choose a kernel without the Laplace approximation\n",
            mr.reason, McKernelKindName(cfg->sampler.kernel), start, start[0] ? "need" : "needs");
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

PetscErrorCode McRunCreateOutput_Private(Run *r, PetscBool resume)
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
PetscErrorCode McRunCreateSurrogate_Private(Run *r)
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

static double NextGaussian(void *ctx)
{
  return gsl_ran_gaussian_ziggurat((gsl_rng *)ctx, 1.0);
}

/* Chain c's initial state drawn from the Laplace approximation or from the
 * prior (N(0, I) in the sampler's coordinates, drawn in the natural
 * numbering: the same draw on any layout), from a stream of its own (seed
 * and c), apart from the chain's proposals. */
static PetscErrorCode StartDraw(Run *r, PetscInt c, McChain chain)
{
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  Vec      x0;

  PetscFunctionBeginUser;
  PetscCheck(g, PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory creating a random number generator");
  gsl_rng_set(g, (unsigned long)(r->cfg->chain.seed * 7919 + c + 1));
  PetscCall(McTargetCreateVec(r->target, &x0));
  if (r->cfg->sampler.start == MC_START_LAPLACE) PetscCall(McLaplaceSample(r->lap, g, x0));
  else PetscCall(McVecFillNatural(x0, NextGaussian, g));
  PetscCall(McChainSetInitialState(chain, x0));
  PetscCall(VecDestroy(&x0));
  gsl_rng_free(g);
  PetscFunctionReturn(0);
}

PetscErrorCode McRunCreateChains_Private(Run *r)
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
    PetscCall(McKernelCreate(r->target_s ? r->target_s : r->target, McKernelKindName(cfg->sampler.kernel), &kernel));
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
    if (!strcmp(McKernelKindName(cfg->sampler.kernel), MC_KERNEL_DILI)) {
      PetscCall(McKernelSetParameter(kernel, "beta_perp", cfg->sampler.beta_perp));
      PetscCall(McKernelSetParameter(kernel, "lis_update_every", (PetscReal)cfg->sampler.lis_update_every));
    }
    if (!strcmp(McKernelKindName(cfg->sampler.kernel), MC_KERNEL_DR)) {
      PetscCall(McKernelSetParameter(kernel, "delta2", cfg->sampler.delta2));
      PetscCall(McKernelSetParameter(kernel, "target2", cfg->sampler.target2));
      PetscCall(McKernelSetParameter(kernel, "adapt_first", cfg->sampler.adapt_first ? 1 : 0));
    }
    if (McKernelIsHMC(cfg->sampler.kernel))
      PetscCall(McKernelSetParameter(kernel, "leapfrog_steps", (PetscReal)cfg->sampler.leapfrog_steps));
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
     * point, or a draw per chain. */
    if (cfg->sampler.start == MC_START_MAP) PetscCall(McChainSetInitialState(r->chains[i], r->xmap));
    if (cfg->sampler.start == MC_START_LAPLACE || cfg->sampler.start == MC_START_PRIOR)
      PetscCall(StartDraw(r, c, r->chains[i]));
    PetscCall(McChainSetUp(r->chains[i]));
    PetscCall(McCheckpointCreate(r->chains[i], &r->ckpts[i]));
    PetscCall(McRunSinkGetState(r->sinks[i], &count, &xisum));
    PetscCall(McRunBlobSize(r->ckpts[i], xisum, &r->blob_sizes[i]));
    PetscCall(McMalloc(r->blob_sizes[i], &r->blobs[i]));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McRunCheckpoint_Private(Run *r)
{
  McRunBlob plan = {r->total, r->burn, r->thin, r->seconds0};

  PetscFunctionBeginUser;
  if (r->t0 > 0) {
    PetscLogDouble now;
    PetscCall(PetscTime(&now));
    plan.seconds += now - r->t0;
  }
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

PetscErrorCode McRunReadPlan_Private(McOutput out, McRunBlob *plan, PetscInt *iteration, uint64_t *seed)
{
  const void *blob;
  size_t      size;
  int64_t     w[15];
  double      seconds;

  PetscFunctionBeginUser;
  PetscCall(McOutputReadCheckpoint(out, 0, &blob, &size, NULL));
  PetscCheck(size >= sizeof w && !memcmp(blob, "MCRUNCK", 7), PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "the output file's checkpoint was not written by mcmc-run");
  PetscCheck(!memcmp(blob, "MCRUNCK2", 8), PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "the output file's checkpoint was written by an older mcmc-run (format %.8s, this one reads MCRUNCK2): "
             "it cannot be resumed by this version",
             (const char *)blob);
  memcpy(w, blob, sizeof w);
  plan->total = (PetscInt)w[1];
  plan->burn = (PetscInt)w[2];
  plan->thin = (PetscInt)w[3];
  memcpy(&seconds, &w[4], sizeof seconds);
  plan->seconds = seconds;
  *iteration = (PetscInt)w[5];
  *seed = (uint64_t)(uint32_t)w[12] | (uint64_t)(uint32_t)w[13] << 32;
  PetscFunctionReturn(0);
}

PetscErrorCode McRunRestoreChains_Private(Run *r)
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

PetscErrorCode McRunWriteXdmf_Private(Run *r)
{
  PetscFunctionBeginUser;
  if (r->mesh_cells && r->writer) PetscCall(McOutputWriteXdmf(r->out, r->xmf_path, r->mesh_path, &r->mesh));
  PetscFunctionReturn(0);
}
