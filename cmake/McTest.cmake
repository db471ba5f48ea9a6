# mc_add_test(NAME <name> LABELS <label>... [SOURCES <file.c>...] [COMMAND <cmd>...]
#             [MPI <nranks>] [ARGS <arg>...] [TIMEOUT <s>] [WILL_FAIL]
#             [PASS_REGEX <re>] [ENV <VAR=value>...])
#
# A test is either a C program built from SOURCES (linked with the core
# library) and run with ARGS, or an arbitrary COMMAND. MPI runs the program
# through the mpiexec CMake found, with the flags root needs on these machines.
#
# Most tests start mcmc-run or a test program as an MPI singleton, hundreds
# of times in all. Open MPI 4.1 opens its cm pml at each start, which
# probes the network libraries (~0.2 s); on one node ob1 uses shared memory
# and starts at once. mcmc-run and mcmc-diag ask for it themselves as
# singletons (src/app/singleton.c), the test programs do not. Not set:
# ess_singleton_isolated=1, which skips the singleton's orted (another
# ~0.12 s) but gives every isolated singleton the same job id and so the
# same session directory (/tmp/ompi.<host>.<uid>/jf.0/1): two of them
# starting at once race on creating it and one fails in MPI_Init ("A call
# to mkdir was unable to create the desired directory ... File exists"),
# as 1 in 45 runs of app_exit_codes did with three running side by side.
# The sanitizer build's leak check: tests/lsan.supp says why frame-pointer
# unwinding (fast_unwind_on_malloc=1) is enough to attribute every leak.
set(MC_MPIEXEC_FLAGS --oversubscribe --bind-to none)
set(MC_TEST_ENV OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
    OMPI_MCA_pml=ob1
    MC_SOURCE_DIR=${CMAKE_SOURCE_DIR} MC_BIN_DIR=${CMAKE_BINARY_DIR}/bin
    ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=1
    LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp:print_suppressions=0)

function(mc_add_test)
  cmake_parse_arguments(T "WILL_FAIL" "NAME;MPI;TIMEOUT;PASS_REGEX"
                        "LABELS;SOURCES;COMMAND;ARGS;ENV" ${ARGN})
  if(T_SOURCES)
    add_executable(${T_NAME} ${T_SOURCES})
    target_link_libraries(${T_NAME} PRIVATE mccore)
    set_target_properties(${T_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY
                          ${CMAKE_BINARY_DIR}/tests/bin)
    set(cmd $<TARGET_FILE:${T_NAME}>)
  else()
    set(cmd ${T_COMMAND})
  endif()
  if(T_MPI)
    set(cmd ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${T_MPI} ${MC_MPIEXEC_FLAGS} ${cmd})
  endif()
  add_test(NAME ${T_NAME} COMMAND ${cmd} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
                       ENVIRONMENT "${MC_TEST_ENV};${T_ENV}")
  if(T_MPI)
    set_property(TEST ${T_NAME} APPEND PROPERTY LABELS mpi)
    set_tests_properties(${T_NAME} PROPERTIES PROCESSORS ${T_MPI})
  endif()
  if(T_WILL_FAIL)
    set_tests_properties(${T_NAME} PROPERTIES WILL_FAIL TRUE)
  endif()
  if(T_PASS_REGEX)
    set_tests_properties(${T_NAME} PROPERTIES PASS_REGULAR_EXPRESSION "${T_PASS_REGEX}")
  endif()
endfunction()
