package main

// usageText is gokvm help; TestHelpListsEveryFlagAndStatus checks it names
// every flag and exit status.
const usageText = `gokvm boots Linux guest kernels on KVM/ARM hosts.

usage: gokvm COMMAND [ARGS]

The most commonly used gokvm commands are:
  gokvm run -k KERNEL [flags]   boot a guest; its serial console is this terminal
  gokvm run -f FIRMWARE [flags] boot a firmware image instead (docs/payloads.md)
  gokvm sandbox -k KERNEL [flags] -- CMD [ARGS...]
                                run CMD in a guest booted on the host's root
                                (read-only, writes vanish); exit with CMD's status
  gokvm check [--json]          report what this host offers gokvm (KVM, GIC,
                                SVE, PMU, taps...); status 0 when an arm64
                                guest can boot here, 1 otherwise
  gokvm list [--json]           the VMs started with --name or --detach
  gokvm pause|resume NAME       pause or resume a VM
  gokvm stop NAME               stop a VM as SIGTERM does; returns once it ended
  gokvm snapshot NAME FILE [--stop]
                                save a VM: its state to FILE, its RAM to FILE.ram
                                (mode 0600; an earlier FILE is replaced once the
                                new one is saved). The VM is paused meanwhile and
                                then runs on, or with --stop ends as with stop.
                                2 also when the VM cannot be saved (the message
                                names the device). gokvm run --restore FILE
                                runs it again
  gokvm debug NAME --dump       print where each vcpu is (as SIGUSR1)
  gokvm debug NAME --sysrq KEY  a magic SysRq on the guest's console (a break, KEY)
  gokvm wait NAME               wait for a VM to end; exit with its status
  gokvm console NAME            attach to a detached VM's console (replays the
                                last 64 KiB); Ctrl-A d detaches
                                These exit 0 done, 1 failed (no such VM, refused),
                                2 usage; the state: $XDG_RUNTIME_DIR/gokvm or
                                ~/.gokvm (0700), protocol: docs/control.md
  gokvm version                 print the version
  gokvm help                    print this help

Flags of gokvm run (kvmtool's lkvm run spellings):
  -k, --kernel FILE      arm64 Image to boot, raw or gzip-compressed; with
                         --aarch32, a 32-bit ARM zImage. As in kvmtool, also
                         the first argument that is not a flag. A file without
                         an Image header (zImage magic) is booted as kvmtool
                         boots it: as a flat binary at RAM+0x80000 (+0x8000),
                         entered at its first byte, with a warning
                         (docs/payloads.md)
  -f, --firmware FILE    instead of -k: a firmware image loaded at the start of
                         RAM and entered there, the device tree at the next
                         2 MiB boundary after it (kvmtool's --firmware); -i is
                         ignored then, as kvmtool ignores it
      --firmware-address ADDR
                         load the firmware at guest-physical ADDR in RAM
  -F, --flash FILE       a CFI NOR flash at 0x2000000 over FILE (its first
                         power-of-two bytes, 64 KiB to 16 MiB), where EDK2
                         keeps its variables: what the guest programs and
                         erases reaches FILE (kvmtool's --flash)
      --aarch32          boot a 32-bit ARM (AArch32) guest kernel: a zImage with
                         Cortex-A15 cpus, RAM below 4 GiB. gokvm does not guess:
                         a zImage given without --aarch32 is refused, saying so.
                         Implied on 32-bit ARM hosts
  -i, --initrd FILE      initial ramdisk
  -p, --params STRING    kernel command line
  -c, --cpus N           number of vcpus (default 1)
  -m, --mem SIZE[@ADDR]  guest RAM in MiB, or with a B/K/M/G/T/P unit, optionally
                         at guest-physical ADDR: a hex byte address, or as
                         kvmtool reads it, MiB or with a unit (default 256, at
                         0x80000000, which is 2048 or 2G)
      --irqchip CHIP     auto, gicv3, gicv3-its, gicv2 or gicv2m (default auto:
                         GICv3, else GICv2; with --virtio-transport pci each
                         first with its MSI controller: gicv3-its, gicv2m)
      --dump-dtb FILE    write the generated device tree blob to FILE and exit
      --console-log FILE also write the guest console to FILE
      --timeout DUR      stop the guest after DUR (e.g. 90s, 5m) with status 5,
                         first printing where each vcpu was
      --results FILE     write the run's result for CI to FILE, however the run
                         ends: the outcome, the KTAP/TAP tests and the kernel
                         problems (Oops, WARNING, panic...) of the console, by
                         FILE's extension .json, .xml or .junit (JUnit), .tap
                         (docs/results.md)
      --results-format F json, junit or tap, whatever FILE's extension
      --symbols FILE     the guest kernel's System.map or vmlinux: vcpu dumps
                         (--timeout, SIGUSR1, gokvm debug --dump) name the
                         functions of each vcpu's kernel stack (AArch64 guests)
      --bisect-status    exit as git bisect run wants: 0 good (powered off, no
                         kernel problem or failed test), 1 bad (a kernel
                         problem, panic, reset, timeout, failed test or
                         command), 125 cannot test (bad flags, no KVM, gokvm
                         failed), 255 stopped (docs/ci.md)
      --stats            print figures to stderr when the guest stops: start-up
                         and its steps, memory, MMIO exits by device, KVM's
                         exits by reason and halts, gokvm's CPU time and
                         context switches, device interrupts, each NIC's
                         frames, bytes and drops, each 9p share's reads and
                         writes, a sandbox init's steps; then how long
                         closing took
      --kvm-device PATH  the KVM device (default /dev/kvm); kvmtool's --dev PATH
      --loglevel LEVEL   kvmtool's error, warning, info (default) or debug: at
                         error and warning, the kvmtool line "Info: KVM
                         session ended normally." is left out (--debug:
                         --loglevel debug)
      --pmu              give each vcpu a PMUv3 (perf in the guest); the host
                         must have KVM_CAP_ARM_PMU_V3
      --disable-sve      no SVE (AArch64 guests get it where the host has it,
                         with the host's vector lengths)
      --sve-max-vl BITS  the largest SVE vector length, a multiple of 128
      --disable-ptrauth  no pointer authentication (on where the host has it)
      --vcpu-affinity CPULIST
                         pin the vcpu threads to these host CPUs (e.g. 1 or
                         4-7: one kind of core on big.LITTLE boards)
      --seccomp MODE     the system call filter of the run phase
                         (docs/security.md): on (default; a forbidden call
                         stops gokvm, naming it), off, or log (forbidden calls
                         named and let through, to find what the filter lacks)
      --config FILE      read the VM from a JSON file (docs/configuration.md);
                         flags given as well override it (-d and -n replace its
                         lists)
      --restore FILE     go on from a machine saved to FILE (and FILE.ram)
                         instead of booting: only --timeout, --seccomp,
                         --kvm-device, --name, --detach, --stats,
                         --console-log, --results, --results-format,
                         --bisect-status and --symbols go with it, and -d and
                         -n given again,
                         one per saved disk and NIC in order, for another
                         image (same size and serial), tap (tapif=) or
                         hostfwd rules; any other change, a state file cut
                         short, edited, newer, or from a host with another
                         GIC or vcpu features is status 2, naming what differs
      --print-config     print the VM as JSON, every default filled in, and exit
      --name NAME        a control socket for gokvm list, pause, stop... (1-48
                         letters, digits, . _ -); a name in use is status 2
      --detach           run in the background; return 0 once the guest runs, or
                         run's status if it cannot start. No --name: one is
                         made up and printed. Console: gokvm console NAME
  -d, --disk FILE[,ro][,direct][,serial=ID]
                         a raw disk image as a virtio-blk device; repeat for more
                         (the guest's vda, vdb, ... in order). ro: read-only;
                         direct: O_DIRECT; serial: the GET_ID answer (default:
                         the file name). Images are locked against a second
                         writer.
  -n, --network mode=tap[,tapif=NAME][,guest_mac=MAC][,vhost=1] | mode=none
                         a virtio-net device on a tap interface; repeat for more
                         NICs. An existing tap is attached; one that does not
                         exist is created, brought up, and removed on exit.
                         Default tapif: gokvmN; default MAC: 52:54:00 and a hash
                         of the tap name. Needs CAP_NET_ADMIN to create taps.
                         vhost=1 (or on): frames move in the host kernel's
                         vhost-net (/dev/vhost-net); vhost=0/off: in gokvm
  -n mode=user[,guest_mac=MAC][,hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...
                         a user-mode network (no tap, no privilege), as QEMU's
                         -netdev user: DHCP gives the guest 10.0.2.15/24,
                         gateway 10.0.2.2 (the host's 127.0.0.1), DNS 10.0.2.3
                         (the host's resolver); TCP and UDP leave through host
                         sockets. hostfwd forwards a host port (HOSTADDR
                         default 0.0.0.0) to the guest (default 10.0.2.15).
      --vsock CID        a virtio-vsock device (the host's vhost-vsock,
                         /dev/vhost-vsock) with guest context ID CID (3 to
                         4294967294); the guest reaches the host at CID 2
      --9p DIR[,TAG][,ro][,mounts=PATHS]
                         serve the host directory DIR over virtio-9p (9P2000.L);
                         the guest mounts it with mount -t 9p -o
                         trans=virtio,version=9p2000.L TAG /mnt (TAG: kvm_9p
                         unless given, as in kvmtool). Nothing outside
                         DIR is reachable (symlinks are never followed), nor
                         any other mount below DIR (not there: ENOENT) but
                         those listed in mounts=PATH:PATH... (never /proc,
                         /sys, /dev and the like); ro: every change fails with
                         EROFS. Files the guest creates belong to gokvm's
                         user. Repeat for more shares
      --virtio-transport T
                         mmio (virtio-mmio version 2, default), mmio-legacy
                         (version 1, for old guest kernels) or pci (virtio 1.x
                         PCI functions on a PCI host bridge; MSI-X with an
                         MSI controller, INTx otherwise; cannot be saved)
      --console DEV      the device that is this terminal: serial (default; a
                         16550A, the guest's ttyS0), pl011 (an ARM PL011 at
                         0x9000000 as on QEMU's virt board: console=ttyAMA0,
                         earlycon=pl011,0x9000000) or virtio (a virtio-console,
                         hvc0: console=hvc0; the 16550A stays for early output)
      --rng              a virtio-rng device fed from the host's getrandom (the
                         guest's /dev/hwrng)

kvmtool's other lkvm run options, in kvmtool's forms (-m512, -n alone): those
gokvm needs do nothing for are accepted and ignored (--nodefaults, --no-dhcp,
--disable-mte, --no-pvtime, --debug-ioport, --debug-mmio, --psci), the others
refused by name with status 2 (--vfio-pci, --balloon, --nested, --force-pci...;
docs/kvmtool.md has the table).

The console: the guest's first serial port (ttyS0; with --console, ttyAMA0 or
hvc0) is gokvm's standard output, and standard input goes to it. When standard input is a terminal it is put in
raw mode; type Ctrl-A x to stop the guest, Ctrl-A Ctrl-A to send a Ctrl-A.

Signals: SIGINT and SIGTERM stop the guest (status 6). SIGUSR1 prints to
stderr where each vcpu is (its power state, pc, lr and mode, and an AArch64
guest's kernel stack) and the guest runs on: for a guest that seems stuck.

gokvm sandbox [flags] -- CMD [ARGS...] takes gokvm run's flags (not --initrd,
--dump-dtb or --print-config; -p adds kernel parameters) and these:
      --root DIR         the host directory that is the guest's root (default /),
                         over 9p, read-only under a tmpfs overlay: CMD can write,
                         and its writes vanish at exit (a --9p share given rw,
                         mounted at its host path, keeps them). Of the host's
                         other mounts it enters /usr, /home, /opt, /srv, /var,
                         /nix, /boot, /root, /snap and /gnu where they are
                         mounts of their own, and the current directory's;
                         never /proc, /sys or /dev
      --modules DIR      a /lib/modules/VERSION tree (with depmod's modules.dep)
                         for a kernel with virtio_mmio (virtio_pci with
                         --virtio-transport pci), 9pnet_virtio, 9p or overlay as
                         modules: they and their dependencies are put in the
                         initramfs and loaded (built-in ones need nothing)
      --init FILE        the guest's /init: a static gokvm for the guest's
                         architecture (default: this gokvm; required with
                         --aarch32 on an arm64 host: bin/gokvm-arm)
      --console-log FILE the whole guest console (kernel messages); otherwise it
                         is discarded and the kernel runs with quiet (not with
                         --results or --bisect-status, which read it; they
                         read CMD's output too, for its TAP)
      --warm DIR         keep the booted guest saved in DIR (made if missing):
                         the first run boots and saves it when its init is
                         ready; later runs restore it instead of booting. A
                         new kernel, module, gokvm or machine flag saves a
                         new one
CMD runs as root in the host's current directory with PATH, HOME and TERM,
on a serial port of its own: its stdin, stdout and stderr are gokvm's (a
terminal in the guest when gokvm's stdin is one); kernel messages never mix in.
Exit status of gokvm sandbox (docker run's and GNU timeout's):
  0-255  CMD's status (128+N when signal N killed it)
  124    --timeout passed
  125    gokvm or the guest failed before CMD ran (the message names what:
         a bad flag, a kernel without 9p and no --modules, a missing module)
  126    CMD was found but could not be run (not executable)
  127    CMD was not found
  255    the guest kernel went down (panic, reset) while CMD ran
  130, 143  stopped by SIGINT (or Ctrl-A x), SIGTERM
With --bisect-status: 0 CMD's 0, 1 CMD failed or the kernel did, 125 CMD never
ran or exited 125, 255 stopped (docs/ci.md).

`

const exitStatusHelp = `Exit status:
  0  the guest powered off (PSCI SYSTEM_OFF, e.g. poweroff)
  1  gokvm failed: a KVM error, a host without a needed capability, I/O
  2  usage error: bad flags, or a bad config, kernel, initrd, memory size, disk or tap
  3  the guest reset (PSCI SYSTEM_RESET: reboot, or a panic with panic=-1)
  4  KVM reported a guest crash event
  5  --timeout passed before the guest powered off or reset
  6  stopped from outside: SIGINT, SIGTERM, or Ctrl-A x on a terminal
On 0, 3, 4 and Ctrl-A x gokvm run also prints kvmtool's last line,
"  Info: KVM session ended normally." (kvmtool exits 0 on all four), and on
a missing kernel or initrd kvmtool's "  Fatal: Unable to open kernel FILE"
(for a missing firmware, "  Fatal: unable to load firmware image FILE: ...").
`
