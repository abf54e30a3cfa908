# uml-nf — one GNU Makefile. `make V=1` shows commands.
#
#   make            build build/uml-nf
#   make deps       install the Debian packages everything needs (idempotent)
#   make image      build the default router image (build/images/router.img)
#   make image-firewall  the firewall preset image (build/images/firewall.img):
#                   router + configs/firewall/ (nft ruleset, iptables-legacy twin)
#   make image-bridge    the bridge preset image (build/images/bridge.img):
#                   br0 of eth0..ethN + configs/bridge/bridge.nft
#   make demo       deps + build + image, then run the netns lab demo
#   make test       deps + unit tests (ASan/UBSan) + the tuned guest kernel
#                   (make guest-kernel: cached, ~5 min the first time) +
#                   integration tests, which then must find that kernel
#   make unit       unit tests only
#   make test-helpers  build/test-helpers/: fdpass, seqswitch, unixsend (integration tests)
#   make fuzz       libFuzzer targets for the parsers (clang; SECONDS=30 each)
#   make bench      benchmark: uml-nf vs stock UML vector raw, side by side,
#                   then a 30-minute soak (bench/endurance.sh; make soak alone)
#   make guest-kernel  build the NF-tuned UML guest kernel (slow the first
#                   time; part of make test) into ~/.cache/uml-nf/kernel/,
#                   which uml-nf then prefers over the stock linux.uml
#   make image-debian   the router on a Debian userland (build/images/router-debian.img;
#                   images-debian: every preset, PRESET-debian.img); the first
#                   build takes minutes and the package mirror, then cached
#   make test-debian    images-debian + tests/integration/27-image-debian.sh
#                   (opt-in: never part of `make test`)

CC      ?= gcc
BUILD   ?= build
CFLAGS  ?= -O2 -g
WARN    := -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
INC     := -Icommon -Idatapath -Itransports -Itransports/tap -Iguest-kernel -Ilauncher -Ibpf
CPPFLAGS += -D_GNU_SOURCE $(INC) -MMD -MP
LDLIBS  += -lpthread $(shell pkg-config --libs libmnl libpcap liburing)
CPPFLAGS += $(shell pkg-config --cflags libmnl libpcap liburing)

ifeq ($(V),1)
Q :=
else
Q := @
endif

# Debian packages used anywhere in the project (build, image, lab, bench).
DEB_PACKAGES := build-essential pkg-config clang libclang-rt-14-dev libcmocka-dev libmnl-dev libpcap-dev liburing-dev \
	libxdp-dev libbpf-dev \
	user-mode-linux \
	uml-utilities busybox-static e2fsprogs iproute2 iperf3 netsniff-ng ethtool tshark \
	gnuplot-nox iputils-ping nftables iptables squashfs-tools python3 python3-kubernetes

# Only for `make guest-kernel`: the kernel source and what building ARCH=um
# needs beyond build-essential.
KERNEL_DEB_PACKAGES := linux-source-6.12 flex bison bc xz-utils

LIB_SRCS := common/log.c \
	datapath/guestmem.c datapath/virtq.c datapath/vhost_user.c datapath/engine.c \
	datapath/offload.c datapath/rx.c datapath/tx.c datapath/memguard.c \
	datapath/stats.c datapath/capring.c datapath/capture.c datapath/attach.c \
	transports/options.c transports/registry.c transports/ethtool.c transports/port.c \
	transports/raw/raw.c transports/raw/ring_mmap.c transports/raw/ring_xdp.c transports/portio.c transports/bess/bess.c transports/fd/fd.c \
	transports/ifup.c transports/tap/tap.c transports/tap/tapdev.c transports/tap/tapio.c \
	transports/tap/batch.c transports/hybrid/hybrid.c transports/privsock.c \
	transports/encap.c transports/tunnel.c transports/gre/gre.c transports/l2tpv3/l2tpv3.c \
	bpf/filter.c \
	guest-kernel/kernel.c launcher/mconsole.c launcher/supervise.c launcher/image.c launcher/privs.c launcher/notify.c launcher/bpfflash.c \
	launcher/instance.c launcher/json.c launcher/cowfmt.c launcher/cow.c launcher/ctl.c \
	launcher/hotplug.c launcher/ls.c launcher/csock_proto.c launcher/csock_server.c \
	launcher/csock_client.c launcher/stats_cmd.c launcher/capture_cmd.c launcher/broker.c \
	launcher/cpus.c launcher/lpj.c
MAIN_SRCS := launcher/main.c

# ring=xdp needs libxdp, libbpf and clang (the XDP program, bpf/*.bpf.c, is
# compiled for the BPF target and embedded as a byte array); without them
# uml-nf builds and refuses ring=xdp with a message saying why.
HAVE_XDP := $(shell pkg-config --exists libxdp libbpf 2>/dev/null && command -v clang >/dev/null && echo 1)
ifeq ($(HAVE_XDP),1)
CPPFLAGS += -DNF_HAVE_XDP
LDLIBS   += $(shell pkg-config --libs libxdp libbpf)
XDP_GEN  := $(BUILD)/bpf/xdp_prog.c
endif

OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS) $(MAIN_SRCS)) $(XDP_GEN:.c=.o)

all: $(BUILD)/uml-nf

$(BUILD)/uml-nf: $(OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -c -o $@ $<

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c bpf/xdp_frame.h
	@mkdir -p $(dir $@)
	@echo "  BPF     $<"
	$(Q)clang -O2 -g -target bpf -Ibpf -I/usr/include/$(shell $(CC) -dumpmachine) -c -o $@ $<

# The program as a C array (od: no xxd needed).
$(BUILD)/bpf/xdp_prog.c: $(BUILD)/bpf/xdp_redirect.bpf.o
	@echo "  EMBED   $<"
	$(Q){ echo '/* generated from bpf/xdp_redirect.bpf.c */'; \
	  echo 'const unsigned char nf_xdp_prog[] = {'; \
	  od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '};'; echo "const unsigned int nf_xdp_prog_len = sizeof(nf_xdp_prog);"; } >$@.tmp && mv $@.tmp $@

$(BUILD)/bpf/xdp_prog.o: $(BUILD)/bpf/xdp_prog.c
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# The same program under ASan/UBSan, for the integration test that drives the
# real datapath with sanitizers on.
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_OBJS := $(patsubst %.c,$(BUILD)/san/obj/%.o,$(LIB_SRCS) $(MAIN_SRCS)) $(XDP_GEN:.c=.o)

$(BUILD)/san/uml-nf: $(SAN_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/san/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (sanitizers)"
	$(Q)$(CC) $(WARN) $(SAN_FLAGS) $(CPPFLAGS) -c -o $@ $<

-include $(OBJS:.o=.d) $(SAN_OBJS:.o=.d)

# ---- Debian packages ----------------------------------------------------------
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "  DEPS    installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: need root to install:$$missing" >&2; exit 1; fi; \
		apt-get update -q >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null \
			|| { echo "make deps: apt-get install failed" >&2; exit 1; }; \
	else echo "  DEPS    all Debian packages present"; fi

# ---- NF-tuned guest kernel (issue 5) ---------------------------------------------
guest-kernel:
	$(Q)$(MAKE) --no-print-directory deps DEB_PACKAGES="$(KERNEL_DEB_PACKAGES)"
	$(Q)bash guest-kernel/build.sh

# ---- guest image --------------------------------------------------------------
IMAGE := $(BUILD)/images/router.img
IMAGE_INPUTS := configs/router/init configs/router/router.conf configs/router/build-image.sh \
	configs/router/udhcpc.script configs/router/uml-nf-bpfflash

image: $(IMAGE)

$(IMAGE): $(IMAGE_INPUTS)
	$(Q)bash configs/router/build-image.sh $@

FIREWALL_IMAGE := $(BUILD)/images/firewall.img

image-firewall: $(FIREWALL_IMAGE)

$(FIREWALL_IMAGE): $(IMAGE_INPUTS) configs/firewall/firewall.nft configs/firewall/firewall.iptables \
		configs/firewall/router.conf
	$(Q)bash configs/router/build-image.sh $@ --preset firewall

BRIDGE_IMAGE := $(BUILD)/images/bridge.img

image-bridge: $(BRIDGE_IMAGE)

$(BRIDGE_IMAGE): $(IMAGE_INPUTS) configs/bridge/bridge.nft configs/bridge/router.conf
	$(Q)bash configs/router/build-image.sh $@ --preset bridge

# ---- Debian-base images (opt-in: the first build needs minutes and the mirror) --
DEBIAN_PRESETS := router firewall $(if $(wildcard configs/bridge),bridge)
DEBIAN_IMAGES := $(patsubst %,$(BUILD)/images/%-debian.img,$(DEBIAN_PRESETS))

image-debian: $(BUILD)/images/router-debian.img

images-debian: $(DEBIAN_IMAGES)

$(BUILD)/images/%-debian.img: $(IMAGE_INPUTS) configs/base/debian.sh \
		$(wildcard configs/firewall/* configs/bridge/*)
	$(Q)bash configs/router/build-image.sh $@ --preset $* --base debian

# 27 builds and boots the Debian-base images; 30/31/32 then prove each
# preset's function on them (stock kernel, and the tuned one when built).
test-debian: all images-debian
	$(Q)UMLNF_TEST_DEBIAN=1 UMLNF=$(BUILD)/uml-nf timeout -k 30 1200 \
		bash tests/integration/27-image-debian.sh
	$(Q)set -e; for t in 30 31 32; do \
		echo "== test $$t on Debian-base images"; \
		UMLNF=$(abspath $(BUILD))/uml-nf IMAGE=$(abspath $(BUILD))/images/router-debian.img \
		FIREWALL_IMAGE=$(abspath $(BUILD))/images/firewall-debian.img \
		BRIDGE_IMAGE=$(abspath $(BUILD))/images/bridge-debian.img \
		timeout -k 30 300 bash tests/integration/$$t-*.sh; done

# ---- demo ---------------------------------------------------------------------
demo: deps
	$(Q)$(MAKE) --no-print-directory all image
	$(Q)UMLNF=$(BUILD)/uml-nf IMAGE=$(IMAGE) bash tests/demo.sh

# ---- tests --------------------------------------------------------------------
# Helpers of the integration tests: a descriptor passer (fd transport, the
# rootless pattern), a tiny seqpacket switch (bess transport) and a raw unix
# socket client (the control socket, test 80).
TEST_HELPERS := $(BUILD)/test-helpers/fdpass $(BUILD)/test-helpers/seqswitch \
	$(BUILD)/test-helpers/unixsend

test-helpers: $(TEST_HELPERS)

$(BUILD)/test-helpers/%: tests/helpers/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(WARN) $(CFLAGS) -D_GNU_SOURCE -o $@ $<

unit:
	$(Q)$(MAKE) --no-print-directory -C tests/unit BUILD=$(abspath $(BUILD))/test run

# Test helpers (not part of uml-nf).
$(BUILD)/setlink-gso: tests/tools/setlink-gso.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -o $@ $< $(LDLIBS)

integration: all image image-firewall image-bridge $(BUILD)/san/uml-nf $(BUILD)/setlink-gso $(TEST_HELPERS)
	$(Q)UMLNF=$(BUILD)/uml-nf UMLNF_SAN=$(BUILD)/san/uml-nf IMAGE=$(IMAGE) \
		SETLINK_GSO=$(abspath $(BUILD))/setlink-gso \
		UMLNF_HELPERS=$(abspath $(BUILD))/test-helpers \
		FIREWALL_IMAGE=$(FIREWALL_IMAGE) BRIDGE_IMAGE=$(BRIDGE_IMAGE) bash tests/integration/run.sh

# The tuned kernel is built (or found in its cache) before the integration
# tests, and they are told to fail rather than skip what needs it: the
# nftables firewall, bridge and NAT checks and test 33 always run here.
# A short fuzz run of every target is part of make test (FUZZ_SECONDS each,
# default 5); make fuzz runs them longer.
FUZZ_SECONDS ?= 5

test: deps
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory fuzz SECONDS=$(FUZZ_SECONDS)
	$(Q)$(MAKE) --no-print-directory guest-kernel
	$(Q)UMLNF_REQUIRE_TUNED=1 $(MAKE) --no-print-directory integration

# libFuzzer targets (needs clang): make fuzz SECONDS=60
fuzz:
	$(Q)$(MAKE) --no-print-directory -C tests/fuzz BUILD=$(abspath $(BUILD))/fuzz run

# ---- benchmark ----------------------------------------------------------------
bench: deps
	$(Q)$(MAKE) --no-print-directory all image image-bridge
	$(Q)UMLNF=$(BUILD)/uml-nf IMAGE=$(IMAGE) BRIDGE_IMAGE=$(BRIDGE_IMAGE) bash bench/bench.sh
	$(Q)UMLNF=$(BUILD)/uml-nf IMAGE=$(IMAGE) bash bench/bess.sh | tee $(BUILD)/bench/bess.txt
	$(Q)UMLNF=$(BUILD)/uml-nf IMAGE=$(IMAGE) bash bench/endurance.sh

# The soak alone: make soak SOAK_MINUTES=30 (RSS, fds and counters sampled;
# growth is a failure). Part of make bench, never of make test.
soak: all image
	$(Q)UMLNF=$(BUILD)/uml-nf IMAGE=$(IMAGE) SOAK_MINUTES=$(or $(SOAK_MINUTES),30) \
		bash bench/endurance.sh

clean:
	rm -rf $(BUILD)

.PHONY: all deps image image-firewall image-bridge demo unit integration test fuzz bench soak clean guest-kernel
.PHONY: test-helpers
.PHONY: image-debian images-debian test-debian
