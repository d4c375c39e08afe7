#!/bin/bash
# check-config.sh <.config> <fragment>...
# Fail, listing them, if options requested by the fragments did not end up
# in .config as requested.  Options in configs/optional.list are ignored.
. "$(dirname "$0")/common.sh"
cfg=$1; shift
optional=$TOP/configs/optional.list
bad=()
declare -A want=()
for frag in "$@"; do
	while IFS= read -r line; do
		if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
			want[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
		elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set ]]; then
			want[${BASH_REMATCH[1]}]=n
		fi
	done < "$frag"
done
for opt in "${!want[@]}"; do
	if [ -f "$optional" ] && grep -qx "$opt" "$optional"; then
		continue
	fi
	v=${want[$opt]}
	if [ "$v" = n ]; then
		grep -q "^$opt=" "$cfg" && bad+=("$opt (wanted n, got $(grep "^$opt=" "$cfg" | cut -d= -f2-))")
	else
		got=$(grep "^$opt=" "$cfg" | cut -d= -f2-)
		[ "$got" = "$v" ] || bad+=("$opt (wanted $v, got ${got:-unset})")
	fi
done
if [ ${#bad[@]} -gt 0 ]; then
	echo "FAIL: config options that did not stick in $cfg:" >&2
	printf '  %s\n' "${bad[@]}" | sort >&2
	exit 1
fi
exit 0
