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
package meeting
