/* The pattern that leaks in legacy FEniCS, run for many iterations: each
 * iteration creates a mesh that caches its function spaces, each space
 * references its mesh (a cycle), and a field on one of the spaces; then all
 * outside references are dropped. Refcounting frees the field, the
 * collector the mesh-space cycles (automatic collections on, plus a full
 * collection every PERIOD iterations). Asserted exactly: every mesh and
 * space is collected, live objects and bytes return to the baseline, and
 * the peak never exceeds what PERIOD iterations of garbage can hold.
 *
 * Usage: test-obj-fenics [iterations [period]]   (default 1000000 1000) */
#include "objtest.h"

#include <stdlib.h>

#define NSPACE 2

typedef struct Mesh_  Mesh;
typedef struct Space_ Space;

struct Mesh_ {
  MC_OBJECT_HEAD;
  double *coords; /* McMalloc'd: counted bytes that must come back too */
  size_t  ncoords;
  Space  *spaces[NSPACE]; /* the cache: the mesh owns these references */
};

struct Space_ {
  MC_OBJECT_HEAD;
  Mesh *mesh; /* owned: this is the back edge of the cycle */
  int   degree;
};

typedef struct {
  MC_OBJECT_HEAD;
  Space  *space;
  double *values;
} Field;

static int MeshTraverse(McObject *o, McVisitProc visit, void *arg)
{
  Mesh *m = (Mesh *)o;
  for (int i = 0; i < NSPACE; i++)
    MC_VISIT(m->spaces[i]);
  return 0;
}
static void MeshClear(McObject *o)
{
  Mesh *m = (Mesh *)o;
  for (int i = 0; i < NSPACE; i++)
    MC_CLEAR(m->spaces[i]);
}
static void MeshDealloc(McObject *o)
{
  if (McFree(&((Mesh *)o)->coords)) abort();
}
static int SpaceTraverse(McObject *o, McVisitProc visit, void *arg)
{
  MC_VISIT(((Space *)o)->mesh);
  return 0;
}
static void SpaceClear(McObject *o)
{
  MC_CLEAR(((Space *)o)->mesh);
}
static int FieldTraverse(McObject *o, McVisitProc visit, void *arg)
{
  MC_VISIT(((Field *)o)->space);
  return 0;
}
static void FieldClear(McObject *o)
{
  MC_CLEAR(((Field *)o)->space);
}
static void FieldDealloc(McObject *o)
{
  if (McFree(&((Field *)o)->values)) abort();
}

static const McType MeshType = {"Mesh", sizeof(Mesh), NULL, MeshDealloc, MeshTraverse, MeshClear};
static const McType SpaceType = {"Space", sizeof(Space), NULL, NULL, SpaceTraverse, SpaceClear};
static const McType FieldType = {"Field", sizeof(Field), NULL, FieldDealloc, FieldTraverse, FieldClear};

#define NCOORDS 32
#define NVALUES 48

static PetscErrorCode MeshCreate(Mesh **m)
{
  PetscFunctionBeginUser;
  PetscCall(McObjectCreate(&MeshType, m));
  (*m)->ncoords = NCOORDS;
  PetscCall(McMalloc(NCOORDS * sizeof(double), &(*m)->coords));
  PetscFunctionReturn(0);
}

/* Ownership: returns a borrowed space, cached in the mesh (FEniCS's
 * FunctionSpace cache). */
static PetscErrorCode MeshGetSpace(Mesh *m, int degree, Space **s)
{
  PetscFunctionBeginUser;
  if (!m->spaces[degree]) {
    Space *sp;
    PetscCall(McObjectCreate(&SpaceType, &sp));
    sp->degree = degree;
    McIncref(m);
    sp->mesh = m;
    m->spaces[degree] = sp; /* the cache keeps the creation reference */
  }
  *s = m->spaces[degree];
  PetscFunctionReturn(0);
}

static PetscErrorCode FieldCreate(Space *s, Field **f)
{
  PetscFunctionBeginUser;
  PetscCall(McObjectCreate(&FieldType, f));
  McIncref(s);
  (*f)->space = s;
  PetscCall(McMalloc(NVALUES * sizeof(double), &(*f)->values));
  PetscFunctionReturn(0);
}

static PetscErrorCode Run(long iterations, long period)
{
  Live         live;
  McGCGenStats s0[3], s1[3];
  McMemUsage   u;
  PetscInt64   objs, bytes, peak_objs = 0, peak_bytes = 0, periodic = 0, all = 0, rss0;
  PetscInt     n;
  /* per iteration: mesh, two spaces, field, and their buffers */
  const PetscInt64 iter_objs = 2 + NSPACE, garbage_objs = 1 + NSPACE;
  const PetscInt64 iter_bytes =
      sizeof(Mesh) + NSPACE * sizeof(Space) + sizeof(Field) + (NCOORDS + NVALUES) * sizeof(double);

  PetscFunctionBeginUser;
  PetscCall(CaseBegin(&live));
  PetscCall(McGCEnable(PETSC_TRUE)); /* the automatic collections run too */
  PetscCall(McMemGetUsage(&u));
  rss0 = u.rss_bytes;
  for (int g = 0; g < 3; g++)
    PetscCall(McGCGetStats(g, &s0[g]));
  for (long it = 0; it < iterations; it++) {
    Mesh  *mesh = NULL;
    Space *v0 = NULL, *v1 = NULL;
    Field *f = NULL;

    PetscCall(MeshCreate(&mesh));
    PetscCall(MeshGetSpace(mesh, 0, &v0));
    PetscCall(MeshGetSpace(mesh, 1, &v1));
    PetscCall(MeshGetSpace(mesh, 1, &v1)); /* cached: no new object */
    PetscCall(FieldCreate(v1, &f));
    PetscCall(McMemGetLive(&objs, &bytes));
    if (objs > peak_objs) peak_objs = objs;
    if (bytes > peak_bytes) peak_bytes = bytes;
    PetscCall(McObjectDestroy(&f));
    PetscCall(McObjectDestroy(&mesh)); /* the mesh and its spaces are now an unreachable cycle */
    if ((it + 1) % period == 0) {
      PetscCall(McGCCollect(2, &n));
      periodic += n;
    }
  }
  PetscCall(McGCCollect(2, &n));
  periodic += n;
  PetscCall(McGCEnable(PETSC_FALSE));
  for (int g = 0; g < 3; g++)
    PetscCall(McGCGetStats(g, &s1[g]));
  PetscCall(McMemGetUsage(&u));
  PetscCall(McMemGetLive(&objs, &bytes));

  CHECK_INT(objs, live.objects);
  CHECK_INT(bytes, live.bytes);
  CHECK_INT(McMemUsageLive(&u, "Mesh"), 0);
  CHECK_INT(McMemUsageLive(&u, "Space"), 0);
  CHECK_INT(McMemUsageLive(&u, "Field"), 0);
  CHECK_INT(u.tracked, 0);
  /* every mesh and space went through the collector, no field did */
  for (int g = 0; g < 3; g++) {
    all += s1[g].collected - s0[g].collected;
    CHECK_INT(s1[g].uncollectable, 0);
  }
  CHECK_INT(all, garbage_objs * iterations);
  /* bounded: at most PERIOD iterations of garbage plus the current one */
  CHECK(peak_objs - live.objects <= garbage_objs * period + (iter_objs - garbage_objs));
  CHECK(peak_objs - live.objects >= iter_objs);
  CHECK(peak_bytes - live.bytes <= iter_bytes * period);
  printf(
      "%ld iterations, full collection every %ld: %lld objects collected, %lld of them by %lld automatic collections\n",
      iterations, period, (long long)all, (long long)(all - periodic),
      (long long)(s1[0].collections - s0[0].collections + s1[1].collections - s0[1].collections + s1[2].collections -
                  s0[2].collections - (iterations / period + 1)));
  printf("peak %lld live objects (bound %lld), peak %lld live bytes (bound %lld); RSS %.1f MB -> %.1f MB\n",
         (long long)(peak_objs - live.objects), (long long)(garbage_objs * period + iter_objs - garbage_objs),
         (long long)(peak_bytes - live.bytes), (long long)(iter_bytes * period), rss0 / 1e6, u.rss_bytes / 1e6);
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  long iterations = argc > 1 ? atol(argv[1]) : 1000000;
  long period = argc > 2 ? atol(argv[2]) : 1000;

  if (iterations < 1 || period < 1) {
    printf("usage: %s [iterations >= 1 [period >= 1]]\n", argv[0]);
    return 2;
  }
  if (Run(iterations, period)) {
    printf("FAIL: error\n");
    return 1;
  }
  printf("%d failures\n", failures);
  return failures != 0;
}
