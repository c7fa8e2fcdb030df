use konditions_core::{ConditionalStatus, Conditions};

#[derive(ConditionalStatus, Default)]
pub struct WriterStatus {
    #[konditions(conditions)]
    pub mine: Conditions,
    #[konditions(conditions)]
    pub theirs: Conditions,
    pub observed_generation: Option<i64>,
}

fn main() {}
