package meeting

import (
	"errors"
	"strings"
	"testing"
)

func testLink() Link {
	l := Link{Relay: "relay.example.org:8443"}
	for i := range l.MeetingID {
		l.MeetingID[i] = byte(i)
	}
	for i := range l.HostFingerprint {
		l.HostFingerprint[i] = byte(0x80 + i)
	}
	for i := range l.InviteKey {
		l.InviteKey[i] = byte(0x40 + i)
	}
	return l
}

func TestLinkRoundTrip(t *testing.T) {
	for _, l := range []Link{testLink(), func() Link { l := testLink(); l.Relay, l.Insecure = "127.0.0.1:9000", true; return l }(),
		func() Link { l := testLink(); l.Relay = "[::1]:443"; return l }(), func() Link { l := testLink(); l.Relay = "relay.example"; return l }()} {
		s := l.String()
		got, err := ParseLink(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if got != l {
			t.Fatalf("round trip of %s changed the link", s)
		}
		// What the relay learns is only the address and the meeting ID.
		before, _, _ := strings.Cut(s, "#")
		if !strings.HasSuffix(before, "/"+l.MeetingID.String()) {
			t.Fatalf("link %s", s)
		}
	}
	l := testLink()
	if got := l.RelayURL(); got != "wss://relay.example.org:8443/ws" {
		t.Fatalf("RelayURL = %s", got)
	}
	l.Insecure = true
	if got := l.RelayURL(); got != "ws://relay.example.org:8443/ws" {
		t.Fatalf("RelayURL = %s", got)
	}
}

func TestLinkRejects(t *testing.T) {
	good := testLink().String()
	base, frag, _ := strings.Cut(good, "#")
	mid := testLink().MeetingID.String()
	zeroInvite := testLink()
	zeroInvite.InviteKey = [32]byte{}
	badVersion := []byte(frag)
	cases := map[string]string{
		"empty":             "",
		"https scheme":      strings.Replace(good, "sotto://", "https://", 1),
		"no fragment":       base,
		"empty fragment":    base + "#",
		"short fragment":    base + "#" + frag[:len(frag)-1],
		"long fragment":     base + "#" + frag + "A",
		"padded fragment":   base + "#" + frag + "=",
		"std base64":        base + "#" + strings.NewReplacer("-", "+", "_", "/").Replace(frag) + "+",
		"query":             "sotto://relay.example.org:8443/" + mid + "?x=1#" + frag,
		"user info":         "sotto://user@relay.example.org/" + mid + "#" + frag,
		"empty host":        "sotto:///" + mid + "#" + frag,
		"port zero":         "sotto://relay:0/" + mid + "#" + frag,
		"port too big":      "sotto://relay:65536/" + mid + "#" + frag,
		"port not a number": "sotto://relay:http/" + mid + "#" + frag,
		"empty port":        "sotto://relay:/" + mid + "#" + frag,
		"bare ipv6":         "sotto://::1/" + mid + "#" + frag,
		"upper-case id":     "sotto://relay/" + strings.ToUpper(mid) + "#" + frag,
		"short id":          "sotto://relay/" + mid[1:] + "#" + frag,
		"extra path":        "sotto://relay/x/" + mid + "#" + frag,
		"trailing slash":    "sotto://relay/" + mid + "/#" + frag,
		"zero invite key":   zeroInvite.String(),
		"bad version":       base + "#" + "Ag" + string(badVersion[2:]),
	}
	for name, s := range cases {
		_, err := ParseLink(s)
		if !errors.Is(err, ErrLink) {
			t.Errorf("%s: err = %v", name, err)
			continue
		}
		if strings.Contains(err.Error(), frag) || strings.Contains(err.Error(), mid) {
			t.Errorf("%s: error repeats the link: %v", name, err)
		}
	}
}

func FuzzParseLink(f *testing.F) {
	f.Add(testLink().String())
	f.Add("sotto+insecure://127.0.0.1:1/" + testLink().MeetingID.String() + "#AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLink(s)
		if err != nil {
			return
		}
		again, err := ParseLink(l.String())
		if err != nil || again != l {
			t.Fatalf("accepted %q but its own form does not round-trip", s)
		}
	})
}
