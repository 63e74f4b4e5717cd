package link

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/privinfer/mpcache/parties/pki"
	"github.com/privinfer/mpcache/parties/role"
	"github.com/privinfer/mpcache/proto/linkpb"
)

// TestWrongCertificate: a party presenting a certificate other than the one pinned for it is
// refused, and both sides' errors say why.
func TestWrongCertificate(t *testing.T) {
	c, other := testCreds()
	tests := []struct {
		name     string
		identity *pki.Identity // what party 1 presents
		want0    string        // in party 0's session error
		want1    []string      // one of these is in party 1's session error
	}{
		{"other CA", other.ids[role.P1], "not the certificate pinned for p1", []string{"tls: bad certificate"}},
		{"dealer's certificate", c.ids[role.Dealer], "not the certificate pinned for p1",
			// The dealer refuses its own certificate from another host at the TLS layer; p0 accepts
			// it as the dealer's and refuses the stream that claims party 1.
			[]string{"tls: bad certificate", "its certificate is party 2 (dealer)'s"}},
		{"p2 in a 2pc deployment", c.ids[role.P2], "not the certificate pinned for p1", []string{"tls: bad certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := newCluster(t, clusterOpts{identity: map[int]*pki.Identity{1: tt.identity}})
			ss := openAll(t, ms, newID(t))
			ctx := ctxTimeout(t, 15*time.Second)
			for i, want := range [][]string{{tt.want0}, tt.want1} {
				_, err := ss[i].Recv(ctx, 1-i)
				if err == nil || !containsAny(err.Error(), want) {
					t.Errorf("party %d: Recv error %v, want one containing one of %q", i, err, want)
				}
			}
		})
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestClientCannotOpenLinks: a client certificate of the deployment passes TLS (clients talk to
// parties) but may not open a party link.
func TestClientCannotOpenLinks(t *testing.T) {
	c, _ := testCreds()
	ms := newCluster(t, clusterOpts{})
	cfg := pki.ClientConfig(c.ids[role.Client], certPool(c.ca), c.name, role.P0)
	cc, err := grpc.NewClient(ms[0].addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := ctxTimeout(t, 5*time.Second)
	st, err := linkpb.NewLinkClient(cc).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := newID(t)
	_ = st.Send(&linkpb.Frame{Kind: linkpb.Kind_KIND_OPEN, Session: id[:], From: 1, To: 0, Protocol: "2pc"})
	_, err = st.Recv()
	if err == nil || !strings.Contains(err.Error(), "client certificate may not open party links") {
		t.Fatalf("Recv: %v", err)
	}
}
