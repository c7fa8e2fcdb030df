// Command kstatus prints what the kstatus library of sigs.k8s.io/cli-utils
// (the health check of Flux, kpt and the cli-utils appliers) says about one
// Kubernetes object: it reads the object as JSON on stdin and writes
// {"status": ..., "message": ...} as JSON on stdout. konditions-testing
// builds it from this pinned module and runs it from tests.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	// Unstructured's own decoder reads whole numbers as int64, as the
	// client-go decoders of a controller do (plain encoding/json would
	// make them float64, which kstatus refuses).
	object := &unstructured.Unstructured{}
	if err := object.UnmarshalJSON(input); err != nil {
		fail("the input is not a Kubernetes object: %v", err)
	}
	computed, err := status.Compute(object)
	if err != nil {
		fail("status.Compute: %v", err)
	}
	out, err := json.Marshal(result{Status: computed.Status.String(), Message: computed.Message})
	if err != nil {
		fail("encoding the result: %v", err)
	}
	fmt.Println(string(out))
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kstatus: "+format+"\n", args...)
	os.Exit(1)
}
