#!/bin/bash
# selftests.sh [T=<test>]: install the nvme-mpath kselftests from the tree
# and run each one in its own VM through harness/host/guests.sh, the one
# runner, under the VM and naming modes its header declares (see there).
# NAMES=nvm-sub|nvme|declared as guests.sh; SKIP_T="a b" leaves tests out,
# ONLY_T="a b" runs only those, TRANSPORT=pcie|tcp|loop those that declare
# it (nvme-mpath-transports); SELFTEST_ENV="K=V ..." sets variables for
# the tests (e.g. CYCLES=10); SELFTEST_LANES=N runs N guests at once;
# SELFTEST_INSTALL=only installs the tests and stops, =skip runs the ones
# installed (make check installs them before its background builds).
set -o pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/tap.sh"
variant=${VARIANT:-test}
only=${T:-}
src=$TREE/tools/testing/selftests/nvme-mpath
inst=$BUILD/kselftest
echo "TAP version 13"
echo "# selftests: nvme-mpath in the $variant kernel"
if [ ! -d "$src" ]; then
	tap_skip "nvme-mpath" "tools/testing/selftests/nvme-mpath does not exist in the tree yet"
	tap_summary; exit
fi
grep -q '^TARGETS += nvme-mpath$' "$TREE/tools/testing/selftests/Makefile" ||
	echo "# note: nvme-mpath is not in tools/testing/selftests/Makefile TARGETS"
if [ "${SELFTEST_INSTALL:-}" != skip ]; then
	rm -rf "$inst"
	if ! flock "$KBUILD_LOCK" make -s -C "$TREE/tools/testing/selftests" \
		O="$BUILD/obj/kselftest" TARGETS=nvme-mpath INSTALL_PATH="$inst" install \
		> "$LOGS/kselftest-install.log" 2>&1; then
		tail -20 "$LOGS/kselftest-install.log"
		tap_fail "nvme-mpath:install" "kselftest install failed (see build/logs/kselftest-install.log)"
		tap_summary; exit
	fi
fi
[ "${SELFTEST_INSTALL:-}" = only ] && exit 0
list=$inst/kselftest-list.txt
tests=$(grep '^nvme-mpath:' "$list" 2>/dev/null | cut -d: -f2-)
if [ -z "$tests" ]; then
	tap_skip "nvme-mpath" "no tests installed (empty TEST_PROGS?)"
	tap_summary; exit
fi
default_timeout=45
[ -f "$inst/nvme-mpath/settings" ] &&
	default_timeout=$(sed -n 's/^timeout=//p' "$inst/nvme-mpath/settings" | tail -1)

header() { # header <file> <key>: as guests.sh reads it
	sed -n "s/^#[[:space:]]*nvme-mpath-$2:[[:space:]]*//p" "$1" 2>/dev/null | head -1
}

# SKIP_T may span lines: one space between names
skip_t=" $(echo "${SKIP_T:-}" | xargs) "
files=()
for t in $tests; do
	if [ -n "$only" ] && [ "$t" != "$only" ] && [ "${t%.*}" != "$only" ]; then
		continue
	fi
	case $skip_t in *" ${t%.*} "*) continue ;; esac
	if [ -n "${ONLY_T:-}" ]; then
		case " $(echo "$ONLY_T" | xargs) " in *" ${t%.*} "*) ;; *) continue ;; esac
	fi
	if [ -n "${TRANSPORT:-}" ]; then
		case " $(header "$inst/nvme-mpath/$t" transports) " in
		*" $TRANSPORT "*) ;;
		*) continue ;;
		esac
	fi
	files+=("$inst/nvme-mpath/$t")
done
if [ ${#files[@]} = 0 ]; then
	tap_fail "nvme-mpath:$only" "no such test (have: $(echo "$tests" | xargs))"
	tap_summary; exit
fi
exec env RUN_KSELFTEST="$inst" RUN_PREFIX=nvme-mpath RUN_TIMEOUT="${default_timeout:-45}" \
	RUN_LANES="${SELFTEST_LANES:-1}" RUN_ENV="${SELFTEST_ENV:-}" \
	RUN_TAIL="${SELFTEST_TAIL:-15}" "$TOP/harness/host/guests.sh" "${files[@]}"
