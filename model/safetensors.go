package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
)

// maxSafetensorsHeader is the largest JSON header accepted, the format's own limit (100 MB).
const maxSafetensorsHeader = 100 << 20

// stTensor is one entry of a safetensors header: offsets are relative to the data section.
type stTensor struct {
	Dtype   string   `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// dtypeSize is the byte width of each dtype this package converts to float64.
var dtypeSize = map[string]int64{"F64": 8, "F32": 4, "F16": 2, "BF16": 2}

// parseSafetensorsHeader decodes and checks the header JSON of a file whose data section
// holds dataLen bytes: every tensor's byte range lies in the data section, and for the
// dtypes above its length matches its shape.
func parseSafetensorsHeader(hdr []byte, dataLen int64) (map[string]stTensor, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, fmt.Errorf("header is not a JSON object: %w", err)
	}
	out := make(map[string]stTensor, len(raw))
	for name, msg := range raw {
		if name == "__metadata__" {
			continue
		}
		var t stTensor
		if err := json.Unmarshal(msg, &t); err != nil {
			return nil, fmt.Errorf("tensor %s: bad header entry: %w", name, err)
		}
		n := int64(1)
		for _, d := range t.Shape {
			if d < 0 || d > maxElements || n*d > maxElements {
				return nil, fmt.Errorf("tensor %s: shape %v out of range", name, t.Shape)
			}
			n *= d
		}
		b, e := t.Offsets[0], t.Offsets[1]
		if b < 0 || e < b || e > dataLen {
			return nil, fmt.Errorf("tensor %s: data offsets [%d, %d] outside the %d-byte data section (truncated file?)",
				name, b, e, dataLen)
		}
		if size, ok := dtypeSize[t.Dtype]; ok && e-b != n*size {
			return nil, fmt.Errorf("tensor %s: %d bytes for %s %v, want %d", name, e-b, t.Dtype, t.Shape, n*size)
		}
		out[name] = t
	}
	return out, nil
}

// safetensorsFile is an open .safetensors file.
type safetensorsFile struct {
	path      string
	f         *os.File
	dataStart int64
	tensors   map[string]stTensor
}

func openSafetensors(path string) (*safetensorsFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	var n [8]byte
	if _, err := io.ReadFull(f, n[:]); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: truncated: no header length", path)
	}
	hlen := binary.LittleEndian.Uint64(n[:])
	if hlen > maxSafetensorsHeader || int64(hlen) > st.Size()-8 {
		f.Close()
		return nil, fmt.Errorf("%s: header length %d does not fit the %d-byte file (truncated?)", path, hlen, st.Size())
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(f, hdr); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: reading header: %w", path, err)
	}
	dataStart := 8 + int64(hlen)
	tensors, err := parseSafetensorsHeader(hdr, st.Size()-dataStart)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &safetensorsFile{path: path, f: f, dataStart: dataStart, tensors: tensors}, nil
}

// read returns tensor name as float64 after checking its shape.
func (s *safetensorsFile) read(name string, shape []int) ([]float64, error) {
	t, ok := s.tensors[name]
	if !ok {
		return nil, fmt.Errorf("%s: missing tensor %s", s.path, name)
	}
	if !slices.Equal(t.Shape, toInt64(shape)) {
		return nil, fmt.Errorf("%s: tensor %s has shape %v, want %v", s.path, name, t.Shape, shape)
	}
	size, ok := dtypeSize[t.Dtype]
	if !ok {
		return nil, fmt.Errorf("%s: tensor %s has unsupported dtype %s (want F32, F16, BF16 or F64)", s.path, name, t.Dtype)
	}
	buf := make([]byte, t.Offsets[1]-t.Offsets[0])
	if _, err := s.f.ReadAt(buf, s.dataStart+t.Offsets[0]); err != nil {
		return nil, fmt.Errorf("%s: reading tensor %s: %w", s.path, name, err)
	}
	out := make([]float64, int64(len(buf))/size)
	for i := range out {
		out[i] = decodeFloat(t.Dtype, buf[int64(i)*size:])
	}
	return out, nil
}

// Close closes the file.
func (s *safetensorsFile) Close() error { return s.f.Close() }

func toInt64(s []int) []int64 {
	out := make([]int64, len(s))
	for i, v := range s {
		out[i] = int64(v)
	}
	return out
}

// decodeFloat converts one little-endian value of a supported dtype.
func decodeFloat(dtype string, b []byte) float64 {
	switch dtype {
	case "F64":
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	case "F32":
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case "BF16":
		return float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16))
	default: // F16
		return halfToFloat(binary.LittleEndian.Uint16(b))
	}
}

// halfToFloat converts an IEEE 754 binary16 value exactly.
func halfToFloat(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp, frac := int(h>>10&0x1f), float64(h&0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(frac, -24)
	case 0x1f:
		if frac != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	}
	return sign * math.Ldexp(1024+frac, exp-25)
}
