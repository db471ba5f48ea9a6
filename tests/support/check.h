/* The C tests' failure counter. CHECK(cond, fmt, ...) prints
 * "FAIL file:line: " and the message when cond is false and counts the
 * failure; main returns failures != 0. A test that defines
 * MC_CHECK_VERBOSE 1 before including this also prints "ok   " and the
 * message of every check that holds, so its log shows the measured values
 * next to their tolerances. */
#pragma once

#include <stdio.h>

#ifndef MC_CHECK_VERBOSE
#define MC_CHECK_VERBOSE 0
#endif

static int failures;

#define CHECK(cond, ...)                                                                                               \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                                      \
      printf(__VA_ARGS__);                                                                                             \
      printf("\n");                                                                                                    \
      failures++;                                                                                                      \
    } else if (MC_CHECK_VERBOSE) {                                                                                     \
      printf("ok   ");                                                                                                 \
      printf(__VA_ARGS__);                                                                                             \
      printf("\n");                                                                                                    \
    }                                                                                                                  \
  } while (0)
