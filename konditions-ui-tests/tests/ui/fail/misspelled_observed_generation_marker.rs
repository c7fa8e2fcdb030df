use konditions_core::{ConditionalStatus, Conditions};

#[derive(ConditionalStatus, Default)]
pub struct WriterStatus {
    pub conditions: Conditions,
    #[konditions(observed_generaton)]
    pub seen: Option<i64>,
}

fn main() {}
