#!/bin/bash
# gen-config.sh <objdir> <fragment>...
# Produce <objdir>/.config = tinyconfig + fragments (merge_config.sh -m,
# then olddefconfig).  The existing .config is only replaced when the
# result differs, so an unchanged config keeps the build incremental.
set -eo pipefail
. "$(dirname "$0")/common.sh"
obj=$1; shift
[ $# -gt 0 ] || die "usage: gen-config.sh <objdir> <fragment>..."
mkdir -p "$obj"
obj=$(cd "$obj" && pwd)
frags=()
for f in "$@"; do frags+=("$(readlink -f "$f")"); done
set -- "${frags[@]}"
gen=$obj/.config.gen
rm -f "$gen"
(
	cd "$TREE"
	make -s O="$obj" KCONFIG_CONFIG="$gen" CC="$KCC" tinyconfig >/dev/null
	KCONFIG_CONFIG="$gen" scripts/kconfig/merge_config.sh -m -Q "$gen" "$@" >/dev/null
	make -s O="$obj" KCONFIG_CONFIG="$gen" CC="$KCC" olddefconfig >/dev/null
)
if cmp -s "$gen" "$obj/.config"; then
	rm -f "$gen"
else
	mv "$gen" "$obj/.config"
	echo "config updated: $obj/.config"
fi
