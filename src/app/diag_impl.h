/* mcmc-diag internals shared by diag_read.c (HDF5 -> these structs) and
 * diag_report.c (statistics, table and JSON). */
#pragma once
#include "app/app.h"
#include "diag/diag.h"

#include <hdf5.h>

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
} McDiagData;

/* Opens opt->file and reads everything mcmc-diag reports; the draws of the
 * selected variables are read burn .. burn+N of every chain, N the shortest
 * chain's draws after the burn-in but at most max_used. With summarize,
 * each quantity is summarised as soon as it is read and its draws freed
 * (x NULL): memory then stays within one read block, whatever the number
 * of quantities. Ownership: fills *d, freed by McDiagDataFree_Private. */
PetscErrorCode McDiagDataRead_Private(const McDiagOptions *opt, PetscInt max_used, PetscBool summarize, McDiagData *d);
/* The draws of opt->file's shortest chain (what bounds the used draws). */
PetscErrorCode McDiagDataShortest_Private(const McDiagOptions *opt, PetscInt *shortest);
PetscErrorCode McDiagDataFree_Private(McDiagData *d);
/* Combines n files' data (read with the same used draws) into *d: their
 * chains one after the other, checked to be of one model with the same
 * quantities. Ownership: takes parts' contents (each left empty, to be
 * freed by McDiagDataFree_Private); *d is new. */
PetscErrorCode McDiagDataMerge_Private(PetscInt n, McDiagData *parts, McDiagData *d);

/* For k < n: when buf is given, vars[k].x gets column at[k] of buf (C*N
 * rows of w values, the read block); then, with summarize, vars[k] is
 * summarised and its draws freed. The quantities are shared among threads
 * (diag_vars.c); the results are the same for any number of threads. */
PetscErrorCode McDiagVarsProcess_Private(PetscInt C, PetscInt N, const PetscReal *buf, PetscInt w, const PetscInt *at,
                                         PetscInt n, McDiagVar *vars, PetscBool summarize);
/* How many threads summarise n quantities of S draws each. */
PetscInt McDiagThreads_Private(PetscInt S, PetscInt n);
