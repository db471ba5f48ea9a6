/* Internals shared by the files of src/obj/ only (never included outside
 * this folder): the allocator's counters, the per-type table, the collector's
 * hooks into object creation and destruction. */
#pragma once
#include "obj/obj.h"

#define MC_ALLOC_HEADER 16

typedef struct {
  PetscInt64 calls, live_bytes, live_blocks; /* McMalloc family */
  PetscInt64 fail_after;                     /* failure injection, -1: off */
  PetscBool  petsc_hooked;
  PetscInt64 petsc_calls, petsc_bytes, petsc_blocks;
} McAllocCounters;
extern McAllocCounters mc_alloc;

/* gc_flags bits */
#define MC_GCF_COLLECTING 0x1u /* in the set the running collection examines */
#define MC_GCF_TENTATIVE  0x2u /* moved to the tentatively unreachable list */
#define MC_GCF_FINALIZED  0x4u /* finalize has run (PEP 442: never again) */
#define MC_GCF_DEBUGLIST  0x8u /* linked into the debug list of objects */

typedef struct {
  const McType *type;
  PetscInt64    live, created;
} McTypeEntry;

typedef struct {
  PetscInt    ntypes;
  McTypeEntry types[MC_MEM_MAX_TYPES];
  PetscInt64  live_objects, tracked;
  uint64_t    serial;     /* objects created so far; the next gets serial + 1 */
  PetscBool   debug;      /* McMemSetDebug */
  McObject    debug_head; /* circular list through dbg_next/dbg_prev */
} McObjState;
extern McObjState mc_obj;

/* Collector side of creation and destruction (gc.c). */
void McGCOnCreate_Private(void);       /* counts a container creation, may collect */
void McGCTrack_Private(McObject *o);   /* into generation 0 */
void McGCUntrack_Private(McObject *o); /* out of whatever list holds it */

/* Creation site as printed in reports: file:line. */
void McObjectDescribe_Private(const McObject *o, char *buf, size_t len);
