/* The collector, in the style of CPython's Lib/test/test_gc.py: build a
 * cycle, drop the outside references, assert that a collection frees exactly
 * N objects and that memory is back where it started. Then PEP 442
 * finalizers (run once, resurrection, a finalizer freeing part of its own
 * cycle, collection from inside a finalizer), generations, thresholds,
 * statistics, the debug listing, long chains, and allocation failure.
 *
 * Usage: test-obj-gc [case]   (no argument: every case) */
#include "objtest.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/* ------------------------------------------------------------ test types */

/* A container with a few reference slots; id indexes the finalizer log. */
typedef struct {
  MC_OBJECT_HEAD;
  McObject *ref[4];
  int       id;
} Node;

static int NodeTraverse(McObject *o, McVisitProc visit, void *arg)
{
  Node *n = (Node *)o;
  for (int i = 0; i < 4; i++)
    MC_VISIT(n->ref[i]);
  return 0;
}

static void NodeClear(McObject *o)
{
  Node *n = (Node *)o;
  for (int i = 0; i < 4; i++)
    MC_CLEAR(n->ref[i]);
}

#define MAXID 64
static int       finalized[MAXID]; /* how often each id's finalizer ran */
static int       nfinalized;
static McObject *saved; /* where resurrecting finalizers put objects */

static void CountFinalize(McObject *o)
{
  Node *n = (Node *)o;
  finalized[n->id]++;
  nfinalized++;
}

/* Resurrects itself: stores a new reference to itself in saved. */
static void ResurrectSelf(McObject *o)
{
  CountFinalize(o);
  McIncref(o);
  saved = o;
}

/* Resurrects the object in its slot 0 (part of its own cycle). */
static void ResurrectOther(McObject *o)
{
  CountFinalize(o);
  McIncref(((Node *)o)->ref[0]);
  saved = ((Node *)o)->ref[0];
}

/* Drops its reference in slot 0: when that was the last one, the other
 * object is freed during the finalizer. */
static McObject *seen_field; /* what ref[0] of the other object held when its finalizer ran */
static void      DropOther(McObject *o)
{
  CountFinalize(o);
  MC_CLEAR(((Node *)o)->ref[0]);
}

/* Calls the collector from inside a finalizer; records what it got. */
static PetscErrorCode inner_ierr = -1;
static PetscInt       inner_n = -1;
static void           CollectInside(McObject *o)
{
  CountFinalize(o);
  inner_ierr = McGCCollect(2, &inner_n);
}

static const McType NodeType = {"Node", sizeof(Node), NULL, NULL, NodeTraverse, NodeClear};
static const McType FinNodeType = {"FinNode", sizeof(Node), CountFinalize, NULL, NodeTraverse, NodeClear};
static const McType ResurrectSelfType = {"ResurrectSelf", sizeof(Node), ResurrectSelf, NULL, NodeTraverse, NodeClear};
static const McType ResurrectOtherType = {"ResurrectOther", sizeof(Node), ResurrectOther, NULL,
                                          NodeTraverse,     NodeClear};
static const McType DropOtherType = {"DropOther", sizeof(Node), DropOther, NULL, NodeTraverse, NodeClear};
static const McType CollectInsideType = {"CollectInside", sizeof(Node), CollectInside, NULL, NodeTraverse, NodeClear};
static const McType LeafFinType = {"LeafFin", sizeof(Node), CountFinalize, NULL, NULL, NULL};

static PetscErrorCode NewNode(const McType *type, int id, Node **n)
{
  PetscFunctionBeginUser;
  PetscCall(McObjectCreate(type, n));
  (*n)->id = id;
  PetscFunctionReturn(0);
}

/* a->ref[slot] = b, with its own reference. */
static void Link(Node *a, int slot, void *b)
{
  McIncref(b);
  MC_CLEAR(a->ref[slot]);
  a->ref[slot] = (McObject *)b;
}

static void ResetFinalizerLog(void)
{
  memset(finalized, 0, sizeof(finalized));
  nfinalized = 0;
}

/* A dictionary-like container: string keys (static), object values, the
 * entry array grows through McRealloc and is released by dealloc. */
typedef struct {
  const char *key;
  McObject   *value;
} DictEntry;

typedef struct {
  MC_OBJECT_HEAD;
  DictEntry *entries;
  size_t     n, cap;
} Dict;

static int DictTraverse(McObject *o, McVisitProc visit, void *arg)
{
  Dict *d = (Dict *)o;
  for (size_t i = 0; i < d->n; i++)
    MC_VISIT(d->entries[i].value);
  return 0;
}

static void DictClear(McObject *o)
{
  Dict *d = (Dict *)o;
  for (size_t i = 0; i < d->n; i++)
    MC_CLEAR(d->entries[i].value);
}

static void DictDealloc(McObject *o)
{
  Dict *d = (Dict *)o;
  if (McFree(&d->entries)) abort();
}

static const McType DictType = {"Dict", sizeof(Dict), NULL, DictDealloc, DictTraverse, DictClear};

/* Ownership: borrows value (the dict takes its own reference). */
static PetscErrorCode DictSet(Dict *d, const char *key, void *value)
{
  PetscFunctionBeginUser;
  for (size_t i = 0; i < d->n; i++) {
    if (!strcmp(d->entries[i].key, key)) {
      McIncref(value);
      MC_CLEAR(d->entries[i].value);
      d->entries[i].value = value;
      PetscFunctionReturn(0);
    }
  }
  if (d->n == d->cap) {
    d->cap = d->cap ? 2 * d->cap : 2;
    PetscCall(McRealloc(d->cap * sizeof(DictEntry), &d->entries));
  }
  McIncref(value);
  d->entries[d->n].key = key;
  d->entries[d->n].value = value;
  d->n++;
  PetscFunctionReturn(0);
}

/* An "instance" whose attributes live in a Dict, like a Python object and
 * its __dict__. */
typedef struct {
  MC_OBJECT_HEAD;
  Dict *dict;
} Instance;

static int InstanceTraverse(McObject *o, McVisitProc visit, void *arg)
{
  MC_VISIT(((Instance *)o)->dict);
  return 0;
}

static void InstanceClear(McObject *o)
{
  MC_CLEAR(((Instance *)o)->dict);
}

static const McType InstanceType = {"Instance", sizeof(Instance), NULL, NULL, InstanceTraverse, InstanceClear};

/* ------------------------------------------------------------------ cases */

/* test_gc.test_list: l = []; l.append(l) */
static PetscErrorCode TestSelfCycle(void)
{
  Live     live;
  Node    *a;
  PetscInt n;

  PetscFunctionBeginUser;
  PetscCall(CaseBegin(&live));
  PetscCall(NewNode(&NodeType, 0, &a));
  CHECK(McObjectIsTracked(a));
  Link(a, 0, a);
  CHECK_INT(McObjectRefcount(a), 2);
  PetscCall(McObjectDestroy(&a));
  CHECK(a == NULL);
  PetscCall(McGCCollect(2, &n));
  CHECK_INT(n, 1);
  CHECK_LIVE(live);
  /* nothing left: a second collection finds nothing */
  PetscCall(McGCCollect(2, &n));
  CHECK_INT(n, 0);
  PetscFunctionReturn(0);
}

/* Two objects referencing each other. Also: an object still referenced
 * from outside is not collected, nor what it reaches. */
static PetscErrorCode TestTwoCycle(void)
{
  Live     live;
  Node    *a, *b, *keep;
  PetscInt n;

  PetscFunctionBeginUser;
  PetscCall(CaseBegin(&live));
  PetscCall(NewNode(&NodeType, 0, &a));
  PetscCall(NewNode(&NodeType, 1, &b));
  Link(a, 0, b);
  Link(b, 0, a);
  keep = a;
  McIncref(keep);
  PetscCall(McObjectDestroy(&a));
  PetscCall(McObjectDestroy(&b));
  PetscCall(McGCCollect(2, &n));
  CHECK_INT(n, 0); /* reachable through keep */
  CHECK_INT(McObjectRefcount(keep), 2);
  PetscCall(McObjectDestroy(&keep));
  PetscCall(McGCCollect(2, &n));
  CHECK_INT(n, 2);
  CHECK_LIVE(live);
  PetscFunctionReturn(0);
}

/* The same with finalizers: collected (old Python parked them in
 * gc.garbage), each finalizer runs exactly once. */
static PetscErrorCode TestFinalizerCycle(void)
{
  Live         live;
  Node        *a, *b, *leaf;
  PetscInt     n;
  McGCGenStats s0, s1;

  PetscFunctionBeginUser;
  PetscCall(CaseBegin(&live));
  ResetFinalizerLog();
  PetscCall(McGCGetStats(2, &s0));
  PetscCall(NewNode(&FinNodeType, 0, &a));
  PetscCall(NewNode(&FinNodeType, 1, &b));
  Link(a, 0, b);
  Link(b, 0, a);
  PetscCall(McObjectDestroy(&a));
  PetscCall(McObjectDestroy(&b));
  CHECK_INT(nfinalized, 0);
  PetscCall(McGCCollect(2, &n));
  CHECK_INT(n, 2);
  CHECK_INT(finalized[0], 1);
  CHECK_INT(finalized[1], 1);
  PetscCall(McGCGetStats(2, &s1));
  CHECK_INT(s1.collected - s0.collected, 2);
  CHECK_INT(s1.uncollectable, 0);
  CHECK_LIVE(live);

  /* a finalizer on a plain (untracked) object runs when its count reaches zero */
  PetscCall(NewNode(&LeafFinType, 2, &leaf));
  CHECK(!McObjectIsTracked(leaf));
  PetscCall(McObjectDestroy(&leaf));
  CHECK_INT(finalized[2], 1);
  CHECK_LIVE(live);
  PetscFunctionReturn(0);
}

/* test_gc.test_dict: d = {}; d[1] = d. And test_instance: the object and
 * its attribute dictionary, a.a = a. */
static PetscErrorCode TestDictCycle(void)
{
  Live       live;
  Dict      *d;
  Instance  *inst;
  PetscInt   n;
  McMemUsage u;

  PetscFunctionBeginUser;
  PetscCall(CaseBegin(&live));
  PetscCall(McObjectCreate(&DictType, &d));
  PetscCall(DictSet(d, "self", d));
  PetscCall(DictSet(d, "again", d));
  PetscCall(DictSet(d, "more", d)); /* grows the entry array once */
  CHECK_INT(McObjectRefcount(d), 4);
  PetscCall(McObjectDestroy(&d));
  PetscCall(McGCCollect(2, &n));
  CHECK_INT(n, 1);
  CHECK_LIVE(live);

  PetscCall(McObjectCreate(&InstanceType, &inst));
  PetscCall(McObjectCreate(&DictType, &inst->dict));
  PetscCall(DictSet(inst->dict, "a", inst));
  PetscCall(McMemGetUsage(&u));
  CHECK_INT(McMemUsageLive(&u, "Instance"), 1);
  CHECK_INT(McMemUsageLive(&u, "Dict"), 1);
  PetscCall(McObjectDestroy(&inst));
  PetscCall(McGCCollect(2, &n));
  CHECK_INT(n, 2);
  PetscCall(McMemGetUsage(&u));
  CHECK_INT(McMemUsageLive(&u, "Instance"), 0);
  CHECK_INT(McMemUsageLive(&u, "Dict"), 0);
  CHECK_LIVE(live);
  PetscFunctionReturn(0);
}

/* PEP 442 resurrection: the finalizer stores a new reference to its object.
 * It survives, its finalizer never runs again, and it is collected once
 * dropped. Three ways: a self-cycle, part of a two-cycle, and plain
 * refcount death. */
static PetscErrorCode TestResurrection(void)
{
  Live     live;
  Node    *a, *b;
  PetscInt n;

  PetscFunctionBeginUser;
  PetscCall(CaseBegin(&live));
  ResetFinalizerLog();
  PetscCall(NewNode(&ResurrectSelfType, 0, &a));
  Link(a, 0, a);
  PetscCall(McObjectDestroy(&a));
  PetscCall(McGCCollect(2, &n));
  CHECK_INT(n, 0);
  CHECK_INT(finalized[0], 1);
  CHECK(saved != NULL);
  CHECK_INT(McObjectRefcount(saved), 2); /* its own slot and saved */
  CHECK_INT(McObjectGeneration(saved), 2);
  CHECK(((Node *)saved)->ref[0] == saved); /* intact: not cleared */
  PetscCall(McGCCollect(2, &n));
  CHECK_INT(n, 0); /* still reachable through saved */
  CHECK_INT(finalized[0], 1);
  MC_CLEAR(saved);
  PetscCall(McGCCollect(2, &n));
  CHECK_INT(n, 1);
  CHECK_INT(finalized[0], 1); /* not again */
  CHECK_LIVE(live);

  /* a's finalizer resurrects b; b references a, so both survive */
  PetscCall(NewNode(&ResurrectOtherType, 1, &a));
  PetscCall(NewNode(&NodeType, 2, &b));
  Link(a, 0, b);
  Link(b, 0, a);
  PetscCall(McObjectDestroy(&a));
  PetscCall(McObjectDestroy(&b));
  PetscCall(McGCCollect(2, &n));
  CHECK_INT(n, 0);
  CHECK_INT(finalized[1], 1);
  CHECK_INT(McObjectRefcount(saved), 2);
  MC_CLEAR(saved);
  PetscCall(McGCCollect(2, &n));
  CHECK_INT(n, 2);
  CHECK_INT(finalized[1], 1);
  CHECK_LIVE(live);

  /* without a cycle: resurrected from the refcount path */
  PetscCall(NewNode(&ResurrectSelfType, 3, &a));
  PetscCall(McObjectDestroy(&a));
  CHECK_INT(finalized[3], 1);
  CHECK_INT(McObjectRefcount(saved), 1);
  CHECK(McObjectIsTracked(saved));
  MC_CLEAR(saved);
  CHECK_INT(finalized[3], 1);
  CHECK_LIVE(live);
  PetscFunctionReturn(0);
}

/* A finalizer drops the last reference to the other object of its cycle:
 * that object is freed during the finalizer phase (its own finalizer runs
 * then, once), and the collection still reports both. Both finalizers drop
 * their partner, so the outcome does not depend on which runs first. */
static PetscErrorCode TestFinalizerDropsOther(void)
{
  Live     live;
  Node    *a, *b, *c;
  PetscInt n;

  PetscFunctionBeginUser;
  PetscCall(CaseBegin(&live));
  ResetFinalizerLog();
  PetscCall(NewNode(&DropOtherType, 0, &a));
  PetscCall(NewNode(&DropOtherType, 1, &b));
  Link(a, 0, b);
  Link(b, 0, a);
  PetscCall(McObjectDestroy(&a));
  PetscCall(McObjectDestroy(&b));
  PetscCall(McGCCollect(2, &n));
  CHECK_INT(n, 2);
  CHECK_INT(finalized[0], 1);
  CHECK_INT(finalized[1], 1);
  CHECK_LIVE(live);

  /* a three-cycle a -> b -> c -> a where only a has a finalizer: it frees
   * b, whose clear frees... nothing more until c goes; all three collected */
  PetscCall(NewNode(&DropOtherType, 2, &a));
  PetscCall(NewNode(&NodeType, 3, &b));
  PetscCall(NewNode(&NodeType, 4, &c));
  Link(a, 0, b);
  Link(b, 0, c);
  Link(c, 0, a);
  PetscCall(McObjectDestroy(&a));
  PetscCall(McObjectDestroy(&b));
  PetscCall(McObjectDestroy(&c));
  PetscCall(McGCCollect(2, &n));
  CHECK_INT(n, 3);
  CHECK_INT(finalized[2], 1);
  CHECK_LIVE(live);
  PetscFunctionReturn(0);
}

/* MC_CLEAR sets the field to NULL before the reference goes: a finalizer
 * running during the drop sees NULL, never a dangling pointer. */
static Node *holder;
static void  PeekHolder(McObject *o)
{
  CountFinalize(o);
  seen_field = holder->ref[0];
}
static const McType PeekType = {"Peek", sizeof(Node), PeekHolder, NULL, NULL, NULL};

static PetscErrorCode TestClearOrder(void)
{
  Live  live;
  Node *p;

  PetscFunctionBeginUser;
  PetscCall(CaseBegin(&live));
  ResetFinalizerLog();
  PetscCall(NewNode(&NodeType, 0, &holder));
  PetscCall(NewNode(&PeekType, 1, &p));
  Link(holder, 0, p);
  PetscCall(McObjectDestroy(&p));
  seen_field = (McObject *)&seen_field; /* anything but NULL */
  MC_CLEAR(holder->ref[0]);
  CHECK_INT(finalized[1], 1);
  CHECK(seen_field == NULL);
  PetscCall(McObjectDestroy(&holder));
  CHECK_LIVE(live);
  PetscFunctionReturn(0);
}

/* A collection requested from inside a finalizer does nothing (guard), and
 * says so with 0; so does an automatic one tripped there. */
static Node *spawn_trigger;
static void  SpawnInside(McObject *o)
{
  CountFinalize(o);
  for (int i = 0; i < 5; i++) {
    Node *t;
    if (McObjectCreate(&NodeType, &t)) abort();
    McDecref(t);
  }
}
static const McType SpawnType = {"Spawn", sizeof(Node), SpawnInside, NULL, NodeTraverse, NodeClear};

static PetscErrorCode TestCollectInFinalizer(void)
{
  Live         live;
  Node        *a;
  PetscInt     n;
  McGCGenStats s0, s1;

  PetscFunctionBeginUser;
  PetscCall(CaseBegin(&live));
  ResetFinalizerLog();
  PetscCall(NewNode(&CollectInsideType, 0, &a));
  Link(a, 0, a);
  PetscCall(McObjectDestroy(&a));
  PetscCall(McGCCollect(2, &n));
  CHECK_INT(n, 1);
  CHECK_INT(finalized[0], 1);
  CHECK_INT(inner_ierr, 0);
  CHECK_INT(inner_n, 0);
  CHECK_LIVE(live);

  /* creations inside a finalizer exceed threshold 1: no nested collection */
  PetscCall(McGCSetThresholds(1, 10, 10));
  PetscCall(McGCEnable(PETSC_TRUE));
  PetscCall(NewNode(&SpawnType, 1, &spawn_trigger));
  Link(spawn_trigger, 0, spawn_trigger);
  PetscCall(McObjectDestroy(&spawn_trigger));
  PetscCall(McGCGetStats(0, &s0));
  PetscCall(McGCCollect(2, &n));
  PetscCall(McGCGetStats(0, &s1));
  CHECK_INT(n, 1);
  CHECK_INT(finalized[1], 1);
  CHECK_INT(s1.collections - s0.collections, 0);
  PetscCall(McGCEnable(PETSC_FALSE));
  CHECK_LIVE(live);
  PetscFunctionReturn(0);
}

/* Young objects are promoted one generation per collection survived; a
 * collection of generation g examines generations 0..g only. */
static PetscErrorCode TestGenerations(void)
{
  Live     live;
  Node    *k[3], *a, *b;
  PetscInt n, count[3];

  PetscFunctionBeginUser;
  PetscCall(CaseBegin(&live));
  PetscCall(McGCGetCount(count));
  CHECK_INT(count[0], 0);
  CHECK_INT(count[1], 0);
  CHECK_INT(count[2], 0);
  for (int i = 0; i < 3; i++)
    PetscCall(NewNode(&NodeType, i, &k[i]));
  PetscCall(McGCGetCount(count));
  CHECK_INT(count[0], 3);
  for (int i = 0; i < 3; i++)
    CHECK_INT(McObjectGeneration(k[i]), 0);
  PetscCall(McGCCollect(0, &n));
  CHECK_INT(n, 0);
  PetscCall(McGCGetCount(count));
  CHECK_INT(count[0], 0);
  CHECK_INT(count[1], 1);
  for (int i = 0; i < 3; i++)
    CHECK_INT(McObjectGeneration(k[i]), 1);
  PetscCall(McGCCollect(0, &n)); /* generation 1 untouched */
  for (int i = 0; i < 3; i++)
    CHECK_INT(McObjectGeneration(k[i]), 1);
  PetscCall(McGCCollect(1, &n));
  PetscCall(McGCGetCount(count));
  CHECK_INT(count[1], 0);
  CHECK_INT(count[2], 1);
  for (int i = 0; i < 3; i++)
    CHECK_INT(McObjectGeneration(k[i]), 2);

  /* an old cycle is garbage only for a full collection */
  Link(k[0], 0, k[1]);
  Link(k[1], 0, k[0]);
  PetscCall(McObjectDestroy(&k[0]));
  PetscCall(McObjectDestroy(&k[1]));
  /* and a young one for any collection */
  PetscCall(NewNode(&NodeType, 10, &a));
  PetscCall(NewNode(&NodeType, 11, &b));
  Link(a, 0, b);
  Link(b, 0, a);
  PetscCall(McObjectDestroy(&a));
  PetscCall(McObjectDestroy(&b));
  PetscCall(McGCCollect(0, &n));
  CHECK_INT(n, 2);
  PetscCall(McGCCollect(1, &n));
  CHECK_INT(n, 0);
  PetscCall(McGCCollect(2, &n));
  CHECK_INT(n, 2);
  PetscCall(McGCGetCount(count));
  CHECK_INT(count[0], 0);
  CHECK_INT(count[1], 0);
  CHECK_INT(count[2], 0);

  /* a young object referenced only by an old one is reachable */
  PetscCall(NewNode(&NodeType, 12, &a));
  Link(k[2], 0, a);
  PetscCall(McObjectDestroy(&a));
  PetscCall(McGCCollect(0, &n));
  CHECK_INT(n, 0);
  CHECK_INT(McObjectGeneration(k[2]->ref[0]), 1);
  PetscCall(McObjectDestroy(&k[2]));
  CHECK_LIVE(live);

  /* the allocation counter follows creations minus deallocations */
  for (int i = 0; i < 3; i++)
    PetscCall(NewNode(&NodeType, i, &k[i]));
  PetscCall(McObjectDestroy(&k[1]));
  PetscCall(McGCGetCount(count));
  CHECK_INT(count[0], 2);
  PetscCall(McObjectDestroy(&k[0]));
  PetscCall(McObjectDestroy(&k[2]));
  CHECK_LIVE(live);
  PetscFunctionReturn(0);
}

/* Automatic collection with thresholds (5, 2, 2), CPython's rules: the
 * counter of generation 0 counts container creations; a creation that
 * makes it exceed 5 collects first (before the new object is tracked); the
 * oldest generation whose counter exceeds its threshold is the one
 * collected; a full collection waits until objects promoted since the last
 * one are at least a quarter of the long-lived ones. 96 creations, all
 * kept, so a collection every 6: generation 1 at creation 24, 48, 72 (its
 * counter passes 2 at every fourth), then generation 2 at 78 (its counter
 * passed 2 at 72), generation 0 at all the others. With 1000 long-lived
 * objects the full collection at 78 waits (71 promoted < 1000/4): generation
 * 0 at 78 and generation 1 at 96 instead. */
static PetscErrorCode RunThresholds(int nlonglived, const PetscInt want[3])
{
  Live         live;
  Node        *keep[96], **old = NULL;
  McGCGenStats s0[3], s1[3];
  PetscInt     count[3];

  PetscFunctionBeginUser;
  PetscCall(CaseBegin(&live));
  if (nlonglived) {
    PetscCall(McMalloc(nlonglived * sizeof(Node *), &old));
    for (int i = 0; i < nlonglived; i++)
      PetscCall(NewNode(&NodeType, 0, &old[i]));
    PetscCall(McGCCollect(2, NULL));
  }
  for (int g = 0; g < 3; g++)
    PetscCall(McGCGetStats(g, &s0[g]));
  PetscCall(McGCSetThresholds(5, 2, 2));
  PetscCall(McGCEnable(PETSC_TRUE));
  for (int i = 0; i < 96; i++)
    PetscCall(NewNode(&NodeType, 0, &keep[i]));
  PetscCall(McGCEnable(PETSC_FALSE));
  for (int g = 0; g < 3; g++) {
    PetscCall(McGCGetStats(g, &s1[g]));
    CHECK_INT(s1[g].collections - s0[g].collections, want[g]);
    CHECK_INT(s1[g].collected - s0[g].collected, 0);
  }
  PetscCall(McGCGetCount(count));
  CHECK_INT(count[0], 0); /* creation 96 reset it before its object was tracked */
  CHECK_INT(McObjectGeneration(keep[95]), 0);
  /* creation 91: promoted by the collection of generation 0 at 96, or
   * straight to 2 by the collection of generation 1 there */
  CHECK_INT(McObjectGeneration(keep[90]), want[2] ? 1 : 2);
  CHECK_INT(McObjectGeneration(keep[0]), 2);
  for (int i = 0; i < 96; i++)
    PetscCall(McObjectDestroy(&keep[i]));
  for (int i = 0; i < nlonglived; i++)
    PetscCall(McObjectDestroy(&old[i]));
  PetscCall(McFree(&old));
  PetscCall(McGCSetThresholds(700, 10, 10));
  CHECK_LIVE(live);
  PetscFunctionReturn(0);
}

static PetscErrorCode TestThresholds(void)
{
  const PetscInt plain[3] = {12, 3, 1}, waiting[3] = {12, 4, 0};
  Live           live;
  Node          *t;
  McGCGenStats   s0, s1;
  PetscInt       t0, t1, t2;

  PetscFunctionBeginUser;
  PetscCall(McGCGetThresholds(&t0, &t1, &t2));
  CHECK_INT(t0, 700);
  CHECK_INT(t1, 10);
  CHECK_INT(t2, 10);
  PetscCall(RunThresholds(0, plain));
  PetscCall(RunThresholds(1000, waiting));

  /* non-containers never count; threshold 0 turns automatic collection off */
  PetscCall(CaseBegin(&live));
  PetscCall(McGCEnable(PETSC_TRUE));
  PetscCall(McGCSetThresholds(1, 1, 1));
  PetscCall(McGCGetStats(0, &s0));
  for (int i = 0; i < 10; i++) {
    PetscCall(NewNode(&LeafFinType, 0, &t));
    PetscCall(McObjectDestroy(&t));
  }
  PetscCall(McGCGetStats(0, &s1));
  CHECK_INT(s1.collections - s0.collections, 0);
  PetscCall(McGCSetThresholds(0, 1, 1));
  {
    Node *k[10];
    for (int i = 0; i < 10; i++)
      PetscCall(NewNode(&NodeType, 0, &k[i]));
    PetscCall(McGCGetStats(0, &s1));
    CHECK_INT(s1.collections - s0.collections, 0);
    for (int i = 0; i < 10; i++)
      PetscCall(McObjectDestroy(&k[i]));
  }
  PetscCall(McGCEnable(PETSC_FALSE));
  PetscCall(McGCSetThresholds(700, 10, 10));
  CHECK_LIVE(live);
  PetscFunctionReturn(0);
}

/* Statistics per generation: collections, collected, uncollectable, time. */
static PetscErrorCode TestStats(void)
{
  Live         live;
  McGCGenStats s0[3], s1[3];
  Node        *a, *b;

  PetscFunctionBeginUser;
  PetscCall(CaseBegin(&live));
  for (int g = 0; g < 3; g++)
    PetscCall(McGCGetStats(g, &s0[g]));
  for (int i = 0; i < 4; i++) {
    PetscCall(NewNode(&NodeType, 0, &a));
    PetscCall(NewNode(&NodeType, 1, &b));
    Link(a, 0, b);
    Link(b, 0, a);
    PetscCall(McObjectDestroy(&a));
    PetscCall(McObjectDestroy(&b));
  }
  PetscCall(McGCCollect(0, NULL));
  PetscCall(McGCCollect(0, NULL));
  PetscCall(McGCCollect(1, NULL));
  for (int g = 0; g < 3; g++)
    PetscCall(McGCGetStats(g, &s1[g]));
  CHECK_INT(s1[0].collections - s0[0].collections, 2);
  CHECK_INT(s1[0].collected - s0[0].collected, 8);
  CHECK_INT(s1[1].collections - s0[1].collections, 1);
  CHECK_INT(s1[1].collected - s0[1].collected, 0);
  CHECK_INT(s1[2].collections - s0[2].collections, 0);
  for (int g = 0; g < 3; g++)
    CHECK_INT(s1[g].uncollectable, 0);
  CHECK(s1[0].seconds > s0[0].seconds && s1[0].seconds - s0[0].seconds < 1.0);
  CHECK(s1[1].seconds > s0[1].seconds);
  CHECK(s1[2].seconds == s0[2].seconds);
  CHECK_LIVE(live);
  PetscFunctionReturn(0);
}

/* Debug mode lists what a collection finds: type, address, creation site. */
static PetscErrorCode TestDebugOutput(void)
{
  Live     live;
  Node    *a, *b;
  char     path[] = "/tmp/mc-gc-debug-XXXXXX", text[4096], want[256], *p;
  int      fd, saved_fd, line;
  ssize_t  len;
  PetscInt n;

  PetscFunctionBeginUser;
  PetscCall(CaseBegin(&live));
  line = __LINE__ + 1;
  PetscCall(McObjectCreate(&NodeType, &a));
  PetscCall(NewNode(&FinNodeType, 1, &b));
  Link(a, 0, b);
  Link(b, 0, a);
  PetscCall(McObjectDestroy(&a));
  PetscCall(McObjectDestroy(&b));
  fd = mkstemp(path);
  PetscCheck(fd >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "mkstemp failed");
  fflush(stderr);
  saved_fd = dup(2);
  dup2(fd, 2);
  PetscCall(McGCSetDebug(PETSC_TRUE));
  PetscCall(McGCCollect(1, &n));
  PetscCall(McGCSetDebug(PETSC_FALSE));
  fflush(stderr);
  dup2(saved_fd, 2);
  close(saved_fd);
  len = pread(fd, text, sizeof(text) - 1, 0);
  close(fd);
  unlink(path);
  text[len > 0 ? len : 0] = 0;
  CHECK_INT(n, 2);
  CHECK_CONTAINS(text, "mc-gc: collecting generation 1; objects in each generation: 2 0 0\n");
  /* the addresses are gone (a and b are NULL now): match the rest */
  snprintf(want, sizeof(want), ", created at tests/obj/test_gc.c:%d\n", line);
  CHECK_CONTAINS(text, "mc-gc: unreachable Node at 0x");
  CHECK_CONTAINS(text, "mc-gc: unreachable FinNode at 0x");
  CHECK_CONTAINS(text, want);
  CHECK_CONTAINS(text, "mc-gc: done, 2 unreachable, 2 collected, 0 resurrected, 0 uncollectable, ");
  /* exactly two objects listed */
  n = 0;
  for (p = text; (p = strstr(p, "mc-gc: unreachable ")) != NULL; p++)
    n++;
  CHECK_INT(n, 2);
  CHECK_LIVE(live);
  PetscFunctionReturn(0);
}

/* Releasing a chain much longer than the C stack could recurse through:
 * deferred releases keep the depth bounded. Also a ring of the same length
 * collected by the collector. */
static PetscErrorCode TestLongChain(void)
{
  const int N = 200000;
  Live      live;
  Node     *head = NULL, *first = NULL, *n;
  PetscInt  ncollected;

  PetscFunctionBeginUser;
  PetscCall(CaseBegin(&live));
  for (int i = 0; i < N; i++) {
    PetscCall(NewNode(&NodeType, 0, &n));
    if (head) Link(n, 0, head);
    MC_CLEAR(head);
    head = n;
  }
  PetscCall(McObjectDestroy(&head));
  CHECK_LIVE(live);

  for (int i = 0; i < N; i++) {
    PetscCall(NewNode(&NodeType, 0, &n));
    if (head)
      Link(n, 0, head);
    else
      first = n;
    MC_CLEAR(head);
    head = n;
  }
  Link(first, 0, head); /* close the ring */
  PetscCall(McObjectDestroy(&head));
  PetscCall(McGCCollect(2, &ncollected));
  CHECK_INT(ncollected, N);
  CHECK_LIVE(live);
  PetscFunctionReturn(0);
}

/* The allocator: exact byte counts, alignment, NULL for zero bytes, and
 * failure injection reaching object creation cleanly. */
static PetscErrorCode TestAllocator(void)
{
  Live           live;
  double        *x = NULL, *y = NULL;
  char          *z = NULL;
  Node          *a = NULL;
  PetscInt64     objs, bytes, calls0, calls1;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(CaseBegin(&live));
  PetscCall(McMemAllocCount(&calls0, NULL));
  PetscCall(McMalloc(10 * sizeof(double), &x));
  PetscCall(McCalloc(3 * sizeof(double), &y));
  PetscCall(McMalloc(0, &z));
  CHECK(z == NULL);
  CHECK_INT((uintptr_t)x % 16, 0);
  CHECK(y[0] == 0 && y[1] == 0 && y[2] == 0);
  PetscCall(McMemGetLive(&objs, &bytes));
  CHECK_INT(bytes - live.bytes, 13 * sizeof(double));
  y[2] = 7;
  PetscCall(McRealloc(100 * sizeof(double), &y));
  CHECK(y[2] == 7);
  PetscCall(McMemGetLive(&objs, &bytes));
  CHECK_INT(bytes - live.bytes, 110 * sizeof(double));
  PetscCall(McMemAllocCount(&calls1, NULL));
  CHECK_INT(calls1 - calls0, 3); /* malloc, calloc, realloc; zero bytes is no call */
  PetscCall(McFree(&x));
  CHECK(x == NULL);
  PetscCall(McFree(&x)); /* NULL is fine */
  PetscCall(McRealloc(0, &y));
  CHECK(y == NULL);
  CHECK_LIVE(live);

  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  PetscCall(McMallocFailAfter(0));
  ierr = McObjectCreate(&NodeType, &a);
  CHECK_INT(ierr, PETSC_ERR_MEM);
  CHECK(a == NULL);
  CHECK_LIVE(live);
  PetscCall(McMalloc(8, &x));
  PetscCall(McMallocFailAfter(1)); /* one more succeeds, the next fails */
  PetscCall(McMalloc(8, &z));
  ierr = McRealloc(1000, &x);
  CHECK_INT(ierr, PETSC_ERR_MEM);
  CHECK(x != NULL); /* the old block is still the caller's */
  PetscCall(PetscPopErrorHandler());
  PetscCall(McFree(&x));
  PetscCall(McFree(&z));
  CHECK_LIVE(live);
  PetscFunctionReturn(0);
}

/* The libc-shaped hooks: the same counted blocks, NULL (and nothing
 * printed: no error handler is pushed here) for zero bytes and on failure,
 * the old block kept when a resize fails. */
static PetscErrorCode TestAllocatorHooks(void)
{
  Live       live;
  double    *x, *y;
  char      *z;
  PetscInt64 objs, bytes, calls0, calls1;

  PetscFunctionBeginUser;
  PetscCall(CaseBegin(&live));
  PetscCall(McMemAllocCount(&calls0, NULL));
  x = McMallocHook(4 * sizeof(double));
  y = McCallocHook(2 * sizeof(double));
  CHECK(x && y && y[0] == 0 && y[1] == 0);
  CHECK(McMallocHook(0) == NULL);
  PetscCall(McMemGetLive(&objs, &bytes));
  CHECK_INT(bytes - live.bytes, 6 * sizeof(double));
  x[3] = 5;
  x = McReallocHook(x, 50 * sizeof(double));
  CHECK(x && x[3] == 5);
  PetscCall(McMemGetLive(&objs, &bytes));
  CHECK_INT(bytes - live.bytes, 52 * sizeof(double));
  PetscCall(McMemAllocCount(&calls1, NULL));
  CHECK_INT(calls1 - calls0, 3);
  PetscCall(McMallocFailAfter(0));
  CHECK(McMallocHook(8) == NULL);
  PetscCall(McMallocFailAfter(0));
  z = McReallocHook(x, 1000 * sizeof(double));
  CHECK(z == NULL && x[3] == 5); /* the old block is still the caller's */
  McFreeHook(x);
  McFreeHook(y);
  McFreeHook(NULL);
  CHECK_LIVE(live);
  PetscFunctionReturn(0);
}

typedef struct {
  const char *name;
  PetscErrorCode (*run)(void);
} Case;

static const Case cases[] = {
    {"selfcycle", TestSelfCycle},
    {"twocycle", TestTwoCycle},
    {"finalizer_cycle", TestFinalizerCycle},
    {"dict", TestDictCycle},
    {"resurrection", TestResurrection},
    {"finalizer_drops_other", TestFinalizerDropsOther},
    {"clear_order", TestClearOrder},
    {"collect_in_finalizer", TestCollectInFinalizer},
    {"generations", TestGenerations},
    {"thresholds", TestThresholds},
    {"stats", TestStats},
    {"debug_output", TestDebugOutput},
    {"long_chain", TestLongChain},
    {"allocator", TestAllocator},
    {"allocator_hooks", TestAllocatorHooks},
};

int main(int argc, char **argv)
{
  int ran = 0;

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    if (argc > 1 && strcmp(argv[1], cases[i].name)) continue;
    if (cases[i].run()) {
      printf("FAIL %s: returned an error\n", cases[i].name);
      failures++;
    }
    printf("%s: %s\n", cases[i].name, failures ? "failures so far" : "ok");
    ran++;
  }
  if (!ran) {
    printf("no case named %s\n", argv[1]);
    return 2;
  }
  printf("%d failures\n", failures);
  return failures != 0;
}
