package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"
)

// chunk is how much of a sealed file goes to Redis in one command, and so
// about the most of it held in memory at once.
const chunk = 256 << 10

// UploadKey names where file n of a draft is kept until the report is sent.
// The draft id is random, so the name says nothing of the chat.
func UploadKey(draftID string, n int) string { return uploadKey(draftID, n) }

// Upload returns a writer that appends to the draft upload key in chunks;
// the value expires after twice the draft lifetime unless the report is
// sent. Close flushes.
func (s *Store) Upload(ctx context.Context, key string) io.WriteCloser {
	return &appender{ctx: ctx, rdb: s.rdb, key: key, ttl: 2 * s.opts.DraftTTL, buf: make([]byte, 0, chunk)}
}

type appender struct {
	ctx     context.Context
	rdb     redis.UniversalClient
	key     string
	ttl     time.Duration
	buf     []byte
	started bool
	err     error
}

func (a *appender) Write(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	n := len(p)
	for len(p) > 0 {
		take := min(cap(a.buf)-len(a.buf), len(p))
		a.buf = append(a.buf, p[:take]...)
		p = p[take:]
		if len(a.buf) == cap(a.buf) {
			if err := a.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (a *appender) flush() error {
	if len(a.buf) == 0 && a.started {
		return nil
	}
	_, err := a.rdb.Pipelined(a.ctx, func(p redis.Pipeliner) error {
		if !a.started {
			p.Set(a.ctx, a.key, a.buf, a.ttl)
		} else {
			p.Append(a.ctx, a.key, string(a.buf))
		}
		return nil
	})
	if err != nil {
		a.err = fmt.Errorf("store: write file: %w", err)
		return a.err
	}
	a.started = true
	a.buf = a.buf[:0]
	return nil
}

func (a *appender) Close() error {
	if a.err != nil {
		return a.err
	}
	return a.flush()
}

// DeleteUploads deletes files of a draft that will not be sent.
func (s *Store) DeleteUploads(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, k)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete uploads: %w", err)
	}
	return nil
}

// OpenFile returns a reader of the sealed file n of a case, read from Redis
// in chunks, and its size.
func (s *Store) OpenFile(ctx context.Context, ref string, n int) (io.Reader, int64, error) {
	key := fileKey(ref, n)
	size, err := s.rdb.StrLen(ctx, key).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("store: read file: %w", err)
	}
	if size == 0 {
		return nil, 0, ErrNotFound
	}
	return &ranger{ctx: ctx, rdb: s.rdb, key: key, size: size}, size, nil
}

type ranger struct {
	ctx  context.Context
	rdb  redis.UniversalClient
	key  string
	off  int64
	size int64
	buf  []byte
}

func (r *ranger) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.off >= r.size {
			return 0, io.EOF
		}
		b, err := r.rdb.GetRange(r.ctx, r.key, r.off, r.off+chunk-1).Bytes()
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, fmt.Errorf("store: read file: %w", err)
		}
		if len(b) == 0 {
			return 0, io.ErrUnexpectedEOF
		}
		r.off += int64(len(b))
		r.buf = b
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
