/* The memory assertion: a clean loop passes McMemCheck; a deliberate leak
 * of objects and bytes fails it, and the report names the leaking type, its
 * count, the bytes, and in debug mode the creation site; the tolerances
 * work; checking without a baseline is an error. */
#include "objtest.h"

typedef struct {
  MC_OBJECT_HEAD;
  double *buf;
} Leaky;

static void LeakyDealloc(McObject *o)
{
  (void)McFree(&((Leaky *)o)->buf);
}

static const McType LeakyType = {"Leaky", sizeof(Leaky), NULL, LeakyDealloc, NULL, NULL};
static const McType OtherType = {"Other", sizeof(Leaky), NULL, LeakyDealloc, NULL, NULL};

static PetscErrorCode NewLeaky(const McType *type, Leaky **l)
{
  PetscFunctionBeginUser;
  PetscCall(McObjectCreate(type, l));
  PetscCall(McMalloc(10 * sizeof(double), &(*l)->buf));
  PetscFunctionReturn(0);
}

static PetscErrorCode Run(void)
{
  char           report[4096], want[256];
  PetscBool      ok;
  Leaky         *kept[7], *l;
  char          *extra;
  PetscErrorCode ierr;
  int            site;
  const size_t   leak_bytes = 7 * (sizeof(Leaky) + 10 * sizeof(double)) + 1000;

  PetscFunctionBeginUser;
  /* misuse: no baseline yet */
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = McMemCheck(0, 0, &ok, report, sizeof(report));
  PetscCall(PetscPopErrorHandler());
  CHECK_INT(ierr, PETSC_ERR_ORDER);

  /* warm-up: the type is registered, then the baseline */
  PetscCall(NewLeaky(&OtherType, &l));
  PetscCall(McObjectDestroy(&l));
  PetscCall(McMemSetBaseline());

  /* a clean loop passes */
  for (int i = 0; i < 100; i++) {
    PetscCall(NewLeaky(&LeakyType, &l));
    PetscCall(McObjectDestroy(&l));
  }
  PetscCall(McMemCheck(0, 0, &ok, report, sizeof(report)));
  CHECK(ok);
  CHECK_INT(strlen(report), 0);

  /* a leak: 7 objects of one type and 1000 loose bytes */
  for (int i = 0; i < 7; i++)
    PetscCall(NewLeaky(&LeakyType, &kept[i]));
  PetscCall(McMalloc(1000, &extra));
  PetscCall(McMemCheck(0, 0, &ok, report, sizeof(report)));
  CHECK(!ok);
  CHECK_CONTAINS(report, "memory check failed (tolerance 0 objects per type, 0 bytes):\n");
  snprintf(want, sizeof(want), "  type Leaky: 7 live objects, baseline 0 (+7, %zu bytes each)\n", sizeof(Leaky));
  CHECK_CONTAINS(report, want);
  snprintf(want, sizeof(want), "baseline %lld (+%zu)\n", 0LL, leak_bytes);
  CHECK_CONTAINS(report, "  project bytes (McMalloc): ");
  CHECK_CONTAINS(report, want);
  CHECK(!strstr(report, "type Other")); /* did not grow */
  CHECK_CONTAINS(report, "McMemSetDebug(PETSC_TRUE) before the baseline");

  /* tolerances: 7 objects and the bytes are within, 6 objects are not */
  PetscCall(McMemCheck(7, leak_bytes, &ok, NULL, 0));
  CHECK(ok);
  PetscCall(McMemCheck(6, leak_bytes, &ok, report, sizeof(report)));
  CHECK(!ok);
  CHECK(!strstr(report, "project bytes"));
  PetscCall(McMemCheck(7, leak_bytes - 1, &ok, report, sizeof(report)));
  CHECK(!ok);
  CHECK(!strstr(report, "type Leaky"));
  /* a short buffer is truncated, never overrun */
  PetscCall(McMemCheck(0, 0, &ok, report, 20));
  CHECK(!ok);
  CHECK_INT(strlen(report), 19);

  for (int i = 0; i < 7; i++)
    PetscCall(McObjectDestroy(&kept[i]));
  PetscCall(McFree(&extra));
  PetscCall(McMemCheck(0, 0, &ok, report, sizeof(report)));
  CHECK(ok);

  /* debug mode: the report says where the leaked objects were created */
  PetscCall(McMemSetDebug(PETSC_TRUE));
  PetscCall(McMemSetBaseline());
  for (int i = 0; i < 3; i++) {
    site = __LINE__ + 1;
    PetscCall(McObjectCreate(&LeakyType, &kept[i]));
  }
  PetscCall(McObjectCreate(&OtherType, &kept[3]));
  PetscCall(McMemCheck(0, 0, &ok, report, sizeof(report)));
  CHECK(!ok);
  CHECK_CONTAINS(report, "  type Leaky: 3 live objects, baseline 0 (+3");
  CHECK_CONTAINS(report, "  type Other: 1 live objects, baseline 0 (+1");
  CHECK_CONTAINS(report, "  objects created since the baseline and still alive, by creation site:\n");
  snprintf(want, sizeof(want), "    tests/obj/test_memcheck.c:%d: 3 x Leaky\n", site);
  CHECK_CONTAINS(report, want);
  snprintf(want, sizeof(want), "    tests/obj/test_memcheck.c:%d: 1 x Other\n", site + 2);
  CHECK_CONTAINS(report, want);
  printf("the report in debug mode:\n%s", report);
  for (int i = 0; i < 4; i++)
    PetscCall(McObjectDestroy(&kept[i]));
  PetscCall(McMemCheck(0, 0, &ok, report, sizeof(report)));
  CHECK(ok);
  PetscCall(McMemSetDebug(PETSC_FALSE));
  PetscFunctionReturn(0);
}

int main(void)
{
  if (Run()) {
    printf("FAIL: error\n");
    return 1;
  }
  printf("%d failures\n", failures);
  return failures != 0;
}
