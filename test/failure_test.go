package test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/parties/client"
	"github.com/privinfer/mpcache/parties/deploy"
	"github.com/privinfer/mpcache/parties/localnet"
	"github.com/privinfer/mpcache/parties/pki"
	"github.com/privinfer/mpcache/parties/role"
	"github.com/privinfer/mpcache/parties/store"
)

// metric reads one sample of a party's metrics (the first line that starts with name).
func metric(t *testing.T, n *localnet.Net, r role.Role, name string) float64 {
	t.Helper()
	text, err := n.Metrics(r)
	if err != nil {
		t.Fatalf("metrics of %s: %v", r, err)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` ([0-9.e+-]+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// waitNoSessions waits until no party of n holds a session (their shares are dropped).
func waitNoSessions(t *testing.T, n *localnet.Net, skip role.Role, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, r := range n.Deployment.Roles() {
		if r == skip {
			continue
		}
		for metric(t, n, r, "mpcache_session_active") != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s still holds a session %s after the failure", r, within)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestPartyKilled kills p1 in the middle of a generation: the client and the other parties must
// report it within 10 s, drop the session, and serve a new session once p1 is back.
func TestPartyKilled(t *testing.T) {
	dir := stories(t)
	m, tok := openStories(t)
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			net := startNet(t, p, localnet.Options{})
			provision(t, net, dir)
			c, err := client.Dial(net.Deployment)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			id, err := infer.ModelID(m)
			if err != nil {
				t.Fatal(err)
			}
			prompt := tok.Encode("Once upon a time")
			var killed time.Time
			_, err = c.Generate(context.Background(), client.Request{ModelID: id, Prompt: prompt, MaxNewTokens: 100}, func(i, _ int) {
				if i == 1 {
					if err := net.Kill(role.P1); err != nil {
						t.Error(err)
					}
					killed = time.Now()
				}
			})
			took := time.Since(killed)
			if killed.IsZero() {
				t.Fatalf("the generation ended before p1 was killed: %v", err)
			}
			if err == nil {
				t.Fatal("the generation succeeded without p1")
			}
			t.Logf("client error after %.2f s:\n%v", took.Seconds(), err)
			if took > 10*time.Second {
				t.Errorf("the client reported the failure after %s, want within 10 s", took)
			}
			if !strings.Contains(err.Error(), "p1") || !strings.Contains(err.Error(), "connection lost") {
				t.Errorf("the error does not say that p1's connection was lost: %v", err)
			}
			waitNoSessions(t, net, role.P1, 10*time.Second-time.Since(killed))
			for _, r := range net.Deployment.Roles() {
				if r != role.P1 {
					if f := metric(t, net, r, `mpcache_session_ended_total{outcome="failed"}`); f != 1 {
						t.Errorf("%s counts %v failed sessions, want 1", r, f)
					}
				}
			}

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := net.Restart(ctx, role.P1); err != nil {
				t.Fatal(err)
			}
			n := 2
			ref, err := client.Reference(m, prompt, n, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Generate(ctx, client.Request{ModelID: id, Prompt: prompt, MaxNewTokens: n}, nil)
			if err != nil {
				t.Fatalf("a new session after p1's restart: %v", err)
			}
			if !equal(res.Tokens, ref) {
				t.Fatalf("after the restart: secure tokens %v, reference %v", res.Tokens, ref)
			}
		})
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRefusals checks requests that the client or the parties must refuse with an error naming
// the cause, and that a refused request leaves no session behind.
func TestRefusals(t *testing.T) {
	dir := stories(t)
	m, tok := openStories(t)
	net := startNet(t, role.TwoPC, localnet.Options{})
	provision(t, net, dir)
	id, err := infer.ModelID(m)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("once upon a time there was a cat ", 80)
	cli := []struct {
		name string
		args []string
		want string
	}{
		{"prompt longer than the context", []string{"-prompt", long}, "more than the model's context of 512"},
		{"unknown model", []string{"-model-id", "0123456789abcdef0123456789abcdef"}, "unknown model 0123456789abcdef0123456789abcdef"},
		{"unknown policy", []string{"-policy", "nope"}, `unknown cache policy "nope"`},
		{"unknown policy parameter", []string{"-policy-param", "keep=4"}, `takes no parameter "keep"`},
	}
	for _, c := range cli {
		t.Run("client/"+c.name, func(t *testing.T) {
			_, err := generate(t, net, append([]string{"-model", dir, "-n", "1"}, c.args...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	// The parties check for themselves what a client might not.
	c, err := client.Dial(net.Deployment)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	prompt := tok.Encode(long)
	lib := []struct {
		name string
		req  client.Request
		want []string
	}{
		{"prompt longer than the context", client.Request{ModelID: id, Prompt: prompt, MaxNewTokens: 1},
			[]string{"p0", "p1", "dealer", "more than the model's context of 512"}},
		{"unknown policy", client.Request{ModelID: id, Prompt: prompt[:3], MaxNewTokens: 1, Policy: "nope"},
			[]string{"p0", `unknown cache policy "nope"`}},
		{"unknown model", client.Request{ModelID: "feedfacefeedface", Prompt: prompt[:3], MaxNewTokens: 1},
			[]string{"p1", "unknown model feedfacefeedface", "holds no shares of it"}},
		{"no new tokens", client.Request{ModelID: id, Prompt: prompt[:3], MaxNewTokens: 0}, []string{"at least one new token"}},
	}
	for _, l := range lib {
		t.Run("party/"+l.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := c.Generate(ctx, l.req, nil)
			for _, w := range l.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("got %v, want an error containing %q", err, w)
				}
			}
		})
	}
	waitNoSessions(t, net, "", 5*time.Second)
}

// TestProtocolMismatch runs p1 of a 2pc deployment as a 3pc party: the session is refused with
// an error that names the mismatch.
func TestProtocolMismatch(t *testing.T) {
	dir := stories(t)
	net := startNet(t, role.TwoPC, localnet.Options{Configure: func(f *deploy.Files) error {
		path := f.Config[role.P1]
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s := strings.Replace(string(b), `protocol   = "2pc"`, `protocol   = "3pc"`, 1)
		p2, _ := pki.Files(filepath.Join(f.Dir, "pki"), role.P2)
		s = strings.Replace(s, "[peers.dealer]", "[peers.p2]", 1)
		s = strings.Replace(s, `cert    = "dealer.pem"`, `cert    = "`+p2+`"`, 1)
		return os.WriteFile(path, []byte(s), 0o644)
	}})
	_, err := generate(t, net, "-model", dir, "-n", "1")
	for _, want := range []string{"p1", "protocol mismatch: p1 runs 3pc, the request is for 2pc"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want an error containing %q", err, want)
		}
	}
}

// TestWrongPeerCertificate gives p1 a certificate of the deployment CA other than the one its
// peers pin: the client may reach p1, but p0 and p2 refuse its links, and the error says so.
func TestWrongPeerCertificate(t *testing.T) {
	dir := stories(t)
	net := startNet(t, role.ThreePC, localnet.Options{Configure: func(f *deploy.Files) error {
		ca, err := pki.LoadIdentity(pki.Files(filepath.Join(f.Dir, "pki"), ""))
		if err != nil {
			return err
		}
		id, err := pki.Issue(ca, role.P1, []string{"127.0.0.1"}, time.Hour)
		if err != nil {
			return err
		}
		return id.Write(filepath.Join(f.Dir, "p1", "p1.pem"), filepath.Join(f.Dir, "p1", "p1-key.pem"))
	}})
	provision(t, net, dir)
	_, err := generate(t, net, "-model", dir, "-n", "1")
	for _, want := range []string{"p1", "not the certificate pinned for p1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want an error containing %q", err, want)
		}
	}
	t.Logf("client error:\n%v", err)
}

// TestUnauthenticatedClient: a client whose certificate is not of the deployment's CA is refused.
func TestUnauthenticatedClient(t *testing.T) {
	net := startNet(t, role.TwoPC, localnet.Options{})
	other, err := pki.NewCA("local", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, err := pki.Issue(other, role.Client, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d := *net.Deployment
	d.TLS.Cert, d.TLS.Key = filepath.Join(t.TempDir(), "c.pem"), filepath.Join(t.TempDir(), "c-key.pem")
	if err := id.Write(d.TLS.Cert, d.TLS.Key); err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(&d)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.List(ctx)
	var pe *client.PartyError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "TLS handshake refused") {
		t.Fatalf("got %v, want a refused TLS handshake", err)
	}
}

// TestCorruptShareFile damages p1's stored shares: the session is refused with an error naming
// p1 and the corruption, and a new upload repairs it.
func TestCorruptShareFile(t *testing.T) {
	dir := stories(t)
	m, _ := openStories(t)
	net := startNet(t, role.TwoPC, localnet.Options{})
	provision(t, net, dir)
	id, err := infer.ModelID(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(net.Dir, "p1", "shares", id, store.FileName(role.TwoPC, role.P1))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = generate(t, net, "-model", dir, "-n", "1")
	for _, want := range []string{"p1", "corrupt (checksum mismatch)", path} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want an error containing %q", err, want)
		}
	}
	provision(t, net, dir)
	r, err := generate(t, net, "-model", dir, "-n", "2", "-check")
	if err != nil {
		t.Fatalf("after a new upload: %v", err)
	}
	checkResult(t, r, role.TwoPC, 2)
}
