//! Properties of [`kept`] over random histories and times.

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;
use crate::id::ObjectId;

fn history() -> impl Strategy<Value = Vec<SnapshotInfo>> {
    // Times over about six years around 2026, some in the future, some equal.
    let base: i64 = 1_767_225_600 * 1_000_000_000; // 2026-01-01
    prop::collection::vec(
        prop_oneof![
            (-2_200i64..60).prop_map(|d| d * DAY_NS),
            (-2_200i64 * 24..60 * 24).prop_map(|h| h * 3_600 * 1_000_000_000),
            Just(0i64),
        ],
        1..80,
    )
    .prop_map(move |offsets| {
        offsets
            .iter()
            .enumerate()
            .map(|(n, off)| SnapshotInfo {
                id: ObjectId::of(&(n as u64).to_le_bytes()),
                time_ns: base + off,
                parents: if n == 0 {
                    vec![]
                } else {
                    vec![ObjectId::of(&(n as u64 - 1).to_le_bytes())]
                },
            })
            .collect()
    })
}

fn policy() -> impl Strategy<Value = Policy> {
    prop_oneof![
        1 => Just(Policy::All),
        4 => (0u32..60, 0u32..400, prop::option::of(0u32..50)).prop_map(|(r, d, m)| {
            Policy::Thin(Thinning {
                recent_days: r,
                daily_days: d,
                monthly_months: m,
            })
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn kept_holds_its_promises(
        snaps in history(),
        policy in policy(),
        head_pick in any::<prop::sample::Index>(),
        now_off in -10i64 * DAY_NS..100 * DAY_NS,
        later in 0i64..800 * DAY_NS,
    ) {
        let base: i64 = 1_767_225_600 * 1_000_000_000;
        let now = base + now_off;
        let head = snaps[head_pick.index(snaps.len())].id;
        let k = kept(&snaps, head, &policy, now);
        let ids: HashSet<ObjectId> = snaps.iter().map(|s| s.id).collect();
        // The head is kept; nothing outside the history is.
        prop_assert!(k.contains(&head));
        prop_assert!(k.is_subset(&ids));
        match &policy {
            Policy::All => prop_assert_eq!(&k, &ids),
            Policy::Thin(t) => {
                for s in &snaps {
                    // Every snapshot of the recent window (and every one from the future).
                    if i128::from(s.time_ns) >= i128::from(now) - i128::from(t.recent_days) * i128::from(DAY_NS) {
                        prop_assert!(k.contains(&s.id));
                    }
                }
                // At most one kept snapshot per UTC day outside the recent window, except the head.
                let recent_from = i128::from(now) - i128::from(t.recent_days) * i128::from(DAY_NS);
                let mut days = HashSet::new();
                for s in snaps.iter().filter(|s| k.contains(&s.id) && s.id != head) {
                    if i128::from(s.time_ns) < recent_from {
                        prop_assert!(days.insert(day_of(i128::from(s.time_ns))));
                    }
                }
                // Every UTC day of the daily window that has snapshots keeps one.
                let daily_from = recent_from - i128::from(t.daily_days) * i128::from(DAY_NS);
                for s in &snaps {
                    let time = i128::from(s.time_ns);
                    if time >= daily_from && time < recent_from {
                        let day = day_of(time);
                        prop_assert!(snaps.iter().any(|o| day_of(i128::from(o.time_ns)) == day && k.contains(&o.id)));
                    }
                }
            }
        }
        // As time passes, the kept set only shrinks.
        let k_later = kept(&snaps, head, &policy, now + later);
        prop_assert!(k_later.is_subset(&k));
        // The order of the list does not matter.
        let mut reversed = snaps.clone();
        reversed.reverse();
        prop_assert_eq!(kept(&reversed, head, &policy, now), k);
    }
}
