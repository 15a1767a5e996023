package alfred

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Error is what every call returns when the gateway answers with an error status: Alfred's
// OpenAI-shaped error ({"error": {message, type, param, code, request_id}}) plus the status and
// headers. Use errors.As to get it, and its Is* methods or Code to tell the cases apart.
type Error struct {
	Status    int
	Message   string
	Type      string
	Param     string
	Code      string
	RequestID string
	Header    http.Header
}

func (e *Error) Error() string {
	return fmt.Sprintf("alfred: %d %s: %s (request %s)", e.Status, e.Code, e.Message, e.RequestID)
}

// IsContentPolicy reports a refusal by the safety policy (code content_policy_violation).
func (e *Error) IsContentPolicy() bool { return e.Code == "content_policy_violation" }

// IsInsufficientQuota reports a wallet or budget that cannot cover the request.
func (e *Error) IsInsufficientQuota() bool { return e.Code == "insufficient_quota" || e.Status == 402 }

// IsRateLimited reports a rate limit (429 other than insufficient_quota).
func (e *Error) IsRateLimited() bool { return e.Status == 429 && !e.IsInsufficientQuota() }

// IsAuthentication reports a missing, inactive, expired or revoked key.
func (e *Error) IsAuthentication() bool { return e.Status == 401 }

// IsNotFound reports no such model, job, key or route.
func (e *Error) IsNotFound() bool { return e.Status == 404 }

// RetryAfter is how long to wait before retrying (retry-after-ms, else retry-after); ok is false without one.
func (e *Error) RetryAfter() (d time.Duration, ok bool) {
	if ms, err := strconv.ParseFloat(e.Header.Get("retry-after-ms"), 64); err == nil {
		return time.Duration(ms * float64(time.Millisecond)), true
	}
	return ParseDuration(e.Header.Get("retry-after"))
}

// Resets is the time until each limit resets, by unit ("requests", "tokens"), from x-ratelimit-reset-*.
func (e *Error) Resets() map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, values := range e.Header {
		lower := strings.ToLower(name)
		if !strings.HasPrefix(lower, "x-ratelimit-reset-") || len(values) == 0 {
			continue
		}
		if d, ok := ParseDuration(values[0]); ok {
			out[strings.TrimPrefix(lower, "x-ratelimit-reset-")] = d
		}
	}
	return out
}

var durationPart = regexp.MustCompile(`^(\d+(?:\.\d+)?)(ms|h|m|s)`)

// ParseDuration reads a reset header: Go's duration format ("1m30.5s", "20ms") or plain seconds.
func ParseDuration(text string) (time.Duration, bool) {
	text = strings.TrimSpace(text)
	if text == "" {
		return 0, false
	}
	if seconds, err := strconv.ParseFloat(text, 64); err == nil {
		return time.Duration(seconds * float64(time.Second)), true
	}
	d, err := time.ParseDuration(text)
	if err != nil || !durationPart.MatchString(text) {
		return 0, false
	}
	return d, true
}

func errorFromResponse(resp *http.Response, body []byte) *Error {
	return errorFromBody(resp.StatusCode, body, resp.Header)
}

func errorFromBody(status int, body []byte, header http.Header) *Error {
	var wire struct {
		Error *ErrorObject `json:"error"`
	}
	e := &Error{Status: status, Header: header, RequestID: header.Get("x-request-id")}
	if json.Unmarshal(body, &wire) != nil || wire.Error == nil {
		text := string(body)
		if len(text) > 200 {
			text = text[:200]
		}
		e.Message = fmt.Sprintf("HTTP %d: %s", status, text)
		return e
	}
	e.Message, e.Type = wire.Error.Message, wire.Error.Type
	if wire.Error.Param != nil {
		e.Param = *wire.Error.Param
	}
	if wire.Error.Code != nil {
		e.Code = *wire.Error.Code
	}
	if wire.Error.RequestID != nil {
		e.RequestID = *wire.Error.RequestID
	}
	return e
}

// JobFailedError is returned by Generate when a job ends failed or cancelled; Job is its last state.
type JobFailedError struct {
	Job  *ImageJob
	Code string
	Msg  string
}

func (e *JobFailedError) Error() string {
	return fmt.Sprintf("alfred: image job %s %s: %s", e.Job.ID, e.Job.Status, e.Msg)
}

func jobFailure(job *ImageJob) *JobFailedError {
	e := &JobFailedError{Job: job, Code: job.Status, Msg: "image job " + job.Status}
	if job.Error != nil {
		e.Code, e.Msg = job.Error.Code, job.Error.Message
	}
	return e
}
