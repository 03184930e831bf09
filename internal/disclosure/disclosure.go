// Package disclosure decides which counts of a statistics table may be
// shown to people outside the mission, so that no count names a person.
//
// Missions share Vigil's statistics with headquarters, where "1 report from
// country X in March" can be a person. The rule here is primary and
// complementary cell suppression for one-dimensional tables:
//
//   - Primary: every cell whose count is below the threshold k (default
//     [DefaultMinCount]) is suppressed.
//   - Complementary: when exactly one cell is suppressed, it could be
//     worked out as the total minus the cells shown; so the smallest other
//     cell is suppressed too (on a tie, the first of them in the order
//     given, so the choice is the same every time for the same table).
//   - A total below k is suppressed, and then so is every cell. A count
//     of zero is never suppressed: it names nobody.
//
// All suppressed cells are shown alike (as "<k", see [Hidden]): were the
// complementary one marked differently, a reader who knows it is at least
// k could bound the small one again.
//
// The package only decides; it counts nothing and knows nothing of cases.
package disclosure

import (
	"errors"
	"fmt"
	"strconv"
)

// DefaultMinCount is the threshold k when none is configured.
const DefaultMinCount = 5

// ErrMinCount is returned by [CheckMinCount] for a threshold that would
// show counts of one.
var ErrMinCount = errors.New("want a whole number of at least 2 (counts below it are hidden; the default is 5)")

// CheckMinCount returns ErrMinCount unless k is at least 2: with k = 1
// nothing would be suppressed, and a count of one is a person.
func CheckMinCount(k int) error {
	if k < 2 {
		return ErrMinCount
	}
	return nil
}

// ParseMinCount reads a threshold as a person types it; "" is
// DefaultMinCount. The error does not name the setting: the caller does.
func ParseMinCount(s string) (int, error) {
	if s == "" {
		return DefaultMinCount, nil
	}
	k, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, ErrMinCount)
	}
	if err := CheckMinCount(k); err != nil {
		return 0, err
	}
	return k, nil
}

// Hidden is how a suppressed count is shown with threshold k: "<5".
func Hidden(k int) string { return "<" + strconv.Itoa(k) }

// Suppress applies the rule to one table: cells are its counts in the order
// shown, total the number of cases it counts, k the threshold (at least 2;
// see CheckMinCount). It returns which cells to hide and whether to hide
// the total. It is pure: the same table gives the same answer.
//
// The complementary step is needed only where the cells add up to the
// total (one value per case: country, month). Vigil applies it to every
// table, multi-valued ones included (category, perpetrator: a case counts
// under each of its values): there the total minus the shown cells is not
// the hidden cell, but it still bounds it, and a bound near a small number
// may be enough to find a person; hiding one more cell costs little. This
// is the conservative choice.
func Suppress(cells []int, total, k int) (hidden []bool, totalHidden bool) {
	hidden = make([]bool, len(cells))
	if total < k && total != 0 {
		for i := range hidden {
			hidden[i] = true
		}
		return hidden, true
	}
	n := 0
	for i, c := range cells {
		if c < k && c != 0 {
			hidden[i] = true
			n++
		}
	}
	if n != 1 {
		return hidden, false
	}
	smallest := -1
	for i, c := range cells {
		if !hidden[i] && c != 0 && (smallest < 0 || c < cells[smallest]) {
			smallest = i
		}
	}
	if smallest >= 0 {
		hidden[smallest] = true
	}
	return hidden, false
}
