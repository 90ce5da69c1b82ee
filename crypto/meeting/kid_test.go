package meeting

import "testing"

func TestKIDLayout(t *testing.T) {
	for _, c := range []struct {
		epoch      uint64
		index, gen int
		kid        uint64
	}{
		{1, 0, 0, 0x10000},
		{2, 3, 1, 0x20301},
		{0xffffffffffff, MaxMembers - 1, maxGeneration, 0xffffffffffff7fff},
	} {
		kid := makeKID(c.epoch, c.index, c.gen)
		if kid != c.kid {
			t.Errorf("makeKID(%d, %d, %d) = %#x, want %#x", c.epoch, c.index, c.gen, kid, c.kid)
		}
		if KIDEpoch(kid) != c.epoch {
			t.Errorf("KIDEpoch(%#x) = %d, want %d", kid, KIDEpoch(kid), c.epoch)
		}
		e, i, g := splitKID(kid)
		if e != c.epoch || i != c.index || g != c.gen {
			t.Errorf("splitKID(%#x) = %d, %d, %d", kid, e, i, g)
		}
	}
}
