use konditions_core::{ConditionalStatus, Conditions};

#[derive(ConditionalStatus, Default)]
pub struct WriterStatus {
    pub conditions: Conditions,
    pub observed_generation: i64,
}

fn main() {}
