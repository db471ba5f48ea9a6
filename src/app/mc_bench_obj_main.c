/* mc-bench-obj: what the object layer costs. Prints a table: ns per
 * incref/decref pair, per create+destroy (plain and tracked objects), and
 * the time of a full collection over 1e3..1e6 tracked objects, both when
 * they are all alive (the periodic collection of a real run) and when they
 * are all garbage (a ring: found, cleared and freed), with ns per object so
 * the growth can be seen to be linear. Run by scripts/bench-obj.
 *
 * Usage: mc-bench-obj [--max N]   (largest collection size, default 1000000) */
#include "obj/obj.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  MC_OBJECT_HEAD;
  McObject *next;
} BenchNode;

static int BenchTraverse(McObject *o, McVisitProc visit, void *arg)
{
  MC_VISIT(((BenchNode *)o)->next);
  return 0;
}

static void BenchClear(McObject *o)
{
  MC_CLEAR(((BenchNode *)o)->next);
}

static const McType TrackedType = {"BenchTracked", sizeof(BenchNode), NULL, NULL, BenchTraverse, BenchClear};
static const McType PlainType = {"BenchPlain", sizeof(BenchNode), NULL, NULL, NULL, NULL};

static double Now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Keeps the compiler from folding an incref with the following decref. */
#define BARRIER() __asm__ volatile("" ::: "memory")

static PetscErrorCode BenchRefcount(double *ns)
{
  const long n = 100000000;
  BenchNode *o;
  double     t;

  PetscFunctionBeginUser;
  PetscCall(McObjectCreate(&PlainType, &o));
  t = Now();
  for (long i = 0; i < n; i++) {
    McIncref(o);
    BARRIER();
    McDecref(o);
    BARRIER();
  }
  *ns = (Now() - t) / n * 1e9;
  PetscCheck(McObjectRefcount(o) == 1, PETSC_COMM_SELF, PETSC_ERR_PLIB, "refcount drifted");
  PetscCall(McObjectDestroy(&o));
  PetscFunctionReturn(0);
}

static PetscErrorCode BenchCreate(const McType *type, double *ns)
{
  const long n = 2000000;
  BenchNode *o;
  double     t = Now();

  PetscFunctionBeginUser;
  for (long i = 0; i < n; i++) {
    PetscCall(McObjectCreate(type, &o));
    BARRIER();
    PetscCall(McObjectDestroy(&o));
  }
  *ns = (Now() - t) / n * 1e9;
  PetscFunctionReturn(0);
}

/* n tracked objects in a chain (head held: all alive) or a ring (nothing
 * held: all garbage). */
static PetscErrorCode Build(long n, PetscBool ring, BenchNode **head)
{
  BenchNode *first = NULL, *h = NULL, *o;

  PetscFunctionBeginUser;
  for (long i = 0; i < n; i++) {
    PetscCall(McObjectCreate(&TrackedType, &o));
    o->next = (McObject *)h; /* steals the reference h held */
    if (!first) first = o;
    h = o;
  }
  if (ring) {
    McIncref(h);
    first->next = (McObject *)h;
    PetscCall(McObjectDestroy(&h));
  }
  *head = h;
  PetscFunctionReturn(0);
}

static PetscErrorCode BenchCollect(long n, double *live_s, double *garbage_s)
{
  BenchNode *head;
  PetscInt   collected;
  int        reps = n <= 10000 ? 50 : n <= 100000 ? 10 : 5;
  double     t;

  PetscFunctionBeginUser;
  /* alive: the best of reps (the first one also promotes them to gen 2) */
  PetscCall(Build(n, PETSC_FALSE, &head));
  *live_s = 1e30;
  for (int r = 0; r < reps; r++) {
    t = Now();
    PetscCall(McGCCollect(2, &collected));
    t = Now() - t;
    PetscCheck(collected == 0, PETSC_COMM_SELF, PETSC_ERR_PLIB, "collected %" PetscInt_FMT " live objects", collected);
    if (t < *live_s) *live_s = t;
  }
  PetscCall(McObjectDestroy(&head));
  /* garbage: found, finalized (none here), cleared and freed */
  *garbage_s = 1e30;
  for (int r = 0; r < (reps + 1) / 2; r++) {
    PetscCall(Build(n, PETSC_TRUE, &head));
    t = Now();
    PetscCall(McGCCollect(2, &collected));
    t = Now() - t;
    PetscCheck(collected == n, PETSC_COMM_SELF, PETSC_ERR_PLIB, "collected %" PetscInt_FMT " of %ld", collected, n);
    if (t < *garbage_s) *garbage_s = t;
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode Run(long max)
{
  double incdec = 0, plain = 0, tracked = 0;

  PetscFunctionBeginUser;
  PetscCall(McGCEnable(PETSC_FALSE)); /* measured collections only */
  PetscCall(BenchRefcount(&incdec));
  PetscCall(BenchCreate(&PlainType, &plain));
  PetscCall(McGCEnable(PETSC_TRUE)); /* a tracked creation pays the threshold check */
  PetscCall(BenchCreate(&TrackedType, &tracked));
  PetscCall(McGCEnable(PETSC_FALSE));
  printf("| operation | ns |\n|---|---|\n");
  printf("| McIncref + McDecref pair | %.2f |\n", incdec);
  printf("| create + destroy, plain object (%zu bytes) | %.1f |\n", sizeof(BenchNode), plain);
  printf("| create + destroy, tracked container | %.1f |\n\n", tracked);

  printf("| tracked objects | full collection, all alive | ns/object | full collection, all garbage (freed) | "
         "ns/object |\n");
  printf("|---|---|---|---|---|\n");
  for (long n = 1000; n <= max; n *= 10) {
    double live = 0, garbage = 0;
    PetscCall(BenchCollect(n, &live, &garbage));
    printf("| %ld | %.3f ms | %.1f | %.3f ms | %.1f |\n", n, live * 1e3, live / n * 1e9, garbage * 1e3,
           garbage / n * 1e9);
  }
  {
    /* A run holds a handful of objects: 10 in the memory trace of the
     * default problem (configs/poisson2d.toml), 13 with two chains
     * (tests/app/configs/small.toml); 100 is a generous bound. The smallest
     * bare forward solve (numeric factorisation + solve) in ./scripts/bench's
     * table is 0.10 ms (3D P1 8x8x8, 729 dofs, mcchol), and [memory]
     * gc_period defaults to 1000 iterations. */
    const double fwd = 0.10e-3, period = 1000;
    double       live = 0, garbage = 0;
    PetscCall(BenchCollect(100, &live, &garbage));
    printf("\nA full collection over 100 live objects (more than a run holds): %.2f us = %.2f%% of one %.2f ms forward "
           "solve;\n"
           "collected every %.0f iterations (default [memory] gc_period): %.5f%% of a forward solve per iteration.\n",
           live * 1e6, live / fwd * 100, fwd * 1e3, period, live / fwd * 100 / period);
  }
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  long max = 1000000;

  if (argc == 3 && !strcmp(argv[1], "--max"))
    max = atol(argv[2]);
  else if (argc != 1) {
    fprintf(stderr, "usage: %s [--max N]\n", argv[0]);
    return 1;
  }
  if (max < 1000) {
    fprintf(stderr, "%s: --max must be >= 1000, got %ld\n", argv[0], max);
    return 1;
  }
  return Run(max) ? 2 : 0;
}
