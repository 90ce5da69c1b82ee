package meeting

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// BenchmarkRotation is the protocol's own cost of roster changes: one
// iteration is a joiner admitted automatically and then removed (two
// epochs, each a full key schedule among all members), all members in one
// process on an instant in-memory relay. It is CPU time for the whole
// meeting, not latency.
func BenchmarkRotation(b *testing.B) {
	for _, n := range []int{2, 5, 10, 20} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			w := newWorld(b)
			h := w.host("host")
			h.m.SetPolicy(PolicyAdmitAll)
			for i := 1; i < n; i++ {
				w.join(fmt.Sprintf("m%d", i), h.m.Invite())
				w.deliver()
			}
			if len(w.members()) != n {
				b.Fatalf("%d members", len(w.members()))
			}
			ids := make([]*identity.Identity, b.N)
			for i := range ids {
				ids[i], _ = identity.Generate()
			}
			b.ResetTimer()
			for i := range b.N {
				j := w.joinWith("joiner", ids[i], h.m.Invite())
				w.deliver()
				if j.m.State() != StateMember {
					b.Fatal("joiner not admitted")
				}
				if err := h.m.Remove(j.sid); err != nil {
					b.Fatal(err)
				}
				h.drain()
				w.deliver()
				w.disconnect(j)
			}
			b.StopTimer()
			for _, m := range w.members() {
				if kid, _ := m.m.SendKID(); KIDEpoch(kid) != h.m.Epoch() {
					b.Fatal("a member did not switch")
				}
			}
		})
	}
}

// BenchmarkSealedMessage is one chat message sealed, opened and
// acknowledged:
// padding, Ed25519 signature, XChaCha20-Poly1305 and the checks.
func BenchmarkSealedMessage(b *testing.B) {
	w := newWorld(b)
	h := w.host("host")
	a := w.join("a", h.m.Invite())
	w.deliver()
	w.admitAll(b, h)
	w.deliver()
	p := h.m.peers[a.m.MemberKey()]
	b.ResetTimer()
	for b.Loop() {
		h.m.seq++
		env := h.m.seal(p, format.KindChat, append([]byte{0, 1}, 'x'), h.m.seq)
		a.m.Receive(h.sid, env, w.now)
		a.m.Outgoing()
		a.m.Events()
	}
}

// BenchmarkEd25519SignVerify is the baseline: the signature and its check
// that every sealed message carries.
func BenchmarkEd25519SignVerify(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	pub := priv.Public().(ed25519.PublicKey)
	msg := make([]byte, 200)
	for b.Loop() {
		sig := ed25519.Sign(priv, msg)
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify")
		}
	}
}
