/* What a resumable run stores besides the draws: the model hash that a
 * resume compares, and each chain's checkpoint blob.
 *
 * The model hash is one FNV-1a 64 hash per model section (mesh, fem, pde,
 * prior, observations, data, noise) of the resolved configuration as
 * --print-config writes it, plus the contents of the files those sections
 * name (a Gmsh mesh, observation points, data). Sampler, chain, output,
 * memory and solver settings are left out: changing them (more iterations,
 * another flush policy) keeps the posterior, so a resume allows it. One hash
 * per section lets a refusal say which section changed.
 *
 * The blob is plain native-endian 8-byte words: the run's plan (length,
 * burn-in, thinning, the loop's seconds so far), the chain's McCheckpoint
 * (counters, xi, generator bytes, adaptation) and the app sink's running
 * sum of xi, everything the io module does not keep itself. Its size is
 * fixed for a run, so it is allocated once. */
#include "app/app.h"

#include <stdio.h>
#include <string.h>

static const char *const model_sections[] = {"mesh", "fem", "pde", "prior", "observations", "data", "noise", "model"};
/* How to reach a UM-Bridge server is not part of the model: a run resumes
 * against a server restarted elsewhere (the model's name and config are). */
static const char *const connection_keys[] = {"url", "timeout", "retries", "retry_backoff"};
#define NSECTIONS ((int)(sizeof model_sections / sizeof model_sections[0]))

static uint64_t Fnv(uint64_t h, const char *p, size_t n)
{
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
  return h;
}

/* Hashes the file's bytes into *h; a missing file hashes as its name only
 * (problem set-up reports it properly). */
static void HashFile(uint64_t *h, const char *path)
{
  FILE  *f = fopen(path, "rb");
  char   buf[4096];
  size_t n;

  *h = Fnv(*h, path, strlen(path));
  if (!f) return;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) *h = Fnv(*h, buf, n);
  fclose(f);
}

/* The section a line of --print-config output starts: "[mesh]" -> mesh,
 * "[[pde.wells]]" -> pde; -1 for other sections, -2 if not a header. */
static int SectionOf(const char *line)
{
  const char *p = line;
  size_t      n;

  if (*p != '[') return -2;
  while (*p == '[') p++;
  n = strcspn(p, ".]");
  for (int s = 0; s < NSECTIONS; s++)
    if (strlen(model_sections[s]) == n && !strncmp(p, model_sections[s], n)) return s;
  return -1;
}

static int IsConnectionKey(const char *line)
{
  size_t n = strcspn(line, " =");

  for (size_t k = 0; k < sizeof connection_keys / sizeof connection_keys[0]; k++)
    if (strlen(connection_keys[k]) == n && !strncmp(line, connection_keys[k], n)) return 1;
  return 0;
}

PetscErrorCode McRunModelHash(const McConfig *cfg, char *hash, size_t len)
{
  char    *text = NULL, *save = NULL;
  size_t   size = 0;
  FILE    *mem = open_memstream(&text, &size);
  uint64_t h[NSECTIONS];
  int      cur = -1;
  size_t   off = 0;

  PetscFunctionBeginUser;
  PetscCheck(mem, PETSC_COMM_SELF, PETSC_ERR_MEM, "cannot open a memory stream for the model hash");
  PetscCall(McConfigWrite(cfg, mem));
  fclose(mem);
  for (int s = 0; s < NSECTIONS; s++) h[s] = 14695981039346656037ULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    int s = SectionOf(line);
    if (s != -2) cur = s;
    if (cur >= 0 && line[0] != '#' && !(!strcmp(model_sections[cur], "model") && IsConnectionKey(line)))
      h[cur] = Fnv(h[cur], line, strlen(line) + 1);
  }
  free(text); /* open_memstream's buffer comes from malloc */
  if (cfg->mesh.kind == MC_MESH_FILE) HashFile(&h[0], cfg->mesh.file);
  if (cfg->prior.mean_file[0]) HashFile(&h[3], cfg->prior.mean_file);
  if (cfg->observations.kind == MC_OBS_FILE) HashFile(&h[4], cfg->observations.file);
  if (cfg->data.kind == MC_DATA_FILE) HashFile(&h[5], cfg->data.file);
  hash[0] = '\0';
  for (int s = 0; s < NSECTIONS; s++) {
    int k = snprintf(hash + off, len - off, "%s%s:%016llx", s ? " " : "", model_sections[s], (unsigned long long)h[s]);
    PetscCheck(k > 0 && (size_t)k < len - off, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "model hash buffer too short");
    off += (size_t)k;
  }
  PetscFunctionReturn(0);
}

void McRunModelHashDiff(const char *stored, const char *now, char *msg, size_t len)
{
  size_t off = 0;

  msg[0] = '\0';
  for (int s = 0; s < NSECTIONS; s++) {
    char        key[32];
    const char *a, *b;
    snprintf(key, sizeof key, "%s:", model_sections[s]);
    a = strstr(stored, key);
    b = strstr(now, key);
    if (a && b && !strncmp(a, b, strlen(key) + 16)) continue;
    if (off < len) off += (size_t)snprintf(msg + off, len - off, "%s[%s]", off ? ", " : "", model_sections[s]);
  }
  if (!msg[0]) snprintf(msg, len, "the model hash (\"%s\" on file)", stored);
}

/* ------------------------------------------------------------ the blob */

#define BLOB_MAGIC "MCRUNCK2" /* 2: the loop's seconds after the plan */

typedef struct {
  char  *p;
  size_t off, size;
  int    write;
} Cursor;

static void Word(Cursor *c, void *v)
{
  if (c->off + 8 <= c->size) {
    if (c->write) memcpy(c->p + c->off, v, 8);
    else memcpy(v, c->p + c->off, 8);
  }
  c->off += 8;
}

static void Int(Cursor *c, PetscInt *v)
{
  int64_t x = *v;
  Word(c, &x);
  *v = (PetscInt)x;
}

static void Real(Cursor *c, PetscReal *v)
{
  double x = *v;
  Word(c, &x);
  *v = x;
}

static void Bytes(Cursor *c, void *v, size_t n)
{
  size_t padded = (n + 7) / 8 * 8;
  if (c->off + padded <= c->size) {
    if (c->write) {
      memcpy(c->p + c->off, v, n);
      memset(c->p + c->off + n, 0, padded - n);
    } else memcpy(v, c->p + c->off, n);
  }
  c->off += padded;
}

/* A vector of the chain's state, always in the natural numbering and whole
 * (N values): a blob written on any layout (R ranks per chain) restores on
 * any other. On a group of several ranks, packing gathers the vector on
 * the group's rank 0 (the blob the relay sends is that rank's; collective
 * on the group) and unpacking takes each rank's entries from the whole. */
static PetscErrorCode Vector(Cursor *c, Vec v)
{
  PetscInt     n, N;
  PetscScalar *a;
  PetscMPIInt  size;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(PetscObjectComm((PetscObject)v), &size));
  if (size == 1) {
    PetscCall(VecGetLocalSize(v, &n));
    PetscCall(VecGetArray(v, &a));
    for (PetscInt i = 0; i < n; i++) Real(c, &a[i]);
    PetscCall(VecRestoreArray(v, &a));
    PetscFunctionReturn(0);
  }
  PetscCall(VecGetSize(v, &N));
  if (!c->p) { /* measuring */
    c->off += 8 * (size_t)N;
    PetscFunctionReturn(0);
  }
  PetscCall(PetscCalloc1(N + 1, &a)); /* at a checkpoint or a resume, not per iteration */
  if (c->write) PetscCall(McVecGatherNatural(v, a));
  for (PetscInt i = 0; i < N; i++) Real(c, &a[i]);
  if (!c->write) PetscCall(McVecSetNatural(v, a));
  PetscCall(PetscFree(a));
  PetscFunctionReturn(0);
}

/* One pass of the layout, writing or reading; c->off ends at the size. */
static PetscErrorCode Walk(Cursor *c, McRunBlob *b, McCheckpoint *ck, Vec xisum, PetscInt *count)
{
  char     magic[8];
  PetscInt n, rng = (PetscInt)ck->rng_size, nadapt = ck->nadapt, seed_lo = (PetscInt)(ck->seed & 0xffffffffu), seed_hi = (PetscInt)(ck->seed >> 32);

  PetscFunctionBeginUser;
  memcpy(magic, BLOB_MAGIC, 8);
  Bytes(c, magic, 8);
  PetscCheck(c->write || !memcmp(magic, BLOB_MAGIC, 8), PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "checkpoint blob of chain %d: not written by this version of mcmc-run", (int)ck->chain);
  Int(c, &b->total);
  Int(c, &b->burn);
  Int(c, &b->thin);
  Real(c, &b->seconds);
  Int(c, &ck->iteration);
  Int(c, &ck->kept);
  Int(c, &ck->accepted_burnin);
  Int(c, &ck->accepted);
  Int(c, &ck->failed);
  Real(c, &ck->sum_accept_prob);
  Real(c, &ck->log_post);
  Int(c, &seed_lo);
  Int(c, &seed_hi);
  ck->seed = (uint64_t)(uint32_t)seed_lo | (uint64_t)(uint32_t)seed_hi << 32;
  Int(c, &ck->chain);
  PetscCall(VecGetSize(ck->xi, &n));
  {
    PetscInt m = n;
    Int(c, &m);
    PetscCheck(m == n, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "checkpoint blob: %d parameters, the model has %d", (int)m, (int)n);
  }
  PetscCall(Vector(c, ck->xi));
  Int(c, &rng);
  PetscCheck(rng == (PetscInt)ck->rng_size, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "checkpoint blob: generator state of %d bytes, expected %d", (int)rng, (int)ck->rng_size);
  Bytes(c, ck->rng, ck->rng_size);
  Int(c, &nadapt);
  PetscCheck(nadapt == ck->nadapt, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "checkpoint blob: %d adaptation values, the kernel has %d (another kernel?)", (int)nadapt, (int)ck->nadapt);
  for (PetscInt i = 0; i < ck->nadapt; i++) Real(c, &ck->adapt[i]);
  Int(c, count);
  PetscCall(Vector(c, xisum));
  PetscFunctionReturn(0);
}

PetscErrorCode McRunBlobSize(McCheckpoint *ck, Vec xisum, size_t *size)
{
  Cursor    c = {NULL, 0, 0, 1};
  McRunBlob b = {0, 0, 0, 0};
  PetscInt  count = 0;

  PetscFunctionBeginUser;
  PetscCall(Walk(&c, &b, ck, xisum, &count));
  *size = c.off;
  PetscFunctionReturn(0);
}

PetscErrorCode McRunBlobPack(const McRunBlob *b, McCheckpoint *ck, Vec xisum, PetscInt count, void *buf, size_t size)
{
  Cursor    c = {buf, 0, size, 1};
  McRunBlob bb = *b;

  PetscFunctionBeginUser;
  PetscCall(Walk(&c, &bb, ck, xisum, &count));
  PetscCheck(c.off == size, PETSC_COMM_SELF, PETSC_ERR_PLIB, "checkpoint blob is %zu bytes, expected %zu", c.off, size);
  PetscFunctionReturn(0);
}

PetscErrorCode McRunBlobUnpack(const void *buf, size_t size, McRunBlob *b, McCheckpoint *ck, Vec xisum, PetscInt *count)
{
  Cursor c = {(char *)buf, 0, size, 0};

  PetscFunctionBeginUser;
  PetscCall(Walk(&c, b, ck, xisum, count));
  PetscCheck(c.off == size, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "checkpoint blob of chain %d is %zu bytes, this run's layout needs %zu (another model or kernel?)", (int)ck->chain, size, c.off);
  PetscFunctionReturn(0);
}
