package meeting

import "time"

// alertLimiter raises an alert of one kind about one session at most once
// per alertEvery: a hostile relay must not be able to flood the user.
type alertLimiter struct {
	last map[alertKey]time.Time
}

type alertKey struct {
	kind AlertKind
	sid  SessionID
}

func newAlertLimiter() alertLimiter { return alertLimiter{last: make(map[alertKey]time.Time)} }

// allow reports whether the alert may be raised at now, and records it.
func (l *alertLimiter) allow(kind AlertKind, sid SessionID, now time.Time) bool {
	k := alertKey{kind, sid}
	if t, ok := l.last[k]; ok && now.Sub(t) < alertEvery {
		return false
	}
	if len(l.last) > 4*maxHeld {
		clear(l.last)
	}
	l.last[k] = now
	return true
}
