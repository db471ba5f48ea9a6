/* The parallel sink on 2 ranks (relay.c): 3 chains, chain 0 on rank 0 (the
 * writer) and chains 1, 2 on rank 1, a field every 3rd draw with blocks of
 * 16 (the thinning does not divide the block). Checked with exact values:
 * every draw and field sample of every chain in the file, memory rows summed
 * over the ranks, no allocation on rank 1 while it stages and exchanges,
 * the checkpoint blobs gathered on rank 0 and sent back to every rank on
 * resume, and a resume in the middle of a block continuing exactly there. */
#include "io/io.h"
#include <hdf5.h>
#include <string.h>

#include "../support/check.h"

enum { C = 3, P = 4, NV = 6, T = 3, B = 16 };
static const PetscMPIInt chain_rank[C] = {0, 1, 1};

static double Theta(PetscInt64 d, PetscInt c, int i, double shift)
{
  return (double)(d * 10 + i + 100 * c) + shift;
}
static double Field(PetscInt64 d, PetscInt c, int i)
{
  return (double)(d + i + 1000 * c);
}

static void Spec(McOutputSpec *s, const char *const *names)
{
  McOutputSpecInit(s);
  s->nchains = C;
  s->nparams = P;
  s->nqoi = 1;
  s->qoi_names = names;
  s->field_size = NV;
  s->field_thin = T;
  s->block_size = B;
  s->memory_block = 4;
  s->model_hash = "hash-R";
  s->overwrite = PETSC_TRUE;
  s->comm = PETSC_COMM_WORLD;
  s->chain_rank = chain_rank;
}

/* Draw d of every chain this rank runs; an exchange at each block end, a
 * memory row every 8 draws (RSS = rank + 1, so rank 0 stores 3). */
static PetscErrorCode Append(McOutput out, PetscMPIInt rank, PetscInt64 d, double shift)
{
  double            theta[P], qoi = (double)d, field[NV];
  McOutputDraw      draw = {theta, -1.0 * (double)d, 0.5, 0.25, PETSC_TRUE, PETSC_FALSE, &qoi, NULL, 0};
  McOutputMemoryRow row = {d, rank + 1, 10, 100, 1};

  PetscFunctionBeginUser;
  for (PetscInt c = 0; c < C; c++) {
    if (chain_rank[c] != rank) continue;
    for (int i = 0; i < P; i++)
      theta[i] = Theta(d, c, i, shift);
    for (int i = 0; i < NV; i++)
      field[i] = Field(d, c, i);
    draw.field = d % T == 0 ? field : NULL;
    draw.seconds = 0.25 * (double)d + (double)c; /* relayed like the other columns */
    PetscCall(McOutputAppendDraw(out, c, &draw));
  }
  if ((d + 1) % B == 0) PetscCall(McOutputExchange(out));
  if ((d + 1) % 8 == 0) PetscCall(McOutputAppendMemory(out, &row));
  PetscFunctionReturn(0);
}

static size_t nmalloc = 0;
static PetscErrorCode (*base_malloc)(size_t, PetscBool, int, const char[], const char[], void **);
static PetscErrorCode CountingMalloc(size_t n, PetscBool clear, int line, const char f[], const char file[], void **p)
{
  nmalloc++;
  return base_malloc(n, clear, line, f, file, p);
}

/* Rank 0: the file's draws [0, n) against the values appended (shift for
 * the draws from `from` on), the field samples and the memory rows. */
static PetscErrorCode CheckFile(const char *path, PetscInt64 n, PetscInt64 from, double shift)
{
  hid_t    f, ds, sp;
  hsize_t  dims[3];
  double  *theta, *fields, *mean;
  int64_t *rss;
  int      bad = 0;

  PetscFunctionBeginUser;
  f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  ds = H5Dopen2(f, "posterior/theta", H5P_DEFAULT);
  sp = H5Dget_space(ds);
  H5Sget_simple_extent_dims(sp, dims, NULL);
  CHECK(dims[0] == C && (PetscInt64)dims[1] == n && dims[2] == P,
        "posterior/theta is [%d, %d, %d], expected [%d, %lld, %d]", (int)dims[0], (int)dims[1], (int)dims[2], C,
        (long long)n, P);
  PetscCall(PetscMalloc1(C * n * P, &theta));
  H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, theta);
  for (PetscInt c = 0; c < C; c++)
    for (PetscInt64 d = 0; d < n; d++)
      for (int i = 0; i < P; i++)
        bad += theta[(c * n + d) * P + i] != Theta(d, c, i, d >= from ? shift : 0);
  CHECK(bad == 0, "%d values of posterior/theta differ from those appended", bad);
  H5Sclose(sp);
  H5Dclose(ds);
  ds = H5Dopen2(f, "timing/seconds", H5P_DEFAULT);
  H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, theta); /* C * n values fit */
  H5Dclose(ds);
  bad = 0;
  for (PetscInt c = 0; c < C; c++)
    for (PetscInt64 d = 0; d < n; d++)
      bad += theta[c * n + d] != 0.25 * (double)d + (double)c;
  CHECK(bad == 0, "%d values of timing/seconds differ from those appended", bad);
  PetscCall(PetscFree(theta));

  /* Field samples k = draws 0, 3, 6, ...; the running mean over them. */
  {
    PetscInt64 K = (n + T - 1) / T;
    ds = H5Dopen2(f, "posterior_fields/u", H5P_DEFAULT);
    sp = H5Dget_space(ds);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    CHECK((PetscInt64)dims[1] == K, "%d field samples, expected %lld", (int)dims[1], (long long)K);
    PetscCall(PetscMalloc1(C * K * NV, &fields));
    PetscCall(PetscMalloc1(C * NV, &mean));
    H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, fields);
    bad = 0;
    for (PetscInt c = 0; c < C; c++)
      for (PetscInt64 k = 0; k < K; k++)
        for (int i = 0; i < NV; i++)
          bad += fields[(c * K + k) * NV + i] != Field(k * T, c, i);
    CHECK(bad == 0, "%d values of posterior_fields/u differ", bad);
    H5Sclose(sp);
    H5Dclose(ds);
    ds = H5Dopen2(f, "fields/mean", H5P_DEFAULT);
    H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, mean);
    H5Dclose(ds);
    /* Field(kT, c, i) is linear in k: its mean is Field at the mean draw. */
    bad = 0;
    for (PetscInt c = 0; c < C; c++)
      for (int i = 0; i < NV; i++)
        bad += PetscAbsReal(mean[c * NV + i] - (Field(0, c, i) + T * (K - 1) / 2.0)) > 1e-9;
    CHECK(bad == 0, "fields/mean differs from the mean of the samples (%d values)", bad);
    PetscCall(PetscFree(fields));
    PetscCall(PetscFree(mean));
  }
  /* Memory rows: RSS summed over the ranks (1 + 2). */
  ds = H5Dopen2(f, "memory/rss", H5P_DEFAULT);
  sp = H5Dget_space(ds);
  H5Sget_simple_extent_dims(sp, dims, NULL);
  PetscCall(PetscMalloc1(dims[0] + 1, &rss));
  H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, rss);
  bad = 0;
  for (hsize_t j = 0; j < dims[0]; j++)
    bad += rss[j] != 3;
  CHECK(dims[0] == (hsize_t)(n / 8) && bad == 0, "memory/rss: %d rows (expected %lld), %d not the sum 3", (int)dims[0],
        (long long)(n / 8), bad);
  PetscCall(PetscFree(rss));
  H5Sclose(sp);
  H5Dclose(ds);
  H5Fclose(f);
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char         dir[PETSC_MAX_PATH_LEN] = "io-relay", path[PETSC_MAX_PATH_LEN], blob_text[C][16];
  const char  *names[1] = {"sigma"};
  const void  *blobs[C];
  size_t       sizes[C];
  McOutputSpec s;
  McOutput     out;
  PetscMPIInt  rank, size;
  PetscInt     nl = 0;
  PetscInt64   appended, committed;
  PetscBool    writer;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-dir", dir, sizeof dir, NULL));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCheck(size == 2, PETSC_COMM_WORLD, PETSC_ERR_ARG_SIZ, "run on 2 ranks");
  if (!rank) PetscCall(PetscMkdir(dir));
  PetscCall(PetscSNPrintf(path, sizeof path, "%s/relay.h5", dir));
  Spec(&s, names);

  PetscCall(McOutputCreate(path, &s, &out));
  PetscCall(McOutputIsWriter(out, &writer));
  CHECK(writer == (rank == 0), "rank %d: writer %d", (int)rank, (int)writer);
  for (PetscInt64 d = 0; d < 16; d++)
    PetscCall(Append(out, rank, d, 0));
  /* Steady state: staging and exchanging allocate nothing (rank 1). */
  base_malloc = PetscTrMalloc;
  PetscTrMalloc = CountingMalloc;
  nmalloc = 0;
  for (PetscInt64 d = 16; d < 40; d++)
    PetscCall(Append(out, rank, d, 0));
  PetscTrMalloc = base_malloc;
  if (rank) CHECK(nmalloc == 0, "rank 1: %zu allocations while staging and exchanging 24 draws", nmalloc);
  /* A checkpoint at draw 40 (mid-block): blobs of the local chains. */
  for (PetscInt c = 0; c < C; c++) {
    if (chain_rank[c] != rank) continue;
    PetscCall(PetscSNPrintf(blob_text[nl], sizeof blob_text[nl], "chain-%d-blob", (int)c));
    blobs[nl] = blob_text[nl];
    sizes[nl] = strlen(blob_text[nl]) + 1;
    nl++;
  }
  PetscCall(McOutputWriteCheckpoint(out, blobs, sizes));
  for (PetscInt64 d = 40; d < 50; d++)
    PetscCall(Append(out, rank, d, 0));
  PetscCall(McOutputExchange(out));
  PetscCall(McOutputGetDrawCounts(out, &appended, &committed));
  CHECK(appended == 50, "rank %d: %lld draws appended, expected 50", (int)rank, (long long)appended);
  /* Rank 0 flushed the block [32, 48) when the exchange filled it (one
   * block per flush by default); the other ranks do not know. */
  CHECK(committed == (rank ? -1 : 48), "rank %d: committed %lld", (int)rank, (long long)committed);
  PetscCall(McOutputClose(&out));
  if (!rank) PetscCall(CheckFile(path, 50, 50, 0));
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));

  /* Resume at the checkpoint: every rank gets its chains' blobs and goes on
   * at draw 40 with other values for the redrawn draws. */
  PetscCall(McOutputOpenResume(path, &s, &out));
  for (PetscInt c = 0; c < C; c++) {
    const void *b;
    size_t      n;
    PetscInt64  draws;
    char        want[16];
    PetscCall(McOutputReadCheckpoint(out, c, &b, &n, &draws));
    PetscCall(PetscSNPrintf(want, sizeof want, "chain-%d-blob", (int)c));
    CHECK(draws == 40 && n == strlen(want) + 1 && !strcmp(b, want), "rank %d: chain %d's blob \"%s\" at draw %lld",
          (int)rank, (int)c, (const char *)b, (long long)draws);
  }
  PetscCall(McOutputGetDrawCounts(out, &appended, NULL));
  CHECK(appended == 40, "rank %d: resumed at draw %lld, expected 40", (int)rank, (long long)appended);
  for (PetscInt64 d = 40; d < 56; d++)
    PetscCall(Append(out, rank, d, 0.5));
  PetscCall(McOutputExchange(out));
  PetscCall(McOutputClose(&out));
  if (!rank) PetscCall(CheckFile(path, 56, 40, 0.5));

  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_INT, MPI_SUM, PETSC_COMM_WORLD));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, failures ? "%d FAILURES\n" : "all relay checks passed\n", failures));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
