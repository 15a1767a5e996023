package alfred

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// Images groups the image job calls: Submit, Get, Cancel, Events, Wait, Generate.
type Images struct{ c *Client }

// JobEvent is one step of a job: Type is a job status or "progress"; Job is the job at that moment.
type JobEvent struct {
	Type     string   `json:"type"`
	JobID    string   `json:"job_id"`
	At       float64  `json:"at"`
	Progress *float64 `json:"progress"`
	Message  string   `json:"message"`
	Job      ImageJob `json:"job"`
}

// Terminal reports whether the event ends the job.
func (e JobEvent) Terminal() bool { return terminal(e.Type) }

func terminal(status string) bool {
	return status == "succeeded" || status == "failed" || status == "cancelled"
}

func jobPath(id string) string { return "/v1/images/jobs/" + url.PathEscape(id) }

// Submit queues a generation (wait=0) and returns its job.
func (im *Images) Submit(ctx context.Context, req ImageRequest) (*ImageJob, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	zero := 0.0
	req.Wait = &zero
	resp, err := im.c.Do(ctx, http.MethodPost, "/v1/images/generations", nil, req, "application/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted {
		var job ImageJob
		if err := json.NewDecoder(resp.Body).Decode(&job); err != nil {
			return nil, err
		}
		return &job, nil
	}
	// 200: done at once (e.g. a cache hit); the body names the job.
	var done ImagesResponse
	if err := json.NewDecoder(resp.Body).Decode(&done); err != nil {
		return nil, err
	}
	return im.Get(ctx, done.Alfred.JobID)
}

// Get returns a job's current state.
func (im *Images) Get(ctx context.Context, id string) (*ImageJob, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	var job ImageJob
	return &job, im.c.JSON(ctx, http.MethodGet, jobPath(id), nil, nil, &job)
}

// Cancel cancels a live job; a finished one comes back as it is.
func (im *Images) Cancel(ctx context.Context, id string) (*ImageJob, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	var job ImageJob
	return &job, im.c.JSON(ctx, http.MethodDelete, jobPath(id), nil, nil, &job)
}

// Events calls fn for each of the job's events (what already happened first) until the job ends,
// fn returns an error, or ctx is done. An "error" event is returned as *Error.
func (im *Images) Events(ctx context.Context, id string, fn func(JobEvent) error) error {
	resp, err := im.c.Do(ctx, http.MethodGet, jobPath(id)+"/events", nil, nil, "text/event-stream")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 64*1024), 8<<20)
	var name string
	var data []string
	for scanner.Scan() {
		line := strings.TrimSuffix(scanner.Text(), "\r")
		switch {
		case line == "":
			if len(data) == 0 && name == "" {
				continue
			}
			payload := []byte(strings.Join(data, "\n"))
			event := name
			name, data = "", nil
			if event == "error" {
				return errorFromBody(500, payload, resp.Header)
			}
			var ev JobEvent
			if err := json.Unmarshal(payload, &ev); err != nil {
				return err
			}
			if err := fn(ev); err != nil {
				return err
			}
		case strings.HasPrefix(line, ":"):
			// a comment (keep-alive)
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			if field == "event" {
				name = value
			} else if field == "data" {
				data = append(data, value)
			}
		}
	}
	return scanner.Err()
}

// Wait follows the events until the job ends and returns it, calling onProgress (may be nil) at each.
func (im *Images) Wait(ctx context.Context, id string, onProgress func(JobEvent)) (*ImageJob, error) {
	var last *ImageJob
	err := im.Events(ctx, id, func(ev JobEvent) error {
		if onProgress != nil {
			onProgress(ev)
		}
		if ev.Terminal() {
			job := ev.Job
			last = &job
			return errStop
		}
		return nil
	})
	if err != nil && err != errStop {
		return nil, err
	}
	if last != nil {
		return last, nil
	}
	return im.Get(ctx, id) // the stream closed early: the job itself says where it stands
}

type stop struct{}

func (stop) Error() string { return "stop" }

var errStop error = stop{}

// Generate submits and waits; a job that fails or is cancelled returns *JobFailedError.
func (im *Images) Generate(ctx context.Context, req ImageRequest, onProgress func(JobEvent)) (*ImageJob, error) {
	job, err := im.Submit(ctx, req)
	if err != nil {
		return nil, err
	}
	if !terminal(job.Status) {
		if job, err = im.Wait(ctx, job.ID, onProgress); err != nil {
			return nil, err
		}
	}
	if job.Status != "succeeded" {
		return job, jobFailure(job)
	}
	return job, nil
}

// String returns a pointer to s, for the optional fields of generated request types.
func String(s string) *string { return &s }

// Int returns a pointer to i, for the optional fields of generated request types.
func Int(i int64) *int64 { return &i }
