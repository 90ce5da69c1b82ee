package replay

import "testing"

func TestWindow(t *testing.T) {
	var w Window
	if w.Check(0) != Fresh || w.Check(1<<63) != Fresh {
		t.Fatal("an empty window rejects an index")
	}
	for _, i := range []uint64{1, 3, 2, 1500} {
		if w.Check(i) != Fresh {
			t.Fatalf("index %d not fresh", i)
		}
		w.Accept(i)
		if w.Check(i) != Duplicate {
			t.Fatalf("index %d not a duplicate after Accept", i)
		}
	}
	if w.Check(3) != TooOld || w.Check(1500-Size+1) != Fresh || w.Check(1500-Size) != TooOld {
		t.Fatal("window edges wrong")
	}
	w.Accept(1499)
	if w.Check(1499) != Duplicate || w.Check(1498) != Fresh {
		t.Fatal("out-of-order accepts wrong")
	}
}

// Index 0 is an ordinary index (SFrame counters start there).
func TestWindowZero(t *testing.T) {
	var w Window
	w.Accept(0)
	if w.Check(0) != Duplicate || w.Check(1) != Fresh {
		t.Fatal("index 0 not tracked")
	}
}

// Sliding forward clears the bits of the indices passed over, which share
// bitmap positions with indices one window earlier.
func TestWindowSlideClears(t *testing.T) {
	var w Window
	for i := uint64(0); i < Size; i++ {
		w.Accept(i)
	}
	w.Accept(Size + 10)
	for i := uint64(Size); i < Size+10; i++ {
		if w.Check(i) != Fresh {
			t.Fatalf("index %d inherited a bit from index %d", i, i-Size)
		}
	}
	if w.Check(11) != Duplicate || w.Check(10) != TooOld {
		t.Fatal("window bottom wrong after the slide")
	}
	w.Accept(10 * Size)
	if w.Check(10*Size-1) != Fresh || w.Check(9*Size) != TooOld {
		t.Fatal("a jump of more than a window did not reset")
	}
}

// Against a set of every accepted index: the window answers exactly as
// the set does within its range, and TooOld only below it.
func TestWindowMatchesSet(t *testing.T) {
	var w Window
	seen := map[uint64]bool{}
	var top uint64
	x := uint64(12345)
	for range 20000 {
		x = x*6364136223846793005 + 1442695040888963407
		i := top + x>>54 // up to 1023 ahead
		if top > 1100 {
			i -= 1100
		}
		got := w.Check(i)
		var want Verdict
		switch {
		case len(seen) > 0 && i <= top && top-i >= Size:
			want = TooOld
		case seen[i]:
			want = Duplicate
		default:
			want = Fresh
		}
		if got != want {
			t.Fatalf("index %d (top %d): %v, want %v", i, top, got, want)
		}
		if got == Fresh {
			w.Accept(i)
			seen[i] = true
			top = max(top, i)
		}
	}
}

func TestWindowBehind(t *testing.T) {
	var w Window
	if w.Behind(5) != 0 {
		t.Fatal("behind before anything was accepted")
	}
	w.Accept(100)
	for i, want := range map[uint64]uint64{100: 0, 101: 0, 99: 1, 0: 100} {
		if got := w.Behind(i); got != want {
			t.Errorf("Behind(%d) = %d, want %d", i, got, want)
		}
	}
}
