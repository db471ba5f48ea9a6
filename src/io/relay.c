/* One output file for a run on several MPI ranks: rank 0 writes, the others
 * relay.
 *
 * SWMR allows one writing process per file, and HDF5's parallel (MPI-IO)
 * mode cannot be combined with SWMR, so the file has exactly one writer,
 * rank 0 of the run. The other ranks stage their chains' draws (and field
 * samples) in fixed buffers of one block, and McOutputExchange gathers the
 * staged blocks on rank 0 (two collectives per block: the message sizes,
 * then the messages), which appends them with McOutputAppendDraw exactly as
 * if its own chains had produced them: the block writes, the running field
 * means and the flush policy are the serial code's. Nothing is sent per
 * draw.
 *
 * What a crash loses: the file holds what rank 0's last flush wrote, for
 * every chain; a killed rank (any of them) ends the job, and the draws
 * staged or buffered since that flush are lost for every chain, never the
 * flushed ones. Checkpoint records travel the same way (gathered on rank 0
 * at a checkpoint, sent from rank 0 to all on resume). */
#include "io/ioimpl.h"
#include <string.h>

PetscBool McRelayActive_Private(const McOutputSpec *spec)
{
  PetscMPIInt size = 1;

  if (spec->comm == MPI_COMM_NULL) return PETSC_FALSE;
  if (MPI_Comm_size(spec->comm, &size)) return PETSC_FALSE;
  return size > 1 ? PETSC_TRUE : PETSC_FALSE;
}

/* The relay's maps and buffers (every rank) for the chains in spec. */
static PetscErrorCode McRelayCreate(McOutput o, const McOutputSpec *spec)
{
  McRelay *r;
  size_t   B = (size_t)o->B, KB, nv = (size_t)o->nv;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&r));
  o->relay = r;
  PetscCallMPI(MPI_Comm_dup(spec->comm, &r->comm));
  PetscCallMPI(MPI_Comm_rank(r->comm, &r->rank));
  PetscCallMPI(MPI_Comm_size(r->comm, &r->size));
  PetscCall(PetscMalloc3(o->C, &r->owner, o->C, &r->slot, o->C, &r->lc));
  for (PetscInt c = 0; c < o->C; c++) {
    r->owner[c] = spec->chain_rank ? spec->chain_rank[c] : 0;
    PetscCheck(r->owner[c] >= 0 && r->owner[c] < r->size, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
               "output file %s: chain %" PetscInt_FMT " is on rank %d of a communicator of %d", o->path, c,
               (int)r->owner[c], (int)r->size);
    r->slot[c] = -1;
    if (r->owner[c] == r->rank) {
      r->slot[c] = r->nl;
      r->lc[r->nl++] = c;
    }
  }
  r->W = o->P + o->nqoi + 6;
  KB = o->nv ? (size_t)((o->B + o->T - 1) / o->T) : 0;
  r->msg_max = 2 + B * (size_t)r->W + KB * nv;
  if (r->rank) {
    size_t nl = (size_t)r->nl;
    PetscCall(PetscMalloc1(nl * B * (size_t)r->W + 1, &r->stage));
    PetscCall(PetscMalloc1(nl * KB * nv + 1, &r->sfield));
    PetscCall(PetscCalloc2(nl, &r->sfill, nl, &r->snf));
    PetscCall(PetscMalloc1(nl * r->msg_max + 1, &r->send));
  } else {
    PetscCall(PetscMalloc1((size_t)o->C * r->msg_max, &r->recv));
    PetscCall(PetscMalloc2(r->size, &r->counts, r->size, &r->displs));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McRelayFree_Private(McOutput o)
{
  McRelay *r = o->relay;

  PetscFunctionBeginUser;
  if (!r) PetscFunctionReturn(0);
  o->relay = NULL;
  PetscCall(PetscFree3(r->owner, r->slot, r->lc));
  PetscCall(PetscFree(r->stage));
  PetscCall(PetscFree(r->sfield));
  PetscCall(PetscFree2(r->sfill, r->snf));
  PetscCall(PetscFree(r->send));
  PetscCall(PetscFree(r->recv));
  PetscCall(PetscFree2(r->counts, r->displs));
  if (r->comm != MPI_COMM_NULL) PetscCallMPI(MPI_Comm_free(&r->comm));
  PetscCall(PetscFree(r));
  PetscFunctionReturn(0);
}

/* A rank other than 0: no file, only the sizes the staging needs. */
static PetscErrorCode McRelayProxy(const char *path, const McOutputSpec *spec, McOutput *out)
{
  McOutput o;

  PetscFunctionBeginUser;
  PetscCall(McOutputNew_Private(path, &o));
  o->C = spec->nchains;
  o->P = spec->nparams;
  o->nqoi = spec->nqoi;
  o->nv = spec->field_size;
  o->T = o->nv ? spec->field_thin : 1;
  o->B = spec->block_size ? spec->block_size : MC_OUTPUT_DEFAULT_BLOCK;
  PetscCheck(o->C >= 1 && o->P >= 1 && o->B >= 1 && o->T >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "output: need at least one chain, one parameter and a positive block size");
  *out = o;
  PetscFunctionReturn(0);
}

PetscErrorCode McRelayOpen_Private(const char *path, const McOutputSpec *spec, PetscBool resume, McOutput *out)
{
  PetscMPIInt    rank;
  PetscErrorCode ierr = 0;
  int            ok;
  McOutput       o = NULL;
  PetscInt64     size;

  PetscFunctionBeginUser;
  *out = NULL;
  PetscCallMPI(MPI_Comm_rank(spec->comm, &rank));
  if (rank == 0) ierr = resume ? McOutputOpenResume_Private(path, spec, &o) : McOutputCreate_Private(path, spec, &o);
  ok = !ierr;
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, spec->comm));
  if (rank == 0) PetscCall(ierr);
  PetscCheck(ok, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN,
             "output file %s: rank 0, its writer, could not %s it (its message says why)", path,
             resume ? "resume" : "create");
  if (rank) PetscCall(McRelayProxy(path, spec, &o));
  PetscCall(McRelayCreate(o, spec));
  if (resume) {
    /* Every rank needs its chains' blobs, and the draw the record
     * belongs to (where its staging starts). */
    size = rank ? 0 : (PetscInt64)o->ckpt_size;
    PetscCallMPI(MPI_Bcast(&size, 1, MPIU_INT64, 0, spec->comm));
    if (rank) {
      PetscCall(PetscMalloc((size_t)size, &o->ckpt_record));
      o->ckpt_size = o->ckpt_cap = (size_t)size;
    }
    PetscCallMPI(MPI_Bcast(o->ckpt_record, (PetscMPIInt)size, MPI_CHAR, 0, spec->comm));
    if (rank) {
      const void *blob;
      size_t      bs;
      PetscCall(McOutputReadCheckpoint(o, 0, &blob, &bs, &o->relay->sdraw0));
      o->ckpt_draws = o->relay->sdraw0;
    }
  }
  *out = o;
  PetscFunctionReturn(0);
}

PetscErrorCode McRelayStage_Private(McOutput o, PetscInt c, const McOutputDraw *d)
{
  McRelay   *r = o->relay;
  PetscInt   i, f;
  PetscInt64 draw;
  double    *row;

  PetscFunctionBeginUser;
  PetscCheck(c >= 0 && c < o->C && r->slot[c] >= 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "output file %s: chain %" PetscInt_FMT " does not run on rank %d", o->path, c, (int)r->rank);
  i = r->slot[c];
  f = r->sfill[i];
  PetscCheck(f < o->B, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE,
             "output file %s: chain %" PetscInt_FMT " staged a full block (%" PetscInt_FMT
             " draws) on rank %d; exchange first",
             o->path, c, o->B, (int)r->rank);
  PetscCheck(d->theta && (!o->nqoi || d->qoi), PETSC_COMM_SELF, PETSC_ERR_ARG_NULL,
             "output file %s: draw of chain %" PetscInt_FMT " lacks parameter or quantity-of-interest values", o->path,
             c);
  draw = r->sdraw0 + f;
  row = r->stage + ((size_t)i * (size_t)o->B + (size_t)f) * (size_t)r->W;
  memcpy(row, d->theta, (size_t)o->P * sizeof(double));
  row += o->P;
  for (PetscInt q = 0; q < o->nqoi; q++)
    *row++ = d->qoi[q];
  row[0] = d->lp;
  row[1] = d->acceptance_rate;
  row[2] = d->step_size;
  row[3] = d->accepted ? 1 : 0;
  row[4] = d->failed ? 1 : 0;
  row[5] = d->seconds;
  if (o->nv) {
    PetscInt KB = (o->B + o->T - 1) / o->T;
    if (draw % o->T == 0) {
      PetscCheck(d->field, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL,
                 "output file %s: draw %lld of chain %" PetscInt_FMT " needs a field (every %" PetscInt_FMT
                 "-th draw stores one)",
                 o->path, (long long)draw, c, o->T);
      PetscCheck(r->snf[i] < KB, PETSC_COMM_SELF, PETSC_ERR_PLIB,
                 "output file %s: chain %" PetscInt_FMT ": more field samples staged than a block holds", o->path, c);
      memcpy(r->sfield + ((size_t)i * (size_t)KB + (size_t)r->snf[i]) * (size_t)o->nv, d->field,
             (size_t)o->nv * sizeof(double));
      r->snf[i]++;
    } else
      PetscCheck(!d->field, PETSC_COMM_SELF, PETSC_ERR_SUP,
                 "output file %s: in a parallel run a field is passed only at the draws that store one (draw %lld of "
                 "chain %" PetscInt_FMT ")",
                 o->path, (long long)draw, c);
  }
  r->sfill[i] = f + 1;
  PetscFunctionReturn(0);
}

/* Rank 0: appends one rank's message (see McRelay) for its chains. */
static PetscErrorCode McRelayUnpack(McOutput o, PetscMPIInt q, const double *msg, PetscMPIInt count)
{
  McRelay      *r = o->relay;
  const double *p = msg, *end = msg + count;

  PetscFunctionBeginUser;
  for (PetscInt c = 0; c < o->C; c++) {
    PetscInt      n, nf, k = 0;
    const double *rows, *fields;
    if (r->owner[c] != q) continue;
    PetscCheck(end - p >= 2, PETSC_COMM_SELF, PETSC_ERR_PLIB, "output file %s: short message from rank %d", o->path,
               (int)q);
    n = (PetscInt)p[0];
    nf = (PetscInt)p[1];
    rows = p + 2;
    fields = rows + (size_t)n * (size_t)r->W;
    p = fields + (size_t)nf * (size_t)o->nv;
    PetscCheck(p <= end, PETSC_COMM_SELF, PETSC_ERR_PLIB, "output file %s: short message from rank %d", o->path,
               (int)q);
    for (PetscInt j = 0; j < n; j++) {
      const double *row = rows + (size_t)j * (size_t)r->W;
      McOutputDraw  d;
      PetscInt64    draw = o->block_start + o->fill[c];
      d.theta = row;
      d.qoi = row + o->P;
      d.lp = row[o->P + o->nqoi];
      d.acceptance_rate = row[o->P + o->nqoi + 1];
      d.step_size = row[o->P + o->nqoi + 2];
      d.accepted = row[o->P + o->nqoi + 3] != 0 ? PETSC_TRUE : PETSC_FALSE;
      d.failed = row[o->P + o->nqoi + 4] != 0 ? PETSC_TRUE : PETSC_FALSE;
      d.seconds = row[o->P + o->nqoi + 5];
      d.field = NULL;
      if (o->nv && draw % o->T == 0) {
        PetscCheck(k < nf, PETSC_COMM_SELF, PETSC_ERR_PLIB,
                   "output file %s: rank %d sent too few field samples for chain %" PetscInt_FMT, o->path, (int)q, c);
        d.field = fields + (size_t)(k++) * (size_t)o->nv;
      }
      PetscCall(McOutputAppendDraw(o, c, &d));
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputExchange(McOutput o)
{
  McRelay    *r = o->relay;
  PetscMPIInt count = 0;

  PetscFunctionBeginUser;
  if (!r) PetscFunctionReturn(0);
  if (r->rank) {
    PetscInt KB = o->nv ? (o->B + o->T - 1) / o->T : 0;
    double  *p = r->send;
    for (PetscInt i = 0; i < r->nl; i++) {
      PetscCheck(r->sfill[i] == r->sfill[0], PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE,
                 "output file %s: chains on rank %d are at different draws at an exchange (%" PetscInt_FMT
                 " and %" PetscInt_FMT ")",
                 o->path, (int)r->rank, r->sfill[0], r->sfill[i]);
      *p++ = (double)r->sfill[i];
      *p++ = (double)r->snf[i];
      memcpy(p, r->stage + (size_t)i * (size_t)o->B * (size_t)r->W,
             (size_t)r->sfill[i] * (size_t)r->W * sizeof(double));
      p += (size_t)r->sfill[i] * (size_t)r->W;
      memcpy(p, r->sfield + (size_t)i * (size_t)KB * (size_t)o->nv, (size_t)r->snf[i] * (size_t)o->nv * sizeof(double));
      p += (size_t)r->snf[i] * (size_t)o->nv;
    }
    count = (PetscMPIInt)(p - r->send);
  }
  PetscCallMPI(MPI_Gather(&count, 1, MPI_INT, r->counts, 1, MPI_INT, 0, r->comm));
  if (r->rank == 0) {
    PetscMPIInt off = 0;
    for (PetscMPIInt q = 0; q < r->size; q++) {
      r->displs[q] = off;
      off += r->counts[q];
    }
  }
  PetscCallMPI(MPI_Gatherv(r->send, count, MPI_DOUBLE, r->recv, r->counts, r->displs, MPI_DOUBLE, 0, r->comm));
  if (r->rank) {
    if (r->nl) r->sdraw0 += r->sfill[0];
    for (PetscInt i = 0; i < r->nl; i++)
      r->sfill[i] = r->snf[i] = 0;
    PetscFunctionReturn(0);
  }
  for (PetscMPIInt q = 1; q < r->size; q++)
    PetscCall(McRelayUnpack(o, q, r->recv + r->displs[q], r->counts[q]));
  PetscFunctionReturn(0);
}

PetscErrorCode McRelayMemory_Private(McOutput o, const McOutputMemoryRow *row, PetscBool *store)
{
  McRelay *r = o->relay;
  int64_t  v[4] = {row->rss_bytes, row->live_objects, row->live_bytes, row->collections}, s[4];

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Reduce(v, s, 4, MPI_INT64_T, MPI_SUM, 0, r->comm));
  *store = r->rank == 0 ? PETSC_TRUE : PETSC_FALSE;
  if (r->rank == 0) {
    McOutputMemoryRow *sum = (McOutputMemoryRow *)row; /* the caller's copy */
    sum->rss_bytes = s[0];
    sum->live_objects = s[1];
    sum->live_bytes = s[2];
    sum->collections = s[3];
  }
  PetscFunctionReturn(0);
}

/* Draws first (every chain must stand at the checkpoint's draw on rank 0),
 * then the blobs: sizes, then bytes, in chain order per rank. */
PetscErrorCode McRelayCheckpoint_Private(McOutput o, const void *const *blobs, const size_t *sizes)
{
  McRelay     *r = o->relay;
  int64_t     *lsz, *asz = NULL;
  char        *lbuf, *abuf = NULL;
  size_t       ltotal = 0;
  PetscMPIInt *cnt = NULL, *dsp = NULL, n;
  const void **all = NULL;
  size_t      *allsz = NULL;

  PetscFunctionBeginUser;
  PetscCall(McOutputExchange(o));
  PetscCall(PetscMalloc1(r->nl + 1, &lsz));
  for (PetscInt i = 0; i < r->nl; i++) {
    lsz[i] = (int64_t)sizes[i];
    ltotal += sizes[i];
  }
  PetscCall(PetscMalloc1(ltotal + 1, &lbuf));
  for (PetscInt i = 0, off = 0; i < r->nl; off += (PetscInt)sizes[i], i++)
    memcpy(lbuf + off, blobs[i], sizes[i]);
  if (r->rank == 0) {
    PetscCall(PetscMalloc2(r->size, &cnt, r->size, &dsp));
    PetscCall(PetscMalloc1(o->C, &asz));
    for (PetscMPIInt q = 0, off = 0; q < r->size; q++) {
      cnt[q] = 0;
      for (PetscInt c = 0; c < o->C; c++)
        cnt[q] += r->owner[c] == q;
      dsp[q] = off;
      off += cnt[q];
    }
  }
  n = (PetscMPIInt)r->nl;
  PetscCallMPI(MPI_Gatherv(lsz, n, MPI_INT64_T, asz, cnt, dsp, MPI_INT64_T, 0, r->comm));
  if (r->rank == 0) {
    /* asz is in rank order; the bytes follow the same order. */
    PetscInt k = 0;
    size_t   off = 0, btotal = 0;
    for (PetscMPIInt q = 0; q < r->size; q++) {
      size_t bytes = 0;
      for (PetscMPIInt j = 0; j < cnt[q]; j++)
        bytes += (size_t)asz[dsp[q] + j];
      btotal += bytes;
    }
    PetscCall(PetscMalloc1(btotal + 1, &abuf));
    for (PetscMPIInt q = 0; q < r->size; q++) {
      PetscInt64 bytes = 0;
      for (PetscMPIInt j = 0; j < cnt[q]; j++)
        bytes += asz[dsp[q] + j];
      PetscCheck(bytes < PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP,
                 "output file %s: the checkpoint blobs of rank %d exceed 2 GiB", o->path, (int)q);
      dsp[q] = (PetscMPIInt)off;
      cnt[q] = (PetscMPIInt)bytes;
      off += (size_t)bytes;
    }
    /* Chain c's blob: the ranks' chains in increasing order, as laid out. */
    PetscCall(PetscMalloc2(o->C, &all, o->C, &allsz));
    for (PetscMPIInt q = 0; q < r->size; q++) {
      size_t boff = (size_t)dsp[q];
      for (PetscInt c = 0; c < o->C; c++) {
        if (r->owner[c] != q) continue;
        all[c] = abuf + boff;
        allsz[c] = (size_t)asz[k];
        boff += (size_t)asz[k++];
      }
    }
  }
  PetscCallMPI(MPI_Gatherv(lbuf, (PetscMPIInt)ltotal, MPI_CHAR, abuf, cnt, dsp, MPI_CHAR, 0, r->comm));
  if (r->rank == 0) PetscCall(McOutputWriteCheckpoint_Private(o, all, allsz));
  PetscCall(PetscFree2(all, allsz));
  PetscCall(PetscFree(abuf));
  PetscCall(PetscFree(asz));
  PetscCall(PetscFree2(cnt, dsp));
  PetscCall(PetscFree(lbuf));
  PetscCall(PetscFree(lsz));
  PetscFunctionReturn(0);
}
