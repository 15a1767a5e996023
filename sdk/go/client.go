// Package alfred is the Go SDK for the Alfred gateway: what the official OpenAI clients lack (the
// admin and self-service APIs, image jobs, typed errors with Alfred's codes). Standard library only.
package alfred

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Version is the SDK version, shared with the Python and Node SDKs (sdk/VERSION).
const Version = "0.1.0"

// Client talks to one gateway. Build it with NewClient; it is safe for concurrent use.
type Client struct {
	BaseURL string
	APIKey  string
	HTTP    *http.Client // requests; event streams use it too, bounded only by their context

	Images *Images
	Admin  *Admin
}

// Option changes a Client as NewClient builds it.
type Option func(*Client)

// WithBaseURL sets the gateway's URL (default: ALFRED_BASE_URL, then http://127.0.0.1:8080).
func WithBaseURL(u string) Option { return func(c *Client) { c.BaseURL = strings.TrimRight(u, "/") } }

// WithAPIKey sets the key sent as a Bearer token (default: ALFRED_API_KEY).
func WithAPIKey(key string) Option { return func(c *Client) { c.APIKey = key } }

// WithHTTPClient replaces the http.Client.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.HTTP = h } }

// NewClient builds a client from the environment and the options.
func NewClient(opts ...Option) *Client {
	c := &Client{
		BaseURL: strings.TrimRight(os.Getenv("ALFRED_BASE_URL"), "/"),
		APIKey:  os.Getenv("ALFRED_API_KEY"),
		HTTP:    &http.Client{},
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://127.0.0.1:8080"
	}
	for _, opt := range opts {
		opt(c)
	}
	c.Images = &Images{c: c}
	c.Admin = &Admin{c: c}
	return c
}

// Do sends one request with a JSON body (nil for none) and query; an error status returns *Error.
// The caller closes the response body.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body any, accept string) (*http.Response, error) {
	var reader io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("alfred: encoding the request: %w", err)
		}
		reader = bytes.NewReader(raw)
	}
	target := c.BaseURL + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reader)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "alfred-sdk-go/"+Version)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("alfred: %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, errorFromResponse(resp, raw)
	}
	return resp, nil
}

// JSON sends one request and decodes the JSON answer into out (nil to discard it).
func (c *Client) JSON(ctx context.Context, method, path string, query url.Values, body, out any) error {
	resp, err := c.Do(ctx, method, path, query, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("alfred: decoding %s %s: %w", method, path, err)
	}
	return nil
}

// requestTimeout bounds a plain call whose context has no deadline.
const requestTimeout = 60 * time.Second

func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, requestTimeout)
}
