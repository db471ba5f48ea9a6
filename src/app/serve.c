/* mcmc-run --serve: the configuration's models served over UM-Bridge 1.0
 * (HTTP + JSON), so a sampler in another language can call our forward
 * model and posterior.
 *
 * The one idea: the server is single-threaded. libmicrohttpd runs in its
 * "external select" mode, driven from this process's main thread by
 * MHD_run_wait, so every request is answered by the thread that owns the
 * PETSc objects -- one evaluation at a time, concurrent clients queue --
 * and a signal only sets a flag the loop reads. Everything an evaluation
 * touches is the problem's own preallocated state; a request allocates only
 * its JSON documents, its body buffer and the text of a long answer (all
 * through McMalloc, freed before the next request), and the memory checks of [memory] run every check_every
 * requests to prove that nothing grows.
 *
 * Models (all take one input vector: the sampler's whitened coordinates xi):
 *   posterior      [1]  log posterior -Phi(xi) - |xi|^2/2
 *   loglikelihood  [1]  -Phi(xi)
 *   logprior       [1]  -|xi|^2/2
 *   forward        [nobs] the observations B u(m(xi))
 * Gradient is J^T sens through the adjoint; ApplyJacobian is J vec for the
 * scalar models (the gradient's dot product) and unsupported for forward
 * (there is no tangent-linear solve); ApplyHessian is sens (D^2 f) v for the
 * scalar models through the full (Newton) Hessian action of the model module,
 * unsupported for forward (it would need the observations' second
 * derivatives one by one). */
#include "app/umbridge_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>

typedef struct Server_ Server;

/* One served model. A NULL operation is an unsupported feature. Every
 * operation evaluates at xi itself (UM-Bridge calls are independent); *ok =
 * PETSC_FALSE when the model cannot be evaluated there (the forward solve
 * failed, exp(m) overflowed), which the client hears as InvalidInput. */
typedef struct {
  const char *name;
  PetscInt    nin, nout;
  PetscErrorCode (*evaluate)(Server *s, Vec xi, PetscReal *out, PetscBool *ok);
  /* g = J^T sens (nin), sens has nout entries */
  PetscErrorCode (*gradient)(Server *s, Vec xi, const PetscReal *sens, Vec g, PetscBool *ok);
  /* out = J v (nout) */
  PetscErrorCode (*jacobian)(Server *s, Vec xi, Vec v, PetscReal *out, PetscBool *ok);
  /* out = (sens^T D^2 f) v (nin): the Hessian action, once one exists */
  PetscErrorCode (*hessian)(Server *s, Vec xi, const PetscReal *sens, Vec v, Vec out, PetscBool *ok);
} ServeModel;

#define NMODELS 4

/* What one request's answer is: an HTTP status and a JSON document. */
typedef struct {
  unsigned status;
  json_t  *body;
} Answer;

/* A request's body as it arrives (libc memory: transport buffers, like
 * libmicrohttpd's own, bounded by max_body per connection). */
typedef struct {
  char  *data;
  size_t len, cap;
  int    too_large, answered;
} Upload;

struct Server_ {
  const McConfig *cfg;
  McProblem      *pb;
  ServeModel      models[NMODELS];
  Vec             xi, v, g;  /* parameter-sized work */
  Vec             gm;        /* gradient w.r.t. m */
  Vec             bu, shift; /* observation-sized work */
  PetscReal      *out;       /* max(nobs, nparams) outputs */
  size_t          max_body;
  PetscInt64      requests, errors;
  PetscErrorCode  fatal; /* a PETSc error inside a request stops the server */
  int             exit_code;
  /* memory checks, counted in requests */
  PetscBool  baseline;
  PetscInt64 nchecks, base_rss, max_grew_objects, max_grew_bytes;
};

static volatile sig_atomic_t stop_signal = 0;

static void OnSignal(int sig)
{
  stop_signal = sig;
}

/* ------------------------------------------------------------ the models */

static PetscErrorCode Potential(Server *s, Vec xi, PetscReal *phi, PetscBool *ok)
{
  McPosteriorStatus st;

  PetscFunctionBeginUser;
  PetscCall(McPosteriorPotential(s->pb->post, xi, phi, &st));
  *ok = st == MC_POST_OK ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

/* The same arithmetic as the kernels' log posterior, so that a client
 * sampling this model sees the in-process numbers. */
static PetscErrorCode PosteriorEvaluate(Server *s, Vec xi, PetscReal *out, PetscBool *ok)
{
  PetscReal   phi;
  PetscScalar xi2;

  PetscFunctionBeginUser;
  PetscCall(Potential(s, xi, &phi, ok));
  PetscCall(VecDot(xi, xi, &xi2));
  out[0] = -phi - 0.5 * PetscRealPart(xi2);
  PetscFunctionReturn(0);
}

static PetscErrorCode LikelihoodEvaluate(Server *s, Vec xi, PetscReal *out, PetscBool *ok)
{
  PetscReal phi;

  PetscFunctionBeginUser;
  PetscCall(Potential(s, xi, &phi, ok));
  out[0] = -phi;
  PetscFunctionReturn(0);
}

static PetscErrorCode PriorEvaluate(Server *s, Vec xi, PetscReal *out, PetscBool *ok)
{
  PetscScalar xi2;

  PetscFunctionBeginUser;
  (void)s;
  PetscCall(VecDot(xi, xi, &xi2));
  out[0] = -0.5 * PetscRealPart(xi2);
  *ok = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/* g = sens * grad(-Phi) [- sens * xi for the posterior]: the gradient of
 * the scalar models, -grad Phi exactly the negated adjoint gradient. */
static PetscErrorCode ScalarGradient(Server *s, Vec xi, PetscReal sens, PetscBool likelihood, PetscBool prior, Vec g,
                                     PetscBool *ok)
{
  PetscReal phi;

  PetscFunctionBeginUser;
  *ok = PETSC_TRUE;
  PetscCall(VecSet(g, 0));
  if (likelihood) {
    PetscCall(Potential(s, xi, &phi, ok));
    if (!*ok) PetscFunctionReturn(0);
    PetscCall(McPosteriorGradient(s->pb->post, g));
    PetscCall(VecScale(g, -1.0));
  }
  if (prior) PetscCall(VecAXPY(g, -1.0, xi));
  if (sens != 1.0) PetscCall(VecScale(g, sens));
  PetscFunctionReturn(0);
}

static PetscErrorCode PosteriorGradient(Server *s, Vec xi, const PetscReal *sens, Vec g, PetscBool *ok)
{
  return ScalarGradient(s, xi, sens[0], PETSC_TRUE, PETSC_TRUE, g, ok);
}

static PetscErrorCode LikelihoodGradient(Server *s, Vec xi, const PetscReal *sens, Vec g, PetscBool *ok)
{
  return ScalarGradient(s, xi, sens[0], PETSC_TRUE, PETSC_FALSE, g, ok);
}

static PetscErrorCode PriorGradient(Server *s, Vec xi, const PetscReal *sens, Vec g, PetscBool *ok)
{
  return ScalarGradient(s, xi, sens[0], PETSC_FALSE, PETSC_TRUE, g, ok);
}

/* J v of a scalar model is its gradient's dot product with v. */
static PetscErrorCode ScalarJacobian(Server *s, ServeModel *m, Vec xi, Vec v, PetscReal *out, PetscBool *ok)
{
  const PetscReal one = 1.0;
  PetscScalar     d;

  PetscFunctionBeginUser;
  PetscCall(m->gradient(s, xi, &one, s->g, ok));
  if (!*ok) PetscFunctionReturn(0);
  PetscCall(VecDot(s->g, v, &d));
  out[0] = PetscRealPart(d);
  PetscFunctionReturn(0);
}

static PetscErrorCode PosteriorJacobian(Server *s, Vec xi, Vec v, PetscReal *out, PetscBool *ok)
{
  return ScalarJacobian(s, &s->models[0], xi, v, out, ok);
}

static PetscErrorCode LikelihoodJacobian(Server *s, Vec xi, Vec v, PetscReal *out, PetscBool *ok)
{
  return ScalarJacobian(s, &s->models[2], xi, v, out, ok);
}

static PetscErrorCode PriorJacobian(Server *s, Vec xi, Vec v, PetscReal *out, PetscBool *ok)
{
  return ScalarJacobian(s, &s->models[3], xi, v, out, ok);
}

/* out = sens (D^2 f) v for the scalar models, with the full (Newton)
 * Hessian of Phi from the second-order adjoint: D^2(-Phi) = -Ht, and the
 * prior's -I. */
static PetscErrorCode ScalarHessian(Server *s, Vec xi, PetscReal sens, PetscBool likelihood, PetscBool prior, Vec v,
                                    Vec out, PetscBool *ok)
{
  PetscReal phi;

  PetscFunctionBeginUser;
  *ok = PETSC_TRUE;
  PetscCall(VecSet(out, 0));
  if (likelihood) {
    PetscCall(Potential(s, xi, &phi, ok));
    if (!*ok) PetscFunctionReturn(0);
    PetscCall(McPosteriorGradient(s->pb->post, s->gm)); /* the Newton Hessian's adjoint needs it */
    PetscCall(McPosteriorHessianApply(s->pb->post, MC_HESSIAN_NEWTON, v, out));
    PetscCall(VecScale(out, -1.0));
  }
  if (prior) PetscCall(VecAXPY(out, -1.0, v));
  if (sens != 1.0) PetscCall(VecScale(out, sens));
  PetscFunctionReturn(0);
}

static PetscErrorCode PosteriorHessian(Server *s, Vec xi, const PetscReal *sens, Vec v, Vec out, PetscBool *ok)
{
  return ScalarHessian(s, xi, sens[0], PETSC_TRUE, PETSC_TRUE, v, out, ok);
}

static PetscErrorCode LikelihoodHessian(Server *s, Vec xi, const PetscReal *sens, Vec v, Vec out, PetscBool *ok)
{
  return ScalarHessian(s, xi, sens[0], PETSC_TRUE, PETSC_FALSE, v, out, ok);
}

static PetscErrorCode PriorHessian(Server *s, Vec xi, const PetscReal *sens, Vec v, Vec out, PetscBool *ok)
{
  return ScalarHessian(s, xi, sens[0], PETSC_FALSE, PETSC_TRUE, v, out, ok);
}

/* B u(m(xi)) after the forward solve of the potential. */
static PetscErrorCode Observe(Server *s, Vec xi, PetscBool *ok)
{
  PetscReal phi;
  Vec       u;

  PetscFunctionBeginUser;
  PetscCall(Potential(s, xi, &phi, ok));
  if (!*ok) PetscFunctionReturn(0);
  PetscCall(McForwardGetState(s->pb->fw, &u));
  PetscCall(McObsOperatorApply(s->pb->obs, u, s->bu));
  PetscFunctionReturn(0);
}

static PetscErrorCode ForwardEvaluate(Server *s, Vec xi, PetscReal *out, PetscBool *ok)
{
  const PetscScalar *b;

  PetscFunctionBeginUser;
  PetscCall(Observe(s, xi, ok));
  if (!*ok) PetscFunctionReturn(0);
  PetscCall(VecGetArrayRead(s->bu, &b));
  for (PetscInt i = 0; i < s->pb->nobs; i++)
    out[i] = PetscRealPart(b[i]);
  PetscCall(VecRestoreArrayRead(s->bu, &b));
  PetscFunctionReturn(0);
}

/* J^T sens through the adjoint: with unit noise weights and data
 * d = B u - sens, the misfit gradient w.r.t. m is J_m^T (B u - d) =
 * J_m^T sens; L^T turns it into the gradient w.r.t. xi. */
static PetscErrorCode ForwardGradient(Server *s, Vec xi, const PetscReal *sens, Vec g, PetscBool *ok)
{
  McNoise      unit = {1.0, NULL};
  PetscReal    junk;
  PetscScalar *d;
  McPrior      prior;

  PetscFunctionBeginUser;
  PetscCall(Observe(s, xi, ok));
  if (!*ok) PetscFunctionReturn(0);
  PetscCall(VecCopy(s->bu, s->shift));
  PetscCall(VecGetArray(s->shift, &d));
  for (PetscInt i = 0; i < s->pb->nobs; i++)
    d[i] -= sens[i];
  PetscCall(VecRestoreArray(s->shift, &d));
  PetscCall(McForwardMisfitGradient(s->pb->fw, s->pb->obs, s->shift, &unit, &junk, s->gm));
  PetscCall(McPosteriorGetPrior(s->pb->post, &prior));
  PetscCall(McPriorApplyLT(prior, s->gm, g));
  PetscFunctionReturn(0);
}

static PetscErrorCode SetUpModels(Server *s)
{
  McProblem *pb = s->pb;
  PetscInt   N = pb->nparams;
  ServeModel m[NMODELS] = {
      {"posterior", N, 1, PosteriorEvaluate, PosteriorGradient, PosteriorJacobian, PosteriorHessian},
      {"forward", N, pb->nobs, ForwardEvaluate, ForwardGradient, NULL, NULL},
      {"loglikelihood", N, 1, LikelihoodEvaluate, LikelihoodGradient, LikelihoodJacobian, LikelihoodHessian},
      {"logprior", N, 1, PriorEvaluate, PriorGradient, PriorJacobian, PriorHessian},
  };

  PetscFunctionBeginUser;
  PetscCall(PetscArraycpy(s->models, m, NMODELS));
  PetscCall(McPriorCreateVector(pb->prior, &s->xi));
  PetscCall(VecDuplicate(s->xi, &s->v));
  PetscCall(VecDuplicate(s->xi, &s->g));
  PetscCall(VecDuplicate(s->xi, &s->gm));
  PetscCall(McObsOperatorCreateVector(pb->obs, &s->bu));
  PetscCall(VecDuplicate(s->bu, &s->shift));
  PetscCall(McMalloc(sizeof(PetscReal) * (size_t)PetscMax(N, pb->nobs), &s->out));
  /* A request carries at most three vectors (input, sens, vec) of this
   * many numbers; 64 bytes a number is generous for "%.17g" and spaces. */
  s->max_body = PetscMax((size_t)1 << 20, (size_t)64 * (size_t)(2 * N + pb->nobs + 16));
  PetscFunctionReturn(0);
}

/* Every operation of every model once, at the prior mean, before the first
 * request: what is allocated on first use (the adjoint's observation-sized
 * work vectors, PETSc's caches) then exists before the memory baseline. */
static PetscErrorCode WarmUp(Server *s)
{
  PetscBool ok;

  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < s->pb->nobs; i++)
    s->out[i] = 1.0;
  for (int k = 0; k < NMODELS; k++) {
    ServeModel *m = &s->models[k];
    PetscCall(VecSet(s->xi, 0));
    PetscCall(VecSet(s->v, 1));
    PetscCall(m->gradient(s, s->xi, s->out, s->g, &ok));
    if (m->jacobian) PetscCall(m->jacobian(s, s->xi, s->v, s->out, &ok));
    if (m->hessian) PetscCall(m->hessian(s, s->xi, s->out, s->v, s->g, &ok));
    PetscCall(m->evaluate(s, s->xi, s->out, &ok));
    for (PetscInt i = 0; i < s->pb->nobs; i++)
      s->out[i] = 1.0;
  }
  PetscFunctionReturn(0);
}

/* ----------------------------------------------------------- the answers */

static Answer Error(unsigned status, const char *type, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static Answer Error(unsigned status, const char *type, const char *fmt, ...)
{
  char    msg[1024];
  va_list ap;
  Answer  a;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  a.status = status;
  a.body = json_pack("{s:{s:s,s:s}}", "error", "type", type, "message", msg);
  return a;
}

static json_t *RealArray(const PetscReal *x, PetscInt n)
{
  json_t *a = json_array();

  for (PetscInt i = 0; a && i < n; i++)
    if (json_array_append_new(a, json_real(x[i]))) {
      json_decref(a);
      return NULL;
    }
  return a;
}

static ServeModel *FindModel(Server *s, const char *name)
{
  for (int i = 0; i < NMODELS; i++)
    if (!strcmp(s->models[i].name, name)) return &s->models[i];
  return NULL;
}

/* A JSON array of exactly n finite numbers into x (a Vec or an array).
 * Returns 0, or fills *err. */
static int ReadNumbers(json_t *a, PetscInt n, const char *what, PetscReal *x, Answer *err)
{
  if (!json_is_array(a)) {
    *err = Error(400, MC_UMB_INVALID_INPUT, "%s must be an array of %d numbers", what, (int)n);
    return 1;
  }
  if ((PetscInt)json_array_size(a) != n) {
    *err = Error(400, MC_UMB_INVALID_INPUT, "%s has %d entries, expected %d", what, (int)json_array_size(a), (int)n);
    return 1;
  }
  for (PetscInt i = 0; i < n; i++) {
    json_t *v = json_array_get(a, (size_t)i);
    if (!json_is_number(v)) {
      *err = Error(400, MC_UMB_INVALID_INPUT, "%s[%d] is not a number", what, (int)i);
      return 1;
    }
    x[i] = json_number_value(v);
    if (!isfinite(x[i])) {
      *err = Error(400, MC_UMB_INVALID_INPUT, "%s[%d] is not finite", what, (int)i);
      return 1;
    }
  }
  return 0;
}

static int ReadVec(json_t *a, PetscInt n, const char *what, Vec x, Answer *err)
{
  PetscScalar *p;
  int          bad;

  if (VecGetArray(x, &p)) {
    *err = Error(500, MC_UMB_INVALID_OUTPUT, "internal error: cannot access a work vector");
    return 1;
  }
  bad = ReadNumbers(a, n, what, p, err);
  if (VecRestoreArray(x, &p)) bad = 1;
  return bad;
}

/* "input": [[x_0, ..., x_{n-1}]], exactly one input vector. */
static int ReadInput(json_t *req, ServeModel *m, Vec xi, Answer *err)
{
  json_t *in = json_object_get(req, "input");

  if (!json_is_array(in) || json_array_size(in) != 1) {
    *err =
        Error(400, MC_UMB_INVALID_INPUT,
              "\"input\" must be an array of 1 input vector (model %s has 1 input of size %d)", m->name, (int)m->nin);
    return 1;
  }
  return ReadVec(json_array_get(in, 0), m->nin, "input[0]", xi, err);
}

/* An index field (outWrt, inWrt, ...) that must be 0: every model here has
 * one input and one output. */
static int ReadIndex(json_t *req, const char *key, const char *range, Answer *err)
{
  json_t *v = json_object_get(req, key);

  if (!json_is_integer(v)) {
    *err = Error(400, MC_UMB_INVALID_INPUT, "\"%s\" must be an integer", key);
    return 1;
  }
  if (json_integer_value(v) != 0) {
    *err = Error(400, MC_UMB_INVALID_INPUT, "\"%s\" = %lld is out of range: the model has 1 %s (index 0)", key,
                 (long long)json_integer_value(v), range);
    return 1;
  }
  return 0;
}

/* The model's config object may select nothing we don't support: none of
 * our models takes a key, so every key is named as unknown. */
static int CheckConfig(json_t *req, ServeModel *m, Answer *err)
{
  json_t     *c = json_object_get(req, "config"), *v;
  const char *key;
  char        names[512];
  size_t      o = 0;

  if (!c || json_is_null(c)) return 0;
  if (!json_is_object(c)) {
    *err = Error(400, MC_UMB_INVALID_INPUT, "\"config\" must be an object");
    return 1;
  }
  if (!json_object_size(c)) return 0;
  names[0] = '\0';
  json_object_foreach(c, key, v)
  {
    int n = snprintf(names + o, sizeof(names) - o, "%s\"%s\"", o ? ", " : "", key);
    (void)v;
    if (n < 0 || (size_t)n >= sizeof(names) - o) break;
    o += (size_t)n;
  }
  *err = Error(400, MC_UMB_INVALID_INPUT, "unknown key%s in \"config\": %s (model %s takes no configuration keys)",
               json_object_size(c) > 1 ? "s" : "", names, m->name);
  return 1;
}

static Answer NotEvaluable(ServeModel *m)
{
  return Error(400, MC_UMB_INVALID_INPUT,
               "model %s cannot be evaluated at this input: the forward solve failed or exp(m) overflowed", m->name);
}

static Answer Output(json_t *out)
{
  Answer a = {200, json_pack("{s:o}", "output", out)};
  return a;
}

static const char *const feature_names[] = {"Evaluate", "Gradient", "ApplyJacobian", "ApplyHessian"};

static int Supports(ServeModel *m, int f)
{
  return f == 0   ? m->evaluate != NULL
         : f == 1 ? m->gradient != NULL
         : f == 2 ? m->jacobian != NULL
                  : m->hessian != NULL;
}

/* Answers one POST to an evaluation route (feature f). PETSc errors go to
 * s->fatal. */
static Answer Evaluation(Server *s, ServeModel *m, int f, json_t *req)
{
  Answer         err;
  PetscBool      ok = PETSC_TRUE;
  PetscErrorCode ierr = 0;

  if (!Supports(m, f)) {
    if (f == 2)
      return Error(400, MC_UMB_UNSUPPORTED_FEATURE,
                   "ApplyJacobian is not supported by model %s: there is no tangent-linear solve (Gradient, J^T sens "
                   "through the adjoint, is)",
                   m->name);
    return Error(400, MC_UMB_UNSUPPORTED_FEATURE, "%s is not supported by model %s", feature_names[f], m->name);
  }
  if (CheckConfig(req, m, &err) || ReadInput(req, m, s->xi, &err)) return err;
  switch (f) {
  case 0:
    ierr = m->evaluate(s, s->xi, s->out, &ok);
    if (ierr) break;
    if (!ok) return NotEvaluable(m);
    return Output(json_pack("[o]", RealArray(s->out, m->nout)));
  case 1: {
    if (ReadIndex(req, "outWrt", "output", &err) || ReadIndex(req, "inWrt", "input", &err) ||
        ReadNumbers(json_object_get(req, "sens"), m->nout, "sens", s->out, &err))
      return err;
    ierr = m->gradient(s, s->xi, s->out, s->g, &ok);
    if (ierr) break;
    if (!ok) return NotEvaluable(m);
    {
      const PetscScalar *g;
      json_t            *a;
      if ((ierr = VecGetArrayRead(s->g, &g))) break;
      a = RealArray(g, m->nin);
      if ((ierr = VecRestoreArrayRead(s->g, &g))) break;
      return Output(a);
    }
  }
  case 2:
    if (ReadIndex(req, "outWrt", "output", &err) || ReadIndex(req, "inWrt", "input", &err) ||
        ReadVec(json_object_get(req, "vec"), m->nin, "vec", s->v, &err))
      return err;
    ierr = m->jacobian(s, s->xi, s->v, s->out, &ok);
    if (ierr) break;
    if (!ok) return NotEvaluable(m);
    return Output(RealArray(s->out, m->nout));
  default:
    if (ReadIndex(req, "outWrt", "output", &err) || ReadIndex(req, "inWrt1", "input", &err) ||
        ReadIndex(req, "inWrt2", "input", &err) ||
        ReadNumbers(json_object_get(req, "sens"), m->nout, "sens", s->out, &err) ||
        ReadVec(json_object_get(req, "vec"), m->nin, "vec", s->v, &err))
      return err;
    ierr = m->hessian(s, s->xi, s->out, s->v, s->g, &ok);
    if (ierr) break;
    if (!ok) return NotEvaluable(m);
    {
      const PetscScalar *g;
      json_t            *a;
      if ((ierr = VecGetArrayRead(s->g, &g))) break;
      a = RealArray(g, m->nin);
      if ((ierr = VecRestoreArrayRead(s->g, &g))) break;
      return Output(a);
    }
  }
  s->fatal = ierr;
  return Error(500, MC_UMB_INVALID_OUTPUT, "internal error %d evaluating model %s; the server stops", (int)ierr,
               m->name);
}

static const char *const post_routes[] = {"/ModelInfo", "/InputSizes",    "/OutputSizes",  "/Evaluate",
                                          "/Gradient",  "/ApplyJacobian", "/ApplyHessian", NULL};

static Answer Route(Server *s, const char *method, const char *url, const char *body, size_t len)
{
  json_t      *req;
  json_error_t jerr;
  json_t      *name;
  ServeModel  *m;
  Answer       a;
  int          r = -1;

  if (!strcmp(url, "/Info")) {
    json_t *names;
    if (strcmp(method, "GET")) return Error(405, MC_UMB_INVALID_INPUT, "/Info takes GET, not %s", method);
    names = json_array();
    for (int i = 0; i < NMODELS; i++)
      json_array_append_new(names, json_string(s->models[i].name));
    a.status = 200;
    a.body = json_pack("{s:f,s:o}", "protocolVersion", MC_UMB_PROTOCOL_VERSION, "models", names);
    return a;
  }
  for (int i = 0; post_routes[i]; i++)
    if (!strcmp(url, post_routes[i])) r = i;
  if (r < 0)
    return Error(404, MC_UMB_UNSUPPORTED_FEATURE,
                 "no route %s %s: this server speaks UM-Bridge 1.0 (GET /Info; POST /ModelInfo, /InputSizes, "
                 "/OutputSizes, /Evaluate, /Gradient, /ApplyJacobian, /ApplyHessian)",
                 method, url);
  if (strcmp(method, "POST")) return Error(405, MC_UMB_INVALID_INPUT, "%s takes POST, not %s", url, method);
  req = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!req)
    return Error(400, MC_UMB_INVALID_INPUT, "the request body is not valid JSON (line %d, column %d): %s", jerr.line,
                 jerr.column, jerr.text);
  if (!json_is_object(req)) {
    json_decref(req);
    return Error(400, MC_UMB_INVALID_INPUT, "the request body must be a JSON object");
  }
  name = json_object_get(req, "name");
  if (!json_is_string(name)) {
    json_decref(req);
    return Error(400, MC_UMB_INVALID_INPUT, "the request needs \"name\", the model's name (a string)");
  }
  m = FindModel(s, json_string_value(name));
  if (!m) {
    a = Error(400, MC_UMB_MODEL_NOT_FOUND,
              "model '%.200s' not found; this server has posterior, forward, loglikelihood, logprior",
              json_string_value(name));
  } else if (r == 0) {
    a.status = 200;
    a.body = json_pack("{s:{s:b,s:b,s:b,s:b}}", "support", "Evaluate", Supports(m, 0), "Gradient", Supports(m, 1),
                       "ApplyJacobian", Supports(m, 2), "ApplyHessian", Supports(m, 3));
  } else if (r == 1 || r == 2) {
    if (!CheckConfig(req, m, &a)) {
      a.status = 200;
      a.body = json_pack("{s:[I]}", r == 1 ? "inputSizes" : "outputSizes", (json_int_t)(r == 1 ? m->nin : m->nout));
    }
  } else {
    a = Evaluation(s, m, r - 3, req);
  }
  json_decref(req);
  return a;
}

/* ------------------------------------------------------ memory checks */

static PetscErrorCode CheckMemory(Server *s)
{
  const McConfig *cfg = s->cfg;
  McMemUsage      u;
  PetscBool       ok;
  char            report[4096];

  PetscFunctionBeginUser;
  if (cfg->memory.check_every <= 0) PetscFunctionReturn(0);
  if (!s->baseline) {
    if (s->requests < PetscMax(cfg->memory.warmup, 1)) PetscFunctionReturn(0);
    PetscCall(McGCCollect(2, NULL));
    PetscCall(McMemSetBaseline());
    PetscCall(McMemGetUsage(&u));
    s->base_rss = u.rss_bytes;
    s->baseline = PETSC_TRUE;
    PetscFunctionReturn(0);
  }
  if (s->requests % cfg->memory.check_every) PetscFunctionReturn(0);
  PetscCall(McGCCollect(2, NULL));
  PetscCall(
      McMemCheck(cfg->memory.tolerance_objects, (size_t)cfg->memory.tolerance_bytes, &ok, report, sizeof(report)));
  s->nchecks++;
  if (ok) PetscFunctionReturn(0);
  fprintf(stderr, "mcmc-run --serve: memory assertion failed after %lld requests:\n%s\n", (long long)s->requests,
          report);
  if (cfg->memory.on_violation == MC_VIOLATION_STOP) s->exit_code = MC_EXIT_MEMORY;
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------ libmicrohttpd glue */

static enum MHD_Result Send(struct MHD_Connection *c, Answer a)
{
  static char          fallback[] = "{\"error\": {\"type\": \"InvalidOutput\", \"message\": \"out of memory\"}}";
  char                 buf[256];
  char                *text = NULL;
  size_t               n;
  struct MHD_Response *r;
  enum MHD_Result      ret;

  if (a.body) {
    /* Sized first, then written into a buffer MHD copies. */
    n = json_dumpb(a.body, NULL, 0, JSON_COMPACT);
    text = n <= sizeof(buf) ? buf : McMallocHook(n);
    if (text) n = json_dumpb(a.body, text, n, JSON_COMPACT);
    json_decref(a.body);
  }
  if (!text) {
    a.status = 500;
    text = fallback;
    n = strlen(fallback);
  }
  r = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_COPY);
  if (text != buf && text != fallback) McFreeHook(text);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  if (a.status == 405) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, POST");
  ret = MHD_queue_response(c, a.status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result Handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **con_cls)
{
  Server         *s = cls;
  Upload         *up = *con_cls;
  Answer          a;
  enum MHD_Result ret;

  (void)version;
  if (!up) { /* headers only: set up the upload, refuse a body announced too large */
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    up = McCallocHook(sizeof(*up));
    if (!up) return MHD_NO;
    *con_cls = up;
    if (cl && strtoull(cl, NULL, 10) > s->max_body) {
      up->too_large = up->answered = 1;
      s->requests++, s->errors++;
      return Send(c, Error(413, MC_UMB_INVALID_INPUT,
                           "request body of %s bytes exceeds this server's limit of %zu bytes", cl, s->max_body));
    }
    return MHD_YES;
  }
  if (*size) { /* a piece of the body */
    if (!up->too_large && up->len + *size > s->max_body) up->too_large = 1;
    if (!up->too_large) {
      if (up->len + *size > up->cap) {
        size_t cap = PetscMax(2 * up->cap, up->len + *size);
        char  *p = McReallocHook(up->data, cap);
        if (!p) return MHD_NO;
        up->data = p, up->cap = cap;
      }
      memcpy(up->data + up->len, data, *size);
      up->len += *size;
    }
    *size = 0;
    return MHD_YES;
  }
  if (up->answered) return MHD_YES;
  up->answered = 1;
  if (up->too_large)
    a = Error(413, MC_UMB_INVALID_INPUT, "request body exceeds this server's limit of %zu bytes", s->max_body);
  else
    a = Route(s, method, url, up->data ? up->data : "", up->len);
  s->requests++;
  if (a.status != 200) s->errors++;
  ret = Send(c, a);
  return ret;
}

/* After the response went out, or the client went away mid-request: the
 * upload's memory goes back, then the memory checks of this request. */
static void Completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
  Server *s = cls;
  Upload *up = *con_cls;

  (void)c;
  (void)toe;
  if (up) {
    McFreeHook(up->data);
    McFreeHook(up);
    *con_cls = NULL;
  }
  if (!s->fatal && !s->exit_code) s->fatal = CheckMemory(s);
}

/* HOST:PORT (HOST a name or address; [v6]:PORT) into an address. */
static int ParseListen(const char *listen, struct sockaddr_storage *addr, socklen_t *alen, char *err, size_t elen)
{
  char            host[256];
  const char     *colon = strrchr(listen, ':');
  char           *end;
  long            port;
  struct addrinfo hints, *res = NULL;
  int             rc;
  size_t          hl;

  if (!colon) {
    snprintf(err, elen, "--listen needs HOST:PORT, got '%s'", listen);
    return 1;
  }
  port = strtol(colon + 1, &end, 10);
  if (!colon[1] || *end || port < 0 || port > 65535) {
    snprintf(err, elen, "--listen: port must be a number in [0, 65535], got '%s'", colon + 1);
    return 1;
  }
  hl = (size_t)(colon - listen);
  if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']') listen++, hl -= 2;
  if (!hl || hl >= sizeof(host)) {
    snprintf(err, elen, "--listen: no host in '%s'", listen);
    return 1;
  }
  memcpy(host, listen, hl);
  host[hl] = '\0';
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc || !res) {
    snprintf(err, elen, "--listen: cannot resolve host '%s': %s", host, gai_strerror(rc));
    return 1;
  }
  memcpy(addr, res->ai_addr, res->ai_addrlen);
  *alen = res->ai_addrlen;
  freeaddrinfo(res);
  if (addr->ss_family == AF_INET)
    ((struct sockaddr_in *)addr)->sin_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in6 *)addr)->sin6_port = htons((uint16_t)port);
  return 0;
}

static PetscErrorCode ServerFree(Server *s)
{
  PetscFunctionBeginUser;
  PetscCall(VecDestroy(&s->xi));
  PetscCall(VecDestroy(&s->v));
  PetscCall(VecDestroy(&s->g));
  PetscCall(VecDestroy(&s->gm));
  PetscCall(VecDestroy(&s->bu));
  PetscCall(VecDestroy(&s->shift));
  PetscCall(McFree(&s->out));
  PetscCall(McProblemDestroy(&s->pb));
  PetscFunctionReturn(0);
}

static PetscErrorCode Serve(Server *s, const char *listen, int *code)
{
  struct sockaddr_storage     addr;
  socklen_t                   alen;
  char                        err[512], host[INET6_ADDRSTRLEN];
  struct MHD_Daemon          *d;
  const union MHD_DaemonInfo *info;
  struct sigaction            sa, old_int, old_term;
  unsigned                    flags = MHD_USE_ERROR_LOG;
  McMemUsage                  u;

  PetscFunctionBeginUser;
  if (ParseListen(listen, &addr, &alen, err, sizeof(err))) {
    fprintf(stderr, "mcmc-run: %s\n", err);
    *code = MC_EXIT_USAGE;
    PetscFunctionReturn(0);
  }
  if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  /* No MHD thread: MHD_run_wait below drives everything from this thread. */
  d = MHD_start_daemon(flags, 0, NULL, NULL, Handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                       MHD_OPTION_NOTIFY_COMPLETED, Completed, s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                       MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "mcmc-run: cannot listen on %s: %s\n", listen, strerror(errno));
    *code = MC_EXIT_RUNTIME;
    PetscFunctionReturn(0);
  }
  info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  if (addr.ss_family == AF_INET)
    inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, host, sizeof(host));
  else
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr)->sin6_addr, host, sizeof(host));
  printf("serving  UM-Bridge 1.0 on http://%s%s%s:%u: posterior [%d] -> [1], forward [%d] -> [%d], loglikelihood, "
         "logprior\n",
         addr.ss_family == AF_INET6 ? "[" : "", host, addr.ss_family == AF_INET6 ? "]" : "",
         info ? (unsigned)info->port : 0u, (int)s->pb->nparams, (int)s->pb->nparams, (int)s->pb->nobs);
  fflush(stdout);

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  stop_signal = 0;
  while (!stop_signal && !s->fatal && !s->exit_code)
    if (MHD_run_wait(d, 250) != MHD_YES && !stop_signal) {
      fprintf(stderr, "mcmc-run: the HTTP server failed\n");
      *code = MC_EXIT_RUNTIME;
      break;
    }
  MHD_stop_daemon(d);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);

  PetscCall(McMemGetUsage(&u));
  if (stop_signal) printf("stopped  on signal %d\n", (int)stop_signal);
  printf("served   %lld requests (%lld answered with an error)\n", (long long)s->requests, (long long)s->errors);
  if (s->baseline)
    printf("memory   %lld checks every %d requests after %d: %s; RSS %.1f MB at the baseline, %.1f MB now\n",
           (long long)s->nchecks, (int)s->cfg->memory.check_every, (int)PetscMax(s->cfg->memory.warmup, 1),
           s->exit_code == MC_EXIT_MEMORY ? "FAILED" : "live objects and bytes flat", s->base_rss / 1048576.0,
           u.rss_bytes / 1048576.0);
  else
    printf("memory   not checked (fewer requests than [memory] warmup, or check_every = 0)\n");
  fflush(stdout);
  if (s->exit_code) *code = s->exit_code;
  PetscCall(s->fatal);
  PetscFunctionReturn(0);
}

PetscErrorCode McServe(const char *config, const McRunOptions *opt, int *code)
{
  McConfig   *cfg = NULL;
  Server      s;
  char        msg[2048];
  PetscBool   valid;
  PetscMPIInt size;

  PetscFunctionBeginUser;
  *code = MC_EXIT_OK;
  PetscCall(PetscMemzero(&s, sizeof(s)));
  PetscCall(McConfigCreate(&cfg));
  PetscCall(McConfigLoad(cfg, config, msg, sizeof(msg), &valid));
  if (!valid) {
    fprintf(stderr, "%s\n", msg);
    *code = MC_EXIT_USAGE;
  }
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  if (valid && size > 1) {
    PetscCall(PetscFPrintf(PETSC_COMM_WORLD, stderr,
                           "mcmc-run: --serve runs on one MPI rank (started on %d); start one server per port "
                           "instead\n",
                           (int)size));
    *code = MC_EXIT_USAGE;
  }
  if (valid && cfg->model.kind != MC_MODEL_PDE) {
    fprintf(stderr, "%s: --serve serves the PDE model; [model] kind = \"umbridge\" has nothing to serve\n", config);
    *code = MC_EXIT_USAGE;
  }
  if (*code != MC_EXIT_OK) {
    PetscCall(McConfigDestroy(&cfg));
    PetscFunctionReturn(0);
  }
  McJsonUseProjectAllocator();
  PetscCall(McRunApplySolverOptions(cfg));
  s.cfg = cfg;
  printf("mcmc-run --serve %s\n", config);
  PetscCall(McConfigWriteSummary(cfg, stdout));
  PetscCall(McProblemCreate(cfg, &s.pb, msg, sizeof(msg), &valid));
  if (!valid) {
    fprintf(stderr, "%s\n", msg);
    *code = MC_EXIT_USAGE;
  } else {
    PetscCall(SetUpModels(&s));
    PetscCall(WarmUp(&s));
    PetscCall(Serve(&s, opt->listen ? opt->listen : MC_SERVE_DEFAULT_LISTEN, code));
  }
  PetscCall(ServerFree(&s));
  PetscCall(McConfigDestroy(&cfg));
  PetscFunctionReturn(0);
}
