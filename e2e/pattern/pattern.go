// Package pattern makes the deterministic pseudo-random data the end-to-end
// tests write and check on both sides of a VM, so neither side has to send
// the other what it expects.
package pattern

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
)

// Bytes returns n bytes of the stream for seed (ChaCha8: the same on every
// architecture).
func Bytes(seed uint64, n int) []byte {
	var key [32]byte
	for i := 0; i < 8; i++ {
		key[i] = byte(seed >> (8 * i))
	}
	b := make([]byte, n)
	r := rand.NewChaCha8(key)
	r.Read(b)
	return b
}

// SHA256 is the hex digest of b.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
