/* mcmc-diag: reads an output file (../shared/OUTPUT.md layout) defensively.
 * A file may still be written (SWMR): it is opened as a SWMR reader and
 * every dataset is refreshed before its extent is read; variables may then
 * differ in length, the draw coordinate (written last) may lag, and draws
 * not yet written read as NaN (the fill value). So the draws a chain has are
 * those before its trailing NaNs, within the shortest extent, and every
 * chain is cut to the shortest chain: R-hat and ESS compare chains of equal
 * length. */
#include "app/diag_impl.h"

#include <hdf5_hl.h>
#include <math.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#define MC_DIAG_MAXVARS 1024
/* Draws of several parameters are read together, up to --memory bytes or
 * by default a quarter of the machine's memory but at least this: a chunk
 * holds every parameter of a block of draws, so each read pass reads the
 * whole dataset, and a file of F bytes costs F / budget passes. */
#define MC_DIAG_READ_BYTES_MIN ((size_t)256 << 20)
#define MC_DIAG_READ_ATTEMPTS 8 /* metadata read attempts of the SWMR reader (HDF5 default: 100) */

/* Every HDF5 call goes through this: a negative result is an error that
 * names the file and the object. */
#define MC_H5READ(call, ...)                                                                                           \
  do {                                                                                                                 \
    if ((call) < 0) SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_READ, __VA_ARGS__);                                        \
  } while (0)

typedef struct {
  char    *names[MC_DIAG_MAXVARS];
  PetscInt n;
} NameList;

static herr_t CollectName(hid_t g, const char *name, const H5L_info_t *info, void *ctx)
{
  NameList *l = (NameList *)ctx;
  (void)g;
  (void)info;
  if (l->n >= MC_DIAG_MAXVARS) return 1;
  l->names[l->n] = McMallocHook(strlen(name) + 1); /* out of memory: -1 stops the iteration */
  if (!l->names[l->n]) return -1;
  memcpy(l->names[l->n++], name, strlen(name) + 1);
  return 0;
}

static void FreeNames(NameList *l)
{
  for (PetscInt i = 0; i < l->n; i++)
    McFreeHook(l->names[i]);
  l->n = 0;
}

/* Members of a group in creation order (the order the writer chose), or by
 * name when the file does not track it. */
static PetscErrorCode ListGroup(const char *path, hid_t g, const char *gname, NameList *l)
{
  PetscFunctionBeginUser;
  l->n = 0;
  if (H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, CollectName, l) < 0) {
    FreeNames(l);
    MC_H5READ(H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, CollectName, l), "%s: cannot list group /%s", path,
              gname);
  }
  PetscFunctionReturn(0);
}

static PetscBool Exists(hid_t loc, const char *name)
{
  /* H5Lexists on "a/b" fails when "a" is missing: test each level. */
  char   buf[256], *p;
  htri_t ok = 1;

  if (strlen(name) >= sizeof buf) return PETSC_FALSE;
  strcpy(buf, name);
  for (p = strchr(buf, '/'); ok > 0 && p; p = strchr(p + 1, '/')) {
    *p = 0;
    ok = H5Lexists(loc, buf, H5P_DEFAULT);
    *p = '/';
  }
  if (ok > 0) ok = H5Lexists(loc, buf, H5P_DEFAULT);
  return ok > 0 ? PETSC_TRUE : PETSC_FALSE;
}

/* Opens a dataset (refreshed when the file is being written) and returns
 * its rank and dimensions; on failure nothing is left open. */
static PetscErrorCode OpenDataset(McDiagData *d, hid_t f, const char *name, hid_t *ds, int *rank, hsize_t dims[3])
{
  hid_t       id, sp = H5I_INVALID_HID;
  const char *failed = NULL;

  PetscFunctionBeginUser;
  MC_H5READ(id = H5Dopen2(f, name, H5P_DEFAULT), "%s: cannot open dataset /%s", d->path, name);
  if (d->swmr && H5Drefresh(id) < 0)
    failed = "refresh dataset";
  else if ((sp = H5Dget_space(id)) < 0)
    failed = "read the shape of";
  else {
    *rank = H5Sget_simple_extent_ndims(sp);
    if (*rank > 3)
      *rank = 4; /* reported as "unexpected rank" by the callers */
    else if (H5Sget_simple_extent_dims(sp, dims, NULL) < 0)
      failed = "read the shape of";
  }
  if (sp >= 0) H5Sclose(sp);
  if (failed) H5Dclose(id);
  PetscCheck(!failed, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: cannot %s /%s", d->path, failed, name);
  *ds = id;
  PetscFunctionReturn(0);
}

/* Reads [0:C, d0:d0+nd, p0:p0+np] (np ignored for rank 2) as doubles into
 * buf laid out [C][nd][np]. */
static PetscErrorCode ReadSlab(McDiagData *d, hid_t ds, const char *name, int rank, hsize_t C, hsize_t d0, hsize_t nd,
                               hsize_t p0, hsize_t np, void *buf)
{
  hsize_t start[3] = {0, d0, p0}, count[3] = {C, nd, np};
  hid_t   fs, ms;
  herr_t  rc;

  PetscFunctionBeginUser;
  if (rank == 2) np = 1;
  if (C * nd * np == 0) PetscFunctionReturn(0);
  MC_H5READ(fs = H5Dget_space(ds), "%s: cannot read the shape of /%s", d->path, name);
  MC_H5READ(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL), "%s: cannot select draws of /%s",
            d->path, name);
  MC_H5READ(ms = H5Screate_simple(rank, count, NULL), "%s: cannot read /%s", d->path, name);
  rc = H5Dread(ds, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, buf);
  H5Sclose(ms);
  H5Sclose(fs);
  MC_H5READ(rc, "%s: cannot read draws %llu..%llu of /%s", d->path, (unsigned long long)d0,
            (unsigned long long)(d0 + nd), name);
  PetscFunctionReturn(0);
}

/* A whole 1-D or 2-D dataset of known size. */
static PetscErrorCode ReadAll(McDiagData *d, hid_t f, const char *name, hid_t memtype, hsize_t n, void *buf)
{
  hid_t   ds;
  int     rank;
  hsize_t dims[3], total = 1;
  herr_t  rc;

  PetscFunctionBeginUser;
  PetscCall(OpenDataset(d, f, name, &ds, &rank, dims));
  for (int i = 0; i < rank && i < 3; i++)
    total *= dims[i];
  if (total != n) H5Dclose(ds);
  PetscCheck(total == n, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: /%s has %llu values, expected %llu", d->path,
             name, (unsigned long long)total, (unsigned long long)n);
  rc = H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  H5Dclose(ds);
  MC_H5READ(rc, "%s: cannot read /%s", d->path, name);
  PetscFunctionReturn(0);
}

/* Parameter labels from posterior/param (variable- or fixed-length
 * strings); NULL entries when there are none. */
static PetscErrorCode ReadLabels(McDiagData *d, hid_t f, hsize_t P, char **labels)
{
  hid_t   ds, ft, mt, sp;
  int     rank;
  hsize_t dims[3];
  herr_t  rc;

  PetscFunctionBeginUser;
  for (hsize_t i = 0; i < P; i++)
    labels[i] = NULL;
  if (!Exists(f, "posterior/param")) PetscFunctionReturn(0);
  PetscCall(OpenDataset(d, f, "posterior/param", &ds, &rank, dims));
  if (rank != 1 || dims[0] != P) {
    H5Dclose(ds);
    PetscFunctionReturn(0);
  }
  MC_H5READ(ft = H5Dget_type(ds), "%s: cannot read the type of /posterior/param", d->path);
  if (H5Tget_class(ft) != H5T_STRING) {
    H5Tclose(ft);
    H5Dclose(ds);
    PetscFunctionReturn(0);
  }
  mt = H5Tcopy(H5T_C_S1);
  H5Tset_cset(mt, H5Tget_cset(ft)); /* HDF5 converts no character sets */
  if (H5Tis_variable_str(ft) > 0) {
    char **v;
    PetscCall(PetscCalloc1(P, &v));
    H5Tset_size(mt, H5T_VARIABLE);
    rc = H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    if (rc >= 0) {
      for (hsize_t i = 0; i < P; i++)
        PetscCall(PetscStrallocpy(v[i] ? v[i] : "", &labels[i]));
      sp = H5Dget_space(ds);
      H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
      H5Sclose(sp);
    }
    PetscCall(PetscFree(v));
  } else {
    size_t len = H5Tget_size(ft) + 1;
    char  *buf;
    PetscCall(PetscCalloc1(len * P, &buf));
    H5Tset_size(mt, len);
    rc = H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    if (rc >= 0)
      for (hsize_t i = 0; i < P; i++)
        PetscCall(PetscStrallocpy(buf + i * len, &labels[i]));
    PetscCall(PetscFree(buf));
  }
  H5Tclose(mt);
  H5Tclose(ft);
  H5Dclose(ds);
  MC_H5READ(rc, "%s: cannot read the labels /posterior/param", d->path);
  PetscFunctionReturn(0);
}

/* The per-draw datasets of /posterior: [C, N, P] parameter blocks and
 * [C, N] quantities; dimension scales and anything else are skipped. */
struct McDiagSource {
  char    name[256];
  int     rank;
  hsize_t P;
  char  **labels; /* P display names */
  char   *select; /* P flags: chosen by --vars */
};

static PetscBool Listed(const char *list, const char *name)
{
  size_t n = strlen(name);
  for (const char *p = list; p && *p;) {
    const char *e = strchr(p, ',');
    size_t      len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && !strncmp(p, name, n)) return PETSC_TRUE;
    p = e ? e + 1 : NULL;
  }
  return PETSC_FALSE;
}

/* Trailing NaNs of a chain are draws not yet written. */
static PetscInt FlushedDraws(PetscInt n, const PetscReal *x)
{
  while (n > 0 && PetscIsNanReal(x[n - 1]))
    n--;
  return n;
}

static PetscErrorCode ChainStats(McDiagData *d, hid_t f)
{
  static const char *const names[4] = {"sample_stats/accepted", "sample_stats/acceptance_rate",
                                       "sample_stats/step_size", "sample_stats/failed"};
  PetscReal               *buf;

  PetscFunctionBeginUser;
  for (PetscInt c = 0; c < d->C; c++) {
    d->chains[c].accepted = d->chains[c].accept_prob = d->chains[c].step_size = NAN;
    d->chains[c].failed = -1;
  }
  PetscCall(PetscMalloc1(d->C * d->file_draws, &buf));
  for (int k = 0; k < 4; k++) {
    hid_t   ds;
    int     rank;
    hsize_t dims[3];

    if (!Exists(f, names[k])) continue;
    PetscCall(OpenDataset(d, f, names[k], &ds, &rank, dims));
    if (rank != 2 || dims[0] != (hsize_t)d->C || dims[1] < (hsize_t)d->file_draws) {
      H5Dclose(ds);
      continue;
    }
    PetscCall(ReadSlab(d, ds, names[k], 2, d->C, 0, d->file_draws, 0, 1, buf));
    H5Dclose(ds);
    for (PetscInt c = 0; c < d->C; c++) {
      const PetscReal *x = buf + c * d->file_draws;
      PetscInt         lo = d->burn, hi = d->chains[c].draws, n = 0;
      PetscReal        sum = 0, last = NAN;
      for (PetscInt i = lo; i < hi; i++)
        if (!PetscIsNanReal(x[i])) sum += x[i], n++, last = x[i];
      if (k == 0) d->chains[c].accepted = n ? sum / n : NAN;
      if (k == 1) d->chains[c].accept_prob = n ? sum / n : NAN;
      if (k == 2) d->chains[c].step_size = last;
      if (k == 3) d->chains[c].failed = (PetscInt)sum;
    }
  }
  PetscCall(PetscFree(buf));
  PetscFunctionReturn(0);
}

/* The sampling loop's seconds at each chain's last used draw (mcmc-run's
 * timing/seconds), and their largest: the wall time the used draws took,
 * burn-in and the draws before --burn included. */
static PetscErrorCode ChainSeconds(McDiagData *d, hid_t f)
{
  hid_t   ds;
  int     rank;
  hsize_t dims[3];

  PetscFunctionBeginUser;
  d->seconds = NAN;
  for (PetscInt c = 0; c < d->C; c++) d->chains[c].seconds = NAN;
  if (!Exists(f, "timing") || !Exists(f, "timing/seconds")) PetscFunctionReturn(0);
  PetscCall(OpenDataset(d, f, "timing/seconds", &ds, &rank, dims));
  if (rank == 2 && dims[0] == (hsize_t)d->C && dims[1] >= (hsize_t)(d->burn + d->N)) {
    PetscReal     *s;
    PetscErrorCode ierr;
    PetscCall(PetscMalloc1(d->C, &s));
    ierr = ReadSlab(d, ds, "timing/seconds", 2, d->C, d->burn + d->N - 1, 1, 0, 1, s);
    if (!ierr) {
      d->seconds = 0;
      for (PetscInt c = 0; c < d->C; c++) {
        d->chains[c].seconds = s[c];
        d->seconds = PetscIsNanReal(s[c]) || PetscIsNanReal(d->seconds) ? NAN : PetscMax(d->seconds, s[c]);
      }
    }
    PetscCall(PetscFree(s));
    H5Dclose(ds);
    PetscCall(ierr);
  } else H5Dclose(ds);
  PetscFunctionReturn(0);
}

static PetscErrorCode ReadFields(McDiagData *d, hid_t f)
{
  McDiagFields *F = &d->fields;
  hid_t         ds;
  int           rank;
  hsize_t       dims[3];

  PetscFunctionBeginUser;
  if (!Exists(f, "fields/mean") || !Exists(f, "fields/std") || !Exists(f, "fields/count")) PetscFunctionReturn(0);
  PetscCall(OpenDataset(d, f, "fields/mean", &ds, &rank, dims));
  H5Dclose(ds);
  PetscCheck(rank == 2, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "%s: /fields/mean has rank %d, expected 2 [chain, node]", d->path, rank);
  F->C = (PetscInt)dims[0];
  F->nv = (PetscInt)dims[1];
  PetscCall(PetscMalloc3(F->C, &F->count, F->C * F->nv, &F->mean, F->C * F->nv, &F->std));
  F->present = PETSC_TRUE;
  PetscCall(ReadAll(d, f, "fields/mean", H5T_NATIVE_DOUBLE, dims[0] * dims[1], F->mean));
  PetscCall(ReadAll(d, f, "fields/std", H5T_NATIVE_DOUBLE, dims[0] * dims[1], F->std));
  PetscCall(ReadAll(d, f, "fields/count", H5T_NATIVE_INT64, dims[0], F->count));
  if (Exists(f, "fields/truth")) {
    PetscCall(PetscMalloc1(F->nv, &F->truth));
    PetscCall(ReadAll(d, f, "fields/truth", H5T_NATIVE_DOUBLE, dims[1], F->truth));
  }
  PetscCall(PetscStrncpy(F->name, "field", sizeof F->name));
  if (Exists(f, "posterior_fields") && H5Aexists_by_name(f, "posterior_fields", "field", H5P_DEFAULT) > 0) {
    hid_t a = H5Aopen_by_name(f, "posterior_fields", "field", H5P_DEFAULT, H5P_DEFAULT),
          t = a < 0 ? -1 : H5Aget_type(a);
    if (t >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) <= 0 && H5Tget_size(t) < sizeof F->name) {
      hid_t mt = H5Tcopy(H5T_C_S1);
      char  buf[64] = {0};
      H5Tset_size(mt, sizeof F->name - 1);
      if (H5Aread(a, mt, buf) >= 0 && buf[0]) PetscCall(PetscStrncpy(F->name, buf, sizeof F->name));
      H5Tclose(mt);
    }
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode ReadMemory(McDiagData *d, hid_t f)
{
  static const char *const names[5] = {"memory/iteration", "memory/rss", "memory/live_objects", "memory/live_bytes",
                                       "memory/collections"};
  McDiagMemory            *M = &d->memory;
  PetscInt64             **cols[5] = {&M->iteration, &M->rss, &M->live_objects, &M->live_bytes, &M->collections};
  hsize_t                  n = (hsize_t)-1;

  PetscFunctionBeginUser;
  for (int k = 0; k < 5; k++) {
    hid_t   ds;
    int     rank;
    hsize_t dims[3];
    if (!Exists(f, names[k])) PetscFunctionReturn(0);
    PetscCall(OpenDataset(d, f, names[k], &ds, &rank, dims));
    H5Dclose(ds);
    PetscCheck(rank == 1, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: /%s has rank %d, expected 1", d->path,
               names[k], rank);
    n = PetscMin(n, dims[0]); /* a growing trace: columns may differ by a block */
  }
  M->rows = (PetscInt)n;
  for (int k = 0; k < 5; k++) {
    hid_t ds;
    PetscCall(PetscMalloc1(PetscMax(n, 1), cols[k]));
    if (!n) continue;
    MC_H5READ(ds = H5Dopen2(f, names[k], H5P_DEFAULT), "%s: cannot open /%s", d->path, names[k]);
    {
      hsize_t start = 0, count = n;
      hid_t   fs = H5Dget_space(ds), ms = H5Screate_simple(1, &count, NULL);
      herr_t  rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
      if (rc >= 0) rc = H5Dread(ds, H5T_NATIVE_INT64, ms, fs, H5P_DEFAULT, *cols[k]);
      H5Sclose(ms);
      H5Sclose(fs);
      H5Dclose(ds);
      MC_H5READ(rc, "%s: cannot read /%s", d->path, names[k]);
    }
  }
  PetscFunctionReturn(0);
}

/* Finds the draw variables and decides which are reported, by name. */
static PetscErrorCode FindSources(McDiagData *d, hid_t f, const McDiagOptions *opt, McDiagSource *src, PetscInt *nsrc,
                                  hsize_t *ndraw)
{
  NameList l;
  hid_t    g;
  PetscInt n3 = 0;

  PetscFunctionBeginUser;
  *nsrc = 0;
  *ndraw = (hsize_t)-1;
  d->C = -1;
  MC_H5READ(g = H5Gopen2(f, "posterior", H5P_DEFAULT), "%s: cannot open group /posterior", d->path);
  PetscCall(ListGroup(d->path, g, "posterior", &l));
  H5Gclose(g);
  /* lp first, as stansummary puts lp__ first */
  if (Exists(f, "sample_stats/lp")) {
    PetscCall(PetscStrncpy(src[0].name, "sample_stats/lp", sizeof src[0].name));
    (*nsrc)++;
  }
  for (PetscInt i = 0; i < l.n && *nsrc < MC_DIAG_MAXVARS; i++) {
    PetscCall(PetscSNPrintf(src[*nsrc].name, sizeof src[*nsrc].name, "posterior/%s", l.names[i]));
    (*nsrc)++;
  }
  FreeNames(&l);
  for (PetscInt i = 0; i < *nsrc; i++) {
    McDiagSource *s = &src[i];
    hid_t         ds;
    int           rank;
    hsize_t       dims[3];
    H5O_info_t    info;

    s->rank = 0;
    if (H5Oget_info_by_name2(f, s->name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_DATASET)
      continue;
    PetscCall(OpenDataset(d, f, s->name, &ds, &rank, dims));
    if (H5DSis_scale(ds) > 0 || (rank != 2 && rank != 3)) {
      if (!strcmp(s->name, "posterior/draw") && rank == 1) *ndraw = PetscMin(*ndraw, dims[0]);
      H5Dclose(ds);
      continue;
    }
    H5Dclose(ds);
    if (d->C < 0) d->C = (PetscInt)dims[0];
    PetscCheck(dims[0] == (hsize_t)d->C, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
               "%s: /%s has %llu chains, /%s has %d", d->path, s->name, (unsigned long long)dims[0], src[0].name,
               (int)d->C);
    s->rank = rank;
    s->P = rank == 3 ? dims[2] : 1;
    *ndraw = PetscMin(*ndraw, dims[1]);
    if (rank == 3) n3++;
  }
  PetscCheck(
      d->C > 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
      "%s: no draws: /posterior has no [chain, draw] or [chain, draw, param] dataset (not an mcmc-run output file?)",
      d->path);
  if (Exists(f, "posterior/draw")) {
    hid_t   ds;
    int     rank;
    hsize_t dims[3];
    /* the draw coordinate is extended last: draws beyond it are in flight */
    PetscCall(OpenDataset(d, f, "posterior/draw", &ds, &rank, dims));
    H5Dclose(ds);
    if (rank == 1) *ndraw = PetscMin(*ndraw, dims[0]);
  }
  for (PetscInt i = 0; i < *nsrc; i++) {
    McDiagSource *s = &src[i];
    const char   *base = strrchr(s->name, '/') + 1;
    if (!s->rank) continue;
    PetscCall(PetscCalloc2(s->P, &s->labels, s->P, &s->select));
    if (s->rank == 3) {
      char **lab;
      PetscCall(PetscMalloc1(s->P, &lab));
      PetscCall(ReadLabels(d, f, s->P, lab));
      for (hsize_t p = 0; p < s->P; p++) {
        char buf[512];
        if (lab[p] && n3 == 1)
          PetscCall(PetscSNPrintf(buf, sizeof buf, "%s", lab[p]));
        else if (lab[p])
          PetscCall(PetscSNPrintf(buf, sizeof buf, "%s[%s]", base, lab[p]));
        else
          PetscCall(PetscSNPrintf(buf, sizeof buf, "%s[%llu]", base, (unsigned long long)p));
        PetscCall(PetscStrallocpy(buf, &s->labels[p]));
        PetscCall(PetscFree(lab[p]));
      }
      PetscCall(PetscFree(lab));
    } else
      PetscCall(PetscStrallocpy(base, &s->labels[0]));
    for (hsize_t p = 0; p < s->P; p++)
      s->select[p] = !opt->vars || Listed(opt->vars, s->labels[p]) || Listed(opt->vars, base);
  }
  PetscFunctionReturn(0);
}

static void FreeSources(McDiagSource *src, PetscInt nsrc)
{
  for (PetscInt i = 0; i < nsrc; i++) {
    if (!src[i].labels) continue;
    for (hsize_t p = 0; p < src[i].P; p++)
      PetscFree(src[i].labels[p]);
    PetscFree2(src[i].labels, src[i].select);
  }
}

/* Every name in --vars must name something. */
static PetscErrorCode CheckVars(McDiagData *d, const McDiagOptions *opt, const McDiagSource *src, PetscInt nsrc)
{
  const char *p = opt->vars;

  PetscFunctionBeginUser;
  while (p && *p) {
    const char *e = strchr(p, ',');
    size_t      len = e ? (size_t)(e - p) : strlen(p);
    PetscBool   hit = PETSC_FALSE;
    char        name[256] = {0}, avail[2048] = {0};

    PetscCall(PetscStrncpy(name, p, PetscMin(len + 1, sizeof name)));
    for (PetscInt i = 0; i < nsrc && !hit; i++) {
      if (!src[i].rank) continue;
      hit = !strcmp(strrchr(src[i].name, '/') + 1, name);
      for (hsize_t q = 0; q < src[i].P && !hit; q++)
        hit = !strcmp(src[i].labels[q], name);
    }
    if (!hit) {
      for (PetscInt i = 0; i < nsrc; i++)
        for (hsize_t q = 0; src[i].rank && q < src[i].P; q++)
          if (strlen(avail) + strlen(src[i].labels[q]) + 3 < sizeof avail) {
            if (avail[0]) strcat(avail, ", ");
            strcat(avail, src[i].labels[q]);
          }
    }
    PetscCheck(hit, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "--vars: %s has no quantity named '%s'; it has: %s", d->path,
               name, avail);
    p = e ? e + 1 : NULL;
  }
  PetscFunctionReturn(0);
}

/* Draws flushed per chain, from lp (every draw has one) or else the first
 * draw variable. */
static PetscErrorCode CountDraws(McDiagData *d, hid_t f, const McDiagSource *src, PetscInt nsrc, hsize_t ndraw)
{
  const McDiagSource *m = NULL;
  PetscReal          *buf;
  hid_t               ds;
  int                 rank;
  hsize_t             dims[3];

  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < nsrc && !m; i++)
    if (src[i].rank) m = &src[i];
  d->file_draws = (PetscInt)ndraw;
  PetscCall(PetscMalloc1(d->C, &d->chains));
  PetscCall(PetscMalloc1(d->C * PetscMax(ndraw, 1), &buf));
  PetscCall(OpenDataset(d, f, m->name, &ds, &rank, dims));
  {
    /* A damaged file fails here: release the buffer before reporting it. */
    PetscErrorCode ierr = ReadSlab(d, ds, m->name, rank, d->C, 0, ndraw, 0, 1, buf);
    H5Dclose(ds);
    if (ierr) PetscCall(PetscFree(buf));
    PetscCall(ierr);
  }
  for (PetscInt c = 0; c < d->C; c++)
    d->chains[c].draws = FlushedDraws((PetscInt)ndraw, buf + c * ndraw);
  PetscCall(PetscFree(buf));
  PetscFunctionReturn(0);
}

static size_t ReadBytes(const McDiagOptions *opt)
{
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);

  if (opt->memory > 0) return (size_t)opt->memory;
  if (pages <= 0 || page <= 0) return MC_DIAG_READ_BYTES_MIN;
  return PetscMax(MC_DIAG_READ_BYTES_MIN, (size_t)pages / 4 * (size_t)page);
}

/* The selected quantities' names into d->vars, in the order their draws
 * will be read. */
static PetscErrorCode NameVars(McDiagData *d, const McDiagSource *src, PetscInt nsrc)
{
  PetscInt nsel = 0;

  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < nsrc; i++)
    for (hsize_t p = 0; src[i].rank && p < src[i].P; p++)
      nsel += src[i].select[p];
  PetscCall(PetscCalloc1(PetscMax(nsel, 1), &d->vars));
  for (PetscInt i = 0; i < nsrc; i++)
    for (hsize_t p = 0; src[i].rank && p < src[i].P; p++)
      if (src[i].select[p]) PetscCall(PetscStrallocpy(src[i].labels[p], &d->vars[d->nvars++].name));
  PetscFunctionReturn(0);
}

/* The source of file b that source s of file a (with columns selected)
 * is read from: the dataset of the same name and width with the same
 * columns selected, so that their read blocks line up column for column.
 * Files of one model always match; files that report the same quantities
 * from datasets laid out otherwise are refused. */
static PetscErrorCode MatchSource(const McDiagData *a, const McDiagSource *s, const McDiagData *b,
                                  const McDiagSource **t)
{
  PetscFunctionBeginUser;
  *t = NULL;
  for (PetscInt j = 0; j < b->nsrc && !*t; j++)
    if (b->src[j].rank && !strcmp(b->src[j].name, s->name)) *t = &b->src[j];
  PetscCheck(*t && (*t)->rank == s->rank && (*t)->P == s->P, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "%s has /%s of %llu columns, %s %s: mcmc-diag combines files of the same layout", a->path, s->name,
             (unsigned long long)s->P, b->path, *t ? "has it of another shape" : "has no such dataset");
  PetscCheck(!memcmp(s->select, (*t)->select, s->P), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "%s and %s: --vars selects other columns of /%s in each (its labels are in another order)", a->path,
             b->path, s->name);
  PetscFunctionReturn(0);
}

/* Columns p0 .. p0+np of the datasets ds[k] (sources t[k]) of every file,
 * chain after chain, into buf laid out [C][N][np]. */
static PetscErrorCode ReadBlock(PetscInt n, McDiagData *parts, const hid_t *ds, const McDiagSource **t, hsize_t p0,
                                hsize_t np, PetscReal *buf)
{
  const PetscInt N = parts[0].N;
  PetscInt       c0 = 0;

  PetscFunctionBeginUser;
  for (PetscInt k = 0; k < n; k++) {
    McDiagData *d = &parts[k];
    PetscCall(ReadSlab(d, ds[k], t[k]->name, t[k]->rank, d->C, d->burn, N, p0, np, buf + c0 * N * np));
    c0 += d->C;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McDiagDataReadDraws_Private(const McDiagOptions *opt, PetscInt n, McDiagData *parts, McDiagVar *vars)
{
  const PetscInt       N = parts[0].N;
  PetscInt             C = 0, nv = 0;
  hid_t               *ds;
  const McDiagSource **t;

  PetscFunctionBeginUser;
  for (PetscInt k = 0; k < n; k++) {
    PetscCheck(parts[k].N == N && parts[k].h5 > 0, PETSC_COMM_SELF, PETSC_ERR_PLIB,
               "%s: read with %d used draws, %s with %d", parts[k].path, (int)parts[k].N, parts[0].path, (int)N);
    C += parts[k].C;
  }
  PetscCall(PetscMalloc2(n, &ds, n, &t));
  for (PetscInt i = 0; i < parts[0].nsrc; i++) {
    const McDiagSource *s = &parts[0].src[i];
    hsize_t             g;
    PetscReal          *buf = NULL;
    PetscInt           *at = NULL, opened = 0;
    PetscErrorCode      ierr = 0;
    int                 rank;
    hsize_t             dims[3];

    if (!s->rank) continue;
    for (g = 0; g < s->P && !s->select[g]; g++) {}
    if (g == s->P) continue;
    g = PetscMax(1, PetscMin(s->P, ReadBytes(opt) / (sizeof(PetscReal) * C * N)));
    /* Not PetscCall from here: a damaged or mismatched file must still
     * release the datasets and the block before it is reported. */
    for (; opened < n && !ierr; opened++) {
      t[opened] = s;
      if (opened) ierr = MatchSource(&parts[0], s, &parts[opened], &t[opened]);
      if (!ierr) ierr = OpenDataset(&parts[opened], parts[opened].h5, s->name, &ds[opened], &rank, dims);
    }
    if (ierr) opened--;
    if (!ierr) ierr = PetscMalloc2(C * N * g, &buf, g, &at);
    for (hsize_t p0 = 0; p0 < s->P && !ierr; p0 += g) {
      hsize_t  np = PetscMin(g, s->P - p0);
      PetscInt cnt = 0;

      ierr = ReadBlock(n, parts, ds, t, p0, np, buf);
      for (hsize_t p = p0; p < p0 + np && !ierr; p++)
        if (s->select[p]) at[cnt++] = (PetscInt)(p - p0);
      if (!ierr) ierr = McDiagVarsProcess_Private(C, N, buf, (PetscInt)np, at, cnt, vars + nv);
      nv += cnt;
    }
    for (PetscInt k = 0; k < opened; k++)
      H5Dclose(ds[k]);
    PetscCall(PetscFree2(buf, at));
    if (ierr) PetscCall(PetscFree2(ds, t));
    PetscCall(ierr);
  }
  PetscCall(PetscFree2(ds, t));
  PetscFunctionReturn(0);
}

/* The root attribute model_hash (mcmc-run's files) into d->model_hash. */
static void ReadModelHash(McDiagData *d, hid_t f)
{
  hid_t a, t;

  d->model_hash[0] = '\0';
  if (H5Aexists(f, "model_hash") <= 0) return;
  a = H5Aopen(f, "model_hash", H5P_DEFAULT);
  t = a < 0 ? -1 : H5Aget_type(a);
  if (t >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) <= 0 && H5Tget_size(t) < sizeof d->model_hash) {
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, sizeof d->model_hash - 1);
    if (H5Aread(a, mt, d->model_hash) < 0) d->model_hash[0] = '\0';
    H5Tclose(mt);
  }
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
}

/* Everything after opening the file but the draws; src (d->src) is freed
 * with d. With shortest_only, only the shortest chain's draws into
 * *shortest. */
static PetscErrorCode ReadOpen(const McDiagOptions *opt, PetscInt max_used, McDiagData *d, hid_t f, McDiagSource *src,
                               PetscInt *nsrc, PetscInt *shortest_only)
{
  PetscInt shortest;
  hsize_t  ndraw;

  PetscFunctionBeginUser;
  PetscCheck(Exists(f, "posterior"), PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "%s: no group /posterior (not an mcmc-run output file?)", opt->file);
  PetscCall(FindSources(d, f, opt, src, nsrc, &ndraw));
  PetscCall(CheckVars(d, opt, src, *nsrc));
  PetscCall(CountDraws(d, f, src, *nsrc, ndraw));
  shortest = d->file_draws;
  for (PetscInt c = 0; c < d->C; c++)
    shortest = PetscMin(shortest, d->chains[c].draws);
  if (shortest_only) {
    *shortest_only = shortest;
    PetscFunctionReturn(0);
  }
  ReadModelHash(d, f);
  d->burn = (PetscInt)opt->burn;
  d->N = PetscMin(shortest - d->burn, max_used);
  PetscCheck(d->N >= 4, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "%s: the shortest chain has %d draws; after --burn %d that leaves %d, and the diagnostics need at least 4",
             opt->file, (int)shortest, (int)d->burn, (int)d->N);
  PetscCall(NameVars(d, src, *nsrc));
  PetscCall(ChainStats(d, f));
  PetscCall(ChainSeconds(d, f));
  PetscCall(ReadFields(d, f));
  PetscCall(ReadMemory(d, f));
  PetscFunctionReturn(0);
}

/* Opens opt->file and reads it (ReadOpen). */
static PetscErrorCode Read(const McDiagOptions *opt, PetscInt max_used, McDiagData *d, PetscInt *shortest_only)
{
  hid_t          f;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(d, sizeof *d));
  d->path = opt->file;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors are reported by us, with the file's name */
  PetscCheck(access(opt->file, R_OK) == 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s: cannot open: %s", opt->file,
             strerror(errno));
  PetscCheck(H5Fis_hdf5(opt->file) > 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s: not a readable HDF5 file",
             opt->file);
  /* A file being written must be read as a SWMR reader; a file the library
   * cannot open that way is opened plainly. */
  {
    /* A SWMR reader retries a metadata read whose checksum fails (the
     * writer may be in the middle of a flush) -- by default 100 times with
     * growing sleeps, minutes on a corrupted file. A flush of this project's
     * writer takes milliseconds: a few attempts are enough. */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0) H5Pset_metadata_read_attempts(fapl, MC_DIAG_READ_ATTEMPTS);
    f = H5Fopen(opt->file, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl >= 0 ? fapl : H5P_DEFAULT);
    if (fapl >= 0) H5Pclose(fapl);
  }
  d->swmr = f >= 0 ? PETSC_TRUE : PETSC_FALSE;
  if (f < 0) f = H5Fopen(opt->file, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(f >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN,
             "%s: cannot open the HDF5 file: it is truncated or damaged, or was left open by a killed writer (then "
             "run 'h5clear -s --increment=0 %s' first)",
             opt->file, opt->file);
  d->h5 = f; /* kept open for the draws; closed with d */
  ierr = PetscCalloc1(MC_DIAG_MAXVARS, &d->src);
  /* Not PetscCall: a user error (a --vars name, a short file) must still
   * release what was read so far. */
  if (!ierr) ierr = ReadOpen(opt, max_used, d, f, d->src, &d->nsrc, shortest_only);
  if (ierr) PetscCall(McDiagDataFree_Private(d));
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

PetscErrorCode McDiagDataRead_Private(const McDiagOptions *opt, PetscInt max_used, McDiagData *d)
{
  PetscFunctionBeginUser;
  PetscCall(Read(opt, max_used, d, NULL));
  PetscFunctionReturn(0);
}

PetscErrorCode McDiagDataShortest_Private(const McDiagOptions *opt, PetscInt *shortest)
{
  McDiagData d;

  PetscFunctionBeginUser;
  PetscCall(Read(opt, PETSC_MAX_INT, &d, shortest));
  PetscCall(McDiagDataFree_Private(&d));
  PetscFunctionReturn(0);
}

static void FreeMemory(McDiagMemory *M)
{
  PetscFree(M->iteration);
  PetscFree(M->rss);
  PetscFree(M->live_objects);
  PetscFree(M->live_bytes);
  PetscFree(M->collections);
}

PetscErrorCode McDiagDataFree_Private(McDiagData *d)
{
  PetscFunctionBeginUser;
  if (d->src) {
    FreeSources(d->src, d->nsrc);
    PetscCall(PetscFree(d->src));
  }
  if (d->h5 > 0) H5Fclose(d->h5);
  d->h5 = 0;
  for (PetscInt k = 0; k < d->nfiles; k++) FreeMemory(&d->files[k].memory);
  PetscCall(PetscFree(d->files));
  for (PetscInt i = 0; i < d->nvars; i++) {
    PetscCall(PetscFree(d->vars[i].name));
    PetscCall(PetscFree(d->vars[i].x));
  }
  PetscCall(PetscFree(d->vars));
  PetscCall(PetscFree(d->chains));
  if (d->fields.present) PetscCall(PetscFree3(d->fields.count, d->fields.mean, d->fields.std));
  PetscCall(PetscFree(d->fields.truth));
  FreeMemory(&d->memory);
  PetscFunctionReturn(0);
}
