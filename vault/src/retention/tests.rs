//! Tables and edge cases of [`kept`], the policy's JSON, and `load`/`save` on real folders.

use std::collections::HashSet;

use super::*;
use crate::id::ObjectId;

/// 2026-03-15 12:00:00Z, a Sunday in a month with a DST change in most zones (no effect here).
const NOW: i64 = 1_773_576_000 * 1_000_000_000;
const HOUR: i64 = 3_600 * 1_000_000_000;

fn id(n: u32) -> ObjectId {
    ObjectId::of(&n.to_le_bytes())
}

fn snap(n: u32, time_ns: i64) -> SnapshotInfo {
    SnapshotInfo {
        id: id(n),
        time_ns,
        parents: if n == 0 { vec![] } else { vec![id(n - 1)] },
    }
}

/// Time of `y-m-d h:00Z` in ns.
fn at(y: i16, m: i8, d: i8, h: i8) -> i64 {
    jiff::tz::Offset::UTC
        .to_timestamp(jiff::civil::date(y, m, d).at(h, 0, 0, 0))
        .unwrap()
        .as_nanosecond() as i64
}

fn thin(recent: u32, daily: u32, months: Option<u32>) -> Policy {
    Policy::Thin(Thinning {
        recent_days: recent,
        daily_days: daily,
        monthly_months: months,
    })
}

fn kept_ns(snaps: &[SnapshotInfo], head: u32, policy: &Policy, now: i64) -> Vec<u32> {
    let k = kept(snaps, id(head), policy, now);
    let mut out: Vec<u32> = (0..200).filter(|n| k.contains(&id(*n))).collect();
    out.sort();
    out
}

#[test]
fn at_matches_the_constant() {
    assert_eq!(at(2026, 3, 15, 12), NOW);
}

#[test]
fn keep_all_keeps_every_snapshot() {
    let snaps: Vec<_> = (0..10)
        .map(|n| snap(n, NOW - i64::from(n) * 400 * DAY_NS))
        .collect();
    assert_eq!(
        kept_ns(&snaps, 0, &Policy::All, NOW),
        (0..10).collect::<Vec<_>>()
    );
}

#[test]
fn a_single_snapshot_is_kept_however_old() {
    let snaps = vec![snap(0, NOW - 5_000 * DAY_NS)];
    assert_eq!(kept_ns(&snaps, 0, &thin(0, 0, Some(0)), NOW), vec![0]);
}

#[test]
fn the_head_is_kept_even_when_older_than_every_window() {
    // The head is the oldest (a device whose clock ran years behind published last).
    let snaps = vec![snap(0, NOW - 3_000 * DAY_NS), snap(1, NOW - HOUR)];
    assert_eq!(kept_ns(&snaps, 0, &thin(1, 0, Some(0)), NOW), vec![0, 1]);
    // The head is kept even when not in the list given.
    assert!(kept(&[], id(7), &thin(1, 1, None), NOW).contains(&id(7)));
}

#[test]
fn every_snapshot_of_the_recent_window_is_kept() {
    // Ten a day for the last three days, with recent_days 3 and nothing else.
    let snaps: Vec<_> = (0..30)
        .map(|n| snap(n, NOW - i64::from(n) * 7 * HOUR))
        .collect();
    let k = kept_ns(&snaps, 0, &thin(3, 0, Some(0)), NOW);
    // 7 h steps: n*7 < 72 for n <= 10.
    assert_eq!(k, (0..=10).collect::<Vec<_>>());
}

#[test]
fn the_daily_window_keeps_the_last_snapshot_of_each_utc_day() {
    // Days 2026-03-01 .. 03-10, three snapshots each (01:00, 12:00, 23:00 UTC): older than
    // the 2-day recent window, within 30 daily days.
    let mut snaps = Vec::new();
    let mut n = 0;
    for d in 1..=10 {
        for h in [1, 12, 23] {
            snaps.push(snap(n, at(2026, 3, d, h)));
            n += 1;
        }
    }
    let head = n - 1;
    let k = kept_ns(&snaps, head, &thin(2, 30, Some(0)), NOW);
    // The 23:00 snapshot of each day: indexes 2, 5, 8, ...
    assert_eq!(k, (0..10).map(|d| d * 3 + 2).collect::<Vec<_>>());
}

#[test]
fn utc_days_ignore_any_time_zone() {
    // 23:59:59.999999999Z and 00:00Z the next day are different days, whatever the zone of
    // the device (a DST change in Europe was on 2026-03-29).
    let midnight = at(2026, 3, 29, 0);
    let snaps = vec![
        snap(0, midnight - 1),
        snap(1, midnight),
        snap(2, midnight + HOUR),
    ];
    let now = midnight + 40 * DAY_NS;
    let k = kept_ns(&snaps, 2, &thin(1, 100, Some(0)), now);
    assert_eq!(k, vec![0, 2]);
}

#[test]
fn the_monthly_window_keeps_the_last_snapshot_of_each_utc_month() {
    // One snapshot every 5 days through 2024 (all older than recent 1 + daily 30 days).
    let snaps: Vec<_> = (0..73)
        .map(|n| snap(n, at(2024, 1, 1, 6) + i64::from(n) * 5 * DAY_NS))
        .collect();
    let head = 72;
    let k = kept(&snaps, id(head), &thin(1, 30, None), NOW);
    // The last snapshot of each month of 2024: twelve, and the head (2024-12-27).
    let mut months = std::collections::BTreeMap::new();
    for s in &snaps {
        let z = jiff::tz::Offset::UTC
            .to_datetime(jiff::Timestamp::from_nanosecond(i128::from(s.time_ns)).unwrap());
        months.insert((z.year(), z.month()), s.id);
    }
    let expect: HashSet<ObjectId> = months.values().copied().collect();
    assert_eq!(expect.len(), 12);
    assert_eq!(k, expect);
}

#[test]
fn monthly_months_bounds_how_far_back_anything_is_kept() {
    // The last snapshot of each month from 2020-01 to 2025-12 (day 20), recent 0, daily 0:
    // the monthly window starts in March 2026 (the month of `now`).
    let mut snaps = Vec::new();
    for (n, (y, m)) in (2020..=2025)
        .flat_map(|y| (1..=12).map(move |m| (y, m)))
        .enumerate()
    {
        snaps.push(snap(n as u32, at(y, m, 20, 12)));
    }
    let head = snaps.len() as u32 - 1;
    // 6 months: March 2026 back to October 2025, so 2025-10, -11, -12 kept.
    let k = kept_ns(&snaps, head, &thin(0, 0, Some(6)), NOW);
    assert_eq!(k, vec![head - 2, head - 1, head]);
    let all = kept_ns(&snaps, head, &thin(0, 0, None), NOW);
    assert_eq!(all.len(), snaps.len());
    let none = kept_ns(&snaps, head, &thin(0, 0, Some(0)), NOW);
    assert_eq!(none, vec![head]);
}

#[test]
fn the_windows_follow_each_other() {
    // recent 10 days, daily 20 days: a snapshot 25 days old is daily (kept as its day's
    // last), one 35 days old is monthly (its month's last only).
    let snaps = vec![
        snap(0, NOW - 35 * DAY_NS - HOUR), // 2026-02-08 11:00: not February's last
        snap(1, NOW - 34 * DAY_NS),        // 2026-02-09 12:00: February's last? no, see 2
        snap(2, NOW - 31 * DAY_NS + HOUR), // 2026-02-12 13:00: daily window ends at 30 days
        snap(3, NOW - 25 * DAY_NS - HOUR), // 2026-02-18 11:00, daily: not its day's last
        snap(4, NOW - 25 * DAY_NS),        // 2026-02-18 12:00, daily: its day's last
        snap(5, NOW - 9 * DAY_NS - HOUR),  // recent
        snap(6, NOW - 9 * DAY_NS),         // recent
    ];
    let k = kept_ns(&snaps, 6, &thin(10, 20, None), NOW);
    // 0, 1, 2 are monthly; February's last snapshot is 4 (in the daily window, kept there):
    // so none of 0, 1, 2 is kept.
    assert_eq!(k, vec![4, 5, 6]);
}

#[test]
fn future_times_count_as_recent() {
    // A device whose clock ran a year ahead: its snapshots are kept, and so are today's.
    let snaps = vec![
        snap(0, NOW - 100 * DAY_NS),
        snap(1, NOW + 365 * DAY_NS),
        snap(2, NOW + 365 * DAY_NS + 1),
        snap(3, NOW - HOUR),
    ];
    let k = kept_ns(&snaps, 3, &thin(1, 0, Some(0)), NOW);
    assert_eq!(k, vec![1, 2, 3]);
}

#[test]
fn a_merge_and_its_parents_are_bucketed_by_their_own_times() {
    // Two devices' snapshots on one old day, joined by a merge later that day.
    let a = SnapshotInfo {
        id: id(1),
        time_ns: at(2025, 6, 1, 9),
        parents: vec![id(0)],
    };
    let b = SnapshotInfo {
        id: id(2),
        time_ns: at(2025, 6, 1, 10),
        parents: vec![id(0)],
    };
    let merge = SnapshotInfo {
        id: id(3),
        time_ns: at(2025, 6, 1, 11),
        parents: vec![id(1), id(2)],
    };
    let root = snap(0, at(2025, 5, 31, 8));
    let head = snap(4, NOW);
    let snaps = vec![root, a, b, merge, head];
    let k = kept_ns(&snaps, 4, &thin(1, 365, None), NOW);
    assert_eq!(k, vec![0, 3, 4]);
}

#[test]
fn equal_times_pick_one_snapshot_by_id() {
    let t = at(2025, 6, 1, 9);
    let snaps = vec![snap(0, t), snap(1, t), snap(2, t), snap(3, NOW)];
    let k = kept(&snaps, id(3), &thin(1, 365, None), NOW);
    let winner = [id(0), id(1), id(2)].into_iter().max().unwrap();
    assert_eq!(k, HashSet::from([winner, id(3)]));
}

#[test]
fn extreme_times_and_counts_do_not_overflow() {
    let snaps = vec![snap(0, i64::MIN), snap(1, i64::MAX), snap(2, 0)];
    let policy = thin(MAX_DAYS, MAX_DAYS, Some(MAX_MONTHS));
    let k = kept_ns(&snaps, 2, &policy, i64::MAX);
    assert!(k.contains(&1) && k.contains(&2));
    let k = kept_ns(&snaps, 2, &policy, i64::MIN);
    assert_eq!(k, vec![0, 1, 2]);
}

#[test]
fn civil_dates_match_jiff() {
    for day in (-800_000i128..800_000).step_by(997) {
        let (y, m, d) = civil_from_days(day);
        let z = jiff::tz::Offset::UTC
            .to_datetime(jiff::Timestamp::from_second((day * 86_400) as i64).unwrap());
        assert_eq!(
            (y, m, d),
            (z.year().into(), z.month().into(), z.day().into())
        );
    }
}

#[test]
fn versions_kept_holds_every_file_of_the_head() {
    // The head's files (current notes and `.revisions/` alike) are always in the answer,
    // whatever the policy thinned.
    let head_files = [id(100), id(101), id(102)];
    let old_files = [id(103)];
    let snaps = vec![snap(0, NOW - 1_000 * DAY_NS), snap(1, NOW)];
    let k = kept(&snaps, id(1), &thin(0, 0, Some(0)), NOW);
    let versions = versions_kept(&k, |s| {
        if s == id(1) {
            head_files.iter()
        } else {
            old_files.iter()
        }
    });
    assert_eq!(versions, head_files.iter().copied().collect());
}

#[test]
fn policy_json_round_trips_and_reads_what_a_user_may_write() {
    let p = thin(30, 365, None);
    let text = serde_json::to_string(&p).unwrap();
    assert_eq!(
        text,
        r#"{"keep":"thin","recent_days":30,"daily_days":365,"monthly_months":null}"#
    );
    assert_eq!(serde_json::from_str::<Policy>(&text).unwrap(), p);
    assert_eq!(
        serde_json::from_str::<Policy>(r#"{"keep":"thin"}"#).unwrap(),
        Policy::Thin(Thinning::default())
    );
    assert_eq!(
        serde_json::from_str::<Policy>(r#"{"keep":"all"}"#).unwrap(),
        Policy::All
    );
    assert!(serde_json::from_str::<Policy>(r#"{"keep":"some"}"#).is_err());
}

fn hub_folder(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vault-hub.json"), text).unwrap();
    dir
}

#[test]
fn load_without_the_field_keeps_everything() {
    let dir = hub_folder(r#"{"format":1,"created_ns":5}"#);
    assert_eq!(load(dir.path()).unwrap(), Policy::All);
    let dir = hub_folder(r#"{"format":1,"created_ns":5,"retention":null}"#);
    assert_eq!(load(dir.path()).unwrap(), Policy::All);
}

#[test]
fn save_keeps_every_other_field_and_load_reads_it_back() {
    let dir = hub_folder(r#"{"format":1,"created_ns":5,"later":{"x":[1,2]}}"#);
    let p = thin(7, 60, Some(24));
    save(dir.path(), &p).unwrap();
    assert_eq!(load(dir.path()).unwrap(), p);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("vault-hub.json")).unwrap()).unwrap();
    assert_eq!(v["format"], 1);
    assert_eq!(v["created_ns"], 5);
    assert_eq!(v["later"]["x"][1], 2);
    assert_eq!(v["retention"]["keep"], "thin");
    save(dir.path(), &Policy::All).unwrap();
    assert_eq!(load(dir.path()).unwrap(), Policy::All);
    // No temp file left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
    // The folder hub still opens it.
    crate::folder_hub::FolderHub::open(dir.path()).unwrap();
}

#[test]
fn load_and_save_refuse_what_they_cannot_read_and_change_nothing() {
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        load(empty.path()),
        Err(RetentionError::NotAHub(_))
    ));
    assert!(matches!(
        save(empty.path(), &Policy::All),
        Err(RetentionError::NotAHub(_))
    ));
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
    let bad = hub_folder("{not json");
    assert!(matches!(
        load(bad.path()),
        Err(RetentionError::Marker { .. })
    ));
    assert!(matches!(
        save(bad.path(), &Policy::All),
        Err(RetentionError::Marker { .. })
    ));
    let text = std::fs::read_to_string(bad.path().join("vault-hub.json")).unwrap();
    assert_eq!(text, "{not json");
    let unknown = hub_folder(r#"{"format":1,"created_ns":5,"retention":{"keep":"hourly"}}"#);
    let e = load(unknown.path()).unwrap_err();
    assert!(e.to_string().contains("newer version"), "{e}");
    let huge = hub_folder(
        r#"{"format":1,"created_ns":5,"retention":{"keep":"thin","recent_days":99999999}}"#,
    );
    assert!(matches!(
        load(huge.path()),
        Err(RetentionError::Policy { .. })
    ));
}
