package call

import (
	"strings"
	"testing"

	"github.com/sottohq/sotto/crypto/meeting"
)

// CheckName accepts exactly the names the protocol carries, counting
// characters: a 64-character Chinese or Arabic name is a name.
func TestCheckNameIsTheProtocolsRule(t *testing.T) {
	for _, ok := range []string{"Ada", strings.Repeat("名", 64), strings.Repeat("ع", 64), "  Ada Lovelace  ", strings.Repeat("😀", 63)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
		if !meeting.ValidName(strings.TrimSpace(ok)) {
			t.Errorf("%q accepted here but not by the protocol", ok)
		}
	}
	for bad, says := range map[string]string{
		"":                      "Enter the name",
		"   ":                   "Enter the name",
		strings.Repeat("名", 65): "at most 64 characters; this one has 65",
		"Ada\nLovelace":         "control characters",
		strings.Repeat("😀", 64): "too long",
		"a\xffb":                "control characters",
	} {
		err := CheckName(bad)
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: %v, want %q", bad, err, says)
		}
		if err != nil && strings.Contains(err.Error(), "bytes") {
			t.Errorf("%q: the message counts bytes: %v", bad, err)
		}
	}
}
