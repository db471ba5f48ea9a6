/* The application's long-lived parts are objects of the memory layer:
 * - a problem is a live "McProblem" while it exists, and McProblemDestroy
 *   takes it and everything it built (mesh, spaces, forward model, prior,
 *   posterior, ...) back to the live counts from before;
 * - a sampling run (McRunSample) makes exactly one "McRun", one "McProblem"
 *   and one "McOutput" (the created counts grow by one each), and when it
 *   returns none of them, nor anything else, is alive: live objects and
 *   live McMalloc bytes equal those from before the run. */
#include "app/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;

static void Expect(int ok, const char *what, long long got, long long want)
{
  if (!ok) failures++;
  printf("%s %s (%lld, expected %lld)\n", ok ? "ok  " : "FAIL", what, got, want);
}

static PetscInt64 Created(const McMemUsage *u, const char *type)
{
  for (PetscInt i = 0; i < u->ntypes; i++)
    if (!strcmp(u->types[i].name, type)) return u->types[i].created;
  return 0;
}

static const char *problem_config = "title = \"objects\"\n"
                                    "[mesh]\ncells = 4\n"
                                    "[prior]\ncorrelation_length = 0.5\n"
                                    "[observations]\ngrid = 3\n"
                                    "[output]\npath = \"objects.h5\"\n";

static PetscErrorCode TestProblem(void)
{
  McConfig  *cfg;
  McProblem *pb;
  McMemUsage u;
  PetscInt64 objects0, bytes0;
  char       msg[512];
  PetscBool  valid;

  PetscFunctionBeginUser;
  PetscCall(McConfigCreate(&cfg));
  PetscCall(McConfigLoadString(cfg, problem_config, strlen(problem_config), "objects.toml", msg, sizeof msg, &valid));
  PetscCheck(valid, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "%s", msg);
  PetscCall(McGCCollect(2, NULL));
  PetscCall(McMemGetLive(&objects0, &bytes0));
  PetscCall(McProblemCreateOnComm(cfg, PETSC_COMM_SELF, &pb, msg, sizeof msg, &valid));
  PetscCheck(valid, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "%s", msg);
  PetscCall(McMemGetUsage(&u));
  Expect(McMemUsageLive(&u, "McProblem") == 1, "a problem is a live McProblem", McMemUsageLive(&u, "McProblem"), 1);
  Expect(McObjectRefcount(pb) == 1, "its creator holds the only reference", McObjectRefcount(pb), 1);
  Expect(!McObjectIsTracked(pb), "a problem is not tracked by the collector (no cycle can pass through it)",
         McObjectIsTracked(pb), 0);
  Expect(McMemUsageLive(&u, "McMesh") == 1 && McMemUsageLive(&u, "McPosterior") == 1,
         "its mesh and posterior are alive", McMemUsageLive(&u, "McMesh") + McMemUsageLive(&u, "McPosterior"), 2);
  PetscCall(McProblemDestroy(&pb));
  Expect(pb == NULL, "McProblemDestroy clears the handle", pb != NULL, 0);
  PetscCall(McMemGetUsage(&u));
  Expect(McMemUsageLive(&u, "McProblem") == 0, "no McProblem after McProblemDestroy", McMemUsageLive(&u, "McProblem"),
         0);
  Expect(McMemUsageLive(&u, "McMesh") == 0 && McMemUsageLive(&u, "McSpace") == 0,
         "its mesh and spaces are gone (the cycle collected)",
         McMemUsageLive(&u, "McMesh") + McMemUsageLive(&u, "McSpace"), 0);
  Expect(u.live_objects == objects0, "live objects back to before the problem", u.live_objects, objects0);
  Expect(u.live_bytes == bytes0, "live McMalloc bytes back to before the problem", u.live_bytes, bytes0);
  PetscCall(McConfigDestroy(&cfg));
  PetscFunctionReturn(0);
}

static PetscErrorCode TestRun(const char *dir)
{
  char         path[PETSC_MAX_PATH_LEN], out[PETSC_MAX_PATH_LEN];
  FILE        *f;
  McRunOptions opt = {MC_RUN_SAMPLE, PETSC_TRUE, PETSC_TRUE, 0, NULL, NULL, NULL, -1, NULL};
  McMemUsage   u0, u1;
  int          code = -1;

  PetscFunctionBeginUser;
  PetscCall(PetscSNPrintf(path, sizeof path, "%s/run.toml", dir));
  PetscCall(PetscSNPrintf(out, sizeof out, "%s/run.h5", dir));
  f = fopen(path, "w");
  PetscCheck(f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
  fprintf(f,
          "title = \"objects\"\n[mesh]\ncells = 4\n[prior]\ncorrelation_length = 0.5\n[observations]\ngrid = 3\n"
          "[chain]\niterations = 300\nburn_in = 100\n[memory]\nwarmup = 50\ncheck_every = 100\n"
          "[output]\npath = \"%s\"\n",
          out);
  fclose(f);
  PetscCall(McGCCollect(2, NULL));
  PetscCall(McMemGetUsage(&u0));
  PetscCall(McRunSample(path, &opt, &code));
  PetscCall(McGCCollect(2, NULL));
  PetscCall(McMemGetUsage(&u1));
  Expect(code == MC_EXIT_OK, "the run succeeds", code, MC_EXIT_OK);
  Expect(Created(&u1, "McRun") - Created(&u0, "McRun") == 1, "the run was one McRun object",
         Created(&u1, "McRun") - Created(&u0, "McRun"), 1);
  Expect(Created(&u1, "McProblem") - Created(&u0, "McProblem") == 1, "its problem was one McProblem object",
         Created(&u1, "McProblem") - Created(&u0, "McProblem"), 1);
  Expect(Created(&u1, "McOutput") - Created(&u0, "McOutput") == 1, "its output file was one McOutput object",
         Created(&u1, "McOutput") - Created(&u0, "McOutput"), 1);
  Expect(McMemUsageLive(&u1, "McRun") + McMemUsageLive(&u1, "McProblem") + McMemUsageLive(&u1, "McOutput") == 0,
         "none of them is alive after the run",
         McMemUsageLive(&u1, "McRun") + McMemUsageLive(&u1, "McProblem") + McMemUsageLive(&u1, "McOutput"), 0);
  Expect(u1.live_objects == u0.live_objects, "live objects back to before the run", u1.live_objects, u0.live_objects);
  Expect(u1.live_bytes == u0.live_bytes, "live McMalloc bytes back to before the run", u1.live_bytes, u0.live_bytes);
  (void)unlink(out);
  (void)unlink(path);
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char dir[] = "/tmp/mc-objects-XXXXXX";

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCheck(mkdtemp(dir), PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot make a temporary directory");
  PetscCall(TestProblem());
  PetscCall(TestRun(dir));
  (void)rmdir(dir);
  printf("objects: %d failed\n", failures);
  PetscCall(PetscFinalize());
  return failures != 0;
}
