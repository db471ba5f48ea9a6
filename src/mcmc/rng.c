/* Random streams for chains: GSL's MT19937 with the whole state seeded.
 *
 * gsl_rng_set takes a 32-bit seed for MT19937, so two chains would share a
 * stream with probability ~K^2/2^33 and nearby seeds give related starts.
 * Instead the 624-word state is filled from a splitmix64 sequence whose
 * start is a hash of (seed, chain): distinct pairs give unrelated states.
 * That writes GSL's state struct {unsigned long mt[624]; int mti;} directly;
 * its size is checked here and its layout by the tests. */
#include "mcmc/mcmc_impl.h"
#include "fem/fem.h"

#include <gsl/gsl_randist.h>
#include <string.h>

#define MT_N 624

typedef struct {
  unsigned long mt[MT_N];
  int           mti;
} MtState;

uint64_t McSplitMix64(uint64_t *state)
{
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

PetscErrorCode McRngCreate(uint64_t seed, uint64_t chain, McRng *rng)
{
  McRng    g;
  MtState *st;
  uint64_t key = seed, any = 0;

  PetscFunctionBeginUser;
  *rng = NULL;
  PetscCall(McCalloc(sizeof(*g), &g));
  g->r = gsl_rng_alloc(gsl_rng_mt19937);
  PetscCheck(g->r, PETSC_COMM_SELF, PETSC_ERR_MEM, "gsl_rng_alloc failed");
  PetscCheck(gsl_rng_size(g->r) == sizeof(MtState), PETSC_COMM_SELF, PETSC_ERR_LIB,
             "GSL's mt19937 state is %zu bytes, expected %zu: this GSL lays it out differently",
             gsl_rng_size(g->r), sizeof(MtState));
  /* key = splitmix(seed) mixed with the chain index, then one more round so
   * chain c of seed s and chain c+1 of seed s start far apart. */
  key = McSplitMix64(&key) ^ (chain * 0xd1b54a32d192ed03ULL);
  (void)McSplitMix64(&key);
  st = (MtState *)gsl_rng_state(g->r);
  for (int i = 0; i < MT_N; i++) {
    st->mt[i] = (unsigned long)(McSplitMix64(&key) & 0xffffffffULL);
    any |= st->mt[i];
  }
  if (!any) st->mt[0] = 0x80000000UL; /* the all-zero state is MT's fixed point */
  st->mti = MT_N;                     /* regenerate before the first output */
  *rng = g;
  PetscFunctionReturn(0);
}

PetscErrorCode McRngDestroy(McRng *rng)
{
  PetscFunctionBeginUser;
  if (!*rng) PetscFunctionReturn(0);
  gsl_rng_free((*rng)->r);
  PetscCall(McFree(rng));
  PetscFunctionReturn(0);
}

double McRngUniform(McRng rng)
{
  return gsl_rng_uniform_pos(rng->r);
}

double McRngGaussian(McRng rng)
{
  return gsl_ran_gaussian_ziggurat(rng->r, 1.0);
}

void McRngGaussianArray(McRng rng, PetscInt n, PetscReal *x)
{
  for (PetscInt i = 0; i < n; i++) x[i] = gsl_ran_gaussian_ziggurat(rng->r, 1.0);
}

static double NextGaussian(void *ctx)
{
  return gsl_ran_gaussian_ziggurat(((McRng)ctx)->r, 1.0);
}

/* Entry j of the natural numbering gets the stream's j-th value on every
 * layout (fem's McVecFillNatural): a chain's proposals do not depend on how
 * its mesh is partitioned. */
PetscErrorCode McRngGaussianVec(McRng rng, Vec v)
{
  PetscFunctionBeginUser;
  PetscCall(McVecFillNatural(v, NextGaussian, rng));
  PetscFunctionReturn(0);
}

size_t McRngStateSize(McRng rng)
{
  return gsl_rng_size(rng->r);
}

PetscErrorCode McRngSave(McRng rng, void *buf, size_t size)
{
  PetscFunctionBeginUser;
  PetscCheck(size == gsl_rng_size(rng->r), PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ,
             "RNG state buffer has %zu bytes, the generator needs %zu", size, gsl_rng_size(rng->r));
  memcpy(buf, gsl_rng_state(rng->r), size);
  PetscFunctionReturn(0);
}

PetscErrorCode McRngRestore(McRng rng, const void *buf, size_t size)
{
  PetscFunctionBeginUser;
  PetscCheck(size == gsl_rng_size(rng->r), PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ,
             "RNG state buffer has %zu bytes, the generator needs %zu", size, gsl_rng_size(rng->r));
  memcpy(gsl_rng_state(rng->r), buf, size);
  PetscFunctionReturn(0);
}
