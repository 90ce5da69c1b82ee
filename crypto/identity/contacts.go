package identity

// Contacts file format (JSON, mode 0600, replaced atomically):
//
//	{
//	  "version": 1,
//	  "contacts": [            // sorted by id
//	    {"id": "<hex Fingerprint>", "name": "...", "public": "<base64 Marshal>",
//	     "verified": false, "first_seen": "<RFC 3339>", "last_seen": "<RFC 3339>"}
//	  ],
//	  "names": {"<normalised name>": "<id of the key that last used it>"}
//	}
//
// Sotto has no accounts, so "the same person" can only mean "the key that
// last presented this display name to us". The names map records that
// association; see Observe for the rule.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

const (
	// contactsVersion is the only contacts file version this code knows.
	contactsVersion = 1
	// maxContactsFile bounds how much OpenContacts reads; commit never
	// writes a larger file.
	maxContactsFile = 16 << 20
)

// maxContacts bounds the store. Every identity that knocks is observed, so
// without a bound anyone holding a meeting link could grow the file (by
// knocking under ever new keys) until it no longer loads. At the bound, a
// new contact replaces the unverified one seen longest ago; verified
// contacts are never dropped. A record encodes to at most about 3.5 KiB (a
// 256-byte name escaped, twice), so the bound keeps the file under
// maxContactsFile.
var maxContacts = 4096

// Contacts errors.
var (
	ErrContactsCorrupt = errors.New("identity: contacts file is corrupt")
	ErrContactsVersion = errors.New("identity: unsupported contacts file version")
	ErrUnknownContact  = errors.New("identity: no such contact")
	ErrContactsFull    = errors.New("identity: contacts store is full of verified contacts")
)

// Status is the outcome of Observe.
type Status int

const (
	// StatusNew: first time this key is seen, and no other key has used
	// this display name.
	StatusNew Status = iota + 1
	// StatusKnown: this key was seen before and is not verified.
	StatusKnown
	// StatusVerified: this key was seen before and the user compared
	// safety numbers with it.
	StatusVerified
	// StatusKeyChanged: the display name was last used by a different key.
	// The UI must warn loudly: this is what an impersonator looks like (it
	// is also what a friend who reinstalled looks like; only comparing
	// safety numbers tells them apart).
	StatusKeyChanged
)

func (s Status) String() string {
	switch s {
	case StatusNew:
		return "new"
	case StatusKnown:
		return "known"
	case StatusVerified:
		return "verified"
	case StatusKeyChanged:
		return "key changed"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Contact is one identity key this user has seen.
type Contact struct {
	ID        string // Public.FingerprintString()
	Name      string // display name it last presented
	Public    Public
	Verified  bool
	FirstSeen time.Time
	LastSeen  time.Time
}

// Contacts is the persistent store of known identity keys. It is safe for
// concurrent use. Every change is written to disk before the call returns;
// if writing fails, the store is unchanged.
type Contacts struct {
	path string
	now  func() time.Time

	mu    sync.Mutex
	byID  map[string]Contact
	names map[string]string // normalised name → ID of the key that last used it
}

// OpenContacts loads the contacts file at path; a missing file is an empty
// store (created on the first change).
func OpenContacts(path string) (*Contacts, error) {
	c := &Contacts{path: path, now: time.Now, byID: map[string]Contact{}, names: map[string]string{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open contacts: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxContactsFile+1))
	if err != nil {
		return nil, fmt.Errorf("open contacts: %w", err)
	}
	if len(data) > maxContactsFile {
		return nil, fmt.Errorf("open contacts: file too large: %w", ErrContactsCorrupt)
	}
	if err := c.decode(data); err != nil {
		return nil, fmt.Errorf("open contacts: %w", err)
	}
	return c, nil
}

// normaliseName is the form in which display names are compared: case
// folded, surrounding space removed, inner runs of space collapsed. It does
// not catch look-alike characters from other scripts; safety numbers do.
func normaliseName(name string) string {
	return strings.ToLower(strings.Join(strings.Fields(name), " "))
}

// Observe records that pub presented itself under name and reports what the
// user should be told. The rule, applied to the normalised name:
//
//   - if the name was last used by a different key: StatusKeyChanged; the
//     name now belongs to pub, and pub's record is marked unverified (the
//     user verified a key, not a name, and must verify again now that the
//     name points elsewhere);
//   - else if pub is known: StatusVerified or StatusKnown;
//   - else: StatusNew, and the name now belongs to pub.
//
// An empty name claims nothing and never triggers StatusKeyChanged.
// The record's name and last-seen time are updated in every case.
func (c *Contacts) Observe(name string, pub Public) (Status, error) {
	if len(name) > MaxDisplayNameSize || !utf8.ValidString(name) {
		return 0, fmt.Errorf("observe contact: %w", ErrDisplayName)
	}
	if err := pub.CheckBinding(); err != nil {
		return 0, fmt.Errorf("observe contact: %w", err)
	}
	id := pub.FingerprintString()
	key := normaliseName(name)
	now := c.now().UTC().Truncate(time.Second)

	c.mu.Lock()
	defer c.mu.Unlock()
	byID, names := c.copyState()
	rec, known := byID[id]
	if !known {
		if len(byID) >= maxContacts && !evictOldestUnverified(byID, names) {
			return 0, fmt.Errorf("observe contact: %w", ErrContactsFull)
		}
		rec = Contact{ID: id, Public: pub.clone(), FirstSeen: now}
	}
	holder, claimed := names[key]
	var st Status
	switch {
	case key != "" && claimed && holder != id:
		st = StatusKeyChanged
		rec.Verified = false
	case known && rec.Verified:
		st = StatusVerified
	case known:
		st = StatusKnown
	default:
		st = StatusNew
	}
	if key != "" {
		names[key] = id
	}
	rec.Name = name
	rec.LastSeen = now
	byID[id] = rec
	if err := c.commit(byID, names); err != nil {
		return 0, fmt.Errorf("observe contact: %w", err)
	}
	return st, nil
}

// MarkVerified records that the user compared safety numbers with pub, which
// must have been observed before.
func (c *Contacts) MarkVerified(pub Public) error {
	id := pub.FingerprintString()
	c.mu.Lock()
	defer c.mu.Unlock()
	byID, names := c.copyState()
	rec, ok := byID[id]
	if !ok {
		return fmt.Errorf("mark verified: %w", ErrUnknownContact)
	}
	rec.Verified = true
	byID[id] = rec
	if err := c.commit(byID, names); err != nil {
		return fmt.Errorf("mark verified: %w", err)
	}
	return nil
}

// Get returns the contact record for pub.
func (c *Contacts) Get(pub Public) (Contact, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok := c.byID[pub.FingerprintString()]
	rec.Public = rec.Public.clone()
	return rec, ok
}

// List returns all contacts sorted by normalised name, then ID.
func (c *Contacts) List() []Contact {
	c.mu.Lock()
	out := make([]Contact, 0, len(c.byID))
	for _, rec := range c.byID {
		rec.Public = rec.Public.clone()
		out = append(out, rec)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Contact) int {
		if n := strings.Compare(normaliseName(a.Name), normaliseName(b.Name)); n != 0 {
			return n
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// evictOldestUnverified removes the unverified contact seen longest ago
// (and the names pointing at it) and reports whether there was one.
func evictOldestUnverified(byID map[string]Contact, names map[string]string) bool {
	var victim *Contact
	for _, rec := range byID {
		if rec.Verified {
			continue
		}
		if victim == nil || rec.LastSeen.Before(victim.LastSeen) || rec.LastSeen.Equal(victim.LastSeen) && rec.ID < victim.ID {
			r := rec
			victim = &r
		}
	}
	if victim == nil {
		return false
	}
	delete(byID, victim.ID)
	for name, id := range names {
		if id == victim.ID {
			delete(names, name)
		}
	}
	return true
}

// copyState returns copies to change, so that a failed write leaves the
// store as it was.
func (c *Contacts) copyState() (map[string]Contact, map[string]string) {
	return maps.Clone(c.byID), maps.Clone(c.names)
}

// commit writes the new state and, only if that succeeds, adopts it.
func (c *Contacts) commit(byID map[string]Contact, names map[string]string) error {
	data, err := encodeContacts(byID, names)
	if err != nil {
		return err
	}
	if len(data) > maxContactsFile {
		// OpenContacts would refuse the file: keep the one on disk.
		return fmt.Errorf("encode contacts: %d bytes exceeds %d: %w", len(data), maxContactsFile, ErrContactsFull)
	}
	if err := writeFileAtomic(c.path, data); err != nil {
		return err
	}
	c.byID, c.names = byID, names
	return nil
}

type contactsFile struct {
	Version  int               `json:"version"`
	Contacts []contactJSON     `json:"contacts"`
	Names    map[string]string `json:"names"`
}

type contactJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Public    []byte    `json:"public"`
	Verified  bool      `json:"verified"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

func encodeContacts(byID map[string]Contact, names map[string]string) ([]byte, error) {
	f := contactsFile{Version: contactsVersion, Contacts: make([]contactJSON, 0, len(byID)), Names: names}
	for _, rec := range byID {
		f.Contacts = append(f.Contacts, contactJSON{
			ID: rec.ID, Name: rec.Name, Public: rec.Public.Marshal(),
			Verified: rec.Verified, FirstSeen: rec.FirstSeen, LastSeen: rec.LastSeen,
		})
	}
	slices.SortFunc(f.Contacts, func(a, b contactJSON) int { return strings.Compare(a.ID, b.ID) })
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode contacts: %w", err)
	}
	return append(data, '\n'), nil
}

// decode parses and cross-checks a contacts file: every key must parse (with
// a valid binding) and match its ID, and every name must point at a contact.
func (c *Contacts) decode(data []byte) error {
	var f contactsFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return ErrContactsCorrupt
	}
	if dec.More() {
		return ErrContactsCorrupt
	}
	if f.Version != contactsVersion {
		return ErrContactsVersion
	}
	for _, cj := range f.Contacts {
		pub, err := ParsePublic(cj.Public)
		if err != nil || pub.FingerprintString() != cj.ID || !utf8.ValidString(cj.Name) || len(cj.Name) > MaxDisplayNameSize {
			return ErrContactsCorrupt
		}
		if _, dup := c.byID[cj.ID]; dup {
			return ErrContactsCorrupt
		}
		c.byID[cj.ID] = Contact{
			ID: cj.ID, Name: cj.Name, Public: pub, Verified: cj.Verified,
			FirstSeen: cj.FirstSeen, LastSeen: cj.LastSeen,
		}
	}
	for name, id := range f.Names {
		if _, ok := c.byID[id]; !ok || name == "" || normaliseName(name) != name {
			return ErrContactsCorrupt
		}
		c.names[name] = id
	}
	return nil
}
