/* Sinks: where a chain's kept draws go. A sink is a shell around function
 * pointers (the HDF5 writer implements it in the output module); the
 * in-memory sink here stores draws into arrays allocated once, for tests and
 * for small runs that analyse their chain in place. */
#include "mcmc/mcmc_impl.h"

struct _p_McSink {
  MC_OBJECT_HEAD;
  McSinkOps ops;
  void     *ctx;
};

/* A sink holds no objects (its context is opaque): not a container. */
static void SinkDealloc(McObject *o)
{
  McSink s = (McSink)o;

  if (s->ops.destroy) MC_DEALLOC_CALL(s->ops.destroy(s->ctx));
}

static const McType McSinkType = {"McSink", sizeof(struct _p_McSink), NULL, SinkDealloc, NULL, NULL};

PetscErrorCode McSinkCreateShell(const McSinkOps *ops, void *ctx, McSink *sink)
{
  McSink s;

  PetscFunctionBeginUser;
  PetscCheck(ops && ops->record, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "a sink needs a record function");
  PetscCall(McObjectCreate(&McSinkType, &s));
  s->ops = *ops;
  s->ctx = ctx;
  *sink = s;
  PetscFunctionReturn(0);
}

PetscErrorCode McSinkReference(McSink sink)
{
  PetscFunctionBeginUser;
  McIncref(sink);
  PetscFunctionReturn(0);
}

PetscErrorCode McSinkDestroy(McSink *sink)
{
  PetscFunctionBeginUser;
  PetscCall(McObjectDestroy(sink));
  PetscFunctionReturn(0);
}

PetscErrorCode McSinkBegin(McSink sink, const McSinkInfo *info)
{
  PetscFunctionBeginUser;
  if (sink->ops.begin) PetscCall(sink->ops.begin(sink->ctx, info));
  PetscFunctionReturn(0);
}

PetscErrorCode McSinkRecord(McSink sink, PetscInt draw, Vec xi, const McStepStats *stats, const PetscReal *qoi)
{
  PetscFunctionBeginUser;
  PetscCall(sink->ops.record(sink->ctx, draw, xi, stats, qoi));
  PetscFunctionReturn(0);
}

PetscErrorCode McSinkEnd(McSink sink)
{
  PetscFunctionBeginUser;
  if (sink->ops.end) PetscCall(sink->ops.end(sink->ctx));
  PetscFunctionReturn(0);
}

typedef struct {
  PetscInt     n, nqoi, capacity, count;
  PetscReal   *xi, *qoi;
  McStepStats *stats;
  PetscInt    *draw;
} MemorySink;

static PetscErrorCode MemoryRecord(void *ctx, PetscInt draw, Vec xi, const McStepStats *stats, const PetscReal *qoi)
{
  MemorySink        *m = ctx;
  const PetscScalar *x;
  PetscInt           n;

  PetscFunctionBeginUser;
  PetscCheck(m->count < m->capacity, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "memory sink is full: it holds %d draws", (int)m->capacity);
  PetscCall(VecGetLocalSize(xi, &n));
  PetscCheck(n == m->n, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "memory sink stores %d values per draw, got %d",
             (int)m->n, (int)n);
  PetscCall(VecGetArrayRead(xi, &x));
  PetscCall(PetscArraycpy(m->xi + m->count * m->n, x, n));
  PetscCall(VecRestoreArrayRead(xi, &x));
  if (m->nqoi) PetscCall(PetscArraycpy(m->qoi + m->count * m->nqoi, qoi, m->nqoi));
  m->stats[m->count] = *stats;
  m->draw[m->count] = draw;
  m->count++;
  PetscFunctionReturn(0);
}

static PetscErrorCode MemoryDestroy(void *ctx)
{
  MemorySink *m = ctx;

  PetscFunctionBeginUser;
  PetscCall(McFree(&m->xi));
  PetscCall(McFree(&m->qoi));
  PetscCall(McFree(&m->stats));
  PetscCall(McFree(&m->draw));
  PetscCall(McFree(&m));
  PetscFunctionReturn(0);
}

PetscErrorCode McSinkCreateMemory(PetscInt n, PetscInt nqoi, PetscInt capacity, McSink *sink)
{
  MemorySink *m;
  McSinkOps   ops = {NULL, MemoryRecord, NULL, MemoryDestroy};

  PetscFunctionBeginUser;
  PetscCheck(n >= 0 && nqoi >= 0 && capacity >= 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "memory sink sizes must be >= 0, got n %d, nqoi %d, capacity %d", (int)n, (int)nqoi, (int)capacity);
  PetscCall(McCalloc(sizeof(*m), &m));
  m->n = n;
  m->nqoi = nqoi;
  m->capacity = capacity;
  PetscCall(McMalloc((size_t)(n * capacity + 1) * sizeof(*m->xi), &m->xi));
  PetscCall(McMalloc((size_t)(nqoi * capacity + 1) * sizeof(*m->qoi), &m->qoi));
  PetscCall(McMalloc((size_t)(capacity + 1) * sizeof(*m->stats), &m->stats));
  PetscCall(McMalloc((size_t)(capacity + 1) * sizeof(*m->draw), &m->draw));
  PetscCall(McSinkCreateShell(&ops, m, sink));
  PetscFunctionReturn(0);
}

PetscErrorCode McSinkMemoryGetDraws(McSink sink, PetscInt *ndraws, const PetscReal **xi, const McStepStats **stats,
                                    const PetscReal **qoi, const PetscInt **draw)
{
  MemorySink *m = sink->ctx;

  PetscFunctionBeginUser;
  PetscCheck(sink->ops.record == MemoryRecord, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "not a memory sink");
  if (ndraws) *ndraws = m->count;
  if (xi) *xi = m->xi;
  if (stats) *stats = m->stats;
  if (qoi) *qoi = m->qoi;
  if (draw) *draw = m->draw;
  PetscFunctionReturn(0);
}

PetscErrorCode McSinkMemoryReset(McSink sink)
{
  PetscFunctionBeginUser;
  PetscCheck(sink->ops.record == MemoryRecord, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "not a memory sink");
  ((MemorySink *)sink->ctx)->count = 0;
  PetscFunctionReturn(0);
}
