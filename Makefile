# nvme-mpath harness: see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VARIANT ?= test
TOPO ?= pcie-dual
BACKING ?= file
TIMEOUT ?= 300
CMD ?= lsblk
T ?=
S ?=
# Variables passed to the scripts through the environment.
export VARIANT TOPO BACKING TIMEOUT T S FORCE TREE QUICK
# CMD is passed unexpanded (make would eat a '$(...)' in it), single-quoted.
unexport CMD
CMD_QUOTED = '$(subst ','\'',$(value CMD))'

HOST := harness/host

.PHONY: help setup tree export kernel vm selftests kunit gates lint check check-full demo bench \
	udev-test udev-install blktests soak

help:
	@echo "make setup        install the Debian packages needed"
	@echo "make tree         build/linux = Debian 6.12 source (tag base) + patches/series"
	@echo "make export       write build/linux base..HEAD back to patches/"
	@echo "make kernel       build the test kernel (VARIANT=debug for the debug one)"
	@echo "make vm CMD='..'  boot TOPO=pcie-dual|pcie-single|pcie-dual+single|none, run CMD"
	@echo "make selftests    run the nvme-mpath kselftests, one VM each (T=<test>)"
	@echo "make kunit        run KUnit suites in a guest (S=<suite glob>)"
	@echo "make gates        lint, checkpatch, per-patch build, sparse, MULTIPATH=y/n, Debian modules"
	@echo "make lint         shellcheck and pyflakes3 on the harness, shellcheck on the kselftests (a gate)"
	@echo "make udev-test    tools/61-nvme-mpath.rules with systemd-udevd in a guest, both naming modes"
	@echo "make udev-install install tools/61-nvme-mpath.rules into \$$(DESTDIR)/etc/udev/rules.d"
	@echo "make blktests     upstream blktests nvme group (loop, tcp): ours vs the base, a table"
	@echo "make check        all of the above but blktests, TAP output"
	@echo "                  and a summary line"
	@echo "make check-full   make check, then what it leaves out: the nvme naming mode for"
	@echo "                  every test, 20 hotplug-stress cycles, the debug soak, blktests (hours)"
	@echo "make demo         multipath failover demo with fio and hot-unplug"
	@echo "make soak         flapping soak: fio on every head while paths flap, then TCP"
	@echo "                  connect/disconnect cycles (debug kernel by default; SOAK_SECS=600,"
	@echo "                  SOAK_CYCLES=100, SOAK_SEED=<seed> replays; build/soak/report.md)"
	@echo "make bench        ours vs single path, 6.12 in-tree and dm-multipath (QUICK=1: short)"
	@echo "                  report in bench/results/; VARIANT=base for selftests on the base"

setup:
	@$(HOST)/setup.sh

tree:
	@$(HOST)/tree.sh

export:
	@$(HOST)/export.sh

kernel:
	@$(HOST)/tree.sh --auto
	@$(HOST)/build-kernel.sh $(VARIANT)

vm: kernel
	@$(HOST)/vm.py --variant "$$VARIANT" --topo "$$TOPO" --backing "$$BACKING" \
		--timeout "$$TIMEOUT" --name vm -- $(CMD_QUOTED)

selftests: kernel
	@$(HOST)/selftests.sh

kunit: kernel
	@$(HOST)/kunit.sh

gates:
	@$(HOST)/tree.sh --auto
	@$(HOST)/gates.sh

lint:
	@$(HOST)/gates.sh lint

demo:
	@$(HOST)/setup.sh
	@$(HOST)/tree.sh --auto
	@$(HOST)/build-kernel.sh $(VARIANT)
	@$(HOST)/demo.sh

udev-test: kernel
	@$(HOST)/udev-test.sh

udev-install:
	install -D -m 0644 tools/61-nvme-mpath.rules $(DESTDIR)/etc/udev/rules.d/61-nvme-mpath.rules
	@[ -n "$(DESTDIR)" ] || ! command -v udevadm >/dev/null || udevadm control --reload

blktests:
	@$(HOST)/setup.sh
	@$(HOST)/blktests.sh

bench:
	@$(HOST)/setup.sh
	@bench/bench.py

# The debug kernel unless VARIANT is given: lockdep, KASAN and kmemleak
# reports are what a soak is for.  Uses the kernel already built.
soak:
	@SOAK_VARIANT=$(if $(filter file,$(origin VARIANT)),debug,$(VARIANT)) $(HOST)/soak.sh

check:
	@$(HOST)/check.sh

# What make check leaves out for its time budget, after it: every
# kselftest in the "nvme" naming mode too, hotplug-stress with its 20
# cycles, the 10-minute soak on the debug kernel, and upstream blktests
# (several hours here; CI runs make check only).
check-full: check
	@NAMES=nvme $(HOST)/selftests.sh
	@ONLY_T=hotplug-stress $(HOST)/selftests.sh
	@$(HOST)/build-kernel.sh debug
	@SOAK_VARIANT=debug $(HOST)/soak.sh
	@$(HOST)/blktests.sh
