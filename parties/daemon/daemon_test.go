package daemon

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/privinfer/mpcache/parties/client"
	"github.com/privinfer/mpcache/parties/config"
	"github.com/privinfer/mpcache/parties/deploy"
	"github.com/privinfer/mpcache/parties/role"
)

// TestRun runs the three parties of a 3pc deployment in this process, checks that they serve
// health and metrics, and that they stop cleanly when told to.
func TestRun(t *testing.T) {
	p := role.ThreePC
	lis := map[role.Role][2]net.Listener{}
	plan := deploy.Plan{Name: "test", Protocol: p, Addrs: map[role.Role]string{}}
	for _, r := range p.Roles() {
		a, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		m, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis[r] = [2]net.Listener{a, m}
		plan.Addrs[r] = a.Addr().String()
	}
	files, err := deploy.Write(t.TempDir(), plan)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := map[role.Role]chan error{}
	for _, r := range p.Roles() {
		cfg, err := config.Load(files.Config[r])
		if err != nil {
			t.Fatal(err)
		}
		done[r] = make(chan error, 1)
		go func() {
			done[r] <- Run(ctx, context.Background(), cfg, Listeners{Party: lis[r][0], Metrics: lis[r][1]}, io.Discard)
		}()
	}
	d, err := client.LoadDeployment(files.Client)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(d)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.WaitServing(wctx); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get("http://" + lis[role.P0][1].Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{"mpcache_session_active 0", "mpcache_link_sessions_open 0", "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	stop()
	for r, ch := range done {
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("%s: %v", r, err)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s did not stop", r)
		}
	}
}

func TestMainFlags(t *testing.T) {
	var out bytes.Buffer
	if err := Main("party", nil, &out); err == nil || !strings.Contains(err.Error(), "-config is required") {
		t.Fatalf("no -config: %v", err)
	}
	files, err := deploy.Write(t.TempDir(), deploy.Plan{Name: "test", Protocol: role.TwoPC,
		Addrs: map[role.Role]string{role.P0: "127.0.0.1:7000", role.P1: "127.0.0.1:7001", role.Dealer: "127.0.0.1:7002"}})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := Main("party", []string{"-config", files.Config[role.Dealer], "-check", "-listen", "127.0.0.1:7100"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"role dealer (party 2)", "listening on 127.0.0.1:7100", "peer p0 at 127.0.0.1:7000, pinned sha256:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-check output lacks %q:\n%s", want, out.String())
		}
	}
	if err := Main("party", []string{"-config", files.Config[role.P0], "-role", "p2", "-check"}, &out); err == nil || !strings.Contains(err.Error(), "a 2pc deployment has no p2") {
		t.Fatalf("an overriding flag that breaks the configuration: %v", err)
	}
}
