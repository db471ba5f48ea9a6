/* Sorting the draws of one quantity, for its quantiles and ranks. A
 * least-significant-digit radix sort on the bits of each double: O(S) per
 * pass where a comparison sort (GSL's heapsort) is O(S log S) with a cache
 * miss per step, which made sorting most of mcmc-diag's time on large runs
 * (scripts/bench-diag). The bits of a double order like its value once
 * negative values have every bit flipped and positive ones their sign bit
 * set; 8-bit digits take eight passes, fewer when a digit is the same in
 * every key (the sign and exponent bits of draws of one quantity often
 * are). A key travels with its index as one 16-byte record, so a pass
 * writes one stream per bucket, not two; the sorted values are decoded
 * from the keys, not gathered from x. Each pass is stable. */
#include "diag/diag_impl.h"

#include <string.h>

#define DIGIT_BITS 8
#define DIGITS     8
#define BUCKETS    (1 << DIGIT_BITS)

typedef struct {
  uint64_t key;
  PetscInt at;
} Record;

static inline uint64_t Key(PetscReal v)
{
  uint64_t u;

  memcpy(&u, &v, sizeof(u));
  return (u >> 63) ? ~u : u | ((uint64_t)1 << 63);
}

static inline PetscReal Value(uint64_t k)
{
  uint64_t  u = (k >> 63) ? k & ~((uint64_t)1 << 63) : ~k;
  PetscReal v;

  memcpy(&v, &u, sizeof(v));
  return v;
}

PetscErrorCode McDiagSort(PetscInt S, const PetscReal *x, PetscInt *perm, PetscReal *sorted)
{
  Record   *r0, *r1, *a, *b;
  PetscInt (*count)[BUCKETS];

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(S, &r0, S, &r1));
  a = r0, b = r1;
  PetscCall(PetscCalloc1(DIGITS, &count));
  for (PetscInt i = 0; i < S; i++) {
    uint64_t k = Key(x[i]);
    a[i] = (Record){k, i};
    for (int d = 0; d < DIGITS; d++)
      count[d][(k >> (d * DIGIT_BITS)) & (BUCKETS - 1)]++;
  }
  for (int d = 0; d < DIGITS; d++) {
    PetscInt *c = count[d], sum = 0;
    int       shift = d * DIGIT_BITS;

    if (S == 0 || c[(a[0].key >> shift) & (BUCKETS - 1)] == S) continue; /* one bucket: nothing moves */
    for (int q = 0; q < BUCKETS; q++) {
      PetscInt n = c[q];
      c[q] = sum;
      sum += n;
    }
    for (PetscInt i = 0; i < S; i++)
      b[c[(a[i].key >> shift) & (BUCKETS - 1)]++] = a[i];
    {
      Record *t = a;
      a = b, b = t;
    }
  }
  for (PetscInt i = 0; i < S; i++) {
    perm[i] = a[i].at;
    if (sorted) sorted[i] = Value(a[i].key);
  }
  PetscCall(PetscFree(count));
  PetscCall(PetscFree2(r0, r1));
  PetscFunctionReturn(0);
}
