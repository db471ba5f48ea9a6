/* The configuration schema: one table of key descriptors, and the code that
 * reads a TOML tree through it.
 *
 * Each key is described once in `keys` below -- where it lives, its type,
 * default (as TOML text, parsed like a value from the file), range, unit and
 * meaning. Loading resets the struct to the defaults, walks the file's tree
 * assigning every key it finds (unknown keys are errors with a suggestion
 * from the same table), then runs the checks that involve several keys
 * (vector lengths against mesh.dim, alternatives that exclude each other).
 * McConfigWrite and McConfigWriteReference print from the same table, which
 * is what makes --print-config round-trip and keeps reference.toml complete. */
#include "config/config.h"
#include "obj/obj.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

typedef enum { T_STRING, T_CHOICE, T_INT, T_REAL, T_BOOL, T_INTVEC, T_REALVEC, T_NAMES, T_POINTS, T_OPTIONS } KeyType;

enum {
  REQUIRED = 1, /* must be given (when its `when` condition holds) */
  MIN_EXCL = 2, /* the range excludes min */
  MAX_EXCL = 4  /* the range excludes max */
};

/* Vector lengths: exactly n (> 0), one per dimension, or 1 (same for every
 * dimension) or one per dimension. */
#define LEN_DIM    (-1)
#define LEN_ONEDIM 0

typedef struct {
  const char        *section; /* "" for the top level; "pde.wells" for [[pde.wells]] */
  const char        *name;
  KeyType            type;
  size_t             offset; /* into McConfig, or into the element struct of an array section */
  const char        *def;    /* default as TOML text; NULL: none (required, or an alternative) */
  double             min, max;
  int                flags;
  const char *const *choices; /* T_CHOICE: the allowed strings, NULL-terminated */
  size_t             cap;     /* T_STRING, T_OPTIONS, T_NAMES: bytes per string */
  int                len;     /* vectors: see LEN_* */
  const char        *when;    /* only with this choice key of the same section ... */
  int                when_is; /* ... equal to this choice */
  const char        *example; /* for keys without a default, in reference.toml */
  const char        *unit;
  const char        *doc;
} Key;

typedef struct {
  const char *name;
  int         array; /* an array of tables: [[name]] */
  size_t      items, count, size, max;
  const char *doc;
} Section;

static const char *const mesh_kinds[] = {"box", "file", NULL};
static const char *const cell_types[] = {"simplex", "tensor", NULL};
static const char *const prior_kinds[] = {"bilaplacian", NULL};
static const char *const obs_kinds[] = {"grid", "points", "file", NULL};
static const char *const data_kinds[] = {"synthetic", "file", NULL};
static const char *const truths[] = {"prior_sample", "prior_mean", "inclusion", "two_inclusions", "layers", "channel", "smooth", NULL};
static const char *const noise_kinds[] = {"absolute", "relative", NULL};
static const char *const kernels[] = {"pcn",   "rwm",  "am", "mala",   "infmala", "hpcn",
                                      "hmala", "dili", "dr", "infhmc", "hhmc",    NULL};
static const char *const starts[] = {"prior_mean", "map", "laplace", "prior", NULL};
static const char *const hessians[] = {"gauss_newton", "newton", NULL};
static const char *const surrogates[] = {"none", "p1", NULL};
static const char *const violations[] = {"stop", "warn", NULL};
static const char *const qoi_kinds[] = {"mean", "point", "log_flux", NULL};
static const char *const side_choices[] = {"left", "right", "bottom", "top", "front", "back", NULL};
static const char *const qoi_fields[] = {"m", "u", NULL};
static const char *const model_kinds[] = {"pde", "umbridge", NULL};
static const char *const umb_outputs[] = {"logdensity", "loglikelihood", "observations", NULL};
static const char *const side_names[6] = {"left", "right", "bottom", "top", "front", "back"};

#define C(f)     offsetof(McConfig, f)
#define W(f)     offsetof(McConfigWell, f)
#define B(f)     offsetof(McConfigBoundary, f)
#define Q(f)     offsetof(McConfigQoI, f)
#define BIG      1e300
#define INTMAX   2147483647.0
#define S(f)     sizeof(((McConfig *)0)->f)
#define LABELCAP MC_CONFIG_NAME_MAX

static const Section sections[] = {
    {"", 0, 0, 0, 0, 0, "Top-level keys."},
    {"mesh", 0, 0, 0, 0, 0, "The computational domain and its mesh."},
    {"fem", 0, 0, 0, 0, 0, "Finite-element discretisation."},
    {"pde", 0, 0, 0, 0, 0, "The forward problem -div(exp(m) grad u) = f and its boundary conditions."},
    {"pde.wells", 1, C(pde.wells), C(pde.nwells), sizeof(McConfigWell), MC_CONFIG_MAX_WELLS,
     "Gaussian point-like sources f = rate exp(-|x - centre|^2 / (2 width^2)), instead of [pde] source."},
    {"pde.dirichlet", 1, C(pde.dirichlet), C(pde.ndirichlet), sizeof(McConfigBoundary), MC_CONFIG_MAX_BC,
     "Dirichlet conditions u = value on a boundary label. Default: u = 0 on the whole boundary."},
    {"pde.neumann", 1, C(pde.neumann), C(pde.nneumann), sizeof(McConfigBoundary), MC_CONFIG_MAX_BC,
     "Neumann conditions exp(m) du/dn = value on a boundary label."},
    {"prior", 0, 0, 0, 0, 0, "Gaussian prior on the log-coefficient field m."},
    {"observations", 0, 0, 0, 0, 0, "Where u is observed."},
    {"data", 0, 0, 0, 0, 0, "The observed values."},
    {"noise", 0, 0, 0, 0, 0, "Gaussian observation noise."},
    {"sampler", 0, 0, 0, 0, 0, "The MCMC kernel and its tuning."},
    {"map", 0, 0, 0, 0, 0, "The MAP point (inexact Newton-CG), for the Hessian-informed kernels and start = \"map\"."},
    {"laplace", 0, 0, 0, 0, 0, "The low-rank Laplace approximation at the MAP point (randomised eigensolver)."},
    {"chain", 0, 0, 0, 0, 0, "Length, thinning and seeds of the chains."},
    {"output", 0, 0, 0, 0, 0, "The HDF5 output file."},
    {"parallel", 0, 0, 0, 0, 0, "MPI layout."},
    {"memory", 0, 0, 0, 0, 0, "Memory assertions and the cycle collector."},
    {"solver", 0, 0, 0, 0, 0, "PETSc options for the forward and adjoint solves."},
    {"qoi", 1, C(qoi), C(nqoi), sizeof(McConfigQoI), MC_CONFIG_MAX_QOI,
     "Quantities of interest recorded with every draw (besides m_mean and misfit)."},
    {"model", 0, 0, 0, 0, 0,
     "What is sampled: the PDE problem above, or a model served over UM-Bridge 1.0 (HTTP + JSON) by another "
     "process."},
};

static const Key keys[] = {
    {"", "title", T_STRING, C(title), "\"mcmc-run\"", 0, 0, 0, NULL, S(title), 0, NULL, 0, NULL, "-",
     "Name of the run, stored in the output file."},

    {"mesh", "kind", T_CHOICE, C(mesh.kind), "\"box\"", 0, 0, 0, mesh_kinds, 0, 0, NULL, 0, NULL, "-",
     "\"box\": a structured mesh of a box built in; \"file\": a Gmsh mesh read from file."},
    {"mesh", "dim", T_INT, C(mesh.dim), "2", 2, 3, 0, NULL, 0, 0, NULL, 0, NULL, "-", "Spatial dimension."},
    {"mesh", "cells", T_INTVEC, C(mesh.cells), "[32]", 1, 65536, 0, NULL, 0, LEN_ONEDIM, "kind", MC_MESH_BOX, NULL,
     "cells", "Cells per side of the box: one number (or a one-entry array) for every side, or one per dimension."},
    {"mesh", "cell", T_CHOICE, C(mesh.cell), "\"simplex\"", 0, 0, 0, cell_types, 0, 0, "kind", MC_MESH_BOX, NULL, "-",
     "Cell shape of the box mesh: \"simplex\" (triangles, tetrahedra; each box cell split) or \"tensor\" "
     "(quadrilaterals, hexahedra)."},
    {"mesh", "lower", T_REALVEC, C(mesh.lower), "[0.0]", -BIG, BIG, 0, NULL, 0, LEN_ONEDIM, "kind", MC_MESH_BOX, NULL,
     "length", "Lower corner of the box: one coordinate for every dimension, or one per dimension."},
    {"mesh", "upper", T_REALVEC, C(mesh.upper), "[1.0]", -BIG, BIG, 0, NULL, 0, LEN_ONEDIM, "kind", MC_MESH_BOX, NULL,
     "length", "Upper corner of the box (each coordinate > the lower one)."},
    {"mesh", "boundary_labels", T_NAMES, C(mesh.boundary_labels), NULL, 0, 0, 0, NULL, LABELCAP, 0, "kind", MC_MESH_BOX,
     "[\"left\", \"right\", \"bottom\", \"top\"]", "-",
     "Names of the box's sides in the order x-min, x-max, y-min, y-max (, z-min, z-max), one per side; default left, "
     "right, bottom, top (, front, back). \"boundary\" always names the whole boundary."},
    {"mesh", "file", T_STRING, C(mesh.file), NULL, 0, 0, REQUIRED, NULL, S(mesh.file), 0, "kind", MC_MESH_FILE,
     "\"meshes/square.msh\"", "-",
     "Path of the Gmsh mesh (relative to the working directory); its physical names are the boundary labels."},

    {"fem", "order", T_INT, C(fem.order), "1", 1, 2, 0, NULL, 0, 0, NULL, 0, NULL, "-",
     "Polynomial order of the state u (Lagrange elements)."},
    {"fem", "parameter_order", T_INT, C(fem.parameter_order), "1", 0, 2, 0, NULL, 0, 0, NULL, 0, NULL, "-",
     "Polynomial order of the parameter field m (0: piecewise constant)."},

    {"pde", "source", T_REAL, C(pde.source), "1.0", -BIG, BIG, 0, NULL, 0, 0, NULL, 0, NULL, "1/time",
     "Constant source term f; leave out when [[pde.wells]] are given."},
    {"pde.wells", "centre", T_REALVEC, W(centre), NULL, -BIG, BIG, REQUIRED, NULL, 0, LEN_DIM, NULL, 0, "[0.5, 0.5]",
     "length", "Centre of the well, one coordinate per dimension."},
    {"pde.wells", "width", T_REAL, W(width), NULL, 0, BIG, REQUIRED | MIN_EXCL, NULL, 0, 0, NULL, 0, "0.05", "length",
     "Width (standard deviation) of the Gaussian source."},
    {"pde.wells", "rate", T_REAL, W(rate), NULL, -BIG, BIG, REQUIRED, NULL, 0, 0, NULL, 0, "1.0", "1/time",
     "Peak rate of the source (negative for a sink)."},
    {"pde.dirichlet", "label", T_STRING, B(label), NULL, 0, 0, REQUIRED, NULL, LABELCAP, 0, NULL, 0, "\"boundary\"",
     "-", "Boundary label (a side of the box, \"boundary\", or a physical name of the Gmsh mesh)."},
    {"pde.dirichlet", "value", T_REAL, B(value), "0.0", -BIG, BIG, 0, NULL, 0, 0, NULL, 0, NULL, "state",
     "Value of u on the label."},
    {"pde.neumann", "label", T_STRING, B(label), NULL, 0, 0, REQUIRED, NULL, LABELCAP, 0, NULL, 0, "\"right\"", "-",
     "Boundary label (a side of the box, or a physical name of the Gmsh mesh)."},
    {"pde.neumann", "value", T_REAL, B(value), "0.0", -BIG, BIG, 0, NULL, 0, 0, NULL, 0, NULL, "state*length^-1",
     "Normal flux exp(m) du/dn on the label."},

    {"prior", "kind", T_CHOICE, C(prior.kind), "\"bilaplacian\"", 0, 0, 0, prior_kinds, 0, 0, NULL, 0, NULL, "-",
     "Prior covariance (gamma I - delta Laplacian)^-2: a Matern field with smoothness 2 - dim/2."},
    {"prior", "correlation_length", T_REAL, C(prior.correlation_length), "0.2", 0, BIG, MIN_EXCL, NULL, 0, 0, NULL, 0,
     NULL, "length",
     "Correlation length of m (distance at which the correlation is about 0.13); with std_dev, instead of gamma and "
     "delta."},
    {"prior", "std_dev", T_REAL, C(prior.std_dev), "1.0", 0, BIG, MIN_EXCL, NULL, 0, 0, NULL, 0, NULL, "m",
     "Pointwise standard deviation of m; with correlation_length, instead of gamma and delta."},
    {"prior", "gamma", T_REAL, C(prior.gamma), NULL, 0, BIG, MIN_EXCL, NULL, 0, 0, NULL, 0, "1.0", "-",
     "Coefficient gamma of the operator; with delta, instead of correlation_length and std_dev."},
    {"prior", "delta", T_REAL, C(prior.delta), NULL, 0, BIG, MIN_EXCL, NULL, 0, 0, NULL, 0, "25.0", "length^-2",
     "Coefficient delta of the operator; with gamma, instead of correlation_length and std_dev."},
    {"prior", "mean", T_REAL, C(prior.mean), "0.0", -BIG, BIG, 0, NULL, 0, 0, NULL, 0, NULL, "m",
     "Constant prior mean of m."},
    {"prior", "mean_file", T_STRING, C(prior.mean_file), NULL, 0, 0, 0, NULL, S(prior.mean_file), 0, NULL, 0,
     "\"previous_run.h5\"", "-",
     "Prior mean as a field, replacing mean: an HDF5 file (the output of an earlier mcmc-run, whose posterior mean "
     "field it takes, or any file with a dataset of one value per mesh vertex, see mean_dataset) or a text file of "
     "one value per line, in the vertex order of the run's mesh file (relative to the working directory)."},
    {"prior", "mean_dataset", T_STRING, C(prior.mean_dataset), NULL, 0, 0, 0, NULL, S(prior.mean_dataset), 0, NULL, 0,
     "\"constant_data/map_m\"", "-",
     "Dataset of mean_file (HDF5) holding the field: one value per mesh vertex, or [chains, vertices] averaged "
     "over the chains weighted by the count beside it; default \"fields/mean\", an earlier run's posterior mean "
     "(\"constant_data/map_m\": its MAP point)."},
    {"prior", "robin", T_BOOL, C(prior.robin), "true", 0, 0, 0, NULL, 0, 0, NULL, 0, NULL, "-",
     "Robin boundary condition on the prior operator (reduces the variance inflation near the boundary)."},
    {"prior", "kl_modes", T_INT, C(prior.kl_modes), "0", 0, 100000, 0, NULL, 0, 0, NULL, 0, NULL, "modes",
     "0: sample the whitened nodal field; K > 0: sample the K leading Karhunen-Loeve coordinates of the prior "
     "(computed once with SLEPc; K < the number of parameter dofs)."},

    {"prior", "anisotropy", T_REALVEC, C(prior.anisotropy), "[0.0, 0.0]", 0, BIG, 0, NULL, 0, 2, NULL, 0, NULL, "-",
     "Eigenvalues of the anisotropic tensor Theta in gamma div(Theta grad m) (2D; [0, 0]: the identity), as "
     "hIPPYlib's theta0, theta1."},
    {"prior", "anisotropy_angle", T_REAL, C(prior.anisotropy_angle), "0.0", -BIG, BIG, 0, NULL, 0, 0, NULL, 0, NULL,
     "radians", "Angle of Theta's first axis (hIPPYlib's alpha)."},

    {"observations", "kind", T_CHOICE, C(observations.kind), "\"grid\"", 0, 0, 0, obs_kinds, 0, 0, NULL, 0, NULL, "-",
     "\"grid\": a regular grid of interior points; \"points\": the points listed; \"file\": points read from a file."},
    {"observations", "grid", T_INT, C(observations.grid), "8", 1, 1000, 0, NULL, 0, 0, "kind", MC_OBS_GRID, NULL,
     "points", "Points per direction of the grid (grid^dim points, equally spaced, away from the boundary)."},
    {"observations", "points", T_POINTS, C(observations.points), NULL, -BIG, BIG, REQUIRED, NULL, 0, LEN_DIM, "kind",
     MC_OBS_POINTS, "[[0.25, 0.25], [0.75, 0.5]]", "length",
     "Observation points, one array of dim coordinates each, inside the mesh."},
    {"observations", "file", T_STRING, C(observations.file), NULL, 0, 0, REQUIRED, NULL, S(observations.file), 0,
     "kind", MC_OBS_FILE, "\"obs_points.txt\"", "-",
     "File of observation points: text, one point per line (dim numbers), or HDF5 (see dataset)."},
    {"observations", "dataset", T_STRING, C(observations.dataset), NULL, 0, 0, 0, NULL, S(observations.dataset), 0,
     "kind", MC_OBS_FILE, "\"points\"", "-",
     "Dataset of an HDF5 file holding the points, shape [points, dim]; default \"constant_data/sensor_coords\" "
     "(the points of an earlier mcmc-run's output file)."},

    {"data", "kind", T_CHOICE, C(data.kind), "\"synthetic\"", 0, 0, 0, data_kinds, 0, 0, NULL, 0, NULL, "-",
     "\"synthetic\": data computed from a known truth plus noise; \"file\": observed values read from a file."},
    {"data", "truth", T_CHOICE, C(data.truth), "\"prior_sample\"", 0, 0, 0, truths, 0, 0, "kind", MC_DATA_SYNTHETIC,
     NULL, "-",
     "The true field: a draw from the prior, the prior mean, or the prior mean plus a named analytic field of "
     "amplitude a = 2 std_dev (1 with gamma and delta) on the domain's bounding box, s = the coordinates scaled to "
     "[0, 1], smooth edges of width 0.02: \"inclusion\" (a disc of height a at the centre, radius 0.2 of the "
     "smallest side), \"two_inclusions\" (discs of radius 0.15 of the smallest side at s = 0.3 (height a) and "
     "s = 0.7 (height -a) in every coordinate), \"layers\" (a for s_last < 1/3, 0 up to 2/3, -a above), "
     "\"channel\" (a band of height a, half-width 0.1, around s_1 = 0.5 + 0.15 sin(2 pi s_0)), \"smooth\" (a "
     "times the product of sin(2 pi s_d) over the dimensions)."},
    {"data", "truth_seed", T_INT, C(data.truth_seed), "1", 0, INTMAX, 0, NULL, 0, 0, "kind", MC_DATA_SYNTHETIC, NULL,
     "-", "Seed of the random numbers drawing the truth."},
    {"data", "noise_seed", T_INT, C(data.noise_seed), "2", 0, INTMAX, 0, NULL, 0, 0, "kind", MC_DATA_SYNTHETIC, NULL,
     "-", "Seed of the random numbers drawing the noise."},
    {"data", "file", T_STRING, C(data.file), NULL, 0, 0, REQUIRED, NULL, S(data.file), 0, "kind", MC_DATA_FILE,
     "\"data.txt\"", "-",
     "File of observed values, one per observation point, in order: text, one per line, or HDF5 (see dataset)."},
    {"data", "dataset", T_STRING, C(data.dataset), NULL, 0, 0, 0, NULL, S(data.dataset), 0, "kind", MC_DATA_FILE,
     "\"y\"", "-",
     "Dataset of an HDF5 file holding the values, shape [points] (or [points, 1]); default \"observed_data/y\" "
     "(the data of an earlier mcmc-run's output file)."},

    {"noise", "kind", T_CHOICE, C(noise.kind), "\"absolute\"", 0, 0, 0, noise_kinds, 0, 0, NULL, 0, NULL, "-",
     "\"absolute\": sigma is the standard deviation; \"relative\": sigma times the largest |observed value|."},
    {"noise", "sigma", T_REAL, C(noise.sigma), "0.01", 0, BIG, MIN_EXCL, NULL, 0, 0, NULL, 0, NULL,
     "state (or fraction)", "Standard deviation of the observation noise."},
    {"noise", "covariance_file", T_STRING, C(noise.covariance_file), NULL, 0, 0, 0, NULL, S(noise.covariance_file), 0,
     NULL, 0, "\"noise_cov.txt\"", "state^2",
     "Text file of a full noise covariance (one row of M numbers per line, M = the number of observations, "
     "symmetric positive definite) for small M; replaces sigma."},

    {"sampler", "kernel", T_CHOICE, C(sampler.kernel), "\"pcn\"", 0, 0, 0, kernels, 0, 0, NULL, 0, NULL, "-",
     "Proposal: preconditioned Crank-Nicolson, random-walk Metropolis, adaptive Metropolis, MALA, "
     "infinite-dimensional MALA, Hessian-informed pCN and MALA, DILI, delayed rejection (hpcn, hmala), or "
     "Hamiltonian Monte Carlo on function space with the prior (infhmc) or the Laplace approximation (hhmc) as "
     "its Gaussian part."},
    {"sampler", "step_size", T_REAL, C(sampler.step_size), "0.1", 0, BIG, MIN_EXCL, NULL, 0, 0, NULL, 0, NULL, "-",
     "Step size (beta for pcn and infmala, at most 1; the leapfrog step h of infhmc and hhmc, at most pi/2; proposal "
     "scale for the others)."},
    {"sampler", "adapt", T_BOOL, C(sampler.adapt), "true", 0, 0, 0, NULL, 0, 0, NULL, 0, NULL, "-",
     "Adapt the step size during burn-in towards target_acceptance."},
    {"sampler", "target_acceptance", T_REAL, C(sampler.target_acceptance), NULL, 0, 1, MIN_EXCL | MAX_EXCL, NULL, 0, 0,
     NULL, 0, "0.25", "-",
     "Acceptance rate the adaptation aims at; default by kernel: 0.25 for pcn, rwm and am, 0.574 for mala, infmala, "
     "hmala and dili, 0.3 for hpcn and dr, 0.65 for infhmc and hhmc."},

    {"sampler", "proposal_covariance_file", T_STRING, C(sampler.proposal_covariance_file), NULL, 0, 0, 0, NULL,
     S(sampler.proposal_covariance_file), 0, "kernel", MC_KERNEL_RWM, "\"rwm_covariance.txt\"", "-",
     "Text file of the random walk's proposal covariance in the sampler's coordinates (the KL coordinates with "
     "[prior] kl_modes, else the whitened nodal values): one row of N numbers per line, symmetric positive "
     "definite; the step size scales its Cholesky factor. Default: the identity."},
    {"sampler", "start", T_CHOICE, C(sampler.start), "\"prior_mean\"", 0, 0, 0, starts, 0, 0, NULL, 0, NULL, "-",
     "Initial state: the prior mean, the MAP point, a draw from the Laplace approximation, or a draw from the prior "
     "(N(0, I) in the sampler's coordinates; with a UM-Bridge model its reference); each chain its own draw. Draws "
     "from the prior start the chains apart, as R-hat's comparison of the chains assumes."},
    {"sampler", "beta_perp", T_REAL, C(sampler.beta_perp), "0.5", 0, 1, MIN_EXCL, NULL, 0, 0, NULL, 0, NULL, "-",
     "dili: pCN step in the complement of the likelihood-informed subspace."},
    {"sampler", "lis_update_every", T_INT, C(sampler.lis_update_every), "0", 0, 1e9, 0, NULL, 0, 0, NULL, 0, NULL,
     "iterations",
     "dili: update the likelihood-informed subspace every this many burn-in iterations from the posterior average "
     "of the Gauss-Newton Hessian (0: keep the MAP point's); frozen after burn-in."},
    {"sampler", "leapfrog_steps", T_INT, C(sampler.leapfrog_steps), "10", 1, 100000, 0, NULL, 0, 0, NULL, 0, NULL,
     "gradients",
     "infhmc and hhmc: leapfrog steps per trajectory, one gradient (forward and adjoint solve) each; the trajectory "
     "spans the angle step_size * leapfrog_steps, pi/2 being a full turn of the Gaussian part."},
    {"sampler", "second_step", T_REAL, C(sampler.delta2), "1.0", 0, 2, MIN_EXCL, NULL, 0, 0, NULL, 0, NULL, "-",
     "dr: step of the second (hmala) stage; with adapt = true its initial value, adapted in burn-in towards "
     "second_target_acceptance."},
    {"sampler", "second_target_acceptance", T_REAL, C(sampler.target2), "0.574", 0, 1, MIN_EXCL | MAX_EXCL, NULL, 0,
     0, NULL, 0, NULL, "-",
     "dr: acceptance rate of the second stage (over the steps that reach it) that the adaptation of second_step "
     "aims at."},
    {"sampler", "adapt_first_step", T_BOOL, C(sampler.adapt_first), "true", 0, 0, 0, NULL, 0, 0, NULL, 0, NULL, "-",
     "dr: with adapt = true, adapt the first stage's beta (step_size) towards target_acceptance too; false keeps "
     "step_size, e.g. 1 for an independence first stage from the Laplace approximation, which adaptation would "
     "shrink until the second stage is rarely accepted."},
    {"sampler", "surrogate", T_CHOICE, C(sampler.surrogate), "\"none\"", 0, 0, 0, surrogates, 0, 0, NULL, 0, NULL, "-",
     "Delayed acceptance: \"p1\" runs the kernel on the P1-state model of the same mesh, prior and data (needs "
     "[fem] order = 2) and evaluates only the moves it accepts on the P2 model, which accepts or rejects them so "
     "that the chain samples the P2 posterior exactly; \"none\": every proposal on the model itself."},

    {"map", "max_iterations", T_INT, C(map.max_iterations), "20", 1, 1000, 0, NULL, 0, 0, NULL, 0, NULL, "iterations",
     "Newton iterations at most."},
    {"map", "gradient_rtol", T_REAL, C(map.gradient_rtol), "1e-6", 0, 1, MIN_EXCL, NULL, 0, 0, NULL, 0, NULL, "-",
     "Stop when the gradient norm fell by this factor."},

    {"laplace", "rank", T_INT, C(laplace.rank), "50", 1, 100000, 0, NULL, 0, 0, NULL, 0, NULL, "eigenpairs",
     "Eigenpairs of the prior-preconditioned Hessian kept at most."},
    {"laplace", "oversampling", T_INT, C(laplace.oversampling), "10", 0, 100000, 0, NULL, 0, 0, NULL, 0, NULL,
     "vectors", "Extra random directions of the randomised eigensolver."},
    {"laplace", "power_iterations", T_INT, C(laplace.power_iterations), "1", 0, 100, 0, NULL, 0, 0, NULL, 0, NULL, "-",
     "Subspace iterations of the randomised eigensolver."},
    {"laplace", "threshold", T_REAL, C(laplace.threshold), "0.01", 0, BIG, 0, NULL, 0, 0, NULL, 0, NULL, "-",
     "Keep eigenvalues above this (>= 0)."},
    {"laplace", "hessian", T_CHOICE, C(laplace.hessian), "\"gauss_newton\"", 0, 0, 0, hessians, 0, 0, NULL, 0, NULL,
     "-", "Gauss-Newton or full Newton Hessian at the MAP point."},

    {"chain", "iterations", T_INT, C(chain.iterations), "20000", 1, 1e9, 0, NULL, 0, 0, NULL, 0, NULL, "iterations",
     "Iterations per chain, burn-in included."},
    {"chain", "burn_in", T_INT, C(chain.burn_in), "2000", 0, 1e9, 0, NULL, 0, 0, NULL, 0, NULL, "iterations",
     "Iterations discarded at the start (less than iterations)."},
    {"chain", "thin", T_INT, C(chain.thin), "1", 1, 1e9, 0, NULL, 0, 0, NULL, 0, NULL, "iterations",
     "Keep every thin-th sample after burn-in."},
    {"chain", "seed", T_INT, C(chain.seed), "12345", 0, INTMAX, 0, NULL, 0, 0, NULL, 0, NULL, "-",
     "Seed of the chains' random numbers (chain c uses an independent stream derived from it)."},
    {"chain", "chains", T_INT, C(chain.chains), "0", 0, 1e6, 0, NULL, 0, 0, NULL, 0, NULL, "chains",
     "Number of chains; 0: one per group of [parallel] ranks_per_chain MPI ranks."},

    {"output", "path", T_STRING, C(output.path), "\"mcmc-run.h5\"", 0, 0, 0, NULL, S(output.path), 0, NULL, 0, NULL,
     "-", "HDF5 output file."},
    {"output", "field_thin", T_INT, C(output.field_thin), "100", 0, 1e9, 0, NULL, 0, 0, NULL, 0, NULL, "samples",
     "Store the full field of every field_thin-th kept sample (0: none)."},
    {"output", "flush_every", T_INT, C(output.flush_every), "1000", 1, 1e9, 0, NULL, 0, 0, NULL, 0, NULL, "samples",
     "Flush the output at least every flush_every kept samples."},
    {"output", "flush_seconds", T_REAL, C(output.flush_seconds), "60.0", 0, BIG, 0, NULL, 0, 0, NULL, 0, NULL, "s",
     "... and at least every flush_seconds of wall time (0: only by count)."},
    {"output", "checkpoint_every", T_INT, C(output.checkpoint_every), "10000", 0, 1e9, 0, NULL, 0, 0, NULL, 0, NULL,
     "iterations", "Write a checkpoint every checkpoint_every iterations (0: only at the end and on a signal)."},
    {"output", "overwrite", T_BOOL, C(output.overwrite), "false", 0, 0, 0, NULL, 0, 0, NULL, 0, NULL, "-",
     "Replace an existing output file instead of stopping with an error."},

    {"parallel", "ranks_per_chain", T_INT, C(parallel.ranks_per_chain), "1", 1, 1e6, 0, NULL, 0, 0, NULL, 0, NULL,
     "ranks",
     "MPI ranks sharing one chain's forward model (the world size must be a multiple); > 1: pcn, mala, infmala."},

    {"memory", "check_every", T_INT, C(memory.check_every), "1000", 0, 1e9, 0, NULL, 0, 0, NULL, 0, NULL, "iterations",
     "Check live objects and bytes against the baseline every check_every iterations (0: never)."},
    {"memory", "warmup", T_INT, C(memory.warmup), "1000", 0, 1e9, 0, NULL, 0, 0, NULL, 0, NULL, "iterations",
     "Iterations before the baseline is taken."},
    {"memory", "tolerance_objects", T_INT, C(memory.tolerance_objects), "0", 0, INTMAX, 0, NULL, 0, 0, NULL, 0, NULL,
     "objects", "Live objects allowed above the baseline."},
    {"memory", "tolerance_bytes", T_INT, C(memory.tolerance_bytes), "0", 0, INTMAX, 0, NULL, 0, 0, NULL, 0, NULL,
     "bytes", "Bytes allowed above the baseline."},
    {"memory", "gc_period", T_INT, C(memory.gc_period), "1000", 0, 1e9, 0, NULL, 0, 0, NULL, 0, NULL, "iterations",
     "Run a full collection every gc_period iterations (0: only by thresholds)."},
    {"memory", "gc_thresholds", T_INTVEC, C(memory.gc_thresholds), "[700, 10, 10]", 1, INTMAX, 0, NULL, 0, 3, NULL, 0,
     NULL, "allocations", "Collector thresholds of generations 0, 1, 2 (as CPython's)."},
    {"memory", "on_violation", T_CHOICE, C(memory.on_violation), "\"stop\"", 0, 0, 0, violations, 0, 0, NULL, 0, NULL,
     "-", "On a failed memory assertion: stop (exit code 3, samples so far on disk) or warn and continue."},

    {"qoi", "name", T_STRING, Q(name), NULL, 0, 0, REQUIRED, NULL, MC_CONFIG_NAME_MAX, 0, NULL, 0, "\"m_left\"", "-",
     "Name of the quantity in the output file."},
    {"qoi", "kind", T_CHOICE, Q(kind), "\"mean\"", 0, 0, 0, qoi_kinds, 0, 0, NULL, 0, NULL, "-",
     "\"mean\": the mean of m over a box region; \"point\": the value of field at a point; \"log_flux\": the log of the flux through a side."},
    {"qoi", "field", T_CHOICE, Q(field), "\"m\"", 0, 0, 0, qoi_fields, 0, 0, NULL, 0, NULL, "-",
     "\"m\": the log-coefficient; \"u\": the state (kind = \"point\" only)."},
    {"qoi", "lower", T_REALVEC, Q(lower), "[0.0]", -BIG, BIG, 0, NULL, 0, LEN_ONEDIM, "kind", MC_QOI_KIND_MEAN, NULL,
     "length", "Lower corner of the region (kind = \"mean\"); lower >= upper in every direction means the whole domain."},
    {"qoi", "upper", T_REALVEC, Q(upper), "[0.0]", -BIG, BIG, 0, NULL, 0, LEN_ONEDIM, "kind", MC_QOI_KIND_MEAN, NULL,
     "length", "Upper corner of the region (kind = \"mean\")."},
    {"qoi", "point", T_REALVEC, Q(point), NULL, -BIG, BIG, 0, NULL, 0, LEN_DIM, "kind", MC_QOI_KIND_POINT,
     "[0.5, 0.5]", "length", "The point (kind = \"point\"), inside the mesh."},
    {"qoi", "side", T_CHOICE, Q(side), "\"bottom\"", 0, 0, 0, side_choices, 0, 0, "kind", MC_QOI_KIND_LOG_FLUX, NULL,
     "-", "kind = \"log_flux\": the side of the box mesh the flux log |int exp(m) du/dn ds| crosses (f = 0, Dirichlet "
     "on it and the opposite side, insulated elsewhere)."},

    {"solver", "petsc_options", T_OPTIONS, C(solver.petsc_options),
     "\"-ksp_type preonly -pc_type cholesky -pc_factor_mat_ordering_type nd\"", 0, 0, 0, NULL, S(solver.petsc_options),
     0, NULL, 0, NULL, "-",
     "PETSc options for the forward and adjoint solves, in PETSc's own vocabulary; command-line options override "
     "them. The direct solver on one rank is mcchol (the project's supernodal Cholesky), in parallel MUMPS; "
     "-pc_factor_mat_solver_type petsc selects PETSc's own Cholesky."},

    {"model", "kind", T_CHOICE, C(model.kind), "\"pde\"", 0, 0, 0, model_kinds, 0, 0, NULL, 0, NULL, "-",
     "\"pde\": the PDE inverse problem of this file; \"umbridge\": a model served over UM-Bridge at url (the mesh, pde, "
     "prior and observations keys are then not used)."},
    {"model", "url", T_STRING, C(model.url), NULL, 0, 0, REQUIRED, NULL, S(model.url), 0, "kind", MC_MODEL_UMBRIDGE,
     "\"http://127.0.0.1:4242\"", "-", "Address of the UM-Bridge server."},
    {"model", "name", T_STRING, C(model.name), NULL, 0, 0, REQUIRED, NULL, S(model.name), 0, "kind",
     MC_MODEL_UMBRIDGE, "\"posterior\"", "-", "Name of the model on the server (one of its GET /Info models)."},
    {"model", "config", T_STRING, C(model.config), "\"{}\"", 0, 0, 0, NULL, S(model.config), 0, "kind",
     MC_MODEL_UMBRIDGE, NULL, "-", "JSON object sent as \"config\" with every request to the model."},
    {"model", "output", T_CHOICE, C(model.output), "\"logdensity\"", 0, 0, 0, umb_outputs, 0, 0, "kind",
     MC_MODEL_UMBRIDGE, NULL, "-",
     "What the model's output is: \"logdensity\", the log of the (unnormalised) density to sample; "
     "\"loglikelihood\", a log-likelihood under our N(0, I) prior on the model's input; \"observations\", predicted "
     "data to which [data] and [noise] apply, with our N(0, I) prior on the input (whitened coordinates). The input "
     "size comes from the server."},
    {"model", "timeout", T_REAL, C(model.timeout), "60.0", 0, BIG, MIN_EXCL, NULL, 0, 0, "kind", MC_MODEL_UMBRIDGE,
     NULL, "s", "Time allowed for one request, connection included."},
    {"model", "retries", T_INT, C(model.retries), "5", 0, 1000, 0, NULL, 0, 0, "kind", MC_MODEL_UMBRIDGE, NULL,
     "retries",
     "Retries of a request that timed out, could not connect or got a 5xx answer; then the run stops (exit code "
     "2) with the draws so far on disk."},
    {"model", "retry_backoff", T_REAL, C(model.retry_backoff), "0.5", 0, 3600, 0, NULL, 0, 0, "kind",
     MC_MODEL_UMBRIDGE, NULL, "s", "Wait before the first retry; it doubles with each further retry."},
};

#define NKEYS     ((int)(sizeof(keys) / sizeof(keys[0])))
#define NSECTIONS ((int)(sizeof(sections) / sizeof(sections[0])))
#define MAXELEMS  MC_CONFIG_MAX_WELLS

/* What one load knows besides the struct: where each key was given (NULL
 * for defaults), for messages about checks that involve several keys. */
typedef struct {
  McConfig          *cfg;
  const char        *source;
  char              *msg;
  size_t             msglen;
  const McTomlValue *given[NKEYS];
  int                vlen[NKEYS]; /* entries given for vectors of top-level sections */
  const McTomlValue *section[NSECTIONS];
  const McTomlValue *elem[NKEYS][MAXELEMS]; /* keys of array sections, per element */
} Ctx;

/* ------------------------------------------------------------ messages */

static int Err(Ctx *x, const McTomlValue *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int Err(Ctx *x, const McTomlValue *at, const char *fmt, ...)
{
  va_list ap;
  char    raw[2048];
  size_t  o = 0;
  int     n = snprintf(raw, sizeof(raw), "%s:%d:%d: ", x->source, at ? at->line : 1, at ? at->col : 1);

  va_start(ap, fmt);
  if (n >= 0 && (size_t)n < sizeof(raw)) vsnprintf(raw + n, sizeof(raw) - (size_t)n, fmt, ap);
  va_end(ap);
  /* The message is one line: control characters of a quoted value (a
   * multi-line string) are shown escaped. */
  for (const unsigned char *c = (const unsigned char *)raw; *c && o + 5 < x->msglen; c++) {
    if (*c == '\n')
      o += (size_t)snprintf(x->msg + o, x->msglen - o, "\\n");
    else if (*c == '\t')
      o += (size_t)snprintf(x->msg + o, x->msglen - o, "\\t");
    else if (*c < 0x20 || *c == 0x7f)
      o += (size_t)snprintf(x->msg + o, x->msglen - o, "\\x%02x", *c);
    else
      x->msg[o++] = (char)*c;
  }
  if (x->msglen) x->msg[o < x->msglen ? o : x->msglen - 1] = '\0';
  return 1;
}

/* "[mesh] cells", "[[pde.wells]] #2 width", "title" */
static const char *KeyLabel(const Key *k, int elem, char *buf, size_t n)
{
  if (!k->section[0])
    snprintf(buf, n, "%s", k->name);
  else if (elem >= 0)
    snprintf(buf, n, "[[%s]] #%d %s", k->section, elem + 1, k->name);
  else
    snprintf(buf, n, "[%s] %s", k->section, k->name);
  return buf;
}

static void Describe(const McTomlValue *v, char *buf, size_t n)
{
  switch (v->type) {
  case MC_TOML_STRING:
    snprintf(buf, n, "\"%.60s\"%s", v->u.string.ptr, v->u.string.len > 60 ? "..." : "");
    break;
  case MC_TOML_INTEGER:
    snprintf(buf, n, "%lld", (long long)v->u.integer);
    break;
  case MC_TOML_FLOAT:
    snprintf(buf, n, "%g", v->u.real);
    break;
  case MC_TOML_BOOL:
    snprintf(buf, n, "%s", v->u.boolean ? "true" : "false");
    break;
  case MC_TOML_ARRAY:
    snprintf(buf, n, "an array");
    break;
  case MC_TOML_TABLE:
    snprintf(buf, n, "a table");
    break;
  default:
    snprintf(buf, n, "a %s", McTomlTypeName(v->type));
    break;
  }
}

static void RangeText(const Key *k, char *buf, size_t n)
{
  int lo = k->min > -BIG, hi = k->max < BIG;

  if (lo && hi)
    snprintf(buf, n, "in %c%g, %g%c", (k->flags & MIN_EXCL) ? '(' : '[', k->min, k->max,
             (k->flags & MAX_EXCL) ? ')' : ']');
  else if (lo)
    snprintf(buf, n, "%s %g", (k->flags & MIN_EXCL) ? ">" : ">=", k->min);
  else if (hi)
    snprintf(buf, n, "%s %g", (k->flags & MAX_EXCL) ? "<" : "<=", k->max);
  else
    snprintf(buf, n, "finite");
}

static void ChoicesText(const Key *k, char *buf, size_t n)
{
  size_t o = 0;

  buf[0] = '\0';
  for (int i = 0; k->choices[i] && o < n; i++)
    o += (size_t)snprintf(buf + o, n - o, "%s\"%s\"", i ? ", " : "", k->choices[i]);
}

static int InRange(const Key *k, double v)
{
  if (!(v == v)) return 0;
  if ((k->flags & MIN_EXCL) ? !(v > k->min) : !(v >= k->min)) return 0;
  if ((k->flags & MAX_EXCL) ? !(v < k->max) : !(v <= k->max)) return 0;
  return fabs(v) < BIG;
}

/* Edit distance (Levenshtein) between two short names. */
static int Distance(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  int    row[128];

  if (la > 120 || lb > 120) return 1000;
  for (size_t j = 0; j <= lb; j++)
    row[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      diag = up;
      row[j] = best;
    }
  }
  return row[lb];
}

/* ------------------------------------------------------------ values */

static const Section *FindSection(const char *name)
{
  for (int i = 0; i < NSECTIONS; i++)
    if (!strcmp(sections[i].name, name)) return &sections[i];
  return NULL;
}

static int FindKey(const char *section, const char *name)
{
  for (int i = 0; i < NKEYS; i++)
    if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name)) return i;
  return -1;
}

static int Number(const McTomlValue *v, double *out)
{
  if (v->type == MC_TOML_INTEGER)
    *out = (double)v->u.integer;
  else if (v->type == MC_TOML_FLOAT)
    *out = v->u.real;
  else
    return 0;
  return 1;
}

static int TypeError(Ctx *x, const Key *k, int elem, const McTomlValue *v, const char *want)
{
  char label[128], got[96];

  Describe(v, got, sizeof(got));
  return Err(x, v, "%s must be %s, got %s%s%s", KeyLabel(k, elem, label, sizeof(label)), want,
             v->type <= MC_TOML_BOOL ? McTomlTypeName(v->type) : "", v->type <= MC_TOML_BOOL ? " " : "", got);
}

static int RangeError(Ctx *x, const Key *k, int elem, int index, const McTomlValue *v)
{
  char label[128], range[96], got[96];

  KeyLabel(k, elem, label, sizeof(label));
  RangeText(k, range, sizeof(range));
  Describe(v, got, sizeof(got));
  if (index >= 0) return Err(x, v, "%s[%d] must be %s, got %s", label, index, range, got);
  return Err(x, v, "%s must be %s, got %s", label, range, got);
}

/* One number of a numeric key (or vector entry), checked against the range. */
static int GetNumber(Ctx *x, const Key *k, int elem, int index, const McTomlValue *v, int integer, double *out)
{
  char label[128], want[64];

  if (integer ? v->type != MC_TOML_INTEGER : !Number(v, out)) {
    KeyLabel(k, elem, label, sizeof(label));
    if (index >= 0)
      snprintf(want, sizeof(want), "an array of %s", integer ? "integers" : "numbers");
    else
      snprintf(want, sizeof(want), "%s", integer ? "an integer" : "a number");
    if (index >= 0) {
      char got[96];
      Describe(v, got, sizeof(got));
      return Err(x, v, "%s[%d] must be %s, got %s %s", label, index, integer ? "an integer" : "a number",
                 v->type <= MC_TOML_BOOL ? McTomlTypeName(v->type) : "", got);
    }
    return TypeError(x, k, elem, v, want);
  }
  if (integer) *out = (double)v->u.integer;
  if (!InRange(k, *out)) return RangeError(x, k, elem, index, v);
  return 0;
}

/* Checks a PETSc options string: option names (-name) each followed by at
 * most one value. */
static int CheckOptions(Ctx *x, const Key *k, const McTomlValue *v)
{
  const char *s = v->u.string.ptr;
  int         after_option = 0, after_value = 0;
  char        label[128], word[128];

  KeyLabel(k, -1, label, sizeof(label));
  while (*s) {
    size_t n;
    int    option;
    while (*s == ' ' || *s == '\t')
      s++;
    if (!*s) break;
    n = strcspn(s, " \t");
    snprintf(word, sizeof(word), "%.*s", (int)(n < 100 ? n : 100), s);
    option = s[0] == '-' && ((s[1] >= 'a' && s[1] <= 'z') || (s[1] >= 'A' && s[1] <= 'Z'));
    if (option) {
      for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
          return Err(x, v, "%s: '%s' is not a PETSc option name (letters, digits and '_' after one '-')", label, word);
      }
      after_option = 1;
      after_value = 0;
    } else if (!after_option) {
      return Err(x, v, "%s: expected a PETSc option such as -ksp_type, got '%s'%s", label, word,
                 after_value ? " (an option takes at most one value)" : "");
    } else {
      after_option = 0;
      after_value = 1;
    }
    s += n;
  }
  return 0;
}

static int CopyString(Ctx *x, const Key *k, int elem, const McTomlValue *v, char *dst, size_t cap)
{
  char label[128];

  if (v->type != MC_TOML_STRING) return TypeError(x, k, elem, v, "a string");
  if (v->u.string.len >= cap || strlen(v->u.string.ptr) != v->u.string.len)
    return Err(x, v, "%s must be a string of at most %zu bytes without NUL characters",
               KeyLabel(k, elem, label, sizeof(label)), cap - 1);
  memcpy(dst, v->u.string.ptr, v->u.string.len + 1);
  return 0;
}

/* Assigns v to key k in the struct at base; elem >= 0 for array sections.
 * *vlen receives the number of entries of a vector. */
static int Assign(Ctx *x, const Key *k, int elem, const McTomlValue *v, char *base, int *vlen)
{
  char  *dst = base + k->offset, label[128];
  double d;

  KeyLabel(k, elem, label, sizeof(label));
  switch (k->type) {
  case T_STRING:
    return CopyString(x, k, elem, v, dst, k->cap);
  case T_OPTIONS:
    return CopyString(x, k, elem, v, dst, k->cap) || CheckOptions(x, k, v);
  case T_CHOICE: {
    char list[256];
    if (v->type != MC_TOML_STRING) return TypeError(x, k, elem, v, "a string");
    for (int i = 0; k->choices[i]; i++) {
      if (!strcmp(k->choices[i], v->u.string.ptr) && strlen(v->u.string.ptr) == v->u.string.len) {
        *(int *)dst = i;
        return 0;
      }
    }
    ChoicesText(k, list, sizeof(list));
    Describe(v, label + 64, sizeof(label) - 64);
    return Err(x, v, "%s must be one of %s, got %s", KeyLabel(k, elem, label, 64), list, label + 64);
  }
  case T_INT:
    if (GetNumber(x, k, elem, -1, v, 1, &d)) return 1;
    *(PetscInt *)dst = (PetscInt)d;
    return 0;
  case T_REAL:
    if (GetNumber(x, k, elem, -1, v, 0, &d)) return 1;
    *(PetscReal *)dst = (PetscReal)d;
    return 0;
  case T_BOOL:
    if (v->type != MC_TOML_BOOL) return TypeError(x, k, elem, v, "true or false");
    *(PetscBool *)dst = v->u.boolean ? PETSC_TRUE : PETSC_FALSE;
    return 0;
  case T_INTVEC:
  case T_REALVEC:
  case T_NAMES: {
    size_t max = k->type == T_NAMES ? 6 : k->len > 0 ? (size_t)k->len : 3, n;
    if (k->len == LEN_ONEDIM && k->type != T_NAMES && (v->type == MC_TOML_INTEGER || v->type == MC_TOML_FLOAT)) {
      /* a single number: the same for every dimension, as [x] */
      if (GetNumber(x, k, elem, -1, v, k->type == T_INTVEC, &d)) return 1;
      if (k->type == T_INTVEC)
        *(PetscInt *)dst = (PetscInt)d;
      else
        *(PetscReal *)dst = (PetscReal)d;
      *vlen = 1;
      return 0;
    }
    if (v->type != MC_TOML_ARRAY)
      return TypeError(x, k, elem, v,
                       k->type == T_NAMES    ? "an array of strings"
                       : k->type == T_INTVEC ? "an array of integers"
                                             : "an array of numbers");
    n = v->u.array.n;
    if (n < 1 || n > max || (k->len > 0 && n != (size_t)k->len)) {
      if (k->len > 0) return Err(x, v, "%s must have %d entries, got %zu", label, k->len, n);
      return Err(x, v, "%s must have 1 to %zu entries (%s), got %zu", label, max,
                 k->type == T_NAMES ? "one per side" : "one per dimension", n);
    }
    for (size_t i = 0; i < n; i++) {
      const McTomlValue *e = v->u.array.items[i];
      if (k->type == T_NAMES) {
        char *name = dst + i * k->cap;
        if (e->type != MC_TOML_STRING) return Err(x, e, "%s[%zu] must be a string", label, i);
        if (CopyString(x, k, elem, e, name, k->cap)) return 1;
        if (!name[0]) return Err(x, e, "%s[%zu] must not be empty", label, i);
      } else if (GetNumber(x, k, elem, (int)i, e, k->type == T_INTVEC, &d)) {
        return 1;
      } else if (k->type == T_INTVEC) {
        ((PetscInt *)dst)[i] = (PetscInt)d;
      } else {
        ((PetscReal *)dst)[i] = (PetscReal)d;
      }
    }
    *vlen = (int)n;
    return 0;
  }
  case T_POINTS: {
    McConfig  *cfg = x->cfg;
    PetscReal *pts;
    size_t     n, dim = 0;
    if (v->type != MC_TOML_ARRAY) return TypeError(x, k, elem, v, "an array of points ([x, y] arrays)");
    n = v->u.array.n;
    if (n < 1 || n > MC_CONFIG_MAX_OBS)
      return Err(x, v, "%s must have 1 to %d points, got %zu", label, MC_CONFIG_MAX_OBS, n);
    for (size_t i = 0; i < n; i++) {
      const McTomlValue *p = v->u.array.items[i];
      if (p->type != MC_TOML_ARRAY || p->u.array.n < 2 || p->u.array.n > 3)
        return Err(x, p, "%s[%zu] must be a point: an array of 2 or 3 numbers", label, i);
      if (i == 0) dim = p->u.array.n;
      if (p->u.array.n != dim)
        return Err(x, p, "%s[%zu] has %zu coordinates, the first point has %zu", label, i, p->u.array.n, dim);
    }
    if (PetscMalloc1(n * 3, &pts)) return Err(x, v, "out of memory reading %s", label);
    PetscFree(cfg->observations.points);
    cfg->observations.points = pts;
    cfg->observations.npoints = (PetscInt)n;
    for (size_t i = 0; i < n; i++) {
      const McTomlValue *p = v->u.array.items[i];
      for (size_t j = 0; j < dim; j++) {
        if (!Number(p->u.array.items[j], &d))
          return Err(x, p->u.array.items[j], "%s[%zu][%zu] must be a number", label, i, j);
        if (!(fabs(d) < BIG)) return Err(x, p->u.array.items[j], "%s[%zu][%zu] must be finite", label, i, j);
        pts[i * dim + j] = (PetscReal)d;
      }
    }
    *vlen = (int)dim;
    return 0;
  }
  }
  return 0;
}

/* Applies every default of section sec to the struct at base. */
static int Defaults(Ctx *x, const char *sec, int elem, char *base)
{
  for (int i = 0; i < NKEYS; i++) {
    char         text[512];
    McTomlValue *root;
    McTomlError  err;
    int          r, vlen = 0;
    if (strcmp(keys[i].section, sec) || !keys[i].def) continue;
    snprintf(text, sizeof(text), "v = %s\n", keys[i].def);
    if (McTomlParse(text, strlen(text), "<default>", &root, &err))
      return Err(x, NULL, "internal: bad default for %s: %s", keys[i].name, err.message);
    r = Assign(x, &keys[i], elem, McTomlGet(root, "v"), base, &vlen);
    McTomlFree(&root);
    if (r) return 1;
    if (elem < 0) x->vlen[i] = vlen;
  }
  return 0;
}

static int Unknown(Ctx *x, const char *sec, const McTomlEntry *e, int array)
{
  const char *best = NULL;
  int         bestd = 1000, limit;
  char        where[96];

  for (int i = 0; i < NKEYS; i++) {
    int d;
    if (strcmp(keys[i].section, sec)) continue;
    d = Distance(e->key, keys[i].name);
    if (d < bestd) bestd = d, best = keys[i].name;
  }
  for (int i = 1; i < NSECTIONS; i++) {
    const char *n = sections[i].name, *dot = strrchr(n, '.');
    size_t      plen = strlen(sec);
    int         d;
    if (sec[0] ? !(dot && (size_t)(dot - n) == plen && !strncmp(n, sec, plen)) : dot != NULL) continue;
    d = Distance(e->key, dot ? dot + 1 : n);
    if (d < bestd) bestd = d, best = dot ? dot + 1 : n;
  }
  limit = (int)strlen(e->key) / 3 > 2 ? (int)strlen(e->key) / 3 : 2;
  if (!sec[0])
    snprintf(where, sizeof(where), "at the top level");
  else
    snprintf(where, sizeof(where), array ? "in [[%s]]" : "in [%s]", sec);
  {
    McTomlValue at = *e->value;
    at.line = e->line;
    at.col = e->col;
    int section = !sec[0] && e->value->type == MC_TOML_TABLE;
    if (section && best && bestd <= limit) return Err(x, &at, "unknown section [%s]; did you mean [%s]?", e->key, best);
    if (section) return Err(x, &at, "unknown section [%s]", e->key);
    if (best && bestd <= limit) return Err(x, &at, "unknown key '%s' %s; did you mean '%s'?", e->key, where, best);
    return Err(x, &at, "unknown key '%s' %s", e->key, where);
  }
}

static int Table(Ctx *x, const char *sec, const McTomlValue *t, int elem, char *base);

static int ArraySection(Ctx *x, const Section *s, const McTomlValue *v)
{
  size_t n;

  if (v->type != MC_TOML_ARRAY)
    return Err(x, v, "[[%s]] must be an array of tables, got %s", s->name, McTomlTypeName(v->type));
  n = v->u.array.n;
  if (n > s->max)
    return Err(x, v->u.array.items[s->max], "[[%s]]: at most %zu entries are allowed, got %zu", s->name, s->max, n);
  *(PetscInt *)((char *)x->cfg + s->count) = (PetscInt)n;
  for (size_t i = 0; i < n; i++) {
    const McTomlValue *t = v->u.array.items[i];
    char              *base = (char *)x->cfg + s->items + i * s->size;
    if (t->type != MC_TOML_TABLE)
      return Err(x, t, "[[%s]] #%zu must be a table, got %s", s->name, i + 1, McTomlTypeName(t->type));
    memset(base, 0, s->size);
    if (Defaults(x, s->name, (int)i, base) || Table(x, s->name, t, (int)i, base)) return 1;
    for (int k = 0; k < NKEYS; k++) {
      if (strcmp(keys[k].section, s->name) || !(keys[k].flags & REQUIRED) || x->elem[k][i]) continue;
      return Err(x, t, "[[%s]] #%zu is missing required key '%s'", s->name, i + 1, keys[k].name);
    }
  }
  return 0;
}

/* Assigns every entry of table t, which is section sec (element elem of an
 * array section, or -1). */
static int Table(Ctx *x, const char *sec, const McTomlValue *t, int elem, char *base)
{
  for (size_t i = 0; i < t->u.table.n; i++) {
    const McTomlEntry *e = &t->u.table.entries[i];
    int                k = strlen(e->key) == e->key_len ? FindKey(sec, e->key) : -1, vlen = 0;
    char               sub[128];
    const Section     *s;

    if (k >= 0) {
      if (Assign(x, &keys[k], elem, e->value, base, &vlen)) return 1;
      if (elem >= 0) {
        x->elem[k][elem] = e->value;
      } else {
        x->given[k] = e->value;
        x->vlen[k] = vlen;
      }
      continue;
    }
    snprintf(sub, sizeof(sub), "%s%s%s", sec, sec[0] ? "." : "", e->key);
    s = elem < 0 && strlen(e->key) == e->key_len ? FindSection(sub) : NULL;
    if (!s) return Unknown(x, sec, e, elem >= 0);
    x->section[s - sections] = e->value;
    if (s->array) {
      if (ArraySection(x, s, e->value)) return 1;
    } else if (e->value->type != MC_TOML_TABLE) {
      char got[96];
      Describe(e->value, got, sizeof(got));
      return Err(x, e->value, "[%s] must be a table (a section), got %s", s->name, got);
    } else if (Table(x, s->name, e->value, -1, (char *)x->cfg)) {
      return 1;
    }
  }
  return 0;
}

/* ------------------------------------------------------------ cross-checks */

static int KeyIndex(const char *sec, const char *name)
{
  int k = FindKey(sec, name);
  PetscAssertAbort(k >= 0, PETSC_COMM_SELF, PETSC_ERR_PLIB, "schema has no key [%s] %s", sec, name);
  return k;
}

/* Where to point for a key: its value if given, else its section, else 1:1. */
static const McTomlValue *At(Ctx *x, int k)
{
  const Section *s = FindSection(keys[k].section);
  if (x->given[k]) return x->given[k];
  return s ? x->section[s - sections] : NULL;
}

static int ChoiceOf(Ctx *x, const char *sec, const char *name)
{
  return *(int *)((char *)x->cfg + keys[KeyIndex(sec, name)].offset);
}

/* Keys that apply only with one choice of another key (mesh.file only with
 * kind = "file", ...): given otherwise is a conflict; required then and
 * missing is an error. */
static int Conditions(Ctx *x)
{
  for (int k = 0; k < NKEYS; k++) {
    const Key *key = &keys[k];
    int        w, value;
    char       label[128];
    if (!key->when || FindSection(key->section)->array) continue;
    w = KeyIndex(key->section, key->when);
    value = ChoiceOf(x, key->section, key->when);
    KeyLabel(key, -1, label, sizeof(label));
    if (x->given[k] && value != key->when_is)
      return Err(x, x->given[k], "%s is only used with %s = \"%s\", but %s = \"%s\"", label, key->when,
                 keys[w].choices[key->when_is], key->when, keys[w].choices[value]);
    if (!x->given[k] && (key->flags & REQUIRED) && value == key->when_is)
      return Err(x, At(x, w), "%s is required with %s = \"%s\"", label, key->when, keys[w].choices[key->when_is]);
  }
  return 0;
}

static int MeshChecks(Ctx *x)
{
  McConfig *c = x->cfg;
  PetscInt  dim = c->mesh.dim;
  const int vecs[3] = {KeyIndex("mesh", "cells"), KeyIndex("mesh", "lower"), KeyIndex("mesh", "upper")};
  int       kl = KeyIndex("mesh", "boundary_labels");
  char      label[128];

  for (int i = 0; i < 3; i++) {
    int k = vecs[i], n = x->vlen[k];
    if (n != 1 && n != dim)
      return Err(x, At(x, k), "%s has %d entries, but dim = %d: give one entry, or one per dimension",
                 KeyLabel(&keys[k], -1, label, sizeof(label)), n, (int)dim);
    for (int d = n; d < dim; d++) {
      if (keys[k].type == T_INTVEC)
        c->mesh.cells[d] = c->mesh.cells[0];
      else if (i == 1)
        c->mesh.lower[d] = c->mesh.lower[0];
      else
        c->mesh.upper[d] = c->mesh.upper[0];
    }
  }
  for (int d = 0; d < dim; d++)
    if (!(c->mesh.upper[d] > c->mesh.lower[d]))
      return Err(x, At(x, vecs[2]), "[mesh] upper[%d] must be > lower[%d] = %g, got %g", d, d, (double)c->mesh.lower[d],
                 (double)c->mesh.upper[d]);
  if (!x->given[kl]) {
    for (int i = 0; i < 6; i++)
      snprintf(c->mesh.boundary_labels[i], MC_CONFIG_NAME_MAX, "%s", side_names[i]);
  } else if (x->vlen[kl] != 2 * dim) {
    return Err(x, x->given[kl], "[mesh] boundary_labels must have %d entries (one per side) with dim = %d, got %d",
               (int)(2 * dim), (int)dim, x->vlen[kl]);
  } else {
    for (int i = 0; i < 2 * dim; i++) {
      if (!strcmp(c->mesh.boundary_labels[i], "boundary"))
        return Err(x, x->given[kl]->u.array.items[i],
                   "[mesh] boundary_labels[%d]: \"boundary\" is reserved for the whole boundary", i);
      for (int j = 0; j < i; j++)
        if (!strcmp(c->mesh.boundary_labels[i], c->mesh.boundary_labels[j]))
          return Err(x, x->given[kl]->u.array.items[i], "[mesh] boundary_labels[%d] repeats \"%s\"", i,
                     c->mesh.boundary_labels[i]);
    }
  }
  /* cleared whole, so that a configuration compares equal to its printed-and-reread self */
  for (int i = (int)(2 * dim); i < 6; i++)
    memset(c->mesh.boundary_labels[i], 0, MC_CONFIG_NAME_MAX);
  return 0;
}

static int PdeChecks(Ctx *x)
{
  McConfig *c = x->cfg;
  int       ks = KeyIndex("pde", "source"), kc = KeyIndex("pde.wells", "centre");
  int       kd = KeyIndex("pde.dirichlet", "label"), kn = KeyIndex("pde.neumann", "label");

  if (c->pde.nwells > 0) {
    if (x->given[ks])
      return Err(x, x->given[ks],
                 "[pde] source conflicts with [[pde.wells]] (line %d): give a constant source or wells, not both",
                 x->section[FindSection("pde.wells") - sections]->line);
    c->pde.source = 0;
  }
  for (PetscInt i = 0; i < c->pde.nwells; i++) {
    const McTomlValue *v = x->elem[kc][i];
    if ((PetscInt)v->u.array.n != c->mesh.dim)
      return Err(x, v, "[[pde.wells]] #%d centre has %zu coordinates, but dim = %d", (int)i + 1, v->u.array.n,
                 (int)c->mesh.dim);
  }
  if (c->pde.ndirichlet == 0) {
    c->pde.ndirichlet = 1;
    snprintf(c->pde.dirichlet[0].label, MC_CONFIG_NAME_MAX, "boundary");
    c->pde.dirichlet[0].value = 0;
  }
  for (int pass = 0; pass < 2; pass++) {
    PetscInt          n = pass ? c->pde.nneumann : c->pde.ndirichlet;
    McConfigBoundary *bc = pass ? c->pde.neumann : c->pde.dirichlet;
    int               k = pass ? kn : kd;
    const char       *name = pass ? "pde.neumann" : "pde.dirichlet";
    for (PetscInt i = 0; i < n; i++) {
      const McTomlValue *v = x->elem[k][i];
      int                known = c->mesh.kind == MC_MESH_FILE || !strcmp(bc[i].label, "boundary");
      char               list[256];
      size_t             o = 0;
      if (!v) continue; /* the default condition */
      for (int s = 0; s < 2 * c->mesh.dim; s++)
        known = known || !strcmp(bc[i].label, c->mesh.boundary_labels[s]);
      if (!known) {
        o += (size_t)snprintf(list, sizeof(list), "\"boundary\"");
        for (int s = 0; s < 2 * c->mesh.dim && o < sizeof(list); s++)
          o += (size_t)snprintf(list + o, sizeof(list) - o, ", \"%s\"", c->mesh.boundary_labels[s]);
        return Err(x, v, "[[%s]] #%d label must be one of %s, got \"%s\"", name, (int)i + 1, list, bc[i].label);
      }
      if (pass)
        for (PetscInt j = 0; j < c->pde.ndirichlet; j++)
          if (!strcmp(bc[i].label, c->pde.dirichlet[j].label))
            return Err(x, v,
                       "[[pde.neumann]] #%d label \"%s\" already has a Dirichlet condition ([[pde.dirichlet]] #%d)",
                       (int)i + 1, bc[i].label, (int)j + 1);
    }
  }
  return 0;
}

/* [[qoi]]: names unique and not the built-in ones; u only at points; point
 * and region vectors of the mesh's dimension. */
static int QoIChecks(Ctx *x)
{
  McConfig *c = x->cfg;
  int       kn = KeyIndex("qoi", "name"), kf = KeyIndex("qoi", "field"), kp = KeyIndex("qoi", "point");

  for (PetscInt i = 0; i < c->nqoi; i++) {
    const McConfigQoI *q = &c->qoi[i];
    if (!strcmp(q->name, "m_mean") || !strcmp(q->name, "misfit"))
      return Err(x, x->elem[kn][i], "[[qoi]] #%d name \"%s\" is taken by a quantity every run records", (int)i + 1,
                 q->name);
    for (PetscInt j = 0; j < i; j++)
      if (!strcmp(q->name, c->qoi[j].name))
        return Err(x, x->elem[kn][i], "[[qoi]] #%d name \"%s\" is already used by [[qoi]] #%d", (int)i + 1, q->name,
                   (int)j + 1);
    if (q->field == MC_QOI_FIELD_U && q->kind != MC_QOI_KIND_POINT)
      return Err(x, x->elem[kf][i], "[[qoi]] #%d field = \"u\" needs kind = \"point\" (region means are of m only)",
                 (int)i + 1);
    if (q->kind == MC_QOI_KIND_POINT && !x->elem[kp][i])
      return Err(x, x->elem[kn][i], "[[qoi]] #%d \"%s\" has kind = \"point\" but no point", (int)i + 1, q->name);
    if (q->kind == MC_QOI_KIND_POINT && (PetscInt)x->elem[kp][i]->u.array.n != c->mesh.dim)
      return Err(x, x->elem[kp][i], "[[qoi]] #%d point has %zu coordinates, but dim = %d", (int)i + 1,
                 x->elem[kp][i]->u.array.n, (int)c->mesh.dim);
  }
  return 0;
}

static int PriorChecks(Ctx *x)
{
  McConfig *c = x->cfg;
  int       kl = KeyIndex("prior", "correlation_length"), ks = KeyIndex("prior", "std_dev");
  int       kg = KeyIndex("prior", "gamma"), kd = KeyIndex("prior", "delta");
  int       km = KeyIndex("prior", "mean"), kf = KeyIndex("prior", "mean_file"), kds = KeyIndex("prior", "mean_dataset");

  /* mean = 0 and mean_file = "" (what --print-config writes for keys left
   * out) stand for "not given". */
  if (x->given[km] && c->prior.mean_file[0] && c->prior.mean != 0)
    return Err(x, x->given[km]->line > x->given[kf]->line ? x->given[km] : x->given[kf],
               "[prior] mean = %g conflicts with mean_file: give a constant mean or a mean field from a file",
               (double)c->prior.mean);
  if (c->prior.mean_dataset[0] && !c->prior.mean_file[0])
    return Err(x, x->given[kds], "[prior] mean_dataset names a dataset of mean_file, which is not given");
  if (!x->given[kg] && !x->given[kd]) return 0;
  if (x->given[kl] || x->given[ks]) {
    int                a = x->given[kl] ? kl : ks, b = x->given[kg] ? kg : kd;
    const McTomlValue *later = (x->given[a]->line > x->given[b]->line ||
                                (x->given[a]->line == x->given[b]->line && x->given[a]->col > x->given[b]->col))
                                   ? x->given[a]
                                   : x->given[b];
    return Err(x, later,
               "[prior] %s conflicts with %s (line %d): give correlation_length and std_dev, or gamma and delta",
               keys[later == x->given[a] ? a : b].name, keys[later == x->given[a] ? b : a].name,
               (later == x->given[a] ? x->given[b] : x->given[a])->line);
  }
  if (!x->given[kg] || !x->given[kd])
    return Err(x, x->given[kg] ? x->given[kg] : x->given[kd], "[prior] %s is required with %s (they go together)",
               x->given[kg] ? "delta" : "gamma", x->given[kg] ? "gamma" : "delta");
  c->prior.by_coefficients = PETSC_TRUE;
  c->prior.correlation_length = c->prior.std_dev = 0;
  return 0;
}

static int ObservationChecks(Ctx *x)
{
  McConfig          *c = x->cfg;
  int                kp = KeyIndex("observations", "points");
  const McTomlValue *v = x->given[kp];

  if (c->observations.kind != MC_OBS_POINTS || !v) return 0;
  if (x->vlen[kp] != c->mesh.dim)
    return Err(x, v->u.array.items[0], "[observations] points[0] has %d coordinates, but dim = %d", x->vlen[kp],
               (int)c->mesh.dim);
  if (c->mesh.kind != MC_MESH_BOX) return 0;
  for (PetscInt i = 0; i < c->observations.npoints; i++)
    for (PetscInt d = 0; d < c->mesh.dim; d++) {
      PetscReal p = c->observations.points[i * c->mesh.dim + d];
      if (p < c->mesh.lower[d] || p > c->mesh.upper[d])
        return Err(x, v->u.array.items[i],
                   "[observations] points[%d] lies outside the mesh: coordinate %d is %g, the box spans [%g, %g]",
                   (int)i, (int)d, (double)p, (double)c->mesh.lower[d], (double)c->mesh.upper[d]);
    }
  return 0;
}

static int SamplerChainChecks(Ctx *x)
{
  McConfig *c = x->cfg;
  int       kb = KeyIndex("chain", "burn_in"), kt = KeyIndex("chain", "thin"), ks = KeyIndex("sampler", "step_size");

  if ((c->sampler.kernel == MC_KERNEL_PCN || c->sampler.kernel == MC_KERNEL_INFMALA) && c->sampler.step_size > 1)
    return Err(x, At(x, ks), "[sampler] step_size must be in (0, 1] with kernel = \"%s\", got %g",
               c->sampler.kernel == MC_KERNEL_PCN ? "pcn" : "infmala", (double)c->sampler.step_size);
  if (McKernelIsHMC(c->sampler.kernel) && c->sampler.step_size > PETSC_PI / 2)
    return Err(x, At(x, ks), "[sampler] step_size must be in (0, pi/2] = (0, 1.5708] with kernel = \"%s\", got %g",
               kernels[c->sampler.kernel], (double)c->sampler.step_size);
  /* Each kernel's own optimum unless given: a gradient kernel tuned to a
   * random walk's 0.25 would take needlessly small steps. */
  if (!x->given[KeyIndex("sampler", "target_acceptance")]) switch (c->sampler.kernel) {
    case MC_KERNEL_MALA:
    case MC_KERNEL_INFMALA:
    case MC_KERNEL_HMALA:
    case MC_KERNEL_DILI:
      c->sampler.target_acceptance = 0.574;
      break;
    case MC_KERNEL_HPCN:
    case MC_KERNEL_DR:
      c->sampler.target_acceptance = 0.3;
      break;
    case MC_KERNEL_INFHMC:
    case MC_KERNEL_HHMC:
      c->sampler.target_acceptance = 0.65;
      break;
    default:
      c->sampler.target_acceptance = 0.25;
    }
  if (c->sampler.surrogate == MC_SURROGATE_P1) {
    int ksu = KeyIndex("sampler", "surrogate");
    if (c->model.kind != MC_MODEL_PDE)
      return Err(x, At(x, ksu), "[sampler] surrogate = \"p1\" needs the PDE model, not [model] kind = \"umbridge\"");
    if (c->fem.order != 2)
      return Err(x, At(x, ksu),
                 "[sampler] surrogate = \"p1\" (a P1-state first stage for a P2 model) needs [fem] order = 2, got %d",
                 (int)c->fem.order);
    if (c->noise.covariance_file[0])
      return Err(x, At(x, ksu),
                 "[sampler] surrogate = \"p1\" does not support [noise] covariance_file (independent noise only)");
  }
  if (c->chain.burn_in >= c->chain.iterations)
    return Err(x, At(x, kb), "[chain] burn_in must be < iterations = %d, got %d", (int)c->chain.iterations,
               (int)c->chain.burn_in);
  if (c->chain.thin > c->chain.iterations - c->chain.burn_in)
    return Err(x, At(x, kt), "[chain] thin must be <= iterations - burn_in = %d, got %d",
               (int)(c->chain.iterations - c->chain.burn_in), (int)c->chain.thin);
  return 0;
}

/* A UM-Bridge model: an http(s) address, a JSON object for "config" (its
 * contents are checked by the client, which has the JSON parser), and a
 * truth we can draw without a mesh. */
static int ModelChecks(Ctx *x)
{
  McConfig   *c = x->cfg;
  const char *j = c->model.config;

  if (c->model.kind != MC_MODEL_UMBRIDGE) return 0;
  if (strncmp(c->model.url, "http://", 7) && strncmp(c->model.url, "https://", 8))
    return Err(x, At(x, KeyIndex("model", "url")), "[model] url must start with http:// or https://, got \"%s\"",
               c->model.url);
  while (*j == ' ' || *j == '\t' || *j == '\n' || *j == '\r') j++;
  if (*j != '{')
    return Err(x, At(x, KeyIndex("model", "config")), "[model] config must be a JSON object such as {}, got '%s'",
               c->model.config);
  /* The MAP point and the Laplace approximation need the PDE model's
   * adjoint Hessian, which a UM-Bridge model does not serve. */
  if (McKernelNeedsLaplace(c->sampler.kernel))
    return Err(x, At(x, KeyIndex("sampler", "kernel")),
               "[sampler] kernel = \"%s\" needs the MAP point and the Laplace approximation of the PDE model, not "
               "[model] kind = \"umbridge\"; choose pcn, rwm, am, mala, infmala or infhmc",
               kernels[c->sampler.kernel]);
  if (McStartNeedsMAP(c->sampler.start))
    return Err(x, At(x, KeyIndex("sampler", "start")),
               "[sampler] start = \"%s\" needs the MAP point of the PDE model, not [model] kind = \"umbridge\"; "
               "use start = \"prior_mean\" or \"prior\"",
               starts[c->sampler.start]);
  if (c->model.output == MC_UMB_OBSERVATIONS && c->data.kind == MC_DATA_SYNTHETIC &&
      c->data.truth >= MC_TRUTH_INCLUSION)
    return Err(x, At(x, KeyIndex("data", "truth")),
               "[data] truth = \"%s\" needs the mesh; with [model] kind = \"umbridge\" the truth is "
               "\"prior_sample\" or \"prior_mean\" of the model's input",
               truths[c->data.truth]);
  return 0;
}

/* ------------------------------------------------------------ public */

PetscErrorCode McConfigLoadString(McConfig *cfg, const char *text, size_t len, const char *source, char *msg,
                                  size_t msglen, PetscBool *valid)
{
  /* The TOML parser allocates through McMalloc (counted like every project
   * allocation) only while this function runs: every tree it parses is
   * freed before it returns, and a tree parsed elsewhere (with libc's
   * allocator) is never freed with ours. */
  const McTomlAllocator counting = {McMallocHook, McReallocHook, McFreeHook};
  McTomlAllocator       before;
  Ctx                  *x;
  McTomlValue          *root = NULL;
  McTomlError           err;
  int                   bad;

  PetscFunctionBeginUser;
  PetscCall(PetscFree(cfg->observations.points));
  PetscCall(PetscMemzero(cfg, sizeof(*cfg)));
  PetscCall(PetscNew(&x)); /* large (per-element positions): not on the stack */
  snprintf(cfg->source, sizeof(cfg->source), "%s", source);
  x->cfg = cfg;
  x->source = source;
  x->msg = msg;
  x->msglen = msglen;
  msg[0] = '\0';
  McTomlGetAllocator(&before);
  McTomlSetAllocator(&counting);
  bad = Defaults(x, "", -1, (char *)cfg);
  for (int s = 1; !bad && s < NSECTIONS; s++)
    if (!sections[s].array) bad = Defaults(x, sections[s].name, -1, (char *)cfg);
  if (!bad && McTomlParse(text, len, source, &root, &err)) {
    snprintf(msg, msglen, "%s", err.message);
    bad = 1;
  }
  bad = bad || Table(x, "", root, -1, (char *)cfg) || Conditions(x) || MeshChecks(x) || PdeChecks(x) ||
        PriorChecks(x) || ObservationChecks(x) || SamplerChainChecks(x) || QoIChecks(x) ||
        ModelChecks(x);
  McTomlFree(&root);
  McTomlSetAllocator(&before);
  PetscCall(PetscFree(x));
  *valid = bad ? PETSC_FALSE : PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode McConfigLoad(McConfig *cfg, const char *path, char *msg, size_t msglen, PetscBool *valid)
{
  FILE  *f;
  char  *text = NULL;
  size_t n = 0, cap = 0;

  PetscFunctionBeginUser;
  *valid = PETSC_FALSE;
  f = fopen(path, "rb");
  if (!f) {
    snprintf(msg, msglen, "%s: cannot open configuration: %s", path, strerror(errno));
    PetscFunctionReturn(0);
  }
  for (;;) {
    size_t got;
    if (n == cap) {
      PetscErrorCode ierr;
      cap = cap ? 2 * cap : 65536;
      ierr = McRealloc(cap, &text);
      if (ierr) {
        fclose(f);
        PetscCall(McFree(&text));
        SETERRQ(PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory reading %s", path);
      }
    }
    got = fread(text + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    snprintf(msg, msglen, "%s: cannot read configuration: %s", path, strerror(errno));
    fclose(f);
    PetscCall(McFree(&text));
    PetscFunctionReturn(0);
  }
  fclose(f);
  PetscCall(McConfigLoadString(cfg, text, n, path, msg, msglen, valid));
  PetscCall(McFree(&text));
  PetscFunctionReturn(0);
}

PetscErrorCode McConfigCreate(McConfig **cfg)
{
  char      msg[512];
  PetscBool valid;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(cfg));
  PetscCall(McConfigLoadString(*cfg, "", 0, "<defaults>", msg, sizeof(msg), &valid));
  PetscCheck(valid, PETSC_COMM_SELF, PETSC_ERR_PLIB, "the schema's defaults are invalid: %s", msg);
  PetscFunctionReturn(0);
}

PetscErrorCode McConfigDestroy(McConfig **cfg)
{
  PetscFunctionBeginUser;
  if (!*cfg) PetscFunctionReturn(0);
  PetscCall(PetscFree((*cfg)->observations.points));
  PetscCall(PetscFree(*cfg));
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------ output */

/* Whether key k is part of the resolved configuration c (alternatives not
 * chosen are not). */
/* Whether key k is written for the section (or array element) at base:
 * a key used only with some choice of another key looks that key up in the
 * same element. */
static int Shown(const McConfig *c, const char *base, const Key *k)
{
  if (k->when) {
    int w = FindKey(k->section, k->when);
    if (*(const int *)(base + keys[w].offset) != k->when_is) return 0;
  }
  if (!strcmp(k->section, "pde") && !strcmp(k->name, "source")) return c->pde.nwells == 0;
  if (!strcmp(k->section, "prior")) {
    if (!strcmp(k->name, "gamma") || !strcmp(k->name, "delta")) return c->prior.by_coefficients;
    if (!strcmp(k->name, "correlation_length") || !strcmp(k->name, "std_dev")) return !c->prior.by_coefficients;
  }
  return 1;
}

static void WriteValue(FILE *out, const McConfig *c, const Key *k, const char *base)
{
  const char *p = base + k->offset;
  int         n = k->len > 0 ? k->len : (int)c->mesh.dim;

  switch (k->type) {
  case T_STRING:
  case T_OPTIONS:
    McTomlWriteString(out, p, strlen(p));
    break;
  case T_CHOICE:
    fprintf(out, "\"%s\"", k->choices[*(const int *)p]);
    break;
  case T_INT:
    fprintf(out, "%d", (int)*(const PetscInt *)p);
    break;
  case T_REAL:
    McTomlWriteFloat(out, (double)*(const PetscReal *)p);
    break;
  case T_BOOL:
    fputs(*(const PetscBool *)p ? "true" : "false", out);
    break;
  case T_INTVEC:
  case T_REALVEC:
  case T_NAMES:
    if (k->type == T_NAMES) n = 2 * (int)c->mesh.dim;
    fputc('[', out);
    for (int i = 0; i < n; i++) {
      if (i) fputs(", ", out);
      if (k->type == T_INTVEC)
        fprintf(out, "%d", (int)((const PetscInt *)p)[i]);
      else if (k->type == T_REALVEC)
        McTomlWriteFloat(out, (double)((const PetscReal *)p)[i]);
      else
        McTomlWriteString(out, p + (size_t)i * k->cap, strlen(p + (size_t)i * k->cap));
    }
    fputc(']', out);
    break;
  case T_POINTS:
    fputc('[', out);
    for (PetscInt i = 0; i < c->observations.npoints; i++) {
      fputs(i ? ",\n  [" : "\n  [", out);
      for (PetscInt d = 0; d < c->mesh.dim; d++) {
        if (d) fputs(", ", out);
        McTomlWriteFloat(out, (double)c->observations.points[i * c->mesh.dim + d]);
      }
      fputc(']', out);
    }
    fputs("\n]", out);
    break;
  }
}

PetscErrorCode McConfigWrite(const McConfig *c, FILE *out)
{
  PetscFunctionBeginUser;
  fprintf(out, "# Resolved configuration of %s (every default filled in).\n", c->source);
  for (int s = 0; s < NSECTIONS; s++) {
    const Section *sec = &sections[s];
    PetscInt       n = sec->array ? *(const PetscInt *)((const char *)c + sec->count) : 1;
    for (PetscInt e = 0; e < n; e++) {
      const char *base = sec->array ? (const char *)c + sec->items + (size_t)e * sec->size : (const char *)c;
      if (sec->array)
        fprintf(out, "\n[[%s]]\n", sec->name);
      else if (s > 0)
        fprintf(out, "\n[%s]\n", sec->name);
      for (int k = 0; k < NKEYS; k++) {
        if (strcmp(keys[k].section, sec->name) || !Shown(c, base, &keys[k])) continue;
        fprintf(out, "%s = ", keys[k].name);
        WriteValue(out, c, &keys[k], base);
        fputc('\n', out);
      }
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McConfigWriteReference(FILE *out)
{
  McConfig *def;

  PetscFunctionBeginUser;
  PetscCall(McConfigCreate(&def));
  fputs("# configs/reference.toml: every key mcmc-run knows, with its meaning, unit,\n"
        "# default and allowed range. It is a valid configuration (the defaults);\n"
        "# keys that are alternatives to the defaults are commented out.\n"
        "# Generated from the schema in src/config/config.c; a test keeps them equal.\n",
        out);
  for (int s = 0; s < NSECTIONS; s++) {
    const Section *sec = &sections[s];
    const char    *hash = sec->array ? "# " : "";
    fprintf(out, "\n# %s\n", sec->doc);
    if (sec->array)
      fprintf(out, "# [[%s]]\n", sec->name);
    else if (s > 0)
      fprintf(out, "[%s]\n", sec->name);
    for (int k = 0; k < NKEYS; k++) {
      const Key *key = &keys[k];
      char       range[256];
      int        active;
      if (strcmp(key->section, sec->name)) continue;
      active = !sec->array && key->def && Shown(def, (const char *)def, key);
      if (key->type == T_CHOICE) {
        char list[200];
        ChoicesText(key, list, sizeof(list));
        snprintf(range, sizeof(range), "one of %s", list);
      } else if (key->type == T_BOOL) {
        snprintf(range, sizeof(range), "true or false");
      } else if (key->type == T_STRING || key->type == T_OPTIONS || key->type == T_NAMES) {
        snprintf(range, sizeof(range), "%s",
                 key->type == T_OPTIONS ? "PETSc options"
                 : key->type == T_NAMES ? "strings"
                                        : "a string");
      } else {
        char r[96];
        RangeText(key, r, sizeof(r));
        snprintf(range, sizeof(range), "%s%s",
                 key->type == T_INTVEC || key->type == T_REALVEC || key->type == T_POINTS ? "entries " : "", r);
      }
      fprintf(out, "\n# %s\n# unit: %s; default: %s; range: %s%s%s%s%s%s\n", key->doc, key->unit,
              key->def                  ? key->def
              : (key->flags & REQUIRED) ? "none (required)"
                                        : "none",
              range, key->when ? "; only with " : "", key->when ? key->when : "", key->when ? " = \"" : "",
              key->when ? keys[FindKey(key->section, key->when)].choices[key->when_is] : "", key->when ? "\"" : "");
      fprintf(out, "%s%s%s = %s\n", hash, active ? "" : (sec->array ? "" : "# "), key->name,
              key->def ? key->def : key->example);
    }
  }
  PetscCall(McConfigDestroy(&def));
  PetscFunctionReturn(0);
}

PetscErrorCode McConfigWriteSummary(const McConfig *c, FILE *out)
{
  static const char *kernel[] = {"pCN",
                                 "random-walk Metropolis",
                                 "adaptive Metropolis",
                                 "MALA",
                                 "infinite-dimensional MALA",
                                 "Hessian-informed pCN",
                                 "Hessian-informed MALA",
                                 "DILI",
                                 "delayed rejection (hpcn, hmala)",
                                 "infinite-dimensional HMC",
                                 "Hessian-informed HMC"};
  PetscInt nobs = c->observations.kind == MC_OBS_GRID ? (PetscInt)pow((double)c->observations.grid, (double)c->mesh.dim)
                                                      : c->observations.npoints;

  PetscFunctionBeginUser;
  fprintf(out, "problem  %s (%s)\n", c->title, c->source);
  if (c->model.kind == MC_MODEL_UMBRIDGE) {
    static const char *what[] = {"its log density", "its log-likelihood under N(0, I)", "its observations"};
    fprintf(out, "model    UM-Bridge model %s at %s: %s\n", c->model.name, c->model.url, what[c->model.output]);
    if (c->model.output == MC_UMB_OBSERVATIONS) {
      if (c->data.kind == MC_DATA_SYNTHETIC)
        fprintf(out, "data     synthetic from %s (seed %d), noise sigma %g %s\n",
                c->data.truth == MC_TRUTH_PRIOR_SAMPLE ? "a prior sample" : "the prior mean", (int)c->data.truth_seed,
                (double)c->noise.sigma, c->noise.kind == MC_NOISE_ABSOLUTE ? "absolute" : "relative");
      else
        fprintf(out, "data     values from %s, noise sigma %g %s\n", c->data.file, (double)c->noise.sigma,
                c->noise.kind == MC_NOISE_ABSOLUTE ? "absolute" : "relative");
    }
  } else if (c->mesh.kind == MC_MESH_BOX) {
    fprintf(out, "mesh     %dD box, %d", (int)c->mesh.dim, (int)c->mesh.cells[0]);
    for (PetscInt d = 1; d < c->mesh.dim; d++)
      fprintf(out, "x%d", (int)c->mesh.cells[d]);
    fprintf(out, " %s cells, P%d state, P%d parameter\n", c->mesh.cell == MC_CELL_SIMPLEX ? "simplex" : "tensor",
            (int)c->fem.order, (int)c->fem.parameter_order);
  } else {
    fprintf(out, "mesh     %dD Gmsh file %s, P%d state, P%d parameter\n", (int)c->mesh.dim, c->mesh.file,
            (int)c->fem.order, (int)c->fem.parameter_order);
  }
  if (c->model.kind == MC_MODEL_UMBRIDGE)
    ; /* no prior field, mesh or observation points: the model line said it all */
  else {
    if (c->prior.by_coefficients)
      fprintf(out, "prior    bilaplacian, gamma %g, delta %g, ", (double)c->prior.gamma, (double)c->prior.delta);
    else
      fprintf(out, "prior    bilaplacian, correlation length %g, std dev %g, ", (double)c->prior.correlation_length,
              (double)c->prior.std_dev);
    if (c->prior.mean_file[0])
      fprintf(out, "mean field from %s%s%s\n", c->prior.mean_file, c->prior.mean_dataset[0] ? ":" : "",
              c->prior.mean_dataset);
    else fprintf(out, "mean %g\n", (double)c->prior.mean);
  }
  if (c->model.kind == MC_MODEL_UMBRIDGE)
    ;
  else if (c->observations.kind == MC_OBS_FILE)
    fprintf(out, "data     observation points from %s", c->observations.file);
  else
    fprintf(out, "data     %d observation points", (int)nobs);
  if (c->model.kind == MC_MODEL_UMBRIDGE)
    ;
  else if (c->data.kind == MC_DATA_SYNTHETIC)
    fprintf(out, ", synthetic from %s (seed %d), noise sigma %g %s\n",
            c->data.truth == MC_TRUTH_PRIOR_SAMPLE ? "a prior sample"
            : c->data.truth == MC_TRUTH_PRIOR_MEAN ? "the prior mean"
                                                   : truths[c->data.truth],
            (int)c->data.truth_seed, (double)c->noise.sigma,
            c->noise.kind == MC_NOISE_ABSOLUTE ? "absolute" : "relative");
  else
    fprintf(out, ", values from %s, noise sigma %g %s\n", c->data.file, (double)c->noise.sigma,
            c->noise.kind == MC_NOISE_ABSOLUTE ? "absolute" : "relative");
  {
    PetscBool dr = c->sampler.kernel == MC_KERNEL_DR ? PETSC_TRUE : PETSC_FALSE;
    char      second[96] = "";
    /* dr adapts its two steps separately (adapt_first_step) */
    if (dr)
      snprintf(second, sizeof(second), ", second step %g%s", (double)c->sampler.delta2,
               c->sampler.adapt ? " (adapted)" : "");
    if (McKernelIsHMC(c->sampler.kernel))
      snprintf(second, sizeof(second), ", %d leapfrog steps", (int)c->sampler.leapfrog_steps);
    fprintf(out, "sampler  %s%s, step %g%s%s, %d iterations (burn-in %d, thin %d), seed %d\n", kernel[c->sampler.kernel],
            c->sampler.surrogate == MC_SURROGATE_P1 ? " on the P1-state model, with delayed acceptance by the P2 model"
                                                    : "",
            (double)c->sampler.step_size, c->sampler.adapt && (!dr || c->sampler.adapt_first) ? " (adapted)" : "",
            second, (int)c->chain.iterations, (int)c->chain.burn_in, (int)c->chain.thin, (int)c->chain.seed);
  }
  fprintf(out, "output   %s\n", c->output.path);
  PetscFunctionReturn(0);
}

PetscInt McConfigKeyCount(void)
{
  return NKEYS;
}

PetscErrorCode McConfigKeyGet(PetscInt i, const char **section, const char **name)
{
  PetscFunctionBeginUser;
  PetscCheck(i >= 0 && i < NKEYS, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "key index %d not in [0, %d)", (int)i,
             NKEYS);
  *section = keys[i].section;
  *name = keys[i].name;
  PetscFunctionReturn(0);
}
