/* Sorting the draws of one quantity, for its quantiles and ranks. A
 * least-significant-digit radix sort on the bits of each double: O(S) per
 * pass where a comparison sort (GSL's heapsort) is O(S log S) with a cache
 * miss per step, which made sorting most of mcmc-diag's time on large runs
 * (scripts/bench-diag). The bits of a double order like its value once
 * negative values have every bit flipped and positive ones their sign bit
 * set; 11-bit digits take six passes, fewer when a digit is the same in
 * every key (the high exponent bits of draws of one quantity usually are).
 * Each pass is stable, so equal values keep their order. */
#include "diag/diag_impl.h"

#include <string.h>

#define DIGIT_BITS 8
#define DIGITS     8
#define BUCKETS    (1 << DIGIT_BITS)

static inline uint64_t Key(PetscReal v)
{
  uint64_t u;

  memcpy(&u, &v, sizeof(u));
  return (u >> 63) ? ~u : u | ((uint64_t)1 << 63);
}

PetscErrorCode McDiagSort(PetscInt S, const PetscReal *x, PetscInt *perm, PetscReal *sorted)
{
  uint64_t *key, *key2, *kin, *kout;
  PetscInt *idx2, *pin, *pout, (*count)[BUCKETS];

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc3(S, &key, S, &key2, S, &idx2));
  kin = key, kout = key2, pin = perm, pout = idx2;
  PetscCall(PetscCalloc1(DIGITS, &count));
  for (PetscInt i = 0; i < S; i++) {
    key[i] = Key(x[i]);
    perm[i] = i;
    for (int d = 0; d < DIGITS; d++)
      count[d][(key[i] >> (d * DIGIT_BITS)) & (BUCKETS - 1)]++;
  }
  for (int d = 0; d < DIGITS; d++) {
    PetscInt *c = count[d], sum = 0;
    int       shift = d * DIGIT_BITS;

    if (S == 0 || c[(kin[0] >> shift) & (BUCKETS - 1)] == S) continue; /* one bucket: nothing moves */
    for (int b = 0; b < BUCKETS; b++) {
      PetscInt n = c[b];
      c[b] = sum;
      sum += n;
    }
    for (PetscInt i = 0; i < S; i++) {
      PetscInt to = c[(kin[i] >> shift) & (BUCKETS - 1)]++;
      kout[to] = kin[i];
      pout[to] = pin[i];
    }
    {
      uint64_t *k = kin;
      PetscInt *q = pin;
      kin = kout, kout = k, pin = pout, pout = q;
    }
  }
  if (pin != perm) PetscCall(PetscArraycpy(perm, pin, S));
  if (sorted)
    for (PetscInt i = 0; i < S; i++)
      sorted[i] = x[perm[i]];
  PetscCall(PetscFree(count));
  PetscCall(PetscFree3(key, key2, idx2));
  PetscFunctionReturn(0);
}
