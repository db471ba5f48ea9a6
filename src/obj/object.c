/* Object creation and destruction, and the per-type live counts.
 *
 * Destruction order when a refcount reaches zero follows CPython/PEP 442:
 * the finalizer first (once per object, with the object briefly alive again
 * so it may resurrect it), then untrack, clear (drop held references), dealloc
 * (release what is not an object), free. Releasing a long chain of objects
 * would recurse once per link; past a fixed depth the rest is queued and
 * released by the outermost call instead (CPython's "trashcan"), so the C
 * stack stays bounded however long the chain. */
#include "obj/obj_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

McObjState mc_obj = {.debug_head = {.dbg_next = &mc_obj.debug_head, .dbg_prev = &mc_obj.debug_head}};

/* Releases nested deeper than this are deferred to the outermost one. */
#define MC_TRASHCAN_DEPTH 50

static int       release_depth;
static McObject *deferred; /* singly linked through gc_prev; gc_next stays NULL (untracked) */

/* Per-type table lookup: open addressing on the type's address. The table
 * is static so creating an object never allocates beyond the object. */
#define MC_TYPE_SLOTS (2 * MC_MEM_MAX_TYPES)
static int16_t type_slot[MC_TYPE_SLOTS]; /* index + 1 into mc_obj.types, 0 = empty */

static PetscErrorCode TypeIndex(const McType *type, uint32_t *idx)
{
  size_t h = ((uintptr_t)type >> 4) * 0x9E3779B97F4A7C15ULL >> 32;

  PetscFunctionBeginUser;
  for (size_t k = 0; k < MC_TYPE_SLOTS; k++) {
    size_t s = (h + k) % MC_TYPE_SLOTS;
    if (type_slot[s] && mc_obj.types[type_slot[s] - 1].type == type) {
      *idx = (uint32_t)(type_slot[s] - 1);
      PetscFunctionReturn(0);
    }
    if (!type_slot[s]) {
      PetscCheck(mc_obj.ntypes < MC_MEM_MAX_TYPES, PETSC_COMM_SELF, PETSC_ERR_SUP,
                 "McObjectCreate: type %s would be the %d-th object type; raise MC_MEM_MAX_TYPES", type->name,
                 MC_MEM_MAX_TYPES + 1);
      mc_obj.types[mc_obj.ntypes].type = type;
      type_slot[s] = (int16_t)(mc_obj.ntypes + 1);
      *idx = (uint32_t)mc_obj.ntypes++;
      PetscFunctionReturn(0);
    }
  }
  SETERRQ(PETSC_COMM_SELF, PETSC_ERR_PLIB, "type table full");
}

PetscErrorCode McObjectCreateAt_Private(const McType *type, void *newobj, const char *file, int line)
{
  McObject *o;
  uint32_t  idx;

  PetscFunctionBeginUser;
  PetscCheck(newobj, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "McObjectCreate: NULL address for the new object (%s:%d)",
             file, line);
  *(McObject **)newobj = NULL;
  PetscCheck(type && type->name, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "McObjectCreate: type without a name (%s:%d)",
             file, line);
  PetscCheck(
      type->size >= sizeof(McObject), PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ,
      "McObjectCreate: type %s has size %zu, smaller than the object header (%zu): is MC_OBJECT_HEAD its first member?",
      type->name, type->size, sizeof(McObject));
  PetscCall(TypeIndex(type, &idx));
  PetscCall(McCalloc(type->size, &o));
  /* like CPython, the collection a creation may trigger runs before the new
   * object is tracked: it never sees a half-built object */
  if (type->traverse) McGCOnCreate_Private();
  o->ob_type = type;
  o->ob_refcnt = 1;
  o->ob_typeidx = idx;
  o->ob_file = file;
  o->ob_line = line;
  o->ob_serial = ++mc_obj.serial;
  mc_obj.types[idx].live++;
  mc_obj.types[idx].created++;
  mc_obj.live_objects++;
  if (mc_obj.debug) {
    McObject *head = &mc_obj.debug_head;
    o->dbg_prev = head->dbg_prev;
    o->dbg_next = head;
    head->dbg_prev->dbg_next = o;
    head->dbg_prev = o;
    o->gc_flags |= MC_GCF_DEBUGLIST;
  }
  if (type->traverse) McGCTrack_Private(o);
  *(McObject **)newobj = o;
  PetscFunctionReturn(0);
}

/* The plain function behind the McObjectCreate macro, for callers that need
 * its address; it records no creation site. */
PetscErrorCode(McObjectCreate)(const McType *type, void *newobj)
{
  PetscFunctionBeginUser;
  PetscCall(McObjectCreateAt_Private(type, newobj, "?", 0));
  PetscFunctionReturn(0);
}

static void Fatal(const McObject *o, const char *what)
{
  fprintf(stderr, "mc-obj: fatal: %s: object %p of type %s created at %s:%d\n", what, (const void *)o,
          o->ob_type ? o->ob_type->name : "?", o->ob_file ? o->ob_file : "?", o->ob_line);
  abort();
}

/* Untracked, refcount zero, finalizer done: drop references, release, free. */
static void Release(McObject *o)
{
  const McType *type = o->ob_type;
  McObject     *mem = o;

  if (type->clear) type->clear(o);
  if (type->dealloc) type->dealloc(o);
  mc_obj.types[o->ob_typeidx].live--;
  mc_obj.live_objects--;
  if (o->gc_flags & MC_GCF_DEBUGLIST) {
    o->dbg_prev->dbg_next = o->dbg_next;
    o->dbg_next->dbg_prev = o->dbg_prev;
  }
  if (McFree(&mem)) Fatal(o, "freeing the object's memory failed");
}

void McObjectDealloc_Private(McObject *o)
{
  const McType *type = o->ob_type;

  if (o->ob_refcnt < 0) Fatal(o, "reference count below zero (one McDecref too many)");
  if (type->finalize && !(o->gc_flags & MC_GCF_FINALIZED)) {
    /* PEP 442: the finalizer sees a live object (refcount 1) that it may
     * resurrect by storing a new reference somewhere */
    o->gc_flags |= MC_GCF_FINALIZED;
    o->ob_refcnt = 1;
    type->finalize(o);
    if (--o->ob_refcnt > 0) return; /* resurrected: stays alive, and tracked */
  }
  if (o->gc_next) McGCUntrack_Private(o);
  if (release_depth >= MC_TRASHCAN_DEPTH) {
    o->gc_prev = deferred;
    deferred = o;
    return;
  }
  release_depth++;
  Release(o);
  release_depth--;
  while (release_depth == 0 && deferred) {
    McObject *d = deferred;
    deferred = d->gc_prev;
    d->gc_prev = NULL;
    release_depth++;
    Release(d);
    release_depth--;
  }
}

PetscErrorCode McObjectDestroy(void *handle)
{
  PetscFunctionBeginUser;
  PetscCheck(handle, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "McObjectDestroy: NULL handle (pass &obj)");
  MC_CLEAR(*(McObject **)handle);
  PetscFunctionReturn(0);
}

const char *McObjectTypeName(const void *o)
{
  return o ? ((const McObject *)o)->ob_type->name : "NULL";
}

intptr_t McObjectRefcount(const void *o)
{
  return o ? ((const McObject *)o)->ob_refcnt : 0;
}

PetscBool McObjectIsTracked(const void *o)
{
  return o && ((const McObject *)o)->gc_next ? PETSC_TRUE : PETSC_FALSE;
}

void McObjectDescribe_Private(const McObject *o, char *buf, size_t len)
{
  snprintf(buf, len, "%s at %p, created at %s:%d", o->ob_type->name, (const void *)o, o->ob_file, o->ob_line);
}
