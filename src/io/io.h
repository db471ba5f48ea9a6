/* io: the sample sink. Streams MCMC draws into one HDF5 file that ArviZ,
 * xarray (h5netcdf), netCDF4 and h5py read without conversion, that h5py can
 * read while the run writes (SWMR), and from which a killed run resumes.
 *
 * The one idea: every buffer is allocated when the file is created, a block
 * of B draws per chain is copied into it, and a full block becomes one
 * hyperslab write per dataset followed (per the flush policy) by one
 * H5Fflush and an atomic rewrite of the side-car "<file>.progress". What a
 * reader sees after a crash is exactly the last completed flush.
 *
 * The layout follows ../shared/OUTPUT.md; README.md ("## Output file")
 * describes it for users. This header needs only plain C arrays: the sampler
 * hands in doubles, the sink knows nothing about models or meshes. */
#pragma once
#include <petscsys.h>
#include <stddef.h>
#include <stdint.h>

#define MC_OUTPUT_DEFAULT_BLOCK 256
#define MC_OUTPUT_DEFAULT_MEMORY_BLOCK 64

/* A constant array of the run, stored once in constant_data/ when the file
 * is created (KL modes, MAP point, Laplace eigenpairs, prior mean): a
 * vector over one named dimension or a row-major matrix over two. Every
 * dimension gets an int64 coordinate 0..n-1 in constant_data/ (shared by
 * the arrays that name it, which must agree on its size); a dimension named
 * "param" of nparams values gets the parameter labels instead. An array
 * whose last dimension is "node" is a field on the mesh (value i at row i
 * of /geometry/vertices of mesh_file): it carries the attribute mesh_file
 * and the XDMF file shows it (one nodal attribute per row of a matrix). */
typedef struct {
  const char   *name;        /* dataset name in constant_data/ */
  PetscInt      ndims;       /* 1 or 2 */
  const char   *dims[2];     /* dimension names, e.g. {"kl_mode", "node"} */
  PetscInt      shape[2];    /* sizes, >= 1 */
  const double *values;      /* shape[0] (x shape[1]) values, row-major */
  const char   *description; /* attribute "description"; NULL = none */
} McOutputConstant;

/* What the file holds. Everything pointed to is copied by McOutputCreate
 * (or McOutputOpenResume) and may be freed by the caller afterwards.
 * Start from McOutputSpecInit() so that new fields get their defaults. */
typedef struct {
  PetscInt           nchains;     /* C >= 1 */
  PetscInt           nparams;     /* P >= 1 */
  const char *const *param_names; /* P labels, e.g. "xi_0"; NULL = "theta_0", ... */
  const char        *param_var;   /* name of the [C, N, P] dataset; NULL = "theta" */
  PetscInt           nqoi;        /* named scalar quantities per draw (posterior/<name>) */
  const char *const *qoi_names;

  PetscInt      field_size;  /* nv: FE field values at mesh vertices; 0 = no fields */
  PetscInt      field_thin;  /* T: a field sample is stored at global draws 0, T, 2T, ... */
  const char   *field_name;  /* NULL = "u" */
  const double *field_truth; /* nv values or NULL (synthetic runs) */
  const char   *mesh_file;   /* attribute on the field; NULL = "run_mesh.h5" */

  PetscInt block_size;    /* B draws per chain buffered; 0 = MC_OUTPUT_DEFAULT_BLOCK */
  PetscInt flush_blocks;  /* H5Fflush every this many full blocks; 0 = 1 */
  double   flush_seconds; /* > 0: instead, flush at the first block end this long after the last flush */
  PetscInt memory_block;  /* memory-trace rows buffered; 0 = MC_OUTPUT_DEFAULT_MEMORY_BLOCK */

  PetscInt      nobs;          /* M observed values (observed_data/y); 0 = none */
  const double *y;             /* M values */
  PetscInt      sensor_dim;    /* coordinates per sensor; 0 = none */
  const double *sensor_coords; /* [M][sensor_dim] row-major, or NULL */
  double        noise_sigma;   /* noise standard deviation; NaN (default) = not written */
  PetscInt                nconstants; /* arrays written to constant_data/ at creation */
  const McOutputConstant *constants;

  const char *program_version; /* NULL = this build's MC version */
  const char *config_text;     /* the configuration file's text; NULL = "" */
  const char *created_at;      /* ISO 8601; NULL = now (UTC) */
  const char *model_hash;      /* identifies the model; a resume must give the same */
  PetscBool   overwrite;       /* replace an existing file (else refuse with an error) */

  /* Parallel runs (relay.c). comm: MPI_COMM_NULL (the default) or one rank:
   * this process runs every chain and writes. Several ranks: the calls
   * marked "collective" below are collective on comm; rank 0 is the one
   * writer of the file (SWMR allows one) and the others relay their chains'
   * draws to it in blocks (McOutputExchange). chain_rank[c] is the rank of
   * comm that runs chain c (NULL: all on rank 0). */
  MPI_Comm           comm;
  const PetscMPIInt *chain_rank;
} McOutputSpec;

/* One kept draw of one chain. Pointers are read during the call only. */
typedef struct {
  const double *theta; /* P parameter values (whitened) */
  double        lp;    /* log posterior density, up to a constant */
  double        acceptance_rate;
  double        step_size;
  PetscBool     accepted;
  PetscBool     failed; /* the forward solve of the proposal failed (rejected) */
  const double *qoi;    /* nqoi values; may be NULL when nqoi == 0 */
  /* nv values. Required at draws d with d % T == 0 (stored in
   * posterior_fields); optional at the others. Every field passed, stored
   * or not, enters the running (Welford) mean and std of fields/. */
  const double *field;
  /* Wall seconds of the run's sampling loop when the draw was recorded
   * (timing/seconds): what ESS per second is computed from. */
  double seconds;
} McOutputDraw;

/* One row of the memory trace (memory/). */
typedef struct {
  PetscInt64 iteration;
  PetscInt64 rss_bytes;
  PetscInt64 live_objects;
  PetscInt64 live_bytes;
  PetscInt64 collections;
} McOutputMemoryRow;

typedef struct _p_McOutput *McOutput;

/* Fills spec with defaults (all counts 0, noise_sigma NaN, field_thin 1). */
PetscErrorCode McOutputSpecInit(McOutputSpec *spec);

/* Creates path with the full layout, starts SWMR writing and writes an empty
 * progress file. Refuses an existing path unless spec->overwrite.
 * Collective: rank 0 creates the file, an error there is an error on every
 * rank (the others' message names the file and points to rank 0's).
 * Ownership: returns a new McOutput in *out; copies everything in spec. */
PetscErrorCode McOutputCreate(const char *path, const McOutputSpec *spec, McOutput *out);

/* Reopens a file written by McOutputCreate to continue after its last valid
 * checkpoint: draws, field samples and memory rows past the checkpoint are
 * truncated, the partial block is read back into the buffers and appending
 * continues exactly where the checkpoint was taken. Fails with a clear
 * message if spec->model_hash differs from the file's, if the dimensions
 * differ, or if the file has no valid checkpoint. Works on a file left by a
 * killed writer (clears HDF5's "open for writing" mark). Collective like
 * McOutputCreate; rank 0 sends the checkpoint record to every rank.
 * Ownership: returns a new McOutput in *out; copies everything in spec. */
PetscErrorCode McOutputOpenResume(const char *path, const McOutputSpec *spec, McOutput *out);

/* Appends the next draw of chain c. Copies into the block buffers (no
 * allocation); writes when every chain has filled the block. Chains advance
 * in lockstep within a block: a chain may run at most B draws ahead.
 * Parallel: c must run on this rank; on a rank other than 0 the draw is
 * staged until McOutputExchange, and a field may be passed only at the
 * draws that store one (d % T == 0). Ownership: borrows draw. */
PetscErrorCode McOutputAppendDraw(McOutput out, PetscInt chain, const McOutputDraw *draw);

/* Appends one memory-trace row. Collective in a parallel run: rank 0 stores
 * the sums over the ranks of RSS, live objects, live bytes and collections
 * (every rank calls it at the same iteration). Ownership: borrows row. */
PetscErrorCode McOutputAppendMemory(McOutput out, const McOutputMemoryRow *row);

/* Writes every draw that all chains have (also a partial block), the
 * memory rows and the field summary, then H5Fflush and the progress file.
 * Parallel: not collective; it writes what rank 0 holds (call
 * McOutputExchange first) and does nothing on the other ranks. */
PetscErrorCode McOutputFlush(McOutput out);

/* Flushes (all chains must have the same number of draws) and writes a
 * checkpoint: the per-chain opaque blobs of the sampler (state, RNG,
 * adaptation, counters) together with the sink's own state (draw count,
 * Welford accumulators), into the slot not holding the newest valid
 * checkpoint, sealed by a checksum. blobs[i] and sizes[i] belong to the
 * i-th chain this rank runs (all chains in a serial run), in increasing
 * chain order. Collective in a parallel run: the draws are exchanged and
 * the blobs gathered on rank 0, which writes. Ownership: borrows blobs. */
PetscErrorCode McOutputWriteCheckpoint(McOutput out, const void *const *blobs, const size_t *sizes);

/* Parallel runs: every rank's staged draws go to rank 0 (one gather of
 * whole blocks, never per draw), which appends them (writing the blocks
 * that become full, flushing per its policy). Collective; no-op in a serial
 * run. Call it when a block ends, before a flush that must hold every
 * chain, and at the end. */
PetscErrorCode McOutputExchange(McOutput out);

/* Whether this process writes the file (rank 0 of a parallel run, or a
 * serial run). */
PetscErrorCode McOutputIsWriter(McOutput out, PetscBool *writer);

/* The blob of chain c in the newest checkpoint (loaded by McOutputOpenResume
 * or written by McOutputWriteCheckpoint), with the draw count it belongs to.
 * Parallel: on every rank after McOutputOpenResume (rank 0 sends the record
 * to all), on rank 0 only after McOutputWriteCheckpoint.
 * Ownership: *blob is borrowed, valid until the next checkpoint or close. */
PetscErrorCode McOutputReadCheckpoint(McOutput out, PetscInt chain, const void **blob, size_t *size, PetscInt64 *draws);

/* Draws per chain appended so far (written or buffered, all chains equal in
 * lockstep) and draws committed to disk by the last flush (-1 on a
 * parallel run's ranks other than 0, which do not know it). */
PetscErrorCode McOutputGetDrawCounts(McOutput out, PetscInt64 *appended, PetscInt64 *committed);

/* Flushes what is buffered, closes the file and frees everything; *out =
 * NULL. After a write error (already returned by the call that hit it) it
 * only releases and returns 0: the file keeps what the last successful
 * flush wrote, marked like after a crash (read it with h5py swmr=True, or
 * run h5clear -s --increment=0 first), and McOutputOpenResume continues it.
 * Ownership: destroys *out. */
PetscErrorCode McOutputClose(McOutput *out);

/* ------------------------------------------------------- reading back */

/* The text of a root attribute of an output file (e.g. "config",
 * "model_hash"), also of a file left open by a killed writer.
 * Ownership: *value is new (PetscFree). */
PetscErrorCode McOutputReadRootAttribute(const char *path, const char *name, char **value);

/* The number of chains of an output file (the length of posterior/chain),
 * also of a file left open by a killed writer. */
PetscErrorCode McOutputReadChainCount(const char *path, PetscInt *nchains);

/* The first n draws of chain c of the float64 per-draw variable name (its
 * path, e.g. "sample_stats/lp" or "posterior/theta"), ncols values per draw
 * (the first ncols parameters of theta; 1 otherwise) into values[n][ncols].
 * n may not exceed the draws written. Ownership: borrows values. */
PetscErrorCode McOutputReadDraws(McOutput out, const char *name, PetscInt chain, PetscInt64 n, PetscInt ncols, double *values);

/* ------------------------------------------------------ mesh and XDMF */

/* An FE mesh in plain arrays: vertex i carries the field's value i. */
typedef struct {
  PetscInt       dim;       /* coordinates per vertex: 2 or 3 */
  PetscInt       nvertices;
  const double  *coords;    /* [nvertices][dim] */
  PetscInt       ncells;
  PetscInt       corners;   /* vertices per cell: 3 triangle, 4 quadrilateral (dim 2) or tetrahedron (dim 3), 8 hexahedron */
  const int64_t *cells;     /* [ncells][corners] vertex rows, corners in XDMF (VTK) order */
} McOutputMesh;

/* Writes the mesh file: /geometry/vertices float64 [nv, dim] and
 * /viz/topology/cells int64 [nc, corners] (PETSc DMView's paths), replacing
 * path atomically. Ownership: borrows mesh. */
PetscErrorCode McOutputWriteMesh(const char *path, const McOutputMesh *mesh);

/* Writes (atomically replaces) the XDMF file xmf, next to the output file
 * and mesh_file, tying the mesh to fields/truth, each chain's fields/mean
 * and fields/std, and the field samples committed so far (a temporal
 * collection over the global draw index). Ownership: borrows everything. */
PetscErrorCode McOutputWriteXdmf(McOutput out, const char *xmf, const char *mesh_file, const McOutputMesh *mesh);
