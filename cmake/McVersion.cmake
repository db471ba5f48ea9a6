# Writes generated/mc_version.h with the commit the sources are at. Run at
# every build (cmake -P, from the mc_version target), not only at configure
# time, so a binary never reports the commit of an older configure;
# configure_file leaves the header untouched while the commit is the same,
# so nothing recompiles then.
# Inputs: MC_SRC, MC_OUT, MC_PROJECT_VERSION, MC_BUILD_TYPE.
execute_process(COMMAND git -C ${MC_SRC} describe --always --dirty
                OUTPUT_VARIABLE MC_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET)
if(NOT MC_GIT_COMMIT)
  set(MC_GIT_COMMIT "unknown")
endif()
set(PROJECT_VERSION ${MC_PROJECT_VERSION})
set(CMAKE_BUILD_TYPE ${MC_BUILD_TYPE})
set(CMAKE_SOURCE_DIR ${MC_SRC})
configure_file(${MC_SRC}/cmake/mc_version.h.in ${MC_OUT} @ONLY)
