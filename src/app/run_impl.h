/* mcmc-run's run, shared by the files that carry it out:
 *   run.c          the run's life: configuration, PETSc options, the
 *                  problem, --map and --check, the exit codes;
 *   run_setup.c    the MAP point and Laplace approximation, the output
 *                  file, the surrogate, the chains, checkpoints;
 *   run_loop.c     the sampling loop: rounds, signals, the progress line,
 *                  memory checks;
 *   run_summary.c  the end-of-run report.
 * Internal to src/app: the public entry points are in app.h. */
#pragma once
#include "app/app.h"

#include <stdint.h>

/* Everything one run holds: an object ("McRun"), so that the run shows in
 * the live-object table like its parts. Created before the configuration is
 * read and released after everything else, it is alive at the memory
 * baseline and at every check, so it never counts as growth. Not a
 * container: nothing refers back to the run. */
typedef struct {
  MC_OBJECT_HEAD;
  const McConfig     *cfg;
  const McRunOptions *opt;
  McProblem          *pb;
  McTarget            target;
  McConfig           *cfg_s;  /* [sampler] surrogate: the configuration of the first stage's model */
  McProblem          *pb_s;   /* ... that model */
  McTarget            target_s; /* ... its target, NULL without a surrogate */
  PetscInt            C;      /* chains of the run */
  McLayout            lay;    /* which of them run here (parallel.c) */
  PetscInt            nc;     /* chains run by this process: lay.nc */
  const PetscInt     *cid;    /* [nc] their indices: lay.chains */
  PetscBool           writer; /* this process writes the output file (rank 0) */
  McChain            *chains; /* nc */
  McRunSink         **sinks;  /* nc, borrowed from the chains' sinks */
  McOutput            out;
  Vec                 xmap; /* MAP point, when computed */
  McLaplace           lap;  /* Laplace approximation there, when computed */
  PetscInt            total, burn, thin, B; /* iterations per chain (burn-in included), output block */
  PetscInt            it;                   /* iterations done by every chain */
  PetscInt            it0;                  /* iteration this process started at (> 0 when resumed) */
  PetscInt            warm_end;             /* iteration of the memory baseline */
  PetscInt            ckpt_every;           /* iterations between checkpoints; 0 = only at the end */
  PetscInt            agreed_it;            /* iteration of the ranks' last agreement */
  char               *config_text;          /* stored in the file as the root attribute "config" */
  char                model_hash[256];
  /* checkpoints: one McCheckpoint and one blob per chain, allocated once */
  McCheckpoint      **ckpts;
  void              **blobs;
  size_t             *blob_sizes;
  /* mesh file and XDMF side-car next to the output file */
  char                mesh_path[PETSC_MAX_PATH_LEN], xmf_path[PETSC_MAX_PATH_LEN];
  McOutputMesh        mesh;
  double             *mesh_coords;
  int64_t            *mesh_cells;
  int                 stopped_by; /* the signal that stopped the loop, 0 = none */
  PetscLogDouble      t0, last_progress; /* t0: this process's loop start (0 before it) */
  PetscReal           seconds0; /* the loop's seconds before this process (from the checkpoint) */
  PetscBool           tty, progress_shown;
  /* memory */
  PetscBool  baseline, warned;
  PetscInt   nchecks;
  PetscInt   base_it;                      /* iteration of the baseline */
  PetscInt64 allocs_project, allocs_petsc; /* allocation calls at the baseline */
  PetscInt64 loop_project, loop_petsc;     /* ... made by the loop after it */
  PetscInt64 factors, loop_factors;        /* forward factorisations at the baseline, by the loop after it */
  PetscInt64 live_objects, live_bytes;     /* at the baseline */
  PetscInt64 grew_objects, grew_bytes;     /* largest growth seen at a check */
  PetscBool  remote_fault;                 /* the UM-Bridge server failed for good */
  McRunStats st;                           /* timings for mc-bench (a few clock reads per round) */
} Run;

/* The Hessian-informed kernels, and starts other than the prior mean, need
 * the MAP point and the Laplace approximation. */
PetscBool McRunNeedsLaplace_Private(const McConfig *cfg);
/* MAP point by Newton-CG (one line per iteration), then the low-rank
 * Laplace approximation there; a MAP that cannot be found sets *code to
 * MC_EXIT_RUNTIME and says why, a UM-Bridge model (no adjoint Hessian)
 * MC_EXIT_USAGE. Ownership: *xmap and *lap are new. */
PetscErrorCode McRunComputeGeometry_Private(const McConfig *cfg, McProblem *pb, Vec *xmap, McLaplace *lap, int *code);
/* Creates the output file (resuming: reopens it at its last checkpoint) and
 * the mesh file next to it. */
PetscErrorCode McRunCreateOutput_Private(Run *r, PetscBool resume);
/* [sampler] surrogate = "p1": the first stage's model and target. */
PetscErrorCode McRunCreateSurrogate_Private(Run *r);
/* This process's chains, their kernels and sinks, and the checkpoint
 * buffers, all allocated before the loop. */
PetscErrorCode McRunCreateChains_Private(Run *r);
/* Every chain's state into the output file, with the draws so far. */
PetscErrorCode McRunCheckpoint_Private(Run *r);
/* The plan (iterations, burn-in, thinning, the loop's seconds), iteration
 * and seed of the file's checkpoint, from chain 0's blob (all chains share
 * them; the seconds are those of rank 0's loop). */
PetscErrorCode McRunReadPlan_Private(McOutput out, McRunBlob *plan, PetscInt *iteration, uint64_t *seed);
/* Puts every chain and sink in the state of the file's checkpoint. */
PetscErrorCode McRunRestoreChains_Private(Run *r);
/* The XDMF side-car, after the flush that committed the fields it names. */
PetscErrorCode McRunWriteXdmf_Private(Run *r);

/* Runs every chain from r->it to r->total with checkpoints, memory checks
 * and the progress line, then writes the last checkpoint. A run that stops
 * early sets *code: MC_EXIT_MEMORY (a memory assertion failed),
 * MC_EXIT_RUNTIME (the UM-Bridge server failed for good) or MC_EXIT_SIGNAL
 * (SIGTERM or SIGINT, checkpoint written); the file holds the samples so
 * far. */
PetscErrorCode McRunLoop_Private(Run *r, int *code);

/* The end-of-run report, printed by the writer; every rank takes part in
 * the gathers. It reads the traces back from the output file. */
PetscErrorCode McRunSummary_Private(Run *r);
