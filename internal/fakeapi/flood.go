package fakeapi

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Descriptions Telegram gives with 403 for chats the bot can no longer
// write to; see [Server.Block].
const (
	BlockedByUser   = "Forbidden: bot was blocked by the user"
	UserDeactivated = "Forbidden: user is deactivated"
)

// sendLimits is what [Server.Block], [Server.Flood] and [Server.LimitRate]
// set up, and what they observed. It is guarded by Server.mu.
type sendLimits struct {
	blocked map[int64]string // chat id → 403 description

	floodProb  float64
	floodWait  time.Duration
	rng        *rand.Rand // nil when floods are off
	floodUntil time.Time  // end of the open flood window; zero or past when none
	floodFrom  time.Time  // when the open flood window opened
	// into holds, for each send refused inside a flood window, how long
	// after the window opened it arrived.
	into   []time.Duration
	floods int

	perSecond  int         // accepted sendMessage calls per trailing second; 0: no limit
	sends      []time.Time // arrival times of the accepted sendMessage calls, ascending
	recent     int         // index of the first send within a second of the latest check
	violations int
}

// Block makes every call whose chat_id names the chat answer 403 with
// description, as Telegram does once a user blocks the bot ("" means
// [BlockedByUser]; [UserDeactivated] is the other common one). The chat need
// not be known. The 403 comes before any validation, with only
// [Server.FailNext] rules first; blocked calls are counted by [Server.Calls]
// only, and do not count against [Server.LimitRate].
func (s *Server) Block(chatID int64, description string) {
	if description == "" {
		description = BlockedByUser
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limits.blocked == nil {
		s.limits.blocked = make(map[int64]string)
	}
	s.limits.blocked[chatID] = description
}

// Unblock undoes [Server.Block].
func (s *Server) Unblock(chatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.limits.blocked, chatID)
}

// blockedLocked returns the 403 answer for a call whose chat_id names a
// blocked chat, or nil.
func (s *Server) blockedLocked(p params) *Failure {
	if len(s.limits.blocked) == 0 || p.get("chat_id") == "" {
		return nil
	}
	id, ok := s.requestChatLocked(p)
	if !ok {
		return nil
	}
	if d, blocked := s.limits.blocked[id]; blocked {
		return fail(Failure{Code: Forbidden().Code, Description: d})
	}
	return nil
}

// Flood makes each later sendMessage that is not refused otherwise start a
// flood wait with the given probability (0–1), decided by a pseudo-random
// sequence seeded with seed, so a test run is repeatable (the order of
// concurrent calls aside). The call that starts a flood is answered
// [TooManyRequests](retryAfter) and opens a window of retryAfter seconds;
// until it closes, every sendMessage is answered 429 with the seconds left
// (rounded up) and counted by [Server.Violations]. Flood(0, 0, 0) switches
// injection off; a window already open runs its course. Other methods are
// not affected.
func (s *Server) Flood(probability float64, retryAfter int, seed int64) {
	s.tb.Helper()
	if !(probability >= 0 && probability <= 1) || probability > 0 && retryAfter < 1 {
		s.tb.Fatalf("fakeapi: Flood needs a probability in [0, 1] and, when it is > 0, retryAfter >= 1; got %v, %d", probability, retryAfter)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := &s.limits
	l.floodProb = probability
	l.floodWait = time.Duration(retryAfter) * time.Second
	l.rng = nil
	if probability > 0 {
		l.rng = rand.New(rand.NewPCG(uint64(seed), 0))
	}
}

// LimitRate makes sendMessage refuse a call that would be the
// (perSecond+1)th accepted one within the trailing second, by arrival time,
// across all chats: it is answered [TooManyRequests](1) and counted by
// [Server.Violations]. 0 switches the limit off.
func (s *Server) LimitRate(perSecond int) {
	s.tb.Helper()
	if perSecond < 0 {
		s.tb.Fatalf("fakeapi: LimitRate needs perSecond >= 0, got %d", perSecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits.perSecond = perSecond
}

// admitSendLocked decides whether a valid sendMessage arriving at now is
// accepted, and records it either way. The checks run in order: an open
// flood window, the rate limit, then the chance of starting a flood.
func (s *Server) admitSendLocked(now time.Time) *Failure {
	l := &s.limits
	if left := l.floodUntil.Sub(now); left > 0 {
		l.violations++
		l.into = append(l.into, now.Sub(l.floodFrom))
		return fail(TooManyRequests(int(math.Ceil(left.Seconds()))))
	}
	if l.perSecond > 0 {
		for l.recent < len(l.sends) && now.Sub(l.sends[l.recent]) >= time.Second {
			l.recent++
		}
		if len(l.sends)-l.recent >= l.perSecond {
			l.violations++
			return fail(TooManyRequests(1))
		}
	}
	if l.rng != nil && l.rng.Float64() < l.floodProb {
		l.floods++
		l.floodUntil, l.floodFrom = now.Add(l.floodWait), now
		return fail(TooManyRequests(int(l.floodWait / time.Second)))
	}
	l.sends = append(l.sends, now)
	return nil
}

// Violations counts the sendMessage calls that arrived inside a flood window
// ([Server.Flood]) or over the rate limit ([Server.LimitRate]).
func (s *Server) Violations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limits.violations
}

// ViolationsAfter counts the sends refused inside a flood window that
// arrived more than grace after it opened. A client cannot stop a request
// that had already left when the 429 reached it; grace allows for those.
func (s *Server) ViolationsAfter(grace time.Duration) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.limits.into {
		if d > grace {
			n++
		}
	}
	return n
}

// FloodsStarted counts the flood windows [Server.Flood] has opened.
func (s *Server) FloodsStarted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limits.floods
}

// Sends returns the arrival times of the accepted sendMessage calls, in
// order (each equals the At of its [Action]). It copies one slice; to wait
// for a number of sends, [Server.SendCount] is cheaper.
func (s *Server) Sends() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.limits.sends)
}

// SendCount is len(s.Sends()) without the copy.
func (s *Server) SendCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.limits.sends)
}

// MaxInWindow returns the most times that fit in one window of the given
// length: the largest group whose last and first time are less than window
// apart, as [Server.LimitRate] counts. Times are normally ascending, as
// [Server.Sends] returns them; others are sorted first (in a copy).
func MaxInWindow(times []time.Time, window time.Duration) int {
	if window <= 0 {
		return 0
	}
	if !slices.IsSortedFunc(times, time.Time.Compare) {
		times = slices.SortedFunc(slices.Values(times), time.Time.Compare)
	}
	best, first := 0, 0
	for last, t := range times {
		for t.Sub(times[first]) >= window {
			first++
		}
		best = max(best, last-first+1)
	}
	return best
}
