package store

// Every Redis key the project writes is named here, and nowhere else.
//
// Keys that are used together share a hash tag ({…}), so that a Redis
// Cluster keeps them in one slot: a chat's keys share {c:<handle>}, the
// queue's keys share {q}, and subscriptions and broadcasts share {b}.
//
// What each key holds, and why it may hold it:
//
//	vigil:{c:H}:draft           string  bot-sealed draft; TTL = draft TTL
//	vigil:{c:H}:profile         string  bot-sealed language, case references, open thread; TTL = profile TTL, renewed on use
//	vigil:{c:H}:msgs            list    ids of the chat's messages, for /wipe (numbers, no content); TTL 48h,
//	                                    as Telegram lets bots delete messages for 48 hours
//	vigil:{c:H}:rl:K:W          string  a rate-limit counter (kind K, window W); TTL = the window
//	vigil:{c:H}:applied         string  the last inbox entry applied to the chat's state (a stream id); TTL = profile TTL
//	vigil:{c:H}:reply           string  bot-sealed reply to that entry, to send again if the process died before
//	                                    sending it; TTL = draft TTL
//	vigil:{in:P}:updates        stream  partition P of the inbox (group "workers"): update id, and the update
//	                                    sealed with the bot's key, or kind=reply and a staff reply to a chat of
//	                                    the partition sealed with the bot's key; an entry lives until handled
//	vigil:{in:P}:seen:ID        string  update ID was accepted (dedupe); TTL 7 days
//	vigil:{in:P}:rl:H:W         string  updates accepted from chat H in minute W (flood guard); TTL 1 minute
//	vigil:{in:P}:owner          string  the bot process holding partition P; TTL = lease
//	vigil:lease:NAME            string  the bot process holding a role (the poller); TTL = lease
//	vigil:replicas              zset    bot processes alive (random names), scored by expiry
//	vigil:{q}:reports           stream  the queue (group "staff"): ref, received_at, urgent — plain, to route and order
//	vigil:{q}:report:REF        hash    sealed = age file for the staff; plain case metadata: received_at,
//	                                    urgent, status, assignee (a staff name), times, stream entry id,
//	                                    fingerprints of the keys it was sealed to
//	vigil:{q}:open              zset    refs not closed; score = urgent band + received time (list order)
//	vigil:{q}:status:S          zset    refs in status S, same score
//	vigil:{q}:case:REF:events   stream  the case's history: status changes, claims, notes, replies and
//	                                    the defender's answers; any text in it is sealed to the staff
//	vigil:{q}:case:REF:once:ID  string  an entry of the case added already (Entry.Once); TTL 7 days
//	vigil:{q}:case:REF:sig:H    string  the outbox entry that used the signature whose SHA-256 is H (hex), so
//	                                    that a signed reply is delivered once; TTL = the reply's maximum age
//	                                    and a margin
//	vigil:{q}:route:REF         string  bot-sealed: the chat to deliver staff replies to
//	vigil:{q}:outbox            stream  staff replies for the bot (group "bot"), sealed to the bot's age key,
//	                                    each with the staff member's signed statement and signature
//	vigil:{q}:audit             stream  who did what to which case, when (no content); a reply's signed
//	                                    statement and signature
//	vigil:{q}:submission:ID     string  the ref a draft was submitted as; TTL = submission TTL (dedupe)
//	vigil:{q}:upload:ID:N       string  file N of draft ID, an age file sealed to the staff; TTL = twice the
//	                                    draft TTL; renamed to file:REF:N when the report is sent
//	vigil:{q}:file:REF:N        string  evidence file N of a case, an age file sealed to the staff
//	vigil:{b}:subs              hash    chat handle → bot-sealed subscriber (chat id, language)
//	vigil:{b}:subs:countries    hash    chat handle → the countries subscribed to ("AM,GE"; plain: segmentation)
//	vigil:{b}:country:XX        set     chat handles subscribed to country XX
//	vigil:{b}:pub:ID            hash    a broadcast or guidance page: kind, status, topic, countries, creator,
//	                                    approvers (staff names), times, delivery counts; text:LANG = an age
//	                                    file sealed to the staff and the bot; creator_proof, approval:NAME,
//	                                    stop_proof = signed statements (names, times, digests of the texts;
//	                                    no text), preview:NAME = what the bot previewed to NAME (a digest,
//	                                    authenticated with the bot's key; only for those Telegram delivered
//	                                    it all to, who alone may approve)
//	vigil:{b}:pubs              zset    publication ids by creation time
//	vigil:{b}:previews          set     publications whose preview the bot has yet to send
//	vigil:{b}:ready             list    approved broadcasts waiting to be sent, oldest first
//	vigil:{b}:todo:ID           set     chat handles broadcast ID has yet to be sent to
//	vigil:{b}:inflight:ID       set     chat handles handed to a sender, outcome not recorded yet
//	vigil:{b}:guidance:XX       hash    topic → id of the guidance page published for country XX
//	vigil:{b}:policy            hash    the bot's broadcast policy (approvals needed, coordinator names,
//	                                    default language, rate); staff may only read it
//	vigil:{budget}:K:W:B        string  all chats' use of budget K ("evidence": bytes of files, "reports": reports)
//	                                    in window W (seconds), bucket B (Unix time / W); a number; TTL = the window
//	vigil:{budget}:K:W:B:refused  string  takes of budget K refused in that bucket (a number); TTL = the window
//	vigil:{budget}:alerted:A    string  staff were alerted that A (K:W:B:LEVEL, or memory:LEVEL) was crossed;
//	                                    TTL = the window, a day for memory (deleted once it falls back)
//	vigil:bot:identity          string  the bot's age identity, sealed with the bot's secret
//	vigil:bot:recipient         string  the bot's age public key (public by nature)
//	vigil:bot:identity:pq       string  the bot's post-quantum age identity, sealed with the bot's secret
//	vigil:bot:recipient:pq      string  its public key, which staff with post-quantum keys seal to
//
// H is seal.Keys.Hash of the chat id; ID is a random draft id. No key holds
// a chat id, a name of a defender or a defender's words in plain text. Case
// keys have no TTL: a case lives until it is purged (vigil triage purge).

import "time"

const prefix = "vigil:"

func draftKey(handle string) string   { return prefix + "{c:" + handle + "}:draft" }
func appliedKey(handle string) string { return prefix + "{c:" + handle + "}:applied" }
func replyKey(handle string) string   { return prefix + "{c:" + handle + "}:reply" }
func inboxKey(p int) string           { return prefix + "{in:" + itoa(int64(p)) + "}:updates" }
func leaseKey(p int) string           { return prefix + "{in:" + itoa(int64(p)) + "}:owner" }
func inboxRateKey(p int, handle, window string) string {
	return prefix + "{in:" + itoa(int64(p)) + "}:rl:" + handle + ":" + window
}
func inboxSeenKey(p int, id int64) string {
	return prefix + "{in:" + itoa(int64(p)) + "}:seen:" + itoa(id)
}
func profileKey(handle string) string { return prefix + "{c:" + handle + "}:profile" }
func msgsKey(handle string) string    { return prefix + "{c:" + handle + "}:msgs" }

func rateKey(handle, kind string, window time.Duration, now time.Time) string {
	return prefix + "{c:" + handle + "}:rl:" + kind + ":" + itoa(now.UnixMilli()/window.Milliseconds())
}

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
func uploadKey(id string, n int) string { return prefix + "{q}:upload:" + id + ":" + itoa(int64(n)) }
func fileKey(ref string, n int) string  { return prefix + "{q}:file:" + ref + ":" + itoa(int64(n)) }

// budgetKey names the counter of budget kind in now's bucket of window.
func budgetKey(kind string, window time.Duration, now time.Time) string {
	w := int64(window / time.Second)
	return prefix + "{budget}:" + kind + ":" + itoa(w) + ":" + itoa(now.Unix()/w)
}
func budgetRefusedKey(kind string, window time.Duration, now time.Time) string {
	return budgetKey(kind, window, now) + ":refused"
}

// budgetAlertKey names the mark of an alert: of budget kind in now's
// bucket of window, or, with window 0, of kind alone (Redis memory).
func budgetAlertKey(kind string, window time.Duration, now time.Time, level int) string {
	if window <= 0 {
		return prefix + "{budget}:alerted:" + kind + ":" + itoa(int64(level))
	}
	w := int64(window / time.Second)
	return prefix + "{budget}:alerted:" + kind + ":" + itoa(w) + ":" + itoa(now.Unix()/w) + ":" + itoa(int64(level))
}

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
