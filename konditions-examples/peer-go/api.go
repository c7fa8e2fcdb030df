package main

// The API types, as `kubebuilder create api --group demo --version v1
// --kind PostgresWriter` scaffolds them and a user fills them in. They
// match the CRD the Rust operator ships (deploy/crds/), which is the one
// installed: the peer reads and writes only spec, status.conditions and
// status.observedGeneration. The deep-copy functions are written out here
// as controller-gen would generate them (zz_generated.deepcopy.go), to keep
// the module to the few files the cache key hashes.

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	crscheme "sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the PostgresWriter API.
	GroupVersion = schema.GroupVersion{Group: "demo.yash.com", Version: "v1"}

	// SchemeBuilder registers the API's types with a scheme.
	SchemeBuilder = &crscheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the API's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// PostgresWriterSpec is the desired row: the row with id
// "<namespace>/<name>" in Table holds Name, Age and Country.
type PostgresWriterSpec struct {
	Table   string `json:"table"`
	Name    string `json:"name"`
	Age     int32  `json:"age"`
	Country string `json:"country"`
}

// PostgresWriterStatus is the observed state.
type PostgresWriterStatus struct {
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
	ObservedGeneration int64              `json:"observedGeneration,omitempty"`
}

// PostgresWriter is a row in a PostgreSQL table.
type PostgresWriter struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PostgresWriterSpec   `json:"spec,omitempty"`
	Status PostgresWriterStatus `json:"status,omitempty"`
}

// PostgresWriterList is a list of PostgresWriters.
type PostgresWriterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PostgresWriter `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PostgresWriter{}, &PostgresWriterList{})
}

// DeepCopyInto copies the receiver into out.
func (in *PostgresWriterStatus) DeepCopyInto(out *PostgresWriterStatus) {
	*out = *in
	if in.Conditions != nil {
		out.Conditions = make([]metav1.Condition, len(in.Conditions))
		for i := range in.Conditions {
			in.Conditions[i].DeepCopyInto(&out.Conditions[i])
		}
	}
}

// DeepCopyInto copies the receiver into out.
func (in *PostgresWriter) DeepCopyInto(out *PostgresWriter) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Spec = in.Spec
	in.Status.DeepCopyInto(&out.Status)
}

// DeepCopy returns a copy of the receiver.
func (in *PostgresWriter) DeepCopy() *PostgresWriter {
	if in == nil {
		return nil
	}
	out := new(PostgresWriter)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject returns a copy of the receiver as a runtime.Object.
func (in *PostgresWriter) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies the receiver into out.
func (in *PostgresWriterList) DeepCopyInto(out *PostgresWriterList) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]PostgresWriter, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a copy of the receiver.
func (in *PostgresWriterList) DeepCopy() *PostgresWriterList {
	if in == nil {
		return nil
	}
	out := new(PostgresWriterList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject returns a copy of the receiver as a runtime.Object.
func (in *PostgresWriterList) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}
