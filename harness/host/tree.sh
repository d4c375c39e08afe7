#!/bin/bash
# tree.sh: make $TREE (default build/linux) = Debian's linux-source-6.12
# tarball committed as tag `base`, plus every patch of patches/series applied
# with `git am`.
#
# Safe by default: a tree that holds commits or changes not in patches/ is
# never reset (run `make export` first, or FORCE=1 to throw them away).
# A tree that is only behind patches/ is brought up to date: by applying the
# missing patches when its commits are a prefix of the series, by resetting
# to `base` and re-applying otherwise.
set -eo pipefail
. "$(dirname "$0")/common.sh"
PATCHES=${PATCHES:-$TOP/patches}
TARBALL=${TARBALL:-/usr/src/linux-source-6.12.tar.xz}
STAMP=$TREE/.git/nvme-mpath-tree
FORCE=${FORCE:-0}
# --auto (used by make kernel/vm/...): a tree with local work is built as it
# is, with a note, instead of refusing.
AUTO=0
[ "${1:-}" = --auto ] && AUTO=1
# Fixed identity and date for the base commit, so that it is reproducible.
BASE_DATE="2024-11-17T00:00:00+0000"
BASE_NAME="linux-source-6.12"
BASE_EMAIL="debian-kernel@lists.debian.org"

series() {
	[ -f "$PATCHES/series" ] || return 0
	sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^[[:space:]]*$/d' "$PATCHES/series"
}

patches_hash() {
	{ series; series | while read -r p; do cat "$PATCHES/$p"; done; } | sha256sum | cut -d' ' -f1
}

installed_version() {
	dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || echo unknown
}

check_base_version() {
	local inst tested
	inst=$(installed_version)
	tested=$(cat "$PATCHES/BASE" 2>/dev/null || echo unknown)
	if [ "$inst" != "$tested" ]; then
		if dpkg --compare-versions "$inst" gt "$tested" 2>/dev/null; then
			note "note: installed linux-source-6.12 $inst is newer than the tested base $tested (patches/BASE); trying anyway"
		else
			note "note: installed linux-source-6.12 $inst differs from the tested base $tested (patches/BASE)"
		fi
	fi
}

base_subject() {
	echo "Linux $(tar_version) (Debian linux-source-6.12 $(installed_version))"
}

tar_version() {
	# upstream version from the Debian version (6.12.117-1~deb12u1 -> 6.12.117)
	installed_version | sed 's/-.*//'
}

create_base() {
	local dest=$1
	[ -f "$TARBALL" ] || die "$TARBALL missing (make setup)"
	note "extracting $(basename "$TARBALL") into ${dest#"$TOP"/}"
	rm -rf "$dest"
	mkdir -p "$dest"
	tar -xf "$TARBALL" -C "$dest" --strip-components=1
	(
		cd "$dest"
		git init -q -b main
		git config core.autocrlf false
		note "committing the base tree (git add -f -A)"
		git add -f -A
		GIT_AUTHOR_NAME=$BASE_NAME GIT_AUTHOR_EMAIL=$BASE_EMAIL GIT_AUTHOR_DATE=$BASE_DATE \
		GIT_COMMITTER_NAME=$BASE_NAME GIT_COMMITTER_EMAIL=$BASE_EMAIL GIT_COMMITTER_DATE=$BASE_DATE \
			git commit -q --no-verify -m "$(base_subject)"
		git tag base
	)
	note "base commit $(git -C "$dest" rev-parse --short base): $(git -C "$dest" log -1 --format=%s base)"
}

# apply_patches <first-index>: git am patches from the series, 0-based index.
# One git am for them all: each git am refreshes the index of the whole
# tree first (64 patches: 42 s one by one, 6 s at once).  A patch that does
# not apply stops it with the patches before it applied, as one by one.
apply_patches() {
	local p out before n names=() files=()
	mapfile -t names < <(series | tail -n +$(($1 + 1)))
	[ ${#names[@]} -gt 0 ] || return 0
	for p in "${names[@]}"; do
		[ -f "$PATCHES/$p" ] || die "patches/series lists $p, which does not exist"
		files+=("$PATCHES/$p")
	done
	before=$(git -C "$TREE" rev-list --count HEAD)
	if out=$(git -C "$TREE" am -q --no-3way --committer-date-is-author-date "${files[@]}" 2>&1); then
		printf '  applied %s\n' "${names[@]}"
		return
	fi
	n=$(( $(git -C "$TREE" rev-list --count HEAD) - before ))
	# --quit keeps the patches applied before the failing one (a patch
	# git am could not apply left nothing behind)
	git -C "$TREE" am --quit >/dev/null 2>&1 || true
	[ "$n" -gt 0 ] && printf '  applied %s\n' "${names[@]:0:$n}"
	echo "FAIL: patch ${names[$n]} does not apply:" >&2
	echo "$out" | grep -vE "^hint:|^When you have|^If you prefer|^To restore" | sed "s/^/    /" >&2
	exit 1
}

write_stamp() {
	echo "$(patches_hash) $(git -C "$TREE" rev-parse HEAD)" > "$STAMP"
}

commit_ids() {
	local c
	for c in $(git -C "$TREE" rev-list --reverse base..HEAD); do
		git -C "$TREE" show --format= "$c" | git patch-id --stable | cut -d' ' -f1
	done
}

patch_ids() {
	local p
	series | while read -r p; do
		git patch-id --stable < "$PATCHES/$p" | cut -d' ' -f1
	done
}

check_base_version

if [ ! -e "$TREE" ]; then
	create_base "$TREE"
	apply_patches 0
	write_stamp
	note "tree ready: ${TREE#"$TOP"/} at $(git -C "$TREE" log -1 --format='%h %s')"
	exit 0
fi

if [ ! -d "$TREE/.git" ] || ! git -C "$TREE" rev-parse -q --verify base >/dev/null; then
	[ "$FORCE" = 1 ] || die "${TREE#"$TOP"/} exists but is not a git tree with tag 'base'; FORCE=1 recreates it"
	create_base "$TREE"
	apply_patches 0
	write_stamp
	exit 0
fi

if [ -d "$TREE/.git/rebase-apply" ] || [ -d "$TREE/.git/rebase-merge" ]; then
	[ "$FORCE" = 1 ] || die "a git am/rebase is in progress in ${TREE#"$TOP"/}; finish or abort it (or FORCE=1)"
	git -C "$TREE" am --abort >/dev/null 2>&1 || git -C "$TREE" rebase --abort >/dev/null 2>&1 || true
fi

base_ok=1
if [ "$(git -C "$TREE" log -1 --format=%s base)" != "$(base_subject)" ]; then
	base_ok=0
	note "the tree's base ($(git -C "$TREE" log -1 --format=%s base)) is not the installed source ($(base_subject))"
fi

head=$(git -C "$TREE" rev-parse HEAD)
hash=$(patches_hash)
stamp_hash="" stamp_head=""
[ -f "$STAMP" ] && read -r stamp_hash stamp_head < "$STAMP"

dirty=$(git -C "$TREE" status --porcelain --untracked-files=no | head -5)

if [ "$FORCE" = 1 ]; then
	note "FORCE=1: resetting ${TREE#"$TOP"/} to patches/"
	if [ $base_ok = 1 ]; then
		git -C "$TREE" checkout -q -f main 2>/dev/null || git -C "$TREE" checkout -q -f -B main
		git -C "$TREE" reset -q --hard base
	else
		create_base "$TREE"
	fi
	apply_patches 0
	write_stamp
	exit 0
fi

if [ -n "$dirty" ]; then
	if [ $AUTO = 1 ]; then
		note "note: ${TREE#"$TOP"/} has uncommitted changes: using it as it is"
		exit 0
	fi
	die "${TREE#"$TOP"/} has uncommitted changes; commit them (then make export) or FORCE=1:
$dirty"
fi

if [ "$hash" = "$stamp_hash" ] && [ "$head" = "$stamp_head" ] && [ $base_ok = 1 ]; then
	echo "tree up to date: $(git -C "$TREE" log -1 --format='%h %s')"
	exit 0
fi

mapfile -t tids < <(commit_ids)
mapfile -t pids < <(patch_ids)
prefix=1
if [ ${#tids[@]} -le ${#pids[@]} ]; then
	for i in "${!tids[@]}"; do
		[ "${tids[$i]}" = "${pids[$i]}" ] || { prefix=0; break; }
	done
else
	prefix=0
fi

if [ $base_ok = 1 ] && [ $prefix = 1 ]; then
	if [ ${#tids[@]} -eq ${#pids[@]} ]; then
		echo "tree in sync with patches/: $(git -C "$TREE" log -1 --format='%h %s')"
	else
		note "applying $(( ${#pids[@]} - ${#tids[@]} )) new patch(es) on top of ${TREE#"$TOP"/}"
		apply_patches ${#tids[@]}
	fi
	write_stamp
	exit 0
fi

# The tree differs from patches/.  Only throw it away when it holds nothing
# but what an earlier run of this script made.
if [ "$head" != "$stamp_head" ]; then
	if [ $AUTO = 1 ]; then
		note "note: ${TREE#"$TOP"/} has commits not in patches/ (make export writes them): using it as it is"
		exit 0
	fi
	die "${TREE#"$TOP"/} has commits that are not in patches/ (HEAD $(git -C "$TREE" log -1 --format='%h %s')).
Run 'make export' to write them to patches/, or FORCE=1 make tree to discard them."
fi
note "patches/ changed since ${TREE#"$TOP"/} was made: recreating it"
if [ $base_ok = 1 ]; then
	git -C "$TREE" checkout -q -f main 2>/dev/null || true
	git -C "$TREE" reset -q --hard base
else
	create_base "$TREE"
fi
apply_patches 0
write_stamp
note "tree ready: $(git -C "$TREE" log -1 --format='%h %s')"
