package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestConfigCheckin: [checkin] is read, seconds allowed for tests, and a
// bad value is refused naming the setting.
func TestConfigCheckin(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		err        string // the setting the error names; "" for none
	}{
		{"defaults", "", ""},
		{"seconds", "[checkin]\nintervals = [\"4s\", \"8s\"]\nremind_before = \"2s\"\ngrace = \"1s\"\nevery = \"200ms\"\nlease = \"3s\"\ndefault_offset = \"+03:00\"\n", ""},
		{"bad interval", "[checkin]\nintervals = [\"soon\"]\n", "checkin.intervals"},
		{"negative grace", "[checkin]\ngrace = \"-1m\"\n", "checkin.grace"},
		{"reminder after the deadline", "[checkin]\nintervals = [\"1h\"]\nremind_before = \"2h\"\n", "checkin.remind_before"},
		{"bad offset", "[checkin]\ndefault_offset = \"Europe/Kyiv\"\n", "checkin.default_offset"},
		{"zero every", "[checkin]\nevery = \"0s\"\n", "checkin.every"},
		{"bad lease", "[checkin]\nlease = \"forever\"\n", "checkin.lease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vigil.toml")
			if err := os.WriteFile(path, []byte(tc.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := loadConfig(func(k string) string { return map[string]string{"VIGIL_CONFIG": path}[k] }, false)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), "VIGIL_CONFIG") || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one naming VIGIL_CONFIG %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "seconds" && (!slices.Equal(c.Checkin.Intervals, []time.Duration{4 * time.Second, 8 * time.Second}) ||
				c.Checkin.RemindBefore != 2*time.Second || c.CheckinTimes.Grace != time.Second || c.CheckinEvery != 200*time.Millisecond || c.CheckinTimes.Lease != 3*time.Second || c.Checkin.DefaultOffset != 180) {
				t.Fatalf("read %+v %+v %v", c.Checkin, c.CheckinTimes, c.CheckinEvery)
			}
			if tc.name == "defaults" && (len(c.Checkin.Intervals) != 5 || c.CheckinTimes.Grace != 30*time.Minute || c.CheckinTimes.Lease != time.Minute) {
				t.Fatalf("defaults %+v %+v", c.Checkin, c.CheckinTimes)
			}
		})
	}
}
