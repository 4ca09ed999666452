//! Recurrence rules as the Obsidian Tasks plugin writes them (`every week when done`): the few
//! forms understood here, and the next date they give.

use jiff::Span;
use jiff::civil::{Date, Weekday};

/// A repetition rule the Tasks plugin writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    every: Every,
    /// Counted from the day the task is done rather than from its dates.
    pub(crate) when_done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Every {
    Days(i64),
    Months(i64),
    Years(i64),
    Weekday,
    On(Weekday),
}

impl Rule {
    /// Reads `every …` (any case), optionally ending in `when done`; `None` when not understood.
    pub(crate) fn parse(rule: &str) -> Option<Rule> {
        let lower = rule.to_lowercase();
        let mut words: Vec<&str> = lower.split_whitespace().collect();
        let when_done = words.ends_with(&["when", "done"]);
        if when_done {
            words.truncate(words.len() - 2);
        }
        let (first, rest) = words.split_first()?;
        if *first != "every" {
            return None;
        }
        let (n, unit) = match rest {
            [unit] => (1, *unit),
            [n, unit] => (
                n.parse::<i64>().ok().filter(|n| (1..=9999).contains(n))?,
                *unit,
            ),
            ["week", "on", day] => {
                return weekday(day).map(|d| Rule {
                    every: Every::On(d),
                    when_done,
                });
            }
            _ => return None,
        };
        let every = match unit.strip_suffix('s').unwrap_or(unit) {
            "day" => Every::Days(n),
            "week" => Every::Days(7 * n),
            "month" => Every::Months(n),
            "year" => Every::Years(n),
            "weekday" if n == 1 && unit == "weekday" => Every::Weekday,
            _ if n == 1 => Every::On(weekday(unit)?),
            _ => return None,
        };
        Some(Rule { every, when_done })
    }

    /// The first date of the rule after `from`.
    pub(crate) fn next(self, from: Date) -> Option<Date> {
        match self.every {
            Every::Days(n) => from.checked_add(Span::new().try_days(n).ok()?).ok(),
            Every::Months(n) => from.checked_add(Span::new().try_months(n).ok()?).ok(),
            Every::Years(n) => from.checked_add(Span::new().try_years(n).ok()?).ok(),
            Every::Weekday => {
                let mut d = from.tomorrow().ok()?;
                while matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
                    d = d.tomorrow().ok()?;
                }
                Some(d)
            }
            Every::On(day) => from.nth_weekday(1, day).ok(),
        }
    }
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.strip_suffix('s').unwrap_or(name) {
        "monday" => Weekday::Monday,
        "tuesday" => Weekday::Tuesday,
        "wednesday" => Weekday::Wednesday,
        "thursday" => Weekday::Thursday,
        "friday" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        "sunday" => Weekday::Sunday,
        _ => return None,
    })
}
