package link

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/privinfer/mpcache/parties/pki"
	"github.com/privinfer/mpcache/parties/role"
)

// BenchmarkThroughput sends messages from party 0 to party 1 over loopback gRPC with mutual TLS
// and reports payload MB/s. "duplex" has both parties send at once (the rate is per direction).
func BenchmarkThroughput(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 20, 32 << 20} {
		for _, duplex := range []bool{false, true} {
			name := fmt.Sprintf("%dKiB", size>>10)
			if duplex {
				name += "/duplex"
			}
			b.Run(name, func(b *testing.B) {
				ms := newCluster(b, clusterOpts{chunk: benchChunk})
				ss := openAll(b, ms, newID(b))
				ctx := ctxTimeout(b, 10*time.Minute)
				msg := payload(7, 0, 1, 0, size)
				b.SetBytes(int64(size))
				cpu0 := cpuTime()
				b.ResetTimer()
				errc := make(chan error, 2)
				recv := func(s *Session, from int) {
					for range b.N {
						if _, err := s.Recv(ctx, from); err != nil {
							errc <- err
							return
						}
					}
					errc <- nil
				}
				go recv(ss[1], 0)
				if duplex {
					go recv(ss[0], 1)
				}
				for range b.N {
					if err := ss[0].Send(ctx, 1, msg); err != nil {
						b.Fatal(err)
					}
					if duplex {
						if err := ss[1].Send(ctx, 0, msg); err != nil {
							b.Fatal(err)
						}
					}
				}
				dirs := 1
				if duplex {
					dirs = 2
				}
				for range dirs {
					if err := <-errc; err != nil {
						b.Fatal(err)
					}
				}
				// CPU time per byte is what the link costs whatever else runs on the machine;
				// its inverse is the rate one core could carry (both ends, TLS included).
				bytes := float64(size) * float64(b.N) * float64(dirs)
				b.ReportMetric(bytes/1e6/(cpuTime()-cpu0).Seconds(), "MB/cpu-s")
			})
		}
	}
}

var benchChunk = 0 // 0: DefaultChunkSize

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLoopbackTLS is the baseline: one TLS 1.3 connection over loopback carrying the same
// bytes with no gRPC, framing or queues.
func BenchmarkLoopbackTLS(b *testing.B) {
	c, _ := testCreds()
	pin0, _ := pki.PinCertificate(c.name, role.P0, c.ids[role.P0].Cert, "p0.pem")
	pin1, _ := pki.PinCertificate(c.name, role.P1, c.ids[role.P1].Cert, "p1.pem")
	trust := &pki.Trust{Deployment: c.name, Pins: []pki.Pin{pin0, pin1}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer lis.Close()
	const size = 32 << 20
	done := make(chan int64, 1)
	go func() {
		conn, err := lis.Accept()
		if err != nil {
			done <- 0
			return
		}
		n, _ := io.CopyBuffer(io.Discard, tls.Server(conn, pki.ServerConfig(c.ids[role.P1], trust)), make([]byte, 1<<20))
		done <- n
	}()
	conn, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	cl := tls.Client(conn, pki.PeerConfig(c.ids[role.P0], pin1))
	if err := cl.Handshake(); err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, size)
	b.SetBytes(size)
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		if _, err := cl.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	cl.Close()
	if n := <-done; n != int64(size)*int64(b.N) {
		b.Fatalf("received %d bytes", n)
	}
	b.ReportMetric(float64(size)*float64(b.N)/1e6/(cpuTime()-cpu0).Seconds(), "MB/cpu-s")
}
