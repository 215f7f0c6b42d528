//! How the target held up: a run it did not answer smoothly is degraded, and says so.

use super::counted;

/// A run the target did not answer smoothly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Degraded {
    pub retries: usize,
    pub stalls: usize,
    pub inconclusive: usize,
    /// The fewest cases run at a time after backing off (0: never lowered).
    pub lowest_concurrency: usize,
}

impl Degraded {
    pub fn is_degraded(&self) -> bool {
        self.retries + self.stalls + self.inconclusive + self.lowest_concurrency > 0
    }

    /// One line for the top of every report.
    pub fn line(&self) -> String {
        let mut parts = vec![
            counted(self.inconclusive, "inconclusive case"),
            counted(self.retries, "retried request"),
            counted(self.stalls, "stall"),
        ];
        if self.lowest_concurrency > 0 {
            parts.push(format!(
                "concurrency lowered to {} case{} at a time",
                self.lowest_concurrency,
                if self.lowest_concurrency == 1 {
                    ""
                } else {
                    "s"
                }
            ));
        }
        format!(
            "degraded run: the target did not answer smoothly ({}); inconclusive cases are not conformance failures",
            parts.join(", ")
        )
    }
}
