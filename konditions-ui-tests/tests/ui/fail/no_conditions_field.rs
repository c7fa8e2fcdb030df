use konditions_core::{ConditionalStatus, Conditions};

#[derive(ConditionalStatus, Default)]
pub struct WriterStatus {
    pub rows: u64,
    pub checks: Conditions,
    pub observed_generation: Option<i64>,
}

fn main() {}
