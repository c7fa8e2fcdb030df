use konditions_core::ConditionalResource;

#[derive(ConditionalResource)]
#[konditions(types(Ready))]
pub enum Writer {
    Table,
}

fn main() {}
