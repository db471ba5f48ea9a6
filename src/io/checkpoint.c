/* Checkpoints and resume.
 *
 * A checkpoint is one byte record, written into one of two slots of
 * checkpoint/record [slot, byte] in the same H5Fflush as the draws it
 * belongs to. Slots alternate, so a crash while one is being written leaves
 * the other intact. A reader (McOutputOpenResume, or anyone with numpy)
 * trusts a slot when
 *   - it starts with the magic "MCCKPT01" and its checksum (FNV-1a 64 over
 *     every byte before it) matches: the record was written completely, and
 *   - its draw, field-sample and memory-row counts are <= the lengths of the
 *     datasets on file: the flush that carried it completed (a record whose
 *     draws are not on file belongs to a flush that did not finish),
 * and takes the trusted slot with the larger sequence number.
 *
 * Record layout (native little-endian):
 *   char    magic[8]   "MCCKPT01"
 *   int64   header[7]  seq, draws, field samples, memory rows, chains C,
 *                      field size nv, slot
 *   int64   count[C]   Welford sample counts
 *   float64 mean[C*nv], m2[C*nv]   Welford mean and sum of squared deviations
 *   int64   size[C]    blob sizes
 *   bytes   blobs      the sampler's per-chain blobs, concatenated
 *   uint64  checksum
 */
#include "io/ioimpl.h"
#include <math.h>
#include <string.h>
#include <unistd.h>

#define MC_CKPT_MAGIC "MCCKPT01"
enum { MC_CK_SEQ, MC_CK_DRAWS, MC_CK_FIELDS, MC_CK_MEM, MC_CK_C, MC_CK_NV, MC_CK_SLOT, MC_CK_NHEAD };

typedef struct {
  int64_t       head[MC_CK_NHEAD];
  const char   *count, *mean, *m2, *sizes, *blobs; /* unaligned views into the record */
  size_t        length;
} McRecordView;

static uint64_t McFnv1a(const char *p, size_t n)
{
  uint64_t h = 14695981039346656037ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static int64_t McGetI64(const char *p, size_t i)
{
  int64_t v;
  memcpy(&v, p + 8 * i, 8);
  return v;
}

/* Parses and validates a record of len bytes for C chains and nv field
 * values; returns PETSC_FALSE for anything malformed or torn. */
static PetscBool McParseRecord(const char *rec, size_t len, PetscInt C, PetscInt nv, McRecordView *v)
{
  size_t   off = 8 + 8 * MC_CK_NHEAD, total;
  uint64_t sum;

  if (len < off + 8 || memcmp(rec, MC_CKPT_MAGIC, 8)) return PETSC_FALSE;
  for (int i = 0; i < MC_CK_NHEAD; i++) v->head[i] = McGetI64(rec + 8, (size_t)i);
  if (v->head[MC_CK_C] != C || v->head[MC_CK_NV] != nv) return PETSC_FALSE;
  v->count = rec + off;
  off += 8 * (size_t)C;
  v->mean = rec + off;
  off += 8 * (size_t)C * (size_t)nv;
  v->m2 = rec + off;
  off += 8 * (size_t)C * (size_t)nv;
  v->sizes = rec + off;
  off += 8 * (size_t)C;
  if (off > len) return PETSC_FALSE;
  total = off;
  for (PetscInt c = 0; c < C; c++) {
    int64_t s = McGetI64(v->sizes, (size_t)c);
    if (s < 0 || (size_t)s > len) return PETSC_FALSE;
    total += (size_t)s;
  }
  if (total + 8 > len) return PETSC_FALSE;
  v->blobs = rec + off;
  memcpy(&sum, rec + total, 8);
  if (sum != McFnv1a(rec, total)) return PETSC_FALSE;
  v->length = total + 8;
  return PETSC_TRUE;
}

/* Runs inside the flush, after the draws and before H5Fflush. */
static PetscErrorCode McWriteRecord(McOutput o, void *ctx)
{
  PetscInt slot = *(PetscInt *)ctx;
  hsize_t  mdim[2] = {1, (hsize_t)o->ckpt_size}, start[2] = {(hsize_t)slot, 0}, count[2] = {1, (hsize_t)o->ckpt_size};
  hid_t    space;
  hsize_t  dims[2];

  PetscFunctionBeginUser;
  MC_H5(o, "checkpoint/record", space = H5Dget_space(o->ckpt_dset));
  MC_H5(o, "checkpoint/record", H5Sget_simple_extent_dims(space, dims, NULL));
  MC_H5(o, "checkpoint/record", H5Sclose(space));
  if (dims[1] < o->ckpt_size) {
    PetscCall(McH5Extent_Private(o, o->ckpt_dset, "checkpoint/record", 1, o->ckpt_size));
    PetscCall(McH5Extent_Private(o, o->ckpt_bytes, "checkpoint/byte", 0, o->ckpt_size));
  }
  PetscCall(McH5Transfer_Private(o, o->ckpt_dset, "checkpoint/record", H5T_NATIVE_UCHAR, o->ckpt_record, 2, mdim, start, count, PETSC_TRUE));
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputWriteCheckpoint(McOutput o, const void *const *blobs, const size_t *sizes)
{
  PetscFunctionBeginUser;
  if (o->relay) PetscCall(McRelayCheckpoint_Private(o, blobs, sizes));
  else PetscCall(McOutputWriteCheckpoint_Private(o, blobs, sizes));
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputEnsureSpareRecord_Private(McOutput o, size_t need)
{
  PetscFunctionBeginUser;
  if (o->ckpt_spare_cap >= need) PetscFunctionReturn(0);
  PetscCall(PetscFree(o->ckpt_spare));
  PetscCall(PetscMalloc(need, &o->ckpt_spare));
  o->ckpt_spare_cap = need;
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputWriteCheckpoint_Private(McOutput o, const void *const *blobs, const size_t *sizes)
{
  size_t     C = (size_t)o->C, cnv = C * (size_t)o->nv, total, off;
  PetscInt64 draws = o->block_start + o->fill[0];
  PetscInt   slot  = o->ckpt_next;
  int64_t    head[MC_CK_NHEAD];
  uint64_t   sum;
  char      *rec;

  PetscFunctionBeginUser;
  PetscCheck(!o->failed, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "output file %s: not written after an earlier write error (the file holds the draws of the last successful flush)", o->path);
  for (PetscInt c = 1; c < o->C; c++) PetscCheck(o->fill[c] == o->fill[0], PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "output file %s: checkpoint needs every chain at the same draw; chain 0 has %lld, chain %" PetscInt_FMT " has %lld", o->path, (long long)draws, c, (long long)(o->block_start + o->fill[c]));
  total = 8 + 8 * MC_CK_NHEAD + 8 * C + 16 * cnv + 8 * C;
  for (size_t c = 0; c < C; c++) total += sizes[c];
  PetscCall(McOutputEnsureSpareRecord_Private(o, total + 8));
  rec = o->ckpt_spare;
  head[MC_CK_SEQ]    = o->ckpt_seq + 1;
  head[MC_CK_DRAWS]  = draws;
  head[MC_CK_FIELDS] = o->nv ? (draws + o->T - 1) / o->T : 0;
  head[MC_CK_MEM]    = o->mem_start + o->mem_fill;
  head[MC_CK_C]      = o->C;
  head[MC_CK_NV]     = o->nv;
  head[MC_CK_SLOT]   = slot;
  memcpy(rec, MC_CKPT_MAGIC, 8);
  memcpy(rec + 8, head, sizeof head);
  off = 8 + sizeof head;
  if (o->nv) {
    memcpy(rec + off, o->wcount, 8 * C);
    memcpy(rec + off + 8 * C, o->wmean, 8 * cnv);
    memcpy(rec + off + 8 * C + 8 * cnv, o->wm2, 8 * cnv);
  } else memset(rec + off, 0, 8 * C);
  off += 8 * C + 16 * cnv;
  for (size_t c = 0; c < C; c++) {
    int64_t s = (int64_t)sizes[c];
    memcpy(rec + off + 8 * c, &s, 8);
  }
  off += 8 * C;
  for (size_t c = 0; c < C; c++) {
    if (sizes[c]) memcpy(rec + off, blobs[c], sizes[c]);
    off += sizes[c];
  }
  sum = McFnv1a(rec, total);
  memcpy(rec + total, &sum, 8);

  /* The new record becomes the sink's newest before the flush: if the
   * flush fails the sink is unusable anyway, and on success the progress
   * file written by the flush names this checkpoint. */
  {
    size_t cap = o->ckpt_spare_cap;
    o->ckpt_spare     = o->ckpt_record;
    o->ckpt_spare_cap = o->ckpt_cap;
    o->ckpt_record    = rec;
    o->ckpt_cap       = cap;
  }
  o->ckpt_size   = total + 8;
  /* The next record's buffer now (the first checkpoint comes before the
   * memory baseline), not at the next checkpoint. */
  PetscCall(McOutputEnsureSpareRecord_Private(o, total + 8));
  o->ckpt_seq    = head[MC_CK_SEQ];
  o->ckpt_draws  = draws;
  o->ckpt_next   = 1 - slot;
  PetscCall(McOutputFlushWith_Private(o, McWriteRecord, &slot));
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputReadCheckpoint(McOutput o, PetscInt chain, const void **blob, size_t *size, PetscInt64 *draws)
{
  McRecordView v;
  size_t       off = 0;

  PetscFunctionBeginUser;
  PetscCheck(o->ckpt_record, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "output file %s: has no checkpoint yet", o->path);
  PetscCheck(chain >= 0 && chain < o->C, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "output file %s: chain %" PetscInt_FMT " out of range [0, %" PetscInt_FMT ")", o->path, chain, o->C);
  PetscCheck(McParseRecord(o->ckpt_record, o->ckpt_size, o->C, o->nv, &v), PETSC_COMM_SELF, PETSC_ERR_PLIB, "output file %s: checkpoint record in memory is corrupt", o->path);
  for (PetscInt c = 0; c < chain; c++) off += (size_t)McGetI64(v.sizes, (size_t)c);
  *blob = v.blobs + off;
  *size = (size_t)McGetI64(v.sizes, (size_t)chain);
  if (draws) *draws = v.head[MC_CK_DRAWS];
  PetscFunctionReturn(0);
}

/* Chooses the newest trusted slot (see the top of this file) and restores
 * the sink's Welford state from it. */
PetscErrorCode McOutputLoadCheckpoint_Private(McOutput o, PetscInt64 draws_on_file, PetscInt64 fields_on_file, PetscInt64 mem_on_file, PetscInt64 *draws, PetscInt64 *fields, PetscInt64 *mem)
{
  hid_t        space;
  hsize_t      dims[2];
  char        *rec[2] = {NULL, NULL};
  McRecordView v[2];
  PetscBool    ok[2] = {PETSC_FALSE, PETSC_FALSE};
  int          best = -1;

  PetscFunctionBeginUser;
  MC_H5(o, "checkpoint/record", space = H5Dget_space(o->ckpt_dset));
  MC_H5(o, "checkpoint/record", H5Sget_simple_extent_dims(space, dims, NULL));
  MC_H5(o, "checkpoint/record", H5Sclose(space));
  for (int s = 0; s < 2 && dims[1] > 0; s++) {
    hsize_t mdim[2] = {1, dims[1]}, start[2] = {(hsize_t)s, 0}, count[2] = {1, dims[1]};
    PetscCall(PetscMalloc(dims[1], &rec[s]));
    PetscCall(McH5Transfer_Private(o, o->ckpt_dset, "checkpoint/record", H5T_NATIVE_UCHAR, rec[s], 2, mdim, start, count, PETSC_FALSE));
    ok[s] = McParseRecord(rec[s], dims[1], o->C, o->nv, &v[s]);
    ok[s] = (PetscBool)(ok[s] && v[s].head[MC_CK_DRAWS] <= draws_on_file && v[s].head[MC_CK_FIELDS] <= fields_on_file && v[s].head[MC_CK_MEM] <= mem_on_file);
    if (ok[s] && (best < 0 || v[s].head[MC_CK_SEQ] > v[best].head[MC_CK_SEQ])) best = s;
  }
  if (best < 0) {
    PetscCall(PetscFree(rec[0]));
    PetscCall(PetscFree(rec[1]));
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "output file %s: no complete checkpoint to resume from (%s)", o->path, dims[1] ? "both checkpoint slots are torn or belong to draws that never reached the file" : "the run wrote none");
  }
  o->ckpt_size      = v[best].length;
  o->ckpt_record    = rec[best];
  o->ckpt_cap       = dims[1];
  o->ckpt_spare     = rec[1 - best]; /* the next record is built in the other slot's buffer */
  o->ckpt_spare_cap = dims[1];
  PetscCheck(McParseRecord(o->ckpt_record, o->ckpt_size, o->C, o->nv, &v[best]), PETSC_COMM_SELF, PETSC_ERR_PLIB, "checkpoint record changed while loading");
  o->ckpt_seq   = v[best].head[MC_CK_SEQ];
  o->ckpt_draws = v[best].head[MC_CK_DRAWS];
  o->ckpt_next  = 1 - best;
  if (o->nv) {
    size_t C = (size_t)o->C, cnv = C * (size_t)o->nv;
    memcpy(o->wcount, v[best].count, 8 * C);
    memcpy(o->wmean, v[best].mean, 8 * cnv);
    memcpy(o->wm2, v[best].m2, 8 * cnv);
  }
  *draws  = v[best].head[MC_CK_DRAWS];
  *fields = v[best].head[MC_CK_FIELDS];
  *mem    = v[best].head[MC_CK_MEM];
  PetscFunctionReturn(0);
}

static PetscErrorCode McLength(McOutput o, hid_t ds, const char *what, int axis, PetscInt64 *n)
{
  hid_t   space;
  hsize_t dims[3];

  PetscFunctionBeginUser;
  MC_H5(o, what, space = H5Dget_space(ds));
  MC_H5(o, what, H5Sget_simple_extent_dims(space, dims, NULL));
  MC_H5(o, what, H5Sclose(space));
  *n = PetscMin(*n, (PetscInt64)dims[axis]);
  PetscFunctionReturn(0);
}

static PetscErrorCode McCheckModelHash(McOutput o, const char *expected)
{
  hid_t  attr, type;
  size_t n;
  char  *stored;

  PetscFunctionBeginUser;
  PetscCheck(H5Aexists(o->file, "model_hash") > 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "output file %s: has no model_hash attribute; it was not written by mcmc-run and cannot be resumed", o->path);
  MC_H5(o, "/model_hash", attr = H5Aopen(o->file, "model_hash", H5P_DEFAULT));
  MC_H5(o, "/model_hash", type = H5Aget_type(attr));
  PetscCheck(H5Tis_variable_str(type) == 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "output file %s: model_hash is not a fixed-length string", o->path);
  n = H5Tget_size(type);
  PetscCall(PetscCalloc1(n + 1, &stored));
  MC_H5(o, "/model_hash", H5Aread(attr, type, stored));
  MC_H5(o, "/model_hash", H5Tclose(type));
  MC_H5(o, "/model_hash", H5Aclose(attr));
  if (strcmp(stored, expected)) {
    char msg[512];
    PetscCall(PetscSNPrintf(msg, sizeof msg, "output file %s: its model hash is \"%s\" but the configuration's is \"%s\": the model changed, refusing to resume (only sampler settings may change)", o->path, stored, expected));
    PetscCall(PetscFree(stored));
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_ARG_INCOMP, "%s", msg);
  }
  PetscCall(PetscFree(stored));
  PetscFunctionReturn(0);
}

/* Opens for writing a file a killed writer may have left
 * (McH5OpenKilled_Private). Only one writer may touch the file; the caller
 * is that writer. */
static PetscErrorCode McOpenForResume(McOutput o)
{
  hid_t fapl;

  PetscFunctionBeginUser;
  MC_H5(o, o->path, fapl = H5Pcreate(H5P_FILE_ACCESS));
  MC_H5(o, o->path, H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST));
  PetscCall(McH5SetCaches_Private(o, fapl));
  o->file = McH5OpenKilled_Private(o->path, fapl);
  if (o->file < 0) {
    /* A flush that failed half-way (disk full) can leave the superblock's
     * end-of-file address past the real end. What the checkpoint needs
     * lies before it; HDF5 reads the missing tail as zeros and checksums
     * catch any metadata that would depend on it. */
    hbool_t skip = 1;
    H5Eclear2(H5E_DEFAULT);
    MC_H5(o, o->path, H5Pset(fapl, "skip_eof_check", &skip));
    o->file = McH5OpenKilled_Private(o->path, fapl);
    if (o->file < 0) {
      o->failed = PETSC_TRUE;
      PetscCall(McH5Error_Private(o->path, o->path, "H5Fopen(path)"));
    }
  }
  MC_H5(o, o->path, H5Pclose(fapl));
  PetscFunctionReturn(0);
}

/* The memory rows' datasets (their names for messages). */
static const char *const mem[MC_MEM_NCOLS] = {"memory/iteration", "memory/rss", "memory/live_objects", "memory/live_bytes", "memory/collections"};

/* The largest end address of the chunks of ds at or after position from
 * along axis (all positions of the other axes), into *end. Stops at the
 * first chunk position along axis that has no chunk anywhere. */
static PetscErrorCode McChunkEnd(McOutput o, hid_t ds, const char *what, int axis, hsize_t from, haddr_t *end)
{
  hid_t   space, dcpl;
  hsize_t dims[3], cdims[3], off[3], ncell = 1;
  int     rank;

  PetscFunctionBeginUser;
  MC_H5(o, what, space = H5Dget_space(ds));
  MC_H5(o, what, rank = H5Sget_simple_extent_dims(space, dims, NULL));
  MC_H5(o, what, H5Sclose(space));
  MC_H5(o, what, dcpl = H5Dget_create_plist(ds));
  MC_H5(o, what, H5Pget_chunk(dcpl, rank, cdims));
  MC_H5(o, what, H5Pclose(dcpl));
  for (int a = 0; a < rank; a++)
    if (a != axis) ncell *= (dims[a] + cdims[a] - 1) / cdims[a];
  for (hsize_t j = from / cdims[axis];; j++) {
    PetscBool any = PETSC_FALSE;
    for (hsize_t cell = 0; cell < ncell; cell++) {
      unsigned mask;
      haddr_t  addr;
      hsize_t  size, rest = cell;

      for (int a = rank - 1; a >= 0; a--) {
        if (a == axis) continue;
        hsize_t n = (dims[a] + cdims[a] - 1) / cdims[a];
        off[a]    = (rest % n) * cdims[a];
        rest /= n;
      }
      off[axis] = j * cdims[axis];
      MC_H5(o, what, H5Dget_chunk_info_by_coord(ds, off, &mask, &addr, &size));
      if (addr == HADDR_UNDEF) continue;
      any = PETSC_TRUE;
      if (addr + size > *end) *end = addr + size;
    }
    if (!any) break;
  }
  PetscFunctionReturn(0);
}

/* What McEachGrowing does to each dataset that grows with the draws, the
 * field samples or the memory rows (n[0], n[1], n[2]: the count along its
 * growing axis): take the shortest length into n, the largest chunk end
 * from n on into *end, or set the length to n. */
typedef enum { MC_GROW_LENGTH, MC_GROW_CHUNK_END, MC_GROW_EXTENT } McGrowOp;

static PetscErrorCode McGrowOne(McOutput o, McGrowOp op, hid_t ds, const char *name, int axis, PetscInt64 *n, haddr_t *end)
{
  PetscFunctionBeginUser;
  switch (op) {
  case MC_GROW_LENGTH:
    PetscCall(McLength(o, ds, name, axis, n));
    break;
  case MC_GROW_CHUNK_END:
    PetscCall(McChunkEnd(o, ds, name, axis, (hsize_t)*n, end));
    break;
  case MC_GROW_EXTENT:
    PetscCall(McH5Extent_Private(o, ds, name, axis, (hsize_t)*n));
    break;
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode McEachGrowing(McOutput o, McGrowOp op, PetscInt64 n[3], haddr_t *end)
{
  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < o->nvars; i++) PetscCall(McGrowOne(o, op, o->vars[i].dset, o->vars[i].name, 1, &n[0], end));
  for (int s = 0; s < o->ngroups; s++) PetscCall(McGrowOne(o, op, o->draw_scales[s], mc_draw_scale_paths[s], 0, &n[0], end));
  if (o->nv) {
    PetscCall(McGrowOne(o, op, o->field_dset, o->field_path, 1, &n[1], end));
    PetscCall(McGrowOne(o, op, o->field_draw, "posterior_fields/draw", 0, &n[1], end));
  }
  for (int k = 0; k < MC_MEM_NCOLS; k++) PetscCall(McGrowOne(o, op, o->mem_dset[k], mem[k], 0, &n[2], end));
  PetscFunctionReturn(0);
}

/* A writer killed inside a flush can also leave chunk index entries that
 * point past the file's end: the index was written, the chunk not.
 * Writing that chunk again in place (the block after the checkpoint)
 * would then fail with "addr overflow", or a new allocation could overlap
 * it. So the EOA (already at least the file's end, McH5OpenKilled_Private) is
 * raised over every chunk past the checkpoint, as h5clear --increment
 * does for a crashed SWMR writer; at most one flush interval's bytes are
 * lost. */
static PetscErrorCode McCoverAllocations(McOutput o, PetscInt64 n[3])
{
  haddr_t eoa, end = 0;

  PetscFunctionBeginUser;
  PetscCall(McEachGrowing(o, MC_GROW_CHUNK_END, n, &end));
  MC_H5(o, o->path, H5Fget_eoa(o->file, &eoa));
  if (end > eoa) MC_H5(o, o->path, H5Fincrement_filesize(o->file, (hsize_t)(end - eoa)));
  PetscFunctionReturn(0);
}

static PetscErrorCode McResume(McOutput o, const McOutputSpec *spec)
{
  PetscInt64 on[3] = {INT64_MAX, INT64_MAX, INT64_MAX}, n[3];
  PetscInt64 N, K, R;

  PetscFunctionBeginUser;
  PetscCall(McOutputLock_Private(o, PETSC_FALSE));
  PetscCall(McOpenForResume(o));
  PetscCall(McCheckModelHash(o, spec->model_hash ? spec->model_hash : ""));
  PetscCall(McOutputOpenLayout_Private(o, spec));
  /* What the last completed flush left: the shortest of the datasets. */
  PetscCall(McEachGrowing(o, MC_GROW_LENGTH, on, NULL));
  if (!o->nv) on[1] = 0;
  PetscCall(McOutputLoadCheckpoint_Private(o, on[0], on[1], on[2], &N, &K, &R));
  n[0] = N;
  n[1] = K;
  n[2] = R;
  /* The progress file may count draws past the checkpoint, which are about
   * to be dropped: it says N first, so that a kill in this set-up never
   * leaves it claiming draws the file no longer holds. */
  o->committed = N;
  o->committed_fields = K;
  o->committed_mem = R;
  PetscCall(McOutputWriteProgress_Private(o));
  PetscCall(McCoverAllocations(o, n));

  /* Draws past the checkpoint are dropped: the resumed chain redraws them. */
  PetscCall(McEachGrowing(o, MC_GROW_EXTENT, n, NULL));

  /* Refill the partial block so that blocks stay aligned with the chunks
   * and the next write is the same as an uninterrupted run's. */
  o->block_start = N - N % o->B;
  for (PetscInt c = 0; c < o->C; c++) o->fill[c] = (PetscInt)(N - o->block_start);
  PetscCall(McOutputReadBack_Private(o));
  o->written = N;
  o->mem_start = R - R % o->MB;
  o->mem_fill = R - o->mem_start;
  PetscCall(McOutputTransferMemory_Private(o, o->mem_fill, PETSC_FALSE));
  o->mem_written = R;
  MC_H5(o, o->path, H5Fflush(o->file, H5F_SCOPE_GLOBAL));
  MC_H5(o, o->path, H5Fstart_swmr_write(o->file));
  PetscCall(McOutputLock_Private(o, PETSC_TRUE));
  PetscCall(McOutputWriteProgress_Private(o));
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputOpenResume(const char *path, const McOutputSpec *spec, McOutput *out)
{
  PetscFunctionBeginUser;
  if (McRelayActive_Private(spec)) PetscCall(McRelayOpen_Private(path, spec, PETSC_TRUE, out));
  else PetscCall(McOutputOpenResume_Private(path, spec, out));
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputOpenResume_Private(const char *path, const McOutputSpec *spec, McOutput *out)
{
  McOutput       o;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  *out = NULL;
  PetscCheck(access(path, F_OK) == 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "output file %s does not exist; nothing to resume", path);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  PetscCall(McOutputAlloc_Private(path, spec, &o));
  ierr = McResume(o, spec);
  if (ierr) {
    /* Nothing of the run has been written yet: a plain close keeps the
     * file as it was (a failed file is left to HDF5's shutdown, which
     * crashes when what failed was reading damaged metadata). */
    o->failed = PETSC_FALSE;
    PetscCall(McOutputFree_Private(&o, NULL));
    PetscCall(ierr);
  }
  *out = o;
  PetscFunctionReturn(0);
}
