package disclosure_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/vigil-hrd/vigil/internal/disclosure"
)

func TestSuppress(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cells       []int
		total, k    int
		hidden      []bool
		totalHidden bool
	}{
		{"nothing small", []int{9, 7, 5}, 21, 5, []bool{false, false, false}, false},
		{"one small: the smallest other goes too", []int{9, 7, 6, 2}, 24, 5, []bool{false, false, true, true}, false},
		{"two small: enough", []int{9, 7, 3, 2}, 21, 5, []bool{false, false, true, true}, false},
		{"all small", []int{4, 3, 1}, 8, 5, []bool{true, true, true}, false},
		{"tie for the complementary cell: the first", []int{6, 8, 6, 1}, 21, 5, []bool{true, false, false, true}, false},
		{"small total: everything", []int{3, 1}, 4, 5, []bool{true, true}, true},
		{"total exactly k is shown", []int{4, 1}, 5, 5, []bool{true, true}, false},
		{"one cell, its count the total", []int{12}, 12, 5, []bool{false}, false},
		{"k is configurable", []int{9, 7, 3}, 19, 10, []bool{true, true, true}, false},
		{"k of 2 hides only ones", []int{9, 2, 1}, 12, 2, []bool{false, true, true}, false},
		{"multi-valued: rows add up to more than the total", []int{8, 6, 2}, 10, 5, []bool{false, true, true}, false},
		{"no cells", nil, 7, 5, []bool{}, false},
		{"zeros are neither hidden nor hide", []int{9, 6, 2, 0}, 17, 5, []bool{false, true, true, false}, false},
		{"no cases: a zero names nobody", nil, 0, 5, []bool{}, false},
		{"a lone count, as of unreadable reports", nil, 3, 5, []bool{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hidden, totalHidden := disclosure.Suppress(tc.cells, tc.total, tc.k)
			if !slices.Equal(hidden, tc.hidden) || totalHidden != tc.totalHidden {
				t.Errorf("Suppress(%v, %d, %d) = %v, %v; want %v, %v", tc.cells, tc.total, tc.k, hidden, totalHidden, tc.hidden, tc.totalHidden)
			}
		})
	}
}

// TestSuppressedCellCannotBeRecomputed builds a country table where one
// cell is below k and the rows add up to the total: with primary
// suppression alone, the total minus the cells shown is that cell. With
// the complementary step, every cell a reader can work out from what is
// shown is a cell that is shown.
func TestSuppressedCellCannotBeRecomputed(t *testing.T) {
	cells := []int{40, 12, 7, 3} // one value per case: they add up to the total
	total := 62
	const k = 5

	// Primary suppression alone would hide only the 3 …
	primary := make([]bool, len(cells))
	for i, c := range cells {
		primary[i] = c < k
	}
	if got, ok := recomputable(cells, primary, total); !ok || got != 3 {
		t.Fatalf("the test is not built as meant: primary suppression alone should let 3 be recomputed, got %d %v", got, ok)
	}
	// … which the total gives away. The rule hides one more.
	hidden, totalHidden := disclosure.Suppress(cells, total, k)
	if totalHidden {
		t.Fatal("a total above k was hidden")
	}
	if n, ok := recomputable(cells, hidden, total); ok {
		t.Fatalf("a hidden cell can be recomputed from the total: %d (hidden %v)", n, hidden)
	}
	if !hidden[3] || !hidden[2] || hidden[0] || hidden[1] {
		t.Errorf("hidden %v, want the 3 and the smallest other cell, 7", hidden)
	}
}

// recomputable reports whether exactly one cell is hidden, in which case
// the total minus the shown cells is its value.
func recomputable(cells []int, hidden []bool, total int) (int, bool) {
	n, rest := 0, total
	for i, c := range cells {
		if hidden[i] {
			n++
		} else {
			rest -= c
		}
	}
	return rest, n == 1
}

func TestMinCountBelowTwoRefused(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"", disclosure.DefaultMinCount, true},
		{"2", 2, true},
		{"10", 10, true},
		{"1", 0, false},
		{"0", 0, false},
		{"-5", 0, false},
		{"five", 0, false},
		{"5.5", 0, false},
	} {
		k, err := disclosure.ParseMinCount(tc.in)
		if tc.ok && (err != nil || k != tc.want) {
			t.Errorf("ParseMinCount(%q) = %d, %v; want %d", tc.in, k, err, tc.want)
		}
		if !tc.ok && !errors.Is(err, disclosure.ErrMinCount) {
			t.Errorf("ParseMinCount(%q) = %d, %v; want ErrMinCount", tc.in, k, err)
		}
	}
	if disclosure.CheckMinCount(1) == nil || disclosure.CheckMinCount(2) != nil {
		t.Error("CheckMinCount: 1 must be refused and 2 taken")
	}
	if got := disclosure.Hidden(5); got != "<5" {
		t.Errorf("Hidden(5) = %q", got)
	}
}
