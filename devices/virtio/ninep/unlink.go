package ninep

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// A Tunlinkat of a name that is not there must leave nothing behind, but
// p9's server makes a node of its path tree for the name before it asks
// the share to unlink it, and keeps the node when the unlink fails: a
// guest unlinking names that do not exist grew gokvm's heap without
// bound. So the device first walks to the name itself, on a fid of its
// own (a walk that fails makes no node), and passes the Tunlinkat on only
// when the name is there; otherwise the guest gets the walk's error. A
// name that exists has its node already, or one that lasts no longer than
// the file.

// reservedFid is the fid the device walks with. A guest may not make it
// (Tattach, Twalk's newfid): Linux numbers its fids from 0 up and never
// comes near.
const reservedFid uint32 = 0xfffffffe

// firstInternalTag is where the device's own tags start, counting down
// (0xffff is Tversion's NOTAG). A guest request that reuses one while it
// is in progress is refused as a reused tag.
const firstInternalTag = 0xfffe

// newFid is the fid a message makes, or NOFID.
func newFid(typ byte, body []byte) uint32 {
	switch typ {
	case msgTattach:
		return binary.LittleEndian.Uint32(body)
	case msgTwalk, msgTxattrwalk:
		return binary.LittleEndian.Uint32(body[4:])
	}
	return noFid
}

// noFid is 9P's NOFID.
const noFid uint32 = 0xffffffff

// unlink looks up the name of the Tunlinkat msg (checked by take, its
// chain pending under its tag) and passes msg on to the server if it is
// there, or answers it with the look-up's error.
func (s *session) unlink(msg []byte) {
	defer s.env.Recover("9p unlink")
	pass := s.env.Gate.Pass()
	defer pass.Release()
	tag := binary.LittleEndian.Uint16(msg[5:])
	body := msg[headerSize:]
	dirFid := binary.LittleEndian.Uint32(body)
	nameLen := int(binary.LittleEndian.Uint16(body[4:]))
	name := body[6 : 6+nameLen]

	s.unlinkMu.Lock()
	defer s.unlinkMu.Unlock()
	walk := func(itag uint16) []byte {
		b := binary.LittleEndian.AppendUint32(nil, dirFid)
		b = binary.LittleEndian.AppendUint32(b, reservedFid)
		b = binary.LittleEndian.AppendUint16(b, 1)
		b = binary.LittleEndian.AppendUint16(b, uint16(nameLen))
		return frame(msgTwalk, itag, append(b, name...))
	}
	r, ok := s.internal(walk)
	if !ok {
		return
	}
	if r[4] != msgRwalk {
		errno := unix.EIO
		if r[4] == msgRlerror && len(r) >= headerSize+4 {
			errno = unix.Errno(binary.LittleEndian.Uint32(r[headerSize:]))
		}
		s.deliver(&pass, errorReply(tag, errno), tag, false)
		return
	}
	clunk := func(itag uint16) []byte {
		return frame(msgTclunk, itag, binary.LittleEndian.AppendUint32(nil, reservedFid))
	}
	if _, ok := s.internal(clunk); !ok {
		return
	}
	s.mu.Lock()
	tw := s.srv.tw
	s.mu.Unlock()
	tw.Write(msg) // fails only once the device stops
}

// internal sends the device's own request, made by build with the tag it
// is given, and waits for the server's answer; false once the device is
// stopping.
func (s *session) internal(build func(tag uint16) []byte) ([]byte, bool) {
	answer := make(chan []byte, 1)
	s.mu.Lock()
	tag := uint16(firstInternalTag)
	for s.pending[tag] != nil {
		tag-- // pending holds at most a queue's worth: this ends soon
	}
	s.pending[tag] = &request{internal: answer}
	tw := s.srv.tw
	s.mu.Unlock()
	if _, err := tw.Write(build(tag)); err != nil {
		return nil, false
	}
	select {
	case r := <-answer:
		return r, true
	case <-s.stop:
		return nil, false
	}
}

// frame makes a message of a body: size[4] type[1] tag[2] body.
func frame(typ uint8, tag uint16, body []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(headerSize+len(body)))
	b = append(b, typ)
	b = binary.LittleEndian.AppendUint16(b, tag)
	return append(b, body...)
}
