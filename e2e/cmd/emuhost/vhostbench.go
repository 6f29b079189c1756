package main

import (
	"fmt"

	"github.com/gokvm/gokvm/e2e/scenario"
)

// vhostNetScenarios are netScenarios with the NIC on vhost-net: the same
// transfer, for a table beside the userspace device's.
func vhostNetScenarios() []scenario.Scenario {
	var ss []scenario.Scenario
	for i := 0; i < benchDiskRuns; i++ {
		ss = append(ss, scenario.Scenario{
			Name: fmt.Sprintf("vhost-net-%d", i),
			Args: []string{"run", "-k", "$GUEST/Image", "-i", "$GUEST/initrd.cpio", "-m", "512", "--stats",
				"-n", "mode=tap,tapif=tapb1,vhost=1",
				"-p", fmt.Sprintf("console=ttyS0 quiet panic=-1 gokvm.do=modules:virtio_mmio:failover:net_failover:virtio_net,netup:eth0:169.254.4.2/24,tcpsend:169.254.4.1:5001:1:%d,tcprecv:169.254.4.1:5002,poweroff", benchNetMiB)},
			Before:     [][]string{{"/init", "mktap", "tapb1", "169.254.4.1/24"}},
			Background: [][]string{{"/init", "netpeer", "2", fmt.Sprint(benchNetMiB)}},
		})
	}
	return ss
}

// printVhostNetTable prints the vhost-net figures.
func printVhostNetTable(bootExits float64, res map[string]scenario.Result) {
	printTable(fmt.Sprintf("virtio-net on vhost-net (-n ...,vhost=1): %d MiB over TCP each way, %d runs", benchNetMiB, benchDiskRuns),
		netFigures(bootExits), vhostNetScenarios(), res)
}
