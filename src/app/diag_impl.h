/* mcmc-diag internals shared by diag_read.c (HDF5 -> these structs) and
 * diag_report.c (statistics, table and JSON). */
#pragma once
#include "app/app.h"
#include "diag/diag.h"

#include <hdf5.h>

/* A dataset of /posterior that quantities come from (diag_read.c). */
typedef struct McDiagSource McDiagSource;

typedef struct {
  char         *name; /* display name: the param label, QoI or statistic name */
  PetscReal    *x;    /* C*N draws, chain-major, or NULL once summarised */
  McDiagSummary s;
} McDiagVar;

typedef struct {
  PetscInt  draws;       /* draws flushed in this chain */
  PetscReal accepted;    /* fraction of accepted proposals after --burn; NaN = not recorded */
  PetscReal accept_prob; /* mean MH acceptance probability after --burn; NaN = not recorded */
  PetscReal step_size;   /* last recorded step size; NaN = not recorded */
  PetscInt  failed;      /* failed forward solves after --burn; -1 = not recorded */
  PetscReal seconds;     /* timing/seconds at the last used draw; NaN = not recorded */
} McDiagChain;

typedef struct {
  PetscBool   present;
  char        name[64]; /* field name from posterior_fields (or "field") */
  PetscInt    C, nv;
  PetscInt64 *count; /* [C] samples in each chain's running mean/std */
  PetscReal  *mean;  /* [C*nv] */
  PetscReal  *std;   /* [C*nv], divisor n-1 */
  PetscReal  *truth; /* [nv] or NULL */
} McDiagFields;

typedef struct {
  PetscInt    rows;
  PetscInt64 *iteration, *rss, *live_objects, *live_bytes, *collections;
} McDiagMemory;

/* One file of several combined (McDiagDataMerge_Private). */
typedef struct {
  const char  *path;
  PetscBool    swmr;
  PetscInt     C, chain0;  /* its chains are chains chain0 .. chain0+C-1 of the combination */
  PetscInt     file_draws;
  McDiagMemory memory;
} McDiagFile;

typedef struct {
  const char  *path; /* NULL for several files combined */
  PetscBool    swmr; /* opened as a SWMR reader (the file may be growing); several files: all were */
  PetscInt     C;
  PetscInt     file_draws; /* draws per chain the file's draw dimension holds */
  PetscInt     burn, N;    /* draws dropped and used per chain */
  PetscReal    seconds;    /* the largest of the chains' seconds: what ESS/s divides by; NaN = not recorded */
  McDiagChain *chains;
  PetscInt     nvars;
  McDiagVar   *vars;
  McDiagFields fields;
  McDiagMemory memory;        /* one file's (rows 0 for several: see files) */
  char         model_hash[256]; /* the root attribute model_hash, "" if none */
  PetscInt     nfiles;        /* 0: one file (path); else the files combined */
  McDiagFile  *files;
  /* One file read but for its draws: the file, still open, and the
   * datasets its quantities come from (McDiagDataReadDraws_Private). */
  hid_t         h5;
  McDiagSource *src;
  PetscInt      nsrc;
} McDiagData;

/* Opens opt->file and reads everything mcmc-diag reports but the draws of
 * its quantities, whose names it gives to vars (nvars of them); the file
 * stays open for McDiagDataReadDraws_Private. The used draws of every chain
 * will be burn .. burn+N, N the shortest chain's draws after the burn-in
 * but at most max_used. Ownership: fills *d, freed by
 * McDiagDataFree_Private. */
PetscErrorCode McDiagDataRead_Private(const McDiagOptions *opt, PetscInt max_used, McDiagData *d);
/* The draws of opt->file's shortest chain (what bounds the used draws). */
PetscErrorCode McDiagDataShortest_Private(const McDiagOptions *opt, PetscInt *shortest);
PetscErrorCode McDiagDataFree_Private(McDiagData *d);
/* Summarises the quantities of n files read by McDiagDataRead_Private with
 * the same used draws, their chains one after the other, into vars (the
 * first file's order). The draws are read a block of parameters at a
 * time, of every file together (at most --memory bytes), each block
 * summarised and freed before the next: memory stays within one block
 * whatever the number of quantities and files. */
PetscErrorCode McDiagDataReadDraws_Private(const McDiagOptions *opt, PetscInt n, McDiagData *parts, McDiagVar *vars);
/* Combines n files' data (read with the same used draws) into *d: their
 * chains one after the other, checked to be of one model with the same
 * quantities. Ownership: takes parts' contents but their files and
 * sources (each left to be freed by McDiagDataFree_Private); *d is new. */
PetscErrorCode McDiagDataMerge_Private(PetscInt n, McDiagData *parts, McDiagData *d);

/* For k < n: vars[k] gets column at[k] of buf (C*N rows of w values, the
 * read block) as its draws, is summarised, and its draws freed. The
 * quantities are shared among threads (diag_vars.c); the results are the
 * same for any number of threads. */
PetscErrorCode McDiagVarsProcess_Private(PetscInt C, PetscInt N, const PetscReal *buf, PetscInt w, const PetscInt *at,
                                         PetscInt n, McDiagVar *vars);
/* How many threads summarise n quantities of S draws each. */
PetscInt McDiagThreads_Private(PetscInt S, PetscInt n);
