/* Memory accounting and the memory assertion.
 *
 * A run takes a baseline after warm-up and later checks that nothing grew:
 * live objects per type, bytes through McMalloc, PETSc's bytes through the
 * hooks. Counts, not RSS, carry the assertion: RSS moves with the C
 * library's arenas and page reuse and proves nothing exactly; it is reported
 * beside them. */
#include "obj/obj_impl.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static McMemUsage baseline;
static uint64_t   baseline_serial;
static PetscBool  have_baseline;
/* the usage table is a few kB: static storage keeps McMemCheck from
 * allocating, or using much stack, in the sampling loop */
static McMemUsage check_usage;

/* open/read rather than fopen: a memory check inside the sampling loop
 * must not allocate, not even in the C library. -1 when unavailable. */
static PetscInt64 ReadRSS(void)
{
  char    buf[128];
  long    pages, resident;
  ssize_t n;
  int     fd = open("/proc/self/statm", O_RDONLY);

  if (fd < 0) return -1;
  n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  if (sscanf(buf, "%ld %ld", &pages, &resident) != 2) return -1;
  return (PetscInt64)resident * (PetscInt64)sysconf(_SC_PAGESIZE);
}

PetscErrorCode McMemGetUsage(McMemUsage *u)
{
  struct mallinfo2 mi;

  PetscFunctionBeginUser;
  PetscCheck(u, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "McMemGetUsage: NULL output");
  u->ntypes = mc_obj.ntypes;
  for (PetscInt i = 0; i < mc_obj.ntypes; i++) {
    u->types[i].name = mc_obj.types[i].type->name;
    u->types[i].size = mc_obj.types[i].type->size;
    u->types[i].live = mc_obj.types[i].live;
    u->types[i].created = mc_obj.types[i].created;
  }
  u->live_objects = mc_obj.live_objects;
  u->tracked = mc_obj.tracked;
  u->live_bytes = mc_alloc.live_bytes;
  u->live_blocks = mc_alloc.live_blocks;
  u->project_allocs = mc_alloc.calls;
  u->petsc_hooked = mc_alloc.petsc_hooked;
  u->petsc_bytes = mc_alloc.petsc_bytes;
  u->petsc_blocks = mc_alloc.petsc_blocks;
  u->petsc_allocs = mc_alloc.petsc_calls;
  u->rss_bytes = ReadRSS();
  mi = mallinfo2();
  u->heap_bytes = (PetscInt64)mi.uordblks + (PetscInt64)mi.hblkhd;
  PetscFunctionReturn(0);
}

PetscErrorCode McMemGetLive(PetscInt64 *objects, PetscInt64 *bytes)
{
  PetscFunctionBeginUser;
  if (objects) *objects = mc_obj.live_objects;
  if (bytes) *bytes = mc_alloc.live_bytes;
  PetscFunctionReturn(0);
}

PetscInt64 McMemUsageLive(const McMemUsage *u, const char *type_name)
{
  PetscInt64 n = 0;
  for (PetscInt i = 0; i < u->ntypes; i++)
    if (!strcmp(u->types[i].name, type_name)) n += u->types[i].live;
  return n;
}

PetscErrorCode McMemSetDebug(PetscBool on)
{
  PetscFunctionBeginUser;
  mc_obj.debug = on;
  PetscFunctionReturn(0);
}

PetscErrorCode McMemSetBaseline(void)
{
  PetscFunctionBeginUser;
  PetscCall(McMemGetUsage(&baseline));
  baseline_serial = mc_obj.serial;
  have_baseline = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode McMemAllocCount(PetscInt64 *project_allocs, PetscInt64 *petsc_allocs)
{
  PetscFunctionBeginUser;
  if (project_allocs) *project_allocs = mc_alloc.calls;
  if (petsc_allocs) *petsc_allocs = mc_alloc.petsc_calls;
  PetscFunctionReturn(0);
}

/* Appends to a bounded report; truncates silently (the verdict is in *ok). */
typedef struct {
  char  *buf;
  size_t len, used;
} McReport;

static void Say(McReport *r, const char *fmt, ...) PETSC_ATTRIBUTE_FORMAT(2, 3);
static void Say(McReport *r, const char *fmt, ...)
{
  va_list ap;
  int     n;

  if (!r->buf || r->used + 1 >= r->len) return;
  va_start(ap, fmt);
  n = vsnprintf(r->buf + r->used, r->len - r->used, fmt, ap);
  va_end(ap);
  if (n > 0) r->used += (size_t)n < r->len - r->used ? (size_t)n : r->len - r->used - 1;
}

/* Debug mode: objects created since the baseline and still alive, grouped
 * by type and creation site (a fixed table: the report never allocates). */
static void ReportSites(McReport *r)
{
  enum { MAXSITES = 32 };
  struct {
    const McType *type;
    const char   *file;
    int           line;
    PetscInt64    n;
  } site[MAXSITES];
  int        nsite = 0;
  PetscInt64 other = 0;

  for (McObject *o = mc_obj.debug_head.dbg_next; o != &mc_obj.debug_head; o = o->dbg_next) {
    int k;
    if (o->ob_serial <= baseline_serial) continue;
    for (k = 0; k < nsite; k++)
      if (site[k].type == o->ob_type && site[k].line == o->ob_line && !strcmp(site[k].file, o->ob_file)) break;
    if (k == nsite) {
      if (nsite == MAXSITES) {
        other++;
        continue;
      }
      site[nsite].type = o->ob_type;
      site[nsite].file = o->ob_file;
      site[nsite].line = o->ob_line;
      site[nsite].n = 0;
      nsite++;
    }
    site[k].n++;
  }
  if (!nsite) return;
  Say(r, "  objects created since the baseline and still alive, by creation site:\n");
  for (int k = 0; k < nsite; k++)
    Say(r, "    %s:%d: %" PetscInt64_FMT " x %s\n", site[k].file, site[k].line, site[k].n, site[k].type->name);
  if (other) Say(r, "    (%" PetscInt64_FMT " more at other sites)\n", other);
}

PetscErrorCode McMemCheck(PetscInt tol_objects, size_t tol_bytes, PetscBool *ok, char *report, size_t len)
{
  McMemUsage *now = &check_usage;
  McReport    r = {report, len, 0};
  PetscInt64  tolb;
  PetscBool   types_grew = PETSC_FALSE;

  PetscFunctionBeginUser;
  PetscCheck(have_baseline, PETSC_COMM_SELF, PETSC_ERR_ORDER,
             "McMemCheck: no baseline; call McMemSetBaseline after warm-up");
  PetscCheck(tol_objects >= 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "McMemCheck: tol_objects must be >= 0, got %" PetscInt_FMT, tol_objects);
  PetscCheck(ok, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "McMemCheck: NULL ok");
  if (report && len) report[0] = 0;
  tolb = tol_bytes > (size_t)INT64_MAX ? INT64_MAX : (PetscInt64)tol_bytes;
  PetscCall(McMemGetUsage(now));
  *ok = PETSC_TRUE;
  for (PetscInt i = 0; i < now->ntypes; i++) {
    /* the tables only grow, in creation order: index i means the same type */
    PetscInt64 base = i < baseline.ntypes ? baseline.types[i].live : 0;
    PetscInt64 grew = now->types[i].live - base;
    if (grew > tol_objects) {
      if (*ok)
        Say(&r, "memory check failed (tolerance %" PetscInt_FMT " objects per type, %zu bytes):\n", tol_objects,
            tol_bytes);
      *ok = PETSC_FALSE;
      types_grew = PETSC_TRUE;
      Say(&r,
          "  type %s: %" PetscInt64_FMT " live objects, baseline %" PetscInt64_FMT " (+%" PetscInt64_FMT
          ", %zu bytes each)\n",
          now->types[i].name, now->types[i].live, base, grew, now->types[i].size);
    }
  }
  if (now->live_bytes - baseline.live_bytes > tolb) {
    if (*ok)
      Say(&r, "memory check failed (tolerance %" PetscInt_FMT " objects per type, %zu bytes):\n", tol_objects,
          tol_bytes);
    *ok = PETSC_FALSE;
    Say(&r,
        "  project bytes (McMalloc): %" PetscInt64_FMT " live in %" PetscInt64_FMT " blocks, baseline %" PetscInt64_FMT
        " (+%" PetscInt64_FMT ")\n",
        now->live_bytes, now->live_blocks, baseline.live_bytes, now->live_bytes - baseline.live_bytes);
  }
  if (now->petsc_hooked && baseline.petsc_hooked && now->petsc_bytes - baseline.petsc_bytes > tolb) {
    if (*ok)
      Say(&r, "memory check failed (tolerance %" PetscInt_FMT " objects per type, %zu bytes):\n", tol_objects,
          tol_bytes);
    *ok = PETSC_FALSE;
    Say(&r,
        "  PETSc bytes: %" PetscInt64_FMT " live in %" PetscInt64_FMT " blocks, baseline %" PetscInt64_FMT
        " (+%" PetscInt64_FMT ")\n",
        now->petsc_bytes, now->petsc_blocks, baseline.petsc_bytes, now->petsc_bytes - baseline.petsc_bytes);
  }
  if (!*ok) {
    if (mc_obj.debug)
      ReportSites(&r);
    else if (types_grew)
      Say(&r, "  (McMemSetDebug(PETSC_TRUE) before the baseline makes this report list where the new objects were "
              "created)\n");
    Say(&r, "  process RSS %" PetscInt64_FMT " bytes (baseline %" PetscInt64_FMT ")\n", now->rss_bytes,
        baseline.rss_bytes);
  }
  PetscFunctionReturn(0);
}
