package fork

import (
	"context"
	"math"
	"reflect"
	"testing"
	"time"
)

type level int8

func init() {
	RegisterFunc("words", func(b bool, l level, u uint16, f float32, g float64, d time.Duration, n int) (bool, level, uint16, float32, float64, time.Duration, int) {
		return !b, -l, u + 1, -f, g / 2, d * 2, n - 1
	})
}

// TestWordsThroughChild: bool, integer and float arguments and results of
// named and unnamed types (sent as 8-byte words, not gob) reach a child
// and come back exact, at their extremes.
func TestWordsThroughChild(t *testing.T) {
	p, err := new(Config).Start(context.Background(), "words", nil,
		true, level(math.MaxInt8), uint16(math.MaxUint16-1), float32(math.SmallestNonzeroFloat32), -math.MaxFloat64, time.Duration(-time.Hour), math.MinInt64+1)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	want := []any{false, level(-math.MaxInt8), uint16(math.MaxUint16), float32(-math.SmallestNonzeroFloat32), -math.MaxFloat64 / 2, time.Duration(-2 * time.Hour), math.MinInt64}
	if got := p.Results(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}
