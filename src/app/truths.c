/* The named analytic truths of synthetic data ([data] truth): fields added
 * to the prior mean, defined on the domain's bounding box so that one
 * configuration means the same picture on a unit square, a stretched box
 * or a Gmsh mesh.
 *
 * The one idea: every shape is written in the scaled coordinates
 * s_d = (x_d - lo_d) / (hi_d - lo_d) in [0, 1] with smooth (tanh) edges of
 * width 0.02, so each is continuous and resolved on any reasonable mesh
 * (P1 interpolation of a jump would depend on where the vertices fall).
 * "inclusion" keeps its original definition in x (a disc of radius 0.2
 * of the smallest side at the centre), value for value. */
#include "app/app.h"

#include <math.h>

#define MC_TRUTH_EDGE 0.02

/* 1 inside distance r of the centre (edge width w), 0 outside. */
static PetscReal Bump(PetscReal dist, PetscReal r, PetscReal w)
{
  return 0.5 * (1 - PetscTanhReal((dist - r) / w));
}

/* A smooth step: 0 below t = 0, 1 above. */
static PetscReal Step(PetscReal t)
{
  return 0.5 * (1 + PetscTanhReal(t / MC_TRUTH_EDGE));
}

PetscReal McAnalyticTruth(McTruthKind kind, PetscInt dim, const PetscReal lo[], const PetscReal hi[], PetscReal a,
                          const PetscReal x[])
{
  PetscReal s[3], side = PETSC_MAX_REAL, r2 = 0, v = 1;

  for (PetscInt d = 0; d < dim; d++) {
    s[d] = (x[d] - lo[d]) / (hi[d] - lo[d]);
    side = PetscMin(side, hi[d] - lo[d]);
  }
  switch (kind) {
  case MC_TRUTH_INCLUSION:
    for (PetscInt d = 0; d < dim; d++)
      r2 += PetscSqr(x[d] - 0.5 * (lo[d] + hi[d]));
    return a * Bump(PetscSqrtReal(r2), 0.2 * side, MC_TRUTH_EDGE * side);
  case MC_TRUTH_TWO_INCLUSIONS: {
    PetscReal q2 = 0;
    for (PetscInt d = 0; d < dim; d++) {
      r2 += PetscSqr(x[d] - (lo[d] + 0.3 * (hi[d] - lo[d])));
      q2 += PetscSqr(x[d] - (lo[d] + 0.7 * (hi[d] - lo[d])));
    }
    return a * (Bump(PetscSqrtReal(r2), 0.15 * side, MC_TRUTH_EDGE * side) -
                Bump(PetscSqrtReal(q2), 0.15 * side, MC_TRUTH_EDGE * side));
  }
  case MC_TRUTH_LAYERS: /* along the last axis: y in 2D, z in 3D */
    return a * (Step(1.0 / 3 - s[dim - 1]) - Step(s[dim - 1] - 2.0 / 3));
  case MC_TRUTH_CHANNEL:
    return a * Bump(PetscAbsReal(s[1] - (0.5 + 0.15 * PetscSinReal(2 * PETSC_PI * s[0]))), 0.1, MC_TRUTH_EDGE);
  case MC_TRUTH_SMOOTH:
    for (PetscInt d = 0; d < dim; d++)
      v *= PetscSinReal(2 * PETSC_PI * s[d]);
    return a * v;
  default:
    return 0; /* the prior's truths are not analytic */
  }
}
