/* Linked into every program of the sanitizer build only.
 *
 * Open MPI loads its components with dlopen and unloads them with dlclose at
 * MPI_Finalize, leaving allocations that LeakSanitizer then reports from
 * "<unknown module>": no suppression can name them, so every MPI program
 * would fail. Defining dlclose in the executable interposes libc's for all
 * libraries: components stay mapped, their frames get names, and
 * tests/lsan.supp can suppress exactly the third-party modules while leaks
 * in our own code are still reported. */
int dlclose(void *handle);

int dlclose(void *handle)
{
  (void)handle;
  return 0;
}
