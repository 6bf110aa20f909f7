package delta

import (
	"bytes"
	"fmt"
	"math"

	"github.com/gotribes/tribes/jserial"
)

// DefaultMaxExpansion is the default of JavaCodec.MaxExpansion. Tomcat's stream writes a
// class descriptor once and refers back to it with 5 bytes, but the Go form of every
// value is a stream of its own that writes all its descriptors, so legitimate messages
// expand: a state transfer chunk of 1000 sessions measured 1.81 times its size (a shop's
// cart of items with an abstract superclass, a user profile, a String), 2.91 with
// descriptors twice as heavy, 3.76 and 4.11 with Spring Security's SecurityContextImpl
// and a Locale in each session, 2.75 with 20 small values a session
// (TestJavaCodecShopStateWithinBudget). 4 let the 4.11 through only by its 128 KiB
// slack: a little more a session and it refuses the transfer, losing its sessions. 16
// leaves at least three times the worst measured, and a message sharing one object among
// many values still makes decoding allocate at most about 16 times its size plus 2 MiB
// (TestJavaCodecSharedObjectDefaultBudget).
const DefaultMaxExpansion = 16

// What any message may produce beyond its multiples: kept, and written to compare.
const (
	keptSlack = 128 << 10
	workSlack = 1 << 20
)

// ErrDecodeBudget is wrapped by the error of a message JavaCodec refuses because the Go
// forms of its values would take more than its budget (JavaCodec.MaxExpansion). It wraps
// jserial.ErrLimit.
var ErrDecodeBudget = fmt.Errorf("delta: the message's values take more than its decoding budget: %w", jserial.ErrLimit)

// budget is what the decoding of one of Tomcat's messages may still produce: bytes the
// decoded message keeps (attribute and note streams, String bytes, principal actions'
// values) and bytes written only to compare a principal with Go's form of it. A message
// holding an object once may refer to it at many places with 5 bytes each; javaRefs
// converts each object once, but distinct values sharing one object are written with
// all of it each, and the budget bounds that. Values are written into a scratch buffer
// and copied out once counted, so that the memory used stays within the budget. A nil
// *budget is unbounded (a principal decoded on its own).
type budget struct {
	kept, work           int // bytes left
	keptLimit, workLimit int
	buf                  [2][]byte
}

// maxBudget keeps the budget's sums from overflowing.
const maxBudget = math.MaxInt / 8

// newBudget returns the budget that keeps at most kept bytes and writes at most four
// times that, plus 1 MiB, to compare. What is written to compare goes into the two
// reused scratch buffers, so its bound is one of time (marshalling at most about 64
// times the message at the default MaxExpansion), not of memory; a real principal
// writes a few hundred bytes twice per session, far below it.
func newBudget(kept int) budget {
	kept = min(kept, maxBudget)
	work := 4*kept + workSlack
	return budget{kept: kept, work: work, keptLimit: kept, workLimit: work}
}

// budget returns the budget of a message of size bytes: MaxExpansion times its size
// plus 128 KiB kept.
func (c JavaCodec) budget(size int) budget {
	x := orDefault(c.MaxExpansion, DefaultMaxExpansion)
	if size > 0 && x > maxBudget/size {
		return newBudget(maxBudget)
	}
	return newBudget(x*size + keptSlack)
}

// scratch returns scratch buffer i, empty, to write a value into.
func (b *budget) scratch(i int) []byte {
	if b == nil {
		return nil
	}
	return b.buf[i][:0]
}

// take takes n bytes from *left.
func (b *budget) take(left *int, n int) error {
	if b == nil {
		return nil
	}
	*left -= n
	if *left < 0 {
		return fmt.Errorf("%w (%d bytes kept, %d written to compare principals)", ErrDecodeBudget, b.keptLimit, b.workLimit)
	}
	return nil
}

// keep takes the value written in scratch buffer 0 from the budget and returns a copy.
func (b *budget) keep(v []byte) ([]byte, error) {
	b.buf[0] = v
	if err := b.take(&b.kept, len(v)); err != nil {
		return nil, err
	}
	return bytes.Clone(v), nil
}

// compared takes a stream written in scratch buffer i to compare from the budget.
func (b *budget) compared(v []byte, i int) error {
	if b == nil {
		return nil
	}
	b.buf[i] = v
	return b.take(&b.work, len(v))
}
