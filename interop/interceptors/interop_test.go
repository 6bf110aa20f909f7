package interceptorinterop_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/javapeer"
)

const (
	byteAck  = channel.OptByteMessage | channel.OptUseAck
	byteSync = byteAck | channel.OptSyncAck
	javaAck  = int(byteAck)
	javaSync = int(byteSync)
	optGzip  = int(interceptors.OptGzip)
	testKey  = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	otherKey = "ffeeddccbbaa99887766554433221100"
)

// Gzip: Go compresses for Java's GzipInterceptor and decompresses what it writes, in
// every size; Java sees the 0x100 flag, as it sets it itself.
func TestGzip(t *testing.T) {
	p := javapeer.Start(t, "--interceptors", "Gzip")
	g := startGo(t, "gzip", nodeOpts{}, javaMember(t, p))
	for _, size := range []int{0, 1, 1000, 64 << 10, 4 << 20} {
		t.Run("go-to-java/"+sizeName(size), func(t *testing.T) {
			ev := goToJava(t, g, p, javapeer.Content(size, 3, "gz"), byteSync)
			want := javaSync | optGzip // the "gz" prefix makes every message non-empty
			if ev.Options != want {
				t.Fatalf("java saw options %#x, want %#x", ev.Options, want)
			}
		})
		t.Run("java-to-go/"+sizeName(size), func(t *testing.T) {
			ms := javaToGo(t, p, g, 1, size, javaSync, "")
			compressed := ms[0].Options&interceptors.OptGzip != 0
			if compressed != (size > 0) {
				t.Fatalf("options %v for %d bytes", ms[0].Options, size)
			}
		})
	}
	if s := find[*interceptors.Gzip](t, g).Stats(); s.Decompressed < 4 || s.Compressed < 5 || s.DecompressErrors != 0 {
		t.Fatalf("go stats %+v", s)
	}
}

// Order: Go sends through Order above a 10-goroutine dispatcher, so the messages overtake
// each other on the wire, and Java's OrderInterceptor delivers them in sequence; Java's
// trailers are understood by Go.
func TestOrder(t *testing.T) {
	p := javapeer.Start(t, "--interceptors", "Order")
	g := startGo(t, "order,dispatch", nodeOpts{}, javaMember(t, p))
	const total = 300
	t.Run("go-to-java", func(t *testing.T) {
		var wg sync.WaitGroup
		wg.Add(total)
		for i := range total {
			err := g.ch.SendMessage(ctxFor(t, 30*time.Second), nil, &channel.Message{
				Options: channel.OptAsync | byteAck, Data: []byte(fmt.Sprintf("order-%05d", i)),
				OnComplete: func(err error) {
					if err != nil {
						t.Errorf("async send: %v", err)
					}
					wg.Done()
				}})
			if err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		evs := p.WaitEvents(t, 60*time.Second, total, javapeer.IsMessage)
		for i, ev := range evs {
			b, _ := ev.Bytes()
			if want := fmt.Sprintf("order-%05d", i); string(b) != want {
				t.Fatalf("java delivered %q at position %d, want %q", b, i, want)
			}
		}
	})
	t.Run("java-to-go", func(t *testing.T) {
		javaToGo(t, p, g, 50, 100, javaAck, "ord")
		if s := find[*interceptors.Order](t, g).Stats(); s.Delivered != 50 || s.Waiting != 0 || s.ShortFrames != 0 {
			t.Fatalf("go order stats %+v", s)
		}
	})
}

// Fragmentation: Java's default maxSize (102400) both ways, a small maxSize that makes many
// pieces, and messages of 32 MiB. Java's FragmentationInterceptor clones the whole message
// for every piece before sending (count × size bytes of heap: 10 GiB for 32 MiB in
// 100 KiB pieces), so Java sends its 32 MiB message in 4 MiB pieces.
//
// The Java peer runs its Receiver with useBufferPool="false": with the buffer pool on (Tomcat's
// default) Tribes can lose a reassembled message, whoever sends it. NioReplicationTask lets the
// next read of a connection go to another receiver thread before it hands its messages up, and
// after each one (and its synchronized ACK) returns the message's buffer to the pool and sets
// the ChannelMessage's buffer to null; FragmentationInterceptor assembles into the first
// piece's ChannelMessage itself. When the last piece completes the message on a second thread
// while the first piece's thread is still finishing, that thread's late setMessage(null)
// leaves the assembled message without a buffer (GroupChannel logs a NullPointerException and
// delivers nothing). CI saw it once at 102401 B (two pieces) Go → Java.
func TestFragmentation(t *testing.T) {
	for _, c := range []struct {
		java, goSpec     string
		toJava, fromJava []int
	}{
		{"Fragmentation", "fragmentation",
			[]int{0, 1000, 102400, 102401, 1 << 20, 32 << 20}, []int{0, 1000, 102400, 102401, 1 << 20, 8 << 20}},
		{"Fragmentation(maxSize=1000)", "fragmentation(maxSize=1000)",
			[]int{999, 1000, 1001, 300_000}, []int{999, 1000, 1001, 300_000}},
		{"Fragmentation(maxSize=4194304)", "fragmentation(maxSize=4194304)",
			[]int{32 << 20}, []int{32 << 20}},
	} {
		t.Run(c.goSpec, func(t *testing.T) {
			p := javapeer.Start(t, "--interceptors", c.java, "--buffer-pool", "false")
			if st, err := p.Stats(ctxFor(t, 10*time.Second)); err != nil || st.BufferPool {
				t.Fatalf("java receiver's useBufferPool still on (%+v, %v)", st, err)
			}
			g := startGo(t, c.goSpec, nodeOpts{}, javaMember(t, p))
			for _, size := range c.toJava {
				t.Run("go-to-java/"+sizeName(size), func(t *testing.T) {
					goToJava(t, g, p, javapeer.Content(size, 5, ""), byteSync)
				})
			}
			for _, size := range c.fromJava {
				t.Run("java-to-go/"+sizeName(size), func(t *testing.T) {
					javaToGo(t, p, g, 1, size, javaSync, "")
				})
			}
			f := find[*interceptors.Fragmentation](t, g)
			if s := f.Stats(); s.Refused != 0 || s.Pending != 0 {
				t.Fatalf("go stats %+v", s)
			}
		})
	}
}

// javaEncrypt returns the EncryptInterceptor format of the installed Tribes jar (legacy
// before 10.1.56) and its default encryptionAlgorithm (CBC before 10.1.58), and the
// property that sets that format in a Go spec ("" for the default, timestamped).
func javaEncrypt(t *testing.T) (format interceptors.EncryptFormat, defaultAlg, goFormatProp string) {
	t.Helper()
	javapeer.Skip(t)
	major, minor, patch, err := javapeer.TribesVersion()
	if err != nil {
		t.Fatal(err)
	}
	format = interceptors.EncryptFormatForTomcat(major, minor, patch)
	defaultAlg = interceptors.EncryptionAlgorithmForTomcat(major, minor, patch)
	t.Logf("Tribes %d.%d.%d: EncryptInterceptor in the %v format, default algorithm %s", major, minor, patch, format, defaultAlg)
	if format == interceptors.EncryptFormatTimestamped {
		return format, defaultAlg, "" // the default
	}
	return format, defaultAlg, ";format=" + format.String()
}

// Encrypt: Java's EncryptInterceptor and ours read each other in GCM and the CBC/CFB/OFB
// modes; a wrong key is dropped on both sides. The format is the installed jar's: the
// timestamped one of Tomcat 10.1.56+ (10.1.60), or the legacy one before.
func TestEncrypt(t *testing.T) {
	format, _, goFormat := javaEncrypt(t)
	for _, alg := range []string{"AES/GCM/NoPadding", "AES/CBC/PKCS5Padding", "AES/CFB/PKCS5Padding", "AES/OFB/PKCS5Padding"} {
		t.Run(strings.ReplaceAll(alg, "/", "-"), func(t *testing.T) {
			props := fmt.Sprintf("encryptionKey=%s;encryptionAlgorithm=%s", testKey, alg)
			p := javapeer.Start(t, "--interceptors", "Encrypt("+props+")")
			g := startGo(t, "encrypt("+props+goFormat+")", nodeOpts{}, javaMember(t, p))
			for _, size := range []int{0, 5, 16, 1000, 1 << 20} {
				goToJava(t, g, p, javapeer.Content(size, 1, "enc"), byteSync)
				javaToGo(t, p, g, 2, size, javaSync, "")
			}
			if s := find[*interceptors.Encrypt](t, g).Stats(); s.Decrypted != 10 || s.DecryptFailed != 0 || s.ReplayRejected != 0 {
				t.Fatalf("go stats %+v", s)
			}
		})
	}
	t.Run("wrong-key", func(t *testing.T) {
		javaProps, goProps := "encryptionKey="+testKey, "encryptionKey="+otherKey
		if format == interceptors.EncryptFormatLegacy {
			// GCM on both sides: without the replay check, an unauthenticated mode would
			// deliver the rare wrong-key message that passes the padding check.
			javaProps += ";encryptionAlgorithm=AES/GCM/NoPadding"
			goProps += ";encryptionAlgorithm=AES/GCM/NoPadding" + goFormat
		}
		p := javapeer.Start(t, "--interceptors", "Encrypt("+javaProps+")")
		g := startGo(t, "encrypt("+goProps+")", nodeOpts{}, javaMember(t, p))
		// Both sides drop and still acknowledge, as Tomcat does.
		if err := g.ch.Send(ctxFor(t, 30*time.Second), nil, []byte("for your eyes only"), byteSync); err != nil {
			t.Fatalf("go send: %v", err)
		}
		res, err := p.Send(ctxFor(t, 30*time.Second), []string{g.member()}, 3, 100, javaSync, "secret")
		if err != nil || res.Sent != 3 {
			t.Fatalf("java send: %+v %v", res, err)
		}
		g.expectNone(t) // Java's sends were sync-acked: Go processed (and dropped) them
		if err := p.Ping(ctxFor(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if st, err := p.Stats(ctxFor(t, 10*time.Second)); err != nil || st.Received != 0 {
			t.Fatalf("java delivered %d messages with the wrong key (%v)", st.Received, err)
		}
		s := find[*interceptors.Encrypt](t, g).Stats()
		if s.DecryptFailed+s.ReplayRejected != 3 || s.Decrypted != 0 {
			t.Fatalf("go stats %+v", s)
		}
		if format == interceptors.EncryptFormatLegacy && s.ReplayRejected != 0 {
			t.Fatalf("go stats %+v: the legacy format has no replay check", s)
		}
	})
}

// TwoPhaseCommit: each side holds the other's message until the confirmation (START |
// id | END) arrives, then delivers it once, with the original message id. Go sends with a
// synchronized ACK: with a plain ACK the confirmation can overtake the message on another
// pooled connection, and Java's receiver then loses the message (Go's remembers the
// confirmation, so Java may send with a plain ACK).
func TestTwoPhaseCommit(t *testing.T) {
	p := javapeer.Start(t, "--interceptors", "TwoPhaseCommit")
	g := startGo(t, "twophasecommit", nodeOpts{}, javaMember(t, p))
	id := channel.NewMessageID()
	data := []byte("two-phase from go")
	err := g.ch.SendMessage(ctxFor(t, 30*time.Second), nil, &channel.Message{Options: byteSync, ID: id, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	ev := p.WaitEvent(t, 30*time.Second, javapeer.MessageWithSHA(javapeer.SHA256Hex(data)))
	if ev.MsgID != fmt.Sprintf("%x", id) {
		t.Fatalf("java delivered message id %s, want the original %x", ev.MsgID, id)
	}
	ms := javaToGo(t, p, g, 5, 200, javaSync, "2pc")
	javaToGoUnordered(t, p, g, 20, 200, javaAck, "2pc-ack")
	tp := find[*interceptors.TwoPhaseCommit](t, g)
	if s := tp.Stats(); s.Released != 25 || s.HeldNow != 0 || s.Orphans != s.Early {
		t.Fatalf("go stats %+v", s)
	}
	if len(ms[0].ID) != 16 {
		t.Fatalf("id %x", ms[0].ID)
	}
	if err := p.Ping(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if st, _ := p.Stats(ctxFor(t, 10*time.Second)); st.Received != 1 {
		t.Fatalf("java delivered %d messages, want exactly 1 (the confirmation is not a message)", st.Received)
	}
}

// A stack of several byte-transforming interceptors nests the same way in both languages.
// Java's Encrypt runs with its version's default algorithm, which the Go side names.
func TestCombinedStack(t *testing.T) {
	_, javaAlg, goFormat := javaEncrypt(t)
	java := "Order,Gzip,Encrypt(encryptionKey=" + testKey + "),Fragmentation(maxSize=20000)"
	goSpec := "order,gzip,encrypt(encryptionKey=" + testKey + ";encryptionAlgorithm=" + javaAlg + goFormat + "),fragmentation(maxSize=20000)"
	p := javapeer.Start(t, "--interceptors", java)
	g := startGo(t, goSpec, nodeOpts{}, javaMember(t, p))
	for _, size := range []int{10, 20000, 1 << 20} {
		data := bytes.Repeat([]byte(fmt.Sprintf("combined %d;", size)), size/12+1)[:size]
		goToJava(t, g, p, data, byteSync)
		javaToGo(t, p, g, 3, size, javaSync, "mix")
	}
	if s := find[*interceptors.Encrypt](t, g).Stats(); s.Decrypted < 9 || s.DecryptFailed != 0 || s.ReplayRejected != 0 {
		t.Fatalf("go stats %+v", s)
	}
}
