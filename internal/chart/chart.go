// Package chart renders a horizontal bar chart for the statistics that staff
// paste into written reports ("reports by country", "by category", …).
//
// # What it draws
//
// On a white background, from top to bottom: the title (bold), the subtitle
// (grey, e.g. "Reports received 2026-01-01 to 2026-06-30, N = 123"), then one
// row per [Bar], in the order given (the caller sorts): the label
// right-aligned left of the bars, a bar in one calm colour (#1f4e79) whose
// length is proportional to its count (the largest count spans the plot
// area), and the count printed after the end of the bar. A thin vertical axis
// line separates the labels from the bars. A chart without bars shows
// "No data" instead of failing. An empty Title or Subtitle is left out.
//
// Labels are shortened to 40 columns with a trailing "…" (an East Asian wide
// character counts as two columns), or further if they would still crowd out
// the bars (forty W's); a title or subtitle too long for the width is
// shortened the same way. In every text, runs of white space (line breaks
// included) become one space and other control characters are dropped.
// Negative counts are printed as given but drawn as empty bars.
//
// # Suppressed counts
//
// A bar whose [Bar.Hidden] is set stands for a count that must not be
// shown (see internal/disclosure): it is drawn as a hatched stub of fixed
// length with the Hidden text ("<5") after it. Its Count is never read, so
// nothing in the chart (text, bar lengths, the scale of the other bars)
// depends on it: the output is the same whatever the hidden count is.
//
// # Formats
//
//   - SVG ([Chart.SVG]): 800 px wide, the height grows with the number of
//     bars, font-family sans-serif. Every text is XML-escaped, so labels from
//     data cannot break the markup. Any Unicode text (Arabic, Cyrillic, CJK, …)
//     is drawn by the viewer's fonts. Use SVG for non-Latin labels.
//   - PNG ([Chart.PNG]): the same layout at twice the resolution, 1600 px
//     wide, drawn with the 7×13 bitmap font of golang.org/x/image/font/basicfont,
//     which has ASCII glyphs only. The PNG therefore shows Latin letters with
//     diacritics without them ("Côte d’Ivoire" → "Cote d'Ivoire") and every
//     other non-ASCII character as '?': an Arabic country name comes out as
//     "?????". The SVG is unaffected.
//
// [Chart.WriteFile] picks the format from the file name's extension.
package chart

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
	"golang.org/x/text/unicode/bidi"
	"golang.org/x/text/unicode/norm"
	xwidth "golang.org/x/text/width"
)

// Bar is one bar: a label and a count.
type Bar struct {
	Label string
	Count int
	// Hidden, when not empty, withholds the count: the bar is a hatched
	// stub of fixed length followed by this text (such as "<5"), and
	// Count is not read.
	Hidden string
}

// Chart is what to draw.
type Chart struct {
	Title    string
	Subtitle string // e.g. "Reports received 2026-01-01 to 2026-06-30, N = 123"
	Bars     []Bar
}

// Layout, in SVG pixels. The PNG uses the same layout at pngScale.
const (
	width       = 800 // SVG width
	pngScale    = 2   // PNG pixels per SVG pixel
	margin      = 24  // around the whole chart
	titleSize   = 20  // font size of the title
	bodySize    = 13  // font size of everything else
	titleGap    = 6   // between title and subtitle
	headerGap   = 18  // between the header and the first bar
	rowHeight   = 28  // one bar with its gap
	barHeight   = 18  //
	labelGap    = 8   // between a label's end and the axis
	countGap    = 6   // between a bar's end and its count
	minPlot     = 240 // the longest bar is at least this long
	maxLabelCol = 40  // labels are shortened to this many columns
	maxTextCol  = 200 // titles are shortened to at most this many columns
	noDataRows  = 2   // height of the "No data" area, in rows
	stubLen     = 14  // length of a hidden count's bar
	hatch       = 6   // period of its stripes
)

const (
	ellipsis = '…'
	noData   = "No data"
)

// The colours. The PNG palette holds exactly these.
var (
	white     = color.RGBA{0xff, 0xff, 0xff, 0xff}
	barColour = color.RGBA{0x1f, 0x4e, 0x79, 0xff} // #1f4e79
	ink       = color.RGBA{0x22, 0x22, 0x22, 0xff} // title, labels, counts
	grey      = color.RGBA{0x55, 0x55, 0x55, 0xff} // subtitle, "No data"
	axis      = color.RGBA{0x44, 0x44, 0x44, 0xff}
)

// WriteFile writes the chart to path as SVG or PNG, chosen by the extension
// (.svg or .png, in any case); it fails for other extensions without creating
// the file. The file gets mode 0600, like the other statistics Vigil writes:
// counts by country or perpetrator are sensitive.
func (c Chart) WriteFile(path string) error {
	var render func(io.Writer) error
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".svg":
		render = c.SVG
	case ".png":
		render = c.PNG
	default:
		return fmt.Errorf("chart: %s: unsupported file type %q (use .svg or .png)", path, ext)
	}
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	_, err = f.Write(buf.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("chart: write %s: %w", path, err)
	}
	return nil
}

// face measures and prepares text for one output format.
type face struct {
	prep  func(string) string  // what the format can draw of a text
	body  func(string) float64 // width at bodySize, in SVG pixels
	title func(string) float64 // width of the (bold) title, in SVG pixels
}

// layout is the geometry shared by both formats, in SVG pixels.
type layout struct {
	height           float64
	title, subtitle  string
	titleTop, subTop float64 // top of the text line
	barsTop          float64 // top of the first row
	barX, plotW      float64 // where bars start; length of the longest
	labelRight       float64 // where labels end
	labels, counts   []string
	lens             []float64 // each bar's length
	hidden           []bool    // whether each bar's count is withheld
	maxCount         int       // of the counts shown
}

func (c Chart) layout(f face) layout {
	l := layout{}
	y := float64(margin)
	textW := float64(width - 2*margin)
	if t := fit(c.Title, maxTextCol, textW, f.prep, f.title); t != "" {
		l.title, l.titleTop = t, y
		y += titleSize + titleGap
	}
	if t := fit(c.Subtitle, maxTextCol, textW, f.prep, f.body); t != "" {
		l.subtitle, l.subTop = t, y
		y += bodySize
	}
	if l.title != "" || l.subtitle != "" {
		y += headerGap
	}
	l.barsTop = y

	var labelW, countW float64
	for _, b := range c.Bars {
		cnt := strconv.Itoa(b.Count)
		if b.Hidden != "" {
			cnt = fit(b.Hidden, maxLabelCol, width, f.prep, f.body)
		} else {
			l.maxCount = max(l.maxCount, b.Count)
		}
		l.counts = append(l.counts, cnt)
		l.hidden = append(l.hidden, b.Hidden != "")
		countW = max(countW, f.body(cnt))
	}
	// Labels are shortened further if they would leave too little room for
	// the bars (forty W's, say).
	maxLabelW := width - 2*margin - labelGap - countGap - countW - minPlot
	for _, b := range c.Bars {
		lab := fit(b.Label, maxLabelCol, maxLabelW, f.prep, f.body)
		l.labels = append(l.labels, lab)
		labelW = max(labelW, f.body(lab))
	}
	l.barX = math.Round(margin + labelW + labelGap)
	l.labelRight = l.barX - labelGap
	l.plotW = width - margin - countW - countGap - l.barX
	for _, b := range c.Bars {
		n := float64(stubLen)
		if b.Hidden == "" {
			n = l.barLen(b.Count)
		}
		l.lens = append(l.lens, n)
	}

	rows := len(c.Bars)
	if rows == 0 {
		rows = noDataRows
	}
	l.height = math.Ceil(y + float64(rows*rowHeight) + margin)
	return l
}

// barLen is the length in SVG pixels of the bar for count: proportional, at
// least one pixel for a positive count, zero for zero or a negative count.
func (l layout) barLen(count int) float64 {
	if count <= 0 || l.maxCount <= 0 {
		return 0
	}
	return max(1, l.plotW*float64(count)/float64(l.maxCount))
}

// rowMid is the vertical centre of row i.
func (l layout) rowMid(i int) float64 {
	return l.barsTop + float64(i)*rowHeight + rowHeight/2
}

// ---- Text ----

// clean makes s a single line of valid UTF-8: runs of white space (line
// breaks included) become one space, other control characters are dropped.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '\u2028' || r == '\u2029'
	}), " ")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// columns is how many columns r takes: two for East Asian wide characters,
// none for combining marks and format characters, one for the rest.
func columns(r rune) int {
	switch {
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		return 0
	case isWide(r):
		return 2
	}
	return 1
}

func isWide(r rune) bool {
	k := xwidth.LookupRune(r).Kind()
	return k == xwidth.EastAsianWide || k == xwidth.EastAsianFullwidth
}

// shorten cuts s to at most maxCols columns, ending in "…" when it cuts.
// For a right-to-left text (its first strong character is Arabic, Hebrew, …)
// a RIGHT-TO-LEFT MARK follows the ellipsis, so that it is shown at the end of
// the text (on the left) rather than after it on the right.
func shorten(s string, maxCols int) string {
	n := 0
	for _, r := range s {
		n += columns(r)
	}
	if n <= maxCols {
		return s
	}
	var b strings.Builder
	n = 0
	for _, r := range s {
		w := columns(r)
		if n+w > maxCols-1 {
			break
		}
		b.WriteRune(r)
		n += w
	}
	out := strings.TrimRightFunc(b.String(), unicode.IsSpace) + string(ellipsis)
	if rightToLeft(s) {
		out += "\u200F"
	}
	return out
}

// rightToLeft reports whether the first strong character of s is
// right-to-left.
func rightToLeft(s string) bool {
	for _, r := range s {
		p, _ := bidi.LookupRune(r)
		switch p.Class() {
		case bidi.L:
			return false
		case bidi.R, bidi.AL:
			return true
		}
	}
	return false
}

// fit cleans s and shortens it to at most maxCols columns and, as prepared
// for the format, at most maxW wide.
func fit(s string, maxCols int, maxW float64, prep func(string) string, measure func(string) float64) string {
	s = clean(s)
	for ; maxCols > 1; maxCols-- {
		t := prep(shorten(s, maxCols))
		if measure(t) <= maxW {
			return t
		}
	}
	return prep(string(ellipsis))
}

// ---- SVG ----

// svgFace estimates text widths for a typical sans-serif font (Arial,
// Helvetica, DejaVu Sans are close), erring on the wide side.
var svgFace = face{
	prep:  func(s string) string { return s },
	body:  func(s string) float64 { return ems(s) * bodySize },
	title: func(s string) float64 { return ems(s) * titleSize * 1.15 }, // bold
}

// ems estimates the width of s in ems. The values follow DejaVu Sans, the
// widest of the usual defaults; Arial and Helvetica are narrower.
func ems(s string) float64 {
	var w float64
	for _, r := range s {
		switch {
		case columns(r) == 0:
		case isWide(r) || r == ellipsis || r == '—' || strings.ContainsRune("mwMW", r):
			w += 1
		case r == ' ':
			w += 0.32
		case strings.ContainsRune("iljI.,:;'!|", r):
			w += 0.3
		case strings.ContainsRune("frt()[]-/\"", r):
			w += 0.42
		case r >= 'A' && r <= 'Z':
			w += 0.74
		case r >= '0' && r <= '9':
			w += 0.64
		case r >= 'a' && r <= 'z':
			w += 0.62
		default:
			w += 0.65
		}
	}
	return w * 1.05
}

// SVG writes the chart as a standalone SVG document.
func (c Chart) SVG(w io.Writer) error {
	l := c.layout(svgFace)
	var b bytes.Buffer
	text := func(s string) {
		xml.EscapeText(&b, []byte(s)) // cannot fail on a bytes.Buffer
	}
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"+
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%s\" viewBox=\"0 0 %d %s\" "+
		"font-family=\"sans-serif\" font-size=\"%d\" role=\"img\">\n",
		width, num(l.height), width, num(l.height), bodySize)
	if l.title != "" || l.subtitle != "" { // for screen readers
		b.WriteString("<title>")
		text(strings.Join(slices.DeleteFunc([]string{l.title, l.subtitle}, func(s string) bool { return s == "" }), " — "))
		b.WriteString("</title>\n")
	}
	fmt.Fprintf(&b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%s\" fill=\"%s\"/>\n", width, num(l.height), hex(white))
	if l.title != "" {
		fmt.Fprintf(&b, "<text x=\"%d\" y=\"%s\" font-size=\"%d\" font-weight=\"bold\" fill=\"%s\">",
			margin, num(l.titleTop+0.8*titleSize), titleSize, hex(ink))
		text(l.title)
		b.WriteString("</text>\n")
	}
	if l.subtitle != "" {
		fmt.Fprintf(&b, "<text x=\"%d\" y=\"%s\" fill=\"%s\">", margin, num(l.subTop+0.8*bodySize), hex(grey))
		text(l.subtitle)
		b.WriteString("</text>\n")
	}
	baseline := func(mid float64) string { return num(mid + 0.35*bodySize) }

	if len(c.Bars) == 0 {
		fmt.Fprintf(&b, "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\" fill=\"%s\">%s</text>\n",
			num(width/2), baseline(l.barsTop+noDataRows*rowHeight/2), hex(grey), noData)
		b.WriteString("</svg>\n")
		_, err := w.Write(b.Bytes())
		return err
	}

	if slices.Contains(l.hidden, true) {
		fmt.Fprintf(&b, "<defs><pattern id=\"hidden\" width=\"%d\" height=\"%d\" patternUnits=\"userSpaceOnUse\" "+
			"patternTransform=\"rotate(45)\"><rect width=\"2\" height=\"%d\" fill=\"%s\"/></pattern></defs>\n",
			hatch, hatch, hatch, hex(barColour))
	}
	fmt.Fprintf(&b, "<g fill=\"%s\">\n", hex(barColour))
	for i := range c.Bars {
		if n := l.lens[i]; n > 0 {
			fill := ""
			if l.hidden[i] {
				fill = ` fill="url(#hidden)" stroke="` + hex(barColour) + `" stroke-width="1"`
			}
			fmt.Fprintf(&b, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%d\"%s/>\n",
				num(l.barX), num(l.rowMid(i)-barHeight/2), num(n), barHeight, fill)
		}
	}
	b.WriteString("</g>\n")
	fmt.Fprintf(&b, "<g fill=\"%s\" text-anchor=\"end\">\n", hex(ink))
	for i, lab := range l.labels {
		fmt.Fprintf(&b, "<text x=\"%s\" y=\"%s\">", num(l.labelRight), baseline(l.rowMid(i)))
		text(lab)
		b.WriteString("</text>\n")
	}
	b.WriteString("</g>\n")
	fmt.Fprintf(&b, "<g fill=\"%s\">\n", hex(ink))
	for i := range c.Bars {
		fmt.Fprintf(&b, "<text x=\"%s\" y=\"%s\">", num(l.barX+l.lens[i]+countGap), baseline(l.rowMid(i)))
		text(l.counts[i])
		b.WriteString("</text>\n")
	}
	b.WriteString("</g>\n")
	fmt.Fprintf(&b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"%s\" stroke-width=\"1\" shape-rendering=\"crispEdges\"/>\n",
		num(l.barX-0.5), num(l.barsTop), num(l.barX-0.5), num(l.barsTop+float64(len(c.Bars))*rowHeight), hex(axis))
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

func hex(c color.RGBA) string {
	return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B)
}

// ---- PNG ----

// Text scales of the bitmap font, in PNG pixels per font pixel.
const (
	pngBodyScale  = 2 // 26 px lines, like 13 px text in the SVG
	pngTitleScale = 3 // 39 px lines, like 19.5 px text in the SVG
)

var pngFace = face{
	prep:  asciiOnly,
	body:  func(s string) float64 { return pngTextWidth(s, pngBodyScale, false) / pngScale },
	title: func(s string) float64 { return pngTextWidth(s, pngTitleScale, true) / pngScale },
}

func pngTextWidth(s string, scale int, bold bool) float64 {
	w := utf8.RuneCountInString(s) * basicfont.Face7x13.Advance * scale
	if bold {
		w++
	}
	return float64(w)
}

// asciiFold spells characters that have no decomposition to an ASCII letter.
var asciiFold = map[rune]string{
	'ß': "ss", 'Æ': "AE", 'æ': "ae", 'Œ': "OE", 'œ': "oe", 'Ø': "O", 'ø': "o",
	'Ł': "L", 'ł': "l", 'Đ': "D", 'đ': "d", 'Ð': "D", 'ð': "d", 'Þ': "Th",
	'þ': "th", 'ı': "i", 'Ħ': "H", 'ħ': "h",
	'‘': "'", '’': "'", '‚': "'", '“': `"`, '”': `"`, '„': `"`,
	'‐': "-", '‑': "-", '–': "-", '—': "-", '−': "-",
	'\u00a0': " ", '\u202f': " ", '\u2009': " ",
}

// asciiOnly turns s into what the basicfont face can draw: printable ASCII
// and the ellipsis (drawn by hand). Latin letters lose their diacritics, a few
// others are spelled out (ß → ss), combining marks and format characters are
// dropped, and every other character becomes '?'.
func asciiOnly(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= ' ' && r <= '~' || r == ellipsis:
			b.WriteRune(r)
		case columns(r) == 0:
		case asciiFold[r] != "":
			b.WriteString(asciiFold[r])
		case unicode.Is(unicode.Latin, r):
			base, _ := utf8.DecodeRuneInString(norm.NFD.String(string(r)))
			if base >= ' ' && base <= '~' {
				b.WriteRune(base)
			} else {
				b.WriteByte('?')
			}
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// canvas draws on a paletted image in PNG pixels.
type canvas struct {
	img *image.Paletted
}

var palette = color.Palette{white, barColour, ink, grey, axis}

func (cv canvas) fill(r image.Rectangle, c color.RGBA) {
	draw.Draw(cv.img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

// hatch draws r's outline and diagonal stripes inside it: the stub of a
// hidden count.
func (cv canvas) hatch(r image.Rectangle, c color.RGBA) {
	idx := uint8(palette.Index(c))
	r = r.Intersect(cv.img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			edge := x < r.Min.X+pngScale || x >= r.Max.X-pngScale || y < r.Min.Y+pngScale || y >= r.Max.Y-pngScale
			if edge || (x+y)%(hatch*pngScale) < 2*pngScale {
				cv.img.SetColorIndex(x, y, idx)
			}
		}
	}
}

// text draws s (as prepared by asciiOnly) with its top-left corner at (x, y).
func (cv canvas) text(s string, x, y, scale int, bold bool, c color.RGBA) {
	face := basicfont.Face7x13
	runes := []rune(s)
	adv, h := face.Advance, face.Ascent+face.Descent
	mask := image.NewAlpha(image.Rect(0, 0, len(runes)*adv, h))
	d := font.Drawer{Dst: mask, Src: image.Opaque, Face: face}
	for i, r := range runes {
		if r == ellipsis { // three dots on the baseline, in one cell
			for _, dx := range []int{1, 3, 5} {
				mask.SetAlpha(i*adv+dx, face.Ascent-1, color.Alpha{0xff})
			}
			continue
		}
		d.Dot = fixed.P(i*adv, face.Ascent)
		d.DrawString(string(r))
	}
	idx := uint8(palette.Index(c))
	b := cv.img.Bounds()
	for my := 0; my < h; my++ {
		for mx := 0; mx < mask.Rect.Dx(); mx++ {
			if mask.AlphaAt(mx, my).A < 0x80 {
				continue
			}
			px := image.Rect(x+mx*scale, y+my*scale, x+(mx+1)*scale, y+(my+1)*scale)
			if bold {
				px.Max.X++
			}
			px = px.Intersect(b)
			for py := px.Min.Y; py < px.Max.Y; py++ {
				for pxx := px.Min.X; pxx < px.Max.X; pxx++ {
					cv.img.SetColorIndex(pxx, py, idx)
				}
			}
		}
	}
}

// PNG writes the chart as a PNG image, 1600 pixels wide. Only ASCII text can
// be drawn: see the package documentation.
func (c Chart) PNG(w io.Writer) error {
	l := c.layout(pngFace)
	px := func(v float64) int { return int(math.Round(v * pngScale)) }
	cv := canvas{image.NewPaletted(image.Rect(0, 0, width*pngScale, px(l.height)), palette)}
	cv.fill(cv.img.Rect, white)

	bodyH := (basicfont.Face7x13.Ascent + basicfont.Face7x13.Descent) * pngBodyScale
	if l.title != "" {
		cv.text(l.title, px(margin), px(l.titleTop), pngTitleScale, true, ink)
	}
	if l.subtitle != "" {
		cv.text(l.subtitle, px(margin), px(l.subTop), pngBodyScale, false, grey)
	}
	if len(c.Bars) == 0 {
		mid := px(l.barsTop + noDataRows*rowHeight/2)
		tw := int(pngTextWidth(noData, pngBodyScale, false))
		cv.text(noData, (cv.img.Rect.Dx()-tw)/2, mid-bodyH/2, pngBodyScale, false, grey)
		return encodePNG(w, cv.img)
	}
	barX := px(l.barX)
	for i := range c.Bars {
		mid := px(l.rowMid(i))
		if n := l.lens[i]; n > 0 {
			top := mid - px(barHeight)/2
			r := image.Rect(barX, top, barX+max(1, px(n)), top+px(barHeight))
			if l.hidden[i] {
				cv.hatch(r, barColour)
			} else {
				cv.fill(r, barColour)
			}
		}
		lab := l.labels[i]
		lw := int(pngTextWidth(lab, pngBodyScale, false))
		cv.text(lab, px(l.labelRight)-lw, mid-bodyH/2, pngBodyScale, false, ink)
		cv.text(l.counts[i], barX+px(l.lens[i]+countGap), mid-bodyH/2, pngBodyScale, false, ink)
	}
	// The axis: one SVG pixel (two PNG pixels) wide, just left of the bars.
	cv.fill(image.Rect(barX-pngScale, px(l.barsTop), barX, px(l.barsTop+float64(len(c.Bars))*rowHeight)), axis)
	return encodePNG(w, cv.img)
}

func encodePNG(w io.Writer, img image.Image) error {
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(w, img); err != nil {
		return fmt.Errorf("chart: encode PNG: %w", err)
	}
	return nil
}
