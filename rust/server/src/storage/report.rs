//! What recovery found and did when a durable server started: damaged regions it
//! skipped (with how many records they held), a torn last write it cut off, and the
//! repairs it made. Logged at start (ERROR for lost data, WARN for the rest), printed
//! by `pyensign-fast serve`, and readable through `ServerHandle::recovery`.
//!
//! Concurrency: a plain value, built once during recovery.

use std::fmt;

/// A stretch of the log that could not be read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedRange {
    /// File offsets, `start..end`.
    pub start: u64,
    pub end: u64,
    /// Records that started in it (at least one unless only the file header was hit).
    pub records: u64,
}

/// The outcome of a recovery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Damaged regions, in file order. Their bytes stay in the file.
    pub damaged: Vec<DamagedRange>,
    /// `start..end` of an incomplete last write (never acknowledged) that was cut off.
    pub torn_tail: Option<(u64, u64)>,
    /// Repairs and other changes made to the data directory, in plain words.
    pub actions: Vec<String>,
    /// Records read back intact.
    pub records: u64,
}

impl RecoveryReport {
    /// True when nothing was lost, cut or changed.
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty() && self.torn_tail.is_none() && self.actions.is_empty()
    }

    /// Records lost to damage (a lower bound when a damaged region hides how many
    /// records it held).
    pub fn records_lost(&self) -> u64 {
        self.damaged.iter().map(|d| d.records).sum()
    }

    /// Bytes skipped as damaged or cut as torn.
    pub fn bytes_dropped(&self) -> u64 {
        let damaged: u64 = self.damaged.iter().map(|d| d.end - d.start).sum();
        damaged + self.torn_tail.map_or(0, |(s, e)| e - s)
    }

    pub(crate) fn add_damage(&mut self, start: u64, end: u64, records: u64) {
        self.damaged.push(DamagedRange {
            start,
            end,
            records,
        });
    }

    /// Sends the report to the log: ERROR per damaged region, WARN for the rest.
    pub fn log(&self) {
        for d in &self.damaged {
            tracing::error!(
                start = d.start,
                end = d.end,
                records = d.records,
                "event log: damaged region skipped; the records in it are lost"
            );
        }
        if let Some((start, end)) = self.torn_tail {
            tracing::warn!(
                start,
                end,
                "event log: incomplete last write (never acknowledged) cut off"
            );
        }
        for a in &self.actions {
            tracing::warn!("data directory: {a}");
        }
    }
}

impl fmt::Display for RecoveryReport {
    /// One line: "clean (N records)" or what was lost, cut and done.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_clean() {
            return write!(f, "clean ({} records)", self.records);
        }
        let mut parts = Vec::new();
        if !self.damaged.is_empty() {
            let ranges: Vec<String> = self
                .damaged
                .iter()
                .map(|d| format!("{}..{}", d.start, d.end))
                .collect();
            parts.push(format!(
                "{} records lost in {} damaged region(s) (bytes {})",
                self.records_lost(),
                self.damaged.len(),
                ranges.join(", ")
            ));
        }
        if let Some((s, e)) = self.torn_tail {
            parts.push(format!(
                "an incomplete last write of {} bytes cut at byte {s}",
                e - s
            ));
        }
        parts.extend(self.actions.iter().cloned());
        write!(f, "{} ({} records intact)", parts.join("; "), self.records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_and_display() {
        let mut r = RecoveryReport {
            records: 7,
            ..Default::default()
        };
        assert!(r.is_clean());
        assert_eq!(r.to_string(), "clean (7 records)");
        r.add_damage(100, 150, 2);
        r.add_damage(300, 301, 1);
        r.torn_tail = Some((400, 410));
        r.actions.push("recreated meta.json".into());
        assert!(!r.is_clean());
        assert_eq!(r.records_lost(), 3);
        assert_eq!(r.bytes_dropped(), 50 + 1 + 10);
        assert_eq!(
            r.to_string(),
            "3 records lost in 2 damaged region(s) (bytes 100..150, 300..301); \
             an incomplete last write of 10 bytes cut at byte 400; recreated meta.json \
             (7 records intact)"
        );
        r.log();
    }
}
