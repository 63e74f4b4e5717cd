package config

import (
	"strings"
	"testing"
	"time"

	"github.com/privinfer/mpcache/parties/role"
)

func TestSessions(t *testing.T) {
	good := configText(role.ThreePC, role.P1, ":7000", nil) +
		"[sessions]\nmax = 8\ninput_timeout = \"5s\"\nrecv_timeout = \"1m\"\ndrain_timeout = \"3s\"\ncomparison = \"circuit\"\nnetwork = \"lan\"\n"
	c, err := Load(writeConfig(t, t.TempDir(), "p1.toml", good))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sessions
	if s.Max != 8 || s.InputTimeout != 5*time.Second || s.RecvTimeout != time.Minute || s.DrainTimeout != 3*time.Second || s.Comparison != "circuit" || s.Network != "lan" {
		t.Fatalf("sessions %+v", s)
	}
	for _, tt := range []struct {
		name, from, to, want string
	}{
		{"negative", `input_timeout = "5s"`, `input_timeout = "-5s"`, "sessions.input_timeout: negative"},
		{"comparison", `comparison = "circuit"`, `comparison = "magic"`, `sessions.comparison: "magic" is not fss or circuit`},
		{"max", `max = 8`, `max = -1`, "sessions.max: -1 is negative"},
		{"network", `network = "lan"`, `network = "fast"`, `sessions.network: mpc: network "fast" is not wan, lan`},
		{"unknown", `max = 8`, `maximum = 8`, "unknown settings: sessions.maximum"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, t.TempDir(), "p1.toml", strings.Replace(good, tt.from, tt.to, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
