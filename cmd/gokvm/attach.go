package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/gokvm/gokvm/control"
	"github.com/gokvm/gokvm/machine"
)

// attachConsole is gokvm console NAME: this terminal (or these pipes)
// becomes the detached VM's console until Ctrl-A d, the VM's end, or a
// signal. The VM runs on after a detach.
func attachConsole(c *control.Client, name string, env Env, logger *log.Logger) int {
	stream, err := c.Console()
	if err != nil {
		logger.Print(err)
		return machine.ExitFailure
	}
	defer stream.Close()
	term := newConsole(env.Stdin, env.Stdout)
	detached := make(chan struct{})
	var once sync.Once
	detach := func() { once.Do(func() { close(detached) }) }
	in := env.Stdin
	if term.tty >= 0 {
		// Ctrl-A x detaches too: stopping the VM is gokvm stop's.
		in = &escapeFilter{r: env.Stdin, quit: detach, detach: detach}
		fmt.Fprintf(env.Stderr, "gokvm: attached to %s's console; Ctrl-A d detaches\r\n", name)
	}
	restore := term.makeRaw()
	defer restore()
	ended := make(chan struct{})
	go func() {
		io.Copy(env.Stdout, stream)
		close(ended)
	}()
	if in != nil {
		// At the end of piped input the output goes on: a script sends
		// its line and watches the answer until it stops gokvm console.
		go io.Copy(stream, in)
	}
	sigs := env.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		defer signal.Stop(ch)
		sigs = ch
	}
	select {
	case <-detached:
		restore()
		fmt.Fprintf(env.Stderr, "\r\ngokvm: detached from %s; it runs on\n", name)
	case <-ended:
		restore()
		fmt.Fprintf(env.Stderr, "\r\ngokvm: %s's console closed (the VM ended)\n", name)
	case <-sigs:
	}
	return 0
}
