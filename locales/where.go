package locales

import (
	"fmt"
	"strings"
)

// where tells a translator where the text of key appears. Keys named in
// descriptions get that line; the others a line derived from the key.
func (c *Catalog) where(key string) string {
	if d, ok := descriptions[strings.TrimPrefix(key, "plural.")]; ok {
		return d
	}
	parts := strings.Split(key, ".")
	switch {
	case len(parts) == 3 && parts[0] == "step" && parts[2] == "prompt":
		return fmt.Sprintf("Question '%s' of the report flow, with its buttons below it.", parts[1])
	case len(parts) == 3 && parts[0] == "step" && parts[2] == "label":
		return fmt.Sprintf("Short name of question '%s': in the review summary (name: answer) and on its Change button (btn.edit).", parts[1])
	case len(parts) == 3 && parts[0] == "opt":
		return fmt.Sprintf("Button: option '%s' of question '%s' (step.%s.prompt); also the answer in the review.", parts[2], parts[1], parts[1])
	case parts[0] == "btn":
		return "Button."
	case parts[0] == "cmd" && len(parts) == 2:
		return fmt.Sprintf("Telegram command menu description of /%s (at most 256 characters).", parts[1])
	case parts[0] == "status" && len(parts) == 2:
		return fmt.Sprintf("Case status '%s', shown by /status after the date a report was received.", parts[1])
	case parts[0] == "review":
		return "Review summary, as an answer."
	case parts[0] == "msg":
		return "Message to the defender."
	case parts[0] == "compose":
		return "Message to a coordinator (mission staff who publish broadcasts and guidance pages in the bot), not to a defender. {{.ID}} is a reference such as B-7K2QX; keep commands such as /approve as they are."
	case parts[0] == "pub" && len(parts) == 2:
		return fmt.Sprintf("State '%s' of a broadcast or guidance page, shown to coordinators in status lines (compose.line).", parts[1])
	case len(parts) == 3 && parts[0] == "guidance" && parts[1] == "topic":
		return fmt.Sprintf("Topic '%s' of a safety guidance page: a button under /guidance (msg.guidance_list) and on coordinators' screens.", parts[2])
	}
	return "Text shown to the defender."
}

// descriptions are written by hand for the texts whose place the key does
// not tell; a test keeps them in step with en.toml. Counted texts
// (plural.*) are listed under their key without "plural.".
var descriptions = map[string]string{
	"meta.name":      "The name of this language in itself (e.g. Français, العربية), on the language menu. Not a translation of 'English'.",
	"meta.direction": "Writing direction of this language: write ltr (left to right) or rtl (right to left), not a translation.",

	"step.language.prompt": "First message of /start, above one button per language; also the reply to /language.",
	"step.notice.prompt":   "Safety notice shown once the language is chosen, before the first question, with the Continue button (btn.continue).",
	"step.review.prompt":   "First line of the review: every answer follows, each with a Change button, then Send.",
	"step.language.label":  "Short name of the language step (not shown in the review today).",
	"step.notice.label":    "Short name of the safety notice (not shown in the review today).",
	"step.review.label":    "Short name of the review step (not shown to the defender today).",
	"opt.country.other":    "Button under the country question, after the buttons naming the countries the mission covers.",

	"btn.wipe":     "Button under the receipt: deletes this conversation from the defender's phone (/wipe).",
	"btn.back":     "Button on every question after the language: goes back one question.",
	"btn.skip":     "Button on every question that may be skipped.",
	"btn.done":     "Button that ends a question answered in several steps: a multiple choice, the description, the evidence.",
	"btn.continue": "Button under the safety notice (step.notice.prompt).",
	"btn.send":     "Button under the review: sends the report to the mission.",
	"btn.edit":     "Button under the review, one per answer and two per row; {{.Field}} is the question's short name (a step.*.label). Keep it short.",

	"review.voice":   "Review summary: the answer to the description when it was sent as a voice note.",
	"review.skipped": "Review summary: the answer to a question that was skipped.",
	"review.files":   "Review summary: the answer to the evidence question, the number of files sent.",

	"msg.resume":            "Reply to /start while a report is in progress; the question where the defender stopped follows.",
	"msg.nothing_to_cancel": "Reply to /cancel when no report is in progress.",
	"msg.cancelled":         "Reply to /cancel: the draft was deleted.",
	"msg.help":              "Reply to /help and to any unknown command: what the bot does, and its commands.",
	"msg.no_draft":          "Reply to a message or file sent when no report is in progress.",
	"msg.edited":            "Reply when the defender edits a message they already sent (edits are not taken).",
	"msg.staff_reply":       "Frames a message from the mission's staff about case {{.Ref}}; {{.Text}} is the staff's message, in their words. The defender may answer by writing.",
	"msg.answer_sent":       "Confirms that the defender's answer to a message from the mission reached case {{.Ref}}.",
	"msg.case_gone":         "Reply when the defender answers a message from the mission but the case is no longer open.",
	"msg.wiped":             "The one neutral line left in the chat after /wipe (or the button under the receipt) deleted the conversation.",
	"msg.slow_down":         "Sent once when a chat sends messages too fast (over 60 a minute); messages meanwhile are not read.",
	"msg.too_many_reports":  "Sent on Send when the chat reached its limit of reports for the hour or the day; the draft is kept.",
	"msg.files_here_only":   "Reply to a file sent at a question before the evidence question; the question follows again.",
	"msg.send_files":        "Reply to text typed at the evidence question; the question follows again.",
	"msg.file_failed":       "Reply when a file could not be received from Telegram or stored.",
	"msg.file_failed_size":  "Reply when a file turned out larger than allowed while it was being received.",
	"msg.files_paused":      "Reply to a file sent while the service takes no files (the budget shared by all chats is spent, or the server is nearly full); the report can still be sent without it: Done or Skip goes on.",
	"msg.reports_paused":    "Sent on Send while the service takes no new reports (the budget shared by all chats is spent, or the server is nearly full); the draft is kept.",
	"msg.unsupported":       "Reply to a sticker, location, contact or other message the bot cannot take; the question follows again.",
	"msg.use_buttons":       "Reply to text typed at a question answered with buttons; the question follows again.",
	"msg.stale":             "Short pop-up (toast) when an old or invalid button is pressed (at most 200 characters).",
	"msg.need_answer":       "Short pop-up (toast) when Done is pressed at 'what happened' with nothing chosen, and a message when Send finds it unanswered (at most 200 characters).",
	"msg.language_set":      "Reply when the language is chosen with /language while no report is in progress.",
	"msg.emergency":         "Shown at once when the defender says someone is in immediate danger; {{.Contacts}} is the list of emergency contacts the mission configured, one per line. The next question follows.",
	"msg.emergency_none":    "Shown at once when the defender says someone is in immediate danger and the mission configured no emergency contacts. The next question follows.",
	"msg.receipt":           "Sent to the defender after the report is stored (receipt with the case reference {{.Ref}}), with the button that deletes the conversation (btn.wipe).",
	"msg.status_none":       "Reply to /status when this chat has sent no report.",
	"msg.status_line":       "One line per report in the reply to /status: {{.Ref}} the case reference, {{.Date}} the day it was received (2026-11-27), {{.Status}} its state (a status.* text).",
	"msg.group_only":        "Reply in a group chat: the bot takes reports only in a private chat.",
	"msg.internal_error":    "Reply when something failed on the server; the draft is kept.",

	"btn.cancel":       "Button under every step of composing a broadcast or guidance page (coordinators only): discards it.",
	"btn.add_language": "Button under a composed broadcast or guidance page (coordinators only): add the text in another language.",
	"btn.create":       "Button under a composed broadcast or guidance page (coordinators only): store it and send the preview to every coordinator.",

	"msg.subscribe_unavailable": "Reply to /subscribe when the mission configured no countries.",
	"msg.subscribe_pick":        "Reply to /subscribe, above one toggle button per country and Done (btn.done).",
	"msg.subscribe_none":        "Reply to Done under msg.subscribe_pick with no country chosen.",
	"msg.subscribed":            "Confirms a subscription: {{.Countries}} the countries (a list), {{.Language}} the language's own name.",
	"msg.not_subscribed":        "Reply to /unsubscribe when the chat is not subscribed.",
	"msg.unsubscribed":          "Reply to /unsubscribe: the subscription is deleted.",
	"msg.guidance_none":         "Reply to /guidance when the mission configured no countries.",
	"msg.guidance_pick":         "Reply to /guidance, above one button per country.",
	"msg.guidance_list":         "Above one button per guidance topic (guidance.topic.*) published for {{.Country}}.",
	"msg.guidance_empty":        "Reply when no guidance is published for {{.Country}}; the emergency contacts follow.",
	"msg.guidance_gone":         "Reply to an old topic button whose page was withdrawn.",

	"compose.preview":       "Sent to every coordinator when a broadcast or guidance page is created: {{.Kind}} broadcast or guidance, {{.Countries}} a list, {{.Subscribers}} a number, {{.Languages}} language codes, {{.Creator}} a staff name. The texts follow as separate messages.",
	"compose.needs":         "In a status line: how many more coordinators must approve {{.ID}}.",
	"compose.created":       "Confirms a created broadcast or page; the number is how many other coordinators must approve it.",
	"compose.approved_more": "Confirms an approval; the number is how many more are needed.",
	"compose.line":          "One line per broadcast or page in /broadcasts: reference, kind, countries, state (a pub.* text).",
	"compose.progress":      "Progress of a broadcast being sent: numbers of messages.",

	"msg.forgotten":          "Reply to /forget; the number is how many reports the chat sent, which stay with the mission.",
	"msg.too_many_files":     "Reply to a file over the limit of files per report; the number is that limit (10 unless the mission set another). Done follows.",
	"msg.file_too_big":       "Reply to a file over the size limit; the number is the limit in MB (20 unless the mission set another).",
	"msg.evidence_full":      "Reply to a file that would take the report's evidence over its total size; the number is that limit in MB (50 unless the mission set another).",
	"msg.file_added":         "Confirms each file sent at the evidence question; the number is how many files so far. Done follows.",
	"msg.voice_added":        "Confirms a voice note sent in place of the description; the number is how many files so far. Done follows.",
	"msg.files_so_far":       "Added below the evidence question when it is shown again; the number is how many files so far.",
	"msg.too_long":           "Reply to a short answer (date, place, safe channel) over its length limit; the number is the limit in characters (300).",
	"msg.description_full":   "Reply to a description message that would take it over its limit; the number is the limit in characters (20000).",
	"msg.description_added":  "Confirms each message of the description; the number is how many so far. Done follows.",
	"msg.description_so_far": "Added below the description question when it is shown again; the number is how many messages so far.",
	"msg.status_header":      "First line of the reply to /status; the number is how many reports the chat sent. One msg.status_line per report follows.",
}
