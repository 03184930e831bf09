package fakeapi

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/gif" // image.DecodeConfig for SendPhoto
	_ "image/jpeg"
	_ "image/png"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/go-telegram/bot/models"
)

// DefaultFileSizeLimit is the largest file the hosted Bot API lets a bot
// download: getFile refuses bigger files with "file is too big".
const DefaultFileSizeLimit = 20 << 20

// storedFile is a file users sent. Its bytes never change once stored.
type storedFile struct {
	id       string
	uniqueID string
	path     string // file_path getFile reports, "photos/file_4.jpg"
	data     []byte
	issued   bool // getFile has reported path, so it can be downloaded
}

// ---------------------------------------------------------------------------
// The human side.

// AddFile stores a copy of data as a file the bot may fetch with getFile and
// download, and returns its file_id and file_unique_id, so that tests can
// build updates with other media (audio, video_note, sticker, …) for
// [Server.SendUpdate]. Its file_path is "documents/file_N".
func (s *Server) AddFile(data []byte) (fileID, uniqueID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.addFileLocked(data, "documents", "")
	return f.id, f.uniqueID
}

// addFileLocked stores a copy of data under the next file number; its
// file_path is dir/file_N followed by ext.
func (s *Server) addFileLocked(data []byte, dir, ext string) *storedFile {
	n := len(s.files)
	f := &storedFile{
		// Real ids are longer and opaque; these keep their alphabet
		// (letters, digits, "-" and "_") and are unique per bot.
		id:       fmt.Sprintf("BQACAgIAAxk-fake-%d-%d", s.bot.ID, n),
		uniqueID: fmt.Sprintf("AgAD-fake-%d", n),
		path:     fmt.Sprintf("%s/file_%d%s", dir, n, ext),
		data:     bytes.Clone(data),
	}
	if f.data == nil {
		f.data = []byte{}
	}
	s.files[f.id] = f
	s.filePaths[f.path] = f
	return f
}

// SendDocument queues a message update in which from sends data as a file
// named name with MIME type mime, and returns its update id. The message
// carries document {file_id, file_unique_id, file_name, mime_type,
// file_size} and the caption (commands in it get bot_command entities); the
// file_path getFile reports keeps name's extension: "documents/file_3.pdf".
func (s *Server) SendDocument(chat models.Chat, from models.User, name, mime string, data []byte, caption string) (updateID int64) {
	s.tb.Helper()
	return s.sendMedia(func() *models.Message {
		f := s.addFileLocked(data, "documents", fileExt(name, ""))
		return &models.Message{
			From: &from,
			Chat: chat,
			Document: &models.Document{
				FileID:       f.id,
				FileUniqueID: f.uniqueID,
				FileName:     name,
				MimeType:     mime,
				FileSize:     int64(len(f.data)),
			},
			Caption:         caption,
			CaptionEntities: commandEntities(caption),
		}
	})
}

// SendPhoto queues a message update in which from sends a photo, and
// returns its update id. As in Telegram, message.photo lists the sizes
// from smallest to largest, each with its own file_id: a thumbnail whose
// bytes are the first half of data, then data itself. When data is a JPEG,
// PNG or GIF the largest size has its real dimensions, else 1280×960; the
// thumbnail fits in 320×320 (90×90 for images no bigger than that). File
// paths are "photos/file_N.jpg". Unlike Telegram, the fake does not
// recompress the image: the bot downloads exactly data.
func (s *Server) SendPhoto(chat models.Chat, from models.User, data []byte, caption string) (updateID int64) {
	s.tb.Helper()
	width, height := 1280, 960
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil && cfg.Width > 0 && cfg.Height > 0 {
		width, height = cfg.Width, cfg.Height
	}
	box := 320
	if max(width, height) <= box {
		box = 90
	}
	smallW, smallH := fitIn(width, height, box)
	return s.sendMedia(func() *models.Message {
		small := s.addFileLocked(data[:len(data)/2], "photos", ".jpg")
		large := s.addFileLocked(data, "photos", ".jpg")
		return &models.Message{
			From: &from,
			Chat: chat,
			Photo: []models.PhotoSize{
				{FileID: small.id, FileUniqueID: small.uniqueID, Width: smallW, Height: smallH, FileSize: len(small.data)},
				{FileID: large.id, FileUniqueID: large.uniqueID, Width: width, Height: height, FileSize: len(large.data)},
			},
			Caption:         caption,
			CaptionEntities: commandEntities(caption),
		}
	})
}

// fitIn scales w×h down to fit in a box×box square, keeping the aspect
// ratio; neither side drops below 1.
func fitIn(w, h, box int) (int, int) {
	if w <= box && h <= box {
		return w, h
	}
	if w >= h {
		return box, max(h*box/w, 1)
	}
	return max(w*box/h, 1), box
}

// SendVoice queues a message update in which from sends a voice note of
// duration seconds, and returns its update id. The message carries voice
// {file_id, file_unique_id, duration, mime_type "audio/ogg", file_size};
// the file_path is "voice/file_N.oga".
func (s *Server) SendVoice(chat models.Chat, from models.User, data []byte, duration int) (updateID int64) {
	s.tb.Helper()
	return s.sendMedia(func() *models.Message {
		f := s.addFileLocked(data, "voice", ".oga")
		return &models.Message{
			From: &from,
			Chat: chat,
			Voice: &models.Voice{
				FileID:       f.id,
				FileUniqueID: f.uniqueID,
				Duration:     duration,
				MimeType:     "audio/ogg",
				FileSize:     int64(len(f.data)),
			},
		}
	})
}

// SendVideo queues a message update in which from sends a video file named
// name with MIME type mime, and returns its update id. The message carries
// video {file_id, file_unique_id, file_name, mime_type, file_size}; width,
// height and duration are 0, as the fake does not decode videos (build the
// update with [Server.AddFile] and [Server.SendUpdate] to set them). The
// file_path is "videos/file_N" plus name's extension, ".mp4" by default.
func (s *Server) SendVideo(chat models.Chat, from models.User, name, mime string, data []byte) (updateID int64) {
	s.tb.Helper()
	return s.sendMedia(func() *models.Message {
		f := s.addFileLocked(data, "videos", fileExt(name, ".mp4"))
		return &models.Message{
			From: &from,
			Chat: chat,
			Video: &models.Video{
				FileID:       f.id,
				FileUniqueID: f.uniqueID,
				FileName:     name,
				MimeType:     mime,
				FileSize:     int64(len(f.data)),
			},
		}
	})
}

// sendMedia stores the files build adds and queues its message in one step,
// so that no other update or file comes in between.
func (s *Server) sendMedia(build func() *models.Message) int64 {
	s.tb.Helper()
	s.mu.Lock()
	updateID, err := s.sendUpdateLocked(models.Update{Message: build()})
	s.mu.Unlock()
	if err != nil {
		s.tb.Fatalf("fakeapi: %v", err)
	}
	return updateID
}

// fileExt returns the extension of a file name (lower-cased, at most 10
// characters of letters and digits, as a file_path can carry it), or def.
func fileExt(name, def string) string {
	ext := strings.ToLower(path.Ext(name))
	if len(ext) < 2 || len(ext) > 11 {
		return def
	}
	for _, r := range ext[1:] {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return def
		}
	}
	return ext
}

// ---------------------------------------------------------------------------
// Configuration and observation.

// SetFileSizeLimit sets the largest file getFile accepts, in bytes
// ([DefaultFileSizeLimit] by default, as on the hosted Bot API); n <= 0
// removes the limit, like a self-hosted Bot API server (--local).
func (s *Server) SetFileSizeLimit(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fileLimit = n
	s.notifyLocked()
}

// Downloads counts the files served through /file/bot<token>/<file_path>,
// each successful request once. Failed and injected-failure requests are not
// counted.
func (s *Server) Downloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.downloads
}

// FailDownloads makes the next n file download requests made with the right
// token answer status (400–599) with a Telegram-style error body, before the
// path is even looked up.
func (s *Server) FailDownloads(n int, status int) {
	s.tb.Helper()
	if n <= 0 || status < 400 || status > 599 {
		s.tb.Fatalf("fakeapi: FailDownloads needs n > 0 and a 4xx/5xx status, got n=%d status=%d", n, status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.downloadFailures = append(s.downloadFailures, downloadFailure{left: n, status: status})
}

type downloadFailure struct {
	left   int
	status int
}

// ---------------------------------------------------------------------------
// getFile and downloads.

func (s *Server) getFile(_ context.Context, p params) (any, *Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[strings.TrimSpace(p.get("file_id"))]
	if f == nil {
		return nil, fail(BadRequest("invalid file_id"))
	}
	if s.fileLimit > 0 && int64(len(f.data)) > s.fileLimit {
		return nil, fail(BadRequest("file is too big"))
	}
	if !f.issued {
		f.issued = true
		s.notifyLocked()
	}
	return &models.File{
		FileID:       f.id,
		FileUniqueID: f.uniqueID,
		FileSize:     int64(len(f.data)),
		FilePath:     f.path,
	}, nil
}

// serveFile answers GET /file/bot<token>/<file_path>, the URL
// bot.FileDownloadLink builds. rest is the URL path after "/file/bot".
func (s *Server) serveFile(w http.ResponseWriter, rest string) {
	token, filePath, _ := strings.Cut(rest, "/")
	if token != s.token {
		writeFailure(w, Failure{Code: http.StatusUnauthorized, Description: "Unauthorized"})
		return
	}
	s.mu.Lock()
	if len(s.downloadFailures) > 0 {
		r := &s.downloadFailures[0]
		status := r.status
		if r.left--; r.left == 0 {
			s.downloadFailures = s.downloadFailures[1:]
		}
		s.notifyLocked()
		s.mu.Unlock()
		writeFailure(w, Failure{Code: status, Description: http.StatusText(status)})
		return
	}
	f := s.filePaths[filePath]
	if f == nil || !f.issued {
		s.mu.Unlock()
		writeFailure(w, Failure{Code: http.StatusNotFound, Description: "Not Found"})
		return
	}
	s.downloads++
	s.notifyLocked()
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(f.data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(f.data) // f.data never changes: no lock needed
}
