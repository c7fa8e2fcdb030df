//! Operators built with konditions. The PostgresWriter operator (the
//! kubebuilder tutorial, done right) lands here.
