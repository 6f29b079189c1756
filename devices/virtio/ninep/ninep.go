// Package ninep is virtio-9p: a host directory (a Share) served to the
// guest over 9P2000.L by github.com/hugelgupf/p9's server, behind a virtio
// transport. The guest mounts it by its tag:
//
//	mount -t 9p -o trans=virtio,version=9p2000.L TAG /mnt
//
// Each chain of the request queue carries one T-message in its readable
// buffers and room for the R-message in its writable ones. The device
// checks each message (its size, its type, that its fields are all there,
// the negotiated msize), writes it into the server's input stream, and
// returns the chain when the server's answer with the same tag comes out
// of its output stream: the server handles requests concurrently, so a
// slow request holds up no other and answers come in any order.
package ninep

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"sync"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/hugelgupf/p9/p9"
	"golang.org/x/sys/unix"
)

// DeviceID is virtio-9p's device type.
const DeviceID = 9

// featureMountTag is VIRTIO_9P_MOUNT_TAG: the config space holds the tag.
const featureMountTag = 0

// MaxTagLen is the longest mount tag.
const MaxTagLen = 31

// MaxMsize is the largest message size the device negotiates: a request
// or answer never takes more memory than this. Linux's virtio transport
// takes up to about 500 KiB (msize=... when mounting; its default is
// 128 KiB).
const MaxMsize = 1 << 20

// MinMsize is the smallest msize the device agrees to: p9's server drops
// the connection on a message larger than the msize, and a Tversion must
// always fit to negotiate again.
const MinMsize = 8192

// queueSize is the request queue's largest size.
const queueSize = virtio.MaxQueueSize

var (
	_ virtio.Device  = (*Device)(nil)
	_ virtio.Drainer = (*Device)(nil)
	_ io.Closer      = (*Device)(nil)
)

// Device is a virtio-9p device serving a Share, which it owns: Close
// closes it.
type Device struct {
	name  string
	tag   string
	share *Share
	log   *log.Logger
	cfg   []byte

	// serve is what the server serves: the share (a test wraps it).
	serve p9.Attacher
	// drainWait bounds how long Drain waits for the requests in
	// progress (drain.go).
	drainWait time.Duration

	// run serialises Activate, Reset and Close, and guards what follows.
	run    sync.Mutex
	sess   *session // nil when stopped
	closed bool
	// held: drained, until Undrain (a session started meanwhile takes
	// nothing either).
	held bool
	// restored is the state RestoreDeviceState took, until the
	// transport activates the device again (state.go).
	restored *State

	mu     sync.Mutex
	logged map[string]bool
}

// ValidTag checks a mount tag: 1 to MaxTagLen bytes.
func ValidTag(tag string) error {
	switch {
	case tag == "":
		return errors.New("an empty mount tag")
	case len(tag) > MaxTagLen:
		return fmt.Errorf("mount tag %q is longer than %d bytes", tag, MaxTagLen)
	}
	return nil
}

// New makes a device serving share under tag; name is how its log lines
// start. The device owns the share from then on.
func New(name, tag string, share *Share, logger *log.Logger) (*Device, error) {
	if err := ValidTag(tag); err != nil {
		return nil, err
	}
	cfg := make([]byte, 2+len(tag))
	binary.LittleEndian.PutUint16(cfg, uint16(len(tag)))
	copy(cfg[2:], tag)
	return &Device{name: name, tag: tag, share: share, serve: share, drainWait: DrainWait, log: logger, cfg: cfg, logged: map[string]bool{}}, nil
}

// Tag is the mount tag.
func (d *Device) Tag() string { return d.tag }

// DeviceID implements virtio.Device.
func (d *Device) DeviceID() uint32 { return DeviceID }

// Features implements virtio.Device.
func (d *Device) Features() uint64 {
	return 1<<virtio.FeatureIndirectDesc | 1<<virtio.FeatureEventIdx | 1<<featureMountTag
}

// QueueMaxSizes implements virtio.Device: one request queue.
func (d *Device) QueueMaxSizes() []uint16 { return []uint16{queueSize} }

// ReadConfig implements virtio.Device: tag_len[2] then the tag.
func (d *Device) ReadConfig(off uint64, data []byte) {
	if off < uint64(len(d.cfg)) {
		copy(data, d.cfg[off:])
	}
}

// WriteConfig implements virtio.Device: nothing is writable.
func (d *Device) WriteConfig(uint64, []byte) {}

var errClosed = errors.New("device closed")

// Activate implements virtio.Device: a fresh 9P server (no fids) and the
// goroutines that feed it and answer the guest. Activated again after a
// restore, the device first gives the fresh server the saved session's
// fids (replay.go).
func (d *Device) Activate(env virtio.ActivateEnv) error {
	if !env.Queues[0].Ready {
		return fmt.Errorf("the request queue is not set up")
	}
	d.run.Lock()
	defer d.run.Unlock()
	switch {
	case d.closed:
		return fmt.Errorf("%s: %w", d.name, errClosed)
	case d.sess != nil:
		return fmt.Errorf("%s: activated twice", d.name)
	}
	// The saved session is the restore's activation's only: a driver
	// that reset the device since starts afresh.
	saved := d.restored
	d.restored = nil
	if !env.Restored {
		saved = nil
	}
	d.sess = startSession(d, env, saved)
	return nil
}

// Reset implements virtio.Device: it stops the session and waits until
// the server has finished its requests and closed their files.
func (d *Device) Reset() {
	d.run.Lock()
	defer d.run.Unlock()
	d.stopLocked()
}

func (d *Device) stopLocked() {
	if d.sess != nil {
		d.sess.shutdown()
		d.sess = nil
	}
}

// Close stops the device and closes its share. Every call returns the
// first one's result.
func (d *Device) Close() error {
	d.run.Lock()
	defer d.run.Unlock()
	d.stopLocked()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.share.Close()
}

// logOnce reports a kind of guest error the first time it happens.
func (d *Device) logOnce(kind, format string, args ...any) {
	d.mu.Lock()
	seen := d.logged[kind]
	d.logged[kind] = true
	d.mu.Unlock()
	if !seen && d.log != nil {
		d.log.Printf("%s: "+format, append([]any{d.name}, args...)...)
	}
}

// logf reports something the operator should hear of each time.
func (d *Device) logf(format string, args ...any) {
	if d.log != nil {
		d.log.Printf("%s: "+format, append([]any{d.name}, args...)...)
	}
}

// request is a chain whose answer the server has yet to give, or a
// request of the device's own (internal).
type request struct {
	head     uint16
	writable []virtio.Buffer // guest memory: touched only inside the gate
	flush    bool            // a Tflush
	// internal, for the device's own requests (unlink.go), takes the
	// answer instead of a chain.
	internal chan []byte
	// op is what the request does to the fids, applied to the table
	// once the server answers (track.go); nil when nothing.
	op *fidOp
}

// maxInFlightBytes bounds the requests the server works on at once by
// what they may hold: each may take an msize buffer in and another out.
// minInFlight keeps the bound from starving a guest that negotiated the
// largest msize.
const (
	maxInFlightBytes = 64 << 20
	minInFlight      = 16
)

// session is one activation: the server and the goroutines around it.
type session struct {
	d    *Device
	env  virtio.ActivateEnv
	q    *virtio.Queue
	stop chan struct{}
	wg   sync.WaitGroup

	// unlinkMu lets one Tunlinkat at a time look its name up, as they
	// share reservedFid (unlink.go).
	unlinkMu sync.Mutex

	// mu guards the queue (several goroutines pop and push) and what
	// follows.
	mu      sync.Mutex
	srv     *server // replaced by each Tversion, on the queue's goroutine
	pending map[uint16]*request
	changed chan struct{} // closed when what waitFor waits on changes (wake)
	msize   uint32        // the negotiated msize (MaxMsize until Tversion)
	peak    int           // the most requests the guest had in progress
	// fids are the server's fids, as the answers say (fidtable.go).
	fids *fidTable
	// taken counts the chains popped and not yet returned to the
	// driver; hold stops the queue's goroutine popping more, and
	// replaying says the saved fids are being given to a fresh server
	// (drain.go, replay.go).
	taken     int
	hold      bool
	replaying bool
}

// server is one p9 server: a Tversion ends it with every fid it held, and
// the next is fresh, as 9P says a version starts a new session.
type server struct {
	tw   *pipe         // T-messages into it
	done chan struct{} // closed once it returned and closed its files
}

// startSession starts a session; saved, when not nil, is the saved
// session it goes on from. d.run is held.
func startSession(d *Device, env virtio.ActivateEnv, saved *State) *session {
	s := &session{d: d, env: env, q: env.Queues[0], stop: make(chan struct{}), pending: map[uint16]*request{}, msize: MaxMsize,
		fids: newFidTable(d.share.files.max), hold: d.held, replaying: saved != nil}
	if saved != nil {
		s.msize = saved.Msize
	}
	s.srv = s.startServer()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.serveQueue(saved)
	}()
	return s
}

// startServer starts a p9 server on a fresh input stream.
func (s *session) startServer() *server {
	// The requests' way holds up to two of the largest messages
	// before the queue's goroutine waits: bounded, and enough that it
	// need not wait for the server to read a message in pieces.
	sv := &server{tw: newPipe(2 * MaxMsize), done: make(chan struct{})}
	pass := s.env.Gate.Pass()
	a := &answers{
		deliver: func(msg []byte, tag uint16, tooBig bool) error { return s.deliver(&pass, msg, tag, tooBig) },
		release: pass.Release,
		recover: s.env.Recover,
	}
	srv := p9.NewServer(s.d.serve)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(sv.done)
		defer s.env.Recover("9p server")
		srv.Handle(sv.tw, a)
	}()
	return sv
}

var (
	errStopped = errors.New("9p device stopped")
	errVersion = errors.New("a Tversion ended the 9p session")
)

// shutdown stops the goroutines and the server, and waits for them: the
// server returns once its handlers did, and closes every file it held.
// What the guest queued and the server has not read yet is dropped, so
// however long the backlog, only the requests in progress (at most the
// in-flight bound) are waited for.
func (s *session) shutdown() {
	close(s.stop)
	s.mu.Lock()
	sv := s.srv
	s.mu.Unlock()
	sv.tw.Abort(errStopped)
	s.wg.Wait()
}

// restartServer ends the server (the session is idle: a Tversion waits
// for that) and starts a fresh one. It returns false once the device is
// stopping.
func (s *session) restartServer() bool {
	s.mu.Lock()
	old := s.srv
	s.mu.Unlock()
	old.tw.Abort(errVersion)
	select {
	case <-old.done:
	case <-s.stop:
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.stop:
		// shutdown read s.srv already: a new one would outlive it.
		return false
	default:
	}
	s.srv = s.startServer()
	return true
}

// fail marks the device broken after the driver broke the queue.
func (s *session) fail(err error) {
	s.env.Fail(fmt.Errorf("request queue: %w", err))
}

// inFlightLimit is how many requests the server may have at once: no
// more than the queue has descriptors for (a driver that makes a chain
// available again while it is in progress gets no more), nor than
// maxInFlightBytes allows at the negotiated msize. s.mu held.
func (s *session) inFlightLimit() int {
	return min(int(s.q.Size), max(maxInFlightBytes/int(s.msize), minInFlight))
}

// serveQueue takes each chain the driver makes available, checks its
// message and gives it to the server, or answers it at once when it is
// malformed. While the server has inFlightLimit requests it takes none.
// A restored session's saved fids come first (saved, when not nil): the
// guest's requests wait in the ring until the server has them.
func (s *session) serveQueue(saved *State) {
	pass := s.env.Gate.Pass()
	defer pass.Release()
	defer s.env.Recover("request queue")
	if saved != nil && !s.replay(saved) {
		return
	}
	kick := s.env.Kicks[0]
	var c virtio.Chain
	var tbuf []byte
	for kick.Wait(s.stop) {
		for {
			if !s.waitFor(func() bool { return !s.hold && len(s.pending) < s.inFlightLimit() }) {
				return
			}
			if !pass.Enter(s.stop) {
				return
			}
			s.mu.Lock()
			if s.hold {
				// Drained meanwhile: pop nothing until Undrain.
				s.mu.Unlock()
				pass.Leave()
				continue
			}
			ok, err := s.q.Pop(&c)
			if err != nil {
				s.mu.Unlock()
				s.fail(err)
				pass.Leave()
				return
			}
			if ok {
				s.taken++
				var msg []byte
				var kind messageKind
				msg, kind, tbuf, err = s.take(&c, tbuf)
				s.mu.Unlock()
				pass.Leave()
				if err != nil {
					s.fail(err)
					return
				}
				if msg != nil && !s.feed(&c, msg, kind) {
					return
				}
				continue
			}
			// The queue is empty: ask for a kick, unless more came
			// meanwhile, and tell the driver about what was used.
			more, err := s.q.EnableNotifications()
			if err == nil && !more && s.q.ShouldInterrupt() {
				s.env.Interrupt(0)
			}
			s.mu.Unlock()
			pass.Leave()
			if err != nil {
				s.fail(err)
				return
			}
			if !more {
				break
			}
		}
	}
}

// messageKind is how feed passes a checked message on.
type messageKind int

const (
	plain   messageKind = iota
	version             // a Tversion: alone, on a fresh server
	unlink              // a Tunlinkat: its name looked up first (unlink.go)
)

// take reads the message of chain c into tbuf (grown as needed, up to
// msize) and either records the chain as pending and returns the message
// for feed, or answers the chain at once (msg nil). A Tversion's chain
// is not recorded yet (feed does it). It runs inside the gate with s.mu
// held; an error is the queue's (the driver broke it).
func (s *session) take(c *virtio.Chain, tbuf []byte) (msg []byte, kind messageKind, _ []byte, err error) {
	var hdr [headerSize]byte
	n := c.ReadableLen()
	gather(hdr[:], c.Buffers)
	tag := uint16(noTag)
	if n >= headerSize {
		tag = binary.LittleEndian.Uint16(hdr[5:])
	}
	size := binary.LittleEndian.Uint32(hdr[:])
	typ := hdr[4]
	refuse := func(errno unix.Errno, kind, format string, args ...any) ([]byte, messageKind, []byte, error) {
		s.d.logOnce(kind, format, args...)
		return nil, plain, tbuf, s.reply(c.Head, c.Buffers, errorReply(tag, errno))
	}
	answer := func(reply []byte) ([]byte, messageKind, []byte, error) {
		return nil, plain, tbuf, s.reply(c.Head, c.Buffers, reply)
	}
	switch {
	case n < headerSize:
		return refuse(unix.EINVAL, "short", "a request of %d bytes has no 9P header; failing it", n)
	case size < headerSize || uint64(size) > uint64(n):
		return refuse(unix.EINVAL, "size", "a request's size field says %d bytes, its buffers hold %d; failing it", size, n)
	case size > s.msize:
		return refuse(unix.EMSGSIZE, "msize", "a request of %d bytes is larger than msize %d; failing it", size, s.msize)
	}
	layout, known := layouts[typ]
	if !known {
		return refuse(unix.ENOSYS, "type", "a request of type %d, not a 9P2000.L request; failing it", typ)
	}
	if cap(tbuf) < int(size) {
		tbuf = make([]byte, max(int(size), 64<<10))
	}
	msg = tbuf[:size]
	gather(msg, c.Buffers)
	body := msg[headerSize:]
	switch errno := check(layout, body); errno {
	case 0:
	case unix.ENAMETOOLONG:
		return refuse(errno, "name", "a request of type %d names a file longer than Linux allows; failing it", typ)
	default:
		return refuse(errno, "layout", "a request of type %d is too short for its fields; failing it", typ)
	}
	if _, dup := s.pending[tag]; dup {
		return refuse(unix.EINVAL, "dup", "a request reuses tag %d of one in progress; failing it", tag)
	}
	if newFid(typ, body) == reservedFid {
		return refuse(unix.EINVAL, "fid", "a request makes fid %#x, which the device keeps for itself; failing it", reservedFid)
	}
	if mutating[typ] && s.d.share.ReadOnly() {
		return answer(errorReply(tag, unix.EROFS))
	}
	switch typ {
	case msgTversion:
		// The device's bounds on msize are the server's too.
		m := binary.LittleEndian.Uint32(body)
		binary.LittleEndian.PutUint32(body, min(max(m, MinMsize), MaxMsize))
		return msg, version, tbuf, nil
	case msgTxattrwalk:
		// The share serves no extended attributes, but p9's server
		// answers a Txattrwalk with EINVAL whatever the file says, and
		// overlayfs takes EINVAL for a broken lower layer: every file
		// of a 9p-backed overlay would fail to look up. EOPNOTSUPP is
		// what "no xattrs here" is.
		return answer(errorReply(tag, unix.EOPNOTSUPP))
	case msgTxattrcreate:
		// Nor does it take any: p9's server would buffer the
		// attribute's writes in gokvm's memory, however large the guest
		// says it is, until the fid is clunked.
		return answer(errorReply(tag, unix.EOPNOTSUPP))
	case msgTflush:
		// p9's server waits for the old tag to finish: a Tflush of
		// itself, or of another Tflush (which may wait for this one),
		// would wait forever. There is nothing to wait for: done.
		old := binary.LittleEndian.Uint16(body)
		if p := s.pending[old]; old == tag || p != nil && p.flush {
			return answer(emptyReply(msgTflush+1, tag))
		}
	case msgTunlinkat:
		kind = unlink
	}
	r := s.record(c)
	r.flush = typ == msgTflush
	r.op = parseOp(typ, body)
	s.pending[tag] = r
	s.peak = max(s.peak, len(s.pending))
	return msg, kind, tbuf, nil
}

// record keeps what the answer to chain c needs.
func (s *session) record(c *virtio.Chain) *request {
	r := &request{head: c.Head}
	for _, b := range c.Buffers {
		if b.Writable {
			r.writable = append(r.writable, b)
		}
	}
	return r
}

// feed passes msg on by its kind. A Tversion starts a new session: the
// server sees it with no other request in progress, on a fresh server
// (the old one's fids are gone), and the next request is taken once it
// answered. It returns false once the device is stopping.
func (s *session) feed(c *virtio.Chain, msg []byte, kind messageKind) bool {
	switch kind {
	case unlink:
		// msg is tbuf, which the next request overwrites.
		m := append([]byte(nil), msg...)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.unlink(m)
		}()
		return true
	case version:
		if !s.waitFor(func() bool { return len(s.pending) == 0 }) || !s.restartServer() {
			return false
		}
		// The chain's buffers are guest memory: record it inside the
		// gate. Nothing touched c since take; the queue is ours.
		s.mu.Lock()
		r := s.record(c)
		r.op = versionOp
		s.pending[binary.LittleEndian.Uint16(msg[5:])] = r
		s.mu.Unlock()
	}
	if _, err := s.srv.tw.Write(msg); err != nil {
		return false
	}
	if kind == version {
		return s.waitFor(func() bool { return len(s.pending) == 0 })
	}
	return true
}

// waitFor waits until ready (called with s.mu held) holds, checking it
// each time a request ends, a chain is returned, or the hold changes;
// false once the device is stopping.
func (s *session) waitFor(ready func() bool) bool {
	for {
		s.mu.Lock()
		if ready() {
			s.mu.Unlock()
			return true
		}
		changed := s.changedC()
		s.mu.Unlock()
		select {
		case <-changed:
		case <-s.stop:
			return false
		}
	}
}

// changedC is the channel wake closes next. s.mu held.
func (s *session) changedC() <-chan struct{} {
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// wake wakes those waiting for a change. s.mu held.
func (s *session) wake() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// done removes the request of tag and wakes those waiting on that. s.mu
// held.
func (s *session) done(tag uint16) {
	delete(s.pending, tag)
	s.wake()
}

// deliver returns the server's answer msg (whole, or tooBig: larger
// than MaxMsize and dropped) to the chain that asked, by tag, and
// interrupts the driver when it wants to hear. It runs on the server's
// goroutine that wrote the answer (see answers); pass is the writer's.
func (s *session) deliver(pass *virtio.Pass, msg []byte, tag uint16, tooBig bool) error {
	if !pass.Enter(s.stop) {
		s.abandon(tag)
		return errStopped
	}
	defer pass.Leave()
	if err := s.answer(msg, tag, tooBig); err != nil {
		// Outside s.mu, as the queue's goroutine fails the device.
		s.fail(err)
		return errStopped
	}
	return nil
}

// abandon forgets the chain waiting on tag, whose answer cannot be
// given: the device stopped, or is broken (the gate is shut) until the
// driver resets it, which takes back every chain. A drain does not wait
// for it, so a broken device can still be saved (as needing a reset).
func (s *session) abandon(tag uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.pending[tag]; r != nil && r.internal == nil {
		s.done(tag)
		s.taken--
	}
}

// answer returns msg to the chain waiting on tag, inside the gate; an
// error is the queue's (the driver broke it).
func (s *session) answer(msg []byte, tag uint16, tooBig bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.pending[tag]
	if r == nil {
		s.d.logOnce("orphan", "the 9P server answered tag %d, which no request has; dropping it", tag)
		return nil
	}
	s.done(tag)
	if tooBig {
		s.d.logOnce("bigreply", "an answer of more than %d bytes; failing the request", MaxMsize)
		msg = errorReply(tag, unix.EMSGSIZE)
	}
	if r.internal != nil {
		r.internal <- append([]byte(nil), msg...)
		return nil
	}
	if r.op != nil {
		s.fids.apply(r.op, msg)
	}
	if msg[4] == msgRversion && len(msg) >= headerSize+4 {
		if m := binary.LittleEndian.Uint32(msg[headerSize:]); m != 0 {
			s.msize = min(max(m, MinMsize), MaxMsize)
		}
	}
	err := s.reply(r.head, r.writable, msg)
	if err == nil && s.q.ShouldInterrupt() {
		s.env.Interrupt(0)
	}
	return err
}

// reply writes msg into the writable buffers of bufs and returns chain
// head to the driver. An answer larger than the room the driver gave
// becomes an Rlerror(EMSGSIZE) (or nothing, when not even that fits).
// Inside the gate, s.mu held.
func (s *session) reply(head uint16, bufs []virtio.Buffer, msg []byte) error {
	room := 0
	for _, b := range bufs {
		if b.Writable {
			room += len(b.Data)
		}
	}
	if len(msg) > room {
		s.d.logOnce("room", "an answer of %d bytes does not fit the request's %d writable bytes; failing it", len(msg), room)
		msg = errorReply(binary.LittleEndian.Uint16(msg[5:]), unix.EMSGSIZE)
		if len(msg) > room {
			msg = nil
		}
	}
	n := scatter(bufs, msg)
	err := s.q.Push(head, uint32(n))
	// Returned, or the queue is broken and the device with it: either
	// way no drain waits for it.
	s.taken--
	s.wake()
	return err
}

// emptyReply is an R-message with no body (Rflush).
func emptyReply(typ uint8, tag uint16) []byte {
	b := make([]byte, headerSize)
	binary.LittleEndian.PutUint32(b, headerSize)
	b[4] = typ
	binary.LittleEndian.PutUint16(b[5:], tag)
	return b
}

// errorReply is an Rlerror.
func errorReply(tag uint16, errno unix.Errno) []byte {
	b := make([]byte, headerSize+4)
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	b[4] = msgRlerror
	binary.LittleEndian.PutUint16(b[5:], tag)
	binary.LittleEndian.PutUint32(b[7:], uint32(errno))
	return b
}

// answers is the server's output: it assembles each R-message from the
// pieces the server writes (p9 writes an answer's header, body and
// payload separately, one answer at a time under its send lock) and
// delivers it as soon as it is whole, on the writing goroutine, so an
// answer reaches the guest with no hand-off to another goroutine. An
// answer larger than MaxMsize is dropped as it arrives and fails its
// request.
type answers struct {
	// deliver hands a whole answer on (session.deliver). Each Write
	// defers release (its pass leaves the gate) and recover (a panic
	// fails the device, not gokvm); both may be nil in tests.
	deliver func(msg []byte, tag uint16, tooBig bool) error
	release func()
	recover func(where string)
	buf     []byte // the answer so far (up to MaxMsize)
	// drop counts the bytes still to come of an answer too large to
	// keep; dropTag is its tag.
	drop    uint32
	dropTag uint16
}

// Write takes the next piece of the server's output. Once the device
// stops it fails, and the server stops answering.
func (a *answers) Write(b []byte) (n int, err error) {
	if a.release != nil {
		defer a.release()
	}
	if a.recover != nil {
		// A deferred method value: recover() is called by the
		// deferred function itself, as it must be.
		defer a.recover("9p answers")
	}
	n = len(b)
	for len(b) > 0 {
		if a.drop > 0 {
			k := min(uint32(len(b)), a.drop)
			a.drop -= k
			b = b[k:]
			if a.drop == 0 {
				if err := a.deliver(nil, a.dropTag, true); err != nil {
					return 0, err
				}
			}
			continue
		}
		if len(a.buf) < headerSize {
			k := min(len(b), headerSize-len(a.buf))
			a.buf = append(a.buf, b[:k]...)
			b = b[k:]
			if len(a.buf) < headerSize {
				break
			}
		}
		size := binary.LittleEndian.Uint32(a.buf)
		tag := binary.LittleEndian.Uint16(a.buf[5:])
		switch {
		case size < headerSize:
			return 0, fmt.Errorf("the 9P server wrote a message of %d bytes", size)
		case size > MaxMsize:
			a.drop, a.dropTag, a.buf = size-headerSize, tag, a.buf[:0]
			continue
		}
		k := min(len(b), int(size)-len(a.buf))
		a.buf = append(a.buf, b[:k]...)
		b = b[k:]
		if len(a.buf) == int(size) {
			err := a.deliver(a.buf, tag, false)
			a.buf = a.buf[:0]
			if err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// Close is the server's end of its output; nothing is left to do.
func (a *answers) Close() error { return nil }

// gather copies the start of the chain's readable bytes into dst.
func gather(dst []byte, bufs []virtio.Buffer) int {
	n := 0
	for _, b := range bufs {
		if b.Writable {
			continue
		}
		n += copy(dst[n:], b.Data)
		if n == len(dst) {
			break
		}
	}
	return n
}

// scatter copies src into the writable buffers.
func scatter(bufs []virtio.Buffer, src []byte) int {
	n := 0
	for _, b := range bufs {
		if !b.Writable {
			continue
		}
		n += copy(b.Data, src[n:])
		if n == len(src) {
			break
		}
	}
	return n
}
