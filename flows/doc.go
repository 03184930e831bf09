// Package flows is the conversation with a defender, as pure logic.
//
// A conversation is a State (the remembered language and, while a report is
// being written, a Draft) and a stream of Events (a command, a text message, a
// button press). Engine.Handle takes one State and one Event and returns the
// next State and a Result: transport-neutral Messages (text and buttons) and,
// at most, one Effect for the caller to carry out (submit the report, show
// the status of past reports).
//
// The package knows nothing of Telegram, Redis or age. It does no I/O and
// keeps no state between calls: the caller loads the State, calls Handle, and
// stores what comes back. Randomness and time are injected through Config so
// that every run can be replayed in a test.
//
// The questions are listed once, in questions.go; adding or reordering a
// question is one edit there plus its text in locales/.
//
// Contract for callers:
//   - Handle never panics on any Event, including forged button data, and
//     never changes the State when it answers with a "stale" or "invalid"
//     message.
//   - Button data stays within Telegram's 64-byte limit (MaxButtonData).
//   - When Result.Effect is EffectSubmit the caller must store the report
//     built by Engine.Report, and only then send Engine.Receipt; the State
//     returned with EffectSubmit still holds the draft, so a crash before the
//     store succeeds loses nothing. Engine.Submitted gives the State after.
package flows
