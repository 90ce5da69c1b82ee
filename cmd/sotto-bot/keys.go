package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/sottohq/sotto/participant"
	"github.com/sottohq/sotto/transport"
)

// keying supplies the bot's SFrame keys: the meeting protocol
// (meetingKeying) or the test-only shared key (testKeying).
type keying interface {
	// start installs the keys known at join.
	start(p *participant.Participant) error
	// event follows the meeting: envelopes and membership changes.
	event(p *participant.Participant, ev transport.Event) error
	// stop leaves the meeting; called once.
	stop()
}

func newKeying(o options) (keying, error) {
	if meetingMode() {
		if o.testKey != "" {
			return nil, errors.New("-test-key cannot be combined with -host or -link")
		}
		return newMeetingKeying(o.relay, o.meeting)
	}
	if o.testKey == "" {
		return nil, errors.New("no keys: use -host or -link, or -test-key for a test-only shared key")
	}
	key, err := hex.DecodeString(o.testKey)
	if err != nil || len(key) < 16 {
		return nil, errors.New("-test-key must be at least 16 bytes of hex")
	}
	return &testKeying{key: key}, nil
}

// testKeying is the TEST-ONLY shared-key mode: every bot of the meeting has
// the same base key, and each sender's KID is derived from its relay
// session ID so that KIDs differ without coordination. RFC 9605 §4.4.2
// derives a distinct key and salt per KID, so senders never share a nonce
// space unless the relay hands two of them colliding IDs.
type testKeying struct {
	key []byte
}

// testKID maps a session ID to a KID below 2^31 (at most a 5-byte header field).
func testKID(session string) uint64 {
	h := sha256.Sum256([]byte("sotto test kid\x00" + session))
	return uint64(binary.BigEndian.Uint32(h[:4]) >> 1)
}

func (k *testKeying) start(p *participant.Participant) error {
	for _, peer := range p.Conn().Peers() {
		if err := p.SetReceiveKey(testKID(peer.String()), k.key); err != nil {
			return fmt.Errorf("test key: %w", err)
		}
	}
	if err := p.SetSendKey(testKID(p.SessionID()), k.key); err != nil {
		return fmt.Errorf("test key: %w", err)
	}
	return nil
}

func (k *testKeying) stop() {}

func (k *testKeying) event(p *participant.Participant, ev transport.Event) error {
	switch e := ev.(type) {
	case transport.PeerJoined:
		if err := p.SetReceiveKey(testKID(e.ID.String()), k.key); err != nil {
			return fmt.Errorf("test key: %w", err)
		}
	case transport.PeerLeft:
		p.RemoveReceiveKey(testKID(e.ID.String()))
	}
	return nil
}
