package store

// Every Redis key the project writes is named here, and nowhere else.
//
// Keys that are used together share a hash tag ({…}), so that a Redis
// Cluster keeps them in one slot: a chat's keys share {c:<handle>}, the
// queue's keys share {q}, subscriptions and broadcasts share {b}, and
// safety check-ins share {ck}.
//
// Keys lists every kind of key with what it may hold and how long it
// lives. Its names are made by the same builders the code uses, called
// with placeholders (v), so that no key is spelled twice. SECURITY.md and
// README.md show the list as a table, which TestSecurityKeyTable keeps
// equal to it; the ACL test checks that the staff's Redis user can read
// none of the keys marked StaffReads false, and that every key the
// workloads leave in Redis is listed, with its type and a lifetime within
// the one listed.
//
// H is seal.Keys.Hash of the chat id; each key's description says what
// its other capitals stand for. No key holds a chat id, a name of a
// defender or a defender's words in plain text.

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

const prefix = "vigil:"

// Lifetimes fixed here rather than in Options.
const (
	// messageTTL is how long Telegram lets a bot delete messages in a
	// private chat, and so how long their ids are worth keeping.
	messageTTL = 48 * time.Hour
	// UpdateSeenTTL is how long an accepted update id is remembered (see
	// Accept). Telegram's ids restart at random after a week of silence; a
	// redelivery comes within hours.
	UpdateSeenTTL = 7 * 24 * time.Hour
	// onceTTL is how long an entry's Once is remembered: as long as an
	// update can be seen again.
	onceTTL = UpdateSeenTTL
	// appliedTTL is how long a chat remembers the last inbox entry applied
	// to its state. The entry's id is needed only while an entry applied
	// before a crash may still wait in the inbox to be handled again,
	// which ends when a bot process next holds the partition; a week, as
	// long as an update id is remembered, covers a bot down for days. The
	// id is a time to the millisecond, which would link the chat to a
	// case's received time if it were kept longer.
	appliedTTL = UpdateSeenTTL
	// inboxRateTTL is the window of the inbox's flood guard (see the
	// accept script).
	inboxRateTTL = time.Minute
	// memoryAlertTTL is how long an alert about Redis memory is
	// remembered if memory does not fall back below its level.
	memoryAlertTTL = 24 * time.Hour
)

func draftKey(handle string) string   { return prefix + "{c:" + handle + "}:draft" }
func profileKey(handle string) string { return prefix + "{c:" + handle + "}:profile" }
func msgsKey(handle string) string    { return prefix + "{c:" + handle + "}:msgs" }
func appliedKey(handle string) string { return prefix + "{c:" + handle + "}:applied" }
func replyKey(handle string) string   { return prefix + "{c:" + handle + "}:reply" }
func rateKey(handle, kind string, window time.Duration, now time.Time) string {
	return rateKeyOf(handle, kind, itoa(now.UnixMilli()/window.Milliseconds()))
}
func rateKeyOf(handle, kind, window string) string {
	return prefix + "{c:" + handle + "}:rl:" + kind + ":" + window
}

func inboxKey(p int) string               { return inboxKeyOf(itoa(int64(p))) }
func inboxKeyOf(p string) string          { return prefix + "{in:" + p + "}:updates" }
func leaseKey(p int) string               { return leaseKeyOf(itoa(int64(p))) }
func leaseKeyOf(p string) string          { return prefix + "{in:" + p + "}:owner" }
func inboxSeenKey(p int, id int64) string { return inboxSeenKeyOf(itoa(int64(p)), itoa(id)) }
func inboxSeenKeyOf(p, id string) string  { return prefix + "{in:" + p + "}:seen:" + id }
func inboxRateKey(p int, handle, window string) string {
	return inboxRateKeyOf(itoa(int64(p)), handle, window)
}
func inboxRateKeyOf(p, handle, window string) string {
	return prefix + "{in:" + p + "}:rl:" + handle + ":" + window
}
func namedLeaseKey(name string) string { return prefix + "lease:" + name }

const (
	queueKey     = prefix + "{q}:reports"
	openKey      = prefix + "{q}:open"
	auditKey     = prefix + "{q}:audit"
	outboxKey    = prefix + "{q}:outbox"
	botIDKey     = prefix + "bot:identity"
	botRecipKey  = prefix + "bot:recipient"
	replicasKey  = prefix + "replicas"
	staffGroup   = "staff"
	botGroup     = "bot"
	unclaimedTag = "queue" // the consumer that holds new cases nobody has claimed
)

// The bot's post-quantum reply key (BotIdentityPQ).
const (
	botIDPQKey    = prefix + "bot:identity:pq"
	botRecipPQKey = prefix + "bot:recipient:pq"
)

func reportKey(ref string) string       { return prefix + "{q}:report:" + ref }
func eventsKey(ref string) string       { return prefix + "{q}:case:" + ref + ":events" }
func onceKey(ref, once string) string   { return prefix + "{q}:case:" + ref + ":once:" + once }
func routeKey(ref string) string        { return prefix + "{q}:route:" + ref }
func signatureKey(ref, h string) string { return prefix + "{q}:case:" + ref + ":sig:" + h }
func statusKey(status string) string    { return prefix + "{q}:status:" + status }
func submissionKey(id string) string    { return prefix + "{q}:submission:" + id }
func uploadKey(id string, n int) string { return uploadKeyOf(id, itoa(int64(n))) }
func uploadKeyOf(id, n string) string   { return prefix + "{q}:upload:" + id + ":" + n }
func fileKey(ref string, n int) string  { return fileKeyOf(ref, itoa(int64(n))) }
func fileKeyOf(ref, n string) string    { return prefix + "{q}:file:" + ref + ":" + n }

// budgetKey names the counter of budget kind in now's bucket of window.
func budgetKey(kind string, window time.Duration, now time.Time) string {
	w := int64(window / time.Second)
	return budgetKeyOf(kind, itoa(w), itoa(now.Unix()/w))
}
func budgetKeyOf(kind, w, b string) string { return prefix + "{budget}:" + kind + ":" + w + ":" + b }
func budgetRefusedKey(kind string, window time.Duration, now time.Time) string {
	return budgetKey(kind, window, now) + refusedSuffix
}

const refusedSuffix = ":refused"

// budgetAlertKey names the mark of an alert: of budget kind in now's
// bucket of window, or, with window 0, of kind alone (Redis memory).
func budgetAlertKey(kind string, window time.Duration, now time.Time, level int) string {
	if window <= 0 {
		return memoryAlertKeyOf(kind, itoa(int64(level)))
	}
	w := int64(window / time.Second)
	return budgetAlertKeyOf(kind, itoa(w), itoa(now.Unix()/w), itoa(int64(level)))
}
func budgetAlertKeyOf(kind, w, b, level string) string {
	return prefix + "{budget}:alerted:" + kind + ":" + w + ":" + b + ":" + level
}
func memoryAlertKeyOf(kind, level string) string {
	return prefix + "{budget}:alerted:" + kind + ":" + level
}

// Safety check-ins share the hash tag {ck}: one script moves a record and
// the schedule together.
const (
	checkinDueKey     = prefix + "{ck}:due"
	checkinNoticesKey = prefix + "{ck}:notices"
)

func checkinKey(handle string) string { return prefix + "{ck}:rec:" + handle }

func subsKey() string                { return prefix + "{b}:subs" }
func subCountriesKey() string        { return prefix + "{b}:subs:countries" }
func countryKey(code string) string  { return prefix + "{b}:country:" + code }
func pubKey(id string) string        { return prefix + "{b}:pub:" + id }
func pubsKey() string                { return prefix + "{b}:pubs" }
func previewsKey() string            { return prefix + "{b}:previews" }
func readyKey() string               { return prefix + "{b}:ready" }
func todoKey(id string) string       { return prefix + "{b}:todo:" + id }
func inflightKey(id string) string   { return prefix + "{b}:inflight:" + id }
func guidanceKey(code string) string { return prefix + "{b}:guidance:" + code }
func policyKey() string              { return prefix + "{b}:policy" }
func countryKeys(codes []string) []string {
	keys := make([]string, len(codes))
	for i, c := range codes {
		keys[i] = countryKey(c)
	}
	return keys
}

// PublicationKey names the hash of publication id, for tests that play
// someone writing to Redis directly (and for nothing else: the store's
// methods are the way to change it).
func PublicationKey(id string) string { return pubKey(id) }

// Key is one kind of key Vigil writes.
type Key struct {
	// Name is the key's name with its variable parts marked (see v);
	// Pattern shows it with them in capitals, as in vigil:{c:H}:draft.
	Name  string
	Type  string // the Redis type: string, list, hash, set, zset, stream
	Life  Lifetime
	Holds string // what it may hold, and why it may hold it
	// StaffReads says whether the staff's Redis user may read the value
	// (deploy/redis/users.acl; the ACL test holds the file to it).
	StaffReads bool
}

// v marks a variable part of a key's name, and vn one that is a number;
// the builders above, called with v("H") or vn("N"), make Key.Name.
func v(part string) string  { return "\x00" + part + "\x00" }
func vn(part string) string { return "\x01" + part + "\x01" }

var variable = regexp.MustCompile("\x00([A-Z]+)\x00|\x01([A-Z]+)\x01")

// Pattern is the key's name with its variable parts in capitals.
func (k Key) Pattern() string { return variable.ReplaceAllString(k.Name, "$1$2") }

// Match reports whether key is a key of this kind: a variable part is
// never empty and holds no ':', '{' or '}'; a number, digits only.
func (k Key) Match(key string) bool {
	var re strings.Builder
	re.WriteString("^")
	last := 0
	for _, m := range variable.FindAllStringSubmatchIndex(k.Name, -1) {
		re.WriteString(regexp.QuoteMeta(k.Name[last:m[0]]))
		if m[2] >= 0 {
			re.WriteString("[^:{}]+")
		} else {
			re.WriteString("[0-9]+")
		}
		last = m[1]
	}
	re.WriteString(regexp.QuoteMeta(k.Name[last:]) + "$")
	return regexp.MustCompile(re.String()).MatchString(key)
}

// LifeKind says what ends a key.
type LifeKind int

const (
	// Forever: no TTL; something else deletes the key (Lifetime.Until).
	Forever LifeKind = iota
	// Fixed: a TTL of Lifetime.TTL.
	Fixed
	// Option: a TTL of Lifetime.Times times the Options field
	// Lifetime.Option.
	Option
	// Caller: a TTL the caller chooses (Lifetime.Until says which).
	Caller
)

// Lifetime is how long a key lives.
type Lifetime struct {
	Kind    LifeKind
	TTL     time.Duration // Fixed
	Option  string        // Option: "DraftTTL", "ProfileTTL" or "SubmissionTTL"
	Times   int           // Option: a multiple of it (1 when zero)
	Renewed bool          // the TTL starts again on each use
	Until   string        // Forever and Caller: what ends it, in words
}

// Max returns the longest TTL a key of this lifetime may have under opts,
// and false when its TTL is not bounded in advance (Forever or Caller).
func (l Lifetime) Max(opts Options) (time.Duration, bool) {
	switch l.Kind {
	case Fixed:
		return l.TTL, true
	case Option:
		var d time.Duration
		switch l.Option {
		case "DraftTTL":
			d = opts.DraftTTL
		case "ProfileTTL":
			d = opts.ProfileTTL
		case "SubmissionTTL":
			d = opts.SubmissionTTL
		}
		return d * time.Duration(max(l.Times, 1)), true
	}
	return 0, false
}

// String says the lifetime in words, with the default of an Option.
func (l Lifetime) String() string {
	var s string
	switch l.Kind {
	case Forever:
		s = "no TTL"
		if l.Until != "" {
			s += ": " + l.Until
		}
	case Caller:
		s = l.Until
	case Fixed:
		s = duration(l.TTL)
	case Option:
		d, _ := l.Max(DefaultOptions)
		name := map[string]string{"DraftTTL": "the draft TTL", "ProfileTTL": "the profile TTL", "SubmissionTTL": "the submission TTL"}[l.Option]
		if l.Times > 1 {
			name = strconv.Itoa(l.Times) + " × " + name
		}
		s = name + " (" + duration(d) + " by default)"
	}
	if l.Renewed {
		s += ", renewed on each use"
	}
	return s
}

// duration writes d in the largest whole unit of days (from three days
// on), hours, minutes and seconds.
func duration(d time.Duration) string {
	for _, u := range []struct {
		d, from time.Duration
		name    string
	}{{24 * time.Hour, 72 * time.Hour, "day"}, {time.Hour, time.Hour, "hour"}, {time.Minute, time.Minute, "minute"}, {time.Second, time.Second, "second"}} {
		if d >= u.from && d%u.d == 0 {
			n := int64(d / u.d)
			if n == 1 {
				return "1 " + u.name
			}
			return itoa(n) + " " + u.name + "s"
		}
	}
	return d.String()
}

var (
	forever     = func(until string) Lifetime { return Lifetime{Kind: Forever, Until: until} }
	fixed       = func(d time.Duration) Lifetime { return Lifetime{Kind: Fixed, TTL: d} }
	caller      = func(until string) Lifetime { return Lifetime{Kind: Caller, Until: until} }
	untilPurged = forever("until the case is purged (vigil triage purge)")
)

// Keys lists every kind of key Vigil writes.
func Keys() []Key {
	H, P, ID, REF, N, W := v("H"), vn("P"), v("ID"), v("REF"), vn("N"), vn("W")
	return []Key{
		{draftKey(H), "string", Lifetime{Kind: Option, Option: "DraftTTL"},
			"the chat's draft report, sealed with the bot's key", false},
		{profileKey(H), "string", Lifetime{Kind: Option, Option: "ProfileTTL", Renewed: true},
			"the chat's language, case references and open thread, sealed with the bot's key", false},
		{msgsKey(H), "list", fixed(messageTTL),
			"ids of the chat's messages, for /wipe (numbers, no content), at most " + itoa(maxRemembered) + "; Telegram lets bots delete messages only for that long", false},
		{rateKeyOf(H, v("K"), W), "string", caller("the counter's window W (a minute for messages, an hour or a day for reports)"),
			"a rate-limit counter of the chat: kind K in window W (a number)", false},
		{appliedKey(H), "string", fixed(appliedTTL),
			"the last inbox entry applied to the chat's state (a stream id: the time the bot received that update, to the millisecond), so that an update handled again after a crash is not applied twice", false},
		{replyKey(H), "string", Lifetime{Kind: Option, Option: "DraftTTL"},
			"the reply to that entry, sealed with the bot's key, to send again if the process died before sending it", false},
		{inboxKeyOf(P), "stream", forever("each entry until it is handled"),
			"partition P of the inbox (group \"workers\"): an update id and the update sealed with the bot's key, or a staff reply to a chat of the partition sealed with the bot's key", false},
		{inboxSeenKeyOf(P, ID), "string", fixed(UpdateSeenTTL),
			"update ID was accepted (dedupe), for chats and groups alike", false},
		{inboxRateKeyOf(P, H, W), "string", fixed(inboxRateTTL),
			"how many updates chat H (a private chat or a group) sent in minute W (flood guard)", false},
		{leaseKeyOf(P), "string", caller("the lease, which the process renews while it runs"),
			"the bot process holding partition P (a random name)", false},
		{namedLeaseKey(v("NAME")), "string", caller("the lease, which the process renews while it runs"),
			"the bot process holding a role: the poller, broadcast delivery", false},
		{replicasKey, "zset", forever("each member until it expires (by its score)"),
			"bot processes alive (random names), scored by expiry", false},
		{queueKey, "stream", untilPurged,
			"the queue (group \"staff\"): ref, received time, urgent — plain, to route and order", true},
		{reportKey(REF), "hash", untilPurged,
			"the report as an age file sealed to the staff; plain case metadata: received time, urgent, status, assignee (a staff name), times, alerts, stream entry id, fingerprints of the keys it was sealed to", true},
		{openKey, "zset", untilPurged,
			"refs not closed; score = urgent band + received time (list order)", true},
		{statusKey(v("S")), "zset", untilPurged,
			"refs in status S, same score", true},
		{eventsKey(REF), "stream", untilPurged,
			"the case's history: status changes, claims, notes, replies, deliveries and the defender's answers; any text in it is sealed to the staff", true},
		{onceKey(REF, ID), "string", fixed(onceTTL),
			"that the defender's answer carried by inbox entry ID was added to the case (no content)", true},
		{signatureKey(REF, v("SIG")), "string", caller("a signed reply's maximum age and a margin"),
			"the outbox entry that used the staff signature whose SHA-256 is SIG (hex), so that a signed reply is delivered once", true},
		{routeKey(REF), "string", untilPurged,
			"the chat to deliver staff replies to, sealed with the bot's key", true},
		{outboxKey, "stream", forever("each entry until the reply is delivered"),
			"staff replies for the bot (group \"bot\"), sealed to the bot's age key, each with the staff member's signed statement and signature", true},
		{auditKey, "stream", forever("append-only"),
			"who did what to which case, when (no content); a reply's signed statement and signature", true},
		{submissionKey(ID), "string", Lifetime{Kind: Option, Option: "SubmissionTTL"},
			"the ref draft ID was submitted as (a double tap queues once)", true},
		{uploadKeyOf(ID, N), "string", Lifetime{Kind: Option, Option: "DraftTTL", Times: 2},
			"evidence file N of draft ID, an age file sealed to the staff; renamed to file:REF:N when the report is sent", true},
		{fileKeyOf(REF, N), "string", untilPurged,
			"evidence file N of a case, an age file sealed to the staff", true},
		{subsKey(), "hash", forever("until the chat unsubscribes or blocks the bot"),
			"chat handle → subscriber (chat id and language), sealed with the bot's key", false},
		{subCountriesKey(), "hash", forever("until the chat unsubscribes or blocks the bot"),
			"chat handle → the countries it follows (\"AM,GE\"; plain, to segment broadcasts)", false},
		{countryKey(v("XX")), "set", forever("until its last subscriber leaves"),
			"chat handles following country XX", false},
		{pubKey(ID), "hash", forever(""),
			"a broadcast or guidance page: kind, status, topic, countries, creator and approvers (staff names), times, delivery counts; text:LANG = an age file sealed to the staff and the bot; creator_proof, approval:NAME, stop_proof = signed statements (names, times, digests of the texts; no text); preview:NAME = what the bot previewed to NAME (a digest, authenticated with the bot's key; only for those Telegram delivered it all to, who alone may approve)", true},
		{pubsKey(), "zset", forever(""),
			"publication ids by creation time", true},
		{previewsKey(), "set", forever("each member until its preview is sent"),
			"publications whose preview the bot has yet to send", true},
		{readyKey(), "list", forever("each member until it is sent or stopped"),
			"approved broadcasts waiting to be sent, oldest first", true},
		{todoKey(ID), "set", forever("until broadcast ID is sent or stopped"),
			"chat handles broadcast ID has yet to be sent to (staff may count them, not read them)", false},
		{inflightKey(ID), "set", forever("each member until its send is recorded"),
			"chat handles handed to a sender, outcome not recorded yet (staff may count them, not read them)", false},
		{guidanceKey(v("XX")), "hash", forever("until withdrawn or replaced"),
			"topic → id of the guidance page published for country XX", true},
		{policyKey(), "hash", forever("the bot rewrites it when it starts"),
			"the bot's broadcast policy: approvals needed, coordinator names, default language, rate (staff may only read it)", true},
		{budgetKeyOf(v("K"), W, vn("B")), "string", caller("the window W"),
			"all chats' use of budget K (\"evidence\": bytes of files, \"reports\": reports) in window W (seconds), bucket B (Unix time / W): a number", false},
		{budgetKeyOf(v("K"), W, vn("B")) + refusedSuffix, "string", caller("the window W"),
			"takes of budget K refused in that bucket (a number)", false},
		{budgetAlertKeyOf(v("K"), W, vn("B"), vn("LEVEL")), "string", caller("the window W"),
			"staff were alerted that budget K passed LEVEL % in that bucket", false},
		{memoryAlertKeyOf(v("K"), vn("LEVEL")), "string", fixed(memoryAlertTTL),
			"staff were alerted that Redis memory (K = memory) passed LEVEL %; deleted once it falls back", false},
		{checkinDueKey, "zset", forever("each member until its check-in is stopped, missed or forgotten"),
			"chat handles with a running check-in, scored by the time of the next thing to do (reminder, deadline plus grace, a claim's lease), in ms", false},
		{checkinNoticesKey, "list", forever("each member until a bot process takes it"),
			"refs of missed check-in cases whose defender checked in since, for a line in the staff alert chat (no content)", false},
		{checkinKey(H), "hash", caller("the check-in's deadline plus grace and a margin, renewed at each check-in"),
			"the chat's check-in: sealed = chat, language, UTC offset, interval, country, times and the duress word's HMAC, sealed with the bot's key; note = the defender's note, an age file sealed to the staff; plain deadline_ms, stage, version", false},
		{botIDKey, "string", forever(""),
			"the bot's age identity, sealed with the bot's secret", false},
		{botRecipKey, "string", forever(""),
			"the bot's age public key (public by nature; staff may only read it)", true},
		{botIDPQKey, "string", forever(""),
			"the bot's post-quantum age identity, sealed with the bot's secret", false},
		{botRecipPQKey, "string", forever(""),
			"its public key, which staff with post-quantum keys seal to (staff may only read it)", true},
	}
}
