package config

import (
	"strings"
	"testing"

	"github.com/privinfer/mpcache/parties/role"
)

// dealerFreeText is p0's valid configuration of a dealer-free 2pc deployment.
func dealerFreeText() string {
	s := configText(role.TwoPC, role.P0, ":7000", nil)
	s = strings.Replace(s, "[peers.dealer]\naddress = \"127.0.0.1:7000\"\ncert = \"certs/dealer.pem\"\n", "", 1)
	return strings.Replace(s, `protocol = "2pc"`, "protocol = \"2pc\"\npreprocessing = \"dealer-free\"", 1)
}

func TestDealerFree(t *testing.T) {
	dir := writeDeployment(t)
	c, err := Load(writeConfig(t, dir, "p0.toml", dealerFreeText()+"[dealer_free]\nprecompute = true\nstore_dir = \"material\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Pre() != role.DealerFree || !c.DealerFree.Precompute || !strings.HasPrefix(c.DealerFree.StoreDir, dir) {
		t.Fatalf("preprocessing %q, dealer_free %+v", c.Pre(), c.DealerFree)
	}
	sec, err := c.LoadSecurity()
	if err != nil {
		t.Fatal(err)
	}
	if lc := c.LinkConfig(sec, nil); len(lc.Peers) != 1 || lc.Peers[1].Addr == "" {
		t.Fatalf("a dealer-free p0 links to %v; want p1 only", lc.Peers)
	}

	for _, tt := range []struct {
		name, text, want string
	}{
		{"3pc", strings.Replace(configText(role.ThreePC, role.P0, ":7000", nil), `protocol = "3pc"`, "protocol = \"3pc\"\npreprocessing = \"dealer-free\"", 1),
			"preprocessing: dealer-free is for 2pc only"},
		{"dealer role", strings.Replace(dealerFreeText(), `role = "p0"`, `role = "dealer"`, 1), "a dealer-free 2pc deployment has no dealer"},
		{"dealer peer", dealerFreeText() + "[peers.dealer]\naddress = \"127.0.0.1:7000\"\ncert = \"certs/dealer.pem\"\n",
			"dealer is not a peer of p0 in a dealer-free 2pc deployment"},
		{"unknown", strings.Replace(dealerFreeText(), `"dealer-free"`, `"he"`, 1), `preprocessing: "he" is not dealer or dealer-free`},
		{"fss", dealerFreeText() + "[sessions]\ncomparison = \"fss\"\n", "fss needs DCF keys from a dealer"},
		{"section with a dealer", configText(role.TwoPC, role.P0, ":7000", nil) + "[dealer_free]\nprecompute = true\n", "dealer_free: set, but preprocessing is dealer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, t.TempDir(), "p0.toml", tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load: %v\nwant an error containing %q", err, tt.want)
			}
		})
	}
}
