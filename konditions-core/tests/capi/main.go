// Command capi-conditions is the Cluster API side of konditions' differential
// test of its condition algebra: it runs sigs.k8s.io/cluster-api's own
// util/conditions (NewSummaryCondition, NewAggregateCondition,
// NewMirrorCondition with the default merge strategy) on cases read as JSON.
//
// Input on stdin: one JSON array of cases; output on stdout: one JSON array
// of results, same order and length. A malformed case (unknown op, empty
// kind, unknown field) is a broken test, not a CAPI answer: the program then
// exits with status 2 and says why on stderr.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cluster-api/util/conditions"
)

// object is what CAPI reads conditions from. Besides the Getter interface it
// is a runtime.Object with metadata, because CAPI takes the kind that appears
// in aggregate messages from the object's TypeMeta (falling back to the Go
// type name, which would leak this program's type name into the messages).
type object struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	conditions []metav1.Condition
}

func (o *object) GetConditions() []metav1.Condition { return o.conditions }

func (o *object) DeepCopyObject() runtime.Object {
	c := *o
	c.conditions = slices.Clone(o.conditions)
	return &c
}

type inputObject struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Generation int64  `json:"generation"`
	// metav1.Condition itself: its JSON is the wire format the cases use, and
	// an absent lastTransitionTime is the zero time, as in CAPI's tests.
	Conditions []metav1.Condition `json:"conditions"`
}

func (in inputObject) build() (*object, error) {
	if in.Kind == "" {
		return nil, fmt.Errorf("object %q has no kind", in.Name)
	}
	return &object{
		TypeMeta:   metav1.TypeMeta{Kind: in.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: in.Name, Generation: in.Generation},
		conditions: in.Conditions,
	}, nil
}

type fallback struct {
	Status  metav1.ConditionStatus `json:"status"`
	Reason  string                 `json:"reason"`
	Message string                 `json:"message"`
}

type testCase struct {
	Name            string             `json:"name"`
	Op              string             `json:"op"`
	Object          *inputObject       `json:"object"`
	Objects         []inputObject      `json:"objects"`
	Target          string             `json:"target"`
	SourceType      string             `json:"sourceType"`
	ForTypes        []string           `json:"forTypes"`
	Negative        []string           `json:"negative"`
	IgnoreIfMissing []string           `json:"ignoreIfMissing"`
	Override        []metav1.Condition `json:"override"`
	Fallback        *fallback          `json:"fallback"`
	// What CAPI's own test expects; the caller compares, this program only
	// accepts the field so that unknown fields can stay an error.
	Expected json.RawMessage `json:"expected"`
}

type outputCondition struct {
	Type    string                 `json:"type"`
	Status  metav1.ConditionStatus `json:"status"`
	Reason  string                 `json:"reason"`
	Message string                 `json:"message"`
}

type result struct {
	Name      string           `json:"name"`
	Condition *outputCondition `json:"condition"`
	Error     *string          `json:"error"`
}

func main() {
	decoder := json.NewDecoder(bufio.NewReader(os.Stdin))
	decoder.DisallowUnknownFields()
	var cases []testCase
	if err := decoder.Decode(&cases); err != nil {
		fail("reading the cases: %v", err)
	}
	results := make([]result, 0, len(cases))
	for _, c := range cases {
		condition, capiErr, err := run(c)
		if err != nil {
			fail("case %q: %v", c.Name, err)
		}
		r := result{Name: c.Name}
		if capiErr != nil {
			message := capiErr.Error()
			r.Error = &message
		} else {
			r.Condition = &outputCondition{
				Type:    condition.Type,
				Status:  condition.Status,
				Reason:  condition.Reason,
				Message: condition.Message,
			}
		}
		results = append(results, r)
	}
	out := bufio.NewWriter(os.Stdout)
	encoder := json.NewEncoder(out)
	// The messages are compared as strings; keep '<', '>' and '&' readable
	// in failures.
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(results); err != nil {
		fail("writing the results: %v", err)
	}
	if err := out.Flush(); err != nil {
		fail("writing the results: %v", err)
	}
}

// run returns CAPI's condition or CAPI's error for the case; the last error
// is for a case this program cannot run (malformed input).
func run(c testCase) (condition *metav1.Condition, capiErr error, err error) {
	// A panic inside CAPI is an answer about CAPI, not a reason to lose the
	// other cases' results.
	defer func() {
		if p := recover(); p != nil {
			condition, capiErr = nil, fmt.Errorf("panic in cluster-api: %v", p)
		}
	}()
	switch c.Op {
	case "summary":
		if c.Object == nil {
			return nil, nil, fmt.Errorf("summary needs \"object\"")
		}
		source, err := c.Object.build()
		if err != nil {
			return nil, nil, err
		}
		// The options are passed only when given, as a CAPI caller would:
		// an empty ForConditionTypes is itself a case CAPI rejects.
		var opts []conditions.SummaryOption
		if len(c.ForTypes) > 0 {
			opts = append(opts, conditions.ForConditionTypes(c.ForTypes))
		}
		if len(c.Negative) > 0 {
			opts = append(opts, conditions.NegativePolarityConditionTypes(c.Negative))
		}
		if len(c.IgnoreIfMissing) > 0 {
			opts = append(opts, conditions.IgnoreTypesIfMissing(c.IgnoreIfMissing))
		}
		if len(c.Override) > 0 {
			// The owner of an override does not show in summary messages;
			// it is the source object, as in CAPI's own callers.
			owner := conditions.ConditionOwnerInfo{Kind: c.Object.Kind, Name: c.Object.Name}
			overrides := make(conditions.OverrideConditions, 0, len(c.Override))
			for _, o := range c.Override {
				overrides = append(overrides, conditions.ConditionWithOwnerInfo{OwnerResource: owner, Condition: o})
			}
			opts = append(opts, overrides)
		}
		condition, capiErr = conditions.NewSummaryCondition(source, c.Target, opts...)
		return condition, capiErr, nil
	case "aggregate":
		sources := make([]*object, 0, len(c.Objects))
		for _, in := range c.Objects {
			source, err := in.build()
			if err != nil {
				return nil, nil, err
			}
			sources = append(sources, source)
		}
		var opts []conditions.AggregateOption
		if c.Target != "" {
			opts = append(opts, conditions.TargetConditionType(c.Target))
		}
		if len(c.Negative) > 0 {
			opts = append(opts, conditions.NegativePolarityConditionTypes(c.Negative))
		}
		condition, capiErr = conditions.NewAggregateCondition(sources, c.SourceType, opts...)
		return condition, capiErr, nil
	case "mirror":
		if c.Object == nil {
			return nil, nil, fmt.Errorf("mirror needs \"object\"")
		}
		source, err := c.Object.build()
		if err != nil {
			return nil, nil, err
		}
		var opts []conditions.MirrorOption
		if c.Target != "" {
			opts = append(opts, conditions.TargetConditionType(c.Target))
		}
		if c.Fallback != nil {
			opts = append(opts, conditions.FallbackCondition{
				Status:  c.Fallback.Status,
				Reason:  c.Fallback.Reason,
				Message: c.Fallback.Message,
			})
		}
		return conditions.NewMirrorCondition(source, c.SourceType, opts...), nil, nil
	default:
		return nil, nil, fmt.Errorf("unknown op %q (summary, aggregate or mirror)", c.Op)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "capi-conditions: "+format+"\n", args...)
	os.Exit(2)
}
