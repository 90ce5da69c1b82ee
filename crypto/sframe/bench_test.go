package sframe

import (
	"crypto/aes"
	"crypto/cipher"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/internal/replay"
)

// Frame sizes for the benchmarks: an audio frame is about 100 B, video
// frames range from about 1 KB (delta) to 100 KB (key frame).
var benchSizes = []struct {
	name string
	n    int
}{{"100B", 100}, {"1KB", 1 << 10}, {"10KB", 10 << 10}, {"100KB", 100 << 10}}

const (
	benchSuite = AES128GCMSHA256_128
	benchKID   = 0x1234 // a two-byte KID, as Sotto's per-sender KIDs are
)

// benchMetadata has the size of the media metadata Sotto binds as AAD
// (docs/PROTOCOL.md section 5): 14-byte label, length byte, a 16-byte
// meeting ID and the kind byte.
var benchMetadata = []byte("sotto media v1\x100123456789abcdef\x02")

func benchKey(n int) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

func BenchmarkSFrameSeal(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			snd, err := NewSender(benchSuite, benchKID, benchKey(16))
			if err != nil {
				b.Fatal(err)
			}
			pt := make([]byte, sz.n)
			dst := make([]byte, 0, sz.n+MaxHeaderLen+benchSuite.TagLen())
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if dst, err = snd.Seal(dst[:0], pt, benchMetadata); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSFrameOpen opens distinct frames, as the replay window rejects
// repeats: when the pre-sealed batch is used up, the window is cleared
// (rewind, inside the timed loop: 16 words per batch) and the batch is
// opened again. The timer is never stopped, as in the baselines.
func BenchmarkSFrameOpen(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			base := benchKey(16)
			snd, _ := NewSender(benchSuite, benchKID, base)
			// Keep the batch within about 1 MiB so that, like the
			// baselines, the benchmark measures cryptography, not cache
			// misses.
			batch := min(1024, max(8, (1<<20)/sz.n))
			frames := make([][]byte, batch)
			for i := range frames {
				frames[i], _ = snd.Seal(nil, make([]byte, sz.n), benchMetadata)
			}
			rcv := NewReceiver(benchSuite)
			if err := rcv.SetKey(benchKID, base); err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, 0, sz.n)
			var err error
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			b.ResetTimer()
			for i, j := 0, 0; i < b.N; i, j = i+1, j+1 {
				if j == batch {
					rcv.rewind(benchKID)
					j = 0
				}
				if dst, _, err = rcv.Open(dst[:0], frames[j], benchMetadata); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// rewind forgets every counter accepted for kid (benchmarks only).
func (r *Receiver) rewind(kid uint64) {
	rk := r.keys.Load().find(kid)
	rk.mu.Lock()
	rk.win = replay.Window{}
	rk.mu.Unlock()
}

// rawGCM returns AES-128-GCM, a nonce and an AAD as long as an SFrame
// header for benchKID plus benchMetadata: the work of Seal without SFrame.
func rawGCM(b *testing.B) (cipher.AEAD, []byte, []byte) {
	block, err := aes.NewCipher(benchKey(16))
	if err != nil {
		b.Fatal(err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	aad := append(Header{KID: benchKID, CTR: 1000}.AppendTo(nil), benchMetadata...)
	return g, make([]byte, g.NonceSize()), aad
}

// BenchmarkRawAESGCMSeal is the baseline: AES-128-GCM Seal of the same
// plaintext with an AAD of the same size.
func BenchmarkRawAESGCMSeal(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			g, nonce, aad := rawGCM(b)
			pt := make([]byte, sz.n)
			dst := make([]byte, 0, sz.n+g.Overhead())
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				nonce[11] = byte(i)
				dst = g.Seal(dst[:0], nonce, pt, aad)
			}
		})
	}
}

// BenchmarkRawAESGCMOpen is the baseline for BenchmarkSFrameOpen.
func BenchmarkRawAESGCMOpen(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			g, nonce, aad := rawGCM(b)
			ct := g.Seal(nil, nonce, make([]byte, sz.n), aad)
			dst := make([]byte, 0, sz.n)
			var err error
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if dst, err = g.Open(dst[:0], nonce, ct, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSFrameSealSuites compares the five suites on a 1 KB frame.
func BenchmarkSFrameSealSuites(b *testing.B) {
	for _, s := range allSuites {
		b.Run(s.String(), func(b *testing.B) {
			snd, err := NewSender(s, benchKID, benchKey(16))
			if err != nil {
				b.Fatal(err)
			}
			pt := make([]byte, 1<<10)
			dst := make([]byte, 0, len(pt)+MaxHeaderLen+s.TagLen())
			b.SetBytes(int64(len(pt)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if dst, err = snd.Seal(dst[:0], pt, benchMetadata); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSFrameVsRawGCM measures the cost ratio of SFrame to raw
// AES-128-GCM on a shared, noisy machine: it alternates short runs of
// SFrame and of raw AES-GCM on the same frame size and reports the median
// of the per-run time ratios as "x-raw" (1.00 = same cost). Descheduling
// spikes hit single runs and drop out of the median. "seal" compares
// Sender.Seal with AES-GCM Seal, "open" Receiver.Open with AES-GCM Open,
// and "open-rawseal" Receiver.Open with AES-GCM Seal (the goal's baseline).
func BenchmarkSFrameVsRawGCM(b *testing.B) {
	for _, op := range []string{"seal", "open", "open-rawseal"} {
		for _, sz := range benchSizes {
			b.Run(op+"/"+sz.name, func(b *testing.B) {
				// Operations per timed run: at least about 64 KiB of data
				// so one run is long against the clock's granularity.
				run := max(8, (64<<10)/sz.n)
				base := benchKey(16)
				snd, _ := NewSender(benchSuite, benchKID, base)
				rcv := NewReceiver(benchSuite)
				rcv.SetKey(benchKID, base)
				g, nonce, aad := rawGCM(b)
				pt := make([]byte, sz.n)
				frames := make([][]byte, run)
				for i := range frames {
					frames[i], _ = snd.Seal(nil, pt, benchMetadata)
				}
				ct := g.Seal(nil, nonce, pt, aad)
				dst := make([]byte, 0, sz.n+MaxHeaderLen+benchSuite.TagLen())
				sframeRun := func() {
					if op == "seal" {
						for range run {
							dst, _ = snd.Seal(dst[:0], pt, benchMetadata)
						}
						return
					}
					rcv.rewind(benchKID)
					for _, f := range frames {
						if _, _, err := rcv.Open(dst[:0], f, benchMetadata); err != nil {
							b.Fatal(err)
						}
					}
				}
				rawRun := func() {
					if op != "open" {
						for range run {
							dst = g.Seal(dst[:0], nonce, pt, aad)
						}
						return
					}
					for range run {
						if _, err := g.Open(dst[:0], nonce, ct, aad); err != nil {
							b.Fatal(err)
						}
					}
				}
				var ratios []float64
				b.ResetTimer()
				for i := 0; i < b.N; i += run {
					var ts, tr time.Duration
					if i/run%2 == 0 { // alternate the order
						t0 := time.Now()
						sframeRun()
						t1 := time.Now()
						rawRun()
						ts, tr = t1.Sub(t0), time.Since(t1)
					} else {
						t0 := time.Now()
						rawRun()
						t1 := time.Now()
						sframeRun()
						tr, ts = t1.Sub(t0), time.Since(t1)
					}
					ratios = append(ratios, float64(ts)/float64(tr))
				}
				b.StopTimer()
				slices.Sort(ratios)
				b.ReportMetric(ratios[len(ratios)/2], "x-raw")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// costPart is one component timed by a cost-breakdown benchmark.
type costPart struct {
	unit string
	op   func()
}

// costBreakdown alternates runs of 500 calls of each part and reports the
// median ns per call of each. Every figure includes the call through a
// func value, which "call-ns" (an empty part) measures alone.
func costBreakdown(b *testing.B, parts []costPart) {
	const run = 500
	parts = append(parts, costPart{"call-ns", func() {}})
	times := make([][]float64, len(parts))
	b.ResetTimer()
	for i := 0; i < b.N; i += run {
		for j, p := range parts {
			t0 := time.Now()
			for range run {
				p.op()
			}
			times[j] = append(times[j], float64(time.Since(t0))/run)
		}
	}
	b.StopTimer()
	for j, p := range parts {
		slices.Sort(times[j])
		b.ReportMetric(times[j][len(times[j])/2], p.unit)
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkSealCostBreakdown splits the fixed per-frame cost of a 100 B
// Seal: raw AES-GCM Seal (raw-ns), Sender.Seal (seal-ns), the same seal path
// without the Sender's mutex (nolock-ns), an uncontended lock and unlock
// alone (lock-ns), one atomic add alone (atomic-ns, the least any counter
// shared by concurrent Seals can cost), and gathering header ‖ metadata into
// the AAD scratch alone (gather-ns).
func BenchmarkSealCostBreakdown(b *testing.B) {
	snd, _ := NewSender(benchSuite, benchKID, benchKey(16))
	g, nonce, aad := rawGCM(b)
	pt := make([]byte, 100)
	dst := make([]byte, 0, 400)
	ctr := uint64(1 << 40) // apart from the Sender's own counters
	var counter atomic.Uint64
	k := snd.k
	costBreakdown(b, []costPart{
		{"raw-ns", func() { dst = g.Seal(dst[:0], nonce, pt, aad) }},
		{"seal-ns", func() { dst, _ = snd.Seal(dst[:0], pt, benchMetadata) }},
		{"nolock-ns", func() {
			ctr++
			dst, _ = k.seal(dst[:0], Header{KID: benchKID, CTR: ctr}, pt, benchMetadata)
		}},
		{"lock-ns", func() { snd.mu.Lock(); snd.mu.Unlock() }},
		{"atomic-ns", func() { counter.Add(1) }},
		{"gather-ns", func() {
			ctr++
			hl := Header{KID: benchKID, CTR: ctr}.encode((*[MaxHeaderLen]byte)(k.aad[:MaxHeaderLen]))
			k.aad = append(k.aad[:hl], benchMetadata...)
		}},
	})
}

// BenchmarkOpenCostBreakdown does the same for a 100 B Open: raw AES-GCM
// Open (raw-ns), Receiver.Open of distinct frames (open-ns), the per-KID
// lock and unlock alone (lock-ns), header parsing (parse-ns), the key table
// lookup (lookup-ns), the replay window check and update (window-ns) and
// gathering header ‖ metadata into the AAD scratch (gather-ns).
func BenchmarkOpenCostBreakdown(b *testing.B) {
	const batch = 4096
	base := benchKey(16)
	snd, _ := NewSender(benchSuite, benchKID, base)
	frames := make([][]byte, batch)
	for i := range frames {
		frames[i], _ = snd.Seal(nil, make([]byte, 100), benchMetadata)
	}
	rcv := NewReceiver(benchSuite)
	rcv.SetKey(benchKID, base)
	g, nonce, aad := rawGCM(b)
	ct := g.Seal(nil, nonce, make([]byte, 100), aad)
	dst := make([]byte, 0, 400)
	rk := rcv.keys.Load().find(benchKID)
	k := rk.k
	var win replay.Window
	var j, ctr uint64
	hdr := frames[0][:Header{KID: benchKID, CTR: 0}.Len()]
	costBreakdown(b, []costPart{
		{"raw-ns", func() { dst, _ = g.Open(dst[:0], nonce, ct, aad) }},
		{"open-ns", func() {
			if j%batch == 0 {
				rcv.rewind(benchKID)
			}
			if _, _, err := rcv.Open(dst[:0], frames[j%batch], benchMetadata); err != nil {
				b.Fatal(err)
			}
			j++
		}},
		{"lock-ns", func() { rk.mu.Lock(); rk.mu.Unlock() }},
		{"parse-ns", func() { _, _, _ = ParseHeader(frames[0]) }},
		{"lookup-ns", func() { _ = rcv.keys.Load().find(benchKID) }},
		{"window-ns", func() {
			ctr++
			if win.Check(ctr) == replay.Fresh {
				win.Accept(ctr)
			}
		}},
		{"gather-ns", func() { k.aad = append(append(k.aad[:0], hdr...), benchMetadata...) }},
	})
}
