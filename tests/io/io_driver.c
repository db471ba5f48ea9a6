/* Test driver for the sink: a toy deterministic "sampler" (a random walk per
 * chain driven by xorshift64*) streams its draws through McOutput. The
 * Python checks (check_output.py) recompute every value from the same
 * recurrence, so they can demand exact equality.
 *
 * Options: -draws N (total, default 37) -chains C (2) -params P (3)
 *   -block B (8) -thin T (3) -nv NV (5) -memory_block MB (4)
 *   -ckpt_every K (0 = never) -pause_ms MS (sleep after each block)
 *   -resume (continue from the file's checkpoint) -force (overwrite)
 *   -fsize_limit BYTES (RLIMIT_FSIZE, SIGXFSZ ignored: disk-full test)
 *   -hash H (model hash, default "toy-model-1") -file PATH
 *   -first_chain F (chain c draws the stream of chain F + c: a second file
 *   of the same toy model with other chains)
 * Exit: 0 done, 2 error (PETSc's message on stderr). */
#include "io/io.h"
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MAXP 16

typedef struct {
  uint64_t rng;
  int64_t  draw;
  double   x[MAXP];
} ToyChain;

static uint64_t ToyNext(uint64_t *s)
{
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 2685821657736338717ULL;
}

static double ToyUniform(uint64_t *s)
{
  return (double)(ToyNext(s) >> 11) * 0x1.0p-53;
}

/* One step of chain ch: its draw d = ch->draw, then advance. */
static void ToyStep(ToyChain *ch, PetscInt P, PetscInt nv, McOutputDraw *d, double *qoi, double *field)
{
  double lp = 0, u;
  for (PetscInt p = 0; p < P; p++) {
    ch->x[p] += 0.5 * (ToyUniform(&ch->rng) - 0.5);
    lp += ch->x[p] * ch->x[p];
  }
  u                  = ToyUniform(&ch->rng);
  d->theta           = ch->x;
  d->lp              = -0.5 * lp;
  d->acceptance_rate = u;
  d->accepted        = (PetscBool)(u < 0.7);
  d->failed          = (PetscBool)(ch->draw % 7 == 3);
  d->step_size       = 0.5;
  d->seconds         = 1e-3 * (double)ch->draw; /* deterministic, so a resumed file equals an uninterrupted one */
  qoi[0]             = ch->x[0] * ch->x[0];
  qoi[1]             = 2.0 * d->lp;
  d->qoi             = qoi;
  for (PetscInt i = 0; i < nv; i++) field[i] = ch->x[i % P] + 0.25 * (double)i;
  d->field = nv ? field : NULL;
  ch->draw++;
}

static PetscErrorCode Loop(McOutput out, ToyChain *chains, PetscInt C, PetscInt P, PetscInt nv, PetscInt64 start, PetscInt64 draws, PetscInt B, PetscInt ckpt_every, PetscInt pause_ms)
{
  double          qoi[2], field[64];
  McOutputDraw    d;
  const void     *blobs[16];
  size_t          sizes[16];
  struct timespec ts = {pause_ms / 1000, (long)(pause_ms % 1000) * 1000000L};

  PetscFunctionBeginUser;
  for (PetscInt c = 0; c < C; c++) {
    blobs[c] = &chains[c];
    sizes[c] = sizeof chains[c];
  }
  for (PetscInt64 k = start; k < draws; k++) {
    for (PetscInt c = 0; c < C; c++) {
      ToyStep(&chains[c], P, nv, &d, qoi, field);
      PetscCall(McOutputAppendDraw(out, c, &d));
    }
    if (k % 4 == 0) {
      McOutputMemoryRow row = {k, (1 << 20) + k, 42, 4096, k / 8};
      PetscCall(McOutputAppendMemory(out, &row));
    }
    if (ckpt_every && (k + 1) % ckpt_every == 0) PetscCall(McOutputWriteCheckpoint(out, blobs, sizes));
    if (pause_ms && (k + 1) % B == 0) nanosleep(&ts, NULL);
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode Run(void)
{
  char          file[PETSC_MAX_PATH_LEN] = "toy.h5", hash[64] = "toy-model-1";
  PetscInt      draws = 37, C = 2, P = 3, B = 8, T = 3, nv = 5, MB = 4, ckpt_every = 0, pause_ms = 0, fsize = 0, first = 0;
  PetscBool     resume = PETSC_FALSE, force = PETSC_FALSE;
  McOutputSpec  spec;
  McOutput      out;
  ToyChain      chains[16];
  const char   *qnames[2] = {"sigma", "energy"};
  char          pnames[MAXP][16];
  const char   *plabels[MAXP];
  double        y[4], sensors[8], truth[64];
  PetscInt64    start = 0;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsGetString(NULL, NULL, "-file", file, sizeof file, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-hash", hash, sizeof hash, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-draws", &draws, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-chains", &C, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-first_chain", &first, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-params", &P, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-block", &B, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-thin", &T, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nv", &nv, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-memory_block", &MB, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-ckpt_every", &ckpt_every, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-pause_ms", &pause_ms, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-fsize_limit", &fsize, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-resume", &resume, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-force", &force, NULL));
  PetscCheck(C >= 1 && C <= 16 && P >= 1 && P <= MAXP && nv >= 0 && nv <= 64, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "toy sizes out of range");
  if (fsize > 0) {
    struct rlimit rl = {(rlim_t)fsize, (rlim_t)fsize};
    /* Without this the kernel kills the process at the limit; ignored, the
     * write fails with EFBIG, as on a full disk. */
    signal(SIGXFSZ, SIG_IGN);
    PetscCheck(setrlimit(RLIMIT_FSIZE, &rl) == 0, PETSC_COMM_SELF, PETSC_ERR_SYS, "setrlimit failed");
  }

  for (PetscInt p = 0; p < P; p++) {
    PetscCall(PetscSNPrintf(pnames[p], sizeof pnames[p], "xi_%" PetscInt_FMT, p));
    plabels[p] = pnames[p];
  }
  for (int i = 0; i < 4; i++) {
    y[i]              = 0.5 * i - 1;
    sensors[2 * i]     = 0.25 * i;
    sensors[2 * i + 1] = 1 - 0.25 * i;
  }
  for (PetscInt i = 0; i < nv; i++) truth[i] = 0.25 * (double)i;
  PetscCall(McOutputSpecInit(&spec));
  spec.nchains         = C;
  spec.nparams         = P;
  spec.param_names     = plabels;
  spec.nqoi            = 2;
  spec.qoi_names       = qnames;
  spec.field_size      = nv;
  spec.field_thin      = T;
  spec.field_truth     = truth;
  spec.block_size      = B;
  spec.memory_block    = MB;
  spec.nobs            = 4;
  spec.y               = y;
  spec.sensor_dim      = 2;
  spec.sensor_coords   = sensors;
  spec.noise_sigma     = 0.125;
  spec.program_version = "0.1.0-test";
  spec.config_text     = "[model]\nname = \"toy\"\n";
  spec.created_at      = "2024-01-02T03:04:05Z";
  spec.model_hash      = hash;
  spec.overwrite       = force;

  for (PetscInt c = 0; c < C; c++) {
    PetscCall(PetscMemzero(&chains[c], sizeof chains[c]));
    chains[c].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(first + c + 1);
  }
  if (resume) {
    PetscCall(McOutputOpenResume(file, &spec, &out));
    for (PetscInt c = 0; c < C; c++) {
      const void *blob;
      size_t      size;
      PetscCall(McOutputReadCheckpoint(out, c, &blob, &size, &start));
      PetscCheck(size == sizeof chains[c], PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "checkpoint blob of chain %" PetscInt_FMT " has %zu bytes, expected %zu", c, size, sizeof chains[c]);
      memcpy(&chains[c], blob, size);
      PetscCheck(chains[c].draw == start, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "blob draw %lld != checkpoint draws %lld", (long long)chains[c].draw, (long long)start);
    }
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "resumed at draw %lld\n", (long long)start));
  } else PetscCall(McOutputCreate(file, &spec, &out));
  ierr = Loop(out, chains, C, P, nv, start, draws, B, ckpt_every, pause_ms);
  /* After a write error Close only releases; the error is the loop's. */
  PetscCall(McOutputClose(&out));
  PetscCall(ierr);
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "wrote %" PetscInt_FMT " draws\n", draws));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  ierr = Run();
  PetscCall(PetscFinalize());
  return ierr ? 2 : 0;
}
