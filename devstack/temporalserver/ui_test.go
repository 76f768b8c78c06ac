package temporalserver

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestUIIsReadOnlyUnlessAskedToWrite: the dev stack's UI cannot start,
// signal or end workflows unless --ui-write asks it to (Temporal's UI
// reports both switches in its settings).
func TestUIIsReadOnlyUnlessAskedToWrite(t *testing.T) {
	for _, write := range []bool{false, true} {
		port, err := FreePort("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		ui, err := StartUI(UIOptions{IP: "127.0.0.1", Port: port, Frontend: "127.0.0.1:1", Write: write})
		if err != nil {
			t.Fatal(err)
		}
		var settings struct{ DisableWriteActions, StartWorkflowDisabled bool }
		var resp *http.Response
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if resp, err = http.Get(ui.URL() + "/api/v1/settings"); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the UI never answered: %v", err)
			}
		}
		err = json.NewDecoder(resp.Body).Decode(&settings)
		resp.Body.Close()
		ui.Stop()
		if err != nil || settings.DisableWriteActions == write || settings.StartWorkflowDisabled == write {
			t.Errorf("write %v: settings %+v (%v), want both switches %v", write, settings, err, !write)
		}
	}
}
