/* A UM-Bridge 1.0 client: one model on one server, over one persistent
 * HTTP connection (libcurl keeps it alive between requests).
 *
 * The one idea: a request is either answered, or it is a fault. The model
 * answering InvalidInput ("cannot be evaluated at this input") is an
 * answer -- a rejected proposal, like a failed forward solve in process.
 * A timeout, a refused connection or a 5xx answer may be passing (a server
 * restarting, a node overloaded), so it is retried after a wait that
 * doubles each time; only when the retries are used up is it a fault, which
 * stops the run. Request texts and the response buffer are allocated once
 * and reused, so a steady-state call allocates only its parsed JSON
 * document (through McMalloc, freed before the call returns). */
#include "app/umbridge_impl.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

struct McUmbClient_ {
  CURL              *curl;
  struct curl_slist *headers;
  char              *base; /* url without a trailing slash */
  char              *url;  /* base + route */
  size_t             url_cap;
  char              *head; /* {"name":...,"config":{...}  (no closing brace) */
  char              *req;  /* request text */
  size_t             req_len, req_cap;
  char              *resp; /* response text */
  size_t             resp_len, resp_cap;
  PetscInt           nin, nout;
  PetscBool          support[4]; /* Evaluate, Gradient, ApplyJacobian, ApplyHessian */
  PetscReal          timeout, backoff;
  PetscInt           retries;
  PetscInt64         calls, nretries;
  PetscReal          seconds;
  char               err[1024];
};

void McJsonUseProjectAllocator(void)
{
  json_set_alloc_funcs(McMallocHook, McFreeHook);
}

static void SetError(McUmbClient c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void SetError(McUmbClient c, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(c->err, sizeof(c->err), fmt, ap);
  va_end(ap);
}

/* Appends to a growing text buffer; 0 on success. */
static int Grow(char **buf, size_t *cap, size_t need)
{
  size_t n;

  if (need <= *cap) return 0;
  n = PetscMax(2 * *cap, need + 256);
  if (McRealloc(n, buf)) return 1;
  *cap = n;
  return 0;
}

static size_t OnData(char *ptr, size_t size, size_t nmemb, void *ctx)
{
  McUmbClient c = ctx;
  size_t      n = size * nmemb;

  if (Grow(&c->resp, &c->resp_cap, c->resp_len + n + 1)) return 0;
  memcpy(c->resp + c->resp_len, ptr, n);
  c->resp_len += n;
  c->resp[c->resp_len] = '\0';
  return n;
}

static int ReqAppend(McUmbClient c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ReqAppend(McUmbClient c, const char *fmt, ...)
{
  va_list ap;
  int     n;

  for (;;) {
    va_start(ap, fmt);
    n = vsnprintf(c->req + c->req_len, c->req_cap - c->req_len, fmt, ap);
    va_end(ap);
    if (n < 0) return 1;
    if ((size_t)n < c->req_cap - c->req_len) break;
    if (Grow(&c->req, &c->req_cap, c->req_len + (size_t)n + 1)) return 1;
  }
  c->req_len += (size_t)n;
  return 0;
}

/* ,"key":[x0,...] with every double written to round-trip exactly. */
static int ReqArray(McUmbClient c, const char *key, const PetscReal *x, PetscInt n, int nested)
{
  if (ReqAppend(c, ",\"%s\":%s[", key, nested ? "[" : "")) return 1;
  for (PetscInt i = 0; i < n; i++)
    if (ReqAppend(c, "%s%.17g", i ? "," : "", (double)x[i])) return 1;
  return ReqAppend(c, "]%s", nested ? "]" : "");
}

static void Sleep(PetscReal s)
{
  struct timespec ts;

  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (PetscReal)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) && errno == EINTR) {}
}

/* One request with retries. *doc is the parsed answer (new reference) with
 * its HTTP status, or NULL with a fault described in c->err. */
static PetscErrorCode Request(McUmbClient c, const char *route, PetscBool post, json_t **doc, long *status)
{
  PetscLogDouble t0, t1;
  PetscReal      wait = c->backoff;
  size_t         blen = strlen(c->base);

  PetscFunctionBeginUser;
  *doc = NULL;
  *status = 0;
  PetscCheck(!Grow(&c->url, &c->url_cap, blen + strlen(route) + 1), PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory");
  memcpy(c->url, c->base, blen);
  strcpy(c->url + blen, route);
  curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
  if (post) {
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, c->req);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->req_len);
  } else {
    curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
  }
  PetscCall(PetscTime(&t0));
  for (PetscInt attempt = 0;; attempt++) {
    CURLcode     rc;
    json_error_t jerr;

    c->resp_len = 0;
    if (c->resp) c->resp[0] = '\0';
    rc = curl_easy_perform(c->curl);
    c->calls++;
    if (rc == CURLE_OK) {
      curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
      if (*status < 500) {
        *doc = json_loadb(c->resp ? c->resp : "", c->resp_len, 0, &jerr);
        if (!*doc)
          SetError(c, "%s%s answered HTTP %ld with a body that is not JSON: %s", c->base, route, *status, jerr.text);
        break;
      }
      SetError(c, "%s%s answered HTTP %ld: %.300s", c->base, route, *status, c->resp ? c->resp : "");
    } else {
      SetError(c, "%s%s: %s", c->base, route, curl_easy_strerror(rc));
    }
    if (attempt >= c->retries) {
      size_t n = strlen(c->err);
      snprintf(c->err + n, sizeof(c->err) - n, " (%d attempt%s)", (int)attempt + 1, attempt ? "s" : "");
      break;
    }
    c->nretries++;
    Sleep(wait);
    wait *= 2;
  }
  PetscCall(PetscTime(&t1));
  c->seconds += (PetscReal)(t1 - t0);
  PetscFunctionReturn(0);
}

/* The error object of an answer, if it has one. */
static int ErrorOf(json_t *doc, const char **type, const char **message)
{
  json_t *e = json_object_get(doc, "error");

  if (!json_is_object(e)) return 0;
  *type = json_string_value(json_object_get(e, "type"));
  *message = json_string_value(json_object_get(e, "message"));
  if (!*type) *type = "(no type)";
  if (!*message) *message = "(no message)";
  return 1;
}

/* A JSON array of n numbers into x; 0 on success. */
static int Numbers(json_t *a, PetscInt n, PetscReal *x)
{
  if (!json_is_array(a) || (PetscInt)json_array_size(a) != n) return 1;
  for (PetscInt i = 0; i < n; i++) {
    json_t *v = json_array_get(a, (size_t)i);
    if (!json_is_number(v)) return 1;
    x[i] = json_number_value(v);
  }
  return 0;
}

/* A sizes answer {"inputSizes": [n]}: exactly one vector. */
static int OneSize(McUmbClient c, json_t *doc, const char *key, PetscInt *n)
{
  json_t *a = json_object_get(doc, key);

  if (!json_is_array(a) || json_array_size(a) != 1 || !json_is_integer(json_array_get(a, 0)) ||
      json_integer_value(json_array_get(a, 0)) < 1) {
    SetError(c,
             "%s: \"%s\" must be one positive size (mcmc-run samples models with one input and one output "
             "vector)",
             c->base, key);
    return 1;
  }
  *n = (PetscInt)json_integer_value(json_array_get(a, 0));
  return 0;
}

PetscErrorCode McUmbClientCreate(const McUmbClientSpec *spec, McUmbClient *client, char *msg, size_t len,
                                 PetscBool *valid)
{
  McUmbClient  c;
  json_t      *doc = NULL, *cfg, *head;
  json_error_t jerr;
  long         status;
  const char  *type, *message, *routes[2] = {"/InputSizes", "/OutputSizes"};
  size_t       n;
  PetscBool    listed = PETSC_FALSE;

  PetscFunctionBeginUser;
  *valid = PETSC_TRUE;
  McJsonUseProjectAllocator();
  PetscCall(McCalloc(sizeof(*c), &c));
  *client = c;
  c->timeout = spec->timeout;
  c->retries = spec->retries;
  c->backoff = spec->backoff;
  n = strlen(spec->url);
  while (n && spec->url[n - 1] == '/')
    n--;
  PetscCall(McMalloc(n + 1, &c->base));
  memcpy(c->base, spec->url, n);
  c->base[n] = '\0';
  cfg = json_loads(spec->config, 0, &jerr);
  if (!json_is_object(cfg)) {
    snprintf(msg, len, "[model] config is not a JSON object: %s", cfg ? "another JSON value" : jerr.text);
    json_decref(cfg);
    *valid = PETSC_FALSE;
    PetscFunctionReturn(0);
  }
  head = json_pack("{s:s,s:o}", "name", spec->name, "config", cfg);
  PetscCheck(head, PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory");
  n = json_dumpb(head, NULL, 0, JSON_COMPACT);
  PetscCall(McMalloc(n + 1, &c->head));
  json_dumpb(head, c->head, n, JSON_COMPACT);
  c->head[n - 1] = '\0'; /* drop the closing brace: requests continue the object */
  json_decref(head);

  PetscCheck(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK, PETSC_COMM_SELF, PETSC_ERR_LIB,
             "libcurl could not be initialised");
  c->curl = curl_easy_init();
  PetscCheck(c->curl, PETSC_COMM_SELF, PETSC_ERR_LIB, "libcurl could not make a handle");
  /* "Expect:" off: libcurl would otherwise wait for a 100-continue before
   * sending bodies over 1 kB, one more round trip per call. */
  c->headers = curl_slist_append(NULL, "Content-Type: application/json");
  c->headers = curl_slist_append(c->headers, "Expect:");
  curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
  curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, OnData);
  curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
  curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)ceil(1000 * spec->timeout));
  curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)ceil(1000 * spec->timeout));

  /* GET /Info: the protocol version and the model's name. */
  PetscCall(Request(c, "/Info", PETSC_FALSE, &doc, &status));
  if (!doc || status != 200) {
    snprintf(msg, len, "[model] url: no UM-Bridge server answers: %s", doc ? c->resp : c->err);
    goto invalid;
  }
  if (json_number_value(json_object_get(doc, "protocolVersion")) != MC_UMB_PROTOCOL_VERSION) {
    snprintf(msg, len, "[model] url: %s speaks UM-Bridge protocol %g; mcmc-run speaks 1.0", c->base,
             json_number_value(json_object_get(doc, "protocolVersion")));
    goto invalid;
  }
  {
    json_t *names = json_object_get(doc, "models"), *v;
    size_t  i;
    json_array_foreach(names, i, v) if (json_is_string(v) && !strcmp(json_string_value(v), spec->name)) listed =
        PETSC_TRUE;
    if (!listed) {
      char *list = json_dumps(names, JSON_COMPACT);
      snprintf(msg, len, "[model] name = \"%s\": %s has no such model; it has %s", spec->name, c->base,
               list ? list : "none");
      McFreeHook(list);
      goto invalid;
    }
  }
  json_decref(doc);

  /* ModelInfo, then the sizes (with our config: a server that refuses it
   * says so here, before the run). */
  c->req_len = 0;
  PetscCheck(!ReqAppend(c, "%s}", c->head), PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory");
  PetscCall(Request(c, "/ModelInfo", PETSC_TRUE, &doc, &status));
  if (!doc || status != 200) {
    snprintf(msg, len, "[model] %s/ModelInfo failed: %s", c->base, doc ? c->resp : c->err);
    goto invalid;
  }
  {
    static const char *feat[4] = {"Evaluate", "Gradient", "ApplyJacobian", "ApplyHessian"};
    json_t            *sup = json_object_get(doc, "support");
    for (int f = 0; f < 4; f++)
      c->support[f] = json_is_true(json_object_get(sup, feat[f])) ? PETSC_TRUE : PETSC_FALSE;
  }
  json_decref(doc);
  if (!c->support[0]) {
    snprintf(msg, len, "[model] name = \"%s\": the model does not support Evaluate", spec->name);
    doc = NULL;
    goto invalid;
  }
  for (int r = 0; r < 2; r++) {
    PetscCall(Request(c, routes[r], PETSC_TRUE, &doc, &status));
    if (doc && ErrorOf(doc, &type, &message)) {
      snprintf(msg, len, "[model] %s%s: %s: %s", c->base, routes[r], type, message);
      goto invalid;
    }
    if (!doc || status != 200) {
      snprintf(msg, len, "[model] %s%s failed: %s", c->base, routes[r], doc ? c->resp : c->err);
      goto invalid;
    }
    if (OneSize(c, doc, r ? "outputSizes" : "inputSizes", r ? &c->nout : &c->nin)) {
      snprintf(msg, len, "[model] %s", c->err);
      goto invalid;
    }
    json_decref(doc);
  }
  /* The request buffer for the largest request (input and sens, 25 bytes
   * a number), so steady-state calls never grow it. */
  PetscCheck(!Grow(&c->req, &c->req_cap, strlen(c->head) + 64 + 25 * (size_t)(c->nin + c->nout)), PETSC_COMM_SELF,
             PETSC_ERR_MEM, "out of memory");
  PetscFunctionReturn(0);
invalid:
  json_decref(doc);
  *valid = PETSC_FALSE;
  PetscFunctionReturn(0);
}

PetscErrorCode McUmbClientDestroy(McUmbClient *client)
{
  McUmbClient c = *client;

  PetscFunctionBeginUser;
  *client = NULL;
  if (!c) PetscFunctionReturn(0);
  if (c->curl) {
    curl_easy_cleanup(c->curl);
    curl_global_cleanup();
  }
  curl_slist_free_all(c->headers);
  PetscCall(McFree(&c->base));
  PetscCall(McFree(&c->url));
  PetscCall(McFree(&c->head));
  PetscCall(McFree(&c->req));
  PetscCall(McFree(&c->resp));
  PetscCall(McFree(&c));
  PetscFunctionReturn(0);
}

PetscErrorCode McUmbClientGetSizes(McUmbClient c, PetscInt *nin, PetscInt *nout)
{
  PetscFunctionBeginUser;
  if (nin) *nin = c->nin;
  if (nout) *nout = c->nout;
  PetscFunctionReturn(0);
}

PetscErrorCode McUmbClientSupports(McUmbClient c, PetscBool *evaluate, PetscBool *gradient, PetscBool *jacobian,
                                   PetscBool *hessian)
{
  PetscFunctionBeginUser;
  if (evaluate) *evaluate = c->support[0];
  if (gradient) *gradient = c->support[1];
  if (jacobian) *jacobian = c->support[2];
  if (hessian) *hessian = c->support[3];
  PetscFunctionReturn(0);
}

const char *McUmbClientGetError(McUmbClient c)
{
  return c->err;
}

PetscErrorCode McUmbClientGetStats(McUmbClient c, PetscInt64 *calls, PetscInt64 *retries, PetscReal *seconds)
{
  PetscFunctionBeginUser;
  if (calls) *calls = c->calls;
  if (retries) *retries = c->nretries;
  if (seconds) *seconds = c->seconds;
  PetscFunctionReturn(0);
}

/* Sends the request in c->req to route and reads "output" into out[n]
 * (nested: [[...]], Evaluate's form). */
static PetscErrorCode Call(McUmbClient c, const char *route, PetscInt n, int nested, PetscReal *out, McUmbStatus *st)
{
  json_t     *doc, *o;
  long        status;
  const char *type, *message;

  PetscFunctionBeginUser;
  PetscCall(Request(c, route, PETSC_TRUE, &doc, &status));
  *st = MC_UMB_FAULT;
  if (!doc) PetscFunctionReturn(0);
  if (ErrorOf(doc, &type, &message)) {
    SetError(c, "%s%s: HTTP %ld %s: %s", c->base, route, status, type, message);
    if (status == 400 && !strcmp(type, MC_UMB_INVALID_INPUT)) *st = MC_UMB_REJECTED;
  } else if (status != 200) {
    SetError(c, "%s%s answered HTTP %ld: %.300s", c->base, route, status, c->resp);
  } else {
    o = json_object_get(doc, "output");
    if (nested) o = json_is_array(o) && json_array_size(o) == 1 ? json_array_get(o, 0) : NULL;
    if (Numbers(o, n, out))
      SetError(c, "%s%s: the answer has no \"output\" of %d numbers", c->base, route, (int)n);
    else
      *st = MC_UMB_OK;
  }
  json_decref(doc);
  PetscFunctionReturn(0);
}

PetscErrorCode McUmbClientEvaluate(McUmbClient c, const PetscReal *x, PetscReal *out, McUmbStatus *st)
{
  PetscFunctionBeginUser;
  c->req_len = 0;
  PetscCheck(!ReqAppend(c, "%s", c->head) && !ReqArray(c, "input", x, c->nin, 1) && !ReqAppend(c, "}"), PETSC_COMM_SELF,
             PETSC_ERR_MEM, "out of memory");
  PetscCall(Call(c, "/Evaluate", c->nout, 1, out, st));
  PetscFunctionReturn(0);
}

PetscErrorCode McUmbClientGradient(McUmbClient c, const PetscReal *x, const PetscReal *sens, PetscReal *g,
                                   McUmbStatus *st)
{
  PetscFunctionBeginUser;
  PetscCheck(c->support[1], PETSC_COMM_SELF, PETSC_ERR_SUP, "the UM-Bridge model does not support Gradient");
  c->req_len = 0;
  PetscCheck(!ReqAppend(c, "%s,\"outWrt\":0,\"inWrt\":0", c->head) && !ReqArray(c, "input", x, c->nin, 1) &&
                 !ReqArray(c, "sens", sens, c->nout, 0) && !ReqAppend(c, "}"),
             PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory");
  PetscCall(Call(c, "/Gradient", c->nin, 0, g, st));
  PetscFunctionReturn(0);
}
