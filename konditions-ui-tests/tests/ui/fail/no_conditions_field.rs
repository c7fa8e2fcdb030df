use konditions_core::{ConditionalStatus, Conditions};

#[derive(ConditionalStatus, Default)]
pub struct WriterStatus {
    pub rows: u64,
    pub checks: Conditions,
}

fn main() {}
