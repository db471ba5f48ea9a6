# Shared set-up for scripts/run and scripts/test (sourced, not run):
# installs the Debian packages the project needs when any is missing, then
# configures and builds into a build directory. Idempotent: when everything
# is in place it costs a dpkg query and a no-op make.

MC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Build and run-time dependencies, and what the tests use (python3-h5py and
# numpy read output files, xarray/h5netcdf/netcdf4 check that the readers
# users have open them; valgrind checks the object layer; clang builds the
# fuzz targets; libmicrohttpd, jansson and libcurl speak UM-Bridge).
MC_PACKAGES=(
  build-essential cmake pkg-config git
  petsc-dev slepc-dev libgsl-dev libfftw3-dev libhdf5-openmpi-dev hdf5-tools openmpi-bin
  libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev
  python3 python3-numpy python3-h5py python3-xarray python3-h5netcdf python3-netcdf4
  python3-matplotlib
  paraview python3-paraview
  valgrind clang libclang-rt-14-dev
)

mc_log() { printf 'mcmc-run setup: %s\n' "$*" >&2; }

mc_install_packages() {
  local missing=() p
  for p in "${MC_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  mc_log "installing ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { mc_log "need root or sudo to install packages"; return 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq || return 1
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || return 1
}

# mc_build BUILD_DIR [cmake -D options...]: configure when needed, then build.
mc_build() {
  local dir=$1
  shift
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    mc_log "configuring $dir"
    cmake -S "$MC_ROOT" -B "$dir" "$@" >"$dir.configure.log" 2>&1 || {
      cat "$dir.configure.log" >&2
      return 1
    }
  fi
  cmake --build "$dir" -j "$(nproc)" >"$dir.build.log" 2>&1 || {
    grep -E 'error|Error' "$dir.build.log" >&2 || tail -40 "$dir.build.log" >&2
    mc_log "build failed; full log in $dir.build.log"
    return 1
  }
}

# Open MPI refuses to run as root unless told; these machines run as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
