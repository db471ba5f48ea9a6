/* The run's sink: each kept draw of a chain goes to the HDF5 output (theta
 * = xi in whitened coordinates, sample statistics, QoIs, and the physical
 * field m = m0 + L xi (nodal or KL coordinates) of every field_thin-th
 * draw), and into the running sum of xi for the posterior mean field.
 *
 * The one idea: everything is allocated when the sink is created, so
 * recording a draw never allocates, and nothing grows with the number of
 * draws: the traces the end-of-run summary needs (log posterior, QoIs, the
 * first coordinates of xi for effective sample sizes) are read back from
 * the output file at the end. (Kept in memory they cost 48 bytes per draw,
 * visible as RSS growing with every page of them touched.) The posterior
 * mean field needs no per-draw field at all: m is affine in xi, so mean(m)
 * = m0 + L mean(xi), one prior solve at the end. */
#include "app/app.h"

#include <string.h>

struct McRunSink_ {
  McOutput     out; /* borrowed: the run owns the output */
  McPosterior  post; /* reference: maps the sampler's coordinates to the field */
  PetscInt     chain, ndraws, count, field_thin, nqoi;
  Vec          m, xisum;
  PetscInt     nxi;
  const char *const *qoi_names; /* borrowed from the target (outlives the sink's use) */
  McOutputDraw draw;
  PetscLogDouble seconds; /* in Record, for the benchmark's output column */
  PetscLogDouble clock0;  /* the draws' stamps count from it */
  /* A chain on several ranks (a group of R > 1): the group's rank 0 gathers
   * xi and the field in the natural numbering into these and records; the
   * other ranks of the group take part in the gathers and record nothing. */
  PetscBool    distributed, leader;
  PetscScalar *theta_nat, *field_nat;
};

static PetscErrorCode Record(void *ctx, PetscInt d, Vec xi, const McStepStats *st, const PetscReal *qoi)
{
  McRunSink         *s = ctx;
  const PetscScalar *x, *m = NULL;
  PetscLogDouble     t0, t1;

  PetscFunctionBeginUser;
  PetscCall(PetscTime(&t0));
  PetscCheck(s->count < s->ndraws, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "chain %d recorded more draws than the %d it was set up for", (int)s->chain, (int)s->ndraws);
  if (s->distributed) {
    PetscCall(McVecGatherNatural(xi, s->theta_nat));
    x = s->theta_nat;
  } else PetscCall(VecGetArrayRead(xi, &x));
  s->draw.theta = x;
  s->draw.seconds = t0 - s->clock0;
  s->draw.lp = st->log_post;
  s->draw.acceptance_rate = st->accept_prob;
  s->draw.step_size = st->step_size;
  s->draw.accepted = st->accepted ? PETSC_TRUE : PETSC_FALSE;
  s->draw.failed = st->failed ? PETSC_TRUE : PETSC_FALSE;
  s->draw.qoi = qoi;
  s->draw.field = NULL;
  if (s->field_thin && d % s->field_thin == 0) {
    /* The field of every field_thin-th draw: stored whole, and the sample
     * the streaming mean and std of the output are taken over (one prior
     * solve each, so not at every draw). */
    PetscCall(McPosteriorParameterToField(s->post, xi, s->m));
    if (s->distributed) {
      PetscCall(McVecGatherNatural(s->m, s->field_nat));
      s->draw.field = s->field_nat;
    } else {
      PetscCall(VecGetArrayRead(s->m, &m));
      s->draw.field = m;
    }
  }
  if (s->leader) PetscCall(McOutputAppendDraw(s->out, s->chain, &s->draw));
  if (m) PetscCall(VecRestoreArrayRead(s->m, &m));
  if (!s->distributed) PetscCall(VecRestoreArrayRead(xi, &x));
  PetscCall(VecAXPY(s->xisum, 1.0, xi));
  s->count++;
  PetscCall(PetscTime(&t1));
  s->seconds += t1 - t0;
  PetscFunctionReturn(0);
}

static PetscErrorCode SinkDestroy(void *ctx)
{
  McRunSink *s = ctx;

  PetscFunctionBeginUser;
  PetscCall(McPosteriorDestroy(&s->post));
  PetscCall(VecDestroy(&s->m));
  PetscCall(VecDestroy(&s->xisum));
  PetscCall(McFree(&s->theta_nat));
  PetscCall(McFree(&s->field_nat));
  PetscCall(McFree(&s));
  PetscFunctionReturn(0);
}

PetscErrorCode McRunSinkCreate(McProblem *pb, McOutput out, PetscInt chain, PetscInt ndraws, PetscInt nqoi,
                               const char *const *qoi_names, PetscInt field_thin, McRunSink **rs, McSink *sink)
{
  McSinkOps  ops = {NULL, Record, NULL, SinkDestroy};
  McRunSink *s;

  PetscFunctionBeginUser;
  PetscCall(McCalloc(sizeof(*s), &s));
  s->out = out;
  if (pb->post) McIncref(pb->post);
  s->post = pb->post;
  s->chain = chain;
  s->ndraws = ndraws;
  s->nqoi = nqoi;
  s->qoi_names = qoi_names;
  s->field_thin = field_thin;
  s->nxi = PetscMin(MC_RUN_TRACE_XI, pb->nparams);
  s->leader = PETSC_TRUE;
  if (pb->post) {
    PetscMPIInt size, rank;
    PetscCallMPI(MPI_Comm_size(pb->comm, &size));
    PetscCallMPI(MPI_Comm_rank(pb->comm, &rank));
    if (size > 1) {
      PetscInt nv;
      PetscCall(VecGetSize(pb->m0, &nv));
      s->distributed = PETSC_TRUE;
      s->leader = rank == 0 ? PETSC_TRUE : PETSC_FALSE;
      PetscCall(McMalloc(sizeof(PetscScalar) * (size_t)(pb->nparams + 1), &s->theta_nat));
      PetscCall(McMalloc(sizeof(PetscScalar) * (size_t)(nv + 1), &s->field_nat));
    }
  }
  if (pb->post) {
    PetscCall(McPriorCreateVector(pb->prior, &s->m));
    PetscCall(McPosteriorCreateParameterVector(pb->post, &s->xisum));
    PetscCall(VecSet(s->xisum, 0));
    /* A solve into m now: PETSc grows an object's cache of composed data on
     * its first use, which would otherwise happen at the first kept draw,
     * after the memory baseline. */
    PetscCall(McPosteriorParameterToField(s->post, s->xisum, s->m));
  } else { /* a UM-Bridge model: no field, xi only */
    PetscCall(VecCreateSeq(PETSC_COMM_SELF, pb->nparams, &s->xisum));
    PetscCall(VecSet(s->xisum, 0));
  }
  PetscCall(McSinkCreateShell(&ops, s, sink));
  *rs = s;
  PetscFunctionReturn(0);
}

PetscErrorCode McRunSinkGetSeconds(McRunSink *s, PetscLogDouble *seconds)
{
  PetscFunctionBeginUser;
  *seconds = s->seconds;
  PetscFunctionReturn(0);
}

PetscErrorCode McRunSinkSetClock(McRunSink *s, PetscLogDouble clock0)
{
  PetscFunctionBeginUser;
  s->clock0 = clock0;
  PetscFunctionReturn(0);
}

PetscErrorCode McRunSinkAddMeanXi(McRunSink *s, Vec sum, PetscInt *count)
{
  PetscFunctionBeginUser;
  PetscCall(VecAXPY(sum, 1.0, s->xisum));
  *count += s->count;
  PetscFunctionReturn(0);
}

PetscErrorCode McRunSinkGetState(McRunSink *s, PetscInt *count, Vec *xisum)
{
  PetscFunctionBeginUser;
  *count = s->count;
  *xisum = s->xisum;
  PetscFunctionReturn(0);
}

PetscErrorCode McRunSinkRestore(McRunSink *s, PetscInt count)
{
  PetscFunctionBeginUser;
  PetscCheck(count <= s->ndraws, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "chain %d: checkpoint at %d draws, the run keeps %d", (int)s->chain, (int)count, (int)s->ndraws);
  s->count = count;
  PetscFunctionReturn(0);
}

PetscErrorCode McRunSinkReadTraces(McRunSink *s, McOutput out, PetscInt *count, PetscReal **lp, PetscReal **qoi,
                                   PetscInt *nxi, PetscReal **xi)
{
  PetscFunctionBeginUser;
  *count = s->count;
  *nxi = s->nxi;
  PetscCall(McRunReadTraces(out, s->chain, s->count, s->nqoi, s->qoi_names, s->nxi, lp, qoi, xi));
  PetscFunctionReturn(0);
}

PetscErrorCode McRunReadTraces(McOutput out, PetscInt chain, PetscInt n, PetscInt nqoi, const char *const *qoi_names,
                               PetscInt nxi, PetscReal **lp, PetscReal **qoi, PetscReal **xi)
{
  double *col;

  PetscFunctionBeginUser;
  PetscCall(McMalloc(sizeof(PetscReal) * (size_t)(n + 1), lp));
  PetscCall(McMalloc(sizeof(PetscReal) * (size_t)(n * nqoi + 1), qoi));
  PetscCall(McMalloc(sizeof(PetscReal) * (size_t)(n * nxi + 1), xi));
  PetscCall(McMalloc(sizeof(double) * (size_t)(n + 1), &col));
  if (n) {
    PetscCall(McOutputReadDraws(out, "sample_stats/lp", chain, n, 1, *lp));
    PetscCall(McOutputReadDraws(out, "posterior/theta", chain, n, nxi, *xi));
  }
  for (PetscInt q = 0; n && q < nqoi; q++) {
    char path[96];
    PetscCall(PetscSNPrintf(path, sizeof path, "posterior/%s", qoi_names[q]));
    PetscCall(McOutputReadDraws(out, path, chain, n, 1, col));
    for (PetscInt i = 0; i < n; i++)
      (*qoi)[i * nqoi + q] = col[i];
  }
  PetscCall(McFree(&col));
  PetscFunctionReturn(0);
}
