package store

// Every Redis key the project writes is named here, and nowhere else.
//
// Keys that are used together share a hash tag ({…}), so that a Redis
// Cluster keeps them in one slot: a chat's keys share {c:<handle>}, and the
// queue's keys share {q}.
//
// What each key holds, and why it may hold it:
//
//	vigil:{c:H}:draft        string  bot-sealed draft; TTL = draft TTL
//	vigil:{c:H}:profile      string  bot-sealed language and case references; TTL = profile TTL, renewed on use
//	vigil:{q}:reports        stream  the queue: ref, received_at, urgent (plain: needed to route and order)
//	vigil:{q}:report:REF     hash    sealed = age file for the staff; received_at, urgent, status (plain, routing)
//	vigil:{q}:submission:ID  string  the ref a draft was submitted as; TTL = submission TTL (dedupe)
//
// H is seal.Keys.Hash of the chat id; ID is a random draft id. No key holds
// a chat id, a name or a defender's words in plain text.

const prefix = "vigil:"

func draftKey(handle string) string   { return prefix + "{c:" + handle + "}:draft" }
func profileKey(handle string) string { return prefix + "{c:" + handle + "}:profile" }

const (
	queueKey   = prefix + "{q}:reports"
	staffGroup = "staff"
)

func reportKey(ref string) string    { return prefix + "{q}:report:" + ref }
func submissionKey(id string) string { return prefix + "{q}:submission:" + id }
func reportKeyPattern() string       { return prefix + "{q}:report:*" }
