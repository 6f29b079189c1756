package virtio

import "fmt"

// Handler performs one request taken from a queue and returns how many
// bytes it wrote into the chain's writable buffers. ok false says the
// device was stopped in the middle of the request: the chain is not
// returned to the driver, and the queue is served no more.
type Handler func(c *Chain) (written uint32, ok bool)

// ServeQueue is the loop of a device that answers the driver's requests on
// queue i of env: it waits for a kick (on the queue's ioeventfd itself,
// where there is one: no other goroutine wakes it), then takes each available chain,
// has handle perform it and returns it to the driver, asks for the next
// kick, and interrupts the driver when it wants to hear about the used
// chains. It returns once stop is closed (while it waits for a kick,
// between two requests, or while the machine is paused), when handle
// reports it was stopped, when the transport shut the gate (the device is
// broken), or when the driver broke the queue; then it marks the device
// broken with env.Fail, the error naming the queue as name ("request
// queue"). A panic in handle is recovered and reported with env.Fault.
//
// Each request is taken, performed and returned inside env.Gate, so a
// paused device is held between requests. Serving a request allocates
// nothing.
func ServeQueue(env ActivateEnv, i int, name string, stop <-chan struct{}, handle Handler) {
	pass := env.Gate.Pass()
	defer pass.Release()
	defer env.Recover(name)
	q, kick := env.Queues[i], env.Kicks[i]
	var c Chain // its buffers are reused from one request to the next
	for kick.Wait(stop) {
		for {
			if !pass.Enter(stop) {
				return
			}
			ok, err := q.Pop(&c)
			if err != nil {
				env.Fail(fmt.Errorf("%s: %w", name, err))
				pass.Leave()
				return
			}
			if ok {
				written, ok := handle(&c)
				if ok {
					err = q.Push(c.Head, written)
				}
				if err != nil {
					env.Fail(fmt.Errorf("%s: %w", name, err))
				}
				pass.Leave()
				if !ok || err != nil {
					return
				}
				continue
			}
			// The queue is empty: ask for a kick, unless more came
			// meanwhile, and tell the driver about this batch.
			more, err := q.EnableNotifications()
			if err != nil {
				env.Fail(fmt.Errorf("%s: %w", name, err))
				pass.Leave()
				return
			}
			if !more && q.ShouldInterrupt() {
				env.Interrupt(i)
			}
			pass.Leave()
			if !more {
				break
			}
		}
	}
}
