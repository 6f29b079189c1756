package devstatetest

import (
	"testing"

	"github.com/gokvm/gokvm/internal/testonly"
)

// TestOnlyTestsImport: no file of the module but a test imports this
// package.
func TestOnlyTestsImport(t *testing.T) {
	testonly.OnlyTestsImport(t, "../../..", "github.com/gokvm/gokvm/devices/devstate/devstatetest")
}
