package infer

import "github.com/privinfer/mpcache/model"

// ModelID returns the id ShareModel gives m's shares (a digest of the configuration and the
// weights), so that a client holding the model can name it to the parties without sharing it.
func ModelID(m *model.Model) (string, error) {
	_, vals, err := plainSlots(m, 0)
	if err != nil {
		return "", err
	}
	return modelID(m.Config, vals), nil
}
