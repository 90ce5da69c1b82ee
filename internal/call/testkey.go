package call

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/internal/participant"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/relay/signal"
)

// sharedKey is the TEST-ONLY keying of Config.SharedTestKey: every
// participant has the same base key, and each sender's KID is derived
// from its relay session ID so that KIDs differ without coordination.
// RFC 9605 §4.4.2 derives a distinct key and salt per KID, so senders
// never share a nonce space unless the relay hands two of them colliding
// IDs — which a malicious relay could: hence test only.
type sharedKey struct {
	key  []byte
	part *participant.Participant
	err  error // the first key installation failure
}

// testKID maps a session ID to a KID below 2^31 (at most a 5-byte header
// field).
func testKID(session signal.ID) uint64 {
	h := sha256.Sum256([]byte("sotto test kid\x00" + session.String()))
	return uint64(binary.BigEndian.Uint32(h[:4]) >> 1)
}

func newSharedKey(key []byte, conn *transport.Conn, part *participant.Participant) (*sharedKey, error) {
	if len(key) < 16 {
		return nil, errors.New("the shared test key must be at least 16 bytes")
	}
	k := &sharedKey{key: append([]byte(nil), key...), part: part}
	for _, peer := range conn.Peers() {
		k.peer(peer)
	}
	if err := part.SetSendKey(testKID(conn.SessionID()), k.key); err != nil {
		return nil, fmt.Errorf("test key: %w", err)
	}
	return k, k.err
}

func (k *sharedKey) peer(session signal.ID) {
	if err := k.part.SetReceiveKey(session, testKID(session), k.key); err != nil && k.err == nil {
		k.err = fmt.Errorf("test key: %w", err)
	}
}

func (k *sharedKey) handle(ev transport.Event, _ time.Time) bool {
	switch e := ev.(type) {
	case transport.PeerJoined:
		k.peer(e.ID)
	case transport.PeerLeft:
		k.part.RemoveReceiveKey(testKID(e.ID))
	case transport.Closed:
		return true
	}
	return false
}

func (k *sharedKey) tick(time.Time)          {}
func (k *sharedKey) events() []meeting.Event { return nil }
func (k *sharedKey) leave()                  {}
func (k *sharedKey) close()                  { clear(k.key) }
