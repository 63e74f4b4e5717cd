package deploy

import (
	"strings"
	"testing"

	"github.com/privinfer/mpcache/parties/client"
	"github.com/privinfer/mpcache/parties/config"
	"github.com/privinfer/mpcache/parties/role"
)

// TestWrite writes deployments of both protocols and loads every file back: each party's
// configuration with its credentials and pins, and the client's deployment.
func TestWrite(t *testing.T) {
	for _, p := range []role.Protocol{role.TwoPC, role.ThreePC} {
		t.Run(string(p), func(t *testing.T) {
			dir := t.TempDir()
			addrs := map[role.Role]string{}
			for i, r := range p.Roles() {
				addrs[r] = []string{"10.0.0.1:7000", "p1.example.com:7000", "[fd00::3]:7000"}[i]
			}
			f, err := Write(dir, Plan{Name: "prod", Protocol: p, Addrs: addrs,
				Metrics: map[role.Role]string{role.P0: "127.0.0.1:9100"}, Extra: "[sessions]\nmax = 8"})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Roles() {
				c, err := config.Load(f.Config[r])
				if err != nil {
					t.Fatalf("%s: %v", r, err)
				}
				if c.Role != string(r) || c.Protocol != string(p) || c.Sessions.Max != 8 || !strings.HasSuffix(c.Listen, ":7000") {
					t.Fatalf("%s: config %+v", r, c)
				}
				sec, err := c.LoadSecurity()
				if err != nil {
					t.Fatalf("%s: %v", r, err)
				}
				if len(sec.Pins) != 2 {
					t.Fatalf("%s pins %d peers", r, len(sec.Pins))
				}
				if err := c.Validate(); err != nil {
					t.Fatal(err)
				}
			}
			d, err := client.LoadDeployment(f.Client)
			if err != nil {
				t.Fatal(err)
			}
			if d.Parties[string(p.Roles()[1])] != "p1.example.com:7000" {
				t.Fatalf("client deployment %+v", d)
			}
			if _, err := client.Dial(d); err != nil {
				t.Fatal(err)
			}
			if _, err := Write(dir, Plan{Name: "prod", Protocol: p, Addrs: addrs}); err == nil || !strings.Contains(err.Error(), "already holds a CA") {
				t.Fatalf("writing over a deployment: %v", err)
			}
		})
	}
}

func TestWriteRefused(t *testing.T) {
	cases := []struct {
		name string
		plan Plan
		want string
	}{
		{"protocol", Plan{Name: "x", Protocol: "4pc"}, "unknown protocol"},
		{"name", Plan{Name: "Bad Name", Protocol: role.TwoPC}, "deployment name"},
		{"missing address", Plan{Name: "x", Protocol: role.TwoPC, Addrs: map[role.Role]string{role.P0: "a:1", role.P1: "b:1"}}, "no address for dealer"},
		{"bad address", Plan{Name: "x", Protocol: role.TwoPC, Addrs: map[role.Role]string{role.P0: "a", role.P1: "b:1", role.Dealer: "c:1"}}, "not host:port"},
	}
	for _, c := range cases {
		if _, err := Write(t.TempDir(), c.plan); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error about %q", c.name, err, c.want)
		}
	}
}
