package participant

import (
	"errors"
	"testing"

	"github.com/sottohq/sotto/crypto/sframe"
	"github.com/sottohq/sotto/media/framing"
)

// A relay that holds a sender's frames back cannot play them far out of
// order: the receiver refuses a frame framing.ReorderLimit counters or more
// behind the newest it opened (docs/PROTOCOL.md §5.4).
func TestReceiverRefusesFramesFarBehind(t *testing.T) {
	key := make([]byte, 16)
	rx := newReceiver()
	if err := rx.SetKey(7, key); err != nil {
		t.Fatal(err)
	}
	seal := func(ctr uint64) []byte {
		s, err := sframe.NewSenderAt(framing.Suite, 7, key, ctr)
		if err != nil {
			t.Fatal(err)
		}
		f, err := s.Seal(nil, []byte("frame"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	newest := uint64(framing.ReorderLimit + 10)
	if _, _, err := rx.Open(nil, seal(newest), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rx.Open(nil, seal(newest-framing.ReorderLimit+1), nil); err != nil {
		t.Fatalf("a frame within the limit: %v", err)
	}
	if _, _, err := rx.Open(nil, seal(newest-framing.ReorderLimit), nil); !errors.Is(err, sframe.ErrReplay) {
		t.Fatalf("a frame %d behind: %v", framing.ReorderLimit, err)
	}
}
