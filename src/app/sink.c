/* The run's sink: each kept draw of a chain goes to the HDF5 output (theta
 * = xi in whitened coordinates, sample statistics, QoIs, and the physical
 * field m = m0 + L xi (nodal or KL coordinates) of every field_thin-th draw), and into the few in-memory
 * traces the end-of-run summary needs (log posterior, QoIs, the first
 * coordinates of xi for effective sample sizes; the sum of xi for the
 * posterior mean field).
 *
 * The one idea: everything is allocated when the sink is created, for the
 * number of draws the chain will keep, so recording a draw never allocates.
 * The posterior mean field needs no per-draw field at all: m is affine in xi,
 * so mean(m) = m0 + L mean(xi), one prior solve at the end. */
#include "app/app.h"

#include <string.h>

struct McRunSink_ {
  McOutput     out; /* borrowed: the run owns the output */
  McPosterior  post; /* reference: maps the sampler's coordinates to the field */
  PetscInt     chain, ndraws, count, field_thin, nqoi;
  Vec          m, xisum;
  PetscReal   *lp, *qoi, *xi; /* traces: ndraws, ndraws x nqoi, ndraws x MC_RUN_TRACE_XI */
  PetscInt     nxi;
  McOutputDraw draw;
  PetscLogDouble seconds; /* in Record, for the benchmark's output column */
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
  PetscCall(VecGetArrayRead(xi, &x));
  s->lp[s->count] = st->log_post;
  for (PetscInt q = 0; q < s->nqoi; q++) s->qoi[s->count * s->nqoi + q] = qoi[q];
  for (PetscInt i = 0; i < s->nxi; i++) s->xi[s->count * s->nxi + i] = x[i];
  s->draw.theta = x;
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
    PetscCall(VecGetArrayRead(s->m, &m));
    s->draw.field = m;
  }
  PetscCall(McOutputAppendDraw(s->out, s->chain, &s->draw));
  if (m) PetscCall(VecRestoreArrayRead(s->m, &m));
  PetscCall(VecRestoreArrayRead(xi, &x));
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
  PetscCall(McFree(&s->lp));
  PetscCall(McFree(&s->qoi));
  PetscCall(McFree(&s->xi));
  PetscCall(McFree(&s));
  PetscFunctionReturn(0);
}

PetscErrorCode McRunSinkCreate(McProblem *pb, McOutput out, PetscInt chain, PetscInt ndraws, PetscInt nqoi,
                               PetscInt field_thin, McRunSink **rs, McSink *sink)
{
  McSinkOps  ops = {NULL, Record, NULL, SinkDestroy};
  McRunSink *s;

  PetscFunctionBeginUser;
  PetscCall(McCalloc(sizeof(*s), &s));
  s->out = out;
  McIncref(pb->post);
  s->post = pb->post;
  s->chain = chain;
  s->ndraws = ndraws;
  s->nqoi = nqoi;
  s->field_thin = field_thin;
  s->nxi = PetscMin(MC_RUN_TRACE_XI, pb->nparams);
  PetscCall(McPriorCreateVector(pb->prior, &s->m));
  PetscCall(McPosteriorCreateParameterVector(pb->post, &s->xisum));
  PetscCall(VecSet(s->xisum, 0));
  /* A solve into m now: PETSc grows an object's cache of composed data on
   * its first use, which would otherwise happen at the first kept draw,
   * after the memory baseline. */
  PetscCall(McPosteriorParameterToField(s->post, s->xisum, s->m));
  PetscCall(McMalloc(sizeof(PetscReal) * (size_t)(ndraws + 1), &s->lp));
  PetscCall(McMalloc(sizeof(PetscReal) * (size_t)(ndraws * nqoi + 1), &s->qoi));
  PetscCall(McMalloc(sizeof(PetscReal) * (size_t)(ndraws * s->nxi + 1), &s->xi));
  PetscCall(McSinkCreateShell(&ops, s, sink));
  *rs = s;
  PetscFunctionReturn(0);
}

PetscErrorCode McRunSinkGetTraces(McRunSink *s, PetscInt *count, const PetscReal **lp, const PetscReal **qoi,
                                  PetscInt *nxi, const PetscReal **xi)
{
  PetscFunctionBeginUser;
  *count = s->count;
  *lp = s->lp;
  *qoi = s->qoi;
  *nxi = s->nxi;
  *xi = s->xi;
  PetscFunctionReturn(0);
}

PetscErrorCode McRunSinkGetSeconds(McRunSink *s, PetscLogDouble *seconds)
{
  PetscFunctionBeginUser;
  *seconds = s->seconds;
  PetscFunctionReturn(0);
}

PetscErrorCode McRunSinkAddMeanXi(McRunSink *s, Vec sum, PetscInt *count)
{
  PetscFunctionBeginUser;
  PetscCall(VecAXPY(sum, 1.0, s->xisum));
  *count += s->count;
  PetscFunctionReturn(0);
}
