// Package test holds the end-to-end tests: real party processes (cmd/party) and the client
// (cmd/client), built once per run, talking over loopback with mutual TLS. Most need the
// stories260K model in ../shared/models/stories260K (relative to the repository root) and skip
// with a message when it is absent; those of `client local` (local_test.go) run on the
// embedded default model and need nothing.
package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/parties/localnet"
	"github.com/privinfer/mpcache/parties/role"
)

// storiesDir is the real model of the tests, relative to this directory.
const storiesDir = "../../shared/models/stories260K"

var bin struct {
	party, client string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mpcache-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.party, bin.client = filepath.Join(dir, "party"), filepath.Join(dir, "client")
	for out, pkg := range map[string]string{bin.party: "../cmd/party", bin.client: "../cmd/client"} {
		cmd := exec.Command(goTool(), "build", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, b)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goTool is the go command of the toolchain running the tests (go test puts its own bin
// directory first on the PATH of the tests).
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// stories returns the stories260K model directory, or skips the test.
func stories(t *testing.T) string {
	t.Helper()
	if !fileExists(filepath.Join(storiesDir, "stories260K.bin")) {
		t.Skipf("stories260K is not available: put it in %s (relative to test/) to run the end-to-end tests", storiesDir)
	}
	abs, err := filepath.Abs(storiesDir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

var storiesModel struct {
	once sync.Once
	m    *model.Model
	tok  model.Tokenizer
	err  error
}

// openStories loads stories260K in this process (for tests that drive the client library).
func openStories(t *testing.T) (*model.Model, model.Tokenizer) {
	dir := stories(t)
	storiesModel.once.Do(func() {
		storiesModel.m, storiesModel.tok, storiesModel.err = model.Open(dir)
	})
	if storiesModel.err != nil {
		t.Fatal(storiesModel.err)
	}
	return storiesModel.m, storiesModel.tok
}

// startNet starts a deployment of the party binary and stops it when the test ends, failing
// the test if a party does not stop cleanly.
func startNet(t *testing.T, p role.Protocol, o localnet.Options) *localnet.Net {
	t.Helper()
	o.Protocol = p
	o.Command = []string{bin.party}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := localnet.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("stopping the parties: %v", err)
		}
	})
	return n
}

// runClient runs the client binary and returns its stdout and stderr.
func runClient(t *testing.T, timeout time.Duration, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin.client, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("client %s did not finish within %s", strings.Join(args, " "), timeout)
	}
	return out.String(), errOut.String(), err
}

// provision shares the model in dir to n's parties with `client provision`.
func provision(t *testing.T, n *localnet.Net, dir string) {
	t.Helper()
	out, errOut, err := runClient(t, 2*time.Minute, "provision", "-config", n.Files.Client, "-model", dir)
	if err != nil {
		t.Fatalf("provision: %v\n%s%s", err, out, errOut)
	}
}

// result is the object `client generate --json` prints.
type result struct {
	Text             string  `json:"text"`
	Tokens           []int   `json:"tokens"`
	PromptTokens     int     `json:"prompt_tokens"`
	LatencyS         float64 `json:"latency_s"`
	OnlineBytes      int64   `json:"online_bytes"`
	OfflineBytes     int64   `json:"offline_bytes"`
	Rounds           int64   `json:"rounds"`
	Protocol         string  `json:"protocol"`
	Policy           string  `json:"policy"`
	ReferenceTokens  []int   `json:"reference_tokens"`
	MatchesReference *bool   `json:"matches_reference"`
}

// generate runs `client generate --json` with args against n; the error carries stderr.
func generate(t *testing.T, n *localnet.Net, args ...string) (*result, error) {
	t.Helper()
	args = append([]string{"generate", "-config", n.Files.Client, "-json"}, args...)
	out, errOut, err := runClient(t, 5*time.Minute, args...)
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, errOut)
	}
	var r result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return nil, fmt.Errorf("client output is not the JSON result: %v\n%s", err, out)
	}
	return &r, nil
}

// tokens picks the number of generated tokens: few in -short.
func tokens(short, full int) int {
	if testing.Short() {
		return short
	}
	return full
}
