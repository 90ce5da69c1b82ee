package format

// Message bodies, the "Body" column of the kinds table in
// docs/PROTOCOL.md §6.3. Decoders only check lengths and structure; what a
// field means (is the name valid, is the KID for this epoch) is the state
// machine's to judge, in its own order.

import (
	"encoding/binary"

	"github.com/sottohq/sotto/crypto/identity"
)

const (
	// BaseKeySize is a sender's SFrame base key (RFC 9605 §4.4.1).
	BaseKeySize = 32
	// KIDSize is the u64 SFrame KID in a SenderKey.
	KIDSize = 8
	// SenderKeySize is a SenderKey body: KID and base key.
	SenderKeySize = KIDSize + BaseKeySize
	// chatLenSize is the u16 text length of a Chat body.
	chatLenSize = 2
	// lobbyHeaderSize is the u64 epoch and u8 count of a Lobby body.
	lobbyHeaderSize = 8 + 1
	// HeartbeatSize is a Heartbeat body: u64 epoch, the roster hash and the
	// u64 seq echoed.
	HeartbeatSize = 8 + HashSize + 8
	// helloFixedSize is the Pub and u8 name length of a Hello body.
	helloFixedSize = identity.PublicSize + 1
)

// AppendHello appends a Hello body: Pub ‖ u8 nameLen ‖ name.
func AppendHello(b []byte, pub identity.Public, name string) []byte {
	b = append(b, pub.Marshal()...)
	b = append(b, byte(len(name)))
	return append(b, name...)
}

// ParseHello decodes a Hello body; the name is not checked.
func ParseHello(body []byte) (identity.Public, string, error) {
	if len(body) < helloFixedSize {
		return identity.Public{}, "", ErrMalformed
	}
	pub, err := identity.ParsePublic(body[:identity.PublicSize])
	if err != nil || len(body) != helloFixedSize+int(body[identity.PublicSize]) {
		return identity.Public{}, "", ErrMalformed
	}
	return pub, string(body[helloFixedSize:]), nil
}

// AppendDeny appends a Deny body: the signer's Pub ‖ origin Pub ‖ u8 c ‖ c
// host certificates, the lineage a joiner checks from the link (§6.4).
func AppendDeny(b []byte, signer, origin identity.Public, certs []HostCert) []byte {
	b = append(b, signer.Marshal()...)
	b = append(b, origin.Marshal()...)
	b = append(b, byte(len(certs)))
	for _, c := range certs {
		b = AppendCert(b, c)
	}
	return b
}

// ParseDeny decodes a Deny body.
func ParseDeny(body []byte) (signer, origin identity.Public, certs []HostCert, err error) {
	rd := &reader{b: body}
	signer = rd.public()
	origin = rd.public()
	c := rd.u8()
	if c > MaxCerts {
		return signer, origin, nil, ErrMalformed
	}
	for range c {
		certs = append(certs, rd.cert())
	}
	if !rd.done() {
		return signer, origin, nil, ErrMalformed
	}
	return signer, origin, certs, nil
}

// AppendSenderKey appends a SenderKey body: u64 kid ‖ base key. The caller
// clears it once sealed.
func AppendSenderKey(b []byte, kid uint64, key []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, kid)
	return append(b, key...)
}

// ParseSenderKey decodes a SenderKey body; key aliases body.
func ParseSenderKey(body []byte) (kid uint64, key []byte, err error) {
	if len(body) != SenderKeySize {
		return 0, nil, ErrMalformed
	}
	return binary.BigEndian.Uint64(body), body[KIDSize:], nil
}

// AppendAck appends an Ack body: the u64 seq acknowledged.
func AppendAck(b []byte, seq uint64) []byte { return binary.BigEndian.AppendUint64(b, seq) }

// ParseAck decodes an Ack body.
func ParseAck(body []byte) (uint64, error) {
	if len(body) != SeqSize {
		return 0, ErrMalformed
	}
	return binary.BigEndian.Uint64(body), nil
}

// AppendChat appends a Chat body: u64 prev ‖ u16 len ‖ text, where prev is
// the seq of the sender's previous Chat to the same recipient, 0 for its
// first (§6.9).
func AppendChat(b []byte, prev uint64, text string) []byte {
	b = binary.BigEndian.AppendUint64(b, prev)
	b = binary.BigEndian.AppendUint16(b, uint16(len(text)))
	return append(b, text...)
}

// ParseChat decodes a Chat body; the text is not checked.
func ParseChat(body []byte) (prev uint64, text string, err error) {
	if len(body) < SeqSize+chatLenSize || len(body) != SeqSize+chatLenSize+int(binary.BigEndian.Uint16(body[SeqSize:])) {
		return 0, "", ErrMalformed
	}
	return binary.BigEndian.Uint64(body), string(body[SeqSize+chatLenSize:]), nil
}

// AppendLobby appends a Lobby body: u64 epoch ‖ u8 n ‖ n sids (§6.5).
func AppendLobby(b []byte, epoch uint64, sids ...[SIDSize]byte) []byte {
	b = binary.BigEndian.AppendUint64(b, epoch)
	b = append(b, byte(len(sids)))
	for _, s := range sids {
		b = append(b, s[:]...)
	}
	return b
}

// ParseLobby decodes a Lobby body.
func ParseLobby(body []byte) (epoch uint64, sids [][SIDSize]byte, err error) {
	if len(body) < lobbyHeaderSize || len(body) != lobbyHeaderSize+SIDSize*int(body[8]) {
		return 0, nil, ErrMalformed
	}
	for i := lobbyHeaderSize; i < len(body); i += SIDSize {
		sids = append(sids, [SIDSize]byte(body[i:i+SIDSize]))
	}
	return binary.BigEndian.Uint64(body), sids, nil
}

// AppendHandOver appends a HandOver body: host certificate ‖ invite private
// key (§6.8). The caller clears it once sealed.
func AppendHandOver(b []byte, cert HostCert, invitePriv *[KeySize]byte) []byte {
	b = AppendCert(b, cert)
	return append(b, invitePriv[:]...)
}

// ParseHandOver decodes a HandOver body; priv aliases body.
func ParseHandOver(body []byte) (cert HostCert, priv []byte, err error) {
	rd := &reader{b: body}
	cert = rd.cert()
	priv = rd.take(KeySize)
	if !rd.done() {
		return HostCert{}, nil, ErrMalformed
	}
	return cert, priv, nil
}

// AppendHeartbeat appends a Heartbeat body: u64 epoch ‖ roster hash (32) ‖
// u64 echo, the highest seq the host accepted from the recipient (§6.4
// "Heartbeat").
func AppendHeartbeat(b []byte, epoch uint64, hash [HashSize]byte, echo uint64) []byte {
	b = binary.BigEndian.AppendUint64(b, epoch)
	b = append(b, hash[:]...)
	return binary.BigEndian.AppendUint64(b, echo)
}

// ParseHeartbeat decodes a Heartbeat body.
func ParseHeartbeat(body []byte) (epoch uint64, hash [HashSize]byte, echo uint64, err error) {
	if len(body) != HeartbeatSize {
		return 0, hash, 0, ErrMalformed
	}
	copy(hash[:], body[8:])
	return binary.BigEndian.Uint64(body), hash, binary.BigEndian.Uint64(body[8+HashSize:]), nil
}
