/* The counting allocators: McMalloc and friends for the project's own
 * memory, and the hooks PETSc allocates through once installed.
 *
 * Both put a 16-byte header in front of each block holding the size asked
 * for (and, for PETSc's blocks, a magic number), so a free knows how many
 * bytes go without any lookup. glibc's malloc returns 16-byte aligned memory
 * on this platform, so the block after the header keeps that alignment,
 * which is what PETSc's PETSC_MEMALIGN asks for. */
#include "obj/obj_impl.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(PETSC_MEMALIGN <= MC_ALLOC_HEADER, "the header must keep PETSc's alignment");
_Static_assert(_Alignof(max_align_t) >= MC_ALLOC_HEADER, "malloc must return blocks aligned like the header");

typedef struct {
  size_t   size;
  uint64_t magic;
} McAllocHeader;
_Static_assert(sizeof(McAllocHeader) == MC_ALLOC_HEADER, "header size");

#define MC_MAGIC_PROJECT 0x4d63416c6c6f6321ULL /* "McAlloc!" */
#define MC_MAGIC_PETSC   0x4d63506574736321ULL /* "McPetsc!" */
#define MC_MAGIC_FREED   0x4672656564426c6bULL /* "FreedBlk": catches a double free */

McAllocCounters mc_alloc = {.fail_after = -1};

static void *HeaderToBlock(McAllocHeader *h)
{
  return (char *)h + MC_ALLOC_HEADER;
}

static McAllocHeader *BlockToHeader(void *p)
{
  return (McAllocHeader *)((char *)p - MC_ALLOC_HEADER);
}

/* Failure injection: returns true when this allocation must fail. */
static PetscBool InjectFailure(void)
{
  if (mc_alloc.fail_after < 0) return PETSC_FALSE;
  if (mc_alloc.fail_after == 0) {
    mc_alloc.fail_after = -1;
    return PETSC_TRUE;
  }
  mc_alloc.fail_after--;
  return PETSC_FALSE;
}

/* The counted block of n > 0 bytes, or NULL when out of memory (injected
 * or real); the callers report it. */
static void *RawAlloc(size_t n, PetscBool zero)
{
  McAllocHeader *h;

  if (n > SIZE_MAX - MC_ALLOC_HEADER) return NULL;
  h = InjectFailure() ? NULL : (zero ? calloc(1, n + MC_ALLOC_HEADER) : malloc(n + MC_ALLOC_HEADER));
  if (!h) return NULL;
  h->size = n;
  h->magic = MC_MAGIC_PROJECT;
  mc_alloc.calls++;
  mc_alloc.live_bytes += (PetscInt64)n;
  mc_alloc.live_blocks++;
  return HeaderToBlock(h);
}

/* Resizes the project block p (n > 0); NULL when out of memory, p then
 * stays valid. */
static void *RawRealloc(void *p, size_t n)
{
  McAllocHeader *h = BlockToHeader(p), *nh;
  size_t         old = h->size;

  if (n > SIZE_MAX - MC_ALLOC_HEADER) return NULL;
  nh = InjectFailure() ? NULL : realloc(h, n + MC_ALLOC_HEADER);
  if (!nh) return NULL;
  nh->size = n;
  mc_alloc.calls++;
  mc_alloc.live_bytes += (PetscInt64)n - (PetscInt64)old;
  return HeaderToBlock(nh);
}

static PetscErrorCode ProjectAlloc(size_t n, PetscBool zero, void *ptr)
{
  PetscFunctionBeginUser;
  PetscCheck(ptr, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "McMalloc: NULL address to store the block in");
  *(void **)ptr = NULL;
  if (!n) PetscFunctionReturn(0);
  PetscCheck(n <= SIZE_MAX - MC_ALLOC_HEADER, PETSC_COMM_SELF, PETSC_ERR_MEM, "McMalloc: %zu bytes cannot be allocated",
             n);
  *(void **)ptr = RawAlloc(n, zero);
  PetscCheck(*(void **)ptr, PETSC_COMM_SELF, PETSC_ERR_MEM,
             "McMalloc: out of memory asking for %zu bytes (%" PetscInt64_FMT " bytes live through McMalloc)", n,
             mc_alloc.live_bytes);
  PetscFunctionReturn(0);
}

PetscErrorCode McMalloc(size_t n, void *ptr)
{
  PetscFunctionBeginUser;
  PetscCall(ProjectAlloc(n, PETSC_FALSE, ptr));
  PetscFunctionReturn(0);
}

PetscErrorCode McCalloc(size_t n, void *ptr)
{
  PetscFunctionBeginUser;
  PetscCall(ProjectAlloc(n, PETSC_TRUE, ptr));
  PetscFunctionReturn(0);
}

PetscErrorCode McRealloc(size_t n, void *ptr)
{
  McAllocHeader *h;
  void          *p;

  PetscFunctionBeginUser;
  PetscCheck(ptr, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "McRealloc: NULL address of the block");
  if (!*(void **)ptr) {
    PetscCall(McMalloc(n, ptr));
    PetscFunctionReturn(0);
  }
  if (!n) {
    PetscCall(McFree(ptr));
    PetscFunctionReturn(0);
  }
  h = BlockToHeader(*(void **)ptr);
  PetscCheck(h->magic == MC_MAGIC_PROJECT, PETSC_COMM_SELF, PETSC_ERR_MEMC,
             "McRealloc: %p was not allocated by McMalloc (or was freed)", *(void **)ptr);
  PetscCheck(n <= SIZE_MAX - MC_ALLOC_HEADER, PETSC_COMM_SELF, PETSC_ERR_MEM,
             "McRealloc: %zu bytes cannot be allocated", n);
  p = RawRealloc(*(void **)ptr, n);
  /* on failure the old block stays valid and stays the caller's */
  PetscCheck(p, PETSC_COMM_SELF, PETSC_ERR_MEM, "McRealloc: out of memory asking for %zu bytes (block had %zu)", n,
             h->size);
  *(void **)ptr = p;
  PetscFunctionReturn(0);
}

PetscErrorCode McFree(void *ptr)
{
  McAllocHeader *h;

  PetscFunctionBeginUser;
  PetscCheck(ptr, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "McFree: NULL address of the block (pass &p)");
  if (!*(void **)ptr) PetscFunctionReturn(0);
  h = BlockToHeader(*(void **)ptr);
  PetscCheck(h->magic == MC_MAGIC_PROJECT, PETSC_COMM_SELF, PETSC_ERR_MEMC,
             "McFree: %p was not allocated by McMalloc (or was freed already)", *(void **)ptr);
  h->magic = MC_MAGIC_FREED;
  mc_alloc.live_bytes -= (PetscInt64)h->size;
  mc_alloc.live_blocks--;
  free(h);
  *(void **)ptr = NULL;
  PetscFunctionReturn(0);
}

void *McMallocHook(size_t n)
{
  return n ? RawAlloc(n, PETSC_FALSE) : NULL;
}

void *McCallocHook(size_t n)
{
  return n ? RawAlloc(n, PETSC_TRUE) : NULL;
}

void *McReallocHook(void *p, size_t n)
{
  if (!p) return McMallocHook(n);
  if (!n) {
    McFreeHook(p);
    return NULL;
  }
  if (BlockToHeader(p)->magic != MC_MAGIC_PROJECT) {
    (void)PetscError(PETSC_COMM_SELF, __LINE__, PETSC_FUNCTION_NAME, __FILE__, PETSC_ERR_MEMC, PETSC_ERROR_INITIAL,
                     "McReallocHook: %p was not allocated by McMalloc (or was freed)", p);
    return NULL;
  }
  return RawRealloc(p, n);
}

/* A block that is not the project's is reported by McFree (never freed). */
void McFreeHook(void *p)
{
  (void)McFree(&p);
}

PetscErrorCode McMallocFailAfter(PetscInt64 n)
{
  PetscFunctionBeginUser;
  mc_alloc.fail_after = n < 0 ? -1 : n;
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------ PETSc hooks */

/* These run inside PETSc's allocation macros, possibly before PETSc's error
 * handling exists: they report with PetscError directly and never call
 * PetscMalloc themselves. */
static PetscErrorCode PetscHookMalloc(size_t n, PetscBool clear, int line, const char func[], const char file[],
                                      void **result)
{
  McAllocHeader *h;

  *result = NULL;
  if (!n) return 0;
  h = clear ? calloc(1, n + MC_ALLOC_HEADER) : malloc(n + MC_ALLOC_HEADER);
  if (!h)
    return PetscError(PETSC_COMM_SELF, line, func, file, PETSC_ERR_MEM, PETSC_ERROR_INITIAL,
                      "out of memory asking for %zu bytes", n);
  h->size = n;
  h->magic = MC_MAGIC_PETSC;
  mc_alloc.petsc_calls++;
  mc_alloc.petsc_bytes += (PetscInt64)n;
  mc_alloc.petsc_blocks++;
  *result = HeaderToBlock(h);
  return 0;
}

static PetscErrorCode PetscHookFree(void *p, int line, const char func[], const char file[])
{
  McAllocHeader *h;

  if (!p) return 0;
  h = BlockToHeader(p);
  if (h->magic != MC_MAGIC_PETSC)
    return PetscError(PETSC_COMM_SELF, line, func, file, PETSC_ERR_MEMC, PETSC_ERROR_INITIAL,
                      "PETSc frees %p, which the counting hooks did not allocate (hooks installed after "
                      "PetscInitialize, or a double free)",
                      p);
  h->magic = MC_MAGIC_FREED;
  mc_alloc.petsc_bytes -= (PetscInt64)h->size;
  mc_alloc.petsc_blocks--;
  free(h);
  return 0;
}

static PetscErrorCode PetscHookRealloc(size_t n, int line, const char func[], const char file[], void **result)
{
  McAllocHeader *h, *nh;
  size_t         old;

  if (!*result) return PetscHookMalloc(n, PETSC_FALSE, line, func, file, result);
  if (!n) {
    PetscErrorCode ierr = PetscHookFree(*result, line, func, file);
    if (ierr) return ierr;
    *result = NULL;
    return 0;
  }
  h = BlockToHeader(*result);
  if (h->magic != MC_MAGIC_PETSC)
    return PetscError(PETSC_COMM_SELF, line, func, file, PETSC_ERR_MEMC, PETSC_ERROR_INITIAL,
                      "PETSc reallocates %p, which the counting hooks did not allocate", *result);
  old = h->size;
  nh = realloc(h, n + MC_ALLOC_HEADER);
  if (!nh)
    return PetscError(PETSC_COMM_SELF, line, func, file, PETSC_ERR_MEM, PETSC_ERROR_INITIAL,
                      "out of memory asking for %zu bytes (block had %zu)", n, old);
  nh->size = n;
  mc_alloc.petsc_calls++;
  mc_alloc.petsc_bytes += (PetscInt64)n - (PetscInt64)old;
  *result = HeaderToBlock(nh);
  return 0;
}

PetscErrorCode McMemInstallPetscHooks(void)
{
  PetscBool initialized;

  PetscFunctionBeginUser;
  PetscCall(PetscInitialized(&initialized));
  PetscCheck(!initialized, PETSC_COMM_SELF, PETSC_ERR_ORDER,
             "McMemInstallPetscHooks must run before PetscInitialize: PETSc's earlier blocks would be freed by the "
             "wrong allocator");
  PetscCall(PetscMallocSet(PetscHookMalloc, PetscHookFree, PetscHookRealloc));
  mc_alloc.petsc_hooked = PETSC_TRUE;
  PetscFunctionReturn(0);
}
