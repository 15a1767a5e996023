package alfred

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// Admin groups the admin API (the master key or an admin user's key). Bodies and answers are the
// types generated from the admin API's OpenAPI document (TeamIn → TeamOut, KeyIn → CreatedKeyOut…).
type Admin struct{ c *Client }

func call[T any](ctx context.Context, c *Client, method, path string, query url.Values, body any) (*T, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	out := new(T)
	if err := c.JSON(ctx, method, path, query, body, out); err != nil {
		return nil, err
	}
	return out, nil
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

func (a *Admin) CreateTeam(ctx context.Context, body TeamIn) (*TeamOut, error) {
	return call[TeamOut](ctx, a.c, http.MethodPost, "/admin/teams", nil, body)
}

func (a *Admin) ListTeams(ctx context.Context) ([]TeamOut, error) {
	out, err := call[[]TeamOut](ctx, a.c, http.MethodGet, "/admin/teams", nil, nil)
	return deref(out), err
}

func (a *Admin) CreateUser(ctx context.Context, body UserIn) (*UserOut, error) {
	return call[UserOut](ctx, a.c, http.MethodPost, "/admin/users", nil, body)
}

func (a *Admin) ListUsers(ctx context.Context, query url.Values) ([]UserOut, error) {
	out, err := call[[]UserOut](ctx, a.c, http.MethodGet, "/admin/users", query, nil)
	return deref(out), err
}

// CreateKey creates an API key; Key in the answer is the key itself, shown this once.
func (a *Admin) CreateKey(ctx context.Context, body KeyIn) (*CreatedKeyOut, error) {
	return call[CreatedKeyOut](ctx, a.c, http.MethodPost, "/admin/keys", nil, body)
}

func (a *Admin) ListKeys(ctx context.Context, query url.Values) ([]KeyOut, error) {
	out, err := call[[]KeyOut](ctx, a.c, http.MethodGet, "/admin/keys", query, nil)
	return deref(out), err
}

// RevokeKey revokes a key: its next call fails with 401 on every gateway process within a second.
func (a *Admin) RevokeKey(ctx context.Context, keyID int64) (*KeyOut, error) {
	return call[KeyOut](ctx, a.c, http.MethodDelete, "/admin/keys/"+id(keyID), nil, nil)
}

func (a *Admin) GetWallet(ctx context.Context, walletID int64) (*WalletOut, error) {
	return call[WalletOut](ctx, a.c, http.MethodGet, "/admin/wallets/"+id(walletID), nil, nil)
}

func (a *Admin) Topup(ctx context.Context, walletID int64, body TopupIn) (*PostingOut, error) {
	return call[PostingOut](ctx, a.c, http.MethodPost, "/admin/wallets/"+id(walletID)+"/topup", nil, body)
}

func (a *Admin) Transfer(ctx context.Context, body TransferIn) (*PostingOut, error) {
	return call[PostingOut](ctx, a.c, http.MethodPost, "/admin/wallets/transfer", nil, body)
}

func (a *Admin) ListTransactions(ctx context.Context, query url.Values) ([]TransactionOut, error) {
	out, err := call[[]TransactionOut](ctx, a.c, http.MethodGet, "/admin/transactions", query, nil)
	return deref(out), err
}

// Usage reports usage grouped as the query asks (by user, team, model, provider or day).
func (a *Admin) Usage(ctx context.Context, query url.Values) ([]UsageOut, error) {
	out, err := call[[]UsageOut](ctx, a.c, http.MethodGet, "/admin/usage", query, nil)
	return deref(out), err
}

func (a *Admin) Audit(ctx context.Context, query url.Values) ([]AuditOut, error) {
	out, err := call[[]AuditOut](ctx, a.c, http.MethodGet, "/admin/audit", query, nil)
	return deref(out), err
}

// VerifyAudit walks the audit chain; a broken one names its first bad row (Seq, Problem).
func (a *Admin) VerifyAudit(ctx context.Context) (*VerdictOut, error) {
	return call[VerdictOut](ctx, a.c, http.MethodGet, "/admin/audit/verify", nil, nil)
}

// LedgerCheck compares balances with the sum of their entries; a healthy ledger has no drift.
func (a *Admin) LedgerCheck(ctx context.Context) (*CheckOut, error) {
	return call[CheckOut](ctx, a.c, http.MethodGet, "/admin/ledger/check", nil, nil)
}

// Me is your own identity, team, key, wallets, limits and usage (GET /v1/me, with your own key).
func (c *Client) Me(ctx context.Context) (*MeOut, error) {
	return call[MeOut](ctx, c, http.MethodGet, "/v1/me", nil, nil)
}

// AskForCredits asks your team's admins for credits; one of them approves.
func (c *Client) AskForCredits(ctx context.Context, body ApprovalIn) (*ApprovalOut, error) {
	return call[ApprovalOut](ctx, c, http.MethodPost, "/v1/me/approvals", nil, body)
}

// GiveCredits gives credits to a teammate.
func (c *Client) GiveCredits(ctx context.Context, body PeerTransferIn) (*PostingOut, error) {
	return call[PostingOut](ctx, c, http.MethodPost, "/v1/me/transfers", nil, body)
}

// SetVacation goes on vacation (lending part of your unused quota to the team pool) or comes back.
func (c *Client) SetVacation(ctx context.Context, on bool) (*VacationOut, error) {
	return call[VacationOut](ctx, c, http.MethodPost, "/v1/me/vacation", nil, VacationIn{On: on})
}

func deref[T any](p *[]T) []T {
	if p == nil {
		return nil
	}
	return *p
}
