//! A declared condition set of 32 types (`Cond00` .. `Cond31`) for tests and
//! benchmarks that need many distinct typed conditions.

use konditions_core::ConditionType;

pub(crate) const NAMES: [&str; 32] = [
    "Cond00", "Cond01", "Cond02", "Cond03", "Cond04", "Cond05", "Cond06", "Cond07", "Cond08",
    "Cond09", "Cond10", "Cond11", "Cond12", "Cond13", "Cond14", "Cond15", "Cond16", "Cond17",
    "Cond18", "Cond19", "Cond20", "Cond21", "Cond22", "Cond23", "Cond24", "Cond25", "Cond26",
    "Cond27", "Cond28", "Cond29", "Cond30", "Cond31",
];

/// Condition type number `n` of [`NAMES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Numbered(pub(crate) u8);

const DECLARED: [Numbered; 32] = {
    let mut all = [Numbered(0); 32];
    let mut i = 0;
    while i < 32 {
        all[i] = Numbered(i as u8);
        i += 1;
    }
    all
};

impl ConditionType for Numbered {
    fn as_str(&self) -> &str {
        NAMES[usize::from(self.0)]
    }

    fn parse(value: &str) -> Option<Self> {
        NAMES
            .iter()
            .position(|n| *n == value)
            .map(|i| Numbered(i as u8))
    }

    fn declared() -> &'static [Self] {
        &DECLARED
    }
}
