/* What the obj tests share: exact-value checks that print both values, and a
 * fresh collector state per case (automatic collection off, nothing left in
 * any generation, live counts remembered so a case can prove memory came
 * back). */
#pragma once
#include "obj/obj.h"

#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK_INT(got, want)                                                                                           \
  do {                                                                                                                 \
    long long g_ = (long long)(got), w_ = (long long)(want);                                                           \
    if (g_ != w_) {                                                                                                    \
      printf("FAIL %s:%d: %s = %lld, expected %lld\n", __FILE__, __LINE__, #got, g_, w_);                              \
      failures++;                                                                                                      \
    }                                                                                                                  \
  } while (0)

#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                                                           \
      failures++;                                                                                                      \
    }                                                                                                                  \
  } while (0)

#define CHECK_CONTAINS(text, needle)                                                                                   \
  do {                                                                                                                 \
    if (!strstr((text), (needle))) {                                                                                   \
      printf("FAIL %s:%d: \"%s\" not found in:\n%s\n", __FILE__, __LINE__, (needle), (text));                          \
      failures++;                                                                                                      \
    }                                                                                                                  \
  } while (0)

/* Live objects and bytes at the start of a case. */
typedef struct {
  PetscInt64 objects, bytes;
} Live;

static inline PetscErrorCode CaseBegin(Live *live)
{
  PetscFunctionBeginUser;
  PetscCall(McGCEnable(PETSC_FALSE));
  PetscCall(McGCSetThresholds(700, 10, 10));
  PetscCall(McGCCollect(2, NULL));
  PetscCall(McMemGetLive(&live->objects, &live->bytes));
  PetscFunctionReturn(0);
}

/* Memory back exactly where the case began. */
#define CHECK_LIVE(live)                                                                                               \
  do {                                                                                                                 \
    PetscInt64 o_, b_;                                                                                                 \
    PetscCall(McMemGetLive(&o_, &b_));                                                                                 \
    CHECK_INT(o_, (live).objects);                                                                                     \
    CHECK_INT(b_, (live).bytes);                                                                                       \
  } while (0)
