use konditions_core::{ConditionalStatus, Conditions};

#[derive(ConditionalStatus, Default)]
#[konditions(types(TableReady))]
pub struct WriterStatus {
    pub conditions: Conditions,
    pub observed_generation: Option<i64>,
}

fn main() {}
