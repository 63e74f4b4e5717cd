package client

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/privinfer/mpcache/mpc"
)

func TestLoadDeployment(t *testing.T) {
	good := `deployment = "demo"
protocol   = "2pc"
[tls]
ca   = "ca.pem"
cert = "client.pem"
key  = "client-key.pem"
[parties]
p0 = "h0:7000"
p1 = "h1:7000"
dealer = "h2:7000"
`
	cases := []struct {
		name, text, want string
	}{
		{"good", good, ""},
		{"protocol", strings.Replace(good, `"2pc"`, `"4pc"`, 1), `protocol: "4pc" is not 2pc or 3pc`},
		{"missing party", strings.Replace(good, `dealer = "h2:7000"`, "", 1), "parties.dealer: missing"},
		{"wrong party", strings.Replace(good, `dealer = `, `p2 = `, 1), "a 2pc deployment has no party p2"},
		{"bad address", strings.Replace(good, `"h1:7000"`, `"h1"`, 1), `parties.p1: "h1" is not host:port`},
		{"unknown setting", "colour = \"blue\"\n" + good, "unknown setting"},
		{"no key", strings.Replace(good, `key  = "client-key.pem"`, "", 1), "tls.key: missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "client.toml")
			if err := os.WriteFile(path, []byte(c.text), 0o644); err != nil {
				t.Fatal(err)
			}
			d, err := LoadDeployment(path)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if d.TLS.CA != filepath.Join(filepath.Dir(path), "ca.pem") || len(d.Roles()) != 3 {
					t.Fatalf("deployment %+v", d)
				}
				// Write and read it back.
				out := filepath.Join(t.TempDir(), "sub", "client.toml")
				if err := d.Write(out); err != nil {
					t.Fatal(err)
				}
				d2, err := LoadDeployment(out)
				if err != nil || d2.TLS.CA != d.TLS.CA || d2.Parties["dealer"] != "h2:7000" {
					t.Fatalf("written and read back: %v %+v", err, d2)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestReconstruct(t *testing.T) {
	for _, p := range []mpc.Protocol{mpc.TwoPC, mpc.ThreePC} {
		v := mpc.NewTensor(1)
		v.Data[0] = 41
		shares, err := mpc.Split(p, v)
		if err != nil {
			t.Fatal(err)
		}
		id, err := reconstruct(p, shares, 100)
		if err != nil || id != 41 {
			t.Fatalf("%s: %d %v", p, id, err)
		}
		if _, err := reconstruct(p, shares, 10); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
			t.Fatalf("%s: an id outside the vocabulary: %v", p, err)
		}
	}
	shares, _ := mpc.Split(mpc.ThreePC, mpc.NewTensor(1))
	shares[2].Next = []uint64{shares[2].Next[0] + 1} // Split may alias the replicated parts
	if _, err := reconstruct(mpc.ThreePC, shares, 10); err == nil || !strings.Contains(err.Error(), "disagree") {
		t.Fatalf("inconsistent replicated shares: %v", err)
	}
}
