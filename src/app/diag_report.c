/* mcmc-diag: the statistics of each quantity (src/diag/), the per-chain
 * sampler statistics, the field summary from the running means and
 * standard deviations, the memory trace; printed as a stansummary-like
 * table or as JSON. */
#include "app/diag_impl.h"

#include <math.h>
#include <string.h>

#define MC_DIAG_RHAT_MAX      1.01
#define MC_DIAG_ESS_PER_CHAIN 100

typedef struct {
  PetscInt  nodes, samples; /* samples: total over chains */
  PetscReal mean_std;       /* node average of the pooled posterior std */
  PetscReal mean_min, mean_max;
  PetscReal rmse, rel_error, coverage2; /* against the truth; NaN without one */
  PetscReal rhat_max;                   /* node R-hat from the chains' means and stds; NaN with < 2 chains */
  PetscInt  rhat_over;                  /* nodes with R-hat > 1.01 */
} FieldSummary;

/* Pools the chains' Welford summaries per node and compares with the truth.
 * The node R-hat is the basic (not split, not ranked) one: the file holds
 * only each chain's mean and std of the field. */
static void SummarizeFields(const McDiagFields *F, FieldSummary *fs)
{
  PetscReal se = 0, st = 0, cover = 0, sstd = 0;
  PetscInt  n = 0, used = 0, nrhat = 0;

  *fs = (FieldSummary){F->nv, 0, NAN, INFINITY, -INFINITY, NAN, NAN, NAN, NAN, 0};
  fs->rhat_max = NAN;
  for (PetscInt c = 0; c < F->C; c++)
    if (F->count[c] >= 2) n += F->count[c], used++;
  fs->samples = n;
  if (n < 2) return;
  for (PetscInt v = 0; v < F->nv; v++) {
    PetscReal m = 0, m2 = 0, W = 0, bm = 0, bv = 0, sd;
    for (PetscInt c = 0; c < F->C; c++)
      if (F->count[c] >= 2) m += F->count[c] * F->mean[c * F->nv + v];
    m /= n;
    for (PetscInt c = 0; c < F->C; c++) {
      PetscReal nc = (PetscReal)F->count[c], mc = F->mean[c * F->nv + v], sc = F->std[c * F->nv + v];
      if (nc < 2) continue;
      m2 += (nc - 1) * sc * sc + nc * (mc - m) * (mc - m);
      W += sc * sc;
      bm += mc;
    }
    sd = PetscSqrtReal(m2 / (n - 1));
    sstd += sd;
    fs->mean_min = PetscMin(fs->mean_min, m);
    fs->mean_max = PetscMax(fs->mean_max, m);
    if (F->truth) {
      PetscReal e = m - F->truth[v];
      se += e * e;
      st += F->truth[v] * F->truth[v];
      cover += PetscAbsReal(e) <= 2 * sd;
    }
    if (used >= 2 && W > 0) {
      PetscReal nbar = (PetscReal)n / used, r;
      W /= used;
      bm /= used;
      for (PetscInt c = 0; c < F->C; c++)
        if (F->count[c] >= 2) bv += (F->mean[c * F->nv + v] - bm) * (F->mean[c * F->nv + v] - bm);
      bv /= used - 1;
      r = PetscSqrtReal(((nbar - 1) / nbar * W + bv) / W);
      fs->rhat_max = nrhat ? PetscMax(fs->rhat_max, r) : r;
      fs->rhat_over += r > MC_DIAG_RHAT_MAX;
      nrhat++;
    }
  }
  fs->mean_std = sstd / F->nv;
  if (F->truth) {
    fs->rmse = PetscSqrtReal(se / F->nv);
    fs->rel_error = st > 0 ? PetscSqrtReal(se / st) : NAN;
    fs->coverage2 = cover / F->nv;
  }
}

static void Warning(const McDiagData *d, const McDiagSummary *s, char *w, size_t n)
{
  PetscBool r = !(s->rhat <= MC_DIAG_RHAT_MAX),
            e = !(PetscMin(s->ess_bulk, s->ess_tail) >= MC_DIAG_ESS_PER_CHAIN * d->C);
  snprintf(w, n, "%s%s%s", r ? "R_hat" : "", r && e ? "," : "", e ? "ESS" : "");
}

static void JsonString(FILE *o, const char *s)
{
  fputc('"', o);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(o, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(o, "\\u%04x", ch);
    else
      fputc(ch, o);
  }
  fputc('"', o);
}

/* JSON has no NaN or infinity: they become null. */
static void JsonNum(FILE *o, const char *key, PetscReal x, const char *sep)
{
  if (isfinite(x))
    fprintf(o, "\"%s\": %.17g%s", key, (double)x, sep);
  else
    fprintf(o, "\"%s\": null%s", key, sep);
}

/* The memory trace's extremes: RSS max, live objects min and max. */
static void MemoryRange(const McDiagMemory *M, PetscInt64 *rmax, PetscInt64 *omin, PetscInt64 *omax)
{
  *rmax = M->rss[0], *omin = M->live_objects[0], *omax = M->live_objects[0];
  for (PetscInt r = 0; r < M->rows; r++) {
    *rmax = PetscMax(*rmax, M->rss[r]);
    *omin = PetscMin(*omin, M->live_objects[r]);
    *omax = PetscMax(*omax, M->live_objects[r]);
  }
}

static void JsonMemory(FILE *o, const McDiagMemory *M)
{
  PetscInt64 rmax, omin, omax;

  if (!M->rows) {
    fprintf(o, "null");
    return;
  }
  MemoryRange(M, &rmax, &omin, &omax);
  fprintf(o,
          "{\"rows\": %d, \"first_iteration\": %lld, \"last_iteration\": %lld, \"rss_first\": %lld, \"rss_max\": "
          "%lld, \"rss_last\": %lld, ",
          (int)M->rows, (long long)M->iteration[0], (long long)M->iteration[M->rows - 1], (long long)M->rss[0],
          (long long)rmax, (long long)M->rss[M->rows - 1]);
  fprintf(o,
          "\"live_objects_first\": %lld, \"live_objects_min\": %lld, \"live_objects_max\": %lld, \"live_objects_last\": "
          "%lld, \"live_bytes_first\": %lld, \"live_bytes_last\": %lld, \"collections\": %lld}",
          (long long)M->live_objects[0], (long long)omin, (long long)omax, (long long)M->live_objects[M->rows - 1],
          (long long)M->live_bytes[0], (long long)M->live_bytes[M->rows - 1], (long long)M->collections[M->rows - 1]);
}

/* "files": every file read, its chains and its memory trace (one file: the
 * top-level file, chains and memory again). */
static void JsonFiles(FILE *o, const McDiagData *d)
{
  const McDiagFile  one = {d->path, d->swmr, d->C, 0, d->file_draws, d->memory};
  const McDiagFile *files = d->nfiles ? d->files : &one;

  fprintf(o, "  \"files\": [");
  for (PetscInt k = 0; k < PetscMax(d->nfiles, 1); k++) {
    const McDiagFile *f = &files[k];
    fprintf(o, "%s\n    {\"file\": ", k ? "," : "");
    JsonString(o, f->path);
    fprintf(o, ", \"swmr\": %s, \"chains\": %d, \"first_chain\": %d, \"draws_in_file\": %d, \"memory\": ",
            f->swmr ? "true" : "false", (int)f->C, (int)f->chain0, (int)f->file_draws);
    JsonMemory(o, &f->memory);
    fprintf(o, "}");
  }
  fprintf(o, "\n  ],\n");
}

static void PrintJson(FILE *o, const McDiagData *d, const FieldSummary *fs)
{
  fprintf(o, "{\n  \"file\": ");
  if (d->path)
    JsonString(o, d->path);
  else
    fprintf(o, "null");
  fprintf(o, ",\n");
  JsonFiles(o, d);
  fprintf(o, "  \"swmr\": %s,\n  \"chains\": %d,\n  \"draws_in_file\": %d,\n  \"draws_per_chain\": [",
          d->swmr ? "true" : "false", (int)d->C, (int)d->file_draws);
  for (PetscInt c = 0; c < d->C; c++)
    fprintf(o, "%s%d", c ? ", " : "", (int)d->chains[c].draws);
  fprintf(o, "],\n  \"burn\": %d,\n  \"draws_used\": %d,\n  ", (int)d->burn, (int)d->N);
  JsonNum(o, "seconds", d->seconds, ",\n");
  fprintf(o, "  \"thresholds\": {\"rhat\": %g, \"ess\": %d},\n  \"variables\": [", MC_DIAG_RHAT_MAX,
          (int)(MC_DIAG_ESS_PER_CHAIN * d->C));
  for (PetscInt i = 0; i < d->nvars; i++) {
    const McDiagSummary *s = &d->vars[i].s;
    char                 w[32];
    Warning(d, s, w, sizeof w);
    fprintf(o, "%s\n    {\"name\": ", i ? "," : "");
    JsonString(o, d->vars[i].name);
    fprintf(o, ", ");
    JsonNum(o, "mean", s->mean, ", ");
    JsonNum(o, "mcse_mean", s->mcse_mean, ", ");
    JsonNum(o, "sd", s->sd, ", ");
    JsonNum(o, "q5", s->q05, ", ");
    JsonNum(o, "q50", s->q50, ", ");
    JsonNum(o, "q95", s->q95, ", ");
    JsonNum(o, "ess_bulk", s->ess_bulk, ", ");
    JsonNum(o, "ess_tail", s->ess_tail, ", ");
    JsonNum(o, "ess_mean", s->ess_mean, ", ");
    JsonNum(o, "ess_bulk_per_second", s->ess_bulk / d->seconds, ", ");
    JsonNum(o, "rhat", s->rhat, ", ");
    JsonNum(o, "iat", s->iat, ", ");
    fprintf(o, "\"warning\": \"%s\"}", w);
  }
  fprintf(o, "\n  ],\n  \"chain_stats\": [");
  for (PetscInt c = 0; c < d->C; c++) {
    const McDiagChain *ch = &d->chains[c];
    fprintf(o, "%s\n    {\"chain\": %d, \"draws\": %d, ", c ? "," : "", (int)c, (int)ch->draws);
    JsonNum(o, "accepted", ch->accepted, ", ");
    JsonNum(o, "acceptance_rate", ch->accept_prob, ", ");
    JsonNum(o, "step_size", ch->step_size, ", ");
    JsonNum(o, "seconds", ch->seconds, ", ");
    if (ch->failed >= 0)
      fprintf(o, "\"failed\": %d}", (int)ch->failed);
    else
      fprintf(o, "\"failed\": null}");
  }
  fprintf(o, "\n  ],\n  \"fields\": ");
  if (!d->fields.present)
    fprintf(o, "null");
  else {
    fprintf(o, "{\"name\": ");
    JsonString(o, d->fields.name);
    fprintf(o, ", \"nodes\": %d, \"samples\": %d, \"count_per_chain\": [", (int)fs->nodes, (int)fs->samples);
    for (PetscInt c = 0; c < d->fields.C; c++)
      fprintf(o, "%s%lld", c ? ", " : "", (long long)d->fields.count[c]);
    fprintf(o, "], ");
    JsonNum(o, "mean_std", fs->mean_std, ", ");
    JsonNum(o, "mean_min", fs->mean_min, ", ");
    JsonNum(o, "mean_max", fs->mean_max, ", ");
    JsonNum(o, "rmse_vs_truth", fs->rmse, ", ");
    JsonNum(o, "rel_error_vs_truth", fs->rel_error, ", ");
    JsonNum(o, "coverage_2sd", fs->coverage2, ", ");
    JsonNum(o, "node_rhat_max", fs->rhat_max, ", ");
    fprintf(o, "\"node_rhat_over\": %d}", (int)fs->rhat_over);
  }
  fprintf(o, ",\n  \"memory\": ");
  JsonMemory(o, &d->memory);
  fprintf(o, "\n}\n");
}

static void Num(FILE *o, PetscReal x, int w)
{
  if (isfinite(x))
    fprintf(o, " %*.4g", w, (double)x);
  else
    fprintf(o, " %*s", w, isnan(x) ? "nan" : x > 0 ? "inf" : "-inf");
}

static void PrintMemory(FILE *o, const McDiagMemory *M, const char *file)
{
  PetscInt64 rmax, omin, omax;

  if (!M->rows) return;
  MemoryRange(M, &rmax, &omin, &omax);
  fprintf(o, "\nMemory trace%s%s: %d rows, iterations %lld..%lld\n", file ? " of " : "", file ? file : "", (int)M->rows,
          (long long)M->iteration[0], (long long)M->iteration[M->rows - 1]);
  fprintf(o, "  RSS first %.1f MiB, max %.1f MiB, last %.1f MiB\n", M->rss[0] / 1048576.0, rmax / 1048576.0,
          M->rss[M->rows - 1] / 1048576.0);
  fprintf(o,
          "  live objects first %lld, min %lld, max %lld, last %lld; live bytes first %lld, last %lld; collections "
          "%lld\n",
          (long long)M->live_objects[0], (long long)omin, (long long)omax, (long long)M->live_objects[M->rows - 1],
          (long long)M->live_bytes[0], (long long)M->live_bytes[M->rows - 1], (long long)M->collections[M->rows - 1]);
}

static void PrintTable(FILE *o, const McDiagData *d, const FieldSummary *fs)
{
  int                 w = 8;
  PetscBool           timed = isfinite(d->seconds) && d->seconds > 0 ? PETSC_TRUE : PETSC_FALSE;

  if (d->path)
    fprintf(o, "Inference for %s\n", d->path);
  else {
    fprintf(o, "Inference for %d files, their chains combined:\n", (int)d->nfiles);
    for (PetscInt k = 0; k < d->nfiles; k++)
      fprintf(o, "  %s: chains %d..%d\n", d->files[k].path, (int)d->files[k].chain0,
              (int)(d->files[k].chain0 + d->files[k].C - 1));
  }
  fprintf(o, "%d chains; draws flushed per chain:", (int)d->C);
  for (PetscInt c = 0; c < d->C; c++)
    fprintf(o, " %d", (int)d->chains[c].draws);
  fprintf(o, "\nburn %d; used draws %d..%d of every chain: %d per chain, %d in total\n\n", (int)d->burn, (int)d->burn,
          (int)(d->burn + d->N - 1), (int)d->N, (int)(d->N * d->C));
  for (PetscInt i = 0; i < d->nvars; i++)
    w = PetscMax(w, (int)strlen(d->vars[i].name));
  fprintf(o, "%-*s %10s %10s %10s %10s %10s %10s %9s %9s", w, "", "Mean", "MCSE", "StdDev", "5%", "50%", "95%",
          "ESS_bulk", "ESS_tail");
  if (timed) fprintf(o, " %9s", "ESS/s");
  fprintf(o, " %7s %9s  %s\n", "R_hat", "IAT", "Warning");
  for (PetscInt i = 0; i < d->nvars; i++) {
    const McDiagSummary *s = &d->vars[i].s;
    char                 wn[32];
    Warning(d, s, wn, sizeof wn);
    fprintf(o, "%-*s", w, d->vars[i].name);
    Num(o, s->mean, 10);
    Num(o, s->mcse_mean, 10);
    Num(o, s->sd, 10);
    Num(o, s->q05, 10);
    Num(o, s->q50, 10);
    Num(o, s->q95, 10);
    fprintf(o, " %9.0f %9.0f", (double)s->ess_bulk, (double)s->ess_tail);
    if (timed) Num(o, s->ess_bulk / d->seconds, 9);
    fprintf(o, " %7.4f %9.2f  %s\n", (double)s->rhat, (double)s->iat, wn);
  }
  fprintf(o,
          "\nESS: rank-normalised split-chain bulk and tail (5%%/95%% quantile) effective sample sizes;\n"
          "R_hat: max of rank-normalised split R-hat and its folded version (Vehtari et al. 2021);\n"
          "IAT: integrated autocorrelation time (draws per independent draw); MCSE of the mean.\n"
          "Warning: R_hat > %.2f or ESS < %d (100 per chain) - not converged or too few effective draws.\n",
          MC_DIAG_RHAT_MAX, (int)(MC_DIAG_ESS_PER_CHAIN * d->C));
  if (timed)
    fprintf(o,
            "ESS/s: ESS_bulk per second of the sampling loop up to the last used draw (%.4g s, the slowest chain;\n"
            "burn-in and the draws before --burn included; resumed runs: the seconds of every part).\n",
            (double)d->seconds);

  fprintf(o, "\n%5s %8s %9s %10s %10s %7s", "chain", "draws", "accepted", "acc_prob", "step_size", "failed");
  if (timed) fprintf(o, " %10s", "seconds");
  fputc('\n', o);
  for (PetscInt c = 0; c < d->C; c++) {
    const McDiagChain *ch = &d->chains[c];
    fprintf(o, "%5d %8d", (int)c, (int)ch->draws);
    Num(o, ch->accepted, 9);
    Num(o, ch->accept_prob, 10);
    Num(o, ch->step_size, 10);
    if (ch->failed >= 0)
      fprintf(o, " %7d", (int)ch->failed);
    else
      fprintf(o, " %7s", "-");
    if (timed) Num(o, ch->seconds, 10);
    fputc('\n', o);
  }
  fprintf(o, "(accepted, acc_prob and failed over the draws after --burn%s)\n",
          timed ? "; seconds: the sampling loop's, at the last used draw" : "");

  if (d->fields.present) {
    fprintf(o, "\nField '%s' (running mean/std of all draws, --burn does not apply): %d nodes, %d samples\n",
            d->fields.name, (int)fs->nodes, (int)fs->samples);
    fprintf(o, "  posterior mean in [%.4g, %.4g], average posterior std %.4g\n", (double)fs->mean_min,
            (double)fs->mean_max, (double)fs->mean_std);
    if (d->fields.truth)
      fprintf(o, "  vs truth: RMSE %.4g, relative L2 error %.4g, nodes within 2 std %.1f%%\n", (double)fs->rmse,
              (double)fs->rel_error, 100 * (double)fs->coverage2);
    if (!isnan(fs->rhat_max))
      fprintf(o, "  node R-hat (basic, from chain means/stds): max %.4f, %d nodes > %.2f\n", (double)fs->rhat_max,
              (int)fs->rhat_over, MC_DIAG_RHAT_MAX);
  }
  PrintMemory(o, &d->memory, NULL);
  for (PetscInt k = 0; k < d->nfiles; k++) PrintMemory(o, &d->files[k].memory, d->files[k].path);
}

/* Several files: the used draws are the shortest chain's of all of them;
 * each file is read with that many, their chains combined, and their
 * quantities summarised from blocks read of all files at once. */
static PetscErrorCode ReadFiles(const McDiagOptions *opt, McDiagData *d)
{
  McDiagOptions one = *opt;
  McDiagData   *parts;
  PetscInt      shortest = PETSC_MAX_INT, n = opt->nfiles;
  PetscErrorCode ierr = 0;

  PetscFunctionBeginUser;
  for (PetscInt k = 0; k < n; k++) {
    PetscInt s;
    one.file = opt->files[k];
    PetscCall(McDiagDataShortest_Private(&one, &s));
    shortest = PetscMin(shortest, s);
  }
  PetscCheck(shortest - opt->burn >= 4, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "the shortest chain of the %d files has %d draws; after --burn %d that leaves %d, and the diagnostics need "
             "at least 4",
             (int)n, (int)shortest, (int)opt->burn, (int)(shortest - opt->burn));
  PetscCall(PetscCalloc1(n, &parts));
  for (PetscInt k = 0; k < n && !ierr; k++) {
    one.file = opt->files[k];
    ierr = McDiagDataRead_Private(&one, shortest - (PetscInt)opt->burn, &parts[k]);
    if (ierr) n = k; /* parts[k] was released by the failed read */
  }
  if (!ierr) {
    ierr = McDiagDataMerge_Private(n, parts, d);
    if (!ierr) ierr = McDiagDataReadDraws_Private(opt, n, parts, d->vars);
    if (ierr) PetscCall(McDiagDataFree_Private(d));
  }
  for (PetscInt k = 0; k < n; k++) PetscCall(McDiagDataFree_Private(&parts[k]));
  PetscCall(PetscFree(parts));
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

int McDiagReportRun(const McDiagOptions *opt, FILE *out)
{
  McDiagData   d;
  FieldSummary fs = {0};

  PetscFunctionBeginUser;
  if (opt->nfiles > 1) {
    PetscCall(ReadFiles(opt, &d));
  } else {
    PetscErrorCode ierr;
    PetscCall(McDiagDataRead_Private(opt, PETSC_MAX_INT, &d));
    ierr = McDiagDataReadDraws_Private(opt, 1, &d, d.vars);
    if (ierr) PetscCall(McDiagDataFree_Private(&d));
    PetscCall(ierr);
  }
  if (d.fields.present) SummarizeFields(&d.fields, &fs);
  if (opt->json)
    PrintJson(out, &d, &fs);
  else
    PrintTable(out, &d, &fs);
  PetscCall(McDiagDataFree_Private(&d));
  PetscFunctionReturn(0);
}
