package sframe

import "slices"

// linearScanMax is the table size up to which find scans instead of
// bisecting: for a few KIDs a scan beats both a binary search and a map.
const linearScanMax = 8

// keyEntry is one KID's receive state in a keyTable.
type keyEntry struct {
	kid uint64
	rk  *recvKey
}

// keyTable is an immutable snapshot of a Receiver's keys, sorted by KID.
// SetKey and RemoveKey build a new table and publish it with one atomic
// store; Open reads the current one with one atomic load and no lock.
type keyTable []keyEntry

// find returns the receive state of kid, or nil.
func (t keyTable) find(kid uint64) *recvKey {
	if len(t) <= linearScanMax {
		for i := range t {
			if t[i].kid == kid {
				return t[i].rk
			}
		}
		return nil
	}
	if i, ok := t.index(kid); ok {
		return t[i].rk
	}
	return nil
}

// index returns the position of kid in t, or where it would be inserted,
// and whether it is present.
func (t keyTable) index(kid uint64) (int, bool) {
	return slices.BinarySearchFunc(t, kid, func(e keyEntry, kid uint64) int {
		switch {
		case e.kid < kid:
			return -1
		case e.kid > kid:
			return 1
		}
		return 0
	})
}

// with returns a copy of t with kid's entry set to rk.
func (t keyTable) with(kid uint64, rk *recvKey) keyTable {
	i, ok := t.index(kid)
	if ok {
		next := slices.Clone(t)
		next[i].rk = rk
		return next
	}
	next := make(keyTable, 0, len(t)+1)
	next = append(next, t[:i]...)
	next = append(next, keyEntry{kid, rk})
	return append(next, t[i:]...)
}

// without returns a copy of t without kid's entry.
func (t keyTable) without(kid uint64) keyTable {
	i, ok := t.index(kid)
	if !ok {
		return t
	}
	next := make(keyTable, 0, len(t)-1)
	next = append(next, t[:i]...)
	return append(next, t[i+1:]...)
}
