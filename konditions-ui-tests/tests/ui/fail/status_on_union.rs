use konditions_core::ConditionalStatus;

#[derive(ConditionalStatus)]
pub union WriterStatus {
    pub rows: u64,
}

fn main() {}
