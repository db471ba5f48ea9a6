/* The run's configuration: a typed struct read from a TOML file and
 * validated against one table of key descriptors (name, type, default,
 * range, unit, documentation) in config.c. Everything that talks about keys
 * -- validation, defaults, --print-config, configs/reference.toml, the
 * "did you mean" suggestions for unknown keys -- reads that one table.
 *
 * A mistake in the file is the user's, not the program's: McConfigLoad
 * returns it as one line "file:line:col: message" for the caller to print,
 * never through PETSc's error traceback. PetscErrorCode is reserved for
 * real failures (out of memory). */
#pragma once
#include "toml/toml.h"

#include <petscsys.h>
#include <stdio.h>

#define MC_CONFIG_PATH_MAX  1024 /* file paths, petsc_options */
#define MC_CONFIG_NAME_MAX  64   /* boundary label names, title */
#define MC_CONFIG_MAX_BC    16   /* [[pde.dirichlet]] and [[pde.neumann]] entries each */
#define MC_CONFIG_MAX_WELLS 64   /* [[pde.wells]] entries */
#define MC_CONFIG_MAX_OBS   100000

/* The choices of the string-valued keys, in the order of their enums. */
typedef enum { MC_MESH_BOX, MC_MESH_FILE } McMeshKind;
typedef enum { MC_CELL_SIMPLEX, MC_CELL_TENSOR } McCellType;
typedef enum { MC_PRIOR_BILAPLACIAN } McPriorKind;
typedef enum { MC_OBS_GRID, MC_OBS_POINTS, MC_OBS_FILE } McObsKind;
typedef enum { MC_DATA_SYNTHETIC, MC_DATA_FILE } McDataKind;
/* The named analytic truths (INCLUSION and after) are fields on the mesh
 * (src/app/truths.c); the first two are drawn from the prior. */
typedef enum {
  MC_TRUTH_PRIOR_SAMPLE,
  MC_TRUTH_PRIOR_MEAN,
  MC_TRUTH_INCLUSION,
  MC_TRUTH_TWO_INCLUSIONS,
  MC_TRUTH_LAYERS,
  MC_TRUTH_CHANNEL,
  MC_TRUTH_SMOOTH
} McTruthKind;
typedef enum { MC_NOISE_ABSOLUTE, MC_NOISE_RELATIVE } McNoiseKind;
typedef enum {
  MC_KERNEL_PCN,
  MC_KERNEL_RWM,
  MC_KERNEL_AM,
  MC_KERNEL_MALA,
  MC_KERNEL_INFMALA,
  MC_KERNEL_HPCN,
  MC_KERNEL_HMALA,
  MC_KERNEL_DILI,
  MC_KERNEL_DR,
  MC_KERNEL_INFHMC,
  MC_KERNEL_HHMC
} McKernelKind;
/* Whether a kernel is built on the Laplace approximation (and so needs the
 * MAP point): not with a remote model, not on several ranks. */
static inline PetscBool McKernelNeedsLaplace(McKernelKind k)
{
  return k == MC_KERNEL_HPCN || k == MC_KERNEL_HMALA || k == MC_KERNEL_DILI || k == MC_KERNEL_DR || k == MC_KERNEL_HHMC
             ? PETSC_TRUE
             : PETSC_FALSE;
}
/* The Hamiltonian kernels: step at most pi/2, [sampler] leapfrog_steps. */
static inline PetscBool McKernelIsHMC(McKernelKind k)
{
  return k == MC_KERNEL_INFHMC || k == MC_KERNEL_HHMC ? PETSC_TRUE : PETSC_FALSE;
}
typedef enum { MC_START_PRIOR_MEAN, MC_START_MAP, MC_START_LAPLACE, MC_START_PRIOR } McStartKind;
/* Whether chains started this way need the MAP point (and the Laplace
 * approximation): not with a remote model, not on several ranks. */
static inline PetscBool McStartNeedsMAP(McStartKind s)
{
  return s == MC_START_MAP || s == MC_START_LAPLACE ? PETSC_TRUE : PETSC_FALSE;
}
typedef enum { MC_HESS_GAUSS_NEWTON, MC_HESS_NEWTON } McHessKind;
typedef enum { MC_SURROGATE_NONE, MC_SURROGATE_P1 } McSurrogateKind;
typedef enum { MC_VIOLATION_STOP, MC_VIOLATION_WARN } McViolationAction;
typedef enum { MC_MODEL_PDE, MC_MODEL_UMBRIDGE } McModelKind;
typedef enum { MC_UMB_LOGDENSITY, MC_UMB_LOGLIKELIHOOD, MC_UMB_OBSERVATIONS } McUmbOutput;

/* One [[pde.wells]] entry: a Gaussian source rate*exp(-|x-centre|^2/(2 width^2)). */
typedef struct {
  PetscReal centre[3];
  PetscReal width, rate;
} McConfigWell;

/* One [[qoi]] entry: a quantity of interest recorded with every draw. */
#define MC_CONFIG_MAX_QOI 16
typedef enum { MC_QOI_KIND_MEAN, MC_QOI_KIND_POINT, MC_QOI_KIND_LOG_FLUX } McConfigQoIKind;
typedef enum { MC_QOI_FIELD_M, MC_QOI_FIELD_U } McConfigQoIField;
typedef struct {
  char             name[MC_CONFIG_NAME_MAX];
  McConfigQoIKind  kind;
  McConfigQoIField field;
  PetscReal        lower[3], upper[3], point[3];
  int              side; /* kind = log_flux: box side 0..5 (left, right, bottom, top, front, back) */
} McConfigQoI;

/* One [[pde.dirichlet]] or [[pde.neumann]] entry: a constant on a boundary label. */
typedef struct {
  char      label[MC_CONFIG_NAME_MAX];
  PetscReal value;
} McConfigBoundary;

/* The resolved configuration: every field has its value, given or default.
 * Vectors (cells, lower, upper, centre) hold mesh.dim entries. */
typedef struct {
  char source[MC_CONFIG_PATH_MAX]; /* the file it was read from */
  char title[MC_CONFIG_NAME_MAX];
  struct {
    McMeshKind kind;
    PetscInt   dim;
    PetscInt   cells[3];
    McCellType cell;
    PetscReal  lower[3], upper[3];
    char       file[MC_CONFIG_PATH_MAX];               /* kind = file */
    char       boundary_labels[6][MC_CONFIG_NAME_MAX]; /* kind = box: x-, x+, y-, y+, z-, z+ */
  } mesh;
  struct {
    PetscInt order, parameter_order;
  } fem;
  struct {
    PetscReal        source; /* constant right-hand side; 0 when wells are given */
    PetscInt         nwells, ndirichlet, nneumann;
    McConfigWell     wells[MC_CONFIG_MAX_WELLS];
    McConfigBoundary dirichlet[MC_CONFIG_MAX_BC], neumann[MC_CONFIG_MAX_BC];
  } pde;
  struct {
    McPriorKind kind;
    PetscBool   by_coefficients; /* gamma and delta given instead of correlation_length and std_dev */
    PetscReal   correlation_length, std_dev, gamma, delta, mean;
    PetscBool   robin;
    PetscInt    kl_modes; /* > 0: sample in this many Karhunen-Loeve coordinates */
    PetscReal   anisotropy[2], anisotropy_angle; /* Theta's lengths (0: isotropic) and angle */
    char        mean_file[MC_CONFIG_PATH_MAX];       /* prior mean field from a file; "" = the constant mean */
    char        mean_dataset[MC_CONFIG_PATH_MAX];    /* its dataset (HDF5); "" = a previous run's fields/mean */
  } prior;
  struct {
    McObsKind  kind;
    PetscInt   grid;    /* kind = grid: grid x grid (x grid) interior points */
    PetscInt   npoints; /* kind = points */
    PetscReal *points;  /* npoints x mesh.dim coordinates, row by row */
    char       file[MC_CONFIG_PATH_MAX];
    char       dataset[MC_CONFIG_PATH_MAX]; /* of an HDF5 file; "" = constant_data/sensor_coords */
  } observations;
  struct {
    McDataKind  kind;
    McTruthKind truth;
    PetscInt    truth_seed, noise_seed;
    char        file[MC_CONFIG_PATH_MAX];
    char        dataset[MC_CONFIG_PATH_MAX]; /* of an HDF5 file; "" = observed_data/y */
  } data;
  struct {
    McNoiseKind kind;
    PetscReal   sigma;
    char        covariance_file[MC_CONFIG_PATH_MAX]; /* full covariance; "" = independent */
  } noise;
  struct {
    McKernelKind kernel;
    PetscReal    step_size, target_acceptance;
    PetscBool    adapt;
    McStartKind  start;                /* where chains start */
    PetscReal    beta_perp, delta2;    /* dili's complement step, dr's second-stage step */
    PetscInt     lis_update_every;     /* dili: burn-in iterations between subspace updates (0: none) */
    PetscInt     leapfrog_steps;       /* infhmc, hhmc: gradient steps per trajectory */
    PetscReal    target2;              /* dr: second-stage target acceptance of the adaptation */
    PetscBool    adapt_first;          /* dr: adapt the first stage's beta too */
    McSurrogateKind surrogate;         /* delayed acceptance's first-stage model */
    char         proposal_covariance_file[MC_CONFIG_PATH_MAX]; /* rwm: N x N text file; "" = the identity */
  } sampler;
  struct {
    PetscInt   max_iterations;
    PetscReal  gradient_rtol;
  } map;
  struct {
    PetscInt   rank, oversampling, power_iterations;
    PetscReal  threshold;
    McHessKind hessian;
  } laplace;
  struct {
    PetscInt iterations, burn_in, thin, seed, chains;
  } chain;
  struct {
    char      path[MC_CONFIG_PATH_MAX];
    PetscInt  field_thin, flush_every, checkpoint_every;
    PetscReal flush_seconds;
    PetscBool overwrite;
  } output;
  struct {
    PetscInt ranks_per_chain;
  } parallel;
  struct {
    PetscInt          check_every, warmup, tolerance_objects, tolerance_bytes, gc_period, gc_thresholds[3];
    McViolationAction on_violation;
  } memory;
  struct {
    char petsc_options[MC_CONFIG_PATH_MAX];
  } solver;
  PetscInt    nqoi;
  McConfigQoI qoi[MC_CONFIG_MAX_QOI];
  struct {
    McModelKind kind;
    char        url[MC_CONFIG_PATH_MAX];  /* kind = umbridge: the server, e.g. http://127.0.0.1:4242 */
    char        name[MC_CONFIG_NAME_MAX]; /* the model's name on the server */
    char        config[MC_CONFIG_PATH_MAX]; /* JSON object sent as the requests' "config" */
    McUmbOutput output;
    PetscReal   timeout, retry_backoff; /* seconds */
    PetscInt    retries;
  } model;
} McConfig;

/* Creates a configuration holding every default (as if read from an empty
 * file named "<defaults>"). Ownership: returns a new configuration that the
 * caller releases with McConfigDestroy. */
PetscErrorCode McConfigCreate(McConfig **cfg);

/* Releases cfg and sets *cfg to NULL. Ownership: takes the caller's cfg. */
PetscErrorCode McConfigDestroy(McConfig **cfg);

/* Reads and validates the TOML file at path into cfg (all fields reset to
 * their defaults first). A syntax error, unknown key, wrong type, value out
 * of range, missing required key or conflicting setting sets *valid to
 * PETSC_FALSE and msg to one line "path:line:col: message" (no newline); cfg
 * is then unspecified. Ownership: borrows cfg (its old contents are freed). */
PetscErrorCode McConfigLoad(McConfig *cfg, const char *path, char *msg, size_t msglen, PetscBool *valid);

/* As McConfigLoad, from len bytes of text named source in messages. */
PetscErrorCode McConfigLoadString(McConfig *cfg, const char *text, size_t len, const char *source, char *msg,
                                  size_t msglen, PetscBool *valid);

/* Writes cfg as a complete TOML file: every key of the schema that applies
 * (alternatives not chosen are left out), with its resolved value; reading
 * it back gives the same configuration. Ownership: borrows cfg. */
PetscErrorCode McConfigWrite(const McConfig *cfg, FILE *out);

/* Writes configs/reference.toml: every key of the schema with a comment
 * giving its meaning, unit, default and range; alternatives commented out. */
PetscErrorCode McConfigWriteReference(FILE *out);

/* Writes a few lines describing the problem cfg sets up (for the start of
 * a run). Ownership: borrows cfg. */
PetscErrorCode McConfigWriteSummary(const McConfig *cfg, FILE *out);

/* The i-th key of the schema, 0 <= i < McConfigKeyCount(): its section
 * ("" for top-level keys, "pde.wells" for [[pde.wells]]) and name.
 * Ownership: returns borrowed static strings. */
PetscInt       McConfigKeyCount(void);
PetscErrorCode McConfigKeyGet(PetscInt i, const char **section, const char **name);
