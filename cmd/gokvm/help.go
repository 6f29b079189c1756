package main

// usageText is gokvm help; TestHelpListsEveryFlagAndStatus checks it names
// every flag and exit status.
const usageText = `gokvm boots Linux guest kernels on KVM/ARM hosts.

Usage:
  gokvm run -k KERNEL [flags]   boot a guest; its serial console is this terminal
  gokvm check [--json]          report what this host offers gokvm (KVM, GIC,
                                SVE, PMU, taps...); status 0 when an arm64
                                guest can boot here, 1 otherwise
  gokvm version                 print the version
  gokvm help                    print this help

Flags of gokvm run (kvmtool's lkvm run spellings):
  -k, --kernel FILE      arm64 Image to boot, raw or gzip-compressed (required);
                         with --aarch32, a 32-bit ARM zImage
      --aarch32          boot a 32-bit ARM (AArch32) guest kernel: a zImage with
                         Cortex-A15 cpus, RAM below 4 GiB. gokvm does not guess:
                         a zImage given without --aarch32 is refused, saying so.
                         Implied on 32-bit ARM hosts
  -i, --initrd FILE      initial ramdisk
  -p, --params STRING    kernel command line
  -c, --cpus N           number of vcpus (default 1)
  -m, --mem SIZE[@ADDR]  guest RAM in MiB, or with a K/M/G/T suffix, optionally at
                         guest-physical ADDR (default 256, at 0x80000000)
      --irqchip CHIP     auto, gicv3 or gicv2 (default auto: GICv3, else GICv2)
      --dump-dtb FILE    write the generated device tree blob to FILE and exit
      --timeout DUR      stop the guest after DUR (e.g. 90s, 5m) with status 5,
                         first printing where each vcpu was
      --stats            print boot and exit figures to stderr when the guest stops
      --kvm-device PATH  the KVM device (default /dev/kvm)
      --pmu              give each vcpu a PMUv3 (perf in the guest); the host
                         must have KVM_CAP_ARM_PMU_V3
      --disable-sve      no SVE (AArch64 guests get it where the host has it,
                         with the host's vector lengths)
      --sve-max-vl BITS  the largest SVE vector length, a multiple of 128
      --disable-ptrauth  no pointer authentication (on where the host has it)
      --vcpu-affinity CPULIST
                         pin the vcpu threads to these host CPUs (e.g. 1 or
                         4-7: one kind of core on big.LITTLE boards)
      --config FILE      read the VM from a JSON file (see the README); flags
                         given as well override it (-d and -n replace its lists)
      --print-config     print the VM as JSON, every default filled in, and exit
  -d, --disk FILE[,ro][,direct][,serial=ID]
                         a raw disk image as a virtio-blk device; repeat for more
                         (the guest's vda, vdb, ... in order). ro: read-only;
                         direct: O_DIRECT; serial: the GET_ID answer (default:
                         the file name). Images are locked against a second
                         writer.
  -n, --network mode=tap[,tapif=NAME][,guest_mac=MAC] | mode=none
                         a virtio-net device on a tap interface; repeat for more
                         NICs. An existing tap is attached; one that does not
                         exist is created, brought up, and removed on exit.
                         Default tapif: gokvmN; default MAC: 52:54:00 and a hash
                         of the tap name. Needs CAP_NET_ADMIN to create taps.
      --virtio-transport T
                         mmio (virtio-mmio version 2, default) or mmio-legacy
                         (version 1, for old guest kernels)

The console: the guest's first serial port (ttyS0) is gokvm's standard output,
and standard input goes to it. When standard input is a terminal it is put in
raw mode; type Ctrl-A x to stop the guest, Ctrl-A Ctrl-A to send a Ctrl-A.

Signals: SIGINT and SIGTERM stop the guest (status 6). SIGUSR1 prints to
stderr where each vcpu is (its power state, pc, lr and mode) and the guest
runs on: for a guest that seems stuck.

`

const exitStatusHelp = `Exit status:
  0  the guest powered off (PSCI SYSTEM_OFF, e.g. poweroff)
  1  gokvm failed: a KVM error, a host without a needed capability, I/O
  2  usage error: bad flags, or a bad config, kernel, initrd, memory size, disk or tap
  3  the guest reset (PSCI SYSTEM_RESET: reboot, or a panic with panic=-1)
  4  KVM reported a guest crash event
  5  --timeout passed before the guest powered off or reset
  6  stopped from outside: SIGINT, SIGTERM, or Ctrl-A x on a terminal
`
