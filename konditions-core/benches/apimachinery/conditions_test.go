// The operations of konditions' `benches/conditions.rs`, done with
// apimachinery's meta.SetStatusCondition and meta.FindStatusCondition on
// lists of 1, 10 and 32 conditions: set (no-op, update, transition) and
// find, each on the last condition (the worst case of the linear lookup).
package apimachinery

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var sizes = []int{1, 10, 32}

// A fixed time, as konditions' benchmark uses a manual clock: a transition
// takes the condition's LastTransitionTime instead of reading the clock.
var at = metav1.NewTime(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))

func condition(t string, status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{
		Type:               t,
		Status:             status,
		ObservedGeneration: 1,
		LastTransitionTime: at,
		Reason:             reason,
		Message:            "all good",
	}
}

func list(n int) []metav1.Condition {
	conditions := make([]metav1.Condition, 0, n)
	for i := 0; i < n; i++ {
		meta.SetStatusCondition(&conditions, condition(fmt.Sprintf("Cond%02d", i), metav1.ConditionTrue, "Ready"))
	}
	return conditions
}

var changed bool

// alternate sets the last of n conditions to a, b, a, b, ...
func alternate(bench *testing.B, n int, a, b metav1.Condition) {
	conditions := list(n)
	flip := [2]metav1.Condition{a, b}
	bench.ReportAllocs()
	bench.ResetTimer()
	for i := 0; i < bench.N; i++ {
		changed = meta.SetStatusCondition(&conditions, flip[i&1])
	}
}

func BenchmarkSet(b *testing.B) {
	for _, n := range sizes {
		last := fmt.Sprintf("Cond%02d", n-1)
		same := condition(last, metav1.ConditionTrue, "Ready")
		b.Run(fmt.Sprintf("noop/%d", n), func(b *testing.B) {
			alternate(b, n, same, same)
		})
		b.Run(fmt.Sprintf("update/%d", n), func(b *testing.B) {
			alternate(b, n, condition(last, metav1.ConditionTrue, "Waiting"), same)
		})
		b.Run(fmt.Sprintf("transition/%d", n), func(b *testing.B) {
			alternate(b, n, condition(last, metav1.ConditionFalse, "Ready"), same)
		})
	}
}

var found *metav1.Condition

func BenchmarkFind(b *testing.B) {
	for _, n := range sizes {
		last := fmt.Sprintf("Cond%02d", n-1)
		b.Run(fmt.Sprintf("%d", n), func(b *testing.B) {
			conditions := list(n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				found = meta.FindStatusCondition(conditions, last)
			}
		})
	}
}
