use konditions_core::{ConditionalStatus, Conditions};

#[derive(ConditionalStatus, Default)]
pub struct WriterStatus {
    pub conditions: Conditions,
    #[konditions(observed_generation = false)]
    pub observed_generation: Option<i64>,
}

fn main() {}
