package alfred

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseDurationReadsGoDurationsAndSeconds(t *testing.T) {
	cases := map[string]time.Duration{
		"20ms": 20 * time.Millisecond, "1s": time.Second, "6m0s": 6 * time.Minute,
		"1m30.5s": 90500 * time.Millisecond, "1h2m3s": 3723 * time.Second, "7": 7 * time.Second,
	}
	for text, want := range cases {
		if got, ok := ParseDuration(text); !ok || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", text, got, ok, want)
		}
	}
	for _, text := range []string{"", "soon", "1x"} {
		if _, ok := ParseDuration(text); ok {
			t.Errorf("ParseDuration(%q) accepted", text)
		}
	}
}

func TestErrorCarriesCodeAndRateLimitResets(t *testing.T) {
	header := http.Header{}
	header.Set("Retry-After", "2")
	header.Set("Retry-After-Ms", "1500")
	header.Set("X-Ratelimit-Reset-Requests", "1m30.5s")
	header.Set("X-Ratelimit-Reset-Tokens", "20ms")
	body := `{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded","request_id":"req-1"}}`
	var err error = errorFromBody(429, []byte(body), header)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("not an *Error: %v", err)
	}
	if !e.IsRateLimited() || e.IsInsufficientQuota() || e.RequestID != "req-1" || e.Code != "rate_limit_exceeded" {
		t.Errorf("unexpected %+v", e)
	}
	if d, ok := e.RetryAfter(); !ok || d != 1500*time.Millisecond {
		t.Errorf("RetryAfter = %v, %v", d, ok)
	}
	resets := e.Resets()
	if resets["requests"] != 90500*time.Millisecond || resets["tokens"] != 20*time.Millisecond {
		t.Errorf("Resets = %v", resets)
	}
}

func TestErrorKinds(t *testing.T) {
	quota := errorFromBody(402, []byte(`{"error":{"message":"no","type":"insufficient_quota","code":"insufficient_quota"}}`), http.Header{})
	policy := errorFromBody(400, []byte(`{"error":{"message":"no","type":"invalid_request_error","code":"content_policy_violation"}}`), http.Header{})
	garbled := errorFromBody(502, []byte("<html>bad gateway</html>"), http.Header{})
	if !quota.IsInsufficientQuota() || quota.IsRateLimited() || !policy.IsContentPolicy() {
		t.Errorf("kinds wrong: %+v %+v", quota, policy)
	}
	if !strings.Contains(garbled.Message, "bad gateway") || garbled.Status != 502 {
		t.Errorf("garbled body: %+v", garbled)
	}
}

func TestVersionIsSharedWithTheOtherSDKs(t *testing.T) {
	raw, err := os.ReadFile("../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(raw)) != Version {
		t.Errorf("Version %s != sdk/VERSION %s", Version, raw)
	}
}
