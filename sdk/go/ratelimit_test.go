package alfred

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// A real 429 (tests/sdk/sdk.yaml limits demo-chat-limited to 2 requests a minute) becomes an *Error
// carrying the retry time and reset times from its headers.
func TestASpentRateLimitIsTypedWithResetTimes(t *testing.T) {
	c, ctx := live(t)
	var models struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := c.JSON(ctx, http.MethodGet, "/v1/models", nil, nil, &models); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range models.Data {
		found = found || m.ID == "demo-chat-limited"
	}
	if !found {
		t.Skip("no demo-chat-limited model (start the gateway with tests/sdk/sdk.yaml)")
	}
	chat := map[string]any{"model": "demo-chat-limited", "messages": []map[string]string{{"role": "user", "content": "hi"}}}
	var e *Error
	for i := 0; i < 4; i++ {
		err := c.JSON(ctx, http.MethodPost, "/v1/chat/completions", nil, chat, nil)
		if errors.As(err, &e) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if e == nil || !e.IsRateLimited() || e.Code != "rate_limit_exceeded" || e.RequestID == "" {
		t.Fatalf("no typed rate limit: %+v", e)
	}
	if d, ok := e.RetryAfter(); !ok || d <= 0 || d > time.Minute {
		t.Errorf("RetryAfter = %v, %v", d, ok)
	}
	if d := e.Resets()["requests"]; d <= 0 || d > time.Minute {
		t.Errorf("Resets = %v", e.Resets())
	}
}
