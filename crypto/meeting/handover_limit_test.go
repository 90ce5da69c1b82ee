package meeting

import (
	"errors"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// A roster carries at most format.MaxCerts host certificates. A hand-over past
// that would publish a roster every member rejects, with the old host's
// invite key already given away: the meeting would be left without a host.
// The hand-over is refused instead, and the host stays host.
func TestHandOverLimit(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	host, other := h, a
	for i := range format.MaxCerts {
		if err := host.m.HandOver(other.sid); err != nil {
			t.Fatalf("hand-over %d: %v", i+1, err)
		}
		host.drain()
		w.run(time.Second)
		if !other.m.IsHost() {
			t.Fatalf("hand-over %d did not take", i+1)
		}
		host, other = other, host
	}
	if err := host.m.HandOver(other.sid); !errors.Is(err, ErrTooManyHandOvers) {
		t.Fatalf("hand-over %d: %v, want ErrTooManyHandOvers", format.MaxCerts+1, err)
	}
	host.drain()
	w.run(time.Second)
	if !host.m.IsHost() || other.m.IsHost() {
		t.Fatal("a refused hand-over moved the host role")
	}
	requireSameCode(t, h, a)
	w.requireAllDecode(t, h, a)
}
