#!/bin/bash
# export.sh: write the commits base..HEAD of $TREE to patches/ as a numbered
# git format-patch series with a cover letter, rewrite patches/series and
# remove stale patch files.  Running it twice gives byte-identical files.
#
# The cover letter's subject and blurb come from patches/cover-letter.txt
# (first line: subject; then a blank line; then the blurb).  Its Date is
# HEAD's author date, so that nothing churns.
set -eo pipefail
. "$(dirname "$0")/common.sh"
PATCHES=${PATCHES:-$TOP/patches}
COVER_SRC=$PATCHES/cover-letter.txt
[ -d "$TREE/.git" ] || die "no tree at $TREE (make tree)"
git -C "$TREE" rev-parse -q --verify base >/dev/null || die "$TREE has no tag 'base'"
[ -f "$COVER_SRC" ] || die "$COVER_SRC missing"

subject=$(head -n1 "$COVER_SRC")
blurb=$(tail -n +3 "$COVER_SRC")
n=$(git -C "$TREE" rev-list --count base..HEAD)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [ "$n" -gt 0 ]; then
	git -C "$TREE" -c core.abbrev=12 -c diff.noprefix=false -c format.signature= \
		format-patch -q --zero-commit --no-signature --cover-letter --numbered \
		--no-base --thread=shallow --no-to --no-cc -o "$out" base..HEAD
	cover=$(ls "$out"/0000-*.patch)
	date=$(git -C "$TREE" log -1 --format=%aD HEAD)
	python3 "$(dirname "$0")/cover_letter.py" "$cover" "$subject" "$date" "$blurb"
	# format-patch names the cover letter 0000-cover-letter.patch
	[ -f "$out/0000-cover-letter.patch" ] || mv "$cover" "$out/0000-cover-letter.patch"
	# Message-Id/In-Reply-To headers carry timestamps: drop them.
	sed -i -e '/^Message-Id: /d' -e '/^In-Reply-To: /d' -e '/^References: /d' "$out"/*.patch
else
	# No commits: keep a cover letter with an empty series.
	if [ -f "$PATCHES/0000-cover-letter.patch" ]; then
		cp "$PATCHES/0000-cover-letter.patch" "$out/"
	else
		{
			echo "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001"
			echo "From: $(git -C "$TREE" config user.name) <$(git -C "$TREE" config user.email)>"
			echo "Date: $(git -C "$TREE" log -1 --format=%aD HEAD)"
			echo "Subject: [PATCH 0/0] $subject"
			echo
			echo "$blurb"
			echo
			echo "-- "
		} > "$out/0000-cover-letter.patch"
	fi
fi

changed=0
for f in "$out"/*.patch; do
	b=$(basename "$f")
	if ! cmp -s "$f" "$PATCHES/$b"; then
		cp "$f" "$PATCHES/$b"
		echo "  wrote patches/$b"
		changed=1
	fi
done
for f in "$PATCHES"/*.patch; do
	[ -e "$f" ] || continue
	b=$(basename "$f")
	if [ ! -e "$out/$b" ]; then
		rm -f "$f"
		echo "  removed stale patches/$b"
		changed=1
	fi
done

# series: keep the leading comment block, then the patch list.
newseries=$out/series
if [ -f "$PATCHES/series" ]; then
	awk '/^[[:space:]]*(#|$)/ { print; next } { exit }' "$PATCHES/series" > "$newseries"
else
	echo "# patches applied by 'make tree' in this order (written by 'make export')" > "$newseries"
fi
for p in "$out"/[0-9][0-9][0-9][0-9]-*.patch; do
	case ${p##*/} in 0000-cover-letter.patch) ;; *) [ -e "$p" ] && echo "${p##*/}" ;; esac
done >> "$newseries"
if ! cmp -s "$newseries" "$PATCHES/series"; then
	cp "$newseries" "$PATCHES/series"
	echo "  wrote patches/series"
	changed=1
fi
# The tree is now exactly what patches/ describes.
"$TOP/harness/host/tree.sh" >/dev/null 2>&1 || true
if [ $changed = 0 ]; then
	echo "export: patches/ unchanged ($n patches)"
else
	echo "export: $n patches written to patches/ (review with git diff patches/, then commit)"
fi
