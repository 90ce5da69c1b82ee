// Package meeting is the Sotto meeting protocol core (docs/PROTOCOL.md §6):
// invite links, the waiting room, the host-signed hash-chained roster,
// per-sender frame keys delivered over pairwise authenticated encryption,
// security codes, host hand-over and end-to-end encrypted chat.
//
// The core is a deterministic state machine with no I/O: a [Member] takes
// envelopes from the relay ([Member.Receive]), presence changes
// ([Member.PeerJoined], [Member.PeerLeft]), timer ticks ([Member.Tick]) and
// local commands ([Member.Admit], [Member.Remove], …), and produces
// envelopes to send ([Member.Outgoing]) and events for the user interface and
// the media engine ([Member.Events]). Time and randomness are inputs, so tests
// replay exactly. A Member is not safe for concurrent use; drive it from one
// goroutine.
//
// Everything from the relay is hostile until authenticated: envelopes are
// size-bounded, decrypted, signature-checked and replay-checked before any
// field is used, and every rejection is counted ([Counters]) and, where a
// person should know, raised as an [Alert].
//
// # Layout
//
// [Member] is the state machine (member.go, receive.go, membership.go,
// commands.go, keys.go, send.go, timers.go). It composes small value types that
// each own one part of its state and are tested on their own:
//
//   - outbox (outbox.go): reliable messages awaiting an Ack, with the
//     re-send backoff and give-up of §6.3;
//   - keyRing (keyring.go): its own send key per epoch and generation, the
//     next key until every recipient acknowledged or the switch timeout,
//     and every sender's receive keys with their ReceiveGrace expiry (§6.6);
//   - waitingRoom (waitingroom.go): the host's joiners and denials, and
//     every member's copy of the host's Lobby (§6.5);
//   - presence (presence.go): the sessions the relay announced, for ghost
//     detection (§6.10);
//   - holdQueue (hold.go) and alertLimiter (alerts.go).
//
// The byte formats (envelopes, inner messages, bodies and the roster,
// §6.3 and §6.4) are in internal/format, which only encodes and decodes;
// keys, signatures and the acceptance rules stay here. The replay window
// of §6.3 is crypto/internal/replay, shared with the SFrame receiver. The
// KID layout of §6.6 is in kid.go, and [KIDEpoch] is the one way for other
// packages to read a KID's epoch.
package meeting
