package infer

import (
	"testing"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
)

func TestModelID(t *testing.T) {
	m, err := model.RandomModel("llama-test", 3)
	if err != nil {
		t.Fatal(err)
	}
	shares, err := ShareModel(m, mpc.TwoPC, 16)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ModelID(m)
	if err != nil {
		t.Fatal(err)
	}
	if id != shares[0].ModelID {
		t.Fatalf("ModelID %s, ShareModel gave %s", id, shares[0].ModelID)
	}
}
