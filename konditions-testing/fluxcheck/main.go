// Command flux-check prints what the status checks of Flux
// (github.com/fluxcd/pkg/runtime/conditions/check, the kstatus compliance
// checks Flux's controllers test themselves with) say about objects. It
// reads {"negativePolarity": [...], "objects": [...]} as JSON on stdin and
// writes one {"fail": [...], "warn": [...]} per object on stdout: the
// messages of the checks that fired, for the reconciled checker and the
// in-progress checker together. konditions-testing's own tests compare them
// with its Rust check.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/fluxcd/pkg/runtime/conditions/check"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
)

type input struct {
	NegativePolarity []string          `json:"negativePolarity"`
	Objects          []json.RawMessage `json:"objects"`
}

type result struct {
	Fail []string `json:"fail"`
	Warn []string `json:"warn"`
}

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		fail("the input is not {negativePolarity, objects}: %v", err)
	}
	results := []result{}
	for i, raw := range in.Objects {
		object := &unstructured.Unstructured{}
		if err := object.UnmarshalJSON(raw); err != nil {
			fail("object %d is not a Kubernetes object: %v", i, err)
		}
		results = append(results, checkOne(in.NegativePolarity, object))
	}
	encoded, err := json.Marshal(results)
	if err != nil {
		fail("encoding the result: %v", err)
	}
	fmt.Println(string(encoded))
}

func checkOne(negativePolarity []string, object *unstructured.Unstructured) result {
	getter := conditions.UnstructuredGetter(object)
	out := result{Fail: []string{}, Warn: []string{}}
	reconciled := check.NewChecker(nil, &check.Conditions{NegativePolarity: negativePolarity})
	inProgress := check.NewInProgressChecker(nil)
	for _, checker := range []*check.Checker{reconciled, inProgress} {
		checker.DisableFetch = true
		failed, warned := checker.Check(context.Background(), getter)
		out.Fail = append(out.Fail, messages(failed)...)
		out.Warn = append(out.Warn, messages(warned)...)
	}
	out.Fail = unique(out.Fail)
	out.Warn = unique(out.Warn)
	return out
}

func messages(err error) []string {
	if err == nil {
		return nil
	}
	if aggregate, ok := err.(kerrors.Aggregate); ok {
		var all []string
		for _, e := range aggregate.Errors() {
			all = append(all, e.Error())
		}
		return all
	}
	return []string{err.Error()}
}

func unique(all []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, m := range all {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "flux-check: "+format+"\n", args...)
	os.Exit(1)
}
