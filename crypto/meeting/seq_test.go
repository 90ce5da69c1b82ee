package meeting

import (
	"testing"

	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// Sequence numbers count from 1 (§6.3): an authentic message with seq 0 is
// below every replay window and is dropped as too old, not processed.
func TestSeqZeroIsTooOld(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	before := a.m.Counters()
	chats := len(a.chats)
	env := h.m.seal(h.m.peers[a.m.MemberKey()], format.KindChat, format.AppendChat(nil, 0, "x"), 0)
	w.inject(pkt{from: h.sid, to: a.sid, payload: env})
	w.deliver()
	if got := a.m.Counters(); got.TooOld != before.TooOld+1 || got.AuthFailed != before.AuthFailed {
		t.Fatalf("seq 0: too old %d → %d, auth failed %d → %d", before.TooOld, got.TooOld, before.AuthFailed, got.AuthFailed)
	}
	if len(a.chats) != chats {
		t.Fatal("a message with seq 0 was processed")
	}
	// The same chat under a fresh seq goes through: the test above is not
	// rejecting the envelope for another reason.
	h.m.seq++
	env = h.m.seal(h.m.peers[a.m.MemberKey()], format.KindChat, format.AppendChat(nil, 0, "x"), h.m.seq)
	w.inject(pkt{from: h.sid, to: a.sid, payload: env})
	w.deliver()
	if len(a.chats) != chats+1 {
		t.Fatal("the control message was not processed")
	}
}
