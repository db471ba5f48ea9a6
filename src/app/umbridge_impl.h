/* What the UM-Bridge server (serve.c) and client (umbridge_client.c) share:
 * the protocol's names and the JSON library's allocator.
 *
 * UM-Bridge 1.0 is HTTP + JSON: GET /Info, and POST /ModelInfo,
 * /InputSizes, /OutputSizes, /Evaluate, /Gradient, /ApplyJacobian,
 * /ApplyHessian with a JSON object naming the model. Errors are
 * {"error": {"type": T, "message": M}} with T one of the names below:
 * InvalidInput, UnsupportedFeature and ModelNotFound with HTTP 400,
 * InvalidOutput with HTTP 500. */
#pragma once
#include "app/app.h"

#include <jansson.h>

#define MC_UMB_PROTOCOL_VERSION 1.0

#define MC_UMB_INVALID_INPUT       "InvalidInput"
#define MC_UMB_UNSUPPORTED_FEATURE "UnsupportedFeature"
#define MC_UMB_MODEL_NOT_FOUND     "ModelNotFound"
#define MC_UMB_INVALID_OUTPUT      "InvalidOutput"

/* Makes jansson allocate through McMalloc/McFree, so the memory checks
 * count JSON documents like everything else (a request's documents are
 * freed before the next check, so a leak in their handling shows up as
 * growth). Idempotent; call before the first JSON value is made. */
void McJsonUseProjectAllocator(void);

/* The sampler's target for a problem whose model is remote
 * (pb->umb): the potential Phi(xi) and its gradient from the model's
 * Evaluate and Gradient, and the QoI "misfit" (= Phi). Called by
 * McProblemCreateTarget. Ownership: returns a new reference; borrows pb's
 * client, so pb must outlive the target. */
PetscErrorCode McUmbCreateTarget_Private(McProblem *pb, McTarget *target);
