/* Internals of the io module shared by its files (not a public header):
 * the McOutput struct, the HDF5 checking macro and the small HDF5 helpers.
 * McOutput is an object of src/obj/ ("McOutput"): one allocation of the
 * struct through McObjectCreate, owned buffers freed in
 * McOutputFree_Private, which then drops the reference; no references to
 * other objects (not a container). */
#pragma once
#include "io/io.h"
#include "obj/obj.h"
#include <hdf5.h>
#include <hdf5_hl.h>
#include <stdint.h>
#include <stdio.h>

/* Every HDF5 call goes through this: a negative status becomes a PETSc
 * error naming the file, the object (dataset or group path) and HDF5's own
 * innermost message (which carries errno text such as "File too large"). It
 * also marks the sink as failed so no later call writes into a file in an
 * unknown state. */
#define MC_H5(o, what, call) \
  do { \
    if ((call) < 0) { \
      (o)->failed = PETSC_TRUE; \
      PetscCall(McH5Error_Private((o)->path, (what), #call)); \
    } \
  } while (0)

/* The per-draw variables written as [C, N] or [C, N, width] hyperslabs from
 * a [C, B, width] buffer. */
typedef struct {
  char   name[64]; /* path inside the file, for datasets and messages */
  hid_t  dset;
  hid_t  memtype;
  size_t elsize; /* bytes per element in memory */
  size_t width;  /* elements per draw per chain: P or 1 */
  char  *buf;    /* [C][B][width] */
} McDrawVar;

/* The groups of per-draw variables, each with its own draw scale: the
 * scales' paths (layout.c). */
#define MC_DRAW_GROUPS 3
extern const char *const mc_draw_scale_paths[MC_DRAW_GROUPS];

enum { MC_MEM_ITERATION, MC_MEM_RSS, MC_MEM_OBJECTS, MC_MEM_BYTES, MC_MEM_COLLECTIONS, MC_MEM_NCOLS };

struct _p_McOutput {
  MC_OBJECT_HEAD;
  char *path;
  char *progress_path;
  hid_t file;

  PetscInt C, P, nqoi, nv, T, B, MB;
  PetscInt flush_blocks;
  double   flush_seconds;

  /* Per-draw variables: theta, the QoIs, lp, acceptance_rate, step_size,
   * accepted, failed, timing/seconds. The draw coordinates are written
   * after them. */
  McDrawVar *vars;
  PetscInt   nvars;
  hid_t      draw_scales[MC_DRAW_GROUPS]; /* posterior/draw, sample_stats/draw, timing/draw */
  /* Draw groups in the file: MC_DRAW_GROUPS, or 2 in a file resumed that
   * was written before timing/ existed (then nvars leaves out its seconds). */
  int        ngroups;
  int64_t   *draw_buf;       /* [B] values of the draw coordinate */

  /* Field samples: [C][KB][nv] for the samples whose global index k lies in
   * [kb0, kb0 + KB), KB = ceil(B / T) bounds the samples in any block. */
  PetscInt KB;
  double  *field_buf;
  int64_t *fdraw_buf; /* [KB] */
  hid_t    field_dset, field_draw;
  char     field_path[96];

  /* Welford accumulators per chain, updated in place; std is scratch. */
  double  *wmean, *wm2, *wstd;
  int64_t *wcount;
  hid_t    mean_dset, std_dset, count_dset;

  /* Memory trace rows, [MB][MC_MEM_NCOLS]. */
  int64_t   *mem_buf;
  int64_t   *mem_col; /* [MB] scratch for one column */
  hid_t      mem_dset[MC_MEM_NCOLS];
  PetscInt64 mem_start, mem_fill, mem_written;

  /* Position: the buffers hold draws [block_start, block_start + fill[c]);
   * written = draws on file (all chains), committed = at the last flush. */
  PetscInt64  block_start;
  PetscInt   *fill;
  PetscInt64  written, committed;
  PetscInt64  committed_fields, committed_mem;
  PetscInt    blocks_since_flush;
  double      last_flush_time;
  PetscInt64  nflushes;

  /* Checkpoint: two slots written alternately; blobs of the newest. */
  hid_t      ckpt_dset;   /* checkpoint/record [slot, byte] */
  hid_t      ckpt_bytes;  /* checkpoint/byte, its growing scale */
  PetscInt   ckpt_next;   /* slot the next checkpoint goes to */
  PetscInt64 ckpt_seq;    /* sequence number of the newest valid checkpoint (0 = none) */
  PetscInt64 ckpt_draws;  /* draws it belongs to (-1 = none) */
  char      *ckpt_record; /* the newest record, as on file (blobs point into it) */
  size_t     ckpt_size, ckpt_cap;
  char      *ckpt_spare;  /* where the next record is built (then the two swap): */
  size_t     ckpt_spare_cap; /* checkpoints of the same size allocate nothing */

  struct McRelay_ *relay; /* parallel runs (relay.c); NULL in a serial run */

  PetscBool failed;
  int       lock_fd; /* holds an exclusive flock on the file while this process writes it */
};

/* A parallel run's relay (relay.c): which rank runs which chain, and on
 * the ranks other than 0 the staging buffers of their chains' draws. A
 * staged draw is W = P + nqoi + 6 doubles (theta, QoIs, lp, acceptance
 * rate, step size, accepted, failed, seconds); a message of one rank is, per chain it
 * runs, [n, nf, n rows of W, nf fields of nv]. */
typedef struct McRelay_ {
  MPI_Comm     comm; /* a duplicate of spec->comm */
  PetscMPIInt  rank, size;
  PetscMPIInt *owner; /* [C] */
  PetscInt     nl;    /* chains run on this rank */
  PetscInt    *lc;    /* [nl] their indices, increasing */
  PetscInt    *slot;  /* [C] index into lc, -1 elsewhere */
  PetscInt     W;
  size_t       msg_max; /* doubles of one rank's largest message per chain */
  /* ranks other than 0 */
  double    *stage;  /* [nl][B][W] */
  double    *sfield; /* [nl][KB][nv] */
  PetscInt  *sfill, *snf;
  PetscInt64 sdraw0; /* global draw index of staged row 0 */
  double    *send;   /* [nl * msg_max] */
  /* rank 0 */
  double      *recv; /* [C * msg_max] */
  PetscMPIInt *counts, *displs; /* [size] */
} McRelay;

PetscBool      McRelayActive_Private(const McOutputSpec *spec);
PetscErrorCode McRelayOpen_Private(const char *path, const McOutputSpec *spec, PetscBool resume, McOutput *out);
PetscErrorCode McRelayStage_Private(McOutput o, PetscInt c, const McOutputDraw *d);
PetscErrorCode McRelayMemory_Private(McOutput o, const McOutputMemoryRow *row, PetscBool *store);
PetscErrorCode McRelayCheckpoint_Private(McOutput o, const void *const *blobs, const size_t *sizes);
PetscErrorCode McRelayFree_Private(McOutput o);
/* A new McOutput object: every HDF5 id invalid, no lock, no checkpoint,
 * a copy of path; the rest zero. Ownership: *out is new, released by
 * McOutputFree_Private. */
PetscErrorCode McOutputNew_Private(const char *path, McOutput *out);
PetscErrorCode McOutputCreate_Private(const char *path, const McOutputSpec *spec, McOutput *out);
PetscErrorCode McOutputOpenResume_Private(const char *path, const McOutputSpec *spec, McOutput *out);
/* The spare record buffer holds at least need bytes (checkpoint.c). */
PetscErrorCode McOutputEnsureSpareRecord_Private(McOutput o, size_t need);
PetscErrorCode McOutputWriteCheckpoint_Private(McOutput o, const void *const *blobs, const size_t *sizes);
/* Whether this is a parallel run's rank other than 0 (it writes nothing). */
#define MC_RELAY_PROXY(o) ((o)->relay && (o)->relay->rank != 0)

PetscErrorCode McH5Error_Private(const char *path, const char *what, const char *call);
/* Opens path for writing as the one writer of a file a killed writer may
 * have left (h5util.c): its "open for writing" mark cleared and its end of
 * allocation raised to the file's end. fapl gets clear_status_flags.
 * Returns the file, or a negative id with HDF5's error stack set. */
hid_t McH5OpenKilled_Private(const char *path, hid_t fapl);

/* Bytes of HDF5's metadata cache (fixed, see McH5SetCaches_Private):
 * enough for the layout's object headers and chunk indexes; a larger cache
 * only fills, slowly, with index blocks (+0.2 MiB over 1e6 draws at 2 MiB). */
#define MC_H5_METADATA_CACHE (256 * 1024)
/* Bytes of each dataset's chunk cache (small and fixed, see there). */
#define MC_H5_CHUNK_CACHE (64 * 1024)

/* Attribute and dataset helpers (h5util.c). */
PetscErrorCode McH5SetCaches_Private(McOutput o, hid_t fapl);
PetscErrorCode McH5AttrString_Private(McOutput o, hid_t obj, const char *objname, const char *name, const char *value);
PetscErrorCode McH5AttrStringList_Private(McOutput o, hid_t obj, const char *objname, const char *name, PetscInt n, const char *const *values);
PetscErrorCode McH5AttrFillNaN_Private(McOutput o, hid_t obj, const char *objname);
PetscErrorCode McH5GroupCreate_Private(McOutput o, const char *name, hid_t *group);
PetscErrorCode McH5DatasetCreate_Private(McOutput o, hid_t loc, const char *path, const char *name, hid_t type, int rank, const hsize_t *dims, const hsize_t *maxdims, const hsize_t *chunk, hid_t *dset);
PetscErrorCode McH5Write_Private(McOutput o, hid_t dset, const char *what, hid_t memtype, const void *buf);
PetscErrorCode McH5ScaleIndex_Private(McOutput o, hid_t loc, const char *gpath, const char *name, hsize_t n, PetscBool unlimited, hsize_t chunk, hid_t *scale);
PetscErrorCode McH5ScaleStrings_Private(McOutput o, hid_t loc, const char *gpath, const char *name, PetscInt n, const char *const *labels);
PetscErrorCode McH5Attach_Private(McOutput o, hid_t var, const char *varpath, hid_t scale, unsigned axis);
PetscErrorCode McH5FlushDataset_Private(McOutput o, hid_t dset, const char *what);
PetscErrorCode McH5Extent_Private(McOutput o, hid_t dset, const char *what, int axis, hsize_t n);
PetscErrorCode McH5Transfer_Private(McOutput o, hid_t dset, const char *what, hid_t memtype, void *buf, int rank, const hsize_t *memdims, const hsize_t *filestart, const hsize_t *count, PetscBool write);

/* Layout creation and reopening (layout.c). */
PetscErrorCode McOutputBuildLayout_Private(McOutput o, const McOutputSpec *spec);
PetscErrorCode McOutputOpenLayout_Private(McOutput o, const McOutputSpec *spec);

/* Constant arrays (constants.c): written into constant_data/ at creation;
 * the fields among them (mesh_file attribute, last axis nv) listed for the
 * XDMF file, rows = 0 for a vector, else the rows of a matrix. */
typedef struct {
  char     name[64];
  PetscInt rows;
} McOutputFieldConst_Private;
PetscErrorCode McOutputCheckConstants_Private(const McOutputSpec *spec);
PetscErrorCode McOutputConstants_Private(McOutput o, const McOutputSpec *spec);
PetscErrorCode McOutputListFieldConstants_Private(McOutput o, PetscInt nv, PetscInt max, McOutputFieldConst_Private *list, PetscInt *n);
void           McOutputXdmfConstants_Private(FILE *f, const char *run, PetscInt nv, PetscInt n, const McOutputFieldConst_Private *list);

/* Shared set-up of buffers (output.c) and the checkpoint (checkpoint.c). */
PetscErrorCode McOutputAlloc_Private(const char *path, const McOutputSpec *spec, McOutput *out);
PetscErrorCode McOutputFree_Private(McOutput *out, PetscBool *close_failed);
PetscErrorCode McOutputFlushWith_Private(McOutput o, PetscErrorCode (*extra)(McOutput, void *), void *ctx);
PetscErrorCode McOutputTransferMemory_Private(McOutput o, PetscInt64 n, PetscBool write);
PetscErrorCode McOutputWriteProgress_Private(McOutput o);
PetscErrorCode McOutputLock_Private(McOutput o, PetscBool keep);
PetscErrorCode McOutputLoadCheckpoint_Private(McOutput o, PetscInt64 draws_on_file, PetscInt64 fields_on_file, PetscInt64 mem_on_file, PetscInt64 *draws, PetscInt64 *fields, PetscInt64 *mem);
PetscErrorCode McOutputReadBack_Private(McOutput o);
