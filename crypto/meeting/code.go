package meeting

// Security code, docs/PROTOCOL.md §6.7:
//
//	h = SHA-512("sotto meeting v1 security code" ‖ meetingID ‖ u64 epoch ‖ roster hash)
//	digits: six groups, group i = u40(h[5i:5i+5]) mod 100000   (99.7 bits)
//	words:  W[h[32+i]] for i in 0..9                             (80 bits)
//
// Both forms carry at least 80 bits, so a host that varies its roster
// (names, member keys) to make two rosters' codes collide needs about 2^80
// tries for the words, and as many again for the digits.

import (
	"crypto/sha512"
	_ "embed"
	"encoding/binary"
	"fmt"
	"strings"
)

const (
	// labelSecurityCode prefixes the security code hash input.
	labelSecurityCode = "sotto meeting v1 security code"
	// codeGroups is the number of 5-digit groups.
	codeGroups = 6
	// codeWords is the number of words: 10 of 8 bits each.
	codeWords = 10
	// groupBytes is the hash bytes read per digit group (a u40).
	groupBytes = 5
	// groupModulus keeps five decimal digits.
	groupModulus = 100000
	// wordOffset is where the word bytes start in the hash.
	wordOffset = 32
)

//go:embed words.txt
var wordsFile string

// wordList is the fixed list of 256 words, one per byte value.
var wordList = func() []string {
	w := strings.Fields(wordsFile)
	if len(w) != 256 {
		panic("meeting: words.txt must hold 256 words")
	}
	return w
}()

// Code is a meeting security code: identical for every member holding the
// same roster, different otherwise (§6.7).
type Code struct {
	// Groups are six groups of five digits.
	Groups [codeGroups]string
	// Words are ten words from the fixed list of 256, for reading aloud.
	Words [codeWords]string
}

// Digits returns the groups separated by spaces.
func (c Code) Digits() string { return strings.Join(c.Groups[:], " ") }

// Phrase returns the words separated by spaces.
func (c Code) Phrase() string { return strings.Join(c.Words[:], " ") }

// String returns the digits; the words are in Phrase.
func (c Code) String() string { return c.Digits() }

// securityCode computes the code of a roster.
func securityCode(meetingID MeetingID, epoch uint64, hash [hashSize]byte) Code {
	h := sha512.New()
	h.Write([]byte(labelSecurityCode))
	h.Write(meetingID[:])
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], epoch)
	h.Write(e[:])
	h.Write(hash[:])
	sum := h.Sum(nil)
	var c Code
	for i := range codeGroups {
		var b [8]byte
		copy(b[3:], sum[groupBytes*i:groupBytes*(i+1)])
		c.Groups[i] = fmt.Sprintf("%05d", binary.BigEndian.Uint64(b[:])%groupModulus)
	}
	for i := range codeWords {
		c.Words[i] = wordList[sum[wordOffset+i]]
	}
	return c
}
