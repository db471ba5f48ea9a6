/* Open MPI settings for a program started without a launcher.
 *
 * The one idea: an MPI singleton (mcmc-run or mcmc-diag started without
 * mpiexec or srun) is one process and sends nothing to another, so its
 * point-to-point layer only ever talks to itself. Open MPI 4.1 still opens
 * every such layer at MPI_Init, and its "cm" layer probes the network
 * libraries (PSM, PSM2, OFI): about 0.2 s of each start, 40% of
 * `mcmc-run --check` on the test problem (0.52 s against 0.31 s). A
 * singleton therefore asks for ob1 (self and shared memory), unless the user
 * chose a pml. A process a launcher started keeps Open MPI's own choice:
 * across nodes the pml matters. */
#include "app/app.h"

#include <stdlib.h>

void McSingletonDefaults(void)
{
  /* Set by Open MPI's mpiexec, PMIx and PMI launchers (srun, Hydra). */
  static const char *const launched[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK",      "PMI_RANK", "PMI_SIZE", "PMI_FD",
                                         "SLURM_PROCID",         "MPI_LOCALNRANKS"};

  for (size_t i = 0; i < sizeof launched / sizeof launched[0]; i++)
    if (getenv(launched[i])) return;
  setenv("OMPI_MCA_pml", "ob1", 0);
}
