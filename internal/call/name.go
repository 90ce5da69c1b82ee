package call

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sottohq/sotto/crypto/meeting"
)

// MaxNameChars is the most characters a display name can have
// (docs/PROTOCOL.md §6.3).
const MaxNameChars = meeting.MaxNameChars

// CheckName checks a display name, as typed, with the meeting protocol's
// rule, so that a name is refused where it is entered rather than when a
// meeting starts. The error is a sentence for the user; it counts
// characters, as the user does, never bytes. The name is used trimmed of
// surrounding space.
func CheckName(name string) error {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	switch {
	case name == "":
		return errors.New("Enter the name others will see.")
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return errors.New("A name cannot contain control characters such as tabs or line breaks.")
	case n > MaxNameChars:
		return fmt.Errorf("A name can have at most %d characters; this one has %d.", MaxNameChars, n)
	case !meeting.ValidName(name):
		// 64 characters outside the Basic Multilingual Plane (emoji)
		// exceed the protocol's 255 bytes.
		return errors.New("That name is too long for a meeting: use fewer characters.")
	}
	return nil
}
