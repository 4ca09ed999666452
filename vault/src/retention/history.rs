//! The snapshots of a hub as retention sees them, and what a policy would keep of them now
//! (the preview `syncd hub retention` and `vault-server retention` print).

use std::collections::HashSet;

use crate::history::{HistoryError, Known, Objects, Walk};
use crate::hub::Hub;
use crate::id::ObjectId;

use super::{Policy, SnapshotInfo, Thinning, kept};

/// Every snapshot reachable from the hub's head (newest first), read from `hub` alone, each
/// hash-checked; and the head (`None`: no history yet).
pub fn snapshot_infos(
    hub: &dyn Hub,
) -> Result<(Option<ObjectId>, Vec<SnapshotInfo>), HistoryError> {
    let head = hub.head()?;
    let mut objects = Objects::hub_only(hub, Known::default());
    let mut walk = Walk::new(&mut objects, head)?;
    let mut out = Vec::new();
    while let Some((id, snap)) = walk.next(&mut objects)? {
        out.push(SnapshotInfo {
            id,
            time_ns: snap.time_ns,
            parents: snap.parents,
        });
    }
    Ok((head, out))
}

/// What a policy keeps of a hub's history at one time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Preview {
    /// Snapshots in the history (all of them keep their snapshot object).
    pub snapshots: usize,
    /// Of those, how many the policy keeps the files of.
    pub keep_files: usize,
    /// How many of the others still have their files on the hub (gc would free them).
    pub to_thin: usize,
    /// How many already lost their files (thinned by an earlier gc).
    pub thinned: usize,
}

/// The preview of `policy` over `hub`'s history at `now_ns`.
pub fn preview(hub: &dyn Hub, policy: &Policy, now_ns: i64) -> Result<Preview, HistoryError> {
    let (head, infos) = snapshot_infos(hub)?;
    let Some(head) = head else {
        return Ok(Preview {
            snapshots: 0,
            keep_files: 0,
            to_thin: 0,
            thinned: 0,
        });
    };
    let keep = kept(&infos, head, policy, now_ns);
    let mut objects = Objects::hub_only(hub, Known::default());
    let trees: Vec<ObjectId> = objects
        .snapshots(&infos.iter().map(|s| s.id).collect::<Vec<_>>())?
        .into_iter()
        .map(|s| s.tree)
        .collect();
    let absent: HashSet<ObjectId> = missing(hub, &trees)?;
    let mut p = Preview {
        snapshots: infos.len(),
        keep_files: 0,
        to_thin: 0,
        thinned: 0,
    };
    for (info, tree) in infos.iter().zip(&trees) {
        if keep.contains(&info.id) {
            p.keep_files += 1;
        } else if absent.contains(tree) {
            p.thinned += 1;
        } else {
            p.to_thin += 1;
        }
    }
    Ok(p)
}

/// Which of `ids` the hub lacks, asked in batches.
pub(crate) fn missing(hub: &dyn Hub, ids: &[ObjectId]) -> Result<HashSet<ObjectId>, HistoryError> {
    let unique: Vec<ObjectId> = ids
        .iter()
        .copied()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut out = HashSet::new();
    for chunk in unique.chunks(4096) {
        out.extend(hub.missing(chunk)?);
    }
    Ok(out)
}

impl Preview {
    /// One line for people: "N of M snapshots would keep their files ...".
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{} of {} snapshot(s) would keep their files if the hub were cleaned now",
            self.keep_files, self.snapshots
        );
        let mut more = Vec::new();
        if self.to_thin > 0 {
            more.push(format!("{} to thin at the next gc", self.to_thin));
        }
        if self.thinned > 0 {
            more.push(format!("{} thinned already", self.thinned));
        }
        if !more.is_empty() {
            text.push_str(&format!(" ({})", more.join(", ")));
        }
        text
    }
}

/// What `syncd hub retention` and `vault-server retention` were asked, flag for flag.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request {
    pub keep_all: bool,
    pub thin: bool,
    pub recent_days: Option<u32>,
    pub daily_days: Option<u32>,
    pub monthly_months: Option<u32>,
    pub monthly_forever: bool,
    pub dry_run: bool,
}

impl Request {
    /// The policy asked for, given the hub's `current` one: `None` when the command only
    /// shows the policy. Checked; a dry run without a policy to preview is refused.
    pub fn policy(&self, current: &Policy) -> Result<Option<Policy>, String> {
        if self.keep_all {
            return Ok(Some(Policy::All));
        }
        if !self.thin {
            if self.dry_run {
                return Err(
                    "--dry-run previews a policy: give --keep-all or --thin with it".into(),
                );
            }
            return Ok(None);
        }
        let from = match current {
            Policy::Thin(t) => Some(*t),
            Policy::All => None,
        };
        Thinning::with_flags(
            from,
            self.recent_days,
            self.daily_days,
            self.monthly_months,
            self.monthly_forever,
        )
        .map(|t| Some(Policy::Thin(t)))
    }
}

impl Thinning {
    /// The thinning a command line asks for: each number given replaces the one of `from`
    /// (the hub's current thinning, so `--thin --recent-days 7` changes only that), the
    /// defaults where the hub does not thin yet. Checked.
    pub fn with_flags(
        from: Option<Thinning>,
        recent_days: Option<u32>,
        daily_days: Option<u32>,
        monthly_months: Option<u32>,
        monthly_forever: bool,
    ) -> Result<Thinning, String> {
        let mut t = from.unwrap_or_default();
        if let Some(n) = recent_days {
            t.recent_days = n;
        }
        if let Some(n) = daily_days {
            t.daily_days = n;
        }
        if monthly_forever {
            t.monthly_months = None;
        } else if let Some(n) = monthly_months {
            t.monthly_months = Some(n);
        }
        t.check()?;
        Ok(t)
    }
}
