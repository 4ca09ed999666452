//! History retention: which snapshots keep their files when a hub is cleaned (`hub gc`).
//!
//! Snapshot objects themselves are always kept (they are a few hundred bytes, and keeping them
//! keeps the history's shape: `syncd log` still lists every round); what retention thins is
//! which snapshots' *trees* (and so the file versions only they reach) gc keeps. The head is
//! always kept, and with it every current file and everything in `.revisions/`: both are
//! files of the head's tree, so a version that is still a current file or a revision is never
//! dropped, whatever the policy ([`versions_kept`] states it at the gc boundary).
//!
//! The policy is the user's choice, stored in the hub folder's `vault-hub.json` as the
//! optional `"retention"` field ([`load`], [`save`]; docs/format.md): absent means keep
//! everything, so a hub written before retention existed keeps all its history.
//!
//! Thinning works on UTC calendar days and months (no time zone, no daylight saving: a day
//! is the same on every device) and on the snapshots' own times (the clocks of the devices
//! that made them). Ages are measured from `now`: a snapshot from a clock running ahead
//! (a time after `now`) is recent, so kept.

mod history;
mod store;

use std::collections::{HashMap, HashSet};

use crate::id::ObjectId;

pub(crate) use history::missing;
pub use history::{Preview, Request, preview, snapshot_infos};
pub use store::{RetentionError, load, save};

/// Nanoseconds in a day.
pub const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// What the user chose. The default keeps everything.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(tag = "keep", rename_all = "snake_case")]
pub enum Policy {
    /// Every snapshot keeps its files (the default, and what an absent field means).
    #[default]
    All,
    /// Old snapshots thinned out (see [`Thinning`]).
    Thin(Thinning),
}

/// Keep every snapshot of the last `recent_days` days; before that, the last snapshot of each
/// UTC day for `daily_days` days; before that, the last snapshot of each UTC month for
/// `monthly_months` months (`None`: forever). Older snapshots keep no files.
///
/// The windows follow each other (as Time Machine's and borg's do), so the defaults read as
/// "everything for a month, a version a day for a year before that, a version a month for
/// ever". `monthly_months` bounds the history's size for users who want that ("keep at most
/// ten years": 120); forever is the default because a month's version costs little and an
/// old note found again is the point of a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Thinning {
    pub recent_days: u32,
    pub daily_days: u32,
    /// `None` (JSON `null` or absent): the monthly versions are kept forever.
    pub monthly_months: Option<u32>,
}

impl Default for Thinning {
    fn default() -> Thinning {
        Thinning {
            recent_days: 30,
            daily_days: 365,
            monthly_months: None,
        }
    }
}

/// The largest count of days or months taken: a hundred years. More is "forever" in practice,
/// and keeping the numbers bounded keeps every sum of them far from overflowing.
pub const MAX_DAYS: u32 = 36_600;
pub const MAX_MONTHS: u32 = 1_200;

impl Thinning {
    /// Whether the numbers are in range; the error says which is not, in the user's terms.
    pub fn check(&self) -> Result<(), String> {
        if self.recent_days > MAX_DAYS {
            return Err(format!(
                "--recent-days {} is more than {MAX_DAYS} (a hundred years); use --keep-all to keep everything",
                self.recent_days
            ));
        }
        if self.daily_days > MAX_DAYS {
            return Err(format!(
                "--daily-days {} is more than {MAX_DAYS} (a hundred years)",
                self.daily_days
            ));
        }
        if let Some(m) = self.monthly_months
            && m > MAX_MONTHS
        {
            return Err(format!(
                "--monthly-months {m} is more than {MAX_MONTHS} (a hundred years); use --monthly-forever"
            ));
        }
        Ok(())
    }
}

impl Policy {
    /// One line for people: what this policy keeps.
    pub fn describe(&self) -> String {
        match self {
            Policy::All => "keep everything: every snapshot keeps its files".to_string(),
            Policy::Thin(t) => {
                let monthly = match t.monthly_months {
                    None => "for ever".to_string(),
                    Some(0) => "for no months (nothing older is kept)".to_string(),
                    Some(m) => format!("for {m} month(s), nothing older"),
                };
                format!(
                    "thin: every snapshot of the last {} day(s); then the last of each UTC day for {} day(s); then the last of each UTC month {monthly}",
                    t.recent_days, t.daily_days
                )
            }
        }
    }
}

/// What retention needs to know of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub id: ObjectId,
    pub time_ns: i64,
    pub parents: Vec<ObjectId>,
}

/// The snapshots whose trees are kept, of `snapshots` (every snapshot reachable from `head`),
/// under `policy` at time `now_ns`. Always contains `head`. Pure.
///
/// Buckets (UTC day, UTC month) are over all of `snapshots`, and "the last" of a bucket is the
/// one with the latest time (ties: the greatest id), so the choice does not depend on `now`:
/// as `now` advances, a snapshot only moves to an older window, and the kept set only shrinks
/// (a month's last snapshot is its day's last too). Parents play no part: a merge is kept or
/// thinned by its own time, like any snapshot, and so are the two it joined.
pub fn kept(
    snapshots: &[SnapshotInfo],
    head: ObjectId,
    policy: &Policy,
    now_ns: i64,
) -> HashSet<ObjectId> {
    let mut kept: HashSet<ObjectId> = match policy {
        Policy::All => snapshots.iter().map(|s| s.id).collect(),
        Policy::Thin(t) => thin(snapshots, t, now_ns),
    };
    kept.insert(head);
    kept
}

fn thin(snapshots: &[SnapshotInfo], t: &Thinning, now_ns: i64) -> HashSet<ObjectId> {
    let now = i128::from(now_ns);
    let day = i128::from(DAY_NS);
    // Snapshots at or after `recent_from` are recent; at or after `daily_from`, daily.
    let recent_from = now - i128::from(t.recent_days) * day;
    let daily_from = recent_from - i128::from(t.daily_days) * day;
    // The month `daily_from` falls in is the first monthly month; `months` of them are kept.
    let first_month = month_of(daily_from);
    let last_of_day = last_in_buckets(snapshots, day_of);
    let last_of_month = last_in_buckets(snapshots, month_of);
    let mut kept = HashSet::new();
    for s in snapshots {
        let time = i128::from(s.time_ns);
        let keep = if time >= recent_from {
            true
        } else if time >= daily_from {
            last_of_day.contains(&s.id)
        } else {
            let within = match t.monthly_months {
                None => true,
                Some(months) => month_of(time) > first_month - i128::from(months),
            };
            within && last_of_month.contains(&s.id)
        };
        if keep {
            kept.insert(s.id);
        }
    }
    kept
}

/// The ids that are the last (latest time, then greatest id) of their bucket.
fn last_in_buckets(snapshots: &[SnapshotInfo], bucket: impl Fn(i128) -> i128) -> HashSet<ObjectId> {
    let mut last: HashMap<i128, (i64, ObjectId)> = HashMap::new();
    for s in snapshots {
        let b = bucket(i128::from(s.time_ns));
        let entry = last.entry(b).or_insert((s.time_ns, s.id));
        if (s.time_ns, s.id) > *entry {
            *entry = (s.time_ns, s.id);
        }
    }
    last.into_values().map(|(_, id)| id).collect()
}

/// The UTC day (days since 1970-01-01) of a time in ns.
fn day_of(ns: i128) -> i128 {
    ns.div_euclid(i128::from(DAY_NS))
}

/// The UTC month (months since 1970-01) of a time in ns: the proleptic Gregorian calendar,
/// no time zone.
fn month_of(ns: i128) -> i128 {
    let (y, m, _) = civil_from_days(day_of(ns));
    (y - 1970) * 12 + (m - 1)
}

/// Year, month (1-12) and day (1-31) of a day number (days since 1970-01-01), after Howard
/// Hinnant's `civil_from_days`.
fn civil_from_days(z: i128) -> (i128, i128, i128) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The file versions gc must keep for the kept snapshots: every blob id a kept snapshot's
/// tree reaches, given each kept snapshot's files (`files_of(snapshot)`, e.g. the flattened
/// tree). The head is always among the kept snapshots, so every current file and every file
/// in `.revisions/` (both are files of the head's tree) is in the answer: retention never
/// drops a version that is still a file or a revision. Pure, for gc's mark and its tests.
pub fn versions_kept<'a, I>(
    kept: &HashSet<ObjectId>,
    mut files_of: impl FnMut(ObjectId) -> I,
) -> HashSet<ObjectId>
where
    I: IntoIterator<Item = &'a ObjectId>,
{
    let mut out = HashSet::new();
    for snapshot in kept {
        out.extend(files_of(*snapshot).into_iter().copied());
    }
    out
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
