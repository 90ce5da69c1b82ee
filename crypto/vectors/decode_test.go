package vectors

import (
	"strings"
	"testing"
)

// decodeFile is shared by every vector kind: a file over the limit,
// trailing data and malformed JSON are errors that name the kind.
func TestDecodeVectorFile(t *testing.T) {
	var v struct {
		A []int `json:"a"`
	}
	if err := decodeFile(strings.NewReader(`{"a":[1,2]}`), 64, "test vectors", &v); err != nil || len(v.A) != 2 {
		t.Fatalf("valid file: %v %v", v, err)
	}
	for name, in := range map[string]string{
		"too large": `{"a":[` + strings.Repeat("1,", 40) + `1]}`,
		"trailing":  `{"a":[]} {}`,
		"malformed": `{"a":`,
	} {
		err := decodeFile(strings.NewReader(in), 64, "test vectors", &v)
		if err == nil || !strings.HasPrefix(err.Error(), "test vectors: ") {
			t.Errorf("%s: error %v", name, err)
		}
	}
}
