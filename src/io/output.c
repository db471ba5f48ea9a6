/* The streaming sink: block buffers allocated once, draws copied in,
 * full blocks written as one hyperslab per dataset, flushes per policy.
 *
 * Order of a block write (OUTPUT.md §6): extend and write every variable,
 * then the field samples, then the draw coordinates last, each dataset
 * flushed (H5Dflush) before the coordinate that indexes it grows; a flush
 * adds the memory rows and the field summary, then H5Fflush, then the
 * side-car progress file (write tmp + rename). A reader therefore never
 * sees a draw coordinate for draws whose values are not written. */
#define _GNU_SOURCE /* F_OFD_SETLK */
#include "io/ioimpl.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The per-draw variables: theta, the QoIs, the five stats below (the last
 * two int8), then timing/seconds. */
enum { MC_V_THETA = 0 };
#define MC_V_STAT(o, k) (1 + (o)->nqoi + (k))
#define MC_V_SECONDS(o) MC_V_STAT(o, 5)
static const char *const mc_stat_names[5] = {"lp", "acceptance_rate", "step_size", "accepted", "failed"};

static double McMonotonic(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double McWallClock(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

PetscErrorCode McOutputSpecInit(McOutputSpec *spec)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(spec, sizeof *spec));
  spec->field_thin  = 1;
  spec->noise_sigma = NAN;
  spec->comm        = MPI_COMM_NULL;
  PetscFunctionReturn(0);
}

/* A name becomes an HDF5 link and a netCDF variable: no '/', not one of the
 * dimension names of its group, short enough for the fixed name buffers. */
static PetscErrorCode McCheckName(const char *what, const char *name)
{
  PetscFunctionBeginUser;
  PetscCheck(name && name[0], PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "output: %s is empty", what);
  PetscCheck(!strchr(name, '/') && strlen(name) < 40, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "output: %s \"%s\" must be shorter than 40 characters and contain no '/'", what, name);
  PetscCheck(strcmp(name, "chain") && strcmp(name, "draw") && strcmp(name, "param") && strcmp(name, "node"), PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "output: %s \"%s\" is a dimension name (chain, draw, param, node)", what, name);
  PetscFunctionReturn(0);
}

static PetscErrorCode McCheckSpec(const McOutputSpec *s)
{
  const char *pvar = s->param_var ? s->param_var : "theta";

  PetscFunctionBeginUser;
  PetscCheck(s->nchains >= 1 && s->nparams >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "output: need at least one chain and one parameter, got %" PetscInt_FMT " chains and %" PetscInt_FMT " parameters", s->nchains, s->nparams);
  PetscCheck(s->block_size >= 0 && s->flush_blocks >= 0 && s->memory_block >= 0 && s->nqoi >= 0 && s->field_size >= 0 && s->nobs >= 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "output: negative size in the output specification");
  PetscCheck(!s->field_size || s->field_thin >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "output: field thinning must be >= 1, got %" PetscInt_FMT, s->field_thin);
  PetscCheck(!s->nobs || s->y, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "output: %" PetscInt_FMT " observations but no values", s->nobs);
  PetscCheck(!s->nqoi || s->qoi_names, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "output: %" PetscInt_FMT " quantities of interest but no names", s->nqoi);
  PetscCall(McCheckName("parameter variable name", pvar));
  for (PetscInt q = 0; q < s->nqoi; q++) {
    PetscCall(McCheckName("quantity of interest name", s->qoi_names[q]));
    PetscCheck(strcmp(s->qoi_names[q], pvar), PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "output: quantity of interest \"%s\" has the name of the parameter variable", pvar);
    for (PetscInt r = 0; r < q; r++) PetscCheck(strcmp(s->qoi_names[q], s->qoi_names[r]), PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "output: quantity of interest \"%s\" named twice", s->qoi_names[q]);
  }
  if (s->field_size) PetscCall(McCheckName("field name", s->field_name ? s->field_name : "u"));
  for (PetscInt i = 0; s->param_names && i < s->nparams; i++) PetscCheck(s->param_names[i], PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "output: parameter label %" PetscInt_FMT " is NULL", i);
  PetscCall(McOutputCheckConstants_Private(s));
  PetscFunctionReturn(0);
}

/* No dealloc: the release is McOutputFree_Private's, which must tell its
 * caller whether closing the file failed (a dealloc cannot report that),
 * and drops the reference once everything else is released. */
static const McType McOutputType = {"McOutput", sizeof(struct _p_McOutput), NULL, NULL, NULL, NULL};

PetscErrorCode McOutputNew_Private(const char *path, McOutput *out)
{
  McOutput o;

  PetscFunctionBeginUser;
  PetscCall(McObjectCreate(&McOutputType, &o));
  o->file = o->field_dset = o->field_draw = o->mean_dset = o->std_dset = o->count_dset = H5I_INVALID_HID;
  o->ckpt_dset = o->ckpt_bytes = H5I_INVALID_HID;
  for (int s = 0; s < MC_DRAW_GROUPS; s++) o->draw_scales[s] = H5I_INVALID_HID;
  for (int i = 0; i < MC_MEM_NCOLS; i++) o->mem_dset[i] = H5I_INVALID_HID;
  o->lock_fd = -1;
  o->ckpt_draws = -1;
  PetscCall(PetscStrallocpy(path, &o->path));
  *out = o;
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputAlloc_Private(const char *path, const McOutputSpec *spec, McOutput *out)
{
  McOutput    o;
  const char *pvar = spec->param_var ? spec->param_var : "theta";
  size_t      C, B;

  PetscFunctionBeginUser;
  PetscCall(McCheckSpec(spec));
  PetscCall(McOutputNew_Private(path, &o));
  PetscCall(PetscMalloc1(strlen(path) + 16, &o->progress_path));
  PetscCall(PetscSNPrintf(o->progress_path, strlen(path) + 16, "%s.progress", path));

  o->C  = spec->nchains;
  o->P  = spec->nparams;
  o->nqoi = spec->nqoi;
  o->nv = spec->field_size;
  o->T  = o->nv ? spec->field_thin : 1;
  o->B  = spec->block_size ? spec->block_size : MC_OUTPUT_DEFAULT_BLOCK;
  o->MB = spec->memory_block ? spec->memory_block : MC_OUTPUT_DEFAULT_MEMORY_BLOCK;
  o->flush_blocks  = spec->flush_blocks ? spec->flush_blocks : 1;
  o->flush_seconds = spec->flush_seconds;
  C = (size_t)o->C;
  B = (size_t)o->B;

  o->nvars   = MC_V_SECONDS(o) + 1;
  o->ngroups = MC_DRAW_GROUPS;
  PetscCall(PetscCalloc1(o->nvars, &o->vars));
  for (PetscInt i = 0; i < o->nvars; i++) {
    McDrawVar *v = &o->vars[i];
    PetscBool  flag = i == MC_V_STAT(o, 3) || i == MC_V_STAT(o, 4) ? PETSC_TRUE : PETSC_FALSE;
    v->dset      = H5I_INVALID_HID;
    v->width     = i == MC_V_THETA ? (size_t)o->P : 1;
    v->memtype   = flag ? H5T_NATIVE_SCHAR : H5T_NATIVE_DOUBLE;
    v->elsize    = flag ? 1 : sizeof(double);
    if (i == MC_V_THETA) PetscCall(PetscSNPrintf(v->name, sizeof v->name, "posterior/%s", pvar));
    else if (i <= o->nqoi) PetscCall(PetscSNPrintf(v->name, sizeof v->name, "posterior/%s", spec->qoi_names[i - 1]));
    else if (i == MC_V_SECONDS(o)) PetscCall(PetscSNPrintf(v->name, sizeof v->name, "timing/seconds"));
    else PetscCall(PetscSNPrintf(v->name, sizeof v->name, "sample_stats/%s", mc_stat_names[i - 1 - o->nqoi]));
    PetscCall(PetscMalloc(C * B * v->width * v->elsize, &v->buf));
  }
  PetscCall(PetscMalloc1(B, &o->draw_buf));
  PetscCall(PetscCalloc1(C, &o->fill));
  if (o->nv) {
    size_t nv = (size_t)o->nv;
    o->KB = (o->B + o->T - 1) / o->T;
    PetscCall(PetscSNPrintf(o->field_path, sizeof o->field_path, "posterior_fields/%s", spec->field_name ? spec->field_name : "u"));
    PetscCall(PetscMalloc1(C * (size_t)o->KB * nv, &o->field_buf));
    PetscCall(PetscMalloc1((size_t)o->KB, &o->fdraw_buf));
    PetscCall(PetscCalloc1(C * nv, &o->wmean));
    PetscCall(PetscCalloc1(C * nv, &o->wm2));
    PetscCall(PetscMalloc1(C * nv, &o->wstd));
    PetscCall(PetscCalloc1(C, &o->wcount));
  }
  PetscCall(PetscMalloc1((size_t)o->MB * MC_MEM_NCOLS, &o->mem_buf));
  PetscCall(PetscMalloc1((size_t)o->MB, &o->mem_col));
  o->last_flush_time = McMonotonic();
  *out = o;
  PetscFunctionReturn(0);
}

/* After a failed write HDF5 1.10.8 cannot close the file: the close
 * retries the flush, fails again, and the library then crashes when it
 * terminates (H5F__close_cb at MPI_Finalize). The file on disk must stay as
 * the last successful flush left it anyway, so the descriptor HDF5 writes
 * through is pointed at /dev/null: the close "succeeds", nothing more
 * reaches the file, and the file keeps its SWMR mark like after a crash
 * (readers open it with swmr=True or after h5clear -s --increment=0). */
static void McDetachFailedFile(McOutput o)
{
  int *fdp = NULL, null;

  if (o->file < 0) return;
  H5E_BEGIN_TRY
  {
    if (H5Fget_vfd_handle(o->file, H5P_DEFAULT, (void **)&fdp) >= 0 && fdp && *fdp >= 0) {
      null = open("/dev/null", O_RDWR);
      if (null >= 0) {
        dup2(null, *fdp);
        close(null);
      }
    }
  }
  H5E_END_TRY;
}

/* Releases everything; HDF5 errors are ignored here because this also runs
 * after a failure, when closing may fail again for the same reason. */
PetscErrorCode McOutputFree_Private(McOutput *out, PetscBool *close_failed)
{
  McOutput o = *out;
  herr_t   status = 0;
  hid_t   *ids[6 + MC_DRAW_GROUPS];
  int      n = 0;

  PetscFunctionBeginUser;
  if (!o) PetscFunctionReturn(0);
  *out = NULL;
  PetscCall(McRelayFree_Private(o));
  ids[n++] = &o->field_dset;
  ids[n++] = &o->field_draw;
  ids[n++] = &o->mean_dset;
  ids[n++] = &o->std_dset;
  ids[n++] = &o->count_dset;
  for (int s = 0; s < MC_DRAW_GROUPS; s++) ids[n++] = &o->draw_scales[s];
  ids[n++] = &o->ckpt_dset;
  if (o->failed) McDetachFailedFile(o);
  H5E_BEGIN_TRY
  {
    for (int i = 0; i < n; i++)
      if (*ids[i] >= 0) H5Dclose(*ids[i]);
    if (o->ckpt_bytes >= 0) H5Dclose(o->ckpt_bytes);
    for (int i = 0; i < MC_MEM_NCOLS; i++)
      if (o->mem_dset[i] >= 0) H5Dclose(o->mem_dset[i]);
    for (PetscInt i = 0; o->vars && i < o->nvars; i++)
      if (o->vars[i].dset >= 0) H5Dclose(o->vars[i].dset);
    /* After a write error HDF5's close fails half-way and leaves a torn file
     * object that its own shutdown (at MPI_Finalize) then trips over; left
     * open, the shutdown closes it once, into /dev/null. */
    if (o->file >= 0 && !o->failed) status = H5Fclose(o->file);
  }
  H5E_END_TRY;
  if (close_failed) *close_failed = (PetscBool)(status < 0);
  for (PetscInt i = 0; o->vars && i < o->nvars; i++) PetscCall(PetscFree(o->vars[i].buf));
  PetscCall(PetscFree(o->vars));
  PetscCall(PetscFree(o->draw_buf));
  PetscCall(PetscFree(o->fill));
  PetscCall(PetscFree(o->field_buf));
  PetscCall(PetscFree(o->fdraw_buf));
  PetscCall(PetscFree(o->wmean));
  PetscCall(PetscFree(o->wm2));
  PetscCall(PetscFree(o->wstd));
  PetscCall(PetscFree(o->wcount));
  PetscCall(PetscFree(o->mem_buf));
  PetscCall(PetscFree(o->mem_col));
  if (o->lock_fd >= 0) close(o->lock_fd); /* releases the lock */
  PetscCall(PetscFree(o->ckpt_record));
  PetscCall(PetscFree(o->ckpt_spare));
  PetscCall(PetscFree(o->progress_path));
  PetscCall(PetscFree(o->path));
  McDecref(o);
  PetscFunctionReturn(0);
}

/* One writer per file: SWMR lets HDF5 drop its own lock once writing
 * starts, so a second mcmc-run (a --resume while the run still goes)
 * could otherwise write the same file and corrupt it. The writer holds a
 * write lock on a descriptor of its own: an open-file-description record
 * lock (fcntl), which Linux keeps apart from the flock()s HDF5 and its
 * SWMR readers take, so readers are not disturbed. keep = PETSC_FALSE only
 * tests that no one holds it. */
PetscErrorCode McOutputLock_Private(McOutput o, PetscBool keep)
{
  int          fd = open(o->path, O_RDWR);
  struct flock lk;

  PetscFunctionBeginUser;
  PetscCheck(fd >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "output file %s: cannot open for writing: %s", o->path, strerror(errno));
  memset(&lk, 0, sizeof lk);
  lk.l_type   = F_WRLCK;
  lk.l_whence = SEEK_SET; /* start 0, length 0: the whole file */
  if (fcntl(fd, F_OFD_SETLK, &lk) != 0) {
    int         err = errno;
    const char *env = getenv("HDF5_USE_FILE_LOCKING");
    close(fd);
    /* A file system without locks (NFS without lockd, Lustre mounted
     * without flock): with HDF5's own locking switched off as for such
     * systems, the user has taken on keeping one writer per file. */
    if ((err == ENOLCK || err == ENOSYS || err == EOPNOTSUPP) && env && (!strcmp(env, "FALSE") || !strcmp(env, "0")))
      PetscFunctionReturn(0);
    PetscCheck(err != EAGAIN && err != EACCES, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "output file %s is being written by another process (it holds the file's lock); stop that one first", o->path);
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "output file %s: cannot lock: %s", o->path, strerror(err));
  }
  if (keep) o->lock_fd = fd;
  else close(fd);
  PetscFunctionReturn(0);
}

/* The side-car progress file, replaced atomically: a crash leaves either
 * the previous or the new version, never a torn one. It is written with
 * open/dprintf so that no allocation happens on this path. It is not
 * fsync'ed: like H5Fflush it survives a killed process, not a power cut. */
PetscErrorCode McOutputWriteProgress_Private(McOutput o)
{
  char tmp[PETSC_MAX_PATH_LEN];
  int  fd, ok = 1;

  PetscFunctionBeginUser;
  PetscCall(PetscSNPrintf(tmp, sizeof tmp, "%s.tmp", o->progress_path));
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) o->failed = PETSC_TRUE;
  PetscCheck(fd >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "output file %s: cannot create progress file %s: %s", o->path, tmp, strerror(errno));
  ok = ok && dprintf(fd, "{\"file\": \"%s\", \"draws_committed\": %lld, \"draws_per_chain\": [", o->path, (long long)o->committed) > 0;
  for (PetscInt c = 0; ok && c < o->C; c++) ok = dprintf(fd, c ? ", %lld" : "%lld", (long long)o->committed) > 0;
  ok = ok && dprintf(fd, "], \"field_samples\": %lld, \"memory_rows\": %lld, \"checkpoint_draws\": %lld, \"checkpoint_seq\": %lld, \"flushes\": %lld, \"unix_time\": %.3f}\n", (long long)o->committed_fields, (long long)o->committed_mem, (long long)o->ckpt_draws, (long long)o->ckpt_seq, (long long)o->nflushes, McWallClock()) > 0;
  if (close(fd) != 0) ok = 0;
  if (!ok) {
    int err = errno;
    unlink(tmp);
    o->failed = PETSC_TRUE;
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "output file %s: cannot write progress file %s: %s", o->path, tmp, strerror(err));
  }
  if (rename(tmp, o->progress_path) != 0) o->failed = PETSC_TRUE;
  PetscCheck(!o->failed, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "output file %s: cannot rename %s to %s: %s", o->path, tmp, o->progress_path, strerror(errno));
  PetscFunctionReturn(0);
}

static PetscInt64 McFieldCount(McOutput o, PetscInt64 draws)
{
  return (draws + o->T - 1) / o->T;
}

/* The chain with the fewest buffered draws: all chains have at least these. */
static PetscInt McMinChain(McOutput o)
{
  PetscInt m = 0;
  for (PetscInt c = 1; c < o->C; c++)
    if (o->fill[c] < o->fill[m]) m = c;
  return m;
}

static PetscInt McMinFill(McOutput o)
{
  return o->fill[McMinChain(o)];
}

/* Moves the draws [block_start, block_start + n) between the buffers and
 * the file (write) or back (read, on resume). */
static PetscErrorCode McTransferBlock(McOutput o, PetscInt64 n, PetscBool write)
{
  hsize_t    C = (hsize_t)o->C, end = (hsize_t)(o->block_start + n);
  PetscInt64 kb0 = McFieldCount(o, o->block_start), k1 = McFieldCount(o, o->block_start + n);

  PetscFunctionBeginUser;
  if (n == 0) PetscFunctionReturn(0);
  for (PetscInt i = 0; i < o->nvars; i++) {
    McDrawVar *v = &o->vars[i];
    int        rank = i == MC_V_THETA ? 3 : 2;
    hsize_t    mdims[3] = {C, (hsize_t)o->B, v->width}, start[3] = {0, (hsize_t)o->block_start, 0}, count[3] = {C, (hsize_t)n, v->width};
    if (write) PetscCall(McH5Extent_Private(o, v->dset, v->name, 1, end));
    PetscCall(McH5Transfer_Private(o, v->dset, v->name, v->memtype, v->buf, rank, mdims, start, count, write));
  }
  if (o->nv && k1 > kb0) {
    hsize_t mdims[3] = {C, (hsize_t)o->KB, (hsize_t)o->nv}, start[3] = {0, (hsize_t)kb0, 0}, count[3] = {C, (hsize_t)(k1 - kb0), (hsize_t)o->nv};
    hsize_t fstart = (hsize_t)kb0, fcount = (hsize_t)(k1 - kb0), fm = (hsize_t)o->KB;
    if (write) PetscCall(McH5Extent_Private(o, o->field_dset, o->field_path, 1, (hsize_t)k1));
    PetscCall(McH5Transfer_Private(o, o->field_dset, o->field_path, H5T_NATIVE_DOUBLE, o->field_buf, 3, mdims, start, count, write));
    if (write) {
      PetscCall(McH5FlushDataset_Private(o, o->field_dset, o->field_path));
      for (PetscInt64 k = kb0; k < k1; k++) o->fdraw_buf[k - kb0] = k * o->T;
      PetscCall(McH5Extent_Private(o, o->field_draw, "posterior_fields/draw", 0, (hsize_t)k1));
      PetscCall(McH5Transfer_Private(o, o->field_draw, "posterior_fields/draw", H5T_NATIVE_INT64, o->fdraw_buf, 1, &fm, &fstart, &fcount, PETSC_TRUE));
    }
  }
  if (write) {
    hsize_t bm = (hsize_t)o->B, bstart = (hsize_t)o->block_start, bcount = (hsize_t)n;
    /* The values reach the file before any draw coordinate grows. */
    for (PetscInt i = 0; i < o->nvars; i++)
      PetscCall(McH5FlushDataset_Private(o, o->vars[i].dset, o->vars[i].name));
    for (PetscInt64 j = 0; j < n; j++) o->draw_buf[j] = o->block_start + j;
    for (int s = 0; s < o->ngroups; s++) {
      PetscCall(McH5Extent_Private(o, o->draw_scales[s], mc_draw_scale_paths[s], 0, end));
      PetscCall(McH5Transfer_Private(o, o->draw_scales[s], mc_draw_scale_paths[s], H5T_NATIVE_INT64, o->draw_buf, 1, &bm, &bstart, &bcount, PETSC_TRUE));
    }
    o->written = (PetscInt64)end;
  }
  PetscFunctionReturn(0);
}


/* Moves the memory rows [mem_start, mem_start + n) column by column
 * between the buffer and the file; the iteration scale is written last. */
PetscErrorCode McOutputTransferMemory_Private(McOutput o, PetscInt64 n, PetscBool write)
{
  static const char *const paths[MC_MEM_NCOLS] = {"memory/iteration", "memory/rss", "memory/live_objects", "memory/live_bytes", "memory/collections"};
  hsize_t mdim = (hsize_t)o->MB, start = (hsize_t)o->mem_start, count = (hsize_t)n;

  PetscFunctionBeginUser;
  if (n == 0) PetscFunctionReturn(0);
  for (int k = MC_MEM_NCOLS - 1; k >= 0; k--) {
    if (write) {
      for (PetscInt64 r = 0; r < n; r++) o->mem_col[r] = o->mem_buf[r * MC_MEM_NCOLS + k];
      PetscCall(McH5Extent_Private(o, o->mem_dset[k], paths[k], 0, start + count));
    }
    PetscCall(McH5Transfer_Private(o, o->mem_dset[k], paths[k], H5T_NATIVE_INT64, o->mem_col, 1, &mdim, &start, &count, write));
    if (write && k > 0) PetscCall(McH5FlushDataset_Private(o, o->mem_dset[k], paths[k]));
    if (!write)
      for (PetscInt64 r = 0; r < n; r++) o->mem_buf[r * MC_MEM_NCOLS + k] = o->mem_col[r];
  }
  if (write) o->mem_written = o->mem_start + n;
  PetscFunctionReturn(0);
}

/* Writes the running mean, std and count of the fields in place. */
static PetscErrorCode McWriteFieldSummary(McOutput o)
{
  size_t nv = (size_t)o->nv;

  PetscFunctionBeginUser;
  if (!o->nv) PetscFunctionReturn(0);
  for (PetscInt c = 0; c < o->C; c++) {
    int64_t n = o->wcount[c];
    for (size_t i = 0; i < nv; i++) o->wstd[c * nv + i] = n > 1 ? sqrt(o->wm2[c * nv + i] / (double)(n - 1)) : NAN;
  }
  PetscCall(McH5Write_Private(o, o->mean_dset, "fields/mean", H5T_NATIVE_DOUBLE, o->wmean));
  PetscCall(McH5Write_Private(o, o->std_dset, "fields/std", H5T_NATIVE_DOUBLE, o->wstd));
  PetscCall(McH5Write_Private(o, o->count_dset, "fields/count", H5T_NATIVE_INT64, o->wcount));
  PetscFunctionReturn(0);
}

/* Everything buffered goes to the file; then one H5Fflush and the progress
 * file. extra, if given, runs between the writes and the flush (the
 * checkpoint record), so that it becomes durable in the same flush. */
PetscErrorCode McOutputFlushWith_Private(McOutput o, PetscErrorCode (*extra)(McOutput, void *), void *ctx)
{
  PetscFunctionBeginUser;
  if (MC_RELAY_PROXY(o)) PetscFunctionReturn(0); /* rank 0 writes */
  PetscCheck(!o->failed, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "output file %s: not written after an earlier write error (the file holds the draws of the last successful flush)", o->path);
  PetscCall(McTransferBlock(o, McMinFill(o), PETSC_TRUE));
  PetscCall(McOutputTransferMemory_Private(o, o->mem_fill, PETSC_TRUE));
  PetscCall(McWriteFieldSummary(o));
  if (extra) PetscCall(extra(o, ctx));
  MC_H5(o, o->path, H5Fflush(o->file, H5F_SCOPE_GLOBAL));
  /* HDF5 keeps freed chunk buffers and index blocks on its own free lists,
   * which the writes of a long run make grow (0.14 MiB per 1e5 draws of
   * the soak's RSS without this, 0.08 with it; scripts/soak-memory). */
  H5garbage_collect();
  o->committed          = o->written;
  o->committed_fields   = o->nv ? McFieldCount(o, o->written) : 0;
  o->committed_mem      = o->mem_written;
  o->blocks_since_flush = 0;
  o->last_flush_time    = McMonotonic();
  o->nflushes++;
  PetscCall(McOutputWriteProgress_Private(o));
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputFlush(McOutput out)
{
  PetscFunctionBeginUser;
  PetscCall(McOutputFlushWith_Private(out, NULL, NULL));
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputReadBack_Private(McOutput o)
{
  PetscFunctionBeginUser;
  PetscCall(McTransferBlock(o, McMinFill(o), PETSC_FALSE));
  PetscFunctionReturn(0);
}

static PetscErrorCode McBlockFull(McOutput o)
{
  PetscBool flush;

  PetscFunctionBeginUser;
  PetscCall(McTransferBlock(o, o->B, PETSC_TRUE));
  o->block_start += o->B;
  for (PetscInt c = 0; c < o->C; c++) o->fill[c] = 0;
  o->blocks_since_flush++;
  if (o->flush_seconds > 0) flush = (PetscBool)(McMonotonic() - o->last_flush_time >= o->flush_seconds);
  else flush = (PetscBool)(o->blocks_since_flush >= o->flush_blocks);
  if (flush) PetscCall(McOutputFlush(o));
  PetscFunctionReturn(0);
}

/* Welford's update, in place: mean and sum of squared deviations. */
static void McWelford(McOutput o, PetscInt c, const double *x)
{
  size_t  nv = (size_t)o->nv;
  double *mean = o->wmean + (size_t)c * nv, *m2 = o->wm2 + (size_t)c * nv;
  double  n = (double)(++o->wcount[c]);

  for (size_t i = 0; i < nv; i++) {
    double delta = x[i] - mean[i];
    mean[i] += delta / n;
    m2[i] += delta * (x[i] - mean[i]);
  }
}

PetscErrorCode McOutputAppendDraw(McOutput o, PetscInt c, const McOutputDraw *d)
{
  PetscInt   f;
  PetscInt64 draw;
  size_t     row;

  PetscFunctionBeginUser;
  if (MC_RELAY_PROXY(o)) {
    PetscCall(McRelayStage_Private(o, c, d));
    PetscFunctionReturn(0);
  }
  PetscCheck(!o->failed, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "output file %s: not written after an earlier write error (the file holds the draws of the last successful flush)", o->path);
  PetscCheck(c >= 0 && c < o->C, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "output file %s: chain %" PetscInt_FMT " out of range [0, %" PetscInt_FMT ")", o->path, c, o->C);
  f = o->fill[c];
  PetscCheck(f < o->B, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "output file %s: chain %" PetscInt_FMT " is a full block (%" PetscInt_FMT " draws) ahead of chain %" PetscInt_FMT "; append to the chains in turn", o->path, c, o->B, McMinChain(o));
  PetscCheck(d->theta && (!o->nqoi || d->qoi), PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "output file %s: draw of chain %" PetscInt_FMT " lacks parameter or quantity-of-interest values", o->path, c);
  draw = o->block_start + f;
  row  = (size_t)c * (size_t)o->B + (size_t)f;
  memcpy(o->vars[MC_V_THETA].buf + row * (size_t)o->P * sizeof(double), d->theta, (size_t)o->P * sizeof(double));
  for (PetscInt q = 0; q < o->nqoi; q++) ((double *)o->vars[1 + q].buf)[row] = d->qoi[q];
  ((double *)o->vars[MC_V_STAT(o, 0)].buf)[row]      = d->lp;
  ((double *)o->vars[MC_V_STAT(o, 1)].buf)[row]      = d->acceptance_rate;
  ((double *)o->vars[MC_V_STAT(o, 2)].buf)[row]      = d->step_size;
  ((signed char *)o->vars[MC_V_STAT(o, 3)].buf)[row] = d->accepted ? 1 : 0;
  ((signed char *)o->vars[MC_V_STAT(o, 4)].buf)[row] = d->failed ? 1 : 0;
  if (MC_V_SECONDS(o) < o->nvars) ((double *)o->vars[MC_V_SECONDS(o)].buf)[row] = d->seconds;
  if (o->nv) {
    if (draw % o->T == 0) {
      PetscInt64 k = draw / o->T - McFieldCount(o, o->block_start);
      PetscCheck(d->field, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "output file %s: draw %lld of chain %" PetscInt_FMT " needs a field (every %" PetscInt_FMT "-th draw stores one)", o->path, (long long)draw, c, o->T);
      memcpy(o->field_buf + ((size_t)c * (size_t)o->KB + (size_t)k) * (size_t)o->nv, d->field, (size_t)o->nv * sizeof(double));
    }
    if (d->field) McWelford(o, c, d->field);
  }
  o->fill[c] = f + 1;
  if (f + 1 == o->B && McMinFill(o) == o->B) PetscCall(McBlockFull(o));
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputAppendMemory(McOutput o, const McOutputMemoryRow *row)
{
  int64_t          *r;
  McOutputMemoryRow sum;
  PetscBool         store = PETSC_TRUE;

  PetscFunctionBeginUser;
  if (o->relay) {
    sum = *row;
    PetscCall(McRelayMemory_Private(o, &sum, &store));
    if (!store) PetscFunctionReturn(0);
    row = &sum;
  }
  PetscCheck(!o->failed, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "output file %s: not written after an earlier write error (the file holds the draws of the last successful flush)", o->path);
  r = o->mem_buf + o->mem_fill * MC_MEM_NCOLS;
  r[MC_MEM_ITERATION]   = row->iteration;
  r[MC_MEM_RSS]         = row->rss_bytes;
  r[MC_MEM_OBJECTS]     = row->live_objects;
  r[MC_MEM_BYTES]       = row->live_bytes;
  r[MC_MEM_COLLECTIONS] = row->collections;
  if (++o->mem_fill == o->MB) {
    PetscCall(McOutputTransferMemory_Private(o, o->mem_fill, PETSC_TRUE));
    o->mem_start += o->MB;
    o->mem_fill = 0;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputGetDrawCounts(McOutput o, PetscInt64 *appended, PetscInt64 *committed)
{
  PetscFunctionBeginUser;
  if (MC_RELAY_PROXY(o)) {
    PetscInt m = o->relay->nl ? o->relay->sfill[0] : 0;
    for (PetscInt i = 1; i < o->relay->nl; i++) m = PetscMin(m, o->relay->sfill[i]);
    if (appended) *appended = o->relay->sdraw0 + m;
    if (committed) *committed = -1;
    PetscFunctionReturn(0);
  }
  if (appended) *appended = o->block_start + McMinFill(o);
  if (committed) *committed = o->committed;
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputIsWriter(McOutput o, PetscBool *writer)
{
  PetscFunctionBeginUser;
  *writer = MC_RELAY_PROXY(o) ? PETSC_FALSE : PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputCreate(const char *path, const McOutputSpec *spec, McOutput *out)
{
  PetscFunctionBeginUser;
  if (McRelayActive_Private(spec)) PetscCall(McRelayOpen_Private(path, spec, PETSC_FALSE, out));
  else PetscCall(McOutputCreate_Private(path, spec, out));
  PetscFunctionReturn(0);
}

/* A progress file left by the run being overwritten would count draws
 * that the create is about to truncate away. */
static PetscErrorCode McRemoveProgress(McOutput o)
{
  PetscFunctionBeginUser;
  PetscCheck(unlink(o->progress_path) == 0 || errno == ENOENT, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE,
             "output file %s: cannot remove the old progress file %s: %s", o->path, o->progress_path, strerror(errno));
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputCreate_Private(const char *path, const McOutputSpec *spec, McOutput *out)
{
  McOutput       o;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  *out = NULL;
  PetscCheck(spec->overwrite || access(path, F_OK) != 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "output file %s exists; refusing to overwrite it (remove it, or force overwriting: --force)", path);
  /* HDF5 would print its own error stack on stderr; every call is checked
   * and its innermost message goes into our error instead. */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  PetscCall(McOutputAlloc_Private(path, spec, &o));
  /* Overwriting (--force) a file that another run still writes would
   * truncate that run's draws under it (its SWMR writing has dropped
   * HDF5's own lock): take the writer's lock before the truncating
   * create, which keeps the file (the inode the lock is on). */
  ierr = access(path, F_OK) == 0 ? McOutputLock_Private(o, PETSC_TRUE) : 0;
  if (!ierr) ierr = McRemoveProgress(o);
  if (!ierr) ierr = McOutputBuildLayout_Private(o, spec);
  if (!ierr) {
    MC_H5(o, o->path, H5Fstart_swmr_write(o->file));
    if (o->lock_fd < 0) ierr = McOutputLock_Private(o, PETSC_TRUE);
    if (!ierr) ierr = McOutputWriteProgress_Private(o);
  }
  if (ierr) {
    PetscCall(McOutputFree_Private(&o, NULL));
    PetscCall(ierr);
  }
  *out = o;
  PetscFunctionReturn(0);
}

PetscErrorCode McOutputClose(McOutput *out)
{
  McOutput       o = *out;
  PetscErrorCode ierr = 0;
  PetscBool      was_failed, close_failed;
  char           path[PETSC_MAX_PATH_LEN];

  PetscFunctionBeginUser;
  if (!o) PetscFunctionReturn(0);
  /* After a write error the error has been reported where it happened; the
   * file keeps its last successful flush and is only released here. */
  was_failed = o->failed;
  if (!was_failed) ierr = McOutputFlush(o);
  PetscCall(PetscStrncpy(path, o->path, sizeof path));
  PetscCall(McOutputFree_Private(out, &close_failed));
  PetscCall(ierr);
  PetscCheck(was_failed || !close_failed, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "output file %s: closing failed (the file holds the draws of the last successful flush)", path);
  PetscFunctionReturn(0);
}
