/* Unit tests of the sink in C: an McOutput is an object of the memory
 * layer (live while open, gone after a close or a failed create), refusal
 * to overwrite, errors naming the file, zero allocations per appended draw in steady state, checkpoint
 * round trip (including a torn newest slot), resume refusals. The values
 * and the layout are checked from Python (check_output.py). */
#include "io/io.h"
#include "obj/obj.h"
#include <hdf5.h>
#include <hdf5_hl.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "../support/check.h"

/* Runs a call that must fail; returns its error message. PETSc's error
 * printing is switched off meanwhile (the message is kept by PETSc). */
#define EXPECT_ERROR(call, msgbuf) \
  do { \
    PetscErrorCode e_; \
    const char    *text_; \
    char          *specific_; \
    PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL)); \
    e_ = (call); \
    PetscCall(PetscPopErrorHandler()); \
    CHECK(e_ != 0, "%s succeeded, expected an error", #call); \
    PetscErrorMessage(e_, &text_, &specific_); \
    PetscCall(PetscStrncpy(msgbuf, specific_ ? specific_ : "", sizeof msgbuf)); \
  } while (0)

static void Spec(McOutputSpec *s, const char *const *names)
{
  McOutputSpecInit(s);
  s->nchains     = 2;
  s->nparams     = 4;
  s->nqoi        = 1;
  s->qoi_names   = names;
  s->field_size  = 6;
  s->field_thin  = 2;
  s->block_size  = 16;
  s->memory_block = 8;
  s->model_hash  = "hash-A";
  s->overwrite   = PETSC_TRUE;
}

static PetscErrorCode Append(McOutput out, PetscInt64 d)
{
  double       theta[4], qoi = (double)d, field[6];
  McOutputDraw draw = {theta, -1.0 * (double)d, 0.5, 0.25, PETSC_TRUE, PETSC_FALSE, &qoi, field, 0.5 * (double)d};

  PetscFunctionBeginUser;
  for (PetscInt c = 0; c < 2; c++) {
    for (int i = 0; i < 4; i++) theta[i] = (double)(d * 10 + i + 100 * c);
    for (int i = 0; i < 6; i++) field[i] = (double)(d + i);
    PetscCall(McOutputAppendDraw(out, c, &draw));
  }
  PetscFunctionReturn(0);
}

/* Live McOutput objects, from the memory layer's per-type table. */
static PetscInt64 LiveOutputs(void)
{
  McMemUsage u;

  if (McMemGetUsage(&u)) return -1;
  return McMemUsageLive(&u, "McOutput");
}

static PetscErrorCode TestRefuseOverwrite(const char *dir)
{
  const char  *names[1] = {"sigma"};
  McOutputSpec s;
  McOutput     out;
  char         path[PETSC_MAX_PATH_LEN], msg[1024];
  PetscInt64   live0 = LiveOutputs();

  PetscFunctionBeginUser;
  Spec(&s, names);
  PetscCall(PetscSNPrintf(path, sizeof path, "%s/exists.h5", dir));
  PetscCall(McOutputCreate(path, &s, &out));
  CHECK(LiveOutputs() == live0 + 1, "an open output is not a live McOutput object (%lld live, %lld before)",
        (long long)LiveOutputs(), (long long)live0);
  PetscCall(McOutputClose(&out));
  CHECK(LiveOutputs() == live0, "a closed output is still a live McOutput (%lld live, %lld before)",
        (long long)LiveOutputs(), (long long)live0);
  CHECK(!out, "Close did not set the handle to NULL");
  s.overwrite = PETSC_FALSE;
  EXPECT_ERROR(McOutputCreate(path, &s, &out), msg);
  CHECK(strstr(msg, path) && strstr(msg, "refusing to overwrite"), "message \"%s\" does not name %s and the refusal", msg, path);
  CHECK(!out, "failed Create left a handle");
  s.overwrite = PETSC_TRUE;
  PetscCall(McOutputCreate(path, &s, &out));
  PetscCall(McOutputClose(&out));

  /* A directory that does not exist: the error names the file and HDF5's reason. */
  PetscCall(PetscSNPrintf(path, sizeof path, "%s/no-such-dir/run.h5", dir));
  EXPECT_ERROR(McOutputCreate(path, &s, &out), msg);
  CHECK(strstr(msg, path) && strstr(msg, "H5Fcreate") && strstr(msg, "No such file or directory"), "message \"%s\" does not name %s, H5Fcreate and the cause", msg, path);
  CHECK(LiveOutputs() == live0, "a failed create left a live McOutput (%lld live, %lld before)",
        (long long)LiveOutputs(), (long long)live0);
  PetscFunctionReturn(0);
}

static size_t nmalloc = 0;
static PetscErrorCode (*base_malloc)(size_t, PetscBool, int, const char[], const char[], void **);
static PetscErrorCode (*base_realloc)(size_t, int, const char[], const char[], void **);

static PetscErrorCode CountingMalloc(size_t n, PetscBool clear, int line, const char f[], const char file[], void **p)
{
  nmalloc++;
  return base_malloc(n, clear, line, f, file, p);
}

static PetscErrorCode CountingRealloc(size_t n, int line, const char f[], const char file[], void **p)
{
  nmalloc++;
  return base_realloc(n, line, f, file, p);
}

/* Steady state: 20 blocks with a flush each, field samples, memory rows
 * written, not one allocation through PETSc's allocator (the project's
 * allocator). HDF5's own internal allocations are outside it. */
static PetscErrorCode TestZeroAllocations(const char *dir)
{
  const char       *names[1] = {"sigma"};
  McOutputSpec      s;
  McOutput          out;
  char              path[PETSC_MAX_PATH_LEN];
  McOutputMemoryRow row = {0, 1, 2, 3, 4};
  size_t            counted;

  PetscFunctionBeginUser;
  Spec(&s, names);
  PetscCall(PetscSNPrintf(path, sizeof path, "%s/allocs.h5", dir));
  PetscCall(McOutputCreate(path, &s, &out));
  for (PetscInt64 d = 0; d < 32; d++) PetscCall(Append(out, d)); /* warm-up: two blocks */
  base_malloc  = PetscTrMalloc;
  base_realloc = PetscTrRealloc;
  PetscTrMalloc  = CountingMalloc;
  PetscTrRealloc = CountingRealloc;
  nmalloc        = 0;
  for (PetscInt64 d = 32; d < 32 + 20 * 16; d++) {
    PetscCall(Append(out, d));
    row.iteration = d;
    PetscCall(McOutputAppendMemory(out, &row));
  }
  PetscCall(McOutputFlush(out));
  counted        = nmalloc;
  PetscTrMalloc  = base_malloc;
  PetscTrRealloc = base_realloc;
  CHECK(counted == 0, "%zu allocations while appending 320 draws, expected 0", counted);
  PetscCall(McOutputClose(&out));
  PetscFunctionReturn(0);
}

/* Flips one byte of a slot of checkpoint/record, as a torn write would. */
static PetscErrorCode CorruptSlot(const char *path, int slot)
{
  hid_t         f, ds, fs, ms;
  hsize_t       start[2] = {(hsize_t)slot, 100}, count[2] = {1, 1}, one = 1;
  unsigned char b;

  PetscFunctionBeginUser;
  f  = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  ds = H5Dopen2(f, "checkpoint/record", H5P_DEFAULT);
  fs = H5Dget_space(ds);
  ms = H5Screate_simple(1, &one, NULL);
  H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
  PetscCheck(H5Dread(ds, H5T_NATIVE_UCHAR, ms, fs, H5P_DEFAULT, &b) >= 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "read");
  b ^= 0x40;
  PetscCheck(H5Dwrite(ds, H5T_NATIVE_UCHAR, ms, fs, H5P_DEFAULT, &b) >= 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "write");
  H5Sclose(ms);
  H5Sclose(fs);
  H5Dclose(ds);
  PetscCheck(H5Fclose(f) >= 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "close");
  PetscFunctionReturn(0);
}

static PetscErrorCode TestCheckpoint(const char *dir)
{
  const char  *names[1] = {"sigma"};
  McOutputSpec s;
  McOutput     out;
  char         path[PETSC_MAX_PATH_LEN], msg[1024];
  char         blob0[300], blob1[7];
  const void  *blobs[2] = {blob0, blob1};
  size_t       sizes[2] = {sizeof blob0, sizeof blob1}, size;
  const void  *got;
  PetscInt64   draws, appended, committed;

  PetscFunctionBeginUser;
  Spec(&s, names);
  PetscCall(PetscSNPrintf(path, sizeof path, "%s/ckpt.h5", dir));
  PetscCall(McOutputCreate(path, &s, &out));
  EXPECT_ERROR(McOutputReadCheckpoint(out, 0, &got, &size, &draws), msg);
  CHECK(strstr(msg, "no checkpoint"), "message \"%s\"", msg);
  for (PetscInt64 d = 0; d < 20; d++) PetscCall(Append(out, d));
  for (size_t i = 0; i < sizeof blob0; i++) blob0[i] = (char)(i * 7 + 1);
  memcpy(blob1, "chain-1", 7);
  PetscCall(McOutputWriteCheckpoint(out, blobs, sizes)); /* seq 1, slot 0, 20 draws */
  for (PetscInt64 d = 20; d < 41; d++) PetscCall(Append(out, d));
  blob0[0] = 'X';
  PetscCall(McOutputWriteCheckpoint(out, blobs, sizes)); /* seq 2, slot 1, 41 draws */
  PetscCall(McOutputReadCheckpoint(out, 0, &got, &size, &draws));
  CHECK(size == sizeof blob0 && !memcmp(got, blob0, size) && draws == 41, "in-memory checkpoint: size %zu draws %lld", size, (long long)draws);
  /* A chain ahead of the other: no checkpoint (the blobs would not match one draw count). */
  {
    double       theta[4] = {0}, q = 0, field[6] = {0};
    McOutputDraw d = {theta, 0, 0, 0, PETSC_FALSE, PETSC_FALSE, &q, field, 0};
    PetscCall(McOutputAppendDraw(out, 0, &d));
    EXPECT_ERROR(McOutputWriteCheckpoint(out, blobs, sizes), msg);
    CHECK(strstr(msg, "same draw"), "message \"%s\"", msg);
    /* ...and a chain may not run a whole block ahead. */
    for (int i = 0; i < 6; i++) PetscCall(McOutputAppendDraw(out, 0, &d)); /* chain 0: 9 + 7 = 16 buffered */
    EXPECT_ERROR(McOutputAppendDraw(out, 0, &d), msg);
    CHECK(strstr(msg, "full block") && strstr(msg, "ahead of chain 1"), "message \"%s\"", msg);
    /* A stored field sample is required at draws d % T == 0. */
    PetscCall(McOutputAppendDraw(out, 1, &d)); /* draw 41 of chain 1: odd, field optional */
    d.field = NULL;
    EXPECT_ERROR(McOutputAppendDraw(out, 1, &d), msg); /* draw 42: stored, so required */
    CHECK(strstr(msg, "needs a field"), "message \"%s\"", msg);
  }
  PetscCall(McOutputClose(&out)); /* flushes the 42 draws every chain has */

  /* Resume: back at the newest checkpoint, blobs round-trip. */
  PetscCall(McOutputOpenResume(path, &s, &out));
  PetscCall(McOutputReadCheckpoint(out, 1, &got, &size, &draws));
  CHECK(size == 7 && !memcmp(got, "chain-1", 7) && draws == 41, "chain 1 blob: size %zu draws %lld", size, (long long)draws);
  PetscCall(McOutputReadCheckpoint(out, 0, &got, &size, &draws));
  CHECK(size == sizeof blob0 && !memcmp(got, blob0, size), "chain 0 blob differs after resume");
  PetscCall(McOutputGetDrawCounts(out, &appended, &committed));
  CHECK(appended == 41 && committed == 41, "resumed at appended %lld committed %lld, expected 41", (long long)appended, (long long)committed);
  PetscCall(McOutputClose(&out));

  /* The newest slot (1) torn: resume falls back to slot 0 (20 draws). */
  PetscCall(CorruptSlot(path, 1));
  PetscCall(McOutputOpenResume(path, &s, &out));
  PetscCall(McOutputReadCheckpoint(out, 0, &got, &size, &draws));
  blob0[0] = (char)1;
  CHECK(draws == 20 && size == sizeof blob0 && !memcmp(got, blob0, size), "fallback checkpoint: draws %lld", (long long)draws);
  PetscCall(McOutputGetDrawCounts(out, &appended, NULL));
  CHECK(appended == 20, "resumed at %lld, expected 20", (long long)appended);
  PetscCall(McOutputClose(&out));

  /* Both torn: a clear refusal. */
  PetscCall(CorruptSlot(path, 0));
  EXPECT_ERROR(McOutputOpenResume(path, &s, &out), msg);
  CHECK(strstr(msg, path) && strstr(msg, "no complete checkpoint"), "message \"%s\"", msg);
  PetscFunctionReturn(0);
}

/* Flush policy: every N blocks, or by time; committed counts what a flush
 * made durable. */
static PetscErrorCode TestFlushPolicy(const char *dir)
{
  const char  *names[1] = {"sigma"};
  McOutputSpec s;
  McOutput     out;
  char         path[PETSC_MAX_PATH_LEN];
  PetscInt64   appended, committed;

  PetscFunctionBeginUser;
  Spec(&s, names);
  s.flush_blocks = 3;
  PetscCall(PetscSNPrintf(path, sizeof path, "%s/policy.h5", dir));
  PetscCall(McOutputCreate(path, &s, &out));
  for (PetscInt64 d = 0; d < 47; d++) PetscCall(Append(out, d));
  PetscCall(McOutputGetDrawCounts(out, &appended, &committed));
  CHECK(appended == 47 && committed == 0, "every 3 blocks, after 47 draws: appended %lld committed %lld, expected 47 0", (long long)appended, (long long)committed);
  PetscCall(Append(out, 47));
  PetscCall(McOutputGetDrawCounts(out, NULL, &committed));
  CHECK(committed == 48, "every 3 blocks, after 48 draws: committed %lld, expected 48", (long long)committed);
  PetscCall(Append(out, 48));
  PetscCall(McOutputFlush(out));
  PetscCall(McOutputGetDrawCounts(out, NULL, &committed));
  CHECK(committed == 49, "explicit flush: committed %lld, expected 49", (long long)committed);
  PetscCall(McOutputClose(&out));

  s.flush_seconds = 1e6; /* by time: no block end comes a million seconds after the last flush */
  PetscCall(McOutputCreate(path, &s, &out));
  for (PetscInt64 d = 0; d < 160; d++) PetscCall(Append(out, d));
  PetscCall(McOutputGetDrawCounts(out, NULL, &committed));
  CHECK(committed == 0, "flush by time: committed %lld after 10 blocks, expected 0", (long long)committed);
  PetscCall(McOutputClose(&out));
  s.flush_seconds = 1e-9; /* ...and every block end is late enough */
  PetscCall(McOutputCreate(path, &s, &out));
  for (PetscInt64 d = 0; d < 20; d++) PetscCall(Append(out, d));
  PetscCall(McOutputGetDrawCounts(out, NULL, &committed));
  CHECK(committed == 16, "flush by time: committed %lld after 20 draws, expected 16", (long long)committed);
  PetscCall(McOutputClose(&out));
  PetscFunctionReturn(0);
}

static PetscErrorCode TestResumeRefusals(const char *dir)
{
  const char  *names[1] = {"sigma"};
  McOutputSpec s;
  McOutput     out;
  char         path[PETSC_MAX_PATH_LEN], msg[1024];
  char         blob[4] = "abc";
  const void  *blobs[2] = {blob, blob};
  size_t       sizes[2] = {4, 4};

  PetscFunctionBeginUser;
  Spec(&s, names);
  PetscCall(PetscSNPrintf(path, sizeof path, "%s/refuse.h5", dir));
  PetscCall(McOutputCreate(path, &s, &out));
  for (PetscInt64 d = 0; d < 5; d++) PetscCall(Append(out, d));
  PetscCall(McOutputClose(&out));
  EXPECT_ERROR(McOutputOpenResume(path, &s, &out), msg);
  CHECK(strstr(msg, "no complete checkpoint") && strstr(msg, "wrote none"), "message \"%s\"", msg);

  PetscCall(McOutputCreate(path, &s, &out));
  for (PetscInt64 d = 0; d < 5; d++) PetscCall(Append(out, d));
  PetscCall(McOutputWriteCheckpoint(out, blobs, sizes));
  PetscCall(McOutputClose(&out));
  s.model_hash = "hash-B";
  EXPECT_ERROR(McOutputOpenResume(path, &s, &out), msg);
  CHECK(strstr(msg, path) && strstr(msg, "\"hash-A\"") && strstr(msg, "\"hash-B\"") && strstr(msg, "model changed"), "message \"%s\"", msg);
  s.model_hash = "hash-A";
  s.nparams    = 5;
  EXPECT_ERROR(McOutputOpenResume(path, &s, &out), msg);
  CHECK(strstr(msg, "posterior/theta") && strstr(msg, "expects 5"), "message \"%s\"", msg);
  s.nparams = 4;
  PetscCall(McOutputOpenResume(path, &s, &out));
  PetscCall(McOutputClose(&out));
  PetscCall(PetscSNPrintf(path, sizeof path, "%s/missing.h5", dir));
  EXPECT_ERROR(McOutputOpenResume(path, &s, &out), msg);
  CHECK(strstr(msg, path) && strstr(msg, "does not exist"), "message \"%s\"", msg);
  PetscFunctionReturn(0);
}

/* Constant arrays: written once with their values and scales; a spec
 * whose arrays contradict each other or the layout is refused with the
 * array and dimension named. */
static PetscErrorCode TestConstants(const char *dir)
{
  const char      *names[1] = {"sigma"};
  McOutputSpec     s;
  McOutput         out;
  char             path[PETSC_MAX_PATH_LEN], msg[1024];
  double           a[6], b[12], back[12];
  McOutputConstant c[2] = {{"a", 1, {"node", NULL}, {6, 0}, a, "a field"},
                           {"b", 2, {"mode", "node"}, {2, 6}, b, NULL}};
  hid_t            f, ds;
  char             label[16] = "";

  PetscFunctionBeginUser;
  for (int i = 0; i < 6; i++) a[i] = 1.0 / (i + 3);
  for (int i = 0; i < 12; i++) b[i] = -0.1 * i;
  Spec(&s, names);
  s.nconstants = 2;
  s.constants  = c;
  PetscCall(PetscSNPrintf(path, sizeof path, "%s/constants.h5", dir));
  PetscCall(McOutputCreate(path, &s, &out));
  PetscCall(Append(out, 0));
  PetscCall(McOutputClose(&out));
  f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  CHECK(f >= 0, "cannot open %s", path);
  CHECK(H5LTread_dataset_double(f, "/constant_data/a", back) >= 0 && !memcmp(back, a, sizeof a), "constant_data/a differs");
  CHECK(H5LTread_dataset_double(f, "/constant_data/b", back) >= 0 && !memcmp(back, b, sizeof b), "constant_data/b differs");
  ds = H5Dopen2(f, "/constant_data/b", H5P_DEFAULT);
  CHECK(H5DSget_num_scales(ds, 0) == 1 && H5DSget_num_scales(ds, 1) == 1, "constant_data/b: a scale on each axis");
  H5Dclose(ds);
  ds = H5Dopen2(f, "/constant_data/mode", H5P_DEFAULT);
  CHECK(H5DSis_scale(ds) > 0 && H5DSget_scale_name(ds, label, sizeof label) > 0 && !strcmp(label, "mode"), "constant_data/mode is the scale \"mode\", got \"%s\"", label);
  H5Dclose(ds);
  ds = H5Dopen2(f, "/constant_data/a", H5P_DEFAULT);
  CHECK(H5LTfind_attribute(ds, "mesh_file") == 1, "constant_data/a: no mesh_file attribute");
  H5Dclose(ds);
  H5Fclose(f);

  c[1].shape[1] = 5; /* node: 6 in a, 5 in b */
  EXPECT_ERROR(McOutputCreate(path, &s, &out), msg);
  CHECK(strstr(msg, "dimension node has 6 values in constant array \"a\" but 5 in \"b\""), "message \"%s\"", msg);
  c[1].shape[1] = 6;
  c[1].name     = "a";
  EXPECT_ERROR(McOutputCreate(path, &s, &out), msg);
  CHECK(strstr(msg, "constant array \"a\" named twice"), "message \"%s\"", msg);
  c[1].name = "noise_sigma";
  EXPECT_ERROR(McOutputCreate(path, &s, &out), msg);
  CHECK(strstr(msg, "\"noise_sigma\" has the name of a dataset the layout writes"), "message \"%s\"", msg);
  c[1].name = "mode";
  EXPECT_ERROR(McOutputCreate(path, &s, &out), msg);
  CHECK(strstr(msg, "constant array \"mode\" has the name of a dimension"), "message \"%s\"", msg);
  c[1].name    = "b";
  c[1].dims[0] = "param"; /* 2 values, the parameters are 4 */
  EXPECT_ERROR(McOutputCreate(path, &s, &out), msg);
  CHECK(strstr(msg, "param has 2 values, the parameters 4"), "message \"%s\"", msg);
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char dir[PETSC_MAX_PATH_LEN] = "io-unit";

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-dir", dir, sizeof dir, NULL));
  PetscCall(PetscMkdir(dir));
  PetscCall(TestRefuseOverwrite(dir));
  PetscCall(TestZeroAllocations(dir));
  PetscCall(TestCheckpoint(dir));
  PetscCall(TestFlushPolicy(dir));
  PetscCall(TestResumeRefusals(dir));
  PetscCall(TestConstants(dir));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, failures ? "%d FAILURES\n" : "all io unit checks passed\n", failures));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
