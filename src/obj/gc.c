/* The generational cycle collector, CPython's algorithm (Modules/gcmodule.c).
 *
 * Reference counting frees everything except cycles. To find unreachable
 * cycles among the tracked containers of a generation without knowing the
 * roots: copy each refcount into gc_refs, subtract every reference that
 * comes from inside the set (visited by traverse), and what stays above zero
 * is referenced from outside, so reachable, as is everything it reaches.
 * The rest is garbage. Its finalizers run first (PEP 442: once per object,
 * objects still intact), then the set is examined again, because a finalizer
 * may have resurrected some of it; what is still unreachable is cleared,
 * which breaks the cycles, and refcounting frees it. Nothing is ever parked
 * as uncollectable.
 *
 * Generations: new containers go to generation 0; survivors move one
 * generation up. The collector never allocates: its lists run through the
 * links in the object header. */
#include "obj/obj_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NGEN 3

typedef struct {
  PetscInt     threshold, count;
  McGCGenStats stats;
} McGen;

static McObject gen_head[NGEN] = {
    {.gc_next = &gen_head[0], .gc_prev = &gen_head[0]},
    {.gc_next = &gen_head[1], .gc_prev = &gen_head[1]},
    {.gc_next = &gen_head[2], .gc_prev = &gen_head[2]},
};
static McGen      gens[NGEN] = {{.threshold = 700}, {.threshold = 10}, {.threshold = 10}};
static PetscBool  enabled = PETSC_TRUE;
static PetscBool  collecting = PETSC_FALSE; /* the re-entrancy guard */
static PetscBool  debug = PETSC_FALSE;
static PetscInt64 long_lived_total, long_lived_pending;

/* -------------------------------------------------------- list primitives */

static void ListInit(McObject *h)
{
  h->gc_next = h->gc_prev = h;
}

static PetscBool ListEmpty(const McObject *h)
{
  return h->gc_next == h ? PETSC_TRUE : PETSC_FALSE;
}

static void ListAppend(McObject *o, McObject *h)
{
  o->gc_prev = h->gc_prev;
  o->gc_next = h;
  h->gc_prev->gc_next = o;
  h->gc_prev = o;
}

static void ListUnlink(McObject *o)
{
  o->gc_prev->gc_next = o->gc_next;
  o->gc_next->gc_prev = o->gc_prev;
}

static void ListMove(McObject *o, McObject *h)
{
  ListUnlink(o);
  ListAppend(o, h);
}

/* Appends all of from to to; from ends empty. */
static void ListMerge(McObject *from, McObject *to)
{
  if (!ListEmpty(from)) {
    McObject *tail = to->gc_prev;
    tail->gc_next = from->gc_next;
    from->gc_next->gc_prev = tail;
    to->gc_prev = from->gc_prev;
    to->gc_prev->gc_next = to;
  }
  ListInit(from);
}

static PetscInt64 ListSize(const McObject *h)
{
  PetscInt64 n = 0;
  for (const McObject *o = h->gc_next; o != h; o = o->gc_next)
    n++;
  return n;
}

/* --------------------------------------------- tracking, from object.c */

void McGCTrack_Private(McObject *o)
{
  ListAppend(o, &gen_head[0]);
  mc_obj.tracked++;
}

void McGCUntrack_Private(McObject *o)
{
  ListUnlink(o);
  o->gc_next = o->gc_prev = NULL;
  o->gc_flags &= ~(MC_GCF_COLLECTING | MC_GCF_TENTATIVE);
  mc_obj.tracked--;
  if (gens[0].count > 0) gens[0].count--;
}

/* ------------------------------------------------------------- the passes */

static void FatalTraverse(const McObject *parent, const McObject *child)
{
  fprintf(stderr,
          "mc-gc: fatal: traverse of %s at %p (created at %s:%d) visits %s at %p more often than references to it are "
          "counted: "
          "a traverse must visit exactly the references its object holds\n",
          parent->ob_type->name, (const void *)parent, parent->ob_file, parent->ob_line, child->ob_type->name,
          (const void *)child);
  abort();
}

/* gc_refs = refcount, and mark the set being examined. */
static void UpdateRefs(McObject *list)
{
  for (McObject *o = list->gc_next; o != list; o = o->gc_next) {
    if (o->ob_refcnt <= 0) {
      fprintf(stderr, "mc-gc: fatal: tracked %s at %p has reference count %ld\n", o->ob_type->name, (void *)o,
              (long)o->ob_refcnt);
      abort();
    }
    o->gc_refs = o->ob_refcnt;
    o->gc_flags |= MC_GCF_COLLECTING;
    o->gc_flags &= ~MC_GCF_TENTATIVE;
  }
}

static int VisitDecref(McObject *t, void *parent)
{
  if (t->gc_flags & MC_GCF_COLLECTING) {
    if (t->gc_refs <= 0) FatalTraverse((const McObject *)parent, t);
    t->gc_refs--;
  }
  return 0;
}

/* Subtract the references from inside the set: what remains comes from
 * outside it. */
static void SubtractRefs(McObject *list)
{
  for (McObject *o = list->gc_next; o != list; o = o->gc_next)
    o->ob_type->traverse(o, VisitDecref, o);
}

static int VisitReachable(McObject *t, void *young)
{
  if (!(t->gc_flags & MC_GCF_COLLECTING)) return 0; /* outside the set, or known reachable */
  if (t->gc_flags & MC_GCF_TENTATIVE) {
    /* was judged unreachable too early: back to young's tail, where the scan
     * will reach it again and traverse it as reachable */
    ListMove(t, (McObject *)young);
    t->gc_flags &= ~MC_GCF_TENTATIVE;
    t->gc_refs = 1;
  } else if (t->gc_refs == 0) {
    t->gc_refs = 1; /* still ahead in young: the scan will treat it as reachable */
  }
  return 0;
}

/* Splits young: objects with gc_refs > 0 and all they reach stay (flags
 * cleared), the rest go to unreachable (flagged TENTATIVE). One pass, no
 * allocation: objects found reachable late move back to young's tail. */
static void MoveUnreachable(McObject *young, McObject *unreachable)
{
  McObject *o = young->gc_next;

  while (o != young) {
    if (o->gc_refs > 0) {
      o->gc_flags &= ~MC_GCF_COLLECTING;
      o->ob_type->traverse(o, VisitReachable, young);
      o = o->gc_next; /* read after the traverse: it may have appended to young */
    } else {
      McObject *next = o->gc_next;
      ListMove(o, unreachable);
      o->gc_flags |= MC_GCF_TENTATIVE;
      o = next;
    }
  }
}

static void DebugList(const char *what, McObject *list)
{
  char buf[512];
  for (McObject *o = list->gc_next; o != list; o = o->gc_next) {
    McObjectDescribe_Private(o, buf, sizeof(buf));
    fprintf(stderr, "mc-gc: %s %s\n", what, buf);
  }
}

/* PEP 442: each finalizer runs once, on an intact object held alive for the
 * call. A finalizer may free other objects of the list (they unlink
 * themselves), resurrect objects, or create new ones (they go to gen 0). */
static void FinalizeGarbage(McObject *unreachable)
{
  McObject seen;

  ListInit(&seen);
  while (!ListEmpty(unreachable)) {
    McObject     *o = unreachable->gc_next;
    const McType *type = o->ob_type;

    ListMove(o, &seen);
    o->gc_flags &= ~(MC_GCF_COLLECTING | MC_GCF_TENTATIVE);
    if (type->finalize && !(o->gc_flags & MC_GCF_FINALIZED)) {
      o->gc_flags |= MC_GCF_FINALIZED;
      McIncref(o);
      type->finalize(o);
      McDecref(o);
    }
  }
  ListMerge(&seen, unreachable);
}

/* Clears each object: its references go, the cycles break and refcounting
 * frees them. Returns how many survived (a clear that keeps references);
 * they move to old. */
static PetscInt64 DeleteGarbage(McObject *garbage, McObject *old)
{
  McObject   hold;
  PetscInt64 survived;

  ListInit(&hold);
  while (!ListEmpty(garbage)) {
    McObject *o = garbage->gc_next;

    o->gc_flags &= ~(MC_GCF_COLLECTING | MC_GCF_TENTATIVE);
    ListMove(o, &hold); /* freed objects unlink themselves from hold */
    if (o->ob_type->clear) {
      McIncref(o);
      o->ob_type->clear(o);
      McDecref(o);
    }
  }
  survived = ListSize(&hold);
  if (debug && survived) DebugList("survived clear (its clear keeps references):", &hold);
  ListMerge(&hold, old);
  return survived;
}

static double Now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One collection of generation gen (younger ones merged in). Returns the
 * number of tracked objects freed. The caller holds the guard. */
static PetscInt64 Collect(int gen)
{
  McObject   unreachable, final, *young, *old;
  PetscInt64 nunreachable, resurrected, survived, collected;
  double     t0 = Now();

  if (gen + 1 < NGEN) gens[gen + 1].count++;
  for (int i = 0; i <= gen; i++)
    gens[i].count = 0;
  if (debug)
    fprintf(stderr,
            "mc-gc: collecting generation %d; objects in each generation: %" PetscInt64_FMT " %" PetscInt64_FMT
            " %" PetscInt64_FMT "\n",
            gen, ListSize(&gen_head[0]), ListSize(&gen_head[1]), ListSize(&gen_head[2]));
  for (int i = 0; i < gen; i++)
    ListMerge(&gen_head[i], &gen_head[gen]);
  young = &gen_head[gen];
  old = gen + 1 < NGEN ? &gen_head[gen + 1] : young;

  UpdateRefs(young);
  SubtractRefs(young);
  ListInit(&unreachable);
  MoveUnreachable(young, &unreachable);
  /* the survivors grow one generation older */
  if (young != old) {
    if (gen == NGEN - 2) long_lived_pending += ListSize(young);
    ListMerge(young, old);
  } else {
    long_lived_pending = 0;
    long_lived_total = ListSize(young);
  }

  nunreachable = ListSize(&unreachable);
  if (debug) DebugList("unreachable", &unreachable);
  FinalizeGarbage(&unreachable);

  /* finalizers may have resurrected objects: examine the set again */
  UpdateRefs(&unreachable);
  SubtractRefs(&unreachable);
  ListInit(&final);
  MoveUnreachable(&unreachable, &final);
  resurrected = ListSize(&unreachable);
  if (debug && resurrected) DebugList("resurrected by a finalizer:", &unreachable);
  ListMerge(&unreachable, old);

  survived = DeleteGarbage(&final, old);
  collected = nunreachable - resurrected - survived;

  gens[gen].stats.collections++;
  gens[gen].stats.collected += (PetscInt)collected;
  gens[gen].stats.seconds += Now() - t0;
  if (debug)
    fprintf(stderr,
            "mc-gc: done, %" PetscInt64_FMT " unreachable, %" PetscInt64_FMT " collected, %" PetscInt64_FMT
            " resurrected, 0 uncollectable, %.6fs elapsed\n",
            nunreachable, collected, resurrected, Now() - t0);
  return collected;
}

/* CPython's choice of generation when the allocation count trips: the
 * oldest whose count exceeds its threshold, except that a full collection
 * waits until the objects promoted since the last one are a quarter of the
 * long-lived ones (so full collections stay linear overall). */
static void CollectGenerations(void)
{
  for (int i = NGEN - 1; i >= 0; i--) {
    if (gens[i].count > gens[i].threshold) {
      if (i == NGEN - 1 && long_lived_pending < long_lived_total / 4) continue;
      (void)Collect(i);
      break;
    }
  }
}

void McGCOnCreate_Private(void)
{
  gens[0].count++;
  if (enabled && gens[0].threshold && gens[0].count > gens[0].threshold && !collecting) {
    collecting = PETSC_TRUE;
    CollectGenerations();
    collecting = PETSC_FALSE;
  }
}

/* ------------------------------------------------------------- public API */

PetscErrorCode McGCCollect(int generation, PetscInt *ncollected)
{
  PetscInt64 n = 0;

  PetscFunctionBeginUser;
  PetscCheck(generation >= 0 && generation < NGEN, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "McGCCollect: generation %d, expected 0, 1 or 2", generation);
  if (!collecting) {
    collecting = PETSC_TRUE;
    n = Collect(generation);
    collecting = PETSC_FALSE;
  }
  if (ncollected) *ncollected = (PetscInt)n;
  PetscFunctionReturn(0);
}

PetscErrorCode McGCSetThresholds(PetscInt t0, PetscInt t1, PetscInt t2)
{
  PetscFunctionBeginUser;
  PetscCheck(t0 >= 0 && t1 >= 0 && t2 >= 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "McGCSetThresholds: thresholds must be >= 0, got (%" PetscInt_FMT ", %" PetscInt_FMT ", %" PetscInt_FMT
             ")",
             t0, t1, t2);
  gens[0].threshold = t0;
  gens[1].threshold = t1;
  gens[2].threshold = t2;
  PetscFunctionReturn(0);
}

PetscErrorCode McGCGetThresholds(PetscInt *t0, PetscInt *t1, PetscInt *t2)
{
  PetscFunctionBeginUser;
  if (t0) *t0 = gens[0].threshold;
  if (t1) *t1 = gens[1].threshold;
  if (t2) *t2 = gens[2].threshold;
  PetscFunctionReturn(0);
}

PetscErrorCode McGCEnable(PetscBool on)
{
  PetscFunctionBeginUser;
  enabled = on;
  PetscFunctionReturn(0);
}

PetscErrorCode McGCIsEnabled(PetscBool *on)
{
  PetscFunctionBeginUser;
  *on = enabled;
  PetscFunctionReturn(0);
}

PetscErrorCode McGCSetDebug(PetscBool on)
{
  PetscFunctionBeginUser;
  debug = on;
  PetscFunctionReturn(0);
}

PetscErrorCode McGCGetCount(PetscInt count[3])
{
  PetscFunctionBeginUser;
  for (int i = 0; i < NGEN; i++)
    count[i] = gens[i].count;
  PetscFunctionReturn(0);
}

PetscErrorCode McGCGetStats(int generation, McGCGenStats *stats)
{
  PetscFunctionBeginUser;
  PetscCheck(generation >= 0 && generation < NGEN, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "McGCGetStats: generation %d, expected 0, 1 or 2", generation);
  *stats = gens[generation].stats;
  PetscFunctionReturn(0);
}

int McObjectGeneration(const void *o)
{
  if (!o || !((const McObject *)o)->gc_next) return -1;
  for (int g = 0; g < NGEN; g++)
    for (const McObject *p = gen_head[g].gc_next; p != &gen_head[g]; p = p->gc_next)
      if (p == o) return g;
  return -1; /* tracked in a list of a running collection */
}
