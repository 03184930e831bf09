package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigil-hrd/vigil/internal/redistest"
	"github.com/vigil-hrd/vigil/response"
	"github.com/vigil-hrd/vigil/store"
)

// The production ACL file, and the placeholders it holds instead of
// password hashes. The placeholders are not valid hashes, so Redis refuses
// to start on the file until the deployer replaces them.
const (
	aclFile          = "../deploy/redis/users.acl"
	botPlaceholder   = "#CHANGE-ME-sha256-of-the-vigil-bot-password"
	staffPlaceholder = "#CHANGE-ME-sha256-of-the-vigil-staff-password"
	testBotPassword  = "test-bot-password"
	testStaffPass    = "test-staff-password"
	// The test adds an administrator, which the production file does not
	// have, to look at the server from outside the users under test:
	// ACL DRYRUN, INFO, and the keys the workloads leave.
	testAdmin     = "vigil-test-admin"
	testAdminPass = "test-admin-password"
)

// aclServer is a redis-server running deploy/redis/users.acl, with known
// test passwords in place of the placeholders, and the test's
// administrator.
type aclServer struct {
	addr  string
	admin *redis.Client
}

// client connects as user with a bare client; it is closed when the test
// ends.
func (s aclServer) client(t *testing.T, user, password string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.addr, Username: user, Password: password, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// connect connects as user the way Vigil does (store.ConnectTo), so that
// the connection's own handshake runs under the ACL too; the client is
// closed when the test ends.
func (s aclServer) connect(t *testing.T, user, password string) redis.UniversalClient {
	t.Helper()
	c, err := store.ConnectTo(context.Background(), store.Target{URL: "redis://" + user + ":" + password + "@" + s.addr + "/0"})
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startACLServer starts redis-server with the production users.
//
// The file turns the default user off, and redistest checks that a server
// is up by pinging it without credentials, which an ACL-protected server
// refuses (NOAUTH): started on the production file directly, Start would wait
// out its timeout and fail. So the server starts on a one-line bootstrap
// file whose default user can do nothing but PING and ACL LOAD; the test
// then writes the production file (passwords substituted) over it, at the
// same path, and loads it with ACL LOAD, which parses it exactly as start-up
// does and replaces every user, the default one included. From then on the
// default user is off, as in production.
func startACLServer(t *testing.T) aclServer {
	t.Helper()
	raw, err := os.ReadFile(aclFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for i, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			t.Fatalf("%s:%d is a comment: Redis before 8.8 refuses comments in an ACL file; document it in deploy/redis/README.md instead", aclFile, i+1)
		}
	}
	for _, p := range []string{botPlaceholder, staffPlaceholder} {
		if strings.Count(text, p) != 1 {
			t.Fatalf("%s must hold the placeholder %s exactly once", aclFile, p)
		}
	}
	text = strings.Replace(text, botPlaceholder, "#"+sha256Hex(testBotPassword), 1)
	text = strings.Replace(text, staffPlaceholder, "#"+sha256Hex(testStaffPass), 1)
	text = strings.TrimRight(text, "\n") + "\nuser " + testAdmin + " on #" + sha256Hex(testAdminPass) + " ~* &* +@all\n"

	acl := filepath.Join(t.TempDir(), "users.acl") // aclfile needs an absolute path
	bootstrap := "user default on nopass resetchannels -@all +ping +acl|load\n"
	if err := os.WriteFile(acl, []byte(bootstrap), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := redistest.Start(t, "aclfile "+acl)
	if err := os.WriteFile(acl, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	boot := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	defer boot.Close()
	if err := boot.Do(context.Background(), "ACL", "LOAD").Err(); err != nil {
		t.Fatalf("ACL LOAD %s: %v", aclFile, err)
	}
	s := aclServer{addr: srv.Addr}
	s.admin = s.client(t, testAdmin, testAdminPass)
	info, err := s.admin.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	version, _, _ := strings.Cut(info[strings.Index(info, "redis_version:")+len("redis_version:"):], "\r")
	t.Logf("%s loaded into redis-server %s (docker-compose.yml runs %s)", aclFile, version, composeRedisImage(t))
	return s
}

// TestComposePinsRedis checks that docker-compose.yml runs an exact Redis
// version: "redis:7" moves to a new release, with new commands and ACL
// rules, that no test here has seen.
func TestComposePinsRedis(t *testing.T) {
	image := composeRedisImage(t)
	version, _, _ := strings.Cut(strings.TrimPrefix(image, "redis:"), "-")
	if parts := strings.Split(version, "."); len(parts) != 3 || slices.ContainsFunc(parts, func(p string) bool {
		_, err := strconv.Atoi(p)
		return err != nil
	}) {
		t.Errorf("docker-compose.yml runs %s; pin an exact version (redis:MAJOR.MINOR.PATCH-…)", image)
	}
}

// composeRedisImage returns the Redis image docker-compose.yml runs.
func composeRedisImage(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if image, ok := strings.CutPrefix(strings.TrimSpace(line), "image: redis:"); ok {
			return "redis:" + image
		}
	}
	t.Fatal("docker-compose.yml runs no redis image")
	return ""
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// refused fails the test unless err is Redis refusing a command or a key
// for lack of permission.
func refused(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s was allowed; the ACL must refuse it", what)
	}
	if !isRefusal(err) {
		t.Fatalf("%s: got %v, want a permission error (NOPERM)", what, err)
	}
}

// isRefusal reports whether err is the ACL refusing a command or a key,
// to the caller (NOPERM) or inside a script.
func isRefusal(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "NOPERM") || strings.Contains(msg, "The user executing the script can't") ||
		strings.Contains(msg, "can't run this command")
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// aclUsers starts a server with the production users and connects as
// each, as Vigil does (store.ConnectTo): clients, and stores over them.
func aclUsers(t *testing.T) (srv aclServer, botRDB, staffRDB redis.UniversalClient, bot, staff *store.Store) {
	srv = startACLServer(t)
	botRDB = srv.connect(t, "vigil-bot", testBotPassword)
	staffRDB = srv.connect(t, "vigil-staff", testStaffPass)
	return srv, botRDB, staffRDB, store.New(botRDB, store.Options{}), store.New(staffRDB, store.Options{})
}

// TestACLUsersRunTheirWorkloadAndNothingElse runs the bot's and the staff
// tool's Redis traffic, through the real store, as the users of
// deploy/redis/users.acl, and checks what each must not do.
func TestACLUsersRunTheirWorkloadAndNothingElse(t *testing.T) {
	ctx := context.Background()
	srv, botRDB, staffRDB, bot, staff := aclUsers(t)

	at := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	const handle = "q2xkz7a3mfq4yt6b5ngvjw1hcr" // a made-up chat handle
	const ref = "ABCD-EF12"
	const botRecipient = "age1ylmv8g9z2v7k3j4pl0y6w5q8xw3e9c2r4t6u8i0o2p4a6s8d0f2gh3jkl"
	const botRecipientPQ = "age1pq1made-up-and-short"

	// ---- The bot: start-up, a defender's conversation, a report. ----
	must(t, botRDB.Ping(ctx).Err(), "bot: ping")
	must(t, bot.Init(ctx), "bot: init")
	id, err := bot.BotIdentity(ctx, []byte("bot-sealed-identity"), botRecipient)
	must(t, err, "bot: create its identity")
	if string(id) != "bot-sealed-identity" {
		t.Fatalf("bot identity: %q", id)
	}
	id, err = bot.BotIdentity(ctx, []byte("another"), "age1another")
	must(t, err, "bot: read its identity back")
	if string(id) != "bot-sealed-identity" {
		t.Fatalf("bot identity after restart: %q", id)
	}
	id, err = bot.BotIdentityPQ(ctx, []byte("bot-sealed-pq-identity"), botRecipientPQ)
	must(t, err, "bot: create its post-quantum identity")
	if string(id) != "bot-sealed-pq-identity" {
		t.Fatalf("bot post-quantum identity: %q", id)
	}

	// The inbox: accept (with dedupe), leases, reading, finishing, depth.
	must(t, bot.InitInbox(ctx, 2), "bot: create the inbox")
	first, err := bot.Accept(ctx, 1, 1001, handle, 100, []byte("sealed-update"), time.Hour)
	must(t, err, "bot: accept an update")
	again, err := bot.Accept(ctx, 1, 1001, handle, 100, []byte("sealed-update"), time.Hour)
	must(t, err, "bot: accept an update again")
	if first != "" || again != "duplicate" {
		t.Fatalf("update dedupe: first %v, again %v", first, again)
	}
	if ok, err := bot.Lease(ctx, 1, "p1", time.Minute); err != nil || !ok {
		t.Fatalf("bot: lease a partition: %v %v", ok, err)
	}
	if ok, err := bot.LeaseNamed(ctx, "poller", "p1", time.Minute); err != nil || !ok {
		t.Fatalf("bot: lease the poller: %v %v", ok, err)
	}
	if _, err := bot.Heartbeat(ctx, "p1", at, time.Minute); err != nil {
		t.Fatalf("bot: heartbeat: %v", err)
	}
	entries, err := bot.NextInbox(ctx, 1, "p1", -1, store.ReadReclaim)
	if err != nil || len(entries) != 1 {
		t.Fatalf("bot: read the inbox: %v %v", entries, err)
	}
	if _, _, err := bot.InboxDepth(ctx, 2, at); err != nil {
		t.Fatalf("bot: inbox depth: %v", err)
	}
	must(t, bot.DoneMany(ctx, 1, []store.Done{{ID: entries[0].ID, Handle: handle, MessageIDs: []int{13}}}), "bot: finish an update")
	must(t, bot.Release(ctx, 1, "p1"), "bot: release a partition")
	n, err := bot.Count(ctx, handle, "msg", time.Minute, at)
	must(t, err, "bot: count a message")
	if c, err := bot.Counted(ctx, handle, "msg", time.Minute, at); err != nil || c != n || n != 1 {
		t.Fatalf("rate counter: %d then %d, %v", n, c, err)
	}
	must(t, bot.RememberMessages(ctx, handle, []int{10, 11, 12}), "bot: remember message ids")

	// The budget shared by all chats, and Redis memory.
	allow := []store.Allowance{{Window: time.Hour, Limit: 100}, {Window: 24 * time.Hour, Limit: 1000}}
	if ok, err := bot.Spend(ctx, "evidence", 60, allow, at); err != nil || !ok {
		t.Fatalf("bot: spend the budget: %v %v", ok, err)
	}
	if ok, err := bot.Spend(ctx, "evidence", 60, allow, at); err != nil || ok {
		t.Fatalf("bot: spend past the budget: %v %v", ok, err)
	}
	must(t, bot.AdjustSpent(ctx, "evidence", -10, []time.Duration{time.Hour, 24 * time.Hour}, at), "bot: settle a spend")
	if sp, err := bot.Spent(ctx, "evidence", []time.Duration{time.Hour}, at); err != nil || sp[0] != (store.Spending{Used: 50, Refused: 1}) {
		t.Fatalf("bot: read the budget: %+v %v", sp, err)
	}
	if first, err := bot.AlertOnce(ctx, "evidence", time.Hour, at, 80); err != nil || !first {
		t.Fatalf("bot: mark a budget alert: %v %v", first, err)
	}
	if first, err := bot.AlertOnce(ctx, "memory", 0, at, 80); err != nil || !first {
		t.Fatalf("bot: mark a memory alert: %v %v", first, err)
	}
	must(t, bot.ClearAlert(ctx, "memory", 80), "bot: clear a memory alert")
	if _, err := bot.Memory(ctx); err != nil {
		t.Fatalf("bot: read Redis memory: %v", err)
	}

	must(t, bot.SaveChat(ctx, handle, store.ChatUpdate{Draft: []byte("sealed-draft"), Profile: []byte("sealed-profile")}), "bot: save chat")
	chat, err := bot.LoadChat(ctx, handle)
	must(t, err, "bot: load chat")
	if string(chat.Draft) != "sealed-draft" || string(chat.Profile) != "sealed-profile" {
		t.Fatalf("chat read back: %+v", chat)
	}
	// An evidence file, larger than one upload chunk (SET, then APPEND),
	// and one the defender drops before sending.
	evidence := []byte(strings.Repeat("made-up age ciphertext of a photo ", 10000))
	upload := store.UploadKey("draft-1", 0)
	w := bot.Upload(ctx, upload)
	if _, err := w.Write(evidence); err != nil {
		t.Fatalf("bot: upload evidence: %v", err)
	}
	must(t, w.Close(), "bot: finish the upload")
	dropped := store.UploadKey("draft-1", 1)
	w = bot.Upload(ctx, dropped)
	w.Write([]byte("dropped"))
	must(t, w.Close(), "bot: upload a file to drop")
	must(t, bot.DeleteUploads(ctx, []string{dropped}), "bot: drop an upload")

	sub := store.Submission{
		DraftID: "draft-1", Ref: ref, Sealed: []byte("age-encryption.org/v1 made-up sealed report"),
		SealedTo: []string{"3f2a9b1c"}, ReceivedAt: at, Urgent: true, Route: []byte("bot-sealed-route"),
		Uploads: []string{upload},
	}
	got, fresh, err := bot.Enqueue(ctx, sub)
	must(t, err, "bot: enqueue a report")
	if got != ref || !fresh {
		t.Fatalf("enqueue: %q fresh=%v", got, fresh)
	}
	if got, fresh, err = bot.Enqueue(ctx, sub); err != nil || got != ref || fresh {
		t.Fatalf("enqueue twice: %q fresh=%v %v", got, fresh, err)
	}
	must(t, bot.SaveChat(ctx, handle, store.ChatUpdate{DeleteDraft: true, Profile: []byte("sealed-profile-2"), Applied: entries[0].ID, Reply: []byte("sealed-receipt")}), "bot: drop the draft")
	sts, err := bot.Statuses(ctx, []string{ref})
	must(t, err, "bot: /status")
	if len(sts) != 1 || sts[0].Status != "new" {
		t.Fatalf("statuses: %+v", sts)
	}
	alerts, err := bot.DueAlerts(ctx, at.Add(time.Minute), 15*time.Minute, 24*time.Hour)
	must(t, err, "bot: look for urgent unclaimed cases")
	if len(alerts) != 1 || alerts[0].Ref != ref || alerts[0].Repeat != 0 || !alerts[0].ReceivedAt.Equal(at) {
		t.Fatalf("bot: alerts %+v", alerts)
	}
	esc, _, err := bot.DueEscalations(ctx, at.Add(time.Hour+time.Millisecond), response.DefaultTargets)
	must(t, err, "bot: look for overdue urgent cases")
	if len(esc) != 1 || esc[0].Ref != ref || esc[0].Deadline != response.Claim {
		t.Fatalf("bot: escalations %+v", esc)
	}
	out, err := bot.NextReplies(ctx, "bot-1", time.Minute, -1)
	must(t, err, "bot: poll for replies")
	if len(out) != 0 {
		t.Fatalf("replies before any was written: %+v", out)
	}

	// ---- Staff: list, open, claim, triage, note, reply. ----
	must(t, staffRDB.Ping(ctx).Err(), "staff: ping")
	if r, err := staff.BotRecipient(ctx); err != nil || r != botRecipient {
		t.Fatalf("staff: bot recipient %q, %v", r, err)
	}
	if r, err := staff.BotRecipientPQ(ctx); err != nil || r != botRecipientPQ {
		t.Fatalf("staff: bot post-quantum recipient %q, %v", r, err)
	}
	for _, sel := range []store.Selection{store.SelectOpen, store.SelectAll, store.SelectStatus("new")} {
		cases, total, err := staff.Cases(ctx, sel, 0, 50)
		must(t, err, "staff: list "+string(sel))
		if total != 1 || len(cases) != 1 || cases[0].Ref != ref || !cases[0].Urgent {
			t.Fatalf("staff: list %q: %d %+v", sel, total, cases)
		}
	}
	if mark, err := staff.QueueMark(ctx); err != nil || !strings.HasPrefix(mark, "1/") {
		t.Fatalf("staff: the console's queue mark: %q %v", mark, err)
	}
	c, err := staff.Report(ctx, ref)
	must(t, err, "staff: read the report")
	if string(c.Sealed) != string(sub.Sealed) || c.Status != "new" || c.Files != 1 || c.Missing != 0 {
		t.Fatalf("staff: report %+v", c)
	}
	fr, size, err := staff.OpenFile(ctx, ref, 0)
	must(t, err, "staff: open an evidence file")
	file, err := io.ReadAll(fr)
	must(t, err, "staff: read an evidence file")
	if size != int64(len(evidence)) || string(file) != string(evidence) {
		t.Fatalf("staff: evidence file of %d bytes (size %d), want %d", len(file), size, len(evidence))
	}
	must(t, staff.Audit(ctx, store.AuditEntry{At: at, Who: "ana", What: "show", Ref: ref}), "staff: audit a decryption")
	prev, err := staff.Hold(ctx, store.Holding{Ref: ref, Staff: "ana", Mode: "claim", At: at, Lease: 24 * time.Hour})
	must(t, err, "staff: claim")
	if prev != "" {
		t.Fatalf("claim: previous holder %q", prev)
	}
	must(t, staff.SetStatus(ctx, store.Transition{Ref: ref, Staff: "ana", From: "new", To: "triaged", At: at.Add(time.Minute), Reason: []byte("sealed-reason")}), "staff: triage")
	must(t, staff.AddEntry(ctx, store.Entry{Ref: ref, Staff: "ana", Kind: "note", At: at.Add(2 * time.Minute), Sealed: []byte("sealed-note")}), "staff: note")
	must(t, staff.AddEntry(ctx, store.Entry{Ref: ref, Staff: "ana", Kind: "reply", At: at.Add(3 * time.Minute), Sealed: []byte("sealed-reply"), ForBot: []byte("reply-for-bot")}), "staff: reply")
	if c, err := staff.Report(ctx, ref); err != nil || !c.FirstReplyAt.Equal(at.Add(3*time.Minute)) || !c.FirstClaimedAt.Equal(at) {
		t.Fatalf("staff: first claim and reply not recorded: %+v, %v", c, err)
	}

	// ---- The bot delivers the reply; the defender answers. ----
	out, err = bot.NextReplies(ctx, "bot-1", time.Minute, -1)
	must(t, err, "bot: read replies")
	if len(out) != 1 || out[0].Ref != ref || string(out[0].Sealed) != "reply-for-bot" {
		t.Fatalf("bot: replies %+v", out)
	}
	route, err := bot.Route(ctx, ref)
	must(t, err, "bot: read the route")
	if string(route) != "bot-sealed-route" {
		t.Fatalf("route: %q", route)
	}
	// It goes through the chat's partition of the inbox.
	must(t, bot.ForwardReply(ctx, 1, []byte("bot-sealed-forwarded-reply")), "bot: forward a reply to the chat's partition")
	if pending, err := bot.Outstanding(ctx, out[0]); err != nil || !pending {
		t.Fatalf("bot: reply outstanding before delivery: %v %v", pending, err)
	}
	if _, err := bot.LoadChat(ctx, handle); err != nil {
		t.Fatalf("bot: load chat for delivery: %v", err)
	}
	must(t, bot.ReplyDone(ctx, out[0], "delivered", "", at.Add(4*time.Minute)), "bot: record delivery")
	if pending, err := bot.Outstanding(ctx, out[0]); err != nil || pending {
		t.Fatalf("bot: reply outstanding after delivery: %v %v", pending, err)
	}
	must(t, bot.AddEntry(ctx, store.Entry{Ref: ref, Kind: "answer", At: at.Add(5 * time.Minute), Sealed: []byte("sealed-answer"), Once: entries[0].ID}), "bot: add the defender's answer")
	if out, err = bot.NextReplies(ctx, "bot-1", 0, -1); err != nil || len(out) != 0 {
		t.Fatalf("bot: replies after delivery: %+v, %v", out, err)
	}

	// ---- Staff read the thread and the audit, close and purge. ----
	events, err := staff.Events(ctx, ref)
	must(t, err, "staff: case history")
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	if want := []string{"claim", "status", "note", "reply", "delivered", "answer"}; !slices.Equal(types, want) {
		t.Fatalf("staff: history %v, want %v", types, want)
	}
	audit, err := staff.AuditLog(ctx, ref)
	must(t, err, "staff: audit trail")
	var whats []string
	for _, e := range audit {
		whats = append(whats, e.What)
	}
	if want := []string{"show", "claim", "status", "note", "reply"}; !slices.Equal(whats, want) {
		t.Fatalf("staff: audit %v, want %v", whats, want)
	}
	must(t, staff.SetStatus(ctx, store.Transition{Ref: ref, Staff: "ana", From: "triaged", To: "closed", At: at.Add(time.Hour)}), "staff: close")
	closed, err := staff.ClosedBefore(ctx, at.Add(48*time.Hour))
	must(t, err, "staff: closed cases")
	if !slices.Equal(closed, []string{ref}) {
		t.Fatalf("staff: closed before: %v", closed)
	}

	// ---- Safety check-ins: every command and script of store/checkin.go,
	// as the bot. One check-in is stopped, one keeps running. ----
	checkinWorkload(t, bot, handle, ref, at)

	// ---- What each user must not do. ----
	t.Run("bot refused", func(t *testing.T) {
		for _, cmd := range [][]any{
			{"FLUSHALL"}, {"FLUSHDB"}, {"CONFIG", "GET", "*"}, {"KEYS", "*"}, {"SCAN", "0"},
			{"ACL", "LIST"}, {"MODULE", "LIST"}, {"BGSAVE"}, {"SAVE"}, {"SHUTDOWN", "NOSAVE"},
			{"SCRIPT", "FLUSH"}, {"CLIENT", "LIST"}, {"MONITOR"}, {"REPLICAOF", "NO", "ONE"},
			{"GET", "not-vigil:key"},
		} {
			// (DEBUG is not listed: redis-server refuses it to every client
			// before the ACL is consulted, unless enable-debug-command is set.)
			refused(t, botRDB.Do(ctx, cmd...).Err(), "vigil-bot "+strings.Join(strs(cmd), " "))
		}
		// Commands inside a script are checked against the caller too.
		refused(t, botRDB.Eval(ctx, "return redis.call('FLUSHALL')", nil).Err(), "vigil-bot FLUSHALL in a script")
	})
	t.Run("replicas and cluster", func(t *testing.T) {
		// VIGIL_REDIS_WAIT_REPLICAS: the bot may WAIT. No replica here, so
		// an update is stored but not acknowledged: ErrNotReplicated, not
		// a permission error.
		waiting := store.New(botRDB, store.Options{WaitReplicas: 1, WaitTimeout: 10 * time.Millisecond})
		if _, err := waiting.AcceptMany(ctx, []store.Incoming{{Partition: 0, UpdateID: 77, Handle: "h", Sealed: []byte("x")}}, 100, time.Minute); !errors.Is(err, store.ErrNotReplicated) {
			t.Fatalf("vigil-bot accepting with WaitReplicas: %v, want ErrNotReplicated", err)
		}
		// A cluster client reads the slot map and the command table.
		for name, c := range map[string]redis.UniversalClient{"vigil-bot": botRDB, "vigil-staff": staffRDB} {
			must(t, c.Do(ctx, "COMMAND", "COUNT").Err(), name+": COMMAND")
			if err := c.Do(ctx, "CLUSTER", "SLOTS").Err(); err != nil && strings.Contains(err.Error(), "NOPERM") {
				t.Fatalf("%s: CLUSTER SLOTS: %v", name, err)
			}
		}
	})
	t.Run("staff refused", func(t *testing.T) {
		refused(t, staffRDB.Get(ctx, "vigil:{c:"+handle+"}:profile").Err(), "vigil-staff reading a chat's profile")
		refused(t, staffRDB.Get(ctx, "vigil:{c:x}:draft").Err(), "vigil-staff reading a draft")
		refused(t, staffRDB.Get(ctx, "vigil:bot:identity").Err(), "vigil-staff reading the bot identity")
		refused(t, staffRDB.Set(ctx, "vigil:bot:recipient", "age1swapped", 0).Err(), "vigil-staff swapping the bot recipient")
		refused(t, staffRDB.Get(ctx, "vigil:bot:identity:pq").Err(), "vigil-staff reading the bot's post-quantum identity")
		refused(t, staffRDB.Set(ctx, "vigil:bot:recipient:pq", "age1pq1swapped", 0).Err(), "vigil-staff swapping the bot's post-quantum recipient")
		refused(t, staffRDB.Eval(ctx, "return redis.call('GET', KEYS[1])", []string{"vigil:{c:x}:draft"}).Err(), "vigil-staff reading a draft in a script")
		refused(t, staffRDB.Eval(ctx, "return redis.call('SET', KEYS[1], 'x')", []string{"vigil:{q}:route:" + ref}).Err(), "vigil-staff SET in a script")
		for _, cmd := range [][]any{{"FLUSHALL"}, {"CONFIG", "GET", "*"}, {"KEYS", "*"}, {"SCAN", "0"}, {"ACL", "LIST"}} {
			refused(t, staffRDB.Do(ctx, cmd...).Err(), "vigil-staff "+strings.Join(strs(cmd), " "))
		}
		// The check-ins' records, schedule and notices are the bot's alone.
		ck := srv.admin.Keys(ctx, "vigil:{ck}:*").Val()
		if len(ck) != 3 {
			t.Fatalf("check-in keys %v, want a record, the schedule and the notices", ck)
		}
		for _, key := range ck {
			for _, cmd := range [][]any{{"HGETALL", key}, {"HGET", key, "sealed"}, {"HMGET", key, "note"}, {"ZRANGE", key, 0, -1},
				{"LRANGE", key, 0, -1}, {"DEL", key}, {"HSET", key, "stage", "armed"}, {"ZADD", key, 1, "x"}, {"RPUSH", key, "x"}} {
				refused(t, staffRDB.Do(ctx, cmd...).Err(), "vigil-staff "+strings.Join(strs(cmd), " "))
			}
			refused(t, staffRDB.Eval(ctx, "return redis.call('TYPE', KEYS[1])", []string{key}).Err(), "vigil-staff touching "+key+" in a script")
		}
	})
	t.Run("default user off", func(t *testing.T) {
		anon := srv.client(t, "", "")
		if err := anon.Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
			t.Fatalf("PING without credentials: %v, want NOAUTH", err)
		}
		if err := anon.Get(ctx, "vigil:{q}:open").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
			t.Fatalf("GET without credentials: %v, want NOAUTH", err)
		}
		for _, pw := range []string{"", "guess", testBotPassword} {
			if err := anon.Do(ctx, "AUTH", "default", pw).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
				t.Fatalf("AUTH default %q: %v, want WRONGPASS", pw, err)
			}
		}
		if err := srv.client(t, "default", "guess").Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Fatalf("connecting as default: %v, want WRONGPASS", err)
		}
		if err := srv.client(t, "vigil-bot", "wrong").Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Fatalf("vigil-bot with a wrong password: %v, want WRONGPASS", err)
		}
	})

	checkListed(t, srv.admin)

	// Nothing refused above touched the data; the last steps still work.
	must(t, staff.Purge(ctx, ref, "ana", at.Add(49*time.Hour)), "staff: purge")
	if _, err := staff.Report(ctx, ref); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("staff: purged case still there: %v", err)
	}
	if _, _, err := staff.OpenFile(ctx, ref, 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("staff: purged evidence file still there: %v", err)
	}
	ids, err := bot.TakeMessages(ctx, handle)
	must(t, err, "bot: /wipe takes the message ids")
	if !slices.Equal(ids, []int{13, 10, 11, 12}) { // 13 came with the inbox ack
		t.Fatalf("bot: message ids %v", ids)
	}
	must(t, bot.Forget(ctx, handle, []string{ref}), "bot: /forget")
	if chat, err := bot.LoadChat(ctx, handle); err != nil || chat.Draft != nil || chat.Profile != nil {
		t.Fatalf("bot: chat after /forget: %+v, %v", chat, err)
	}
}

// checkinWorkload runs every check-in command and script of the store as
// bot: start, load, check in, the due loop (list, claim, advance to each
// stage), a reminder forwarded to the inbox, notices, stop; and leaves one
// check-in running.
func checkinWorkload(t *testing.T, bot *store.Store, handle, ref string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	sc := store.CheckinSchedule{Sealed: []byte("bot-sealed-checkin"), Deadline: at.Add(6 * time.Hour), Remind: at.Add(5 * time.Hour), TTL: 7 * 24 * time.Hour}
	must(t, bot.StartCheckin(ctx, handle, sc, []byte("staff-sealed-note")), "bot: start a check-in")
	c, err := bot.LoadCheckin(ctx, handle)
	if err != nil || c.Stage != store.StageArmed || string(c.Note) != "staff-sealed-note" {
		t.Fatalf("bot: load a check-in: %+v %v", c, err)
	}
	if n, err := bot.CheckinCount(ctx); err != nil || n != 1 {
		t.Fatalf("bot: count check-ins: %d %v", n, err)
	}
	due, err := bot.DueCheckins(ctx, sc.Remind, 100)
	if err != nil || !slices.Equal(due, []string{handle}) {
		t.Fatalf("bot: due check-ins %v %v", due, err)
	}
	c, ok, err := bot.ClaimCheckin(ctx, handle, sc.Remind, time.Minute)
	if err != nil || !ok {
		t.Fatalf("bot: claim a check-in: %v %v", ok, err)
	}
	must(t, bot.ForwardCheckin(ctx, 1, []byte("bot-sealed-reminder")), "bot: forward a reminder")
	must(t, bot.AdvanceCheckin(ctx, handle, c.Version, store.StageReminded, sc.Deadline.Add(30*time.Minute), nil), "bot: mark reminded")
	late := sc.Deadline.Add(30 * time.Minute)
	if c, ok, err = bot.ClaimCheckin(ctx, handle, late, time.Minute); err != nil || !ok {
		t.Fatalf("bot: claim a missed check-in: %v %v", ok, err)
	}
	must(t, bot.AdvanceCheckin(ctx, handle, c.Version, store.StageMissing, late.Add(time.Minute), nil), "bot: mark missing")
	must(t, bot.AdvanceCheckin(ctx, handle, c.Version+1, store.StageMissed, time.Time{}, []byte("bot-sealed-missed")), "bot: mark missed")
	if err := bot.AdvanceCheckin(ctx, handle, c.Version, store.StageMissed, time.Time{}, nil); !errors.Is(err, store.ErrCheckinChanged) {
		t.Fatalf("bot: advance a stale version: %v", err)
	}
	next := store.CheckinSchedule{Sealed: []byte("bot-sealed-checkin-2"), Deadline: late.Add(6 * time.Hour), Remind: late.Add(5 * time.Hour), TTL: 7 * 24 * time.Hour}
	if stage, _, err := bot.CheckIn(ctx, handle, next); err != nil || stage != store.StageMissed {
		t.Fatalf("bot: check in after a missed deadline: %q %v", stage, err)
	}
	must(t, bot.Notice(ctx, ref), "bot: queue a checked-in notice")
	must(t, bot.Notice(ctx, ref), "bot: queue a second notice")
	if refs, err := bot.TakeNotices(ctx, 1); err != nil || !slices.Equal(refs, []string{ref}) {
		t.Fatalf("bot: take notices: %v %v", refs, err)
	}
	must(t, bot.StopCheckin(ctx, handle), "bot: stop a check-in")
	if _, err := bot.LoadCheckin(ctx, handle); !errors.Is(err, store.ErrNoCheckin) {
		t.Fatalf("bot: a stopped check-in: %v", err)
	}
	must(t, bot.StartCheckin(ctx, "h2"+handle, sc, nil), "bot: start another check-in")
}

func strs(args []any) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i], _ = a.(string)
	}
	return out
}

// TestACLBroadcastWorkload runs subscriptions, broadcasts and guidance
// pages as the users of deploy/redis/users.acl: coordinators create, approve
// and stop through the staff user; the bot previews and delivers.
func TestACLBroadcastWorkload(t *testing.T) {
	ctx := context.Background()
	srv, _, staffRDB, bot, staff := aclUsers(t)
	at := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)

	must(t, bot.SetPolicy(ctx, store.Policy{Approvals: 2, Coordinators: []string{"anna", "ben"}, DefaultLang: "en", Rate: 25}), "bot: publish the policy")
	for _, h := range []string{"h1", "h2", "h3"} {
		must(t, bot.Subscribe(ctx, h, []byte("sealed-"+h), []string{"AM", "GE"}), "bot: subscribe")
	}
	must(t, bot.Unsubscribe(ctx, "h3"), "bot: unsubscribe")
	if n, err := bot.Subscribers(ctx, []string{"AM"}); err != nil || n != 2 {
		t.Fatalf("bot: subscribers %d %v", n, err)
	}
	must(t, bot.Subscribe(ctx, "h4", []byte("sealed-h4"), []string{"AM"}), "bot: subscribe")
	if _, _, err := bot.Subscription(ctx, "h1"); err != nil {
		t.Fatalf("bot: read a subscription: %v", err)
	}

	pol, err := staff.GetPolicy(ctx)
	must(t, err, "staff: read the policy")
	if pol.Approvals != 2 {
		t.Fatalf("staff: policy %+v", pol)
	}
	texts := map[string][]byte{"en": []byte("sealed-en")}
	must(t, staff.CreatePublication(ctx, store.Publication{ID: "B-1", Kind: store.KindBroadcast, Countries: []string{"AM"}, Creator: "anna", CreatedAt: at, Texts: texts}), "staff: create a broadcast")
	must(t, staff.CreatePublication(ctx, store.Publication{ID: "G-1", Kind: store.KindGuidance, Topic: "digital", Countries: []string{"AM"}, Creator: "anna", CreatedAt: at, Texts: texts}), "staff: create a page")
	must(t, staff.CreatePublication(ctx, store.Publication{ID: "G-2", Kind: store.KindGuidance, Topic: "digital", Countries: []string{"AM"}, Creator: "anna", CreatedAt: at, Texts: texts}), "staff: create a newer page")

	pending, err := bot.PendingPreviews(ctx)
	must(t, err, "bot: pending previews")
	if len(pending) != 3 {
		t.Fatalf("bot: %d previews pending", len(pending))
	}
	for _, p := range pending {
		must(t, bot.MarkPreviewed(ctx, p.ID, "", seenBy("ben")), "bot: mark a preview")
	}
	for _, id := range []string{"B-1", "G-1", "G-2"} {
		if _, err := staff.Approve(ctx, id, "ben", 2, at, nil); err != nil {
			t.Fatalf("staff: approve %s: %v", id, err)
		}
	}
	ps, err := staff.Publications(ctx, 10)
	must(t, err, "staff: list publications")
	if len(ps) != 3 {
		t.Fatalf("staff: %d publications", len(ps))
	}
	if g, err := bot.Guidance(ctx, "AM"); err != nil || g["digital"] != "G-2" {
		t.Fatalf("bot: guidance %v %v", g, err)
	}

	if ok, err := bot.LeaseNamed(ctx, "broadcast", "p1", time.Minute); err != nil || !ok {
		t.Fatalf("bot: delivery lease %v %v", ok, err)
	}
	id, err := bot.NextBroadcast(ctx)
	must(t, err, "bot: next broadcast")
	if id != "B-1" {
		t.Fatalf("bot: next broadcast %q", id)
	}
	_, err = bot.StartDelivery(ctx, id, at)
	must(t, err, "bot: start delivery")
	batch, _, err := bot.Take(ctx, id, 1, at)
	must(t, err, "bot: take recipients")
	must(t, bot.Record(ctx, id, batch[0].Handle, store.OutcomeBlocked, at), "bot: record a blocked send")
	inFlight, _, err := bot.Take(ctx, id, 1, at)
	must(t, err, "bot: take more recipients")
	// Staff count the recipients left and in flight without reading them.
	if p, err := staff.GetPublication(ctx, id); err != nil || p.Status != store.PubSending || p.Remaining != 1 || p.InFlight != 1 {
		t.Fatalf("staff: a sending broadcast: %+v %v", p, err)
	}
	_, err = staff.Cancel(ctx, id, "ben", at, nil)
	must(t, err, "staff: stop the broadcast")
	must(t, bot.Record(ctx, id, inFlight[0].Handle, store.OutcomeSent, at), "bot: record a send in flight")
	_, err = staff.Cancel(ctx, "G-2", "ben", at, nil)
	must(t, err, "staff: withdraw a page")
	if p, err := staff.GetPublication(ctx, id); err != nil || p.Status != store.PubCancelled || p.Blocked != 1 || p.Sent != 1 || p.Remaining != 0 || p.InFlight != 0 {
		t.Fatalf("staff: status %+v %v", p, err)
	}

	// Coordinators also work in Telegram: the bot creates, approves, stops.
	must(t, bot.CreatePublication(ctx, store.Publication{ID: "B-2", Kind: store.KindBroadcast, Countries: []string{"GE"}, Creator: "anna", CreatedAt: at, Texts: texts}), "bot: create a broadcast")
	must(t, bot.MarkPreviewed(ctx, "B-2", "", seenBy("ben")), "bot: mark its preview")
	if _, err := bot.Approve(ctx, "B-2", "ben", 2, at, nil); err != nil {
		t.Fatalf("bot: approve: %v", err)
	}
	if _, err := bot.Publications(ctx, 5); err != nil {
		t.Fatalf("bot: list: %v", err)
	}
	if _, err := bot.Cancel(ctx, "B-2", "anna", at, nil); err != nil {
		t.Fatalf("bot: stop: %v", err)
	}
	if _, err := bot.GetPolicy(ctx); err != nil {
		t.Fatalf("bot: read the policy: %v", err)
	}

	refused(t, staffRDB.HGetAll(ctx, "vigil:{b}:subs").Err(), "vigil-staff reading the subscribers")
	refused(t, staffRDB.SMembers(ctx, "vigil:{b}:country:AM").Err(), "vigil-staff reading a country's subscribers")
	if err := staff.SetPolicy(ctx, store.Policy{Approvals: 1}); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("vigil-staff lowering the approvals: %v, want NOPERM", err)
	}
	refused(t, staffRDB.HSet(ctx, "vigil:{b}:policy", "approvals", "1").Err(), "vigil-staff writing the policy")
	checkListed(t, srv.admin)
}

// checkListed checks every key in Redis against store.Keys: each is of a
// listed kind, of the listed type, and lives no longer than listed (the
// workloads run with the default Options).
func checkListed(t *testing.T, admin *redis.Client) {
	t.Helper()
	ctx := context.Background()
	keys, err := admin.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	for _, key := range keys {
		var kind *store.Key
		for _, k := range store.Keys() {
			if k.Match(key) {
				kind = &k
				break
			}
		}
		if kind == nil {
			t.Errorf("%s is in Redis but not in store.Keys (store/keys.go)", key)
			continue
		}
		if typ := admin.Type(ctx, key).Val(); typ != kind.Type {
			t.Errorf("%s is a %s; store.Keys lists %s as a %s", key, typ, kind.Pattern(), kind.Type)
		}
		ttl := admin.PTTL(ctx, key).Val()
		limit, bounded := kind.Life.Max(store.DefaultOptions)
		switch {
		case kind.Life.Kind == store.Forever && ttl != -1:
			t.Errorf("%s expires in %v; store.Keys says %s: %s", key, ttl, kind.Pattern(), kind.Life)
		case kind.Life.Kind == store.Caller && ttl <= 0:
			t.Errorf("%s has no TTL; store.Keys says %s: %s", key, kind.Pattern(), kind.Life)
		case bounded && (ttl <= 0 || ttl > limit):
			t.Errorf("%s expires in %v; store.Keys says %s: %s", key, ttl, kind.Pattern(), kind.Life)
		}
	}
}

// TestConnectSendsOnlyWhatTheACLGrants connects as each user the way Vigil
// does and checks that the connection's handshake drew no error from the
// server: go-redis by default also sends CLIENT SETINFO (unknown before
// Redis 7.2, refused by users.acl from 7.2 on, and logged in ACL LOG each
// time) and CLIENT MAINT_NOTIFICATIONS, which no Redis user here may run.
func TestConnectSendsOnlyWhatTheACLGrants(t *testing.T) {
	ctx := context.Background()
	srv := startACLServer(t)
	errorsSoFar := func() (replies, aclLog int64) {
		info := srv.admin.Info(ctx, "stats").Val()
		_, rest, _ := strings.Cut(info, "total_error_replies:")
		line, _, _ := strings.Cut(rest, "\r")
		replies, _ = strconv.ParseInt(line, 10, 64)
		entries, _ := srv.admin.Do(ctx, "ACL", "LOG").Val().([]any)
		return replies, int64(len(entries))
	}
	for _, u := range []struct{ user, password string }{{"vigil-bot", testBotPassword}, {"vigil-staff", testStaffPass}} {
		replies, logged := errorsSoFar()
		c := srv.connect(t, u.user, u.password)
		must(t, c.Ping(ctx).Err(), u.user+": ping")
		c.Close()
		if r, l := errorsSoFar(); r != replies || l != logged {
			t.Errorf("connecting as %s drew %d error replies and %d ACL LOG entries from the server; want none", u.user, r-replies, l-logged)
		}
	}
}
