package chart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// sample is a realistic chart, also written for visual review.
var sample = Chart{
	Title:    "Reports by country",
	Subtitle: "Reports received 2026-01-01 to 2026-06-30, N = 123",
	Bars: []Bar{
		{Label: "Belarus", Count: 41},
		{Label: "Syrian Arab Republic / سوريا", Count: 27},
		{Label: "Democratic Republic of the Congo", Count: 19},
		{Label: "Côte d’Ivoire", Count: 12},
		{Label: "Türkiye", Count: 9},
		{Label: "Territory with a needlessly long name for testing the ellipsis", Count: 8},
		{Label: "Myanmar", Count: 6},
		{Label: "Other countries", Count: 1, Hidden: "<5"},
		{Label: "Not stated", Count: 0},
	},
}

const hostile = `<script>&"'</script>]]><!--`

// svgTexts parses doc as XML (failing the test if it is not well-formed) and
// returns the root element's name and the character data of every <text>.
func svgTexts(t *testing.T, doc []byte) (root string, texts []string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var stack []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			if tok.Name.Local == "script" {
				t.Errorf("SVG contains a <script> element")
			}
			stack = append(stack, tok.Name.Local)
			if tok.Name.Local == "text" {
				texts = append(texts, "")
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 && stack[len(stack)-1] == "text" {
				texts[len(texts)-1] += string(tok)
			}
		}
	}
	return root, texts
}

func renderSVG(t *testing.T, c Chart) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := c.SVG(&b); err != nil {
		t.Fatalf("SVG: %v", err)
	}
	return b.Bytes()
}

func renderPNG(t *testing.T, c Chart) image.Image {
	t.Helper()
	var b bytes.Buffer
	if err := c.PNG(&b); err != nil {
		t.Fatalf("PNG: %v", err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatalf("PNG does not decode: %v", err)
	}
	return img
}

func countColour(img image.Image, want [3]uint8) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if uint8(r>>8) == want[0] && uint8(g>>8) == want[1] && uint8(bl>>8) == want[2] {
				n++
			}
		}
	}
	return n
}

var barRGB = [3]uint8{0x1f, 0x4e, 0x79}

func TestSVG(t *testing.T) {
	tests := []struct {
		name  string
		chart Chart
		want  []string // texts that must appear, each as one <text>
	}{
		{"sample", sample, []string{
			"Reports by country", sample.Subtitle, "Belarus", "41",
			"Syrian Arab Republic / سوريا", "27", "Côte d’Ivoire", "Not stated", "0",
		}},
		{"hostile label", Chart{Title: hostile, Bars: []Bar{{Label: hostile, Count: 3}, {Label: "a & b", Count: 1}}},
			[]string{hostile, "3", "a & b", "1"}},
		{"hostile subtitle", Chart{Subtitle: hostile, Bars: []Bar{{Label: "x", Count: 1}}}, []string{hostile}},
		{"no data", Chart{Title: "Reports by month"}, []string{"Reports by month", "No data"}},
		{"no data, no title", Chart{}, []string{"No data"}},
		{"negative count", Chart{Bars: []Bar{{Label: "odd", Count: -2}, {Label: "fine", Count: 5}}}, []string{"odd", "-2", "5"}},
		{"all zero", Chart{Bars: []Bar{{Label: "a", Count: 0}, {Label: "b", Count: 0}}}, []string{"a", "b", "0"}},
		{"control characters", Chart{Bars: []Bar{{Label: "line\nbreak\x00\x1b", Count: 1}}}, []string{"line break"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := renderSVG(t, tt.chart)
			root, texts := svgTexts(t, doc)
			if root != "svg" {
				t.Errorf("root element %q, want svg", root)
			}
			for _, w := range tt.want {
				if !slices.Contains(texts, w) {
					t.Errorf("no <text> %q; texts: %q", w, texts)
				}
			}
			if strings.Contains(string(doc), "<script") {
				t.Errorf("raw <script in output:\n%s", doc)
			}
			for _, attr := range []string{`width="800"`, `font-family="sans-serif"`, `fill="#ffffff"`} {
				if !strings.Contains(string(doc), attr) {
					t.Errorf("missing %s", attr)
				}
			}
			if n := strings.Count(string(doc), "<rect "); len(tt.chart.Bars) > 0 && tt.chart.Bars[0].Count > 0 && n < 2 {
				t.Errorf("%d <rect>, want background and bars", n)
			}
		})
	}
}

func TestSVGHeightGrows(t *testing.T) {
	h := func(n int) int {
		c := Chart{Title: "T"}
		for i := range n {
			c.Bars = append(c.Bars, Bar{Label: strconv.Itoa(i), Count: i + 1})
		}
		doc := renderSVG(t, c)
		var v struct {
			Height int `xml:"height,attr"`
		}
		if err := xml.Unmarshal(doc, &v); err != nil {
			t.Fatal(err)
		}
		return v.Height
	}
	if h1, h5 := h(1), h(5); h5 <= h1 {
		t.Errorf("height with 5 bars %d, with 1 bar %d", h5, h1)
	}
}

func TestSVGBarsInOrderAndProportional(t *testing.T) {
	doc := renderSVG(t, Chart{Bars: []Bar{{Label: "small", Count: 10}, {Label: "big", Count: 40}, {Label: "mid", Count: 20}}})
	var v struct {
		G []struct {
			Rect []struct {
				Y     float64 `xml:"y,attr"`
				Width float64 `xml:"width,attr"`
			} `xml:"rect"`
		} `xml:"g"`
	}
	if err := xml.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	rects := v.G[0].Rect
	if len(rects) != 3 {
		t.Fatalf("%d bars, want 3", len(rects))
	}
	if !(rects[0].Y < rects[1].Y && rects[1].Y < rects[2].Y) {
		t.Errorf("bars not in the given order: %+v", rects)
	}
	if r := rects[1].Width / rects[0].Width; r < 3.9 || r > 4.1 {
		t.Errorf("40 vs 10: width ratio %.2f, want 4", r)
	}
	if rects[1].Width < minPlot {
		t.Errorf("longest bar %.1f px, want at least %d", rects[1].Width, minPlot)
	}
}

func TestPNG(t *testing.T) {
	tests := []struct {
		name     string
		chart    Chart
		wantBars bool
	}{
		{"sample", sample, true},
		{"hostile and non-ASCII", Chart{Title: hostile, Subtitle: "سوريا 東京", Bars: []Bar{{Label: hostile, Count: 2}, {Label: "سوريا", Count: 1}}}, true},
		{"no data", Chart{Title: "Reports by month", Subtitle: "N = 0"}, false},
		{"no data, no title", Chart{}, false},
		{"all zero", Chart{Bars: []Bar{{Label: "a", Count: 0}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := renderPNG(t, tt.chart)
			if w := img.Bounds().Dx(); w != width*pngScale {
				t.Errorf("width %d, want %d", w, width*pngScale)
			}
			if n := countColour(img, barRGB); (n > 0) != tt.wantBars {
				t.Errorf("%d pixels of the bar colour, want bars: %v", n, tt.wantBars)
			}
			if n := countColour(img, [3]uint8{0xff, 0xff, 0xff}); n < img.Bounds().Dx()*img.Bounds().Dy()/2 {
				t.Errorf("only %d white pixels: background not white?", n)
			}
			if n := countColour(img, [3]uint8{ink.R, ink.G, ink.B}) + countColour(img, [3]uint8{grey.R, grey.G, grey.B}); n == 0 {
				t.Errorf("no text drawn")
			}
		})
	}
}

func TestPNGHeightGrows(t *testing.T) {
	prev := 0
	for _, n := range []int{1, 2, 10} {
		c := Chart{Title: "T", Subtitle: "S"}
		for i := range n {
			c.Bars = append(c.Bars, Bar{Label: "bar " + strconv.Itoa(i), Count: i + 1})
		}
		h := renderPNG(t, c).Bounds().Dy()
		if h <= prev {
			t.Errorf("%d bars: height %d, not more than %d", n, h, prev)
		}
		prev = h
	}
}

func TestPNGBarLengths(t *testing.T) {
	img := renderPNG(t, Chart{Bars: []Bar{{Label: "a", Count: 10}, {Label: "b", Count: 40}}})
	l := Chart{Bars: []Bar{{Label: "a", Count: 10}, {Label: "b", Count: 40}}}.layout(pngFace)
	run := func(i int) int {
		y := int(l.rowMid(i) * pngScale)
		n := 0
		for x := range img.Bounds().Dx() {
			r, g, b, _ := img.At(x, y).RGBA()
			if [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)} == barRGB {
				n++
			}
		}
		return n
	}
	a, b := run(0), run(1)
	if a == 0 || b < 4*a-2 || b > 4*a+2 {
		t.Errorf("bar lengths %d and %d, want ratio 4", a, b)
	}
}

func TestShorten(t *testing.T) {
	long := strings.Repeat("abcdefghij", 6)
	tests := []struct {
		in, want string
	}{
		{"Belarus", "Belarus"},
		{strings.Repeat("x", 40), strings.Repeat("x", 40)},
		{strings.Repeat("x", 41), strings.Repeat("x", 39) + "…"},
		{long, long[:39] + "…"},
		{strings.Repeat("word ", 10), strings.Repeat("word ", 7) + "word…"}, // no space before …
		{strings.Repeat("東", 25), strings.Repeat("東", 19) + "…"},            // wide: 2 columns each
		{strings.Repeat("é", 50), strings.Repeat("é", 39) + "…"},
		{strings.Repeat("e\u0301", 50), strings.Repeat("e\u0301", 39) + "…"},                          // marks stay with their letter
		{strings.Repeat("سوريا ", 10), string([]rune(strings.Repeat("سوريا ", 10))[:39]) + "…\u200F"}, // RLM: … on the left
	}
	for _, tt := range tests {
		if got := shorten(tt.in, maxLabelCol); got != tt.want {
			t.Errorf("shorten(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLongLabelsShortenedInBothFormats(t *testing.T) {
	long := "Territory with a needlessly long name for testing the ellipsis"
	want := long[:39] + "…"
	c := Chart{Bars: []Bar{{Label: long, Count: 3}}}

	_, texts := svgTexts(t, renderSVG(t, c))
	if !slices.Contains(texts, want) {
		t.Errorf("SVG texts %q, want %q", texts, want)
	}
	for _, s := range texts {
		if utf8.RuneCountInString(s) > maxLabelCol {
			t.Errorf("SVG text %q longer than %d", s, maxLabelCol)
		}
	}
	if got := c.layout(pngFace).labels[0]; got != want {
		t.Errorf("PNG label %q, want %q", got, want)
	}
	renderPNG(t, c)
}

func TestWideLabelsLeaveRoomForBars(t *testing.T) {
	c := Chart{Bars: []Bar{{Label: strings.Repeat("W", 60), Count: 1}, {Label: "a", Count: 1_000_000}}}
	for _, f := range []struct {
		name string
		face face
	}{{"svg", svgFace}, {"png", pngFace}} {
		l := c.layout(f.face)
		if lab := l.labels[0]; !strings.HasSuffix(lab, "…") || utf8.RuneCountInString(lab) > maxLabelCol {
			t.Errorf("%s: label %q not shortened", f.name, lab)
		}
		if f.face.body(l.labels[0]) > l.labelRight-margin {
			t.Errorf("%s: label wider than its column", f.name)
		}
		if l.plotW < minPlot-1 { // barX is rounded to a whole pixel
			t.Errorf("%s: plot %.0f px wide, want at least %d", f.name, l.plotW, minPlot)
		}
	}
}

func TestLongTitleFits(t *testing.T) {
	c := Chart{Title: strings.Repeat("Reports by country ", 20), Subtitle: strings.Repeat("N = 123, ", 40), Bars: []Bar{{Label: "a", Count: 1}}}
	for _, f := range []struct {
		name string
		face face
	}{{"svg", svgFace}, {"png", pngFace}} {
		l := c.layout(f.face)
		if !strings.HasSuffix(l.title, "…") || f.face.title(l.title) > width-2*margin {
			t.Errorf("%s: title %q (%.0f px) not shortened to fit", f.name, l.title, f.face.title(l.title))
		}
		if !strings.HasSuffix(l.subtitle, "…") || f.face.body(l.subtitle) > width-2*margin {
			t.Errorf("%s: subtitle %q not shortened to fit", f.name, l.subtitle)
		}
	}
}

func TestASCIIOnly(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Belarus", "Belarus"},
		{"Côte d’Ivoire", "Cote d'Ivoire"},
		{"Türkiye", "Turkiye"},
		{"São Tomé and Príncipe", "Sao Tome and Principe"},
		{"Łódź", "Lodz"},
		{"Straße – Nord", "Strasse - Nord"},
		{"e\u0301", "e"},
		{"سوريا", "?????"},
		{"Россия", "??????"},
		{"東京", "??"},
		{"abc…", "abc…"},
		{"سوريا…\u200F", "?????…"},
		{hostile, hostile},
	}
	for _, tt := range tests {
		if got := asciiOnly(tt.in); got != tt.want {
			t.Errorf("asciiOnly(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"sample.svg", "sample.png", "UPPER.SVG", "Upper.PNG"} {
		path := filepath.Join(dir, name)
		if err := sample.WriteFile(path); err != nil {
			t.Fatalf("WriteFile(%s): %v", name, err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		switch strings.ToLower(filepath.Ext(name)) {
		case ".svg":
			if root, _ := svgTexts(t, data); root != "svg" {
				t.Errorf("%s: root %q", name, root)
			}
		case ".png":
			if _, err := png.Decode(bytes.NewReader(data)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", name, fi.Mode(), err)
		}
	}
	// Overwriting a longer file leaves no trailing bytes.
	path := filepath.Join(dir, "sample.svg")
	if err := (Chart{}).WriteFile(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	svgTexts(t, data)

	for _, name := range []string{"chart.pdf", "chart", "chart.svg.txt", "chart.jpeg"} {
		path := filepath.Join(dir, name)
		if err := sample.WriteFile(path); err == nil {
			t.Errorf("WriteFile(%s): no error", name)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("WriteFile(%s) created the file", name)
		}
	}
	if err := sample.WriteFile(filepath.Join(dir, "missing", "x.svg")); err == nil {
		t.Errorf("WriteFile into a missing directory: no error")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriterErrors(t *testing.T) {
	if err := sample.SVG(failWriter{}); err == nil {
		t.Error("SVG: no error from a failing writer")
	}
	if err := sample.PNG(failWriter{}); err == nil {
		t.Error("PNG: no error from a failing writer")
	}
}

// TestWriteSample writes /tmp/chart-sample.svg and /tmp/chart-sample.png for
// visual review. It runs only with CHART_SAMPLE=1.
func TestWriteSample(t *testing.T) {
	if os.Getenv("CHART_SAMPLE") != "1" {
		t.Skip("set CHART_SAMPLE=1 to write /tmp/chart-sample.svg and .png")
	}
	for _, path := range []string{"/tmp/chart-sample.svg", "/tmp/chart-sample.png"} {
		if err := sample.WriteFile(path); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}
}

// TestHiddenCountLeavesNoTrace: a bar whose count is withheld is drawn
// without it. The chart is byte for byte the same whatever the hidden
// count (3, 1, or larger than every count shown, which would otherwise set
// the scale), in SVG and PNG; the SVG shows "<5" where the count was, no
// text holds the 3, and the hidden bar is a stub of fixed length.
func TestHiddenCountLeavesNoTrace(t *testing.T) {
	with := func(hidden int) Chart {
		return Chart{Title: "Reports by country", Subtitle: "N = 40", Bars: []Bar{
			{Label: "Ukraine (UA)", Count: 25}, {Label: "Georgia (GE)", Count: 12},
			{Label: "Belarus (BY)", Count: hidden, Hidden: "<5"}}}
	}
	svg3, png3 := renderSVG(t, with(3)), pngBytes(t, with(3))
	for _, other := range []int{1, 4, 0, 1000} {
		if !bytes.Equal(svg3, renderSVG(t, with(other))) {
			t.Errorf("the SVG with a hidden 3 differs from the one with a hidden %d", other)
		}
		if !bytes.Equal(png3, pngBytes(t, with(other))) {
			t.Errorf("the PNG with a hidden 3 differs from the one with a hidden %d", other)
		}
	}
	_, texts := svgTexts(t, svg3)
	if !slices.Contains(texts, "<5") {
		t.Errorf("the hidden bar is not labelled <5: %q", texts)
	}
	for _, s := range texts {
		if strings.Contains(s, "3") {
			t.Errorf("a text of the SVG holds the hidden 3: %q", s)
		}
	}
	var v struct {
		G []struct {
			Rect []struct {
				Width float64 `xml:"width,attr"`
				Fill  string  `xml:"fill,attr"`
			} `xml:"rect"`
		} `xml:"g"`
	}
	if err := xml.Unmarshal(svg3, &v); err != nil {
		t.Fatal(err)
	}
	rects := v.G[0].Rect
	if len(rects) != 3 || rects[2].Width != stubLen || rects[2].Fill != "url(#hidden)" || rects[0].Fill != "" {
		t.Fatalf("bars %+v: want two solid bars and a hatched stub %d px long", rects, stubLen)
	}
	// The shown bars keep their scale: the longest spans the plot area.
	if r := rects[0].Width / rects[1].Width; r < 25.0/12-0.05 || r > 25.0/12+0.05 {
		t.Errorf("25 vs 12: width ratio %.2f", r)
	}
}

func pngBytes(t *testing.T, c Chart) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := c.PNG(&b); err != nil {
		t.Fatalf("PNG: %v", err)
	}
	return b.Bytes()
}
