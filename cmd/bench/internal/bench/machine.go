package bench

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// Machine describes where the results were measured.
type Machine struct {
	OS         string  `json:"os"`
	Arch       string  `json:"arch"`
	CPU        string  `json:"cpu"`
	CPUs       int     `json:"cpus"` // logical CPUs available to the process
	GOMAXPROCS int     `json:"gomaxprocs"`
	MemoryGiB  float64 `json:"memory_gib"`
	Kernel     string  `json:"kernel,omitempty"`
	Go         string  `json:"go"`
	GPU        string  `json:"gpu,omitempty"` // the device in use, when the cuda backend is available
	// Revision is the source's VCS revision, "+dirty" when the tree had changes; BuildTags
	// the tags the binary was built with (cuda, for one).
	Revision  string `json:"revision,omitempty"`
	BuildTags string `json:"build_tags,omitempty"`
	Note      string `json:"note,omitempty"`
}

// ThisMachine describes the machine this process runs on.
func ThisMachine() Machine {
	m := Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(fs[1], 64)
				m.MemoryGiB = float64(int(kb/(1<<20)*10+0.5)) / 10
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, d := Backend(); b == "cuda" {
		m.GPU = d
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				m.Revision = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			case "-tags":
				m.BuildTags = s.Value
			}
		}
		if dirty && m.Revision != "" {
			m.Revision += "+dirty"
		}
	}
	return m
}
