package control

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// List describes every VM of this user with a control socket, by name.
// Sockets left by VMs that are gone are removed. A VM that does not
// answer in time is left out.
func List() ([]Info, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".sock")
		if !ok || CheckName(name) != nil || e.Type()&os.ModeSocket == 0 {
			continue
		}
		c, err := DialPath(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		info, err := c.Info()
		c.Close()
		if err != nil {
			continue
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
