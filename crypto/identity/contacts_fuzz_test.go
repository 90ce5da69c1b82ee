package identity

import (
	"bytes"
	"testing"
	"time"
)

// FuzzContactsDecode feeds hostile contacts files to the loader: it must
// never panic, and a file it accepts re-encodes to one it accepts with the
// same contacts and names.
func FuzzContactsDecode(f *testing.F) {
	id, err := fromSecrets(bytes.Repeat([]byte{7}, seedSize), bytes.Repeat([]byte{9}, ExchangeKeySize))
	if err != nil {
		f.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := Contact{ID: id.Public().FingerprintString(), Name: "Ada", Public: id.Public(), Verified: true, FirstSeen: at, LastSeen: at}
	good, err := encodeContacts(map[string]Contact{rec.ID: rec}, map[string]string{"ada": rec.ID})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"version":1,"contacts":[],"names":{}}`))
	f.Add([]byte(`{"version":2}`))
	f.Add(bytes.Replace(good, []byte(`"ada"`), []byte(`"Ada "`), 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &Contacts{byID: map[string]Contact{}, names: map[string]string{}}
		if c.decode(data) != nil {
			return
		}
		again, err := encodeContacts(c.byID, c.names)
		if err != nil {
			t.Fatal(err)
		}
		d := &Contacts{byID: map[string]Contact{}, names: map[string]string{}}
		if err := d.decode(again); err != nil {
			t.Fatalf("an accepted file re-encodes to one refused: %v", err)
		}
		if len(d.byID) != len(c.byID) || len(d.names) != len(c.names) {
			t.Fatal("contacts changed through re-encoding")
		}
	})
}
