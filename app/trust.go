package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"

	"github.com/sottohq/sotto/crypto/identity"
)

// memberTrust is what the user's contacts say about a member's key.
type memberTrust int

const (
	trustUnknown memberTrust = iota // no answer from the contacts store (yet, or its lookup failed)
	trustSelf
	trustNew
	trustKnown
	trustVerified
	trustKeyChanged
)

func trustFromStatus(s identity.Status) memberTrust {
	switch s {
	case identity.StatusNew:
		return trustNew
	case identity.StatusKnown:
		return trustKnown
	case identity.StatusVerified:
		return trustVerified
	case identity.StatusKeyChanged:
		return trustKeyChanged
	}
	return trustUnknown
}

func (t memberTrust) verified() bool { return t == trustVerified || t == trustSelf }

func (t memberTrust) label() string {
	switch t {
	case trustSelf:
		return "you"
	case trustNew:
		return "new contact, not verified"
	case trustKnown:
		return "known contact, not verified"
	case trustVerified:
		return "verified"
	case trustKeyChanged:
		return "KEY CHANGED since you last met, not verified"
	}
	return "not verified (checking contacts…)"
}

func (t memberTrust) icon() fyne.Resource {
	switch t {
	case trustSelf:
		return theme.AccountIcon()
	case trustVerified:
		return iconVerified
	case trustKeyChanged:
		return iconKeyChanged
	}
	return iconUnverified
}
