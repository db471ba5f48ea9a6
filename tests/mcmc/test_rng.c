/* RNG streams: splitmix64 against its reference outputs, the GSL state
 * layout the seeding writes into, exact save/restore, distinct per-chain
 * streams, and the moments of the Gaussian variates. */
#include "mcmc/mcmc.h"
#include "mctest.h"

#include <gsl/gsl_rng.h>

static PetscErrorCode TestSplitMix(void)
{
  /* Reference outputs for state 1234567 (the splitmix64.c test vector of
   * Vigna's xoshiro/splitmix reference code). */
  const uint64_t want[5] = {6457827717110365317ULL, 3203168211198807973ULL, 9817491932198370423ULL,
                            4593380528125082431ULL, 16408922859458223821ULL};
  uint64_t       s = 1234567;

  PetscFunctionBeginUser;
  for (int i = 0; i < 5; i++) {
    uint64_t got = McSplitMix64(&s);
    CHECK(got == want[i], "splitmix64 output %d: %llu, expected %llu", i, (unsigned long long)got,
          (unsigned long long)want[i]);
  }
  PetscFunctionReturn(0);
}

/* McRngCreate writes GSL's MT19937 state as {unsigned long mt[624]; int mti}.
 * Check that layout: after gsl_rng_set(5489) the state must hold MT's
 * init_genrand words, and a state written by hand from those words must give
 * MT19937's reference first output 3499211612. */
static PetscErrorCode TestGslLayout(void)
{
  gsl_rng       *r = gsl_rng_alloc(gsl_rng_mt19937), *h = gsl_rng_alloc(gsl_rng_mt19937);
  unsigned long *st, *hs, w = 5489;

  PetscFunctionBeginUser;
  gsl_rng_set(r, 5489);
  st = gsl_rng_state(r);
  hs = gsl_rng_state(h);
  for (int i = 0; i < 624; i++) {
    CHECK(st[i] == w, "mt[%d] = %lu after gsl_rng_set(5489), expected %lu", i, st[i], w);
    hs[i] = w;
    w = (1812433253UL * (w ^ (w >> 30)) + (unsigned long)(i + 1)) & 0xffffffffUL;
  }
  CHECK(*(int *)(st + 624) == 624, "mti = %d after seeding, expected 624", *(int *)(st + 624));
  *(int *)(hs + 624) = 624;
  CHECK(gsl_rng_get(h) == 3499211612UL, "hand-written MT state: first output is not MT19937's 3499211612");
  CHECK(gsl_rng_get(r) == 3499211612UL, "gsl mt19937(5489): first output is not 3499211612");
  gsl_rng_free(r);
  gsl_rng_free(h);
  PetscFunctionReturn(0);
}

static PetscErrorCode TestSaveRestore(void)
{
  McRng         a, b;
  unsigned char buf[8192];
  double        x[2000], y[2000];
  size_t        size;

  PetscFunctionBeginUser;
  PetscCall(McRngCreate(42, 3, &a));
  PetscCall(McRngCreate(7, 0, &b));
  size = McRngStateSize(a);
  CHECK(size <= sizeof(buf) && size > 624 * 4, "state size %zu", size);
  for (int i = 0; i < 777; i++) (void)(i % 2 ? McRngUniform(a) : McRngGaussian(a));
  PetscCall(McRngSave(a, buf, size));
  for (int i = 0; i < 2000; i++) x[i] = i % 3 ? McRngGaussian(a) : McRngUniform(a);
  /* Restore into the same generator and into an unrelated one. */
  PetscCall(McRngRestore(a, buf, size));
  for (int i = 0; i < 2000; i++) y[i] = i % 3 ? McRngGaussian(a) : McRngUniform(a);
  CHECK(!memcmp(x, y, sizeof(x)), "restored stream differs from the saved one");
  PetscCall(McRngRestore(b, buf, size));
  for (int i = 0; i < 2000; i++) y[i] = i % 3 ? McRngGaussian(b) : McRngUniform(b);
  CHECK(!memcmp(x, y, sizeof(x)), "stream restored into another generator differs");
  PetscCall(McRngDestroy(&a));
  PetscCall(McRngDestroy(&b));
  PetscFunctionReturn(0);
}

static PetscErrorCode TestStreams(void)
{
  /* (seed, chain) pairs, including neighbours in both coordinates. */
  const uint64_t pairs[6][2] = {{42, 0}, {42, 1}, {42, 2}, {43, 0}, {43, 1}, {0, 0}};
  double         first[6][16];
  McRng          r;

  PetscFunctionBeginUser;
  for (int p = 0; p < 6; p++) {
    PetscCall(McRngCreate(pairs[p][0], pairs[p][1], &r));
    for (int i = 0; i < 16; i++) first[p][i] = McRngUniform(r);
    PetscCall(McRngDestroy(&r));
  }
  for (int p = 0; p < 6; p++)
    for (int q = p + 1; q < 6; q++) {
      int same = 0;
      for (int i = 0; i < 16; i++) same += first[p][i] == first[q][i];
      CHECK(same == 0, "streams (%llu,%llu) and (%llu,%llu) share %d of 16 values", (unsigned long long)pairs[p][0],
            (unsigned long long)pairs[p][1], (unsigned long long)pairs[q][0], (unsigned long long)pairs[q][1], same);
    }
  /* The same pair gives the same stream. */
  PetscCall(McRngCreate(42, 1, &r));
  for (int i = 0; i < 16; i++) CHECK(McRngUniform(r) == first[1][i], "stream (42,1) not reproducible at %d", i);
  PetscCall(McRngDestroy(&r));
  PetscFunctionReturn(0);
}

static PetscErrorCode TestMoments(void)
{
  const int n = 200000;
  double    s = 0, s2 = 0, u = 0, cross = 0, prev = 0;
  McRng     r;
  Vec       v;
  PetscReal vs;

  PetscFunctionBeginUser;
  PetscCall(McRngCreate(1, 0, &r));
  for (int i = 0; i < n; i++) {
    double g = McRngGaussian(r);
    s += g;
    s2 += g * g;
    cross += g * prev;
    prev = g;
    u += McRngUniform(r);
  }
  /* Tolerances are 5 standard errors of each estimate for independent
   * draws: sd(mean) = 1/sqrt(n), sd(mean of g^2) = sqrt(2/n), sd(lag-1
   * product mean) = 1/sqrt(n), sd(uniform mean) = sqrt(1/12n). */
  CHECK(fabs(s / n) < 5 / sqrt(n), "gaussian mean %g", s / n);
  CHECK(fabs(s2 / n - 1) < 5 * sqrt(2.0 / n), "gaussian variance %g", s2 / n);
  CHECK(fabs(cross / n) < 5 / sqrt(n), "lag-1 correlation %g", cross / n);
  CHECK(fabs(u / n - 0.5) < 5 * sqrt(1 / (12.0 * n)), "uniform mean %g", u / n);
  /* The vector fill draws the same values as the scalar stream. */
  PetscCall(VecCreateSeq(PETSC_COMM_SELF, 1000, &v));
  PetscCall(McRngDestroy(&r));
  PetscCall(McRngCreate(9, 9, &r));
  PetscCall(McRngGaussianVec(r, v));
  PetscCall(VecSum(v, &vs));
  PetscCall(McRngDestroy(&r));
  PetscCall(McRngCreate(9, 9, &r));
  s = 0;
  for (int i = 0; i < 1000; i++) s += McRngGaussian(r);
  CHECK(fabs(vs - s) < 1e-9, "vector fill sum %g, scalar stream sum %g", (double)vs, s);
  PetscCall(VecDestroy(&v));
  PetscCall(McRngDestroy(&r));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(TestSplitMix());
  PetscCall(TestGslLayout());
  PetscCall(TestSaveRestore());
  PetscCall(TestStreams());
  PetscCall(TestMoments());
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%d failures\n", failures));
  PetscCall(PetscFinalize());
  return failures != 0;
}
