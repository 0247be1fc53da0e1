package meta

import "testing"

func TestTopicsDataDriven(t *testing.T) {
	runMachineDataDriven(t, "testdata/topics", func() machine { return newTopicsMachine() })
}
