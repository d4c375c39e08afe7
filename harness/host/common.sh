# shellcheck shell=bash
# Shared settings for the harness scripts (sourced, not executed).
# Paths can be overridden from the environment (TREE=..., OBJ_BASE=...).
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$TOP/build}
TREE=${TREE:-$BUILD/linux}
case $TREE in /*) ;; *) TREE=$TOP/$TREE ;; esac
OBJ_BASE=${OBJ_BASE:-$BUILD/obj}
case $OBJ_BASE in /*) ;; *) OBJ_BASE=$TOP/$OBJ_BASE ;; esac
LOGS=${LOGS:-$BUILD/logs}
KBUILD_LOCK=${KBUILD_LOCK:-$BUILD/.kbuild.lock}
# Debian's tools first in PATH, python3 above all: make setup installs the
# Python packages the harness and checkpatch's SPDX check use (python3-ply,
# python3-git) for Debian's python3, and a pyenv shim earlier in PATH has
# neither and costs 0.4 s a call (vm.py runs once per guest).
[ -x /usr/bin/python3 ] && export PATH=/usr/bin:/bin:$PATH
# One cache per user, as ccache's own default: every clone (CI's fresh ones
# included) reuses what an earlier one compiled.
export CCACHE_DIR=${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nvme-mpath-ccache}
# Relative paths in the cache keys: the bisect worktree (build/bisect/linux,
# objects in build/bisect/obj) then shares cache entries with build/linux.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$BUILD}
# The only absolute path left in the compiler flags; it maps the source tree
# away from __FILE__, so ignoring it in the cache key is safe.
export CCACHE_IGNOREOPTIONS=${CCACHE_IGNOREOPTIONS:-"-fmacro-prefix-map=*"}
# Depend mode: a miss costs the compile alone.  In ccache's default mode a
# miss also runs the preprocessor and hashes its output: a cold build of
# drivers/acpi/ took 96 s that way, 58 to 64 s in depend mode and 58 s
# without ccache (a warm one 9.0 s and 8.4 s).  Depend mode has no
# preprocessed-mode hits, which only the modular kernel used; it now
# starts from a copy of the test kernel's objects (build-kernel.sh).
# (CCACHE_NODEPEND, set to anything, turns it off: ccache reads a set
# CCACHE_DEPEND as true whatever its value, and refuses "0".)
[ -n "${CCACHE_NODEPEND+set}" ] || export CCACHE_DEPEND=1
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
# Every kernel make must use the same CC string, otherwise kbuild sees a
# changed command line and recompiles everything.
KCC="ccache gcc"

# Variables of the top Makefile (T=, S=, CMD=...) must not reach kbuild.
unset MAKEFLAGS MFLAGS MAKELEVEL

mkdir -p "$BUILD" "$LOGS"

die() { echo "ERROR: $*" >&2; exit 1; }
note() { echo "==> $*"; }

# kmake <objdir> <make args...>: a kernel make under the build lock.
kmake() {
	local obj=$1; shift
	mkdir -p "$obj"
	flock "$KBUILD_LOCK" make -C "$TREE" O="$obj" -j"$JOBS" CC="$KCC" "$@"
}

ccache_setup() {
	mkdir -p "$CCACHE_DIR"
	if [ ! -f "$CCACHE_DIR/ccache.conf" ] || ! grep -q '^max_size' "$CCACHE_DIR/ccache.conf"; then
		ccache --max-size=5G >/dev/null
	fi
}
