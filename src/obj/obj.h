/* The object layer: reference-counted objects with a CPython-style
 * generational cycle collector, the project's counting allocator, and the
 * memory accounting that lets a run prove its memory stays flat.
 *
 * The one idea: every long-lived thing is an McObject. Its refcount frees it
 * the moment the last reference goes; the collector exists only for cycles
 * (a mesh caching spaces that point back to it), and finds them by trial
 * deletion over the container objects it tracks. Everything the project
 * allocates goes through McMalloc, and PETSc's allocations through counting
 * hooks, so "live objects, live bytes, allocation calls" are exact numbers
 * a test or a running chain can compare with a baseline.
 *
 * Single-threaded per process (an MPI rank is a process). Nothing here may be
 * called from a signal handler. */
#pragma once
#include <petscsys.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- objects */

typedef struct McObject_ McObject;
typedef int (*McVisitProc)(McObject *o, void *arg);

/* A type descriptor; static const storage, one per kind of object. */
typedef struct McType_ {
  const char *name;
  size_t      size;             /* sizeof the whole object struct */
  void (*finalize)(McObject *); /* optional, PEP 442: runs at most once per object */
  /* optional: releases what is not an object (PETSc objects, buffers); NOT the object memory */
  void (*dealloc)(McObject *);
  int (*traverse)(McObject *, McVisitProc, void *); /* NULL => not a container, never tracked by the collector */
  void (*clear)(McObject *);                        /* drops the object references it holds (MC_CLEAR each) */
} McType;

/* The common header. Its fields belong to this layer: read them only
 * through the functions below. */
struct McObject_ {
  const McType *ob_type;
  intptr_t      ob_refcnt;
  McObject     *gc_next, *gc_prev;   /* generation list; gc_next == NULL: not tracked */
  intptr_t      gc_refs;             /* collector scratch: refcount minus internal references */
  uint32_t      gc_flags;            /* collector and debug state bits */
  uint32_t      ob_typeidx;          /* slot in the per-type accounting table */
  McObject     *dbg_next, *dbg_prev; /* list of objects created in debug mode */
  const char   *ob_file;             /* creation site, for leak reports */
  int           ob_line;
  uint64_t      ob_serial; /* creation number: which objects are newer than a baseline */
};

#define MC_OBJECT_HEAD McObject ob_base /* first member of every object struct */

/* Allocates a zeroed object of the given type (type->size bytes through
 * McCalloc), refcount 1, and stores it in *(T **)newobj. Containers
 * (traverse != NULL) are tracked by the collector, and creating one may run
 * an automatic collection first: whenever an object is created, every
 * reference a traverse visits must already be counted.
 * Ownership: returns a new reference. */
PetscErrorCode McObjectCreate(const McType *type, void *newobj);
/* The same, recording the caller's file and line as the creation site; the
 * McObjectCreate macro below calls this, so every caller records its site. */
PetscErrorCode McObjectCreateAt_Private(const McType *type, void *newobj, const char *file, int line);
#define McObjectCreate(type, newobj) McObjectCreateAt_Private(type, newobj, __FILE__, __LINE__)

/* Called by McDecref when the count reaches zero: finalize (once), untrack,
 * clear, dealloc, free. */
void McObjectDealloc_Private(McObject *o);

/* Ownership: takes a new reference to o (NULL-safe). */
static inline void McIncref(void *o)
{
  if (o) ((McObject *)o)->ob_refcnt++;
}

/* Ownership: drops one reference to o (NULL-safe); at zero the object is
 * finalized (once), untracked, cleared, deallocated and freed at once. */
static inline void McDecref(void *o)
{
  if (o && --((McObject *)o)->ob_refcnt <= 0) McObjectDealloc_Private((McObject *)o);
}

/* handle is T **: drops the reference *handle holds and sets *handle = NULL
 * (PETSc's Destroy(&x) style; NULL *handle is fine).
 * Ownership: steals the reference in *handle. */
PetscErrorCode McObjectDestroy(void *handle);

/* Like Py_CLEAR: the field is NULL before the reference goes, so a
 * finalizer that runs during the drop never sees a dangling pointer. */
#define MC_CLEAR(p)                                                                                                    \
  do {                                                                                                                 \
    void *mc_clear_tmp_ = (void *)(p);                                                                                 \
    (p) = NULL;                                                                                                        \
    McDecref(mc_clear_tmp_);                                                                                           \
  } while (0)

/* Inside a traverse(McObject *o, McVisitProc visit, void *arg): visits one
 * held reference, stops the traversal when the visitor says so. */
#define MC_VISIT(p)                                                                                                    \
  do {                                                                                                                 \
    if (p) {                                                                                                           \
      int r_ = visit((McObject *)(p), arg);                                                                            \
      if (r_) return r_;                                                                                               \
    }                                                                                                                  \
  } while (0)

/* Borrowed: the type's name ("NULL" for NULL). */
const char *McObjectTypeName(const void *o);
/* The current reference count (0 for NULL). */
intptr_t McObjectRefcount(const void *o);
/* PETSC_TRUE when the collector tracks o. */
PetscBool McObjectIsTracked(const void *o);
/* The generation (0, 1, 2) o is tracked in, -1 when not tracked. Walks the
 * generation lists: for tests and diagnostics, not for hot paths. */
int McObjectGeneration(const void *o);

/* -------------------------------------------------------------- allocator */

/* Every project allocation goes through these; they count calls and live
 * bytes (the size sits in a 16-byte header before the block, so blocks are
 * 16-byte aligned like malloc's). n == 0 gives NULL. Out of memory is
 * PETSC_ERR_MEM naming the size asked for.
 * Ownership: *(void **)ptr receives memory the caller frees with McFree. */
PetscErrorCode McMalloc(size_t n, void *ptr);
PetscErrorCode McCalloc(size_t n, void *ptr);
/* Resizes the block in *(void **)ptr (NULL: allocates; n == 0: frees). */
PetscErrorCode McRealloc(size_t n, void *ptr);
/* ptr is T **: frees *ptr (NULL is fine) and sets it to NULL. */
PetscErrorCode McFree(void *ptr);
/* The same allocator in libc's shape, for code that takes malloc/free
 * hooks or reports out of memory its own way (jansson, the TOML parser, the
 * Gmsh scanner): the block, or NULL when n == 0 or out of memory, which the
 * caller reports (nothing is printed). McReallocHook keeps the old block on
 * failure; McFreeHook(NULL) does nothing. Counted, and subject to
 * McMallocFailAfter, like McMalloc. */
void *McMallocHook(size_t n);
void *McCallocHook(size_t n);
void *McReallocHook(void *p, size_t n);
void  McFreeHook(void *p);
/* Failure injection for tests: the allocation after the next n succeeding
 * ones fails with PETSC_ERR_MEM (n = -1: never, the default). Counts McMalloc,
 * McCalloc and McRealloc calls. */
PetscErrorCode McMallocFailAfter(PetscInt64 n);

/* -------------------------------------------------------------- collector */

/* Collects generation 0, 1 or 2 (2 = full; younger generations are merged
 * in) and stores in *ncollected (may be NULL) how many tracked objects it
 * freed. Called while a collection runs (from a finalizer), it does nothing
 * and reports 0. */
PetscErrorCode McGCCollect(int generation, PetscInt *ncollected);
/* CPython's thresholds, default (700, 10, 10): generation 0 is collected when
 * container creations minus deallocations exceed t0, generation i > 0 when
 * it has been through more than ti collections of generation i-1 (a full
 * collection also waits until a quarter of the long-lived objects are new,
 * as in CPython). t0 = 0 turns automatic collection off. */
PetscErrorCode McGCSetThresholds(PetscInt t0, PetscInt t1, PetscInt t2);
PetscErrorCode McGCGetThresholds(PetscInt *t0, PetscInt *t1, PetscInt *t2);
/* Automatic collection on object creation on/off (default on). */
PetscErrorCode McGCEnable(PetscBool on);
PetscErrorCode McGCIsEnabled(PetscBool *on);
/* Lists what each collection finds (type names, addresses, creation sites)
 * and its summary on stderr. */
PetscErrorCode McGCSetDebug(PetscBool on);
/* CPython's gc.get_count(): the counters the thresholds are compared with. */
PetscErrorCode McGCGetCount(PetscInt count[3]);

typedef struct {
  PetscInt collections, collected, uncollectable; /* uncollectable stays 0: nothing is parked */
  double   seconds;                               /* time spent in collections of this generation */
} McGCGenStats;
PetscErrorCode McGCGetStats(int generation, McGCGenStats *stats);

/* ------------------------------------------- memory accounting, assertions */

#define MC_MEM_MAX_TYPES 128

typedef struct {
  const char *name;
  size_t      size;    /* bytes per object */
  PetscInt64  live;    /* objects alive now */
  PetscInt64  created; /* objects created so far */
} McMemTypeUsage;

struct McMemUsage_ {
  PetscInt       ntypes; /* types seen so far, in order of first creation */
  McMemTypeUsage types[MC_MEM_MAX_TYPES];
  PetscInt64     live_objects; /* all types */
  PetscInt64     tracked;      /* of which tracked by the collector */
  PetscInt64     live_bytes;   /* requested through McMalloc/McCalloc/McRealloc, not yet freed */
  PetscInt64     live_blocks;
  PetscInt64     project_allocs; /* McMalloc/McCalloc/McRealloc calls so far */
  PetscBool      petsc_hooked;   /* McMemInstallPetscHooks ran before PetscInitialize */
  PetscInt64     petsc_bytes;    /* PETSc's live bytes through the hooks */
  PetscInt64     petsc_blocks;
  PetscInt64     petsc_allocs; /* PETSc malloc/realloc calls so far */
  PetscInt64     rss_bytes;    /* process resident set, /proc/self/statm */
  PetscInt64     heap_bytes;   /* glibc heap in use (mallinfo2), all libraries included */
};
typedef struct McMemUsage_ McMemUsage;

/* Installs counting wrappers as PETSc's malloc/free/realloc (PetscMallocSet),
 * so PETSc's allocation count and live bytes are visible in Debian's
 * non-debug PETSc. Call BEFORE PetscInitialize, after every PetscFinalize
 * (which restores PETSc's own allocator) if PETSc is initialised again.
 * PETSc's -malloc_debug/-malloc_dump need PETSc's own allocator and refuse to
 * start when these hooks are installed (valgrind or ASan do that job here). */
PetscErrorCode McMemInstallPetscHooks(void);
/* Fills *u with the figures above. */
PetscErrorCode McMemGetUsage(McMemUsage *u);
/* The two figures a loop watches, cheaply (no system calls): live objects
 * and live bytes through McMalloc (either may be NULL). */
PetscErrorCode McMemGetLive(PetscInt64 *objects, PetscInt64 *bytes);
/* Live objects of the type named type_name in u (0 when never created). */
PetscInt64 McMemUsageLive(const McMemUsage *u, const char *type_name);
/* Debug mode: from now on every created object is listed with its creation
 * site, so McMemCheck can say where leaked objects came from. */
PetscErrorCode McMemSetDebug(PetscBool on);
/* Takes the baseline McMemCheck compares with: live objects per type, live
 * bytes (project and PETSc) and the creation serial number. */
PetscErrorCode McMemSetBaseline(void);
/* Compares with the baseline: *ok is PETSC_FALSE when a type's live count
 * grew by more than tol_objects, or live bytes (project, or PETSc's when
 * hooked) grew by more than tol_bytes. report (may be NULL) receives, within
 * len bytes, each type whose count grew and each byte figure that grew, and in
 * debug mode the creation sites of the objects created since the baseline
 * that are still alive. An error only for misuse (no baseline). */
PetscErrorCode McMemCheck(PetscInt tol_objects, size_t tol_bytes, PetscBool *ok, char *report, size_t len);
/* Monotone allocation-call counters (project, PETSc through the hooks; either
 * may be NULL): "zero allocations per iteration" is a difference of zero. */
PetscErrorCode McMemAllocCount(PetscInt64 *project_allocs, PetscInt64 *petsc_allocs);
