package intake

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/store"
)

// subscription returns the countries the chat follows; none when it is not
// subscribed.
func (s *Service) subscription(ctx context.Context, handle string) ([]string, error) {
	_, countries, err := s.store.Subscription(ctx, handle)
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	return countries, nil
}

// followLanguage moves the chat's subscription, if it has one, to lang.
func (s *Service) followLanguage(ctx context.Context, chat int64, handle, lang string) error {
	countries, err := s.subscription(ctx, handle)
	if err != nil || len(countries) == 0 {
		return err
	}
	return s.subscribe(ctx, chat, handle, lang, flows.State{Subscribed: countries})
}

// subscribe stores the chat's subscription to st.Subscribed in lang.
func (s *Service) subscribe(ctx context.Context, chat int64, handle, lang string, st flows.State) error {
	sealed, err := broadcast.SealSubscriber(s.keys, handle, broadcast.Subscriber{Chat: chat, Lang: lang})
	if err != nil {
		return fmt.Errorf("intake: %w", err)
	}
	if err := s.store.Subscribe(ctx, handle, sealed, st.Subscribed); err != nil {
		return fmt.Errorf("intake: %w", err)
	}
	s.log.Info("subscribed", "countries", len(st.Subscribed))
	return nil
}

// publishing carries out the effects of subscriptions, guidance and
// coordinators' commands.
func (s *Service) publishing(ctx context.Context, chat int64, handle, lang string, st flows.State, ev flows.Event, res flows.Result) ([]flows.Message, error) {
	switch res.Effect {
	case flows.EffectSubscribe:
		return nil, s.subscribe(ctx, chat, handle, lang, st)
	case flows.EffectUnsubscribe:
		if err := s.store.Unsubscribe(ctx, handle); err != nil {
			return nil, fmt.Errorf("intake: %w", err)
		}
		s.log.Info("unsubscribed")
		return nil, nil
	case flows.EffectGuidance:
		pages, err := s.store.Guidance(ctx, res.Args[0])
		if err != nil {
			return nil, fmt.Errorf("intake: %w", err)
		}
		var topics []string
		for t := range pages {
			topics = append(topics, t)
		}
		return s.engine.GuidanceList(lang, res.Args[0], topics), nil
	case flows.EffectGuidancePage:
		return s.guidancePage(ctx, lang, res.Args[0], res.Args[1])
	}
	// Coordinators only: the engine let the command through because the
	// front end named the sender a coordinator.
	if s.broadcasts == nil {
		return s.engine.Refusal(lang, "", "no_policy", ""), nil
	}
	who := ev.Coordinator
	// The bot vouches that this Telegram account (the private chat's) did
	// it; the keyring decides at delivery whether that counts.
	bc := s.broadcasts.InTelegram(chat)
	switch res.Effect {
	case flows.EffectCreatePublication:
		d := res.Publication
		p, needed, err := bc.Create(ctx, who, broadcast.Draft{Kind: d.Kind, Topic: d.Topic, Countries: d.Countries, Texts: d.Texts})
		if err != nil {
			return s.refusal(lang, "", err)
		}
		s.log.Info("publication created", "id", p.ID, "kind", p.Kind, "coordinator", who)
		return s.engine.Created(lang, p.ID, needed), nil
	case flows.EffectApprove:
		status, needed, err := bc.Approve(ctx, res.Args[0], who)
		if err != nil {
			return s.refusal(lang, res.Args[0], err)
		}
		s.log.Info("publication approved", "id", res.Args[0], "coordinator", who, "status", status)
		return s.engine.Approved(lang, res.Args[0], status, needed), nil
	case flows.EffectCancelPublication:
		status, err := bc.Cancel(ctx, res.Args[0], who)
		if err != nil {
			return s.refusal(lang, res.Args[0], err)
		}
		s.log.Info("publication stopped", "id", res.Args[0], "coordinator", who, "status", status)
		return s.engine.Cancelled(lang, res.Args[0], status), nil
	default: // EffectPublicationStatus
		pol, err := s.broadcasts.Policy(ctx)
		if err != nil {
			return s.refusal(lang, "", err)
		}
		if len(res.Args) == 1 {
			p, err := s.broadcasts.Get(ctx, res.Args[0])
			if err != nil {
				return s.refusal(lang, res.Args[0], err)
			}
			return s.engine.PublicationStatus(lang, View(p, pol, s.rate)), nil
		}
		ps, err := s.broadcasts.List(ctx, 10)
		if err != nil {
			return nil, fmt.Errorf("intake: %w", err)
		}
		views := make([]flows.PublicationView, len(ps))
		for i, p := range ps {
			views[i] = View(p, pol, s.rate)
		}
		return s.engine.PublicationList(lang, views), nil
	}
}

// refusal explains a refused coordinator action; other errors are the
// server's and are returned.
func (s *Service) refusal(lang, id string, err error) ([]flows.Message, error) {
	var state *store.StateError
	switch {
	case errors.Is(err, store.ErrNoPublication):
		return s.engine.Refusal(lang, id, "unknown", ""), nil
	case errors.Is(err, store.ErrOwnApproval):
		return s.engine.Refusal(lang, id, "own", ""), nil
	case errors.Is(err, store.ErrApprovedTwice):
		return s.engine.Refusal(lang, id, "twice", ""), nil
	case errors.Is(err, store.ErrNotPreviewed), errors.Is(err, broadcast.ErrNoPreviewSeen):
		return s.engine.Refusal(lang, id, "not_previewed", ""), nil
	case errors.Is(err, store.ErrNotReached):
		return s.engine.Refusal(lang, id, "not_reached", ""), nil
	case errors.As(err, &state):
		return s.engine.Refusal(lang, id, "state", state.Status), nil
	case errors.Is(err, store.ErrNoPolicy), errors.Is(err, broadcast.ErrNotCoordinator):
		return s.engine.Refusal(lang, id, "no_policy", ""), nil
	}
	return nil, fmt.Errorf("intake: %w", err)
}

// guidancePage returns the page published for country on topic, in lang or
// the default language.
func (s *Service) guidancePage(ctx context.Context, lang, country, topic string) ([]flows.Message, error) {
	pages, err := s.store.Guidance(ctx, country)
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	id, ok := pages[topic]
	if !ok || s.broadcasts == nil {
		return s.engine.GuidanceGone(lang), nil
	}
	p, err := s.broadcasts.Get(ctx, id)
	if errors.Is(err, store.ErrNoPublication) {
		return s.engine.GuidanceGone(lang), nil
	}
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	// Shown only when its signatures hold over the texts it has now.
	html, err := s.broadcasts.Shown(ctx, p, lang)
	if err != nil {
		s.log.Warn("a guidance page's signatures do not hold; not shown", "id", id, "problem", err.Error())
		return s.engine.GuidanceGone(lang), nil
	}
	return []flows.Message{{Text: html, HTML: true}}, nil
}

// View is what a coordinator sees of p.
func View(p store.Publication, pol store.Policy, rate float64) flows.PublicationView {
	return flows.PublicationView{ID: p.ID, Kind: p.Kind, Status: p.Status, Topic: p.Topic, Countries: p.Countries,
		Languages: p.Langs(), Creator: p.Creator, Approvers: slices.Clone(p.Approvers), Needed: broadcast.Needed(p, pol),
		Total: p.Total, Sent: p.Sent, Failed: p.Failed, Blocked: p.Blocked, Skipped: p.Skipped,
		Remaining: p.Remaining + p.InFlight, Left: broadcast.Left(p, rate), Problem: p.Problem}
}
