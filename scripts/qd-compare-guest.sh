#!/bin/bash
# Interleaved 4k random reads, multipath head against the single-path
# controller, 5 rounds of 4 s at QD1 and QD32 (a rough look; `make bench`
# is the real benchmark).  Run with:
#   make vm TOPO=pcie-dual+single BACKING=null CMD=$PWD/scripts/qd-compare-guest.sh
H=$(ls -d /sys/block/nvm-sub* | head -1); H=/dev/${H##*/}
S=
for b in /sys/block/nvme*n*; do
	n=${b##*/}; [ -e /dev/$n ] && { S=/dev/$n; break; }
done
echo "head=$H single=$S"
run() { fio --name=b --filename=$1 --ioengine=io_uring --direct=1 --rw=randread --bs=4k \
	--iodepth=$2 --runtime=4 --time_based --size=512M --output-format=json 2>/dev/null |
	python3 -c 'import json,sys; print(int(json.load(sys.stdin)["jobs"][0]["read"]["iops"]))'; }
for qd in 1 32; do
	for r in 1 2 3 4 5; do
		echo "qd=$qd round=$r single=$(run $S $qd) head=$(run $H $qd)"
	done
done
