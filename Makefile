# gokvm's build and test entry points. `make test` is what CI runs: it
# installs what the tests need (Debian packages, the guest kernel), then runs
# the unit tests, short fuzzing runs, and the end-to-end tests that boot real
# guests on KVM/ARM (inside an emulated arm64 host on non-ARM machines).

GO        ?= go
KERNELS   ?= $(HOME)/.cache/gokvm/kernels
BIN       ?= bin
FUZZTIME  ?= 10s
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GIC       ?= 3
ARGS      ?=
AARCH32   ?=
PEER      ?=
ROUNDS    ?= 3
ONLY      ?=
PROFILE   ?=
E2ETIMEOUT ?= 75m
COMPAT_OUT     ?= $(BIN)/compat.md
COMPAT_TIMEOUT ?= 3m
LDFLAGS   := -s -w -X main.version=$(VERSION)


.PHONY: all build deps kernels unit fuzz fuzz-long e2e test bench compat try vet clean

all: build

build:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/gokvm-arm64 ./cmd/gokvm
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/gokvm-arm ./cmd/gokvm

# Installs the Debian packages the tests use when a command is missing (as
# root, or with sudo): dtc for device tree golden files, cpio and xz for
# kernel packages, kmod's depmod for the sandbox's modules.dep, gcc for
# the race detector, libxml2-utils' xmllint for the results package's
# JUnit schema test, the arm64 cross gcc for the test kernel module
# gokvm_warn.ko; then the emulated arm64 host,
# QEMU 8 or newer (tools/install-qemu.sh says why).
deps:
	@missing=""; \
	command -v dtc >/dev/null || missing="$$missing device-tree-compiler"; \
	command -v cpio >/dev/null || missing="$$missing cpio"; \
	command -v xz >/dev/null || missing="$$missing xz-utils"; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	command -v xmllint >/dev/null || missing="$$missing libxml2-utils"; \
	command -v aarch64-linux-gnu-gcc >/dev/null || missing="$$missing gcc-aarch64-linux-gnu"; \
	PATH=$$PATH:/usr/sbin:/sbin command -v depmod >/dev/null || missing="$$missing kmod"; \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		echo "installing$$missing"; \
		$$SUDO apt-get update -qq || true; \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@tools/install-qemu.sh

# Fetches Debian's arm64 and armhf kernels (and their modules) into
# $(KERNELS), builds gokvm_warn.ko against the arm64 one's headers and
# writes its System.map.
kernels: deps
	GO=$(GO) testdata/kernels/fetch.sh $(KERNELS)

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	GOARCH=arm64 $(GO) vet ./...
	GOARCH=arm GOARM=7 $(GO) vet ./...

# Unit tests: no KVM, no kernel needed (dtc is, for device tree goldens).
unit: deps
	$(GO) test -short -count=1 ./...

# Short runs of every fuzz target on what a guest or a bad file controls.
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) tools/fuzz.sh

# Every fuzz target for 10 minutes (about an hour in all), for a deeper
# search than the test command's short runs.
fuzz-long:
	FUZZTIME=10m GO=$(GO) tools/fuzz.sh

# End-to-end tests: boot real guests under gokvm on KVM/ARM.
e2e: deps kernels
	GOKVM_KERNELS=$(KERNELS) $(GO) test -count=1 -timeout $(E2ETIMEOUT) ./e2e/...

# The whole test suite, as CI runs it.
test: deps kernels vet build
	GOKVM_KERNELS=$(KERNELS) $(GO) test -count=1 -timeout $(E2ETIMEOUT) ./...
	$(GO) test -race -short -count=1 ./vmm/... ./devices/... ./results/...
	$(MAKE) --no-print-directory fuzz
	$(MAKE) --no-print-directory lava

# Boot, disk, network, 9p and sandbox figures in one emulated host (or
# directly on an arm64 host). PEER=path/to/lkvm-static measures kvmtool
# beside gokvm (PEER=self: gokvm again, an A/A run), alternating, ROUNDS
# runs each, and prints the ratios;
# ONLY=regexp picks workloads (boot, disk, net, vhostnet, 9p, sandbox, warm,
# fault: what a guest's stage-2 fault costs, exits: what an MMIO exit to
# each VMM costs, disk-pci, net-pci: disk and net over virtio-pci for both
# VMMs);
# PROFILE=DIR keeps a CPU profile of each gokvm run (GOKVM_CPUPROFILE);
# TRACE_EXITS=1 counts the host KVM's exits by kind in the warm runs;
# TRACE_SYSCALLS=1 counts each VMM's system calls per request, by kind;
# KERNEL_PROFILE=1 samples where the host kernel spends each VMM's time per
# request (with PROFILE=DIR, its folded stacks are kept there too).
bench: deps kernels
	GOKVM_KERNELS=$(KERNELS) $(GO) run ./e2e/cmd/emuhost --gic $(GIC) --bench --rounds $(ROUNDS) \
		$(if $(PEER),--peer $(PEER)) $(if $(ONLY),--only '$(ONLY)') $(if $(PROFILE),--profile $(PROFILE)) \
		$(if $(TRACE_EXITS),--trace-exits) $(if $(TRACE_SYSCALLS),--trace-syscalls) $(if $(KERNEL_PROFILE),--kernel-profile)

# kvmtool and gokvm side by side (docs/kvmtool.md): each case (kernels,
# flat payloads, firmware, a disk, 2 vcpus, a reset) under PEER's `lkvm run`
# and under `gokvm run` with the same options, in one emulated host (or
# directly on an arm64 host). Writes the table to COMPAT_OUT and prints it;
# a run still going after COMPAT_TIMEOUT is killed and fails. Fails when
# gokvm fails a case kvmtool passes.
ifneq ($(filter compat,$(MAKECMDGOALS)),)
ifeq ($(PEER),)
$(error make compat needs PEER=path/to/lkvm-static, kvmtool's static arm64 lkvm)
endif
endif
compat: deps kernels
	@mkdir -p $(dir $(COMPAT_OUT))
	GOKVM_KERNELS=$(KERNELS) $(GO) run ./e2e/cmd/emuhost --gic $(GIC) --compat --peer $(PEER) \
		--compat-out $(COMPAT_OUT) --compat-timeout $(COMPAT_TIMEOUT)

# Boots a guest and shows its console: directly on an arm64 host with
# /dev/kvm, inside the emulated arm64 host elsewhere. ARGS adds gokvm flags;
# AARCH32=1 boots the 32-bit guest.
try: deps kernels
	GOKVM_KERNELS=$(KERNELS) $(GO) run ./e2e/cmd/emuhost --gic $(GIC) $(if $(AARCH32),--aarch32) -- $(ARGS)

clean:
	rm -rf $(BIN)

# Runs the example LAVA job (lava/) with a real lava-run against the gokvm
# device type: in an emulated arm64 host on non-ARM machines (labhost).
# Installs lava-dispatcher if missing. See docs/lava.md.
.PHONY: lava
lava: deps kernels
	GO=$(GO) GOKVM_KERNELS=$(KERNELS) tools/lava.sh
