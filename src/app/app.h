/* The application layer: what the programs share (command-line handling,
 * version report, exit codes). Nothing below src/app/ includes this header. */
#pragma once
#include "config/config.h"
#include "io/io.h"
#include "mcmc/mcmc.h"
#include "model/model.h"
#include "obj/obj.h"

#include <stdio.h>

/* Exit codes of mcmc-run, documented in --help and the README. */
enum {
  MC_EXIT_OK = 0,
  MC_EXIT_USAGE = 1,   /* usage or configuration error */
  MC_EXIT_RUNTIME = 2, /* runtime failure */
  MC_EXIT_MEMORY = 3,  /* memory assertion failed */
  MC_EXIT_SIGNAL = 4   /* stopped on a signal, checkpoint written */
};

/* Prints the program's version and the versions of the libraries it runs
 * with (PETSc, HDF5, GSL, MPI) to out. Safe before PetscInitialize. */
void McPrintVersion(FILE *out, const char *prog);

/* Before MPI_Init, in a process no launcher started (an MPI singleton):
 * Open MPI's point-to-point layer set to ob1 unless the environment sets
 * one, since a singleton's only peer is itself (singleton.c). */
void McSingletonDefaults(void);

/* Splits argv into the program's own long options (--name or --name=value,
 * and plain arguments) and PETSc's single-dash options, which go to
 * PetscInitialize. petsc_argv must hold argc+1 pointers; petsc_argv[0] is
 * argv[0]. Returns the number of PETSc arguments (including argv[0]); the
 * own arguments are compacted into own_argv (own_argv[0] = argv[0]) and
 * *own_argc is set. A single "--" ends the program's options: everything
 * after it goes to PETSc. */
int McSplitArgs(int argc, char **argv, char **own_argv, int *own_argc, char **petsc_argv);
/* The value of our option name at argv[*i]: "--name=value", or "--name"
 * and the next word (*i then advances past it; "" when there is none).
 * NULL when argv[*i] is not that option. */
const char *McOptionValue(const char *name, int argc, char **argv, int *i);

/* What mcmc-run does with its configuration. */
typedef enum {
  MC_RUN_SAMPLE,      /* load, validate and run */
  MC_RUN_CHECK,       /* --check: validate, print "CONFIG: ok" */
  MC_RUN_PRINT_CONFIG, /* --print-config: validate, print the resolved configuration as TOML */
  MC_RUN_MAP,          /* --map: compute the MAP point and the Laplace approximation, print them, no sampling */
  MC_RUN_SERVE         /* --serve: answer UM-Bridge requests for the configuration's models */
} McRunMode;

/* What the command line adds to the configuration. */
typedef struct {
  McRunMode mode;
  PetscBool quiet;      /* --quiet: no progress on stderr */
  PetscBool force;      /* --force: replace an existing output file */
  PetscInt  iterations; /* --iterations N: replaces [chain] iterations (burn-in scaled alike); 0 = keep */
  struct McRunStats_ *stats; /* when set, the run's measurements go here (mc-bench); NULL = none */
  const char *resume;   /* --resume FILE: continue the run in FILE from its last checkpoint; NULL = new run */
  const char *listen;   /* --listen HOST:PORT with --serve; NULL: MC_SERVE_DEFAULT_LISTEN */
  PetscInt    seed;     /* --seed S: replaces [chain] seed; -1 = keep */
  const char *output;   /* --output PATH: replaces [output] path; NULL = keep */
} McRunOptions;

/* What a sampling run measured, for the benchmark (mc-bench). Times are
 * wall seconds summed over the loop; steps + collection + output + the
 * loop's own bookkeeping = loop. */
typedef struct McRunStats_ {
  PetscInt       iterations;     /* iterations run, all chains */
  PetscInt       burn_in;        /* per chain */
  PetscLogDouble loop;           /* the whole loop */
  PetscLogDouble loop_cpu;       /* CPU time of the process in the loop (other jobs on the machine don't count) */
  PetscLogDouble steps;          /* in the chains' steps, recording of draws excluded */
  PetscLogDouble collection;     /* in the collector and the memory checks (with their trace rows) */
  PetscLogDouble output;         /* recording draws (sink) and flushing the output */
  PetscBool      baseline;       /* whether the allocation counts below exist */
  PetscInt       base_it;        /* iteration of the memory baseline */
  PetscReal      allocs_project; /* allocation calls per iteration after the baseline: project allocator */
  PetscReal      allocs_petsc;   /* ... PETSc's */
  PetscReal      factorisations; /* forward numeric factorisations per iteration after the baseline */
  PetscInt64     rss_start;      /* process RSS at the loop's start, bytes */
  PetscInt64     rss_end;        /* ... and at its end */
  PetscReal      acceptance;     /* chain 0, after burn-in */
  PetscInt       failed;         /* failed forward solves, all chains */
} McRunStats;

/* Samples the configuration file config like McRunMain, with PETSc already
 * initialised (and the memory hooks installed) by the caller: mc-bench
 * measures the bare forward solve in the same process first. *code is the
 * exit code McRunMain would return. */
PetscErrorCode McRunSample(const char *config, const McRunOptions *opt, int *code);

/* Runs mcmc-run on the configuration file config: installs the memory
 * hooks, initialises PETSc with petsc_argv (PETSc's options only), loads and
 * validates the configuration (an error in it is one line
 * "file:line:col: message" on stderr and exit code 1), does what opt->mode
 * says, finalises. Returns an exit code. */
int McRunMain(int petsc_argc, char **petsc_argv, const char *config, const McRunOptions *opt);

/* [solver] petsc_options into PETSc's options database (command-line
 * options win). */
PetscErrorCode McRunApplySolverOptions(const McConfig *cfg);

/* ------------------------------------------------------------- UM-Bridge */

#define MC_SERVE_DEFAULT_LISTEN "127.0.0.1:4242"

/* mcmc-run --serve (src/app/serve.c): loads config, sets its problem up and
 * serves the models posterior, forward, loglikelihood and logprior over
 * UM-Bridge 1.0 on opt->listen until SIGINT or SIGTERM. *code is the exit
 * code (1: configuration or --listen error, 2: the server failed, 3: a
 * memory assertion failed). Needs PETSc initialised, one rank. */
PetscErrorCode McServe(const char *config, const McRunOptions *opt, int *code);

/* A client of one UM-Bridge model (src/app/umbridge_client.c): one
 * persistent HTTP connection (libcurl keep-alive), requests retried with
 * backoff on timeouts, refused connections and 5xx answers. */
typedef struct McUmbClient_ *McUmbClient;
typedef struct {
  const char *url, *name, *config; /* config: a JSON object's text */
  PetscReal   timeout;             /* seconds per request */
  PetscInt    retries;             /* retries after the first attempt */
  PetscReal   backoff;             /* seconds before the first retry, doubling */
} McUmbClientSpec;
/* What a call found: OK; REJECTED, the model answered InvalidInput for this
 * input (it cannot be evaluated there: a rejected proposal); FAULT, the
 * server could not be reached or kept failing after every retry (then
 * McUmbClientGetError says why). */
typedef enum { MC_UMB_OK = 0, MC_UMB_REJECTED, MC_UMB_FAULT } McUmbStatus;
/* Connects: GET /Info (protocol 1.0, the model listed), POST /ModelInfo,
 * /InputSizes, /OutputSizes (one input and one output vector). A problem a
 * user can fix (wrong url or name, a refused config) sets *valid =
 * PETSC_FALSE and msg; *client must still be destroyed. Ownership: *client
 * is new (McUmbClientDestroy). */
PetscErrorCode McUmbClientCreate(const McUmbClientSpec *spec, McUmbClient *client, char *msg, size_t len,
                                 PetscBool *valid);
PetscErrorCode McUmbClientDestroy(McUmbClient *client);
PetscErrorCode McUmbClientGetSizes(McUmbClient c, PetscInt *nin, PetscInt *nout);
PetscErrorCode McUmbClientSupports(McUmbClient c, PetscBool *evaluate, PetscBool *gradient, PetscBool *jacobian,
                                   PetscBool *hessian);
/* out[nout] = F(x[nin]). Borrows everything. */
PetscErrorCode McUmbClientEvaluate(McUmbClient c, const PetscReal *x, PetscReal *out, McUmbStatus *st);
/* g[nin] = J(x)^T sens[nout]. */
PetscErrorCode McUmbClientGradient(McUmbClient c, const PetscReal *x, const PetscReal *sens, PetscReal *g,
                                   McUmbStatus *st);
/* The reason of the last MC_UMB_FAULT or MC_UMB_REJECTED (borrowed). */
const char *McUmbClientGetError(McUmbClient c);
/* Requests sent, retries made, and wall seconds spent in requests. */
PetscErrorCode McUmbClientGetStats(McUmbClient c, PetscInt64 *calls, PetscInt64 *retries, PetscReal *seconds);

/* ------------------------------------------------------------- the problem */

/* The problem a configuration describes, set up (src/app/problem.c). An
 * object ("McProblem") like its components; it holds one reference to each.
 * Not a container: nothing refers back to a problem, so it can never be
 * part of a cycle, and the references it holds keep its components
 * reachable for the collector as any outside reference does. */
typedef struct {
  MC_OBJECT_HEAD;
  McMesh        mesh;
  McForward     fw;
  McObsOperator obs;
  McPrior       prior;
  McPosterior   post;
  Vec           m0;         /* prior mean field */
  Vec           mtrue;      /* the truth (synthetic data), NULL otherwise */
  Vec           ml;         /* lumped mass (borrowed from the prior) */
  Vec           work;
  PetscInt      nparams;    /* length of xi and of m (P1 nodal values) */
  PetscInt      nobs;
  PetscReal    *obs_coords; /* nobs x dim */
  PetscReal     sigma;      /* absolute noise standard deviation */
  /* [model] kind = "umbridge": the remote model; then mesh, fw, obs,
   * prior, post, m0, ml and work are NULL, nparams is the model's input
   * size and nobs the number of observations (0 unless output =
   * "observations", then data[nobs] holds them). */
  McUmbClient   umb;
  McUmbOutput   umb_output;
  PetscReal    *data;
  MPI_Comm      comm; /* borrowed: every PETSc object of the problem lives on it */
  PetscReal    *rwm_covariance; /* [sampler] proposal_covariance_file: nparams x nparams, else NULL */
} McProblem;

/* Builds mesh, forward model, observation operator, prior, truth and data
 * from cfg. A mistake only visible against the files and meshes cfg names
 * (a label the mesh lacks, a malformed data file, a point outside the mesh)
 * sets *valid = PETSC_FALSE and msg to one line naming file (and line);
 * *problem must then still be destroyed. Ownership: *problem is new; the
 * caller releases it with McProblemDestroy. */
PetscErrorCode McProblemCreate(const McConfig *cfg, McProblem **problem, char *msg, size_t len, PetscBool *valid);
/* The same on comm (a chain group's communicator; McProblemCreate uses
 * PETSC_COMM_WORLD). Nothing built depends on comm's size for one rank:
 * truth and data are the same on every group. comm must outlive the
 * problem. Ownership: as McProblemCreate; borrows comm. */
PetscErrorCode McProblemCreateOnComm(const McConfig *cfg, MPI_Comm comm, McProblem **problem, char *msg, size_t len,
                                     PetscBool *valid);
/* Drops the caller's reference (*problem = NULL), then runs a full
 * collection for the mesh <-> space cycle. Ownership: steals *problem. */
PetscErrorCode McProblemDestroy(McProblem **problem);
/* The mcmc module's name (an MC_KERNEL_* string) of a configured kernel.
 * After mcmc.h the MC_KERNEL_* identifiers are those strings, not
 * config.h's McKernelKind values, so the app compares kernels by name. */
const char *McKernelKindName(McKernelKind k);
/* Reads a text file of rows of `width` numbers (blanks or commas between
 * them, '#' starts a comment, empty lines skipped) -- the [data] and
 * [observations] files. A malformed file sets *valid = PETSC_FALSE and msg to
 * "path:line: what was expected" (or "path: ..." for the whole file).
 * Ownership: *vals (nrows x width) is new (PetscFree); NULL when invalid. */
PetscErrorCode McReadTable(const char *path, PetscInt width, const char *what, PetscInt *nrows, PetscReal **vals,
                           char *msg, size_t len, PetscBool *valid);
/* A numeric dataset of an HDF5 file (h5input.c), rank 1 ([n], dims[1] = 1)
 * or 2: *vals new (PetscFree), row-major. A missing file, a file that is
 * not HDF5, a missing or non-numeric dataset set *valid = PETSC_FALSE and
 * msg to one line naming file and dataset; *vals is then NULL. */
PetscErrorCode McReadH5Dataset(const char *path, const char *dataset, PetscInt *rank, PetscInt dims[2],
                               PetscReal **vals, char *msg, size_t len, PetscBool *valid);
/* A field of n nodal values from path: an HDF5 file's dataset (NULL or ""
 * = "fields/mean", an earlier run's posterior mean: [chains, n] averaged
 * with the weights of "count" beside it; or any [n] dataset), or a text
 * file of n values (McReadTable). Wrong size or a non-finite value is
 * invalid (message naming file, dataset and entry). Ownership: *vals new
 * (PetscFree), NULL when invalid. */
PetscErrorCode McReadFieldFile(const char *path, const char *dataset, PetscInt n, PetscReal **vals, char *msg,
                               size_t len, PetscBool *valid);
/* The fixed-length string attribute name of object (a path) in the HDF5
 * file path, into value[len]; *found = PETSC_FALSE when there is none
 * (no file, no object, another type). */
PetscErrorCode McReadH5StringAttribute(const char *path, const char *object, const char *name, char *value,
                                       size_t len, PetscBool *found);
/* The [observations] and [data] files: rows of width numbers from path,
 * an HDF5 file's dataset (NULL or "" = default_dataset) of shape
 * [rows, width] (or [rows] when width is 1), or any other file as text
 * (McReadTable). where (wlen bytes) receives how later messages name the
 * source: the path, or 'path: dataset "name"'. A missing dataset, the wrong
 * shape or a non-finite value is invalid, with msg naming file, dataset and
 * row. Ownership: *vals new (PetscFree), NULL when invalid. */
PetscErrorCode McReadTableFile(const char *path, const char *dataset, const char *default_dataset, PetscInt width,
                               const char *what, PetscInt *nrows, PetscReal **vals, char *where, size_t wlen,
                               char *msg, size_t len, PetscBool *valid);
/* The value at x of the named analytic truth kind (>= MC_TRUTH_INCLUSION;
 * truths.c, where each is defined) of amplitude a on the box [lo, hi] of
 * dimension dim, without the prior mean. */
PetscReal McAnalyticTruth(McTruthKind kind, PetscInt dim, const PetscReal lo[], const PetscReal hi[], PetscReal a,
                          const PetscReal x[]);
/* Mass-weighted L2 error ||m - mtrue|| (lumped mass) and the same relative
 * to ||mtrue|| (-1 when the truth is 0). Needs a truth. Borrows m. */
PetscErrorCode McProblemFieldError(McProblem *pb, Vec m, PetscReal *abs_err, PetscReal *rel_err);
/* The sampler's target: potential, gradient, QoIs "m_mean" (domain average
 * of m) and "misfit" (the potential). Ownership: returns a new reference;
 * the target keeps its own reference to the posterior. */
PetscErrorCode McProblemCreateTarget(McProblem *pb, McTarget *target);

/* The mesh of the problem's P1 parameter space as plain arrays (vertex i
 * carries parameter value i), for the output's mesh file and XDMF file.
 * Ownership: *coords and *cells are new (McFree); mesh points into them. */
PetscErrorCode McProblemGetMesh(McProblem *pb, McOutputMesh *mesh, double **coords, int64_t **cells);

/* The sink of one chain (src/app/sink.c): draws to the output file and the
 * traces the summary needs. */
#define MC_RUN_TRACE_XI 3 /* coordinates of xi kept for the summary's ESS */
typedef struct McRunSink_ McRunSink;
/* ndraws: draws the chain keeps; qoi_names (borrowed, must outlive the
 * sink) name the output's QoI variables; field_thin 0: no fields in the output.
 * Ownership: *sink is a new reference that owns *rs (valid while the sink
 * lives); out is borrowed and must outlive every record. */
PetscErrorCode McRunSinkCreate(McProblem *pb, McOutput out, PetscInt chain, PetscInt ndraws, PetscInt nqoi,
                               const char *const *qoi_names, PetscInt field_thin, McRunSink **rs, McSink *sink);
/* The sink's state a checkpoint carries besides the sampler's: the number
 * of draws recorded and (borrowed) the running sum of xi. */
PetscErrorCode McRunSinkGetState(McRunSink *rs, PetscInt *count, Vec *xisum);
/* Puts a freshly created sink in the state of a checkpoint at count draws
 * (the sum of xi is set by the caller through McRunSinkGetState). */
PetscErrorCode McRunSinkRestore(McRunSink *rs, PetscInt count);
/* The count draws recorded so far, read back from out (every draw must have
 * been written, e.g. after a checkpoint): lp, qoi (count x nqoi), xi (count
 * x nxi). Ownership: the three arrays are new (McFree). */
PetscErrorCode McRunSinkReadTraces(McRunSink *rs, McOutput out, PetscInt *count, PetscReal **lp, PetscReal **qoi,
                                   PetscInt *nxi, PetscReal **xi);
/* The same for any chain of out (on the writer): its first n draws, nxi
 * coordinates of xi. Ownership: the three arrays are new (McFree). */
PetscErrorCode McRunReadTraces(McOutput out, PetscInt chain, PetscInt n, PetscInt nqoi, const char *const *qoi_names,
                               PetscInt nxi, PetscReal **lp, PetscReal **qoi, PetscReal **xi);
/* Wall seconds spent recording draws so far (the output's share of a step). */
PetscErrorCode McRunSinkGetSeconds(McRunSink *rs, PetscLogDouble *seconds);
/* Every draw recorded from now on is stamped with PetscTime - clock0 (its
 * timing/seconds). */
PetscErrorCode McRunSinkSetClock(McRunSink *rs, PetscLogDouble clock0);
/* sum += the sum of the recorded xi, *count += their number. */
PetscErrorCode McRunSinkAddMeanXi(McRunSink *rs, Vec sum, PetscInt *count);

/* ------------------------------------- constant arrays (geometry_out.c) */

/* The constant arrays of a run's output file (constant_data/): prior_mean
 * [node]; with KL coordinates kl_eigenvalues [kl_mode] and kl_modes
 * [kl_mode, node]; with a MAP point map_xi [param] and map_m [node]; with a
 * Laplace approximation laplace_eigenvalues [laplace_mode],
 * laplace_eigenvectors [laplace_mode, param] and laplace_modes
 * [laplace_mode, node] (the fields L v_k). */
#define MC_RUN_MAX_CONSTANTS 16
typedef struct {
  PetscInt         n;
  McOutputConstant list[MC_RUN_MAX_CONSTANTS];
  double          *storage[MC_RUN_MAX_CONSTANTS];
} McRunConstants;
/* Fills rc for the problem (nothing for a remote model); xmap and lap may
 * be NULL. Ownership: borrows everything; rc's arrays are new
 * (McRunConstantsFree). */
PetscErrorCode McRunConstantsFill(McProblem *pb, Vec xmap, McLaplace lap, McRunConstants *rc);
PetscErrorCode McRunConstantsFree(McRunConstants *rc);
/* mcmc-run --map: writes <output stem>_map.h5 (a run file with no draws
 * whose constant_data holds the MAP point, the Laplace eigenpairs and the
 * prior's arrays; replaced if it exists), the mesh file <stem>_mesh.h5 and
 * <stem>_map.xmf that shows the fields in ParaView. Ownership: borrows
 * everything. */
PetscErrorCode McRunWriteMapFile(const McConfig *cfg, McProblem *pb, Vec xmap, McLaplace lap, const char *config_text,
                                 const char *model_hash);

/* ------------------------------------------------------ resume (resume.c) */

/* The model hash stored in the output file: "mesh:<16 hex> fem:... pde:...
 * prior:... observations:... data:... noise:...", one FNV-1a 64 hash per
 * model section of the resolved configuration (plus the contents of the
 * files those sections name). Ownership: borrows cfg; fills hash[len]. */
PetscErrorCode McRunModelHash(const McConfig *cfg, char *hash, size_t len);
/* msg: the model sections whose hashes differ, as "[mesh], [prior]". */
void McRunModelHashDiff(const char *stored, const char *now, char *msg, size_t len);

/* The run's plan, stored with each chain's checkpoint so that a resume
 * keeps burn-in and thinning, and the draws' seconds continue. */
typedef struct {
  PetscInt  total; /* iterations per chain, burn-in included */
  PetscInt  burn;
  PetscInt  thin;
  PetscReal seconds; /* wall seconds of the sampling loop up to the checkpoint */
} McRunBlob;
/* Bytes of a chain's checkpoint blob (fixed for a run). */
PetscErrorCode McRunBlobSize(McCheckpoint *ck, Vec xisum, size_t *size);
/* Serialises plan, checkpoint and the sink's state into buf[size] (no
 * allocation). Ownership: borrows everything. */
PetscErrorCode McRunBlobPack(const McRunBlob *plan, McCheckpoint *ck, Vec xisum, PetscInt count, void *buf, size_t size);
/* The inverse: fills plan, ck (created for this chain), xisum and count;
 * a blob of another layout is an error naming the difference. */
PetscErrorCode McRunBlobUnpack(const void *buf, size_t size, McRunBlob *plan, McCheckpoint *ck, Vec xisum, PetscInt *count);

/* mcmc-diag's options (see mcmc-diag --help). */
typedef struct {
  const char *file;   /* the output file, finished or being written (the first of files) */
  const char *vars;   /* comma-separated names to report; NULL = all */
  long long   burn;   /* draws dropped at the start of every chain */
  int         json;   /* JSON instead of the table */
  const char *const *files; /* nfiles output files of one model whose chains are combined; NULL: file alone */
  int                nfiles;
  long long          memory; /* bytes of draws read at once; 0: a quarter of the machine's memory, >= 256 MiB */
} McDiagOptions;

/* Reads the file(s), computes the diagnostics and prints them to out. Needs
 * PETSc initialised; returns a PetscErrorCode (user errors: PETSC_ERR_FILE_*
 * or PETSC_ERR_USER_INPUT, with a message naming the file and object). */
int McDiagReportRun(const McDiagOptions *opt, FILE *out);

/* ------------------------------------------- parallel layout (parallel.c) */

/* How a run's chains lie on the MPI ranks. With R = [parallel]
 * ranks_per_chain (1 for now) and P ranks, C = [chain] chains (0: P / R)
 * chains run in G = P / R groups of R consecutive ranks; chain c runs on
 * group c mod G, so a group runs ceil or floor of C / G chains in turn. More
 * groups than chains (idle ranks) is refused. Each group has its own
 * communicator on which its problem (mesh, forward model, prior) is built;
 * nothing crosses groups per iteration. */
typedef struct {
  PetscMPIInt  rank, size; /* in PETSC_COMM_WORLD */
  PetscInt     R, C, G;    /* ranks per chain, chains, groups */
  PetscInt     group;      /* this rank's */
  MPI_Comm     comm;       /* the group's communicator (owned) */
  PetscInt     nc;         /* chains run here */
  PetscInt    *chains;     /* [nc] their indices, increasing */
  PetscMPIInt *chain_rank; /* [C] world rank of the first rank of the group running chain c */
} McLayout;

/* The layout of cfg on PETSC_COMM_WORLD (collective). A layout the
 * configuration cannot have on this many ranks sets *valid = PETSC_FALSE and
 * msg to one line "file:line: [section] key = value: why" (text: the
 * configuration's text, for the line; may be NULL). Ownership: lay's
 * arrays and communicator are new (McLayoutDestroy). */
PetscErrorCode McLayoutCreate(const McConfig *cfg, const char *text, McLayout *lay, char *msg, size_t len,
                              PetscBool *valid);
PetscErrorCode McLayoutDestroy(McLayout *lay);
/* Element-wise maximum of n flags over all ranks, in place: how the ranks
 * agree on a stop (a signal, a failed memory check) at a round's end.
 * Collective on PETSC_COMM_WORLD; no communication on one rank. */
PetscErrorCode McLayoutAgree(const McLayout *lay, PetscInt n, int *flags);
