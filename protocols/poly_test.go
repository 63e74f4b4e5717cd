package protocols

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/privinfer/mpcache/mpc"
)

// TestPolyEval checks the Estrin evaluator on random polynomials of degree 1 to 8 with secret
// coefficients: values against float64, and 2·ceil(log2(d+1)) rounds (every level a product
// and its truncation, fused in 3pc whatever the last truncation's amount).
func TestPolyEval(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	const n = 64
	for deg := 1; deg <= 8; deg++ {
		for _, shift := range []uint{testFrac, testFrac + 8} {
			coefs := make([][]float64, deg+1)
			for k := range coefs {
				coefs[k] = fxRounded(fxUniform(r, n, -1, 1))
			}
			u := fxRounded(fxUniform(r, n, -1.5, 1.5))
			for _, p := range testProtocols {
				t.Run(fmt.Sprintf("%s/deg=%d/shift=%d", p, deg, shift), func(t *testing.T) {
					cs := make([][]*mpc.Share, deg+1)
					for k := range cs {
						cs[k] = shareFloats(t, p, coefs[k])
					}
					us := shareFloats(t, p, u)
					got, st := measure(t, p, "poly", func(e mpc.Engine) (*mpc.Share, error) {
						c := make([]*mpc.Share, deg+1)
						for k := range c {
							c[k] = cs[k][e.Party()]
						}
						return polyEval(e, c, us[e.Party()], shift)
					})
					vals := revealFloats(t, p, got)
					want := make([]float64, n)
					for i := range want {
						for k := deg; k >= 0; k-- {
							want[i] = want[i]*u[i] + coefs[k][i]
						}
						want[i] = math.Ldexp(want[i], int(testFrac)-int(shift))
					}
					fxCheck(t, "polynomial", vals, want, func(int) float64 { return 2e-3 })
					levels := int64(math.Ceil(math.Log2(float64(deg + 1))))
					if rounds := 2 * levels; st[0].Rounds != rounds {
						t.Errorf("%d rounds, want %d", st[0].Rounds, rounds)
					}
				})
			}
		}
	}
}

// TestTablesUpToDate regenerates tables.go with internal/fit and compares. The fit is pure
// float64 arithmetic, but compilers may fuse multiply-adds on other architectures, which can
// change the last digits, so the comparison runs on amd64 only.
func TestTablesUpToDate(t *testing.T) {
	if testing.Short() || runtime.GOARCH != "amd64" {
		t.Skip("regenerating the tables takes seconds; amd64 only")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out := filepath.Join(t.TempDir(), "tables.go")
	cmd := exec.Command(goTool, "run", "./internal/fit", "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./internal/fit: %v\n%s", err, b)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("tables.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Fatal("tables.go differs from what internal/fit generates: run go generate ./protocols")
	}
}
