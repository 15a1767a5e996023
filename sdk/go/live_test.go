package alfred

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// The live tests run against the gateway at ALFRED_BASE_URL (tests/sdk/test_sdks.py starts one).
func live(t *testing.T) (*Client, context.Context) {
	t.Helper()
	if os.Getenv("ALFRED_BASE_URL") == "" {
		t.Skip("ALFRED_BASE_URL is not set (no running gateway)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return NewClient(), ctx
}

func fresh(prompt string) string { // never a cache hit
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prompt + " " + hex.EncodeToString(b)
}

func TestGenerateWaitsWithProgressAndReturnsAPNG(t *testing.T) {
	c, ctx := live(t)
	var events []JobEvent
	job, err := c.Images.Generate(ctx, ImageRequest{Prompt: String(fresh("a fire sword, go sdk")), Size: String("256x256"), Seed: Int(7)},
		func(ev JobEvent) { events = append(events, ev) })
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != "succeeded" || job.Size != "256x256" || job.Seed != 7 || len(job.Data) == 0 {
		t.Fatalf("job: %+v", job)
	}
	if events[len(events)-1].Type != "succeeded" {
		t.Errorf("last event %q", events[len(events)-1].Type)
	}
	last := -1.0
	for _, ev := range events {
		if ev.Type == "progress" && ev.Progress != nil {
			if *ev.Progress < last {
				t.Errorf("progress went back: %v after %v", *ev.Progress, last)
			}
			last = *ev.Progress
		}
	}
	if last != 1 {
		t.Errorf("final progress %v", last)
	}
	u := job.Data[0].URL
	if !strings.HasPrefix(u, "http") {
		u = c.BaseURL + u
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(resp.Body, head); err != nil || string(head) != "\x89PNG" {
		t.Errorf("not a PNG: %q %v", head, err)
	}
}

func TestSameRequestAgainIsACacheHit(t *testing.T) {
	c, ctx := live(t)
	req := ImageRequest{Prompt: String(fresh("a poison dagger, go sdk")), Seed: Int(11)}
	first, err := c.Images.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Images.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.Cache != "miss" || second.Cache != "hit" || second.Route == nil || *second.Route != "cache" {
		t.Errorf("cache: %s then %s (%v)", first.Cache, second.Cache, second.Route)
	}
	if second.Data[0].URL != first.Data[0].URL {
		t.Errorf("different image: %s vs %s", second.Data[0].URL, first.Data[0].URL)
	}
}

func TestSubmitEventsAndGetFollowOneJob(t *testing.T) {
	c, ctx := live(t)
	job, err := c.Images.Submit(ctx, ImageRequest{Prompt: String(fresh("an ice axe, go sdk")), Steps: Int(30)})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	err = c.Images.Events(ctx, job.ID, func(ev JobEvent) error {
		if ev.JobID != job.ID {
			return fmt.Errorf("event for %s", ev.JobID)
		}
		types = append(types, ev.Type)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if types[len(types)-1] != "succeeded" {
		t.Errorf("events %v", types)
	}
	again, err := c.Images.Get(ctx, job.ID)
	if err != nil || again.Status != "succeeded" || again.Steps != 30 {
		t.Errorf("get: %+v %v", again, err)
	}
}

func TestCancelEndsALiveJob(t *testing.T) {
	c, ctx := live(t)
	job, err := c.Images.Submit(ctx, ImageRequest{Prompt: String(fresh("a very slow bow, go sdk")), Steps: Int(200)})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := c.Images.Cancel(ctx, job.ID)
	if err != nil || cancelled.Status != "cancelled" {
		t.Fatalf("cancel: %+v %v", cancelled, err)
	}
	final, err := c.Images.Wait(ctx, job.ID, nil)
	if err != nil || final.Status != "cancelled" {
		t.Fatalf("wait: %+v %v", final, err)
	}
	var failed *JobFailedError
	if !errors.As(jobFailure(final), &failed) || failed.Code != "cancelled" || failed.Job.ID != job.ID {
		t.Errorf("failure: %+v", failed)
	}
}

func TestErrorsAreTypedAndNameTheField(t *testing.T) {
	c, ctx := live(t)
	_, err := c.Images.Get(ctx, "imgjob_does_not_exist")
	var e *Error
	if !errors.As(err, &e) || !e.IsNotFound() || e.RequestID == "" {
		t.Errorf("not found: %v", err)
	}
	_, err = c.Images.Generate(ctx, ImageRequest{Preset: String("weapon"), PresetFields: map[string]any{"weapon_type": "banana"}}, nil)
	if !errors.As(err, &e) || e.Status != 400 || e.Param != "weapon_type" {
		t.Errorf("bad preset field: %v", err)
	}
}

func TestAdminTeamUserKeyWalletAuditAndRevocation(t *testing.T) {
	c, ctx := live(t)
	resp, err := http.Get(c.BaseURL + "/admin/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Skip("admin API not wired")
	}
	key := os.Getenv("ALFRED_ADMIN_KEY")
	if key == "" {
		key = c.APIKey
	}
	admin := NewClient(WithAPIKey(key)).Admin
	tag := fresh("go")[3:11]
	team, err := admin.CreateTeam(ctx, TeamIn{Name: "go-team-" + tag, CommonPool: "10"})
	if err != nil {
		t.Fatal(err)
	}
	user, err := admin.CreateUser(ctx, UserIn{Email: "go-" + tag + "@example.com", Name: "Go", TeamID: &team.ID, PersonalQuota: "5"})
	if err != nil {
		t.Fatal(err)
	}
	created, err := admin.CreateKey(ctx, KeyIn{UserID: user.ID, Name: String("go")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Key, created.Prefix) {
		t.Errorf("key %q does not start with its prefix %q", created.Key, created.Prefix)
	}
	posting, err := admin.Topup(ctx, *user.WalletID, TopupIn{Amount: "2.5"})
	if err != nil || posting.Type != "topup" {
		t.Fatalf("topup: %+v %v", posting, err)
	}
	wallet, err := admin.GetWallet(ctx, *user.WalletID)
	if err != nil || wallet.ID != *user.WalletID {
		t.Fatalf("wallet: %+v %v", wallet, err)
	}
	_, err = admin.Transfer(ctx, TransferIn{FromWallet: *user.WalletID, ToWallet: *team.WalletID, Amount: "-1"})
	var e *Error
	// A body the schema refuses is a 422 (the admin API's documented validation status); a rule the
	// ledger enforces is a 400. Both name the field.
	if !errors.As(err, &e) || (e.Status != 400 && e.Status != 422) || e.Param != "amount" {
		t.Errorf("negative transfer: %v", err)
	}
	verdict, err := admin.VerifyAudit(ctx)
	if err != nil || !verdict.Ok {
		t.Fatalf("audit: %+v %v", verdict, err)
	}
	own := NewClient(WithAPIKey(created.Key))
	me, err := own.Me(ctx)
	if err != nil || me.User == nil || me.User.Email != user.Email {
		t.Fatalf("me: %+v %v", me, err)
	}
	if _, err := admin.RevokeKey(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := own.Me(ctx); !errors.As(err, &e) || !e.IsAuthentication() {
		t.Errorf("revoked key still works: %v", err)
	}
}
