/* Internals shared by the files of src/diag/. Nothing outside src/diag/
 * includes this. */
#pragma once

#include "diag/diag.h"

/* Sorts S values without NaN: perm (S entries) gets the indices of x in
 * ascending order, and sorted, if not NULL, the values in that order.
 * -0 sorts just before +0 (adjacent, as equal values must be for the
 * ranks' ties). Ownership: borrows x; perm and sorted are the caller's. */
PetscErrorCode McDiagSort(PetscInt S, const PetscReal *x, PetscInt *perm, PetscReal *sorted);
